"""Findings: plain sentences derived from one run's own rows, never canned.

Every function takes the run's cells (labsrc.results.Cell; IoRow for the I/O side) and
returns sentences, or nothing when the cells do not hold the figures a sentence needs. An interpretation
("the GIL serialised ...") is added only when the numbers in the same rows support it,
with the thresholds named next to each rule.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from labsrc.iobench import IoRow
from labsrc.names import ExecutorName, Payload, Status
from labsrc.results import SPREAD_LIMIT, Cell

SEQ, THREADS, PROCS = ExecutorName.SEQ, ExecutorName.THREADS, ExecutorName.PROCS

NO_GAIN = 1.15  # a speedup at or below this is "no real gain"
REAL_GAIN = 1.5  # a speedup at or above this is "ran in parallel"
HIGH_GIL = 0.5  # probe contention at or above: the heartbeat mostly waited for the GIL
LOW_GIL = 0.2  # at or below: the GIL was mostly free
BUSY_CPUS = 0.3  # CPUs busy with other work at the start worth a warning
SHIPPED_BYTES = 1_000_000  # per-task pickled payload worth naming as a process-pool cost
SHIP_GAP = 1.2  # recipe cells at least this many times faster than data cells: shipping shows


def _ok(cell: Cell) -> bool:
    return cell.ok and math.isfinite(cell.speedup)


def _kernels(cells: Sequence[Cell]) -> list[str]:
    return list(dict.fromkeys(c.kernel for c in cells if c.kernel))


def _best(cells: Sequence[Cell], kernel: str, impl: str, executor: str,
          payload: Optional[Payload] = Payload.RECIPE) -> Optional[Cell]:
    """The cell with the most workers for kernel/impl/executor (None if not measured); a
    process executor's cell with `payload`."""
    found = [c for c in cells if _ok(c) and (c.kernel, c.impl, c.executor) == (kernel, impl, executor)
             and (c.payload is None or c.payload == payload)]
    if executor == SEQ:
        found = [c for c in found if c.workers == 1]
    return max(found, key=lambda c: c.workers, default=None)


def _gil(row: Cell | IoRow) -> Optional[float]:
    value = row.gil_contention
    return value if math.isfinite(value) else None


def threads_contrast(rows: Sequence[Cell]) -> list[str]:
    """py vs cy_nogil under threads, per kernel, with the probe's view when it agrees."""
    out = []
    for kernel in _kernels(rows):
        py, free = _best(rows, kernel, "py", THREADS), _best(rows, kernel, "cy_nogil", THREADS)
        if py is None or free is None or py.workers < 2:
            continue
        text = (f"{kernel}: with {py.workers} threads, pure-Python code ran at {py.speedup:.2f}x "
                f"of its sequential time, while cy_nogil with {free.workers} threads reached "
                f"{free.speedup:.2f}x")
        gp, gf = _gil(py), _gil(free)
        if py.speedup <= NO_GAIN and free.speedup >= REAL_GAIN and gp is not None and gf is not None \
                and gp >= HIGH_GIL and gf <= LOW_GIL:
            text += (f"; the GIL probe waited {gp:.0%} of the time under py threads and {gf:.0%} "
                     "under cy_nogil, so the GIL serialised the Python version")
        out.append(text + ".")
    return out


def gil_held_c(rows: Sequence[Cell]) -> list[str]:
    """cy_gil (same C loop, GIL held) under threads next to cy_nogil."""
    out = []
    for kernel in _kernels(rows):
        held, free = _best(rows, kernel, "cy_gil", THREADS), _best(rows, kernel, "cy_nogil", THREADS)
        if held is None or held.workers < 2:
            continue
        text = f"{kernel}: cy_gil, the same C loop holding the GIL, ran at {held.speedup:.2f}x with {held.workers} threads"
        if free is not None and free.workers == held.workers:
            text += f" against {free.speedup:.2f}x for cy_nogil"
            if held.speedup <= NO_GAIN and free.speedup >= REAL_GAIN:
                text += ": compiling to C is not enough, releasing the GIL is what let the threads run together"
        out.append(text + ".")
    return out


def processes(rows: Sequence[Cell]) -> list[str]:
    """py under processes next to py under threads."""
    out = []
    for kernel in _kernels(rows):
        procs, threads = _best(rows, kernel, "py", PROCS), _best(rows, kernel, "py", THREADS)
        if procs is None or procs.workers < 2:
            continue
        text = (f"{kernel}: pure Python in {procs.workers} processes ran at {procs.speedup:.2f}x "
                f"(pool start-up {procs.startup_s:.2f} s, measured apart)")
        if threads is not None and procs.speedup >= REAL_GAIN and threads.speedup <= NO_GAIN:
            text += f", where threads managed {threads.speedup:.2f}x: each process has its own GIL"
        out.append(text + ".")
    return out


def payloads(rows: Sequence[Cell]) -> list[str]:
    """Process cells run with both payloads: what shipping the data costs, in one sentence
    about the pair where it cost the most (each task's MB named)."""
    pairs = []
    for data in rows:
        if not (_ok(data) and data.payload == Payload.DATA and data.ipc_bytes):
            continue
        recipe = next((c for c in rows if _ok(c) and c.payload == Payload.RECIPE and c.ipc_bytes
                       and (c.kernel, c.impl, c.executor, c.workers)
                       == (data.kernel, data.impl, data.executor, data.workers)), None)
        if recipe is not None and data.ipc_bytes >= SHIPPED_BYTES:
            pairs.append((recipe.speedup / data.speedup, recipe, data))
    if not pairs:
        return []
    ratio, recipe, data = max(pairs, key=lambda p: p[0])
    text = (f"{recipe.kernel}: {recipe.impl} in {recipe.workers} processes ran at {recipe.speedup:.2f}x "
            f"when each task sent only its recipe ({recipe.ipc_bytes / 1e3:.1f} kB) and at "
            f"{data.speedup:.2f}x when it shipped its data ({data.ipc_bytes / 1e6:.1f} MB pickled per task)")
    if ratio >= SHIP_GAP:
        text += ": that gap is the cost of moving data between processes, which threads share for free"
    others = len(pairs) - 1
    return [text + (f" ({others} more cell pair(s) shipped over {SHIPPED_BYTES / 1e6:.0f} MB a task)." if others else ".")]


def throughput(rows: Sequence[Cell]) -> list[str]:
    """Single-thread throughput vs py: cy_nogil (the lab's C twin), and the fastest peer if faster."""
    out = []
    for kernel in _kernels(rows):
        base = _best(rows, kernel, "py", SEQ)
        if base is None or not base.throughput:
            continue
        seqs = {r.impl: r for r in rows if _ok(r) and r.kernel == kernel and r.executor == SEQ
                and r.workers == 1 and r.impl != "py" and r.throughput}
        if not seqs:
            continue
        twin = seqs.get("cy_nogil")
        fastest = max(seqs.values(), key=lambda r: r.throughput)
        shown = [twin] if twin is not None else []
        # cy_gil and one-thread cy_prange run the twin's own C loop: only a peer is news.
        if fastest is not twin and not str(fastest.impl).startswith("cy_"):
            shown.append(fastest)
        for row in shown:
            ratio = row.throughput / base.throughput
            out.append(f"{kernel}: on one core, {row.impl} did {ratio:.1f}x the work per second of py "
                       f"(throughput on calibrated work: {row.throughput:.3g} vs {base.throughput:.3g} units/s).")
    return out


def prange(rows: Sequence[Cell]) -> list[str]:
    """OpenMP prange: one call, N threads."""
    out = []
    for kernel in _kernels(rows):
        row = max((r for r in rows if _ok(r) and r.kernel == kernel and r.impl == "cy_prange"
                   and r.executor == SEQ and r.workers > 1), key=lambda r: r.workers, default=None)
        if row is not None:
            out.append(f"{kernel}: cy_prange split one call over {row.workers} OpenMP threads "
                       f"and ran at {row.speedup:.2f}x.")
    return out


def problems(rows: Sequence[Cell]) -> list[str]:
    """Failed, skipped and noisy cells, so no reader mistakes a gap for a result."""
    out = []
    failed = [r for r in rows if r.status == Status.FAILED]
    if failed:
        names = "; ".join(f"{r.kernel}/{r.impl}/{r.executor}: {r.reason}" for r in failed[:5])
        out.append(f"{len(failed)} cell(s) FAILED: {names}.")
    skipped = [r for r in rows if r.status == Status.SKIPPED]
    if skipped:
        names = "; ".join(f"{r.kernel}/{r.impl} ({r.reason})" for r in skipped)
        out.append(f"Not measured because not built here: {names}.")
    measured = [r for r in rows if r.status == Status.OK]
    noisy = [r for r in measured if r.noisy]
    if noisy:
        out.append(f"{len(noisy)} of {len(measured)} cells varied more than {SPREAD_LIMIT}x between repeats (marked !): "
                   "treat their speedups as rough.")
    return out


def io_findings(rows: Sequence[IoRow]) -> list[str]:
    """The I/O comparison: each concurrent mode against sequential."""
    base = next((r for r in rows if r.mode == "sequential"), None)
    out = []
    for r in rows:
        if r is base or not math.isfinite(r.speedup) or not r.elapsed_s:
            continue
        text = f"I/O: {r.mode} fetched {r.ok} flags in {r.elapsed_s:.2f} s, {r.speedup:.1f}x sequential"
        gil = _gil(r)
        # The probe watches this process's GIL: a statement about it fits in-process modes only.
        if r.in_process and gil is not None and r.speedup >= REAL_GAIN and gil <= LOW_GIL:
            text += (f", while the GIL heartbeat waited only {gil:.0%} of the time: "
                     "waiting on the network releases the GIL")
        out.append(text + ".")
    return out


def machine_load(env: Mapping[str, Any]) -> list[str]:
    """Say so when other work already kept CPUs busy as the run started.

    Uses the short sample `busy_cpus_at_start` where the environment has one (the load
    average also remembers the minute before, including the lab's own previous run).
    """
    cpus = env.get("cpu_count")
    busy = env.get("busy_cpus_at_start")
    if cpus and isinstance(busy, (int, float)):
        if busy < BUSY_CPUS:
            return []
        total = env.get("cpu_count_os") or cpus  # busy_cpus counts every CPU of the machine
        return [f"As the run started, other programs kept {busy:.1f} of {total} CPU(s) busy: "
                "parallel speedups here may be understated."]
    load = env.get("load_average")
    if not load or not cpus or load[0] < 0.5:
        return []
    return [f"Before the run the 1-minute load average was {load[0]:.1f} on {cpus} CPU(s): other programs "
            "competed for the cores, so parallel speedups here are lower bounds."]


CPU_RULES: tuple[Callable[[Sequence[Cell]], list[str]], ...] = (
    threads_contrast, gil_held_c, processes, payloads, prange, throughput, problems,
)


def findings(rows: Iterable[Cell], io_rows: Iterable[IoRow] = (), env: Optional[Mapping[str, Any]] = None) -> list[str]:
    """All findings for a run: CPU rules over `rows`, I/O rules over `io_rows`, load from `env`."""
    cpu = list(rows)
    out: list[str] = machine_load(env) if env and cpu else []
    for rule in CPU_RULES:
        out.extend(rule(cpu))
    out.extend(io_findings(list(io_rows)))
    return out
