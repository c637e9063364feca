"""The `interp` executor: one own-GIL sub-interpreter per worker (PEP 684), through
`InterpreterPoolExecutor` (PEP 734): the standard library's on Python >= 3.14, the
`interpreters-pep-734` backport's on 3.13 (`pip install 'gil-lab[interp]'`).

Like `procs`, it runs the same cells on the same calibrated work, checked by the same
verification, and times its start-up apart from the runs. Unlike `procs`, every worker is a
thread of this process, so:
- what travels between interpreters is pickled both ways, as between processes, but no
  pipe is involved; the worker's CPU time is already in this process's own count. Under
  the recipe payload (kernel, scale, index) the worker builds its input and keeps it, and
  a large answer comes back as a digest; under the data payload the input goes there and
  the whole answer back. Requests travel through a cross-interpreter queue, not as a
  call's arguments (the pool would put those in a script's source: interp_worker says
  what that cost);
- a C extension loads there only if it opted in to sub-interpreters: `cext.*` has
  (setup.py), numpy has not, so its cells read "unavailable: ... does not support loading
  in subinterpreters" (the import error), never a crash;
- Ctrl-C reaches only the main thread: a running task cannot be interrupted (a thread is
  not a process, nothing can terminate it), so an aborted pool cancels what has not
  started and waits, bounded, for the tasks already running (one task each, short by
  construction: calibrated work is split into many).
Every wait has a timeout: the backport can leave a worker waiting forever when a call
fails before it starts (labsrc.executors.interp_worker says how that is avoided), and a
hang must become a failed cell, not a frozen lab.
"""

from __future__ import annotations

import array
import concurrent.futures as cf
import pickle
import sys
import threading
from typing import Any, Callable, Optional, Sequence

from labsrc.core.names import ExecutorName, Payload
from labsrc.core.worker import RemoteResult, ResultDigest, TaskRef, clock, digest_kind
from labsrc.executors.base import (
    Executor,
    ExecutorUnavailable,
    RunOutput,
    Work,
    WorkerCrashed,
    remote_output,
    task_deadline,
)
from labsrc.executors.interp_worker import DATA, READY, RECIPE, serve
from labsrc.kernels.catalog import get_kernel

INSTALL_HINT = "unavailable: pip install 'gil-lab[interp]'"
BACKPORT = "interpreters_backport.concurrent.futures"  # PyPI: interpreters-pep-734
STARTUP_TIMEOUT_S = 60.0  # every interpreter created and its task function imported
STOP_TIMEOUT_S = 30.0  # the running tasks of a closing pool, then its interpreters torn down
READY_HOLD_S = 0.01  # how long a start-up call holds its worker (interp_worker._handle)
REASON_CHARS = 200  # an import error is quoted up to this long in a row's reason


# (InterpreterPoolExecutor, create_queue) where they can run here, else why not.
PoolTypes = tuple[Callable[..., cf.Executor], Callable[[], Any]]


def _pool_types() -> tuple[Optional[PoolTypes], str]:
    """The pool and the queue factory of one implementation of PEP 734, or (None, why not)."""
    if getattr(cf, "InterpreterPoolExecutor", None) is not None:
        from concurrent.interpreters import create_queue  # type: ignore[import-not-found]

        return (cf.InterpreterPoolExecutor, create_queue), ""  # type: ignore[attr-defined]
    if sys.version_info < (3, 13):
        # PEP 684 gave 3.12 own-GIL sub-interpreters, but the backport needs 3.13's
        # _interpreters module (measured on 3.12.1: "No module named '_interpreters'").
        return None, (f"needs Python 3.13 with the interpreters-pep-734 backport, or 3.14+; "
                      f"this is {sys.version.split()[0]}")
    try:
        from interpreters_backport.concurrent.futures import InterpreterPoolExecutor
        from interpreters_backport.interpreters.queues import create
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("interpreters_backport"):
            return None, INSTALL_HINT
        return None, f"the interpreters-pep-734 backport does not load here: {exc}"
    except ImportError as exc:
        return None, f"the interpreters-pep-734 backport does not load here: {exc}"
    return (InterpreterPoolExecutor, create), ""


def interp_reason() -> str:
    """Why `interp` cannot run here ('' when it can)."""
    return _pool_types()[1]


def short_reason(message: str) -> str:
    """An import error's gist: numpy's advice page reduced to its "Original error was:"."""
    marker = "Original error was:"
    if marker in message:
        message = message.split(marker, 1)[1]
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    text = lines[0] if lines else message.strip()
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 3] + "..."


class InterpExecutor(Executor):
    """InterpreterPoolExecutor with `workers` interpreters, each with its own GIL."""

    name = ExecutorName.INTERP
    in_process = False  # tasks leave this interpreter: a payload is shipped, pickled

    def __init__(self, workers: int, payload: Payload = Payload.RECIPE) -> None:
        super().__init__(workers, payload)
        self._pool: Optional[cf.Executor] = None
        self._create_queue: Callable[[], Any] = lambda: None

    def _start(self, ref: TaskRef) -> None:
        types, why = _pool_types()
        if types is None:
            raise ExecutorUnavailable(why)
        pool_type, self._create_queue = types
        self._pool = pool_type(self.workers, thread_name_prefix="lab-interp")
        # A thread pool starts a thread per submit until it has `workers`; each creates its
        # interpreter before taking a call. Ask until every worker has answered once (each
        # answer holds its worker READY_HOLD_S), so start-up ends when all of them are up.
        deadline = clock() + STARTUP_TIMEOUT_S
        seen: set[int] = set()
        while len(seen) < self.workers:
            seen.update(self._map(ref, READY, [READY_HOLD_S] * self.workers, deadline, "start-up"))

    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        if self.payload == Payload.RECIPE:
            kind, payloads = RECIPE, [(ref.kernel, work.scale, index) for index in range(len(work.args))]
        else:
            kind, payloads = DATA, list(work.args)
        out: list[RemoteResult] = self._map(ref, kind, payloads, task_deadline(len(payloads)), "task")
        return remote_output([done._replace(answer=_as_here(ref, args, done.answer))
                              for args, done in zip(work.args, out)])

    def _map(self, ref: TaskRef, kind: str, payloads: Sequence[Any], deadline: float, stage: str) -> list[Any]:
        """Queue one request per payload, submit as many calls (each takes one request), then
        collect the answers, each within the deadline, in the payloads' order. A queue per
        map: a map that failed half-way leaves its requests in its own queue, never in the
        next map's."""
        assert self._pool is not None, "open() first"
        requests = self._create_queue()
        for index, payload in enumerate(payloads):
            requests.put_nowait(_request(index, kind, ref, payload))
        mailbox = pickle.dumps(requests)
        futures = [self._pool.submit(serve, mailbox) for _ in payloads]
        answers: dict[int, Any] = {}
        for future in futures:
            try:
                reply = future.result(timeout=max(0.0, deadline - clock()))
            except cf.TimeoutError:
                raise WorkerCrashed(f"a sub-interpreter did not answer within the {stage} timeout") from None
            except cf.BrokenExecutor as exc:  # an interpreter could not even be created
                raise WorkerCrashed(f"the interpreter pool broke ({exc})") from exc
            index, value = _answer(ref, reply)
            answers[index] = value
        return [answers[index] for index in range(len(payloads))]

    def _stop(self, abort: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # Never shutdown(wait=True): it has no timeout. Cancel what has not started (when
        # aborting), then join the worker threads, bounded: each ends its interpreter as it goes.
        pool.shutdown(wait=False, cancel_futures=abort)
        deadline = clock() + STOP_TIMEOUT_S
        for thread in list(getattr(pool, "_threads", ())):
            if isinstance(thread, threading.Thread):
                thread.join(timeout=max(0.0, deadline - clock()))


def _request(index: int, kind: str, ref: TaskRef, payload: Any) -> bytes:
    """One request for interp_worker.answer, pickled here: its index among the requests of
    one map, the task function by module and attribute (resolved through the catalog here,
    where it can load), its keyword arguments, and the payload (a task's input, or the
    start-up hold)."""
    impl = get_kernel(ref.kernel).impl(ref.impl)
    return pickle.dumps((index, kind, impl.module, impl.function, dict(ref.kwargs), payload))


def _as_here(ref: TaskRef, args: Any, answer: Any) -> Any:
    """An answer as this interpreter's twins return it. mandelbrot's twins, where numpy
    cannot load (a sub-interpreter, as PyPy), return their int32 counts as a flat
    array('i'); here, where numpy loads, they become the (height, width) ndarray its
    verifier checks, from the very same bytes (no copy); a digest of those bytes becomes
    the digest of that ndarray (same bytes, same checksum: only its kind is renamed)."""
    if ref.kernel != "mandelbrot":
        return answer
    width, height = args[0], args[1]
    if isinstance(answer, array.array):
        import numpy as np

        return np.frombuffer(answer, dtype=np.dtype(answer.typecode)).reshape(height, width)
    if isinstance(answer, ResultDigest) and answer.kind.startswith("array:"):
        return answer._replace(kind=digest_kind("ndarray", "int32", (height, width)))
    return answer


def _answer(ref: TaskRef, reply: bytes) -> tuple[int, Any]:
    """(The request's index, its value) from a worker's reply, or its failure raised here: an import error means this
    implementation cannot run in a sub-interpreter (ExecutorUnavailable, the row's reason);
    any other exception is the task's own, re-raised as it was where it can be rebuilt."""
    status, *rest = pickle.loads(reply)
    if status == "ok":
        return rest[0], rest[1]
    pickled, type_name, message, import_failed = rest
    if import_failed:
        raise ExecutorUnavailable(
            f"{ref.impl} cannot load in a sub-interpreter: {short_reason(message)}")
    exc: Optional[BaseException] = None
    if pickled is not None:
        try:
            exc = pickle.loads(pickled)
        except Exception:  # e.g. an exception class whose __init__ wants other arguments
            exc = None
    if isinstance(exc, Exception):
        raise exc
    raise RuntimeError(f"{type_name} in a sub-interpreter: {message}")
