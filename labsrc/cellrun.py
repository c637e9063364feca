"""Measuring one cell: open its executor, warm up, time single runs, then summarise.

`CellRun` splits a cell into steps so that the harness can interleave the cells of one
implementation round by round (labsrc.measure): on a shared machine, load comes and goes
over seconds, and cells measured side by side see the same load, which keeps their
speedups (ratios of medians) honest. `measure_cell` runs the steps back to back.

Rules, applied here once:
- a warm-up run first (verified, not timed), then timed runs; median, min and max;
- CPU seconds = RUSAGE_SELF + RUSAGE_CHILDREN deltas of the parent, plus what live pool
  workers report per task (they are not in RUSAGE_CHILDREN until they exit);
- every result of every run goes through the catalog's verifier right after its run,
  outside the timing, so checking costs neither wall time nor probe contention; results
  are dropped once checked (memory stays bounded, no run inherits another's pages);
- a GilProbe (and optionally gilknocker) runs around each timed run, and only then;
- prange implementations (`inner_threads`) get `num_threads=workers` under `seq` (one
  call, N OpenMP threads) and `num_threads=1` inside pools, so the number of busy
  threads always equals `workers`.
"""

from __future__ import annotations

import math
import pickle
import resource
import statistics
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional, Sequence

from labsrc.cells import SPREAD_LIMIT, Cell, Options
from labsrc.executors import (
    Executor,
    ExecutorUnavailable,
    RunOutput,
    TaskRef,
    WorkerCrashed,
    clock,
    executor_available,
    make_executor,
)
from labsrc.kernels.catalog import Impl, Kernel, TaskArgs, VerificationError
from labsrc.probe import EMPTY_STATS, GilProbe, KnockerProbe, combined_stats


def inner_threads_for(impl: Impl, executor: str, workers: int) -> Optional[int]:
    """num_threads passed to a prange implementation under this executor (None: not one)."""
    if not impl.inner_threads:
        return None
    return workers if executor == "seq" else 1


def _usage_s() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def _ipc_bytes(args: TaskArgs, result: Any) -> int:
    """What one task costs to ship to a worker process and back, as pickled bytes."""
    return len(pickle.dumps(args)) + len(pickle.dumps(result))


def _verify_all(kernel: Kernel, tasks: Sequence[TaskArgs], outputs: Iterable[RunOutput]) -> None:
    for out in outputs:
        if len(out.results) != len(tasks):
            raise VerificationError(f"{len(out.results)} results for {len(tasks)} tasks")
        for args, result in zip(tasks, out.results):
            kernel.verify(args, result)


@dataclass
class _TimedRun:
    output: RunOutput
    wall_s: float
    cpu_s: float
    probe: Optional[GilProbe]
    knock: Optional[float]


def _timed_run(ex: Any, ref: TaskRef, work: Sequence[TaskArgs], opts: Options) -> _TimedRun:
    """One timed run, probed by its own heartbeat (and gilknocker) for exactly its length."""
    probe = GilProbe() if opts.probe else None
    knocker = KnockerProbe() if opts.knocker else None
    if knocker:
        knocker.__enter__()
    if probe:
        probe.start()
    try:
        cpu0, t0 = _usage_s(), clock()
        out = ex.run(ref, work)
        wall = clock() - t0
        cpu = _usage_s() - cpu0 + out.worker_cpu_s
    finally:
        if probe:
            probe.stop()
        if knocker:
            knocker.__exit__(None, None, None)
    return _TimedRun(out, wall, cpu, probe, knocker.contention if knocker else None)


class CellRun:
    """One cell in the making: `repeat()` once per timed run (the first call also opens it:
    executor start-up and warm-up), then `finish()`.

    A step that fails (wrong answer, crashed worker, a task raising, executor unavailable)
    marks the cell and closes its executor; later steps then do nothing. Call `close()`
    when abandoning a cell (Ctrl-C): it stops the pool at once.
    """

    def __init__(self, kernel: Kernel, impl: Impl, executor: str, workers: int,
                 work: Sequence[TaskArgs], scale: int, opts: Options) -> None:
        threads = inner_threads_for(impl, executor, workers)
        self.kernel, self.work, self.opts = kernel, work, opts
        self.ref = TaskRef(kernel.name, impl.name, () if threads is None else (("num_threads", threads),))
        self.cell = Cell(kernel.name, impl.name, executor, workers, len(work), scale, opts.repeats, threads)
        self.runs: list[_TimedRun] = []
        self._ex: Optional[Executor] = None
        self._opened = False

    @property
    def alive(self) -> bool:
        return self.cell.ok and self._ex is not None

    def open(self) -> None:
        """Start the executor (start-up timed apart) and run the verified warm-up."""
        self._opened = True
        ok, reason = executor_available(self.cell.executor)
        if not ok:
            self.cell.status, self.cell.reason = "unavailable", reason
            return
        self._ex = make_executor(self.cell.executor, self.cell.workers)
        with self._guard():
            self._ex.open(self.ref)
            self.cell.startup_s = self._ex.startup_s
            if self.opts.warmup:
                _verify_all(self.kernel, self.work, [self._ex.run(self.ref, self.work)])

    def repeat(self) -> None:
        """One timed, probed run (opening the cell first if needed); verified right after,
        then only its spans are kept."""
        if not self._opened:
            self.open()
        if not self.alive:
            return
        with self._guard():
            run = _timed_run(self._ex, self.ref, self.work, self.opts)
            _verify_all(self.kernel, self.work, [run.output])
            if not self._ex.in_process and self.cell.ipc_bytes is None:
                self.cell.ipc_bytes = _ipc_bytes(self.work[0], run.output.results[0])
            run.output = RunOutput([], run.output.spans, run.output.worker_cpu_s)
            self.runs.append(run)

    def close(self, abort: bool = False) -> None:
        """Stop the executor (at once when `abort`)."""
        ex, self._ex = self._ex, None
        if ex is not None:
            ex.abort() if abort else ex.close()

    def finish(self, interrupted: bool = False) -> Cell:
        """Close the executor and fill in the cell's figures from its runs.

        `interrupted`: Ctrl-C came before every run was done; the cell reports the runs it
        has, and says so.
        """
        self.close(abort=interrupted)
        cell = self.cell
        if interrupted and cell.ok and self.runs:
            cell.reason = f"interrupted after {len(self.runs)} of {cell.repeats} runs"
            cell.repeats = len(self.runs)
        if cell.ok and not self.runs:
            cell.status, cell.reason = "failed", "no timed run"
        if cell.ok:
            _summarise(cell, self.runs)
        return cell

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn a failing step into the cell's status and stop its executor at once."""
        cell = self.cell
        try:
            yield
            return
        except VerificationError as exc:
            cell.status, cell.reason = "failed", f"WRONG ANSWER: {exc}"
        except WorkerCrashed as exc:
            cell.status, cell.reason = "failed", str(exc)
        except ExecutorUnavailable as exc:
            cell.status, cell.reason = "unavailable", str(exc)
        except Exception as exc:  # a task raised: report it as the cell's failure, keep going
            cell.status, cell.reason = "failed", f"{type(exc).__name__}: {exc}"
        self.close(abort=True)


def _summarise(cell: Cell, runs: list["_TimedRun"]) -> None:
    walls = [r.wall_s for r in runs]
    probes = [r.probe for r in runs if r.probe is not None]
    knocks = [(r.knock, r.wall_s) for r in runs if r.knock is not None]
    cell.verified = True
    cell.walls = walls
    cell.wall_s = statistics.median(walls)
    cell.wall_min_s, cell.wall_max_s = min(walls), max(walls)
    cell.cpu_s = statistics.median(r.cpu_s for r in runs)
    cell.noisy = cell.wall_max_s > SPREAD_LIMIT * cell.wall_min_s
    cell.throughput = cell.tasks * cell.scale / cell.wall_s if cell.wall_s > 0 else math.inf
    stats = combined_stats(probes) if probes else EMPTY_STATS
    if knocks:
        cell.gilknocker = sum(k * w for k, w in knocks) / sum(w for _, w in knocks)
    cell.gil_contention = stats.contention
    cell.gil_p50_late_ms = stats.p50_late_s * 1e3
    cell.gil_p99_late_ms = stats.p99_late_s * 1e3
    # Spans of the run closest to the median, relative to that run's first start.
    median_run = min(runs, key=lambda r: abs(r.wall_s - cell.wall_s)).output
    origin = min(s.start for s in median_run.spans) if median_run.spans else 0.0
    cell.spans = [(s.start - origin, s.end - origin, s.worker) for s in median_run.spans]


def measure_cell(kernel: Kernel, impl: Impl, executor: str, workers: int, work: Sequence[TaskArgs],
                 scale: int, opts: Options) -> Cell:
    """Measure one cell on its own; failures become a failed Cell, KeyboardInterrupt propagates."""
    run = CellRun(kernel, impl, executor, workers, work, scale, opts)
    try:
        run.open()
        for _ in range(opts.repeats):
            run.repeat()
    except BaseException:
        run.close(abort=True)
        raise
    return run.finish()
