"""The book's alternatives to `concurrent.futures` (Fluent Python, section 17.5.3), as executors
of the same matrix: `threading` and `mp_pool`.

- `threading`: N `threading.Thread` workers, started once per cell, pulling tasks from a
  `queue.Queue` and putting (index, answer, span) on a second one. The same GIL rules as
  the thread pool; its own overhead is two queue hand-offs per task.
- `mp_pool`: `multiprocessing.Pool` (forkserver, like `procs`) fed by `imap_unordered` with
  `CHUNKSIZE` tasks per dispatch; tasks travel as the cell's payload (recipe or data), as for
  `procs`. Unlike `concurrent.futures`, a Pool does not break when a worker dies: it quietly
  replaces it and the lost task's result never comes, so `run` polls and fails the cell when
  the set of worker pids changes (see `_pool_pids`), instead of waiting forever.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import queue
import threading
from typing import Any, Optional

from labsrc.executors.base import (
    Executor,
    RunOutput,
    Span,
    Work,
    WorkerCrashed,
    call_here,
    in_process_output,
    overdue,
    process_context,
    remote_output,
    task_deadline,
)
from labsrc.kernels.catalog import TaskArgs
from labsrc.core.names import ExecutorName, Payload
from labsrc.core.worker import RemoteResult, TaskRef, call_data, call_recipe, clock, function, init_worker

# One task per dispatch: cells have few, long tasks (8-16 of tens of ms or more), where
# bigger chunks only unbalance the workers; it is also what `procs` does (one submit per
# task), so the two process pools are compared like for like. The no-op overhead row
# (`gil-lab bench`) is measured with this chunk size.
CHUNKSIZE = 1
POLL_S = 0.25  # how often a waiting mp_pool run checks that its workers are still alive
START_TIMEOUT_S = 60.0  # start-up of every worker process (imports included)
JOIN_TIMEOUT_S = 30.0  # threads of a finished threading run leave at once; this only bounds it
TERMINATE_TIMEOUT_S = 10.0  # Pool.terminate() can hang on a lock a killed worker held (see _stop)


class ThreadingExecutor(Executor):
    """N `threading.Thread` workers pulling (index, task) from a `queue.Queue`."""

    name = ExecutorName.THREADING

    def __init__(self, workers: int, payload: Payload = Payload.RECIPE) -> None:
        super().__init__(workers, payload)
        self._tasks: queue.Queue[Optional[tuple[int, Any, dict[str, Any], TaskArgs]]] = queue.Queue()
        self._done: queue.Queue[tuple[int, Optional[tuple[Any, Span]], Optional[BaseException]]] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def _start(self, ref: TaskRef) -> None:
        function(ref)
        self._threads = [threading.Thread(target=self._work, name=f"lab-threading-{i}", daemon=True)
                         for i in range(self.workers)]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        """A worker's loop: one task at a time until the None sentinel."""
        while True:
            item = self._tasks.get()
            if item is None:
                return
            index, fn, kwargs, args = item
            try:
                self._done.put((index, call_here(fn, kwargs, args), None))
            except BaseException as exc:  # handed to the waiting run, which raises it
                self._done.put((index, None, exc))

    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        assert self._threads, "open() first"
        fn, kwargs = function(ref), dict(ref.kwargs)
        for index, args in enumerate(work.args):
            self._tasks.put((index, fn, kwargs, args))
        pairs: list[Optional[tuple[Any, Span]]] = [None] * len(work.args)
        deadline = task_deadline(len(work.args))
        for _ in work.args:
            try:  # every task puts exactly one item
                index, pair, exc = self._done.get(timeout=max(0.0, deadline - clock()))
            except queue.Empty:
                raise overdue() from None
            if exc is not None:
                raise exc
            pairs[index] = pair
        return in_process_output([p for p in pairs if p is not None])

    def _stop(self, abort: bool) -> None:
        if abort:  # drop what has not started; running tasks finish in their daemon threads
            while True:
                try:
                    self._tasks.get_nowait()
                except queue.Empty:
                    break
        for _ in self._threads:
            self._tasks.put(None)
        if not abort:
            for thread in self._threads:
                thread.join(JOIN_TIMEOUT_S)
        self._threads = []


def _init_pool_worker(ref: TaskRef, started: Any) -> None:
    """mp_pool initializer: as a procs worker (Ctrl-C ignored, allocator pinned, function
    resolved), then tell the parent this worker is up."""
    init_worker(ref)
    started.release()


def _pool_task(item: tuple[int, TaskRef, int, Optional[TaskArgs]]) -> tuple[int, RemoteResult]:
    """mp_pool task: (index, ref, scale, input or None for the recipe) -> (index, result);
    imap_unordered returns results as they come, so each carries its index."""
    index, ref, scale, args = item
    return index, (call_recipe(ref, scale, index) if args is None else call_data(ref, args))


class MpPoolExecutor(Executor):
    """`multiprocessing.Pool` with `imap_unordered(chunksize=CHUNKSIZE)`; start-up waits until
    every worker has run its initializer."""

    name = ExecutorName.MP_POOL
    in_process = False

    def __init__(self, workers: int, payload: Payload = Payload.RECIPE) -> None:
        super().__init__(workers, payload)
        self._pool: Optional[multiprocessing.pool.Pool] = None
        self._pids: frozenset[int] = frozenset()

    def _start(self, ref: TaskRef) -> None:
        ctx = process_context()
        started = ctx.Semaphore(0)
        self._pool = ctx.Pool(self.workers, initializer=_init_pool_worker, initargs=(ref, started))
        for _ in range(self.workers):
            if not started.acquire(timeout=START_TIMEOUT_S):
                raise WorkerCrashed(f"an mp_pool worker did not start within {START_TIMEOUT_S:g} s")
        self._pids = self._pool_pids()

    def _pool_pids(self) -> frozenset[int]:
        # Pool keeps its worker processes in `_pool` (private, but unchanged since Python 2.6);
        # its maintenance thread swaps a dead worker for a new one there.
        return frozenset(p.pid for p in getattr(self._pool, "_pool", ()) if p.pid is not None)

    def run(self, ref: TaskRef, work: Work) -> RunOutput:
        assert self._pool is not None, "open() first"
        recipe = self.payload == Payload.RECIPE
        items = [(i, ref, work.scale, None if recipe else args) for i, args in enumerate(work.args)]
        results: list[Optional[RemoteResult]] = [None] * len(items)
        answers = self._pool.imap_unordered(_pool_task, items, chunksize=CHUNKSIZE)
        deadline = task_deadline(len(items))
        for _ in items:
            while True:
                try:
                    index, result = answers.next(timeout=POLL_S)
                    break
                except multiprocessing.TimeoutError:
                    self._check_workers()
                    if clock() > deadline:
                        raise overdue() from None
            results[index] = result
        return remote_output([r for r in results if r is not None])

    def _check_workers(self) -> None:
        """WorkerCrashed when a worker process was replaced: its task is lost for good."""
        now = self._pool_pids()
        gone = sorted(self._pids - now)
        if gone:
            raise WorkerCrashed(f"an mp_pool worker process died (pid {', '.join(map(str, gone))}); "
                                "multiprocessing.Pool replaced it, but its task is lost")

    def _stop(self, abort: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if not abort:
            pool.close()
            pool.join()
            return
        # Pool.terminate() SIGTERMs the workers, then joins its task handler, whose last act
        # is a put on the result queue: if a worker died holding that queue's lock (killed
        # mid-write of a result, as when every task raises at once), the join never returns
        # (seen once in CI, on 3.13.5). So terminate in a daemon thread, wait a bounded time,
        # and past it make sure no worker survives; the stuck handler thread is a daemon.
        stopper = threading.Thread(target=pool.terminate, name="mp_pool-terminate", daemon=True)
        stopper.start()
        stopper.join(TERMINATE_TIMEOUT_S)
        if stopper.is_alive():
            for worker in list(getattr(pool, "_pool", [])):
                if worker.is_alive():
                    worker.kill()
                    worker.join(JOIN_TIMEOUT_S)
