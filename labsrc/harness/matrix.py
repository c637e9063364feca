"""The matrix: plan the cells, calibrate each implementation, then time its cells round by round.

A *cell* is one (kernel, implementation, executor, workers[, payload]). Work is calibrated
per implementation (never per executor), so every cell of one implementation runs the
very same tasks and its speedup is a ratio of times on equal work; different
implementations run different amounts of work and are compared as throughput (work units
per second).

The cells of one implementation are opened together and timed in rounds (each cell once
per round, `repeats` rounds), so a burst of load from elsewhere on a shared machine hits
the baseline and the parallel cells alike instead of whichever cell it happened to meet.
How a single run is timed, probed and checked lives in labsrc.harness.timing.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple, Optional, Sequence

from labsrc.core.allocator import pin_allocator
from labsrc.executors.base import process_pool
from labsrc.executors.registry import Work, min_task_s, runs_in_process
from labsrc.kernels.catalog import Impl, ImplUnavailable, Kernel
from labsrc.core.names import ExecutorName, Payload, Status
from labsrc.core.ceiling import PROCESS_EXECUTORS, SHORTEST_SPIN_S, SPIN_TARGET_S, CeilingSampler
from labsrc.core.results import Cell
from labsrc.harness.timing import TARGET_S, CellRun, Checker, Options
from labsrc.core.worker import clock

__all__ = ["TARGET_S", "CellSpec", "MatrixResult", "Options", "Planned", "calibrate",
           "fill_baselines", "plan", "run_matrix"]


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


class CellSpec(NamedTuple):
    """Where one cell runs: executor, workers, and the payload of a process executor."""

    executor: str
    workers: int
    payload: Optional[Payload] = None


@dataclass(frozen=True)
class Planned:
    """One implementation of one kernel and the cells to run for it (seq/1 first)."""

    kernel: Kernel
    impl: Impl
    cells: tuple[CellSpec, ...]


def plan(
    kernels: Sequence[Kernel], impls: Optional[Sequence[str]], executors: Sequence[str],
    workers: Sequence[int], payloads: Sequence[Payload] = (Payload.RECIPE,),
) -> list[Planned]:
    """The matrix: per implementation, a seq/1 baseline first, then the requested cells.

    `seq` runs once (workers 1) except for prange implementations, whose OpenMP threads are
    the workers. The baseline is always included: every speedup needs it. Process
    executors get one cell per payload.
    """
    out: list[Planned] = []
    for kernel in kernels:
        for impl in kernel.impls:
            if impls is not None and impl.name not in impls:
                continue
            cells: list[CellSpec] = [CellSpec(ExecutorName.SEQ, 1)]
            for ex in executors:
                for w in sorted(set(workers)):
                    if ex == ExecutorName.SEQ and not impl.inner_threads and w != 1:
                        continue
                    for payload in ((None,) if runs_in_process(ex) else tuple(payloads)):
                        spec = CellSpec(ex, w, payload)
                        if spec not in cells:
                            cells.append(spec)
            out.append(Planned(kernel, impl, tuple(cells)))
    return out


@dataclass
class MatrixResult:
    """Every cell measured (or skipped), and whether Ctrl-C cut the run short."""

    cells: list[Cell]
    interrupted: bool = False

    @property
    def failed(self) -> list[Cell]:
        return [c for c in self.cells if c.status == Status.FAILED]


def run_matrix(
    planned: Sequence[Planned], opts: Options, on_cell: Optional[Callable[[Cell], None]] = None,
) -> MatrixResult:
    """Calibrate each implementation, measure its cells, fill in speedups.

    `on_cell` is called after every cell (progress bars; the cells of one implementation
    arrive together, after its last round). Ctrl-C stops the run and its pools at once;
    every cell with at least one timed run is returned (a partial one says so in its
    reason), with `interrupted=True`.
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
    fill_baselines(result.cells)
    return result


def _failed_cells(item: Planned, status: Status, reason: str) -> list[Cell]:
    return [Cell(item.kernel.name, item.impl.name, spec.executor, spec.workers,
                 payload=spec.payload, status=status, reason=reason) for spec in item.cells]


def _target_s(item: Planned, opts: Options) -> float:
    """Seconds of sequential work for `item`: the target, or more where an executor of its
    cells needs longer tasks (Dask); every cell of the implementation then shares that work.
    A --quick run keeps its small target: it is a smoke test, not a measurement."""
    if opts.quick:
        return opts.target_s
    return max([opts.target_s] + [opts.tasks * min_task_s(spec.executor) for spec in item.cells])


def _run_impl(item: Planned, opts: Options, notify: Callable[[Cell], None]) -> Iterable[Cell]:
    kernel, impl = item.kernel, item.impl
    t0 = clock()
    try:
        fn = impl.load()
    except ImplUnavailable as exc:
        cell = Cell(kernel.name, impl.name, "*", 0, status=Status.SKIPPED, reason=str(exc))
        for _ in item.cells:
            notify(cell)
        yield cell
        return
    load_s = clock() - t0
    kwargs = {} if not impl.inner_threads else {"num_threads": 1}
    start = kernel.quick_scale if opts.quick else kernel.default_scale
    try:
        scale = opts.scale or calibrate(kernel, fn, kwargs, opts.tasks, _target_s(item, opts), start)
    except Exception as exc:  # the implementation raised on its own workload
        for cell in _failed_cells(item, Status.FAILED, f"calibration: {type(exc).__name__}: {exc}"):
            notify(cell)
            yield cell
        return
    work = Work(kernel.make_workload(opts.tasks, scale), scale)
    recipe_cells = any(spec.payload == Payload.RECIPE for spec in item.cells)
    checker = Checker(kernel, impl, work, keep_digests=recipe_cells)
    runs = [CellRun(kernel, impl, spec.executor, spec.workers, work, checker, opts,
                    spec.payload or Payload.RECIPE) for spec in item.cells]
    for run in runs:
        run.cell.load_s = load_s
    # the machine's parallel ceiling, once per round, so that it meets the cells' load
    ceiling = CeilingSampler([spec.workers for spec in item.cells],
                             process_counts=[s.workers for s in item.cells if s.executor in PROCESS_EXECUTORS],
                             process_pool=process_pool)
    try:
        for _ in range(opts.repeats):
            for run in runs:  # one timed run of every cell per round (the first opens it)
                run.repeat()
            ceiling.sample(_spin_s(runs), tasks=len(work.args))
        for run in runs:  # then one probed run each, for the GIL figures (labsrc.harness.timing)
            run.probe_run()
    except KeyboardInterrupt:  # stop every pool now; keep the cells that have timed runs
        ceiling.close()
        partial = [_with_ceiling(run.finish(interrupted=True), ceiling) for run in runs]
        for cell in partial:
            if cell.ok:
                notify(cell)
                yield cell
        raise
    finally:
        ceiling.close()
    for run in runs:
        cell = _with_ceiling(run.finish(), ceiling)
        notify(cell)
        yield cell


def _spin_s(runs: Sequence[CellRun]) -> float:
    """How long the ceiling's spin lasts this round: as long as the round's parallel runs
    (their median wall), between SHORTEST_SPIN_S and SPIN_TARGET_S (labsrc.core.ceiling)."""
    walls = [run.runs[-1].wall_s for run in runs if run.cell.workers > 1 and run.runs]
    typical = statistics.median(walls) if walls else SPIN_TARGET_S
    return min(SPIN_TARGET_S, max(SHORTEST_SPIN_S, typical))


def _with_ceiling(cell: Cell, ceiling: CeilingSampler) -> Cell:
    cell.ceiling_ratios = ceiling.ratios(cell.workers, cell.executor in PROCESS_EXECUTORS)
    return cell


def fill_baselines(cells: Sequence[Cell]) -> None:
    """Give every cell its implementation's seq/1 median wall, from which its speedup follows,
    and that cell's fastest and slowest runs, from which the speedup's noise follows."""
    base = {(c.kernel, c.impl): (c.wall_s, c.wall_min_s, c.wall_max_s) for c in cells
            if c.ok and c.executor == ExecutorName.SEQ and c.workers == 1}
    for c in cells:
        c.baseline_s, c.baseline_min_s, c.baseline_max_s = base.get((c.kernel, c.impl), (math.nan,) * 3)
