"""`gil-lab bench`: what the harness itself costs.

- Overhead per task: the hidden no-op kernel (a task returns at once) through each
  executor; wall time / tasks is what the harness adds to every task (target for the
  threads executor: <= 50 us). Each row says what dominates its figure; the process and
  Dask executors get fewer tasks (their per-task cost is 10-100x a thread's).
- Probe overhead: the same cell measured with and without the GIL probe, interleaved so
  that machine load hits both alike (target: < 1%, sequential cells and GIL-free threads on
  every core). The timed runs carry no heartbeat (labsrc.harness.timing), so this checks
  that the probe stays out of every speedup; what the heartbeat costs the one run it
  watches is printed beside it.
- Speedups vs the cores: no goal cell's median speedup above the usable cores beyond its
  own min-max noise.
- Kernel goals (labsrc.bench.targets): the cells the lab's speed goals name, measured in one
  run, each with its figure and a met/MISSED verdict.
Figures are printed, never asserted: benchmarks are not tests.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from typing import Optional, Sequence, TextIO

from labsrc.core.envinfo import cpu_count, steal_sample, stolen_share
from labsrc.kernels.catalog import Kernel, get_kernel
from labsrc.executors.registry import Work, executor_available
from labsrc.harness.matrix import TARGET_S, Options, Planned, calibrate, plan, run_matrix
from labsrc.core.names import ExecutorName
from labsrc.core.results import Cell
from labsrc.harness.timing import measure_cell
from labsrc.bench.targets import GOALS, evaluate, format_verdicts


# (executor, tasks divisor, what dominates its per-task figure)
OVERHEAD_ROWS: tuple[tuple[ExecutorName, int, str], ...] = (
    (ExecutorName.SEQ, 1, "two clock reads and a layout trampoline around the call"),
    (ExecutorName.THREADS, 1, "a Future, the work-queue hand-off and a thread wake-up"),
    (ExecutorName.THREADING, 1, "two queue.Queue hand-offs (Condition locks) and a thread wake-up"),
    (ExecutorName.ASYNCIO, 1, "to_thread on the thread pool, plus a loop wake-up per result"),
    (ExecutorName.PROCS, 4, "pickling task and answer, pipes, the pool's manager thread"),
    (ExecutorName.MP_POOL, 4, "pickling task and answer, pipes, the Pool's handler threads (chunksize 1)"),
    (ExecutorName.DASK_THREADS, 20, "the scheduler round trip per task: client -> scheduler -> worker "
                                    "-> scheduler -> client over TCP, and the task's state transitions"),
    (ExecutorName.DASK_PROCS, 20, "the same scheduler round trip, over more worker connections"),
)


def overhead_per_task(executor: str, workers: int, tasks: int, repeats: int) -> float:
    """Median seconds per no-op task through `executor` (pool start-up excluded)."""
    noop = get_kernel("noop")
    work = Work(noop.make_workload(tasks, 1), 1)
    cell = measure_cell(noop, noop.impl("noop"), executor, workers, work, Options(repeats=repeats, probe=False))
    if not cell.ok:
        raise RuntimeError(f"{executor}: {cell.reason}")
    return cell.wall_s / tasks


def _busy_impls() -> list[tuple[Kernel, str]]:
    """A GIL-holding and a GIL-releasing sequential workload: primes if built, else noop."""
    try:
        primes = get_kernel("primes")
        built = [n for n in ("py", "cy_nogil") if n in primes.impl_names and primes.impl(n).available()[0]]
        if built:
            return [(primes, n) for n in built]
    except KeyError:
        pass
    noop = get_kernel("noop")
    return [(noop, "spin"), (noop, "hash_nogil")]


def probe_overhead(kernel: Kernel, impl: str, rounds: int, target_s: float = 0.3,
                   executor: str = ExecutorName.SEQ, workers: int = 1) -> tuple[float, float, float, float, float]:
    """The probe's cost, interleaved: (median wall of cells measured without the probe, with
    it, relative cost of those medians, of their minima, and the heartbeat's own cost: its
    probed run over the timed run of the same cells).

    The first three say whether the probe leaks into the figures a speedup is computed from
    (it should not: timed runs carry no heartbeat); the last is what the heartbeat costs the
    run it watches. On a shared machine the minima are the steadier estimate: load only
    ever adds time.
    """
    fn = kernel.impl(impl).load()
    scale = calibrate(kernel, fn, {}, 4 * workers, target_s * workers, kernel.quick_scale)
    work = Work(kernel.make_workload(4 * workers, scale), scale)
    off: list[float] = []
    on: list[float] = []
    heartbeat: list[float] = []
    for round_ in range(rounds):
        # Alternate which goes first, so that neither side always follows the other's probed run.
        order = ((False, off), (True, on)) if round_ % 2 == 0 else ((True, on), (False, off))
        for probe, into in order:
            cell = measure_cell(kernel, kernel.impl(impl), executor, workers, work,
                                Options(repeats=1, probe=probe, warmup=False))
            into.append(cell.wall_s)
            if probe:
                heartbeat.append(cell.probe_cost)
    a, b = statistics.median(off), statistics.median(on)
    return a, b, b / a - 1, min(on) / min(off) - 1, statistics.median(heartbeat)


def goal_plan(workers: int = 2) -> list[Planned]:
    """Exactly the cells the goals need (each implementation's seq/1 baseline comes with it)."""
    from labsrc.kernels.catalog import kernels

    planned: list[Planned] = []
    for kernel in kernels():
        for impl in kernel.impl_names:
            mine = [g for g in GOALS if g.impl == impl and g.kernel in ("*", kernel.name)]
            executors = sorted({g.executor for g in mine} | {g.versus for g in mine if g.versus})
            if executors or impl == "py":  # py's seq/1 is the throughput baseline
                planned += plan([kernel], [impl], executors or [ExecutorName.SEQ], [workers])
    return planned


def run_goals(repeats: int, out: TextIO) -> None:
    """Measure the goal cells in one run and print the verdicts."""
    workers = 2
    opts = Options(repeats=repeats, tasks=8, target_s=TARGET_S * workers)
    print(f"kernel goals ({workers} workers, median of {repeats}, calibrated work; this may take a "
          "minute or two):", file=out, flush=True)
    before = steal_sample()
    result = run_matrix(goal_plan(workers), opts)
    print(format_verdicts(evaluate(result.cells)), file=out)
    stolen = stolen_share(before, steal_sample())
    if stolen is not None:  # a virtual machine's hidden load: say how much there was
        print(f"CPU time stolen by the hypervisor while the goal cells ran: {stolen:.2%}", file=out)
    for cell in result.failed:
        print(f"FAILED {cell.kernel}/{cell.impl}/{cell.executor}: {cell.reason}", file=out)
    print(limit_check(result.cells, workers), file=out)
    paces = worker_paces(result.cells)
    if paces:
        print("task time in each worker process over the parent's seq task time (median run; "
              "above 1: that process runs the same code slower, whatever the GIL does):", file=out)
        print("\n".join(paces), file=out)


def limit_check(cells: Sequence[Cell], workers: int) -> str:
    """The honesty check on speedups: no parallel cell's median speedup above the usable
    cores beyond its own min-max noise. One line, then one per cell above the limit.

    A cell of worker processes can also beat the limit because its processes ran each task
    faster than the parent ran it under seq (one process's code and data land at other
    addresses than another's: a few percent either way, see `worker_paces`). Such a cell is
    named with its workers' pace and its speedup at the parent's pace; it counts as
    explained when that is within its noise of the limit."""
    limit = min(workers, cpu_count())
    parallel = [c for c in cells if c.ok and c.workers > 1 and c.walls]
    above = [c for c in parallel if c.speedup > limit]
    beyond = [c for c in above if c.speedup_low > limit]
    base = _seq_task_times(cells)
    paces = {id(c): _median_pace(c, base) for c in beyond}
    explained = [c for c in beyond if (paces[id(c)] or 1.0) < 1 and c.speedup_low * paces[id(c)] <= limit]
    verdict = "met" if len(explained) == len(beyond) else "MISSED"
    lines = [f"speedups vs the {limit} usable cores: {len(parallel)} parallel cells, {len(above)} with a median "
             f"above {limit}x, {len(beyond)} of them beyond their own min-max noise"
             + (f", {len(explained)} of those by faster worker processes" if beyond else "") + f": {verdict}"]
    for c in above:
        line = f"  {c.label:<40} {c.speedup:.3f}x (noise {c.speedup_low:.3f}-{c.speedup_high:.3f}x) "
        pace = paces.get(id(c))
        if c not in beyond:
            line += "within noise"
        elif pace is None:
            line += "beyond noise"
        else:
            line += (f"beyond noise; its workers took {pace:.2f} of the parent's task time: "
                     f"{c.speedup * pace:.3f}x at the parent's pace"
                     + (" (explained)" if c in explained else ""))
        lines.append(line)
    return "\n".join(lines)


# Executors whose every worker is a process running one task at a time (a Dask threads
# worker is one process whose threads share a GIL: their task times include the waits).
_PROCESS_WORKERS = (ExecutorName.PROCS, ExecutorName.MP_POOL, ExecutorName.DASK_PROCS)


def _seq_task_times(cells: Sequence[Cell]) -> dict[tuple[str, str], float]:
    """(kernel, impl) -> the median task time of its seq/1 cell (from the median run's spans)."""
    return {(c.kernel, c.impl): statistics.median(end - start for start, end, _ in c.spans)
            for c in cells if c.ok and c.executor == ExecutorName.SEQ and c.workers == 1 and c.spans}


def _worker_paces(cell: Cell, base: dict[tuple[str, str], float]) -> list[float]:
    """Each worker process's median task time over the seq/1 one, sorted ([] when not known)."""
    seq = base.get((cell.kernel, cell.impl))
    if not cell.ok or cell.executor not in _PROCESS_WORKERS or not seq or not cell.spans:
        return []
    per_worker: dict[int, list[float]] = defaultdict(list)
    for start, end, worker in cell.spans:
        per_worker[worker].append(end - start)
    return sorted(statistics.median(times) / seq for times in per_worker.values())


def _median_pace(cell: Cell, base: dict[tuple[str, str], float]) -> Optional[float]:
    paces = _worker_paces(cell, base)
    return statistics.median(paces) if paces else None


def worker_paces(cells: Sequence[Cell]) -> list[str]:
    """One line per cell of worker processes: each worker's median task time over its
    implementation's seq/1 median task time, from the spans of the median run.

    A process goal missed because one worker process ran the same Python slower than the
    parent is then a figure, not a guess.
    """
    base = _seq_task_times(cells)
    lines = []
    for cell in cells:
        paces = _worker_paces(cell, base)
        if paces:
            where = f"{cell.kernel}/{cell.impl} {cell.executor}" + (f"[{cell.payload}]" if cell.payload else "")
            lines.append(f"  {where:<36} " + "  ".join(f"{pace:.2f}" for pace in paces))
    return lines


def run_bench(tasks: int = 2000, repeats: int = 5, out: Optional[TextIO] = None,
              goals: bool = True, harness: bool = True) -> dict[str, float]:
    """Print and return the harness's figures (`harness`); then measure and print the kernel
    goals (`goals`; printed only)."""
    out = out or sys.stdout
    figures: dict[str, float] = {}
    if harness:
        figures = harness_figures(tasks, repeats, out)
    if goals:
        run_goals(repeats, out)
    return figures


def harness_figures(tasks: int, repeats: int, out: TextIO) -> dict[str, float]:
    """Print and return the harness overhead per task and the probe overhead."""
    figures: dict[str, float] = {}
    workers = cpu_count()
    print(f"harness overhead per task (no-op kernel, median of {repeats}; pool start-up excluded):",
          file=out)
    for ex, share, what in OVERHEAD_ROWS:
        w = 1 if ex == ExecutorName.SEQ else workers
        ok, reason = executor_available(ex)
        if not ok:
            print(f"  {ex:<12} x{w}: {reason}", file=out)
            continue
        n = max(1, tasks // share)
        per = overhead_per_task(ex, w, n, repeats)
        figures[f"overhead_{ex}_us"] = per * 1e6
        mark = " (target <= 50 us)" if ex == ExecutorName.THREADS else ""
        print(f"  {ex:<12} x{w}: {per * 1e6:8.1f} us/task{mark}  [{n} tasks] {what}", file=out)
    rounds = 2 * max(3, repeats)  # a 1% effect needs more rounds than the noise of five; even: see probe_overhead
    print(f"GIL probe overhead on the reported figures ({rounds} interleaved rounds of cells "
          "measured with and without the probe; the timed runs carry no heartbeat, one run apart "
          "does, so the cost should be noise):", file=out)
    busy = _busy_impls()
    cells = [(kernel, impl, ExecutorName.SEQ, 1, 1.0) for kernel, impl in busy]
    cells += [(kernel, impl, ExecutorName.THREADS, workers, 1.0) for kernel, impl in busy[-1:]
              if workers > 1 and kernel.impl(impl).releases_gil]
    for kernel, impl, ex, w, target_pct in cells:
        a, b, rel, rel_min, own = probe_overhead(kernel, impl, rounds, executor=ex, workers=w)
        key = f"probe_{kernel.name}_{impl}" + ("" if ex == ExecutorName.SEQ else f"_{ex}{w}")
        figures[f"{key}_pct"] = rel * 100
        figures[f"{key}_min_pct"] = rel_min * 100
        figures[f"{key}_heartbeat_pct"] = own * 100
        print(f"  {kernel.name}/{impl:<10} {ex:<7} x{w}: median without {a * 1e3:7.1f} ms, with "
              f"{b * 1e3:7.1f} ms: {rel:+.1%}; minima: {rel_min:+.1%} (target < {target_pct:g}%); "
              f"the heartbeat's own run: {own:+.1%}, in no speedup", file=out)
    return figures
