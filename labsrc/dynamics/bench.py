"""`gil-lab dynamics-bench`: the issue's goals for the GIL-dynamics experiments, measured
in one run and printed with `met` or `MISSED` beside each figure.

Cells are measured in interleaved rounds (every cell once per round), so load from other
programs falls on a baseline and its loaded cells alike; each figure is the median over
the rounds. Ratios only: no absolute speed is a goal.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

from labsrc.core.usage import EXIT_FAILED, EXIT_OK
from labsrc.dynamics.bandwidth import DEFAULT_GAP_S, bandwidth_row
from labsrc.dynamics.latency import latency_row
from labsrc.dynamics.session import EchoOptions, sweep
from labsrc.dynamics.switch import NO_LOAD, Cell

KERNEL = "primes"
BASE_INTERVAL = 0.005
INTERVALS = (0.001, 0.005, 0.02)


@dataclass(frozen=True)
class Goal:
    """One goal: its text, the figure measured, and whether it was met."""

    text: str
    figure: str
    met: bool


def _median(values: Iterable[Optional[float]]) -> Optional[float]:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def _rounds(cells: Sequence[Cell], rounds: int) -> list[Cell]:
    return [cell for _ in range(rounds) for cell in cells]


def echo_figures(rounds: int, duration_s: float) -> tuple[dict[tuple[str, float], float], dict[str, float]]:
    """(median p50 ms by (impl, interval), median bandwidth % by impl) over the rounds."""
    lat_cells = [Cell(NO_LOAD, 0, BASE_INTERVAL)] + [Cell(i, 1, BASE_INTERVAL) for i in ("py", "cy_gil", "cy_nogil")]
    lat_cells += [Cell("py", 1, s) for s in INTERVALS if s != BASE_INTERVAL]
    p50: dict[tuple[str, float], list[Optional[float]]] = {}
    for run in sweep(_rounds(lat_cells, rounds), EchoOptions(KERNEL, "latency", duration_s)):
        p50.setdefault((run.cell.impl, run.cell.switch_interval_s), []).append(latency_row(run).p50_ms)
    bw_cells = [Cell(NO_LOAD, 0, BASE_INTERVAL)] + [Cell(i, 1, BASE_INTERVAL) for i in ("py", "cy_gil", "cy_nogil")]
    pct: dict[str, list[Optional[float]]] = {}
    base: Optional[float] = None
    for run in sweep(_rounds(bw_cells, rounds), EchoOptions(KERNEL, "bandwidth", duration_s, gap_s=DEFAULT_GAP_S)):
        row = bandwidth_row(run, base if run.cell.threads else None)
        if not run.cell.threads:
            base = row.packets_per_s  # each round's loaded cells against that round's baseline
        pct.setdefault(run.cell.impl, []).append(row.pct_of_baseline)
    return ({k: m for k, v in p50.items() if (m := _median(v)) is not None},
            {k: m for k, v in pct.items() if (m := _median(v)) is not None})


def loop_figures() -> dict[str, Any]:
    """The event-loop rows by mode (one run: every mode once)."""
    from labsrc.dynamics.loop import MODES, LoopPlan, measure_loop

    rows: dict[str, Any] = {}
    measure_loop(MODES, LoopPlan(), lambda row, lags: rows.__setitem__(row.mode, row))
    return rows


def goals(p50: dict[tuple[str, float], float], pct: dict[str, float], loop: dict[str, Any],
          reference_ms: Optional[float]) -> list[Goal]:
    """Judge every goal on the figures (a figure that is missing counts as MISSED)."""
    out: list[Goal] = []
    idle = p50.get((NO_LOAD, BASE_INTERVAL))

    def add(text: str, value: Optional[float], ok: Callable[[float], bool], fmt: str) -> None:
        out.append(Goal(text, "n/a" if value is None else fmt.format(value), value is not None and ok(value)))

    for impl in ("py", "cy_gil"):
        got = p50.get((impl, BASE_INTERVAL))
        add(f"1 {impl} thread: median latency >= 10x no load", got / idle if got and idle else None,
            lambda r: r >= 10, "{:.0f}x")
        add(f"1 {impl} thread: bandwidth <= 10% of no load", pct.get(impl), lambda p: p <= 10, "{:.1f}%")
    nogil = p50.get(("cy_nogil", BASE_INTERVAL))
    add("1 cy_nogil thread: median latency <= 2x no load", nogil / idle if nogil and idle else None,
        lambda r: r <= 2, "{:.2f}x")
    add("1 cy_nogil thread: bandwidth >= 80% of no load", pct.get("cy_nogil"), lambda p: p >= 80, "{:.0f}%")
    for interval in INTERVALS:
        got = p50.get(("py", interval))
        add(f"1 py thread, switch interval {interval * 1e3:g} ms: median within 0.6-1.6x of it",
            got / (interval * 1e3) if got else None, lambda r: 0.6 <= r <= 1.6, "{:.2f}x")
    nogil_loop, inline = loop.get("thread_nogil"), loop.get("inline")
    add("loop lag p99 with to_thread(cy_nogil) <= 5 ms", nogil_loop.lag_p99_ms if nogil_loop else None,
        lambda v: v <= 5, "{:.2f} ms")
    add("inline CPU work: loop lag max >= 0.8x the task length",
        inline.lag_max_ms / inline.task_ms if inline and inline.task_ms else None, lambda r: r >= 0.8, "{:.2f}x")
    lab = p50.get(("py", BASE_INTERVAL))
    add("lab's py latency vs an independent ccbench-style one: within 2x",
        lab / reference_ms if lab and reference_ms else None, lambda r: 0.5 <= r <= 2, "{:.2f}x")
    return out


def run_goals(quick: bool = False) -> int:
    """Measure, print the figures and the goals; exit 1 when a measurement failed."""
    from labsrc.dynamics.reference import one_way_ms
    from labsrc.core.envinfo import run_env

    env = run_env()
    print(f"GIL dynamics goals ({KERNEL}; {env['cpu_count']} CPUs; busy CPUs at start: "
          f"{env.get('busy_cpus_at_start')}; {'1 round' if quick else '3 interleaved rounds'})")
    try:
        p50, pct = echo_figures(1 if quick else 3, 0.6 if quick else 1.0)
        loop = loop_figures()
        reference = one_way_ms(KERNEL, "py", seconds=1.0 if quick else 2.0)
    except (RuntimeError, OSError, AssertionError) as exc:
        print(f"gil-lab: dynamics-bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print("\nmedian echo response (ms): " + ", ".join(
        f"{impl}@{s * 1e3:g}ms {v:.3g}" for (impl, s), v in sorted(p50.items())))
    print("bandwidth (% of no load, client gap "
          f"{DEFAULT_GAP_S * 1e3:g} ms): " + ", ".join(f"{k} {v:.1f}%" for k, v in pct.items() if k != NO_LOAD))
    print("loop lag p99/max (ms): " + ", ".join(
        f"{m} {r.lag_p99_ms:.2f}/{r.lag_max_ms:.1f}" for m, r in loop.items()))
    print(f"independent ccbench-style one-way median with 1 py thread: {reference:.2f} ms\n")
    results = goals(p50, pct, loop, reference)
    width = max(len(g.text) for g in results)
    for goal in results:
        print(f"  {goal.text.ljust(width)}  {goal.figure:>9}  {'met' if goal.met else 'MISSED'}")
    print(f"\n{sum(g.met for g in results)}/{len(results)} goals met")
    return EXIT_OK
