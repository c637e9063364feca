"""PNG plots of the dynamics experiments (matplotlib, Agg backend), written atomically.

Each function takes the typed rows (and raw samples where a distribution is drawn) and a
folder, and returns the paths it wrote; nothing is drawn from numbers not in the rows.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping, Sequence

from labsrc.dynamics.rows import BandwidthRow, LatencyRow, LoopRow
from labsrc.core.files import atomic_write


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: never a display, also on a headless machine
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, folder: str | Path, name: str) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return atomic_write(Path(folder) / name, buf.getvalue())


def latency_plot(rows: Sequence[LatencyRow], folder: str | Path) -> list[Path]:
    """Median (p50-p99 band) response vs background threads, one line per implementation,
    log scale; one PNG per switch interval."""
    plt = _pyplot()
    written = []
    for interval in sorted({r.switch_interval_s for r in rows}):
        at = [r for r in rows if r.switch_interval_s == interval and r.p50_ms is not None]
        base = next((r for r in at if r.threads == 0), None)
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for impl in dict.fromkeys(r.impl for r in at if r.threads):
            line = sorted(([base] if base else []) + [r for r in at if r.impl == impl], key=lambda r: r.threads)
            xs = [r.threads for r in line]
            ax.plot(xs, [r.p50_ms for r in line], marker="o", label=impl)
            ax.fill_between(xs, [r.p50_ms for r in line], [r.p99_ms for r in line], alpha=0.15)
        ax.axhline(interval * 1e3, color="grey", linestyle=":", label=f"switch interval {interval * 1e3:g} ms")
        ax.set_yscale("log")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("background threads")
        ax.set_ylabel("echo response, ms (line p50, band to p99)")
        ax.set_title(f"I/O latency under CPU load ({at[0].kernel if at else ''})")
        ax.legend()
        written.append(_save(fig, folder, f"latency-si{interval * 1e3:g}ms.png"))
    return written


def bandwidth_plot(rows: Sequence[BandwidthRow], folder: str | Path) -> list[Path]:
    """Bars: packets/s as % of the no-load baseline, per implementation and thread count."""
    plt = _pyplot()
    loaded = [r for r in rows if r.threads and r.pct_of_baseline is not None]
    if not loaded:
        return []
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(loaded) + 2), 4.5))
    labels = [f"{r.impl}x{r.threads}\n{r.switch_interval_s * 1e3:g} ms" for r in loaded]
    bars = ax.bar(range(len(loaded)), [r.pct_of_baseline for r in loaded])
    ax.bar_label(bars, fmt="%.1f%%", fontsize=8)
    ax.axhline(100, color="grey", linestyle=":")
    ax.set_xticks(range(len(loaded)), labels, fontsize=8)
    ax.set_ylabel("packets/s, % of no load")
    ax.set_title(f"UDP ping-pong through the echo thread under CPU load ({loaded[0].kernel})")
    return [_save(fig, folder, "bandwidth.png")]


def tradeoff_plot(rows: Sequence[LatencyRow], folder: str | Path) -> list[Path]:
    """The switch interval's trade-off: median response vs the load's work/s, one curve per
    implementation (points labelled with the interval). Needs two intervals or more."""
    loaded = [r for r in rows if r.threads and r.work_per_s and r.p50_ms]
    if len({r.switch_interval_s for r in loaded}) < 2:
        return []
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key in dict.fromkeys((r.impl, r.threads) for r in loaded):
        curve = sorted((r for r in loaded if (r.impl, r.threads) == key), key=lambda r: r.switch_interval_s)
        ax.plot([r.p50_ms for r in curve], [r.work_per_s for r in curve], marker="o", label=f"{key[0]} x{key[1]}")
        for r in curve:
            ax.annotate(f"{r.switch_interval_s * 1e3:g} ms", (r.p50_ms, r.work_per_s), fontsize=7,
                        textcoords="offset points", xytext=(4, 4))
    ax.set_xscale("log")
    ax.set_yscale("log")  # implementations differ ~20x in speed; each curve's shape is the point
    ax.set_xlabel("echo median response, ms")
    ax.set_ylabel("background work, units/s")
    ax.set_title("Switch interval: I/O latency vs CPU throughput")
    ax.legend()
    return [_save(fig, folder, "switch-interval-tradeoff.png")]


def loop_cdf(rows: Sequence[LoopRow], lags: Mapping[str, Sequence[float]], folder: str | Path) -> list[Path]:
    """Cumulative distribution of the heartbeat's lag per mode (log x)."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        values = np.sort(np.asarray(lags.get(row.mode, ()), dtype=float) * 1e3)
        if values.size:
            ax.step(np.maximum(values, 1e-3), np.arange(1, values.size + 1) / values.size,
                    where="post", label=f"{row.mode} ({row.impl or 'no CPU work'})")
    ax.set_xscale("log")
    ax.set_xlabel("heartbeat lag, ms (1 ms sleeps)")
    ax.set_ylabel("fraction of heartbeats")
    ax.set_title("Event-loop lag while CPU work runs")
    ax.legend(fontsize=8)
    return [_save(fig, folder, "loop-lag-cdf.png")]


def trace_timeline(traces: Sequence[Any], folder: str | Path) -> list[Path]:
    """Per traced implementation, one lane per thread: each kernel call as a bar shaded by
    its speed (the thread's fastest call / this call's wall time; pale = it spent the call
    waiting, for the GIL or a core), and ticks where py-spy saw the thread holding the GIL."""
    from labsrc.dynamics.trace import summarize, timeline

    if not traces:
        return []
    plt = _pyplot()
    cmap = plt.get_cmap("Blues")
    fig, axes = plt.subplots(len(traces), 1, figsize=(9, 1.2 + 1.4 * len(traces)), squeeze=False)
    for ax, trace in zip(axes[:, 0], traces):
        rec, seen = trace.record, timeline(trace)
        t0 = rec["t_go"]
        stats = {r.thread: r for r in summarize(trace)}
        lanes = sorted(rec["spans"])
        for y, name in enumerate(lanes):
            calls = rec["spans"][name]
            fastest = min((e - s for s, e in calls), default=1.0)
            ax.broken_barh([((s - t0) * 1e3, (e - s) * 1e3) for s, e in calls], (y - 0.25, 0.5),
                           facecolors=[cmap(0.15 + 0.85 * fastest / max(e - s, 1e-9)) for s, e in calls])
            ticks = [(t - t0) * 1e3 for t in seen.get(name, []) if t0 <= t <= rec["t_end"]]
            ax.plot(ticks, [y + 0.35] * len(ticks), "|", color="C3", markersize=8)
        labels = [f"{n}: GIL {stats[n].gil_share:.0%}, CPU {stats[n].cpu_share or 0:.2f}" for n in lanes]
        ax.set_yticks(range(len(lanes)), labels, fontsize=8)
        ax.set_ylim(-0.6, len(lanes) - 0.3)
        ax.set_xlim(0, (rec["t_end"] - t0) * 1e3)
        ax.set_title(f"{trace.kernel}/{trace.impl}, switch interval {rec['switch_interval_s'] * 1e3:g} ms",
                     fontsize=9)
    axes[-1, 0].set_xlabel("ms. Bars: kernel calls, darker = faster (pale: the call spent its time "
                           "waiting).\nRed ticks: py-spy saw the thread holding the GIL (only "
                           "written when its sampled stack changed)", fontsize=8)
    fig.tight_layout()
    return [_save(fig, folder, "gil-timeline.png")]
