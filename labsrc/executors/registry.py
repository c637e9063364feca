"""Executors: run these tasks with this function on N workers, one signature for all.

`make_executor(name, workers, payload)` returns an executor for one cell, used as a context
manager: `open(ref)` starts its pool (the time it took is kept in `startup_s`, apart from
the work), `run(ref, work)` runs every task and returns the answers in task order plus one
`Span` per task, and leaving the `with` block stops the pool (at once, if it is left by an
exception or Ctrl-C).

Here: the registry (`_TYPES`, `make_executor`, `executor_available`) and the
`concurrent.futures` executors (seq, threads, asyncio, procs). The book's
`threading` / `multiprocessing` alternatives live in labsrc.executors.classic, the
sub-interpreter pool in labsrc.executors.interp, the Dask executors in
labsrc.executors.dask.executors, their common base in labsrc.executors.base.

The task function travels as a `TaskRef` (kernel and implementation *names*): worker
processes resolve it through the catalog themselves, so nothing unpicklable crosses. What
else crosses per task is the cell's payload (labsrc.core.names.Payload): the input itself, or
only its recipe.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
from typing import Any, Callable, Optional, Sequence

from labsrc.executors.base import (
    Executor,
    ExecutorUnavailable,
    RunOutput,
    Span,
    Work,
    WorkerCrashed,
    call_here,
    in_process_output,
    process_context,
    overdue,
    remote_output,
    results_within,
    task_deadline,
)
from labsrc.core.worker import CLOCK_INFO
from labsrc.executors.classic import MpPoolExecutor, ThreadingExecutor
from labsrc.executors.dask.executors import DaskProcsExecutor, DaskThreadsExecutor, dask_available
from labsrc.executors.interp import InterpExecutor, interp_reason
from labsrc.core.names import ExecutorName, Payload
from labsrc.core.worker import (
    TaskRef,
    call_data,
    call_recipe,
    clock,
    function,
    init_worker,
    ready,
)

EXECUTORS: tuple[str, ...] = tuple(ExecutorName)

__all__ = [
    "CLOCK_INFO", "EXECUTORS", "Executor", "ExecutorUnavailable", "RunOutput", "Span", "TaskRef",
    "Work", "WorkerCrashed", "clock", "executor_available", "make_executor", "process_context",
    "runs_in_process",
]


class SeqExecutor(Executor):
    """Every task in turn, in this thread: the baseline of every speedup."""

    name = ExecutorName.SEQ

    def _start(self, ref: TaskRef) -> None:
        function(ref)

    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        fn, kwargs = function(ref), dict(ref.kwargs)
        return in_process_output([call_here(fn, kwargs, args) for args in work.args])

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
        futures = [self._pool.submit(call_here, fn, kwargs, args) for args in work.args]
        return in_process_output(results_within(futures))

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
        return await asyncio.gather(*(asyncio.to_thread(call_here, fn, kwargs, a) for a in work.args))

    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        assert self._loop is not None, "open() first"
        gathered = asyncio.wait_for(self._gather(ref, work), task_deadline(len(work.args)) - clock())
        try:
            return in_process_output(self._loop.run_until_complete(gathered))
        except asyncio.TimeoutError:  # the same as TimeoutError from 3.11 on
            raise overdue() from None

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
            return results_within(futures)
        except cf.process.BrokenProcessPool as exc:
            raise WorkerCrashed(f"a worker process died ({exc})") from exc

    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        if self.payload == Payload.DATA:
            return remote_output(self._map(call_data, [(ref, args) for args in work.args]))
        return remote_output(self._map(call_recipe, [(ref, work.scale, i) for i in range(len(work.args))]))

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


# The one registry: every ExecutorName has its class here (a test checks that).
_TYPES: dict[str, type[Executor]] = {
    kind.name: kind
    for kind in (SeqExecutor, ThreadsExecutor, ProcsExecutor, AsyncioExecutor, InterpExecutor,
                 ThreadingExecutor, MpPoolExecutor, DaskThreadsExecutor, DaskProcsExecutor)
}
_DASK = (ExecutorName.DASK_THREADS, ExecutorName.DASK_PROCS)


def executor_available(name: str) -> tuple[bool, str]:
    """(True, '') when executor `name` can run on this interpreter, else (False, reason)."""
    if name == ExecutorName.INTERP:
        reason = interp_reason()
        return not reason, reason
    if name in _DASK:
        return dask_available()
    return True, ""


def runs_in_process(name: str) -> bool:
    """Whether executor `name` runs tasks in this process (no payload crosses)."""
    return _TYPES[name].in_process


def min_task_s(name: str) -> float:
    """The shortest task executor `name` should be timed on (0 when it cannot run here)."""
    return _TYPES[name].min_task_s if executor_available(name)[0] else 0.0


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
