"""The one place that decides how the project starts worker processes.

Every process pool in the project (flags' ``processpool`` mode; the lab's ``procs`` executor
imports this module too) is built with ``process_context()``, never with the platform's
default. Before Python 3.14 that default is ``fork`` on Linux, and forking a process that
runs other threads (an embedded server's thread, tqdm's monitor, the lab's heartbeat probe)
copies whatever locks those threads hold at that instant into a child where no thread will
ever release them: the child can hang forever. Python 3.12+ warns about it ("This process
... is multi-threaded, use of fork() may lead to deadlocks in the child."), and 3.14 made
``forkserver`` the Linux default for this reason.

``forkserver`` forks workers from a small single-threaded server process (started once, by
fork+exec, which is safe), so the parent's threads never matter; ``spawn`` is the fallback
where there is no forkserver (Windows). ``fork`` is never chosen.

What a new worker costs is what it imports before its first task: the forkserver's preloads
are imported once, in the server; the caller's main script is re-run by every worker unless
``__main__`` is a package's ``__main__`` module, as under ``python -m``, which the console
scripts declare themselves to be (see run_as_module_main).

This module must not import ``labsrc``: the lab imports flags, never the other way round.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import multiprocessing.context
import re
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

__all__ = ["FORK_WARNING", "start_method", "process_context", "record_fork_warnings",
           "run_as_module_main"]

#: The start methods this project may use, best first.
PREFERRED = ("forkserver", "spawn")

#: Regular expression (for ``warnings`` filters) of CPython's warning about fork() in a
#: multi-threaded process (3.12+): "This process (pid=...) is multi-threaded, use of fork()
#: may lead to deadlocks in the child." Matched from the start of the message, as
#: ``warnings`` filters match.
FORK_WARNING = r"This process .*is multi-threaded, use of fork\(\) may lead to deadlocks"

# Modules every forkserver started by this process should import up front; see
# process_context(). Kept in request order, without repeats.
_preload: list[str] = []

_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")


def start_method() -> str:
    """The start method for every process pool: "forkserver" where the platform has it
    (Linux, the BSDs, macOS), else "spawn" (Windows). Never "fork"."""
    available = multiprocessing.get_all_start_methods()
    for method in PREFERRED:
        if method in available:
            return method
    # Every CPython platform has spawn; reaching this means a very unusual interpreter.
    raise RuntimeError(f"neither forkserver nor spawn is available (only {available})")


def _check_preload(preload: Iterable[str]) -> list[str]:
    """The preload names as a list; TypeError/ValueError naming the bad one.

    The forkserver silently skips a module it cannot import, so a typo would only ever
    show as slower worker start-up: check here, where the caller can still be told.
    """
    if isinstance(preload, (str, bytes)):
        # A lone string would be iterated character by character.
        raise TypeError(f"preload must be an iterable of module names, not the string {preload!r}")
    names = list(preload)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"preload names must be str, not {type(name).__name__} ({name!r})")
        if not _MODULE_NAME.match(name):
            raise ValueError(f"preload: {name!r} is not a dotted module name")
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # a missing parent package
            found = False
        if not found:
            raise ValueError(f"preload: no module named {name!r}")
    return names


def process_context(preload: Iterable[str] = ()) -> multiprocessing.context.BaseContext:
    """The multiprocessing context of `start_method()`, for ``ProcessPoolExecutor(mp_context=...)``.

    `preload` names modules the forkserver should import once, before it forks any worker,
    so that each worker starts with them already imported (under spawn they are imported by
    every worker anyway, and the argument only gets checked). The forkserver is one per
    process and shared by every pool, so preloads accumulate across calls, and they count
    only until the server has started (later ones cost nothing but a slower start-up of
    the workers, which then import what they need themselves).

    Raises TypeError or ValueError for a preload that is not a list of importable module
    names (a lone string included).
    """
    names = _check_preload(preload)
    ctx = multiprocessing.get_context(start_method())
    if ctx.get_start_method() == "forkserver":
        added = [name for name in names if name not in _preload]
        if added:
            _preload.extend(added)
            # The set_forkserver_preload list replaces the previous one: hand it the union.
            ctx.set_forkserver_preload(list(_preload))
    return ctx


def run_as_module_main(name: str) -> None:
    """Declare this process's ``__main__`` to be the package main module `name` (for
    example ``"flags.__main__"``), so that its worker processes start as under ``python -m``.

    For console-script entry points only (``flags.cli.console_main``,
    ``labsrc.cli.console_main``), called before ``main()``: the console script is the same
    program as ``python -m <package>``, run from a wrapper script instead. Never call it
    from ``main()`` itself, which tests call in-process under pytest's own ``__main__``.

    Does nothing when ``__main__`` is missing or already has a spec (``python -m ...``).
    Raises ValueError for a `name` that does not end in ``.__main__`` or is not found.
    """
    if not name.endswith(".__main__"):
        raise ValueError(f"{name!r} is not a package's __main__ module")
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        return
    try:
        spec = importlib.util.find_spec(name)  # imports the package; never runs its __main__
    except ModuleNotFoundError:  # a missing package
        spec = None
    if spec is None:
        raise ValueError(f"no module named {name!r}")
    # multiprocessing's rule: every new process, spawn or forkserver, first re-runs the
    # parent's __main__ (as __mp_main__, so that what the main script defines unpickles
    # there), by module name when __main__.__spec__ has one, else from its file; a name
    # ending in ".__main__" is skipped (spawn._fixup_main_from_name), which is why
    # `python -m flags` never paid for it. A console script's wrapper has no spec, so each
    # worker re-ran the wrapper, and with it the import of the whole CLI, before its first
    # task. Only the spec changes: __name__ stays "__main__" and __file__ the wrapper's.
    main.__spec__ = spec


@contextmanager
def record_fork_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Collect CPython's fork()-in-a-threaded-process warnings raised inside the block.

    Use it to fail a test on the hazard: a ``filterwarnings = error`` filter does not work
    for this warning, because ``os.fork()`` raises it from C and then discards the
    exception (checked on 3.12.1 and 3.13.0), so an "error" filter only hides the warning.
    The list is filled when the block ends (also when it raises). Other warnings raised in
    the block are passed on after it, so pytest's own warning capture still sees them.
    The fork warning exists on Python 3.12+ only; on 3.11 the list stays empty.
    """
    found: list[warnings.WarningMessage] = []
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            # Recorded every time, whatever the surrounding filters say ("error" included).
            warnings.filterwarnings("always", message=FORK_WARNING, category=DeprecationWarning)
            yield found
    finally:
        pattern = re.compile(FORK_WARNING)
        for item in caught:
            if issubclass(item.category, DeprecationWarning) and pattern.match(str(item.message)):
                found.append(item)
            else:
                # Re-issued outside the recording block: back to the caller's filters.
                warnings.warn_explicit(item.message, item.category, item.filename,
                                       item.lineno or 0, source=item.source)
