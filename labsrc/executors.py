"""Executors: run these tasks with this function on N workers, one signature for all.

`make_executor(name, workers, payload)` returns an executor for one cell, used as a context
manager: `open(ref)` starts its pool (the time it took is kept in `startup_s`, apart from
the work), `run(ref, work)` runs every task and returns the answers in task order plus one
`Span` per task, and leaving the `with` block stops the pool (at once, if it is left by an
exception or Ctrl-C).

The task function travels as a `TaskRef` (kernel and implementation *names*): worker
processes resolve it through the catalog themselves, so nothing unpicklable crosses. What
else crosses per task is the cell's payload (labsrc.names.Payload): the input itself, or
only its recipe.

Spans are stamped with `time.perf_counter`, which on Linux is CLOCK_MONOTONIC: one
system-wide clock, so stamps taken in worker processes line up with the parent's.
`CLOCK_INFO` records which clock it was, for the report.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import multiprocessing
import sys
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Optional, Sequence

from labsrc.kernels.catalog import TaskArgs
from labsrc.names import ExecutorName, Payload
from labsrc.worker import (
    RemoteResult,
    TaskRef,
    call_data,
    call_in_interpreter,
    call_recipe,
    clock,
    function,
    init_worker,
    ready,
)

CLOCK_INFO = str(time.get_clock_info("perf_counter").implementation)

EXECUTORS: tuple[str, ...] = tuple(ExecutorName)

__all__ = [
    "CLOCK_INFO", "EXECUTORS", "Executor", "ExecutorUnavailable", "RunOutput", "Span", "TaskRef",
    "Work", "WorkerCrashed", "clock", "executor_available", "make_executor", "process_context",
]


class ExecutorUnavailable(RuntimeError):
    """This executor cannot run on this interpreter; str() is the reason."""


class WorkerCrashed(RuntimeError):
    """A worker process died (BrokenProcessPool): the cell failed, the pool is gone."""


@dataclass(frozen=True)
class Work:
    """The tasks of a cell: their inputs, and the scale they were made at (their recipe is
    (kernel, scale, index), so a worker can rebuild input `index` itself)."""

    args: Sequence[TaskArgs]
    scale: int


@dataclass(frozen=True)
class Span:
    """One task: start and end on the shared clock, and who ran it (thread id or pid)."""

    start: float
    end: float
    worker: int


@dataclass
class RunOutput:
    """Answers in task order, their spans, and CPU seconds measured inside worker processes.

    `worker_cpu_s` is non-zero only for out-of-process executors: a pool's live workers
    are not yet in the parent's RUSAGE_CHILDREN, so each task reports its own CPU time.
    Under the recipe payload a large answer arrives as a labsrc.worker.ResultDigest.
    """

    results: list[Any]
    spans: list[Span]
    worker_cpu_s: float = 0.0


def _call_here(fn: Callable[..., Any], kwargs: dict[str, Any], args: TaskArgs) -> tuple[Any, Span]:
    # In-process: only two clock reads and a thread id on top of the call itself.
    start = clock()
    result = fn(*args, **kwargs)
    return result, Span(start, clock(), threading.get_native_id())


def _in_process_output(pairs: Sequence[tuple[Any, Span]]) -> RunOutput:
    return RunOutput([r for r, _ in pairs], [s for _, s in pairs])


class Executor(ABC):
    """One cell's executor. Subclasses start their pool in `_start`, run tasks in `run`
    and stop the pool in `_stop`; `payload` matters only where tasks leave the process."""

    name: ClassVar[ExecutorName]
    in_process: ClassVar[bool] = True

    def __init__(self, workers: int, payload: Payload = Payload.RECIPE) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.payload: Optional[Payload] = None if self.in_process else payload
        self.startup_s = 0.0

    def open(self, ref: TaskRef) -> None:
        """Start the pool for tasks of `ref`; the time it took goes to `startup_s`."""
        t0 = clock()
        self._start(ref)
        self.startup_s = clock() - t0

    @abstractmethod
    def _start(self, ref: TaskRef) -> None: ...

    @abstractmethod
    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        """Run every task of `work` once; answers in task order."""

    @abstractmethod
    def _stop(self, abort: bool) -> None: ...

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


class SeqExecutor(Executor):
    """Every task in turn, in this thread: the baseline of every speedup."""

    name = ExecutorName.SEQ

    def _start(self, ref: TaskRef) -> None:
        function(ref)

    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        fn, kwargs = function(ref), dict(ref.kwargs)
        return _in_process_output([_call_here(fn, kwargs, args) for args in work.args])

    def _stop(self, abort: bool) -> None:
        pass


class ThreadsExecutor(Executor):
    """concurrent.futures.ThreadPoolExecutor with `workers` threads."""

    name = ExecutorName.THREADS

    def __init__(self, workers: int, payload: Payload = Payload.RECIPE) -> None:
        super().__init__(workers, payload)
        self._pool: Optional[cf.ThreadPoolExecutor] = None

    def _start(self, ref: TaskRef) -> None:
        function(ref)
        self._pool = cf.ThreadPoolExecutor(self.workers, thread_name_prefix="lab")

    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        assert self._pool is not None, "open() first"
        fn, kwargs = function(ref), dict(ref.kwargs)
        futures = [self._pool.submit(_call_here, fn, kwargs, args) for args in work.args]
        return _in_process_output([f.result() for f in futures])

    def _stop(self, abort: bool) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=not abort, cancel_futures=abort)


class AsyncioExecutor(Executor):
    """One event loop; every task goes through `asyncio.to_thread` on a `workers`-thread pool."""

    name = ExecutorName.ASYNCIO

    def __init__(self, workers: int, payload: Payload = Payload.RECIPE) -> None:
        super().__init__(workers, payload)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._pool: Optional[cf.ThreadPoolExecutor] = None

    def _start(self, ref: TaskRef) -> None:
        function(ref)
        self._loop = asyncio.new_event_loop()
        self._pool = cf.ThreadPoolExecutor(self.workers, thread_name_prefix="lab-aio")
        self._loop.set_default_executor(self._pool)

    async def _gather(self, ref: TaskRef, work: Work) -> list[tuple[Any, Span]]:
        fn, kwargs = function(ref), dict(ref.kwargs)
        return await asyncio.gather(*(asyncio.to_thread(_call_here, fn, kwargs, a) for a in work.args))

    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        assert self._loop is not None, "open() first"
        return _in_process_output(self._loop.run_until_complete(self._gather(ref, work)))

    def _stop(self, abort: bool) -> None:
        if self._loop is None or self._pool is None:
            return
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
        # Children fork from a server that has the worker's imports done already.
        ctx.set_forkserver_preload(["labsrc.worker"])
    return ctx


def _remote_output(out: Sequence[RemoteResult]) -> RunOutput:
    spans = [Span(o.start, o.end, o.worker) for o in out]
    return RunOutput([o.answer for o in out], spans, sum(o.cpu_s for o in out))


class ProcsExecutor(Executor):
    """concurrent.futures.ProcessPoolExecutor; start-up waits until all workers answered."""

    name = ExecutorName.PROCS
    in_process = False

    def __init__(self, workers: int, payload: Payload = Payload.RECIPE) -> None:
        super().__init__(workers, payload)
        self._pool: Optional[cf.Executor] = None

    def _make_pool(self, ref: TaskRef) -> cf.Executor:
        return cf.ProcessPoolExecutor(
            self.workers, mp_context=process_context(), initializer=init_worker, initargs=(ref,)
        )

    def _start(self, ref: TaskRef) -> None:
        self._pool = self._make_pool(ref)
        # Submitted together, these start every worker before the first result comes back.
        self._map(ready, [() for _ in range(self.workers)])

    def _map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Submit every call, then collect results in order; a dead worker -> WorkerCrashed.

        A worker that dies early breaks the pool while later calls are still being
        submitted, so submit() can raise too, not only result().
        """
        assert self._pool is not None, "open() first"
        try:
            futures = [self._pool.submit(fn, *args) for args in calls]
            return [f.result() for f in futures]
        except cf.process.BrokenProcessPool as exc:
            raise WorkerCrashed(f"a worker process died ({exc})") from exc

    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        if self.payload == Payload.DATA:
            return _remote_output(self._map(call_data, [(ref, args) for args in work.args]))
        return _remote_output(self._map(call_recipe, [(ref, work.scale, i) for i in range(len(work.args))]))

    def _stop(self, abort: bool) -> None:
        pool = self._pool
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
    """concurrent.futures.InterpreterPoolExecutor (Python >= 3.14): one interpreter per
    worker. Inputs are always shipped (data payload): interpreters share the process."""

    name = ExecutorName.INTERP

    def __init__(self, workers: int, payload: Payload = Payload.DATA) -> None:
        super().__init__(workers, Payload.DATA)

    def _make_pool(self, ref: TaskRef) -> cf.Executor:
        pool_type = getattr(cf, "InterpreterPoolExecutor", None)
        if pool_type is None:
            raise ExecutorUnavailable(interp_reason())
        return pool_type(self.workers, initializer=function, initargs=(ref,))

    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        return _remote_output(self._map(call_in_interpreter, [(ref, args) for args in work.args]))

    def _stop(self, abort: bool) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=abort)


def interp_reason() -> str:
    """Why `interp` cannot run here ('' when it can)."""
    if hasattr(cf, "InterpreterPoolExecutor"):
        return ""
    return f"needs Python 3.14 (InterpreterPoolExecutor); this is {sys.version.split()[0]}"


_TYPES: dict[str, type[Executor]] = {
    kind.name: kind
    for kind in (SeqExecutor, ThreadsExecutor, ProcsExecutor, AsyncioExecutor, InterpExecutor)
}


def executor_available(name: str) -> tuple[bool, str]:
    """(True, '') when executor `name` can run on this interpreter, else (False, reason)."""
    if name == ExecutorName.INTERP and interp_reason():
        return False, interp_reason()
    return True, ""


def runs_in_process(name: str) -> bool:
    """Whether executor `name` runs tasks in this process (no payload crosses)."""
    return _TYPES[name].in_process


def make_executor(name: str, workers: int, payload: Payload = Payload.RECIPE) -> Executor:
    """A fresh executor `name` for `workers` workers; KeyError listing the names if unknown."""
    try:
        kind = _TYPES[name]
    except KeyError:
        raise KeyError(f"unknown executor {name!r}; choose from: {', '.join(EXECUTORS)}") from None
    ok, reason = executor_available(name)
    if not ok:
        raise ExecutorUnavailable(reason)
    return kind(workers, payload)
