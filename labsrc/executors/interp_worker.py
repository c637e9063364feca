"""What runs inside a worker sub-interpreter of the `interp` executor (labsrc.executors.interp).

One entry point, `serve(mailbox: bytes) -> bytes`, that never raises. `mailbox` is a pickled
cross-interpreter queue holding the requests; each call takes the next one. The request
travels through the queue, not as the call's argument, because the pool sends a call's
arguments inside the source code of a script (the repr of their pickle, parsed again in the
worker): 16 ms a megabyte, measured, of which the repr runs under the main interpreter's GIL.
Through a queue a megabyte costs 0.9 ms, a copy.

It never raises, because of the pool too: the PEP 734 backport (interpreters-pep-734 0.5.0)
catches an exception only once the called function runs; a call that fails before that
(unpickling the function or its arguments: a function from `__main__`, a numpy array where
numpy cannot load) leaves its worker thread polling forever for a result that never comes
(measured: a 10-minute hang). So nothing but `bytes` crosses: the mailbox and the request are
unpickled here, inside a try, and the reply (the answer, or the exception's type and message)
is pickled here too. Unpickling `serve` itself imports only this module, labsrc.core.worker
and labsrc.core.layout, which load in an own-GIL sub-interpreter (a test checks it); the
mailbox imports the queue's own module, made for sub-interpreters.

This module must stay importable there: pure Python, no numpy, no C extension that has not
opted in to sub-interpreters (cext.* has, see setup.py; numpy has not).
"""

from __future__ import annotations

import importlib
import pickle
import threading
import time
from typing import Any, Callable, Optional

from labsrc.core.layout import call_shifted
from labsrc.core.worker import RemoteResult, clock, digest, task_input

# Request kinds: start-up (import the task function, say which thread answered), a task
# whose input is shipped (data), and a task built here from its recipe, (kernel, scale,
# index), as a process worker builds it: kept for the later runs, its answer sent back whole
# when small, as a digest when large (labsrc.core.worker). The catalog's entries import
# numpy only to verify, so building a task needs none. Tasks name their function by module
# and attribute (the parent resolved them through the catalog).
READY, DATA, RECIPE = "ready", "data", "recipe"

_FUNCTIONS: dict[tuple[str, str], Callable[..., Any]] = {}


def task_function(module: str, name: str) -> Callable[..., Any]:
    """`module.name`, imported once per interpreter (ImportError when it cannot load here)."""
    key = (module, name)
    fn = _FUNCTIONS.get(key)
    if fn is None:
        fn = _FUNCTIONS[key] = getattr(importlib.import_module(module), name)
    return fn


def serve(mailbox: bytes) -> bytes:
    """Take the next request from the pickled queue `mailbox` and answer it (see `answer`)."""
    try:
        request = pickle.loads(mailbox).get_nowait()  # put there before this call was submitted
    except BaseException as exc:  # noqa: BLE001 - everything goes back as a reply (see above)
        return failure_reply(exc)
    return answer(request)


def answer(request: bytes) -> bytes:
    """Run one request: the reply is ("ok", index, value), the request's index (the order in
    which calls take requests is not the order of their futures), or ("raised", ...)."""
    try:
        index, kind, module, name, kwargs, payload = pickle.loads(request)
        return pickle.dumps(("ok", index, _handle(kind, task_function(module, name), kwargs, payload)))
    except BaseException as exc:  # noqa: BLE001 - everything goes back as a reply (see above)
        return failure_reply(exc)


def _handle(kind: str, fn: Callable[..., Any], kwargs: dict[str, Any], payload: Any) -> Any:
    if kind == READY:
        # Hold a moment: a worker that is already up must not answer every start-up call
        # while another interpreter is still being created (start-up ends when all answered).
        time.sleep(payload)
        return threading.get_native_id()
    if kind not in (DATA, RECIPE):
        raise ValueError(f"unknown request kind {kind!r}")
    args = payload if kind == DATA else task_input(*payload)
    start = clock()
    answer = call_shifted(fn, args, kwargs)
    end = clock()
    # A thread of this process: its CPU time is already in the parent's RUSAGE_SELF, so it
    # reports none of its own (counting it here too would double it).
    return RemoteResult(answer if kind == DATA else digest(answer), start, end, threading.get_native_id(), 0.0)


def cannot_load(exc: BaseException) -> bool:
    """Whether `exc` says a module cannot be imported here (not that the task failed)."""
    return isinstance(exc, ImportError)


def failure_reply(exc: BaseException) -> bytes:
    """("raised", the pickled exception or None, its type name, message, cannot_load)."""
    pickled: Optional[bytes]
    try:
        pickled = pickle.dumps(exc)
    except Exception:  # an exception with unpicklable parts still travels as its text
        pickled = None
    return pickle.dumps(("raised", pickled, type(exc).__name__, str(exc), cannot_load(exc)))
