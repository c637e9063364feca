"""Lessons of the I/O side: the download modes against sequential, and the same modes
under a background CPU load that holds the GIL (py) or releases it (cy_nogil)."""

from __future__ import annotations

import math
import re
from typing import Optional, Sequence

from labsrc.harness.iobench import IoRow
from labsrc.report.lessons.common import LOW_GIL, REAL_GAIN, Finding, Run, names, pct, pct_span, probe, span, x

IO_SLOWED = 1.5  # loaded elapsed >= 1.5x the same mode without load: the load got in the way
IO_UNTOUCHED = 1.2  # loaded elapsed <= 1.2x without load: as if there were no load
GIL_HOLDING = ("py", "cy_gil", "numba_gil")  # loads that keep the GIL while they compute
GIL_RELEASING = ("cy_nogil", "numba", "cy_prange")  # loads that let it go

_LOAD = re.compile(r"^(?P<kernel>[^/]+)/(?P<impl>[^:]+)(?::(?P<threads>\d+))?$")


def load_impl(label: str) -> str:
    """The implementation named by an IoRow's cpu_load label "KERNEL/IMPL:THREADS"."""
    match = _LOAD.match(label.strip())
    return match.group("impl") if match else label


def _timed(row: IoRow) -> bool:
    return math.isfinite(row.elapsed_s) and row.elapsed_s > 0


def same_setting(a: IoRow, b: IoRow) -> bool:
    """Whether two rows fetched the same number of flags from a server with the same delay
    (a run may hold downloads at several delays; rows without a recorded delay match any)."""
    da, db = getattr(a, "delay_s", math.nan), getattr(b, "delay_s", math.nan)
    return a.flags == b.flags and (not (math.isfinite(da) and math.isfinite(db)) or math.isclose(da, db))


def _reference(rows: Sequence[IoRow], loaded: IoRow) -> Optional[IoRow]:
    """The same mode without load, at the same setting: the last such row measured before
    `loaded` (the run's own reference for it), else any."""
    same = [r for r in rows if not r.cpu_load and _timed(r) and r.mode == loaded.mode and same_setting(r, loaded)]
    at = {id(r): n for n, r in enumerate(rows)}
    before = [r for r in same if at[id(r)] < at[id(loaded)]]
    return (before or same or [None])[-1]


def split_io(rows: Sequence[IoRow]) -> tuple[list[IoRow], list[IoRow]]:
    """(the plain downloads, the downloads under CPU load with their no-load references),
    each in run order; a reference measured at the plain downloads' setting stays there."""
    loaded = [r for r in rows if r.cpu_load]
    base = next((r for r in rows if not r.cpu_load and r.mode == "sequential"), None)

    def reference(row: IoRow) -> bool:
        return (not row.cpu_load and (base is None or not same_setting(row, base))
                and any(r.mode == row.mode and same_setting(r, row) for r in loaded))

    under_load = [r for r in rows if r.cpu_load or reference(r)]
    return [r for r in rows if all(r is not u for u in under_load)], under_load


def downloads(run: Run) -> Optional[Finding]:
    """Each concurrent mode against sequential (rows without CPU load); "waiting on the
    network releases the GIL" where every in-process concurrent mode reached REAL_GAIN
    with the heartbeat waiting at most LOW_GIL (the probe watches this process only)."""
    rows = [r for r in run.io_rows if not r.cpu_load and _timed(r)]
    base = next((r for r in rows if r.mode == "sequential"), None)
    if base is not None:  # the modes measured against that sequential run, not other settings
        rows = [r for r in rows if same_setting(r, base)]
    others = [r for r in rows if r is not base and math.isfinite(r.speedup)]
    if not others:
        return None
    inproc = [r for r in others if r.in_process]
    flags = max(r.flags for r in rows)
    shown = inproc or others
    text = (f"{names([str(r.mode) for r in shown])} fetched {flags} flags at {span([r.speedup for r in shown], '.1f')} "
            "sequential's speed" + (f" (sequential: {base.elapsed_s:.2f} s)" if base else ""))
    gils = [probe(r) for r in inproc]
    kept = bool(inproc) and all(r.speedup >= REAL_GAIN for r in inproc) and all(
        g is not None and g <= LOW_GIL for g in gils)
    if kept and not run.free_threaded:  # without a GIL the probe's figure is scheduling latency
        quoted = pct_span([g for g in gils if g is not None])
        text = f"Waiting on the network releases the GIL: {text} while the GIL heartbeat waited only {quoted} of the time"
    else:
        text = f"I/O: {text}"
    outside = [r for r in others if not r.in_process]
    if inproc and outside:
        text += "; " + ", ".join(f"{r.mode} {r.speedup:.1f}x" for r in outside)
    table = tuple((str(r.mode), str(r.workers), f"{r.elapsed_s:.2f} s", x(r.speedup),
                   pct(probe(r)) if r.in_process else "(other processes)") for r in rows)
    return Finding("io", "I/O: downloads", text + ".",
                   ("mode", "workers", "elapsed", "vs sequential", f"probe ({run.probe_name()})"), table,
                   f"releases the GIL: every in-process mode >= {REAL_GAIN}x with the probe <= {LOW_GIL:.0%}")


def downloads_under_load(run: Run) -> Optional[Finding]:
    """The same modes beside a CPU load (rows with `cpu_load`): elapsed against the mode
    without load; "a GIL-holding load slows the downloads, a GIL-releasing one does not"
    where a holding load pushed a mode to >= IO_SLOWED and a releasing one kept it <= IO_UNTOUCHED."""
    loaded = [r for r in run.io_rows if r.cpu_load and _timed(r)]
    if not loaded:
        return None
    everything = list(run.io_rows)
    table = []
    held: list[tuple[IoRow, float]] = []
    free: list[tuple[IoRow, float]] = []
    for row in loaded:
        ref = _reference(everything, row)
        ratio = row.elapsed_s / ref.elapsed_s if ref is not None else math.nan
        impl = load_impl(row.cpu_load)
        if math.isfinite(ratio) and impl in GIL_HOLDING:
            held.append((row, ratio))
        elif math.isfinite(ratio) and impl in GIL_RELEASING:
            free.append((row, ratio))
        work = f"{row.load_work_per_s:.3g}" if math.isfinite(row.load_work_per_s) else "-"
        table.append((str(row.mode), row.cpu_load, f"{row.elapsed_s:.2f} s",
                      f"{ratio:.2f}x" if math.isfinite(ratio) else "-", work))
    parts = []
    kinds = ("", "") if run.free_threaded else ("GIL-holding ", "GIL-releasing ")  # no GIL to hold
    for group, kind in zip((held, free), kinds):
        if group:
            loads = names(list(dict.fromkeys(r.cpu_load for r, _ in group)))
            parts.append(f"beside the {kind}load {loads} the downloads took {span([q for _, q in group])} "
                         "their time without load")
    if not parts:
        text = "Downloads under CPU load: " + "; ".join(f"{r} beside {load}: {t}" for r, load, t, _, _ in table)
    else:
        text = "Downloads under CPU load: " + "; ".join(parts)
        if (not run.free_threaded and held and free and max(q for _, q in held) >= IO_SLOWED
                and max(q for _, q in free) <= IO_UNTOUCHED):
            text = ("A GIL-holding load slows the downloads, a GIL-releasing one does not: "
                    + text[len("Downloads under CPU load: "):])
    return Finding("io_load", "I/O: downloads under CPU load", text + ".",
                   ("mode", "CPU load", "elapsed", "vs no load", "load work/s"), tuple(table),
                   f"slowed: >= {IO_SLOWED}x the mode's time without load; untouched: <= {IO_UNTOUCHED}x")
