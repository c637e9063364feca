"""Executors: run these tasks with this function on N workers, one signature for all.

`make_executor(name, workers)` returns an object used as a context manager for one cell:
entering it starts its pool (the start-up time is kept in `startup_s`, apart from the
work), `run(ref, tasks)` runs every task and returns the results in task order plus one
`Span` per task, and leaving it stops the pool; `abort()` stops it at once (Ctrl-C).

The task function travels as a `TaskRef` (kernel and implementation *names*): worker
processes resolve it through the catalog themselves, so nothing unpicklable crosses.

Spans are stamped with `time.perf_counter`, which on Linux is CLOCK_MONOTONIC: one
system-wide clock, so stamps taken in worker processes line up with the parent's.
`CLOCK_INFO` records which clock it was, for the report.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from labsrc.allocator import pin_allocator
from labsrc.kernels.catalog import TaskArgs, resolve

clock = time.perf_counter
CLOCK_INFO = str(time.get_clock_info("perf_counter").implementation)

EXECUTORS: tuple[str, ...] = ("seq", "threads", "procs", "asyncio", "interp")


class ExecutorUnavailable(RuntimeError):
    """This executor cannot run on this interpreter; str() is the reason."""


class WorkerCrashed(RuntimeError):
    """A worker process died (BrokenProcessPool): the cell failed, the pool is gone."""


@dataclass(frozen=True)
class TaskRef:
    """The task function by name: `resolve(kernel, impl)(*args, **dict(kwargs))`."""

    kernel: str
    impl: str
    kwargs: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Span:
    """One task: start and end on the shared clock, and who ran it (thread id or pid)."""

    start: float
    end: float
    worker: int


@dataclass
class RunOutput:
    """Results in task order, their spans, and CPU seconds measured inside worker processes.

    `worker_cpu_s` is non-zero only for out-of-process executors: a pool's live workers
    are not yet in the parent's RUSAGE_CHILDREN, so each task reports its own CPU time.
    """

    results: list[Any]
    spans: list[Span]
    worker_cpu_s: float = 0.0


_FUNCTIONS: dict[tuple[str, str], Callable[..., Any]] = {}


def _function(ref: TaskRef) -> Callable[..., Any]:
    key = (ref.kernel, ref.impl)
    fn = _FUNCTIONS.get(key)
    if fn is None:
        fn = _FUNCTIONS[key] = resolve(ref.kernel, ref.impl)
    return fn


def _call_here(fn: Callable[..., Any], kwargs: dict[str, Any], args: TaskArgs) -> tuple[Any, Span]:
    # In-process: only two clock reads and a thread id on top of the call itself.
    start = clock()
    result = fn(*args, **kwargs)
    return result, Span(start, clock(), threading.get_native_id())


def call_remote(ref: TaskRef, args: TaskArgs) -> tuple[Any, float, float, int, float]:
    """Entry point in a worker process: (result, start, end, pid, cpu seconds of the task)."""
    fn = _function(ref)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = clock()
    result = fn(*args, **dict(ref.kwargs))
    end = clock()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return result, start, end, os.getpid(), cpu


def _call_interp(ref: TaskRef, args: TaskArgs) -> tuple[Any, Span]:
    """Entry point in a sub-interpreter: the task, stamped with its thread's id."""
    return _call_here(_function(ref), dict(ref.kwargs), args)


def _init_worker(ref: TaskRef) -> None:
    # The parent handles Ctrl-C and terminates us; tracebacks from every worker would only
    # bury its message. Resolving now moves the imports into the start-up time.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pin_allocator()  # same allocator rules as the parent (see labsrc.allocator)
    _function(ref)


def _ready() -> int:
    return os.getpid()


class Executor:
    """Base: a sequential executor. Subclasses override `_start`, `run` and `_stop`."""

    name = "seq"
    in_process = True

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.startup_s = 0.0
        self._ref: Optional[TaskRef] = None

    def open(self, ref: TaskRef) -> "Executor":
        """Start the pool for tasks of `ref`; the time it took goes to `startup_s`."""
        self._ref = ref
        t0 = clock()
        self._start(ref)
        self.startup_s = clock() - t0
        return self

    def _start(self, ref: TaskRef) -> None:
        _function(ref)

    def run(self, ref: TaskRef, tasks: Sequence[TaskArgs]) -> RunOutput:
        """Run every task; results in task order."""
        fn, kwargs = _function(ref), dict(ref.kwargs)
        pairs = [_call_here(fn, kwargs, args) for args in tasks]
        return RunOutput([r for r, _ in pairs], [s for _, s in pairs])

    def _stop(self, abort: bool) -> None:
        pass

    def close(self) -> None:
        """Stop the pool, waiting for it."""
        self._stop(abort=False)

    def abort(self) -> None:
        """Stop at once: cancel what has not started, terminate worker processes."""
        self._stop(abort=True)

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class ThreadsExecutor(Executor):
    """concurrent.futures.ThreadPoolExecutor with `workers` threads."""

    name = "threads"

    def _start(self, ref: TaskRef) -> None:
        _function(ref)
        self._pool = cf.ThreadPoolExecutor(self.workers, thread_name_prefix="lab")

    def run(self, ref: TaskRef, tasks: Sequence[TaskArgs]) -> RunOutput:
        fn, kwargs = _function(ref), dict(ref.kwargs)
        futures = [self._pool.submit(_call_here, fn, kwargs, args) for args in tasks]
        pairs = [f.result() for f in futures]
        return RunOutput([r for r, _ in pairs], [s for _, s in pairs])

    def _stop(self, abort: bool) -> None:
        if hasattr(self, "_pool"):
            self._pool.shutdown(wait=not abort, cancel_futures=abort)


class AsyncioExecutor(Executor):
    """One event loop; every task goes through `asyncio.to_thread` on a `workers`-thread pool."""

    name = "asyncio"

    def _start(self, ref: TaskRef) -> None:
        _function(ref)
        self._loop = asyncio.new_event_loop()
        self._pool = cf.ThreadPoolExecutor(self.workers, thread_name_prefix="lab-aio")
        self._loop.set_default_executor(self._pool)

    async def _gather(self, ref: TaskRef, tasks: Sequence[TaskArgs]) -> list[tuple[Any, Span]]:
        fn, kwargs = _function(ref), dict(ref.kwargs)
        return await asyncio.gather(*(asyncio.to_thread(_call_here, fn, kwargs, a) for a in tasks))

    def run(self, ref: TaskRef, tasks: Sequence[TaskArgs]) -> RunOutput:
        pairs = self._loop.run_until_complete(self._gather(ref, tasks))
        return RunOutput([r for r, _ in pairs], [s for _, s in pairs])

    def _stop(self, abort: bool) -> None:
        if hasattr(self, "_pool"):
            # Ctrl-C or a raising task can leave to_thread tasks pending on the loop; cancel
            # and reap them so closing it does not report "Task was destroyed but pending".
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._pool.shutdown(wait=not abort, cancel_futures=abort)
            self._loop.close()


def process_context() -> multiprocessing.context.BaseContext:
    """forkserver where it exists: forking a parent that runs probe and tqdm threads is unsafe."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        # Children fork from a server that has the harness imported already.
        ctx.set_forkserver_preload(["labsrc.executors"])
    return ctx


class ProcsExecutor(Executor):
    """concurrent.futures.ProcessPoolExecutor; start-up waits until all workers answered."""

    name = "procs"
    in_process = False

    def _make_pool(self, ref: TaskRef) -> cf.Executor:
        return cf.ProcessPoolExecutor(
            self.workers, mp_context=process_context(), initializer=_init_worker, initargs=(ref,)
        )

    def _start(self, ref: TaskRef) -> None:
        self._pool = self._make_pool(ref)
        # Submitted together, these start every worker before the first result comes back.
        self._map(_ready, [() for _ in range(self.workers)])

    def _map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Submit every call, then collect results in order; a dead worker -> WorkerCrashed.

        A worker that dies early breaks the pool while later calls are still being
        submitted, so submit() can raise too, not only result().
        """
        try:
            futures = [self._pool.submit(fn, *args) for args in calls]
            return [f.result() for f in futures]
        except cf.process.BrokenProcessPool as exc:
            raise WorkerCrashed(f"a worker process died ({exc})") from exc

    def run(self, ref: TaskRef, tasks: Sequence[TaskArgs]) -> RunOutput:
        out = self._map(call_remote, [(ref, args) for args in tasks])
        spans = [Span(start, end, pid) for _, start, end, pid, _ in out]
        return RunOutput([o[0] for o in out], spans, sum(o[4] for o in out))

    def _stop(self, abort: bool) -> None:
        pool = getattr(self, "_pool", None)
        if pool is None:
            return
        if abort:
            terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
            if terminate is not None:
                terminate()
            else:
                for proc in list((getattr(pool, "_processes", None) or {}).values()):
                    proc.terminate()
        pool.shutdown(wait=True, cancel_futures=abort)


class InterpExecutor(ProcsExecutor):
    """concurrent.futures.InterpreterPoolExecutor (Python >= 3.14): one interpreter per worker."""

    name = "interp"

    def _make_pool(self, ref: TaskRef) -> cf.Executor:
        pool_type = getattr(cf, "InterpreterPoolExecutor", None)
        if pool_type is None:
            raise ExecutorUnavailable(interp_reason())
        return pool_type(self.workers, initializer=_function, initargs=(ref,))

    def run(self, ref: TaskRef, tasks: Sequence[TaskArgs]) -> RunOutput:
        # Sub-interpreters are threads of this process: RUSAGE_SELF inside one counts the
        # whole process (already in the parent's delta), and the pid names no worker.
        out = self._map(_call_interp, [(ref, args) for args in tasks])
        return RunOutput([r for r, _ in out], [span for _, span in out])

    def _stop(self, abort: bool) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=abort)


def interp_reason() -> str:
    """Why `interp` cannot run here ('' when it can)."""
    if hasattr(cf, "InterpreterPoolExecutor"):
        return ""
    return f"needs Python 3.14 (InterpreterPoolExecutor); this is {sys.version.split()[0]}"


_TYPES: dict[str, type[Executor]] = {
    "seq": Executor,
    "threads": ThreadsExecutor,
    "procs": ProcsExecutor,
    "asyncio": AsyncioExecutor,
    "interp": InterpExecutor,
}


def executor_available(name: str) -> tuple[bool, str]:
    """(True, '') when executor `name` can run on this interpreter, else (False, reason)."""
    if name == "interp" and interp_reason():
        return False, interp_reason()
    return True, ""


def make_executor(name: str, workers: int) -> Executor:
    """A fresh executor `name` for `workers` workers; KeyError listing the names if unknown."""
    try:
        kind = _TYPES[name]
    except KeyError:
        raise KeyError(f"unknown executor {name!r}; choose from: {', '.join(EXECUTORS)}") from None
    ok, reason = executor_available(name)
    if not ok:
        raise ExecutorUnavailable(reason)
    return kind(workers)


def run_tasks(
    name: str, workers: int, ref: TaskRef, tasks: Sequence[TaskArgs]
) -> tuple[RunOutput, float]:
    """One-shot convenience: open an executor, run the tasks once, close it; (output, startup_s)."""
    with make_executor(name, workers) as ex:
        ex.open(ref)
        return ex.run(ref, tasks), ex.startup_s
