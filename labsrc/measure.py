"""Measurement: calibrate, warm up, repeat, time, verify and probe every cell of a matrix.

A *cell* is one (kernel, implementation, executor, workers). Its work is calibrated per
implementation (never per executor), so every cell of one implementation runs the very
same tasks and its speedup is a ratio of times on equal work; different implementations
run different amounts of work and are compared as throughput (work units per second).

Rules, applied here once:
- warm-up run first, then `repeats` timed runs; median, min and max of wall time;
- CPU seconds = RUSAGE_SELF + RUSAGE_CHILDREN deltas of the parent, plus what live pool
  workers report per task (they are not in RUSAGE_CHILDREN until they exit);
- every result of every run (warm-up included) goes through the catalog's verifier,
  right after its run and outside the timing, so checking costs neither wall time nor
  probe contention, and results are dropped once checked (memory stays bounded);
- a GilProbe (and optionally gilknocker) runs around each timed run of every cell;
- freed memory stays in the process (labsrc.allocator), so no repeat pays page faults
  that another repeat, thread or executor would not;
- prange implementations (`inner_threads`) get `num_threads=workers` under `seq` (one
  call, N OpenMP threads) and `num_threads=1` inside pools, so the number of busy
  threads always equals `workers`.
"""

from __future__ import annotations

import math
import pickle
import resource
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence

from labsrc.allocator import pin_allocator
from labsrc.executors import (
    ExecutorUnavailable,
    RunOutput,
    TaskRef,
    WorkerCrashed,
    clock,
    executor_available,
    make_executor,
)
from labsrc.kernels.catalog import Impl, ImplUnavailable, Kernel, TaskArgs, VerificationError
from labsrc.probe import EMPTY_STATS, GilProbe, KnockerProbe, combined_stats

SPREAD_LIMIT = 1.5  # max/min above this flags a cell as noisy
TARGET_S = 0.2  # the least sequential work per calibrated workload


@dataclass(frozen=True)
class Options:
    """How to measure: repeats, tasks per cell, calibration target or a fixed scale."""

    repeats: int = 5
    tasks: int = 8
    target_s: float = TARGET_S
    scale: Optional[int] = None  # fixed scale: skip calibration (tests, reproductions)
    quick: bool = False
    probe: bool = True
    knocker: bool = False
    warmup: bool = True


@dataclass
class Cell:
    """One measured cell: a row of every report (spans feed the Gantt plot only)."""

    kernel: str
    impl: str
    executor: str
    workers: int
    tasks: int = 0
    scale: int = 0
    repeats: int = 0
    num_threads: Optional[int] = None
    status: str = "ok"  # ok | failed | skipped | unavailable | interrupted
    reason: str = ""
    wall_s: float = math.nan
    wall_min_s: float = math.nan
    wall_max_s: float = math.nan
    cpu_s: float = math.nan
    startup_s: float = 0.0
    speedup: float = math.nan
    efficiency: float = math.nan
    throughput: float = math.nan  # work units (tasks * scale) per second
    noisy: bool = False
    gil_contention: float = math.nan
    gil_p50_late_ms: float = math.nan
    gil_p99_late_ms: float = math.nan
    gilknocker: Optional[float] = None
    ipc_bytes: Optional[int] = None  # pickled args + result of one task (process pools only)
    verified: bool = False
    walls: list[float] = field(default_factory=list)
    spans: list[tuple[float, float, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self, spans: bool = True) -> dict[str, Any]:
        """Plain dict for JSON/CSV; NaN becomes None so the JSON stays standard."""
        row = asdict(self)
        if not spans:
            row.pop("spans")
            row.pop("walls")
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def inner_threads_for(impl: Impl, executor: str, workers: int) -> Optional[int]:
    """num_threads passed to a prange implementation under this executor (None: not one)."""
    if not impl.inner_threads:
        return None
    return workers if executor == "seq" else 1


def calibrate(
    kernel: Kernel, fn: Callable[..., Any], kwargs: dict[str, Any], tasks: int, target_s: float,
    start: int,
) -> int:
    """Smallest scale (about) whose workload takes >= target_s sequentially with `fn`.

    Work grows about linearly with scale, so each step jumps straight to the estimate
    (at most x64 at a time, so one noisy tiny run cannot blow the size up).
    """
    scale = max(1, start)
    for _ in range(8):
        work = kernel.make_workload(tasks, scale)
        t0 = clock()
        for args in work:
            fn(*args, **kwargs)
        elapsed = clock() - t0
        if elapsed >= target_s:
            if elapsed > 4 * target_s and scale > 1:  # the start was far too big: shrink once
                return max(1, math.floor(scale * target_s * 1.2 / elapsed))
            return scale
        factor = min(64.0, target_s * 1.2 / max(elapsed, 1e-6))
        scale = max(scale + 1, math.ceil(scale * factor))
    return scale


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


def measure_cell(
    kernel: Kernel, impl: Impl, executor: str, workers: int, work: Sequence[TaskArgs],
    scale: int, opts: Options,
) -> Cell:
    """Measure one cell; failures become a failed Cell, KeyboardInterrupt propagates."""
    threads = inner_threads_for(impl, executor, workers)
    kwargs = () if threads is None else (("num_threads", threads),)
    ref = TaskRef(kernel.name, impl.name, kwargs)
    cell = Cell(kernel.name, impl.name, executor, workers, len(work), scale, opts.repeats, threads)
    ok, reason = executor_available(executor)
    if not ok:
        cell.status, cell.reason = "unavailable", reason
        return cell
    runs: list[_TimedRun] = []
    try:
        with make_executor(executor, workers) as ex:
            ex.open(ref)
            cell.startup_s = ex.startup_s
            if opts.warmup:
                _verify_all(kernel, work, [ex.run(ref, work)])
            for _ in range(opts.repeats):
                run = _timed_run(ex, ref, work, opts)
                # Check now and keep only the spans: holding every run's results would make
                # each run allocate fresh memory, and page faults would be measured as work.
                _verify_all(kernel, work, [run.output])
                if not ex.in_process and cell.ipc_bytes is None:
                    cell.ipc_bytes = _ipc_bytes(work[0], run.output.results[0])
                run.output = RunOutput([], run.output.spans, run.output.worker_cpu_s)
                runs.append(run)
    except VerificationError as exc:
        cell.status, cell.reason = "failed", f"WRONG ANSWER: {exc}"
        return cell
    except WorkerCrashed as exc:
        cell.status, cell.reason = "failed", str(exc)
        return cell
    except ExecutorUnavailable as exc:
        cell.status, cell.reason = "unavailable", str(exc)
        return cell
    except Exception as exc:  # a task raised: report it as the cell's failure, keep going
        cell.status, cell.reason = "failed", f"{type(exc).__name__}: {exc}"
        return cell
    walls = [r.wall_s for r in runs]
    probes = [r.probe for r in runs if r.probe is not None]
    knocks = [(r.knock, r.wall_s) for r in runs if r.knock is not None]
    cell.verified = True
    cell.walls = walls
    cell.wall_s = statistics.median(walls)
    cell.wall_min_s, cell.wall_max_s = min(walls), max(walls)
    cell.cpu_s = statistics.median(r.cpu_s for r in runs)
    cell.noisy = cell.wall_max_s > SPREAD_LIMIT * cell.wall_min_s
    cell.throughput = len(work) * scale / cell.wall_s if cell.wall_s > 0 else math.inf
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
    return cell


@dataclass(frozen=True)
class Planned:
    """One implementation of one kernel and the (executor, workers) cells to run for it."""

    kernel: Kernel
    impl: Impl
    cells: tuple[tuple[str, int], ...]


def plan(
    kernels: Sequence[Kernel], impls: Optional[Sequence[str]], executors: Sequence[str],
    workers: Sequence[int],
) -> list[Planned]:
    """The matrix: per implementation, a seq/1 baseline first, then the requested cells.

    `seq` runs once (workers 1) except for prange implementations, whose OpenMP threads are
    the workers. The baseline is always included: every speedup needs it.
    """
    out: list[Planned] = []
    for kernel in kernels:
        for impl in kernel.impls:
            if impls is not None and impl.name not in impls:
                continue
            cells: list[tuple[str, int]] = [("seq", 1)]
            for ex in executors:
                for w in sorted(set(workers)):
                    if ex == "seq" and not impl.inner_threads and w != 1:
                        continue
                    if (ex, w) not in cells:
                        cells.append((ex, w))
            out.append(Planned(kernel, impl, tuple(cells)))
    return out


@dataclass
class MatrixResult:
    """Every cell measured (or skipped), and whether Ctrl-C cut the run short."""

    cells: list[Cell]
    interrupted: bool = False

    @property
    def failed(self) -> list[Cell]:
        return [c for c in self.cells if c.status == "failed"]


def run_matrix(
    planned: Sequence[Planned], opts: Options, on_cell: Optional[Callable[[Cell], None]] = None,
) -> MatrixResult:
    """Calibrate each implementation, measure its cells, fill in speedups.

    `on_cell` is called after every cell (progress bars). Ctrl-C stops the run: the cell in
    flight is dropped (its pool is terminated by the executor), the rest is returned with
    `interrupted=True`.
    """
    pin_allocator()
    result = MatrixResult([])
    notify = on_cell or (lambda cell: None)
    try:
        for item in planned:
            for cell in _run_impl(item, opts, notify):
                result.cells.append(cell)
    except KeyboardInterrupt:
        result.interrupted = True
    fill_speedups(result.cells)
    return result


def _run_impl(item: Planned, opts: Options, notify: Callable[[Cell], None]) -> Iterable[Cell]:
    kernel, impl = item.kernel, item.impl
    try:
        fn = impl.load()
    except ImplUnavailable as exc:
        cell = Cell(kernel.name, impl.name, "*", 0, status="skipped", reason=str(exc))
        for _ in item.cells:
            notify(cell)
        yield cell
        return
    kwargs = {} if not impl.inner_threads else {"num_threads": 1}
    start = kernel.quick_scale if opts.quick else kernel.default_scale
    try:
        scale = opts.scale or calibrate(kernel, fn, kwargs, opts.tasks, opts.target_s, start)
    except Exception as exc:  # the implementation raised on its own workload
        for ex, w in item.cells:
            cell = Cell(kernel.name, impl.name, ex, w, status="failed",
                        reason=f"calibration: {type(exc).__name__}: {exc}")
            notify(cell)
            yield cell
        return
    work = kernel.make_workload(opts.tasks, scale)
    for ex, w in item.cells:
        cell = measure_cell(kernel, impl, ex, w, work, scale, opts)
        notify(cell)
        yield cell


def fill_speedups(cells: Sequence[Cell]) -> None:
    """speedup = the same implementation's seq/1 median wall / this cell's; efficiency = /workers."""
    base = {(c.kernel, c.impl): c.wall_s for c in cells if c.ok and c.executor == "seq" and c.workers == 1}
    for c in cells:
        b = base.get((c.kernel, c.impl))
        if c.ok and b is not None and c.wall_s > 0:
            c.speedup = b / c.wall_s
            c.efficiency = c.speedup / c.workers
