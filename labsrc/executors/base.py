"""What every executor shares: the `Executor` ABC, the shapes of work and results, errors.

Kept apart from labsrc.executors.registry (the registry and the concurrent.futures executors) so
that executor modules of their own (labsrc.executors.classic, labsrc.executors.dask.executors)
import their base from here, and the registry can import them without an import cycle.

Spans are stamped with `time.perf_counter`, which on Linux is CLOCK_MONOTONIC: one
system-wide clock, so stamps taken in worker processes line up with the parent's.
`CLOCK_INFO` (labsrc.core.worker) records which clock it was, for the report.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Optional, Protocol, Sequence

from flags import mpcontext
from labsrc.kernels.catalog import TaskArgs
from labsrc.core.layout import call_shifted
from labsrc.core.names import ExecutorName, Payload
from labsrc.core.probe import GilProbe, KnockerProbe, harness_probe
from labsrc.core.worker import RemoteResult, TaskRef, clock

class ExecutorUnavailable(RuntimeError):
    """This executor cannot run on this interpreter; str() is the reason."""


class WorkerCrashed(RuntimeError):
    """A worker process died (BrokenProcessPool, a lost Dask worker), or a task never
    finished: the cell failed."""


# A calibrated task takes well under a second; one still running after this long is stuck
# (a deadlock in the code under test), and its cell fails instead of the lab waiting forever.
TASK_TIMEOUT_S = 600.0


def task_deadline(tasks: int) -> float:
    """When a run of `tasks` tasks is overdue (clock() time): TASK_TIMEOUT_S a task from now."""
    return clock() + TASK_TIMEOUT_S * max(1, tasks)


def overdue() -> WorkerCrashed:
    """The failure of a run whose tasks did not finish by their deadline."""
    return WorkerCrashed(f"a task did not finish within {TASK_TIMEOUT_S:g} s")


def results_within(futures: Sequence[cf.Future[Any]]) -> list[Any]:
    """Every future's result in order, by task_deadline; a task not finished by then ->
    WorkerCrashed (its thread or process is left to the pool's abort: a thread cannot be
    killed)."""
    deadline = task_deadline(len(futures))
    results = []
    for future in futures:
        try:
            results.append(future.result(timeout=max(0.0, deadline - clock())))
        except cf.TimeoutError:
            raise overdue() from None
    return results


class Knocker(Protocol):
    """A second GIL metric around one timed run (labsrc.core.probe.KnockerProbe or a remote one):
    a context manager whose `contention` (0..1) is set when it exits."""

    contention: Optional[float]

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc_info: object) -> Any: ...


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
    Under the recipe payload a large answer arrives as a labsrc.core.worker.ResultDigest.
    """

    results: list[Any]
    spans: list[Span]
    worker_cpu_s: float = 0.0


def call_here(fn: Callable[..., Any], kwargs: dict[str, Any], args: TaskArgs) -> tuple[Any, Span]:
    """Run one task in this thread: its answer and its span."""
    # In-process: two clock reads, a trampoline call (labsrc.core.layout) and a thread id on
    # top of the call itself.
    start = clock()
    result = call_shifted(fn, args, kwargs)
    return result, Span(start, clock(), threading.get_native_id())


def in_process_output(pairs: Sequence[tuple[Any, Span]]) -> RunOutput:
    """A RunOutput from (answer, span) pairs in task order."""
    return RunOutput([r for r, _ in pairs], [s for _, s in pairs])


def remote_output(out: Sequence[RemoteResult]) -> RunOutput:
    """A RunOutput from worker results in task order (their CPU seconds summed)."""
    spans = [Span(o.start, o.end, o.worker) for o in out]
    return RunOutput([o.answer for o in out], spans, sum(o.cpu_s for o in out))


def process_context() -> multiprocessing.context.BaseContext:
    """The project's one choice of start method (flags.mpcontext: forkserver, else spawn;
    forking a parent that runs probe and tqdm threads is unsafe), with the worker's imports
    preloaded into the forkserver, so children start with them done."""
    # flags' processpool forks from this same forkserver (compare runs the CPU cells first),
    # and preloads count only until the server starts: name its modules too.
    from flags.processpool import PRELOAD as FLAGS_PRELOAD

    return mpcontext.process_context(preload=["labsrc.core.worker", *FLAGS_PRELOAD])


def process_pool(workers: int) -> cf.ProcessPoolExecutor:
    """A ProcessPoolExecutor of `workers` processes started as the lab's own pools are."""
    return cf.ProcessPoolExecutor(workers, mp_context=process_context())


class Executor(ABC):
    """One cell's executor. Subclasses start their pool in `_start`, run tasks in `run`
    and stop the pool in `_stop`; `payload` matters only where tasks leave the process.

    `workers` may be corrected by `_start` when the pool's size is not ours to choose (a
    remote Dask cluster); `note` then says so, and the cell shows it as its reason.
    """

    name: ClassVar[ExecutorName]
    in_process: ClassVar[bool] = True
    # The shortest task this executor should be timed on: where its per-task cost is large,
    # shorter tasks would measure the executor rather than the GIL (matrix.py sizes the work).
    min_task_s: ClassVar[float] = 0.0

    def __init__(self, workers: int, payload: Payload = Payload.RECIPE) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.payload: Optional[Payload] = None if self.in_process else payload
        self.startup_s = 0.0
        self.note = ""

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

    def gil_probe(self) -> GilProbe:
        """The GIL heartbeat to run around one timed run: here, in this process, where the
        pools' threads (or, for process pools, only the parent's waiting) compete for the GIL.
        Executors whose tasks run in processes with a GIL of their own that is worth
        probing (Dask workers) return a probe that beats inside those workers instead."""
        return harness_probe()

    def knocker_probe(self) -> Knocker:
        """gilknocker's metric around one timed run, in the same place as `gil_probe`."""
        return KnockerProbe()

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
