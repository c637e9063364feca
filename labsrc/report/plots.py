"""Pictures of a run (matplotlib, Agg backend: no display needed), as PNG files or SVG text.

- `speedup_<kernel>.png`: speedup vs workers, one line per implementation x executor,
  with the ideal line; the seq/1 baseline is the point (1, 1.0) of every line.
- `timeline_<kernel>.png`: Gantt charts of task spans per worker for chosen cells.
- `io_elapsed.png`: elapsed time per I/O mode.
Each `*_figure` function builds one matplotlib Figure; `write_plots` saves them as PNG
files (to a temporary name, then moved into place, like the reports) and `run_figures`
renders them as SVG text for the HTML report (text kept as text, so the files stay small).
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from labsrc.harness.iobench import IoRow  # noqa: E402
from labsrc.report.lessons.io import split_io  # noqa: E402
from labsrc.core.names import ExecutorName, Payload  # noqa: E402
from labsrc.core.files import atomic_write  # noqa: E402
from labsrc.core.results import Cell  # noqa: E402

STYLE = {ExecutorName.THREADS: "-", ExecutorName.PROCS: "--", ExecutorName.ASYNCIO: ":",
         ExecutorName.SEQ: "-.", ExecutorName.INTERP: (0, (3, 1, 1, 1))}


def render(fig: Figure, fmt: str = "png") -> bytes:
    """`fig` as PNG or SVG bytes; closes the figure. SVG keeps its text as text (not
    glyph outlines), which makes it several times smaller and still readable offline."""
    buffer = io.BytesIO()
    try:
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            fig.savefig(buffer, dpi=110, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _save(fig: Optional[Figure], path: Path) -> Optional[Path]:
    """Render `fig` as PNG and write it atomically (report.atomic_write); None for no figure."""
    return None if fig is None else atomic_write(path, render(fig, "png"))


def _ok(rows: Sequence[Cell]) -> list[Cell]:
    return [r for r in rows if r.ok and math.isfinite(r.speedup)]


def _line_name(cell: Cell) -> str:
    """A line of the speedup plot: the executor, with the payload of a data-shipping cell."""
    return f"{cell.executor}[data]" if cell.payload == Payload.DATA else str(cell.executor)


def speedup_plot(rows: Sequence[Cell], kernel: str, path: Path) -> Optional[Path]:
    """Speedup vs workers for one kernel as a PNG file; None when it has no measured cells."""
    return _save(speedup_figure(rows, kernel), path)


LEGEND_INSIDE = 16  # lines a legend inside the axes can hold without hiding them
LEGEND_ROWS = 28  # legend rows per column beside the axes


def speedup_figure(rows: Sequence[Cell], kernel: str) -> Optional[Figure]:
    """Speedup vs workers for one kernel; None when it has no measured cells."""
    mine = [r for r in _ok(rows) if r.kernel == kernel]
    if not mine:
        return None
    impls = list(dict.fromkeys(r.impl for r in mine))
    # Rows from other interpreters (impl@label, --python) multiply the lines: beyond a few,
    # the legend goes beside the axes (the figure widening with it) instead of over the lines,
    # and 20 colours serve before any repeats.
    lines = len({(r.impl, _line_name(r)) for r in mine}) + 1
    columns = 0 if lines <= LEGEND_INSIDE else math.ceil(lines / LEGEND_ROWS)
    fig, ax = plt.subplots(figsize=(7 + 2.6 * columns, 4.5 if not columns else 5.5))
    top = max(r.workers for r in mine)
    ax.plot([1, top], [1, top], color="0.7", lw=1, label="ideal")
    palette = [f"C{i}" for i in range(10)] if len(impls) <= 10 else [plt.get_cmap("tab20")(i) for i in range(20)]
    colors = {name: palette[i % len(palette)] for i, name in enumerate(impls)}
    for impl in impls:
        base = next((r for r in mine if r.impl == impl and r.executor == ExecutorName.SEQ and r.workers == 1), None)
        for line in dict.fromkeys(_line_name(r) for r in mine if r.impl == impl):
            points = {r.workers: r.speedup for r in mine if r.impl == impl and _line_name(r) == line}
            if line != ExecutorName.SEQ and base is not None:
                points.setdefault(1, 1.0)  # the baseline anchors every line at one worker
            if line == ExecutorName.SEQ and len(points) < 2:
                continue  # a lone baseline point says nothing new
            xs = sorted(points)
            ax.plot(xs, [points[x] for x in xs], marker="o", color=colors[impl],
                    linestyle=STYLE.get(line, (0, (1, 1))), label=f"{impl} / {line}")
    ax.set(title=f"{kernel}: speedup vs workers (same work per implementation)",
           xlabel="workers", ylabel="speedup vs seq", xticks=sorted({1, top} | {r.workers for r in mine}))
    ax.axhline(1.0, color="0.85", lw=0.8)
    if columns:
        ax.legend(fontsize=7, ncol=columns, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


DEFAULT_TIMELINE = (("py", ExecutorName.THREADS), ("cy_gil", ExecutorName.THREADS),
                    ("cy_nogil", ExecutorName.THREADS), ("py", ExecutorName.PROCS))


def choose_timeline_cells(rows: Sequence[Cell], kernel: str, limit: int = 4,
                          wanted: Optional[Sequence[tuple[str, str]]] = None) -> list[Cell]:
    """Cells worth a Gantt chart: the widest cell of each (impl, executor) in `wanted`
    (the user's choice, or by default py, cy_gil, cy_nogil threads and py procs topped up
    with the widest other cells)."""
    mine = [r for r in rows if r.ok and r.kernel == kernel and r.spans and r.payload != Payload.DATA]
    chosen: list[Cell] = []
    if wanted is not None:
        for impl, ex in wanted:
            cands = [r for r in mine if r.impl == impl and r.executor == ex]
            if cands:
                chosen.append(max(cands, key=lambda r: r.workers))
        return chosen
    wanted = DEFAULT_TIMELINE
    for impl, ex in wanted:
        cands = [r for r in mine if r.impl == impl and r.executor == ex]
        if cands:
            chosen.append(max(cands, key=lambda r: r.workers))
    for r in sorted(mine, key=lambda r: -r.workers):  # other kernels' impl names: widest cells
        if len(chosen) >= limit:
            break
        if r not in chosen and r.workers > 1:
            chosen.append(r)
    return chosen[:limit]


def timeline_plot(cells: Sequence[Cell], path: Path, title: str = "") -> Optional[Path]:
    """One Gantt panel per cell as a PNG file (None for no cells)."""
    return _save(timeline_figure(cells, title), path)


def timeline_figure(cells: Sequence[Cell], title: str = "") -> Optional[Figure]:
    """One Gantt panel per cell: a lane per worker, a bar per task span."""
    if not cells:
        return None
    fig, axes = plt.subplots(len(cells), 1, figsize=(8, 1.2 + 1.3 * len(cells)), squeeze=False)
    for ax, cell in zip(axes[:, 0], cells):
        lanes = {w: i for i, w in enumerate(dict.fromkeys(s[2] for s in cell.spans))}
        for n, (start, end, worker) in enumerate(cell.spans):
            ax.barh(lanes[worker], (end - start) * 1e3, left=start * 1e3, height=0.6,
                    color=f"C{n % 10}", edgecolor="black", linewidth=0.4)
        ax.set_yticks(range(len(lanes)), [f"w{i}" for i in range(len(lanes))])
        gil = cell.gil_contention
        extra = f", GIL {gil:.2f}" if math.isfinite(gil) else ""
        speedup = cell.speedup  # NaN when the implementation's baseline failed
        shown = f"speedup {speedup:.2f}" if math.isfinite(speedup) else "no speedup"
        ax.set_title(f"{cell.impl} / {cell.executor} x{cell.workers}: {shown}{extra}",
                     fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("ms since the first task started")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def io_plot(rows: Sequence[IoRow], path: Path) -> Optional[Path]:
    """Bar chart of elapsed seconds per I/O mode as a PNG file (None for no timed rows)."""
    return _save(io_figure(rows), path)


def io_figure(rows: Sequence[IoRow], title: str = "I/O: elapsed per mode (lower is better)") -> Optional[Figure]:
    """Bar chart of elapsed seconds per I/O mode; a mode run beside a CPU load is its own
    bar, named with that load."""
    rows = [r for r in rows if math.isfinite(r.elapsed_s)]
    if not rows:
        return None
    loads = any(r.cpu_load for r in rows)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(rows) + 1.5), 3.8 if loads else 3.5))
    names = [f"{r.mode}\n{r.cpu_load or 'no load'}" if loads else str(r.mode) for r in rows]
    bars = ax.bar(range(len(rows)), [r.elapsed_s for r in rows], color=[f"C{i}" for i in range(len(rows))])
    ax.set_xticks(range(len(rows)), names, fontsize=8 if loads else 10)
    for bar, r in zip(bars, rows):
        if math.isfinite(r.speedup):
            ax.annotate(f"{r.speedup:.1f}x", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
    ax.set(title=title, ylabel="seconds")
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class Picture:
    """One picture of a run: its file stem, the report section it belongs to, a caption."""

    name: str  # speedup_primes, timeline_primes, io_elapsed
    section: str  # "speedup", "timeline" or "io"
    caption: str


def _pictures(rows: Sequence[Cell], io_rows: Sequence[IoRow],
              timeline: Optional[Sequence[tuple[str, str]]]) -> Iterator[tuple[Picture, Optional[Figure]]]:
    """Each picture with its figure (None when it has nothing to draw), built one at a time
    so that only one figure is open at once."""
    for kernel in dict.fromkeys(r.kernel for r in rows if r.kernel):
        yield (Picture(f"speedup_{kernel}", "speedup", f"{kernel}: speedup vs workers"),
               speedup_figure(rows, kernel))
        yield (Picture(f"timeline_{kernel}", "timeline", f"{kernel}: task spans per worker"),
               timeline_figure(choose_timeline_cells(rows, kernel, wanted=timeline),
                               title=f"{kernel}: task spans per worker"))
    plain, under_load = split_io(io_rows)
    if plain:
        yield Picture("io_elapsed", "io", "I/O: elapsed per mode"), io_figure(plain)
    if under_load:
        yield (Picture("io_load", "io", "I/O under CPU load: elapsed per mode and load"),
               io_figure(under_load, "I/O beside a CPU load: elapsed (lower is better)"))


def write_plots(rows: Sequence[Cell], folder: str | os.PathLike[str], io_rows: Sequence[IoRow] = (),
                timeline: Optional[Sequence[tuple[str, str]]] = None) -> list[Path]:
    """Every picture for a run into `folder` as PNG; returns the files written. `timeline`
    picks the (impl, executor) cells of the Gantt charts (None: the default choice)."""
    out_dir = Path(folder)
    written = [_save(fig, out_dir / f"{picture.name}.png") for picture, fig in _pictures(rows, io_rows, timeline)]
    return [path for path in written if path is not None]


def run_figures(rows: Sequence[Cell], io_rows: Sequence[IoRow] = (),
                timeline: Optional[Sequence[tuple[str, str]]] = None, fmt: str = "svg") -> list[tuple[Picture, bytes]]:
    """Every picture for a run rendered in memory (SVG by default), for the HTML report."""
    return [(picture, render(fig, fmt)) for picture, fig in _pictures(rows, io_rows, timeline) if fig is not None]
