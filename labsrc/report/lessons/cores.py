"""Lessons about other ways to use the cores: processes (each with its own GIL, paying
to ship data), OpenMP inside one call, and how fast one core goes per implementation."""

from __future__ import annotations

from typing import Optional, Sequence

from labsrc.report.lessons.common import (
    NO_GAIN, PROCS, REAL_GAIN, SEQ, THREADS, Finding, Run, best, count_of, kernels, measured, names, span,
    where, x,
)
from labsrc.core.names import Payload
from labsrc.core.results import Cell

SHIPPED_BYTES = 1_000_000  # per-task pickled payload worth naming as a process-pool cost
SHIP_GAP = 1.2  # recipe cells at least this many times faster than data cells: shipping shows


def _payload_pairs(cells: Sequence[Cell]) -> list[tuple[float, Cell, Cell]]:
    """(recipe speedup / data speedup, recipe cell, data cell) for every process cell run
    with both payloads whose data cell shipped at least SHIPPED_BYTES a task."""
    pairs = []
    for data in cells:
        if not (measured(data) and data.payload == Payload.DATA and data.ipc_bytes
                and data.ipc_bytes >= SHIPPED_BYTES):
            continue
        recipe = next((c for c in cells if measured(c) and c.payload == Payload.RECIPE and c.ipc_bytes
                       and (c.kernel, c.impl, c.executor, c.workers)
                       == (data.kernel, data.impl, data.executor, data.workers)), None)
        if recipe is not None:
            pairs.append((recipe.speedup / data.speedup, recipe, data))
    return pairs


ProcsRow = tuple[str, Cell, Optional[Cell]]  # kernel, py procs cell, py threads cell


def _own_gil(run: Run, per_kernel: list[ProcsRow]) -> str:
    """The py-in-processes sentence, with "each process has its own GIL" where it held."""
    procs_span = span([p.speedup for _, p, _ in per_kernel])
    workers = count_of([p.workers for _, p, _ in per_kernel], "processes")
    text = f"pure Python in {workers} ran at {procs_span} {where([k for k, _, _ in per_kernel])}"
    with_threads = [t for _, _, t in per_kernel if t is not None]
    if with_threads:
        text += f" where threads managed {span([t.speedup for t in with_threads])}"
    text += f" (pool start-up {span([p.startup_s for _, p, _ in per_kernel], '.2f', ' s')}, measured apart)"
    kept = [k for k, p, t in per_kernel if t is not None and p.speedup >= REAL_GAIN and t.speedup <= NO_GAIN]
    if run.free_threaded:
        return f"With the GIL disabled, {text}"
    if kept and len(kept) == len(per_kernel):
        return f"Each process has its own GIL: {text}"
    return "P" + text[1:] + (f"; a GIL per process paid off in {names(kept)}" if kept else "")


def _shipping(pairs: list[tuple[float, Cell, Cell]]) -> str:
    """The payload sentence about the pair where shipping the data cost the most."""
    ratio, recipe, data = max(pairs, key=lambda p: p[0])
    text = (f"{recipe.kernel}/{recipe.impl} in {recipe.workers} processes ran at {recipe.speedup:.2f}x "
            f"when each task sent only its recipe ({(recipe.ipc_bytes or 0) / 1e3:.1f} kB) and at "
            f"{data.speedup:.2f}x when it shipped its data ({(data.ipc_bytes or 0) / 1e6:.1f} MB pickled per task)")
    if ratio >= SHIP_GAP:
        text = f"Shipping data costs: {text}, the price of moving data between processes, which threads share for free"
    else:
        text = f"Payloads: {text}"
    others = len(pairs) - 1
    if others:
        text += f" ({others} more cell pair(s) shipped over {SHIPPED_BYTES / 1e6:.0f} MB a task)"
    return text


def _processes_table(per_kernel: list[ProcsRow], pairs: list[tuple[float, Cell, Cell]]) -> tuple[tuple[str, ...], ...]:
    """A row per kernel: py procs, py threads, start-up, and its costliest payload pair."""
    worst: dict[str, tuple[float, Cell, Cell]] = {}
    for pair in pairs:
        if pair[1].kernel not in worst or pair[0] > worst[pair[1].kernel][0]:
            worst[pair[1].kernel] = pair
    by_kernel = {k: (p, t) for k, p, t in per_kernel}
    rows = []
    for kernel in dict.fromkeys(list(by_kernel) + list(worst)):
        procs, threads = by_kernel.get(kernel, (None, None))
        pair = worst.get(kernel)
        shipped = (f"{pair[1].impl}: {x(pair[1].speedup)} recipe, {x(pair[2].speedup)} data "
                   f"({(pair[2].ipc_bytes or 0) / 1e6:.1f} MB)" if pair else "-")
        rows.append((kernel, str(procs.workers) if procs else "-", x(procs.speedup) if procs else "-",
                     x(threads.speedup) if threads else "-", f"{procs.startup_s:.2f} s" if procs else "-",
                     shipped))
    return tuple(rows)


def processes(run: Run) -> Optional[Finding]:
    """py in processes next to py in threads ("each process has its own GIL" where procs
    >= REAL_GAIN and threads <= NO_GAIN), then what shipping data instead of a recipe cost
    in the pair where it cost the most (named only when it shipped >= SHIPPED_BYTES)."""
    cells = list(run.cells)
    per_kernel: list[ProcsRow] = []
    for kernel in kernels(cells):
        procs, threads = best(cells, kernel, "py", PROCS), best(cells, kernel, "py", THREADS)
        if procs is not None and procs.workers >= 2:
            per_kernel.append((kernel, procs, threads))
    pairs = _payload_pairs(cells)
    if not per_kernel and not pairs:
        return None
    parts = ([_own_gil(run, per_kernel)] if per_kernel else []) + ([_shipping(pairs)] if pairs else [])
    columns = ("kernel", "processes", "py procs", "py threads", "start-up", "recipe vs data (costliest)")
    rule = (f"own GIL: py procs >= {REAL_GAIN}x while py threads <= {NO_GAIN}x; payload named when a task "
            f"ships >= {SHIPPED_BYTES / 1e6:.0f} MB, its cost when recipe/data >= {SHIP_GAP}")
    return Finding("processes", "Processes", ". ".join(parts) + ".", columns, _processes_table(per_kernel, pairs), rule)


def openmp(run: Run) -> Optional[Finding]:
    """cy_prange: one call split over N OpenMP threads (seq executor, N > 1), next to
    cy_nogil under N executor threads; "parallel inside one call" where >= REAL_GAIN."""
    found = []
    for kernel in kernels(run.cells):
        row = max((c for c in run.cells if measured(c) and c.kernel == kernel and c.impl == "cy_prange"
                   and c.executor == SEQ and c.workers > 1), key=lambda c: c.workers, default=None)
        if row is not None:
            threads = next((c for c in run.cells if measured(c) and (c.kernel, c.impl, c.executor, c.workers)
                            == (kernel, "cy_nogil", THREADS, row.workers)), None)
            found.append((kernel, row, threads))
    if not found:
        return None
    width = count_of([r.workers for _, r, _ in found], "OpenMP threads")
    text = (f"split over {width} inside each call, cy_prange ran at {span([r.speedup for _, r, _ in found])} "
            f"{where([k for k, _, _ in found])}")
    beside = [t for _, _, t in found if t is not None]
    if beside:
        text += f", where cy_nogil needed an executor's threads for {span([t.speedup for t in beside])}"
    kept = [k for k, r, _ in found if r.speedup >= REAL_GAIN]
    if kept and len(kept) == len(found):
        text = f"OpenMP ran one call on several cores: {text}"
    else:
        text = "S" + text[1:]
        if kept:
            text += f"; one call ran in parallel in {names(kept)}"
    rows = tuple((k, str(r.workers), x(r.speedup), x(t.speedup) if t else "-") for k, r, t in found)
    return Finding("openmp", "OpenMP inside one call", text + ".",
                   ("kernel", "threads", "cy_prange (one call)", "cy_nogil (executor threads)"), rows,
                   f"parallel: cy_prange >= {REAL_GAIN}x of its own one-thread run")


def single_core(run: Run) -> Optional[Finding]:
    """Throughput on one core vs py: cy_nogil (the lab's C twin), and the fastest peer
    (numba, hashlib, numpy...) only when it did more work per second than the twin."""
    found = []
    for kernel in kernels(run.cells):
        base = best(run.cells, kernel, "py", SEQ)
        if base is None or not base.throughput:
            continue
        seqs = {c.impl: c for c in run.cells if measured(c) and c.kernel == kernel and c.executor == SEQ
                and c.workers == 1 and c.impl != "py" and c.throughput}
        if not seqs:
            continue
        twin = seqs.get("cy_nogil")
        # cy_gil and one-thread cy_prange run the twin's own C loop: only a peer is news,
        # and only when it beat the twin.
        peer = max((c for c in seqs.values() if not c.impl.startswith("cy_")), key=lambda c: c.throughput,
                   default=None)
        if peer is not None and twin is not None and peer.throughput <= twin.throughput:
            peer = None
        if twin is not None or peer is not None:  # cy_gil alone: nothing to say
            found.append((kernel, base, twin, peer))
    if not found:
        return None
    parts = []
    twins = [(k, b, t) for k, b, t, _ in found if t is not None]
    if twins:
        parts.append(f"On one core, the C twin (cy_nogil) did {span([t.throughput / b.throughput for _, b, t in twins], '.1f')} "
                     f"the work per second of pure Python {where([k for k, _, _ in twins])}")
    peers = [f"{p.impl} {p.throughput / b.throughput:.1f}x on {k}" for k, b, _, p in found if p is not None]
    if peers:
        parts.append(("faster still: " if twins else "On one core, vs pure Python: ") + ", ".join(peers))
    rows = tuple((k, f"{b.throughput:.3g}", f"{t.throughput / b.throughput:.1f}x" if t else "-",
                  f"{p.impl} {p.throughput / b.throughput:.1f}x" if p else "-") for k, b, t, p in found)
    return Finding("single_core", "Single-core speed", "; ".join(parts) + ".",
                   ("kernel", "py units/s", "cy_nogil vs py", "fastest peer vs py"), rows,
                   "throughput on calibrated work (tasks x scale per second); a peer is shown only "
                   "when it did more work per second than cy_nogil")
