"""Findings: sentences computed from one run's rows. A sentence states numbers; an
explanation is added only when those numbers pass the threshold written next to it.
"""

from __future__ import annotations

from typing import Optional, Sequence, TypeVar

from labsrc.dynamics.rows import BandwidthRow, LatencyRow, LoopRow, TraceRow

# Thresholds (ratios of this run's own numbers).
SLOWED = 10.0  # loaded median >= 10x no-load: the echo thread waited for the GIL
UNTOUCHED = 2.0  # loaded median <= 2x no-load: as if there were no load
NEAR_INTERVAL = (0.6, 1.6)  # median / switch interval in this band: "about one interval"
CONVOY_PCT = 10.0  # bandwidth <= 10% of no-load: each packet waited
FULL_PCT = 80.0  # bandwidth >= 80%: the load did not get in the way
ONE_AT_A_TIME = 0.8  # load threads' GIL shares sum >= 0.8 ...
ONE_CORE = 1.2  # ... and their CPU time adds up to about one core: serialised
SIDE_BY_SIDE = 0.05  # every load thread holds the GIL < 5% of the window ...
SIDE_BY_SIDE_CPU = 0.6  # ... and gets >= 0.6 of a core: running at once


def _ms(x: Optional[float]) -> str:
    if x is None:
        return "-"
    return f"{x:.2f} ms" if x < 10 else f"{x:.1f} ms" if x < 100 else f"{x:.0f} ms"


R = TypeVar("R", LatencyRow, BandwidthRow)


def _baseline(rows: Sequence[R], interval: float) -> Optional[R]:
    return next((r for r in rows if r.threads == 0 and r.switch_interval_s == interval), None)


def latency_findings(rows: Sequence[LatencyRow]) -> list[str]:
    """Loaded vs no-load medians, the switch interval's part, GIL-held calls, losses."""
    out: list[str] = []
    for row in rows:
        base = _baseline(rows, row.switch_interval_s)
        if row.threads == 0 or base is None or not base.p50_ms or row.p50_ms is None:
            continue
        ratio = row.p50_ms / base.p50_ms
        interval_ms = row.switch_interval_s * 1e3
        who = f"{row.threads} {row.impl} thread{'s' if row.threads > 1 else ''}"
        text = (f"{who} ({row.kernel}) moved the echo thread's median response from "
                f"{_ms(base.p50_ms)} to {_ms(row.p50_ms)} ({ratio:.1f}x)")
        call_ms = row.call_ms or 0.0
        if ratio >= SLOWED and call_ms > interval_ms and row.impl != "py" and row.p50_ms >= 0.5 * call_ms:
            text += (f": its GIL-held calls of {_ms(call_ms)} outlast the {_ms(interval_ms)} switch "
                     "interval, so the call's own length sets the wait")
        elif ratio >= SLOWED and NEAR_INTERVAL[0] <= row.p50_ms / interval_ms <= NEAR_INTERVAL[1]:
            text += f", about one switch interval ({_ms(interval_ms)}): the echo thread waited for the GIL"
        elif ratio <= UNTOUCHED:
            text += ": the echo thread did not wait (the work ran without our GIL)"
        out.append(text + ".")
    out += _interval_findings(rows)
    lost = sum(r.lost for r in rows)
    if lost:
        out.append(f"{lost} of {sum(r.sent for r in rows)} pings got no answer within the timeout.")
    return out


def _interval_findings(rows: Sequence[LatencyRow]) -> list[str]:
    out = []
    for impl in dict.fromkeys(r.impl for r in rows if r.threads == 1):
        curve = sorted((r for r in rows if r.impl == impl and r.threads == 1), key=lambda r: r.switch_interval_s)
        if len(curve) < 2:
            continue
        points = ", ".join(f"{r.switch_interval_s * 1e3:g} ms -> {_ms(r.p50_ms)}" for r in curve)
        work = [r.work_per_s or 0.0 for r in curve]
        text = f"One {impl} thread, switch interval -> median response: {points}"
        if work[0] > 0:
            change = work[-1] / work[0] - 1
            text += f"; its own work went from {work[0]:,.0f} to {work[-1]:,.0f} units/s ({change:+.0%})"
        out.append(text + ".")
    return out


def bandwidth_findings(rows: Sequence[BandwidthRow]) -> list[str]:
    """Packets/s under load as a share of no-load, with the convoy explanation when earned."""
    out = []
    for row in rows:
        base = _baseline(rows, row.switch_interval_s)
        if row.threads == 0 or base is None or row.pct_of_baseline is None:
            continue
        text = (f"With {row.threads} {row.impl} thread{'s' if row.threads > 1 else ''} the echo thread "
                f"passed {row.packets_per_s:,.0f} packets/s, {row.pct_of_baseline:.1f}% of the "
                f"{base.packets_per_s:,.0f}/s without load")
        if row.pct_of_baseline <= CONVOY_PCT:
            text += ": every packet waited for the GIL (the convoy effect)"
        elif row.pct_of_baseline >= FULL_PCT:
            text += ": the load did not get in its way"
        out.append(text + ".")
    return out


def loop_findings(rows: Sequence[LoopRow], switch_interval_s: float) -> list[str]:
    """Each mode's lag against its task length, the switch interval and the baseline."""
    base = next((r for r in rows if r.mode == "none"), None)
    out = []
    for row in rows:
        text = (f"{row.mode}: heartbeat lag p50 {_ms(row.lag_p50_ms)}, p99 {_ms(row.lag_p99_ms)}, "
                f"max {_ms(row.lag_max_ms)}; {row.flags_ok}/{row.flags} flags in {row.download_s:.2f} s")
        if row.task_ms and row.lag_max_ms >= 0.8 * row.task_ms and row.mode == "inline":
            text += f": each {_ms(row.task_ms)} task blocked the whole loop"
        elif row.mode == "thread_gil" and (
                NEAR_INTERVAL[0] <= row.lag_p50_ms / (switch_interval_s * 1e3) <= NEAR_INTERVAL[1]):
            text += f": about one switch interval ({_ms(switch_interval_s * 1e3)}) per wake-up, waiting for the GIL"
        elif base is not None and row.mode != "none" and row.lag_p99_ms <= max(2 * base.lag_p99_ms, 1.0):
            text += " -- no worse than with no CPU work"
        out.append(text + ".")
    return out


def trace_findings(rows: Sequence[TraceRow]) -> list[str]:
    """Per implementation: the load threads' GIL shares against their CPU time."""
    out = []
    for impl in dict.fromkeys(r.impl for r in rows):
        load = [r for r in rows if r.impl == impl and r.thread.startswith("load-")]
        if not load:
            continue
        shares = ", ".join(f"{r.gil_share:.1%}" for r in load)
        cpus = [r.cpu_share or 0.0 for r in load]
        text = (f"{impl}: the {len(load)} load threads held the GIL in {shares} of the samples "
                f"and got {', '.join(f'{c:.2f}' for c in cpus)} of a core each")
        if len(load) > 1 and sum(r.gil_share for r in load) >= ONE_AT_A_TIME and sum(cpus) <= ONE_CORE:
            seen = sum(r.handovers_seen for r in load)
            text += f": they ran one at a time ({seen} hand-over{'s' if seen != 1 else ''} seen at least)"
        elif all(r.gil_share < SIDE_BY_SIDE for r in load) and min(cpus) >= SIDE_BY_SIDE_CPU:
            text += ": they ran side by side without it"
        out.append(text + ".")
    return out
