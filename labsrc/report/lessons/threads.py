"""Lessons about threads in one process: pure Python vs the same C loop with the GIL
released, and the C loop holding the GIL (compiling is not enough).

On a free-threaded build (`env["gil_enabled"]` False) the expectation flips: pure-Python
threads should scale there, so the lesson says whether they did, and the heartbeat's
figure is scheduling latency rather than waiting for a GIL.
"""

from __future__ import annotations

import math

from typing import Optional

from labsrc.report.lessons.common import (
    HIGH_GIL, LOW_GIL, NO_GAIN, REAL_GAIN, THREADS, Finding, Run, best, count_of, kernels, names, pct,
    pct_span, probe, span, where, x,
)
from labsrc.core.results import Cell
from labsrc.core.ceiling import beat_the_ceiling

# (GIL-held, GIL-released) twins that run the same compiled loop; cy_* is the lab's own,
# numba's pair is shown beside it when the run has it.
HELD_RELEASED = (("cy_gil", "cy_nogil"), ("numba_gil", "numba"))


def gil_released(run: Run) -> Optional[Finding]:
    """py vs cy_nogil under threads, per kernel; "the GIL serialised pure Python" only
    where py <= NO_GAIN and cy_nogil >= REAL_GAIN, the probe's share added where it agrees."""
    pairs = []
    for kernel in kernels(run.cells):
        py, free = best(run.cells, kernel, "py", THREADS), best(run.cells, kernel, "cy_nogil", THREADS)
        if py is not None and free is not None and py.workers >= 2:
            pairs.append((kernel, py, free))
    if not pairs:
        return None
    threads = count_of([p.workers for _, p, _ in pairs], "threads")
    py_span, free_span = span([p.speedup for _, p, _ in pairs]), span([f.speedup for _, _, f in pairs])
    kept = [k for k, p, f in pairs if p.speedup <= NO_GAIN and f.speedup >= REAL_GAIN]
    rows = tuple((k, str(p.workers), x(p.speedup), x(f.speedup), pct(probe(p)), pct(probe(f)))
                 for k, p, f in pairs)
    columns = ("kernel", "threads", "py", "cy_nogil", f"probe py ({run.probe_name()})", "probe cy_nogil")
    body = (f"with {threads}, pure Python ran at {py_span} of its sequential time {where([k for k, _, _ in pairs])} "
            f"while the same C loop with the GIL released (cy_nogil) reached {free_span}")
    shares = [f.of_ceiling for _, _, f in pairs]
    # what the machine gave in the same rounds; not quoted where a cell beat it (it read low)
    if all(math.isfinite(v) for v in shares) and beat_the_ceiling(run.cells) is None:
        body += f", {pct_span(shares)} of what this machine gave a plain C loop in the same rounds"
    if run.free_threaded:
        scaled = [k for k, p, _ in pairs if p.speedup >= REAL_GAIN]
        text = f"With the GIL disabled (free-threaded build) and {body[len('with '):]}"
        if len(scaled) == len(pairs):
            text += ": pure-Python threads scaled, as expected without a GIL"
        elif not scaled:
            text += f": pure-Python threads did not scale (none reached {REAL_GAIN}x) although there was no GIL"
        else:
            text += f": pure-Python threads scaled in {names(scaled)} only"
        text += "; the heartbeat's lateness is scheduling latency here, not GIL waiting"
        rule = f"scaled: py >= {REAL_GAIN}x with threads"
        return Finding("gil", "Threads without a GIL", text + ".", columns, rows, rule)
    if kept and len(kept) == len(pairs):
        text = f"The GIL serialised pure Python: {body}"
    else:
        text = "W" + body[1:]
        if kept:
            text += f"; releasing the GIL paid off, and the GIL held pure Python back, in {names(kept)} only"
    # The heartbeat's view, quoted only where it agrees with the speedups it is meant to explain.
    agree = [(p, f) for k, p, f in pairs if k in kept and probe(p) is not None and probe(f) is not None
             and probe(p) >= HIGH_GIL and probe(f) <= LOW_GIL]
    if kept and len(agree) == len(kept):
        there = "" if len(kept) == len(pairs) else "there "
        text += (f"; {there}the GIL heartbeat waited {pct_span([probe(p) for p, _ in agree])} of the time under py "
                 f"threads and {pct_span([probe(f) for _, f in agree])} under cy_nogil")
    rule = (f"serialised: py <= {NO_GAIN}x and cy_nogil >= {REAL_GAIN}x with threads; probe quoted when "
            f"py >= {HIGH_GIL:.0%} and cy_nogil <= {LOW_GIL:.0%}")
    return Finding("gil", "GIL held vs released", text + ".", columns, rows, rule)


def compiled_not_enough(run: Run) -> Optional[Finding]:
    """cy_gil (the same C loop, GIL held) vs cy_nogil under threads at the same width:
    "compiling is not enough" where cy_gil <= NO_GAIN and cy_nogil >= REAL_GAIN."""
    found: dict[tuple[str, str], list[tuple[str, Cell, Cell]]] = {}
    for held_name, free_name in HELD_RELEASED:
        for kernel in kernels(run.cells):
            held = best(run.cells, kernel, held_name, THREADS)
            free = best(run.cells, kernel, free_name, THREADS)
            if held is not None and free is not None and held.workers >= 2 and free.workers == held.workers:
                found.setdefault((held_name, free_name), []).append((kernel, held, free))
    pairs = found.get(HELD_RELEASED[0])
    if not pairs:
        return None
    held_span = span([h.speedup for _, h, _ in pairs])
    free_span = span([f.speedup for _, _, f in pairs])
    threads = count_of([h.workers for _, h, _ in pairs], "threads")
    kept = [k for k, h, f in pairs if h.speedup <= NO_GAIN and f.speedup >= REAL_GAIN]
    body = (f"with {threads}, cy_gil, the same C loop holding the GIL, ran at {held_span} "
            f"{where([k for k, _, _ in pairs])} against {free_span} for cy_nogil")
    if run.free_threaded:
        scaled = [k for k, h, _ in pairs if h.speedup >= REAL_GAIN]
        text = f"With the GIL disabled and {body[len('with '):]}: there is no GIL for cy_gil to hold"
        if len(scaled) == len(pairs):
            text += ", and it scaled too"
        elif scaled:
            text += f"; it reached {REAL_GAIN}x in {names(scaled)} only"
        else:
            text += f", yet it stayed below {REAL_GAIN}x"
    elif len(kept) == len(pairs):
        text = f"Compiling is not enough: {body}; releasing the GIL is what let the threads run together"
    else:
        text = "W" + body[1:]
        if kept:
            text += f"; releasing the GIL made the difference in {names(kept)}"
    numba = found.get(HELD_RELEASED[1])
    if numba:
        text += (f"; numba's pair showed {span([h.speedup for _, h, _ in numba])} held vs "
                 f"{span([f.speedup for _, _, f in numba])} released")
    rows = tuple((k, f"{held_name} / {free_name}", str(h.workers), x(h.speedup), x(f.speedup))
                 for (held_name, free_name), items in found.items() for k, h, f in items)
    columns = ("kernel", "held / released", "threads", "held", "released")
    rule = f"not enough: GIL-held <= {NO_GAIN}x and GIL-released >= {REAL_GAIN}x, same threads"
    # A neutral title: "compiling is not enough" is said in the text only when the numbers show it.
    return Finding("compiled", "Compiled, GIL held (cy_gil)", text + ".", columns, rows, rule)
