"""The lab's performance goals, checked against the cells of one run.

Each goal names a cell (kernel, implementation, executor, workers) and a bound on its
speedup, on its single-thread throughput relative to pure Python on calibrated work, or on
its speed relative to another executor's cell of the same work (`versus`).
`gil-lab bench` measures the cells these goals need and prints one verdict per goal, with
the figures it measured (from median and from fastest runs): goals are printed, never
asserted in tests (the machines are noisy), and every figure comes from the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from labsrc.core.ceiling import beat_the_ceiling
from labsrc.core.names import ExecutorName, Payload, Status
from labsrc.core.results import Cell

SEQ, THREADS, PROCS = ExecutorName.SEQ, ExecutorName.THREADS, ExecutorName.PROCS
THREADING, MP_POOL = ExecutorName.THREADING, ExecutorName.MP_POOL
INTERP = ExecutorName.INTERP
DASK_THREADS, DASK_PROCS = ExecutorName.DASK_THREADS, ExecutorName.DASK_PROCS

ALL = "*"  # every kernel that has the implementation


@dataclass(frozen=True)
class Goal:
    """`impl` under `executor` x `workers` must have `metric` `op` `bound`.

    metric "speedup": against the same implementation's seq/1 on equal work;
    metric "vs_py": seq/1 throughput over py's seq/1 throughput (work units per second);
    metric "vs_executor": the `versus` executor's median wall over this cell's, same
    implementation, workers and work (> 1: this executor is faster).
    op ">=" / "<=" bound the figure; "within" bounds its distance from 1 (0.1: within 10%).
    `ceiling`: a goal about releasing the GIL, judged against what the machine gave a plain
    C loop in the same rounds (labsrc.core.ceiling): its bound scaled by ceiling / workers,
    so ">= 1.9x on 2 workers" reads ">= 95% of the ceiling". Goals that prove the GIL
    serialises stay absolute: a busy machine makes them easier, never harder.
    """

    kernel: str
    impl: str
    executor: str
    workers: int
    metric: str
    op: str
    bound: float
    why: str
    versus: str = ""  # metric "vs_executor": the executor compared with
    ceiling: bool = False  # judged against the machine's ceiling (see above)

    def describe(self) -> str:
        where = "1 thread" if self.metric == "vs_py" else f"{self.executor} x{self.workers}"
        if self.metric == "vs_executor":
            return f"{self.impl} {where}: speed vs {self.versus} within {self.bound:.0%}"
        what = "throughput vs py" if self.metric == "vs_py" else "speedup"
        return f"{self.impl} {where}: {what} {self.op} {self.bound:g}x"


GOALS: tuple[Goal, ...] = (
    Goal("primes", "cy_nogil", SEQ, 1, "vs_py", ">=", 18, "C trial division vs Python"),
    Goal("arcfour", "cy_nogil", SEQ, 1, "vs_py", ">=", 50, "C byte loop vs Python"),
    Goal("sha256", "cy_nogil", SEQ, 1, "vs_py", ">=", 50, "C compression vs Python"),
    Goal("mandelbrot", "cy_nogil", SEQ, 1, "vs_py", ">=", 50, "C doubles vs Python floats"),
    Goal(ALL, "cy_nogil", THREADS, 2, "speedup", ">=", 1.9, "GIL released: threads run together", ceiling=True),
    Goal(ALL, "cy_prange", SEQ, 2, "speedup", ">=", 1.9, "OpenMP inside one call", ceiling=True),
    Goal(ALL, "cy_gil", THREADS, 2, "speedup", "<=", 1.05, "GIL held: threads take turns"),
    Goal(ALL, "py", THREADS, 2, "speedup", "<=", 1.05, "pure Python: threads take turns"),
    Goal(ALL, "py", PROCS, 2, "speedup", ">=", 1.8, "a GIL per process", ceiling=True),
    # PEP 684: each sub-interpreter has a GIL of its own, in one process (3.13 with the
    # backport, 3.14+); elsewhere the verdict says why the cell could not run.
    Goal(ALL, "py", INTERP, 2, "speedup", ">=", 1.8, "a GIL per sub-interpreter", ceiling=True),
    # cext is built to load there: C that holds its GIL runs in parallel too, one GIL each.
    Goal(ALL, "cy_gil", INTERP, 2, "speedup", ">=", 1.8, "a GIL per sub-interpreter, C holding it",
         ceiling=True),
    # The book's alternatives obey the same GIL rules as the pools, at about the same cost.
    Goal(ALL, "cy_nogil", THREADING, 2, "vs_executor", "within", 0.1, "threads on a queue.Queue",
         versus=THREADS),
    Goal(ALL, "py", THREADING, 2, "vs_executor", "within", 0.1, "threads on a queue.Queue", versus=THREADS),
    Goal(ALL, "py", MP_POOL, 2, "vs_executor", "within", 0.1, "multiprocessing.Pool", versus=PROCS),
    # A Dask worker is a thread pool in a process: threads for GIL-free code, processes for
    # Python. Two kernels (small answers, and large ones sent back as digests): every Dask
    # cell starts a cluster of its own, a few seconds each, and `gil-lab bench` should stay short.
    Goal("primes", "cy_nogil", DASK_THREADS, 2, "speedup", ">=", 1.8, "GIL released: threads run together",
         ceiling=True),
    Goal("primes", "py", DASK_THREADS, 2, "speedup", "<=", 1.1, "pure Python: threads take turns"),
    Goal("primes", "py", DASK_PROCS, 2, "speedup", ">=", 1.6, "a GIL per Dask worker process", ceiling=True),
    Goal("mandelbrot", "cy_nogil", DASK_THREADS, 2, "speedup", ">=", 1.8, "the same, large answers (digests)",
         ceiling=True),
    Goal("mandelbrot", "py", DASK_THREADS, 2, "speedup", "<=", 1.1, "the same, large answers (digests)"),
    Goal("mandelbrot", "py", DASK_PROCS, 2, "speedup", ">=", 1.6, "the same, large answers (digests)", ceiling=True),
)


@dataclass(frozen=True)
class Verdict:
    """A goal judged on one kernel: `value` from median times, `best` from the fastest run
    of each cell (None: a cell it needs was not measured, or failed). The verdict uses
    `best`: on a shared machine load only ever adds time, so the fastest of N runs is the
    steadier estimate of what the code does; the median is shown beside it."""

    kernel: str
    goal: Goal
    value: Optional[float]
    best: Optional[float]
    unavailable: str = ""  # why the goal's cell could not run here (its row's reason)
    ceiling: Optional[float] = None  # the machine's ceiling in the cell's rounds (ceiling goals)
    ceiling_read_low: str = ""  # why a measured ceiling is not used: a cell beat it (see evaluate)

    @property
    def bound(self) -> float:
        """The goal's bound here: scaled by the ceiling / workers for a ceiling goal whose
        ceiling was measured (never above the absolute bound: a ceiling above the worker
        count is noise), the absolute bound otherwise."""
        if not self.goal.ceiling or self.ceiling is None or self.ceiling_read_low:
            return self.goal.bound
        return self.goal.bound * min(self.ceiling, self.goal.workers) / self.goal.workers

    @property
    def met(self) -> Optional[bool]:
        if self.best is None or self.unavailable:
            return None
        if self.goal.op == "within":
            return abs(self.best - 1.0) <= self.goal.bound
        return self.best >= self.bound if self.goal.op == ">=" else self.best <= self.bound


def goal_cell(cells: Sequence[Cell], kernel: str, impl: str, executor: str, workers: int) -> Optional[Cell]:
    """The OK cell kernel/impl/executor xworkers (not a data-payload one), or None."""
    # A process or interp goal is judged on the recipe payload, the lab's default (data
    # shipping is measured to show its cost, not to meet a goal).
    return next((c for c in cells if c.ok and (c.kernel, c.impl, c.executor, c.workers)
                 == (kernel, impl, executor, workers) and c.payload != Payload.DATA), None)


def _unavailable(cells: Sequence[Cell], kernel: str, goal: Goal) -> str:
    """The reason the goal's cell could not run (status unavailable), '' otherwise."""
    return next((c.reason or "unavailable" for c in cells if c.status == Status.UNAVAILABLE
                 and (c.kernel, c.impl, c.executor, c.workers)
                 == (kernel, goal.impl, goal.executor, goal.workers)), "")


def _ratio(a: float, b: float) -> Optional[float]:
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else None


def _values(cells: Sequence[Cell], kernel: str, goal: Goal) -> tuple[Optional[float], Optional[float]]:
    """(from medians, from minima) of the goal's metric for `kernel`."""
    cell = goal_cell(cells, kernel, goal.impl, goal.executor, goal.workers)
    if cell is None:
        return None, None
    if goal.metric == "vs_py":  # work per second of this impl over py's, both seq/1
        base = goal_cell(cells, kernel, "py", SEQ, 1)
        if base is None:
            return None, None
        work, base_work = cell.tasks * cell.scale, base.tasks * base.scale
        return (_ratio(work * base.wall_s, base_work * cell.wall_s),
                _ratio(work * base.wall_min_s, base_work * cell.wall_min_s))
    if goal.metric == "vs_executor":  # the other executor's time over this one's, same work
        other = goal_cell(cells, kernel, goal.impl, goal.versus, goal.workers)
        if other is None or other.tasks * other.scale != cell.tasks * cell.scale:
            return None, None
        return _ratio(other.wall_s, cell.wall_s), _ratio(other.wall_min_s, cell.wall_min_s)
    base = goal_cell(cells, kernel, goal.impl, SEQ, 1)  # speedup: this impl's own baseline
    if base is None:
        return None, None
    return _ratio(base.wall_s, cell.wall_s), _ratio(base.wall_min_s, cell.wall_min_s)


def _ceiling(cells: Sequence[Cell], kernel: str, goal: Goal) -> Optional[float]:
    """The machine's ceiling in the rounds of a ceiling goal's cell (None: not one, or none measured)."""
    cell = goal_cell(cells, kernel, goal.impl, goal.executor, goal.workers) if goal.ceiling else None
    return cell.ceiling if cell is not None and math.isfinite(cell.ceiling) else None


def evaluate(cells: Sequence[Cell], goals: Sequence[Goal] = GOALS) -> list[Verdict]:
    """One verdict per goal and kernel that this run's cells concern. When some cell beat
    its own rounds' ceiling by more than READ_LOW, the ceiling read low in this run: a bound
    scaled by it would be too kind, so every goal is judged by its absolute bound."""
    kernels = list(dict.fromkeys(c.kernel for c in cells))
    above = beat_the_ceiling(cells)
    read_low = "" if above is None else (
        f"{above.kernel} {above.impl} {above.executor} x{above.workers} reached {above.speedup:.2f}x, "
        f"{above.of_ceiling:.0%} of its rounds' ceiling ({above.ceiling:.2f}x)")
    verdicts = []
    for goal in goals:
        for kernel in kernels:
            if goal.kernel not in (ALL, kernel):
                continue
            if not any(c.kernel == kernel and c.impl == goal.impl for c in cells):
                continue  # this kernel has no such implementation (e.g. no prange for sha256)
            verdicts.append(Verdict(kernel, goal, *_values(cells, kernel, goal),
                                    unavailable=_unavailable(cells, kernel, goal),
                                    ceiling=_ceiling(cells, kernel, goal), ceiling_read_low=read_low))
    return verdicts


def format_verdicts(verdicts: Sequence[Verdict]) -> str:
    """An aligned table: kernel, goal, figure from medians, from best runs, verdict."""
    def fig(value: Optional[float]) -> str:
        return "-" if value is None else f"{value:.3f}x"  # enough digits to see a near miss

    rows = [("kernel", "goal", "median", "best", "ceiling", "verdict (on best)")]
    for v in verdicts:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[v.met]
        if v.unavailable:
            verdict = v.unavailable if v.unavailable.startswith("unavailable") else f"unavailable: {v.unavailable}"
        elif v.met is not None and v.ceiling is not None and not v.ceiling_read_low:
            verdict += f" (>= {v.bound:.2f}x here: {v.bound / v.goal.bound:.0%} of the goal)"
        ceiling = "-" if v.ceiling is None else f"{v.ceiling:.2f}x"
        rows.append((v.kernel, v.goal.describe(), fig(v.value), fig(v.best), ceiling, verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    met = sum(1 for v in verdicts if v.met)
    lines.append(f"{met} of {len(verdicts)} goals met in this run (judged on each cell's fastest "
                 "run: load from elsewhere only adds time; medians beside them; a goal with a ceiling "
                 "is about releasing the GIL, and is judged against what a plain C loop got from as many "
                 "workers in the same rounds: its bound x ceiling / workers).")
    read_low = next((v.ceiling_read_low for v in verdicts if v.ceiling_read_low), "")
    if read_low:
        lines.append(f"The ceiling read low in this run ({read_low}): every goal was judged by its "
                     "absolute bound.")
    return "\n".join(lines)
