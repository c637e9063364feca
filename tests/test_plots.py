"""Plots are written as real PNG files."""

from __future__ import annotations

from pathlib import Path

from made_cells import make_cell

from labsrc.harness.iobench import IoRow
from labsrc.core.names import Payload
from labsrc.report.plots import choose_timeline_cells, write_plots
from labsrc.core.results import Cell

PNG = b"\x89PNG\r\n\x1a\n"


def _cell(impl: str, executor: str, workers: int, speedup: float, **fields: object) -> Cell:
    spans = tuple((0.01 * i, 0.01 * i + 0.02, 100 + i % workers) for i in range(4))
    return make_cell(impl, executor, workers, speedup, gil=0.5, spans=spans, **fields)


def test_plots_are_valid_pngs(tmp_path: Path) -> None:
    rows = [_cell("py", "seq", 1, 1.0), _cell("py", "threads", 2, 0.97), _cell("py", "procs", 2, 1.8),
            _cell("py", "procs", 2, 1.2, payload=Payload.DATA),
            _cell("cy_nogil", "seq", 1, 1.0), _cell("cy_nogil", "threads", 2, 1.96)]
    io_rows = [IoRow("sequential", 1, 20, 20, 0, 0, elapsed_s=10.0, speedup=1.0),
               IoRow("threadpool", 20, 20, 20, 0, 0, elapsed_s=0.6, speedup=16.7)]
    written = write_plots(rows, tmp_path, io_rows)
    names = sorted(p.name for p in written)
    assert names == ["io_elapsed.png", "speedup_primes.png", "timeline_primes.png"]
    for path in written:
        data = path.read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000  # a drawn figure, not an empty canvas
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no temp files left


def test_timeline_picks_the_telling_cells() -> None:
    rows = [_cell("py", "threads", 1, 1.0), _cell("py", "threads", 2, 0.97),
            _cell("cy_nogil", "threads", 2, 1.96), _cell("py", "procs", 2, 1.8)]
    chosen = choose_timeline_cells(rows, "primes")
    assert [(r.impl, r.executor, r.workers) for r in chosen][:3] == [
        ("py", "threads", 2), ("cy_nogil", "threads", 2), ("py", "procs", 2)]


def test_timeline_cells_are_the_users_choice_when_given() -> None:
    from labsrc.report.plots import choose_timeline_cells

    def cell(impl: str, executor: str, workers: int) -> Cell:
        return Cell("primes", impl, executor, workers, spans=((0.0, 1.0, 1),))

    rows = [cell("py", "threads", 2), cell("cy_nogil", "threads", 1), cell("cy_nogil", "threads", 2),
            cell("cy_nogil", "procs", 2), cell("cy_gil", "threads", 2)]
    chosen = choose_timeline_cells(rows, "primes", wanted=[("cy_nogil", "threads"), ("cy_nogil", "procs")])
    assert [(r.impl, r.executor, r.workers) for r in chosen] == [
        ("cy_nogil", "threads", 2), ("cy_nogil", "procs", 2)]
    default = choose_timeline_cells(rows, "primes")
    assert [(r.impl, r.executor) for r in default][:3] == [
        ("py", "threads"), ("cy_gil", "threads"), ("cy_nogil", "threads")]
