"""The lab's performance goals, checked against the cells of one run.

Each goal names a cell (kernel, implementation, executor, workers) and a bound on its
speedup, or on its single-thread throughput relative to pure Python on calibrated work.
`gil-lab bench` measures the cells these goals need and prints one verdict per goal, with
the figure it measured: goals are printed, never asserted in tests (the machines are
noisy), and every figure comes from the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from labsrc.measure import Cell

ALL = "*"  # every kernel that has the implementation


@dataclass(frozen=True)
class Goal:
    """`impl` under `executor` x `workers` must have `metric` `op` `bound`.

    metric "speedup": against the same implementation's seq/1 on equal work;
    metric "vs_py": seq/1 throughput over py's seq/1 throughput (work units per second).
    """

    kernel: str
    impl: str
    executor: str
    workers: int
    metric: str
    op: str
    bound: float
    why: str

    def describe(self) -> str:
        where = "1 thread" if self.metric == "vs_py" else f"{self.executor} x{self.workers}"
        what = "throughput vs py" if self.metric == "vs_py" else "speedup"
        return f"{self.impl} {where}: {what} {self.op} {self.bound:g}x"


GOALS: tuple[Goal, ...] = (
    Goal("primes", "cy_nogil", "seq", 1, "vs_py", ">=", 18, "C trial division vs Python"),
    Goal("arcfour", "cy_nogil", "seq", 1, "vs_py", ">=", 50, "C byte loop vs Python"),
    Goal("sha256", "cy_nogil", "seq", 1, "vs_py", ">=", 50, "C compression vs Python"),
    Goal("mandelbrot", "cy_nogil", "seq", 1, "vs_py", ">=", 50, "C doubles vs Python floats"),
    Goal(ALL, "cy_nogil", "threads", 2, "speedup", ">=", 1.9, "GIL released: threads run together"),
    Goal(ALL, "cy_prange", "seq", 2, "speedup", ">=", 1.9, "OpenMP inside one call"),
    Goal(ALL, "cy_gil", "threads", 2, "speedup", "<=", 1.05, "GIL held: threads take turns"),
    Goal(ALL, "py", "threads", 2, "speedup", "<=", 1.05, "pure Python: threads take turns"),
    Goal(ALL, "py", "procs", 2, "speedup", ">=", 1.8, "a GIL per process"),
)


@dataclass(frozen=True)
class Verdict:
    kernel: str
    goal: Goal
    value: Optional[float]  # None: a cell it needs was not measured (or failed)

    @property
    def met(self) -> Optional[bool]:
        if self.value is None:
            return None
        return self.value >= self.goal.bound if self.goal.op == ">=" else self.value <= self.goal.bound


def _cell(cells: Sequence[Cell], kernel: str, impl: str, executor: str, workers: int) -> Optional[Cell]:
    return next((c for c in cells if c.ok and (c.kernel, c.impl, c.executor, c.workers)
                 == (kernel, impl, executor, workers)), None)


def _value(cells: Sequence[Cell], kernel: str, goal: Goal) -> Optional[float]:
    cell = _cell(cells, kernel, goal.impl, goal.executor, goal.workers)
    if cell is None:
        return None
    if goal.metric == "vs_py":
        py = _cell(cells, kernel, "py", "seq", 1)
        if py is None or not py.throughput:
            return None
        return cell.throughput / py.throughput
    return cell.speedup if math.isfinite(cell.speedup) else None


def evaluate(cells: Sequence[Cell], goals: Sequence[Goal] = GOALS) -> list[Verdict]:
    """One verdict per goal and kernel that this run's cells concern."""
    kernels = list(dict.fromkeys(c.kernel for c in cells))
    verdicts = []
    for goal in goals:
        for kernel in kernels:
            if goal.kernel not in (ALL, kernel):
                continue
            if not any(c.kernel == kernel and c.impl == goal.impl for c in cells):
                continue  # this kernel has no such implementation (e.g. no prange for sha256)
            verdicts.append(Verdict(kernel, goal, _value(cells, kernel, goal)))
    return verdicts


def format_verdicts(verdicts: Sequence[Verdict]) -> str:
    """An aligned table: kernel, goal, measured, verdict."""
    rows = [("kernel", "goal", "measured", "verdict")]
    for v in verdicts:
        measured = "-" if v.value is None else f"{v.value:.3f}x"  # enough digits to see a near miss
        verdict = {True: "met", False: "MISSED", None: "not measured"}[v.met]
        rows.append((v.kernel, v.goal.describe(), measured, verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    met = sum(1 for v in verdicts if v.met)
    lines.append(f"{met} of {len(verdicts)} goals met in this run.")
    return "\n".join(lines)
