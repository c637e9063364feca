"""The HTML report without a browser: its order, escaping, self-containment and size, and
`gil-lab report DIR` on good and bad input (see test_report_browser.py for the real browser)."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest
from made_cells import make_cell

from labsrc import cli
from labsrc.report import tables as report
from labsrc.harness.iobench import IoRow
from labsrc.core.names import Payload
from labsrc.report.html import page
from labsrc.report.html.page import render_report
from labsrc.core.results import SCHEMA, Cell

pytest.importorskip("jinja2", reason="the HTML report needs the report extra (Jinja2)")

KERNELS = ("primes", "arcfour", "sha256", "mandelbrot")
IMPLS = ("py", "cy_gil", "cy_nogil", "numba", "numba_gil")
ENV = {"python_implementation": "CPython", "python_version": "3.11.7", "gil_enabled": True,
       "free_threaded_build": False, "cpu_count": 2, "cpu_count_os": 2, "busy_cpus_at_start": 0.1,
       "timestamp": "2026-01-02T03:04:05+00:00", "cext_built": True, "openmp": True,
       "openmp_version": 201511, "cython_version": "3.1.2", "platform": "Linux-x86_64"}
IO = [IoRow("sequential", 1, 20, 20, 0, 0, elapsed_s=10.0, speedup=1.0, gil_contention=0.05),
      IoRow("threadpool", 20, 20, 20, 0, 0, elapsed_s=0.55, speedup=18.2, gil_contention=0.01),
      IoRow("processpool", 20, 20, 20, 0, 0, elapsed_s=2.0, speedup=5.0),
      IoRow("asyncio", 20, 20, 20, 0, 0, elapsed_s=0.52, speedup=19.2, gil_contention=0.06)]


def _spans(tasks: int, workers: int) -> tuple[tuple[float, float, int], ...]:
    return tuple((0.05 * i, 0.05 * i + 0.04, 1000 + i % workers) for i in range(tasks))


def full_run() -> list[Cell]:
    """As many cells as a full compare (4 kernels x 5 implementations x seq/threads/procs with
    both payloads), each with task spans, so the size check sees the real figures."""
    cells = []
    for kernel in KERNELS:
        for n, impl in enumerate(IMPLS):
            for executor, workers, speedup, payload in (("seq", 1, 1.0, None), ("threads", 2, 1.0 + n * 0.2, None),
                                                        ("procs", 2, 1.8, Payload.RECIPE),
                                                        ("procs", 2, 0.9, Payload.DATA)):
                fields = {"payload": payload} if payload else {}
                cells.append(make_cell(impl, executor, workers, speedup, gil=0.5, kernel=kernel,
                                       spans=_spans(16, workers), ipc_bytes=240 if payload == Payload.RECIPE
                                       else 5_000_000 if payload else None, **fields))
    return cells


@pytest.fixture(scope="module")
def full_html() -> str:
    """The page of a full-size run, rendered once for the tests that only read it."""
    return render_report(ENV, full_run(), IO)


def _sections(html: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', html)


def test_sections_in_order_findings_first_and_one_row_per_cell(full_html: str) -> None:
    cells, html = full_run(), full_html
    assert _sections(html) == ["findings", "environment", "matrix", "speedup", "timelines", "io"]
    matrix = html[html.index('id="matrix-table"'):]
    matrix = matrix[:matrix.index("</table>")]
    assert matrix.count("<tr") == len(cells) + 1  # the header row, then one row per cell
    assert 'data-type="number" class="number" aria-sort="none"><button type="button">speedup' in matrix
    assert html.index('id="finding-gil"') < html.index('id="finding-compiled"') < html.index('id="finding-io"')
    assert "CPython 3.11.7" in html and "GIL enabled" in html


def test_everything_is_embedded_and_nothing_is_fetched(full_html: str) -> None:
    html = full_html
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(r.startswith(("data:", "#")) for r in refs), [r[:40] for r in refs]
    assert "default-src 'none'" in html  # the Content-Security-Policy forbids any fetch
    images = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert len(images) == 2 * len(KERNELS) + 1  # speedup and timeline per kernel, then I/O
    for data in images:
        assert base64.b64decode(data).lstrip().startswith((b"<?xml", b"<svg"))
    script = re.search(r"<script>(.*)</script>", html, re.S).group(1)  # exactly what the browser hashes
    digest = base64.b64encode(__import__("hashlib").sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in html  # only our own script may run


def test_a_full_compare_report_is_under_2_mb(full_html: str) -> None:
    assert len(full_html.encode("utf-8")) < 2_000_000


def test_data_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    cells = [make_cell("py", "seq", 1, 1.0), make_cell("py", "threads", 2, 0.9, status="failed", reason=evil)]
    html = render_report({**ENV, "platform": evil}, cells)
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # the sorting script and nothing else


def test_free_threaded_run_is_worded_for_it() -> None:
    env = {**ENV, "gil_enabled": False, "free_threaded_build": True}
    cells = [make_cell("py", "seq", 1), make_cell("py", "threads", 2, 1.9), make_cell("cy_nogil", "seq", 1),
             make_cell("cy_nogil", "threads", 2, 1.9)]
    html = render_report(env, cells)
    assert "GIL disabled" in html and "disabled (free-threaded build)" in html
    assert "Threads without a GIL" in html


def test_speedup_cells_are_shaded_and_sort_keys_are_numbers() -> None:
    table = page.matrix_table([make_cell("py", "seq", 1), make_cell("py", "threads", 2, 1.9),
                               make_cell("py", "threads", 4, 0.9), Cell("primes", "x", "*", 0, status="skipped")])
    at = [h for h, _ in table.headers].index("speedup")
    shown = [row["cells"][at] for row in table.rows]
    assert [css for _, _, css in shown] == ["", "gain", "nogain", ""]  # the baseline is 1.00x by definition
    assert float(shown[1][1]) == pytest.approx(1.9) and shown[3][1] == ""  # missing figures sort last
    assert table.rows[3]["css"] == "missing"


def _write_run(folder: Path, cells: list[Cell] | None = None) -> Path:
    run = full_run()
    two_kernels = run[:8] + run[20:28]  # py and cy_gil of primes and arcfour
    return report.write_json(folder / "results.json", ENV, cells if cells is not None else two_kernels, IO)


def test_report_command_rebuilds_the_page_from_results_json(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    _write_run(tmp_path)
    assert cli.main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f"report: {tmp_path / 'report.html'}"
    html = (tmp_path / "report.html").read_text()
    assert _sections(html)[0] == "findings"
    assert html.count('<img src="data:image/svg+xml') == 2 * 2 + 1  # replotted from the cells' spans
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "results.json"]  # no temp files
    other = tmp_path / "elsewhere" / "r.html"
    assert cli.main(["report", str(tmp_path), "--output", str(other)]) == 0 and other.is_file()


@pytest.mark.parametrize("case, message", [
    ("missing", "no such folder"),
    ("file", "is not a folder"),
    ("empty", "has no results.json"),
    ("truncated", "is not valid JSON"),
    ("schema", "has schema 2 (written by a newer gil-lab); this gil-lab reads schema 1"),
    ("no_schema", "has no 'schema' field"),
    ("list", "is not a gil-lab results document"),
    ("bad_row", "results[0] is not a cell"),
    ("no_rows", "holds no cells and no I/O rows"),
])
def test_report_command_on_bad_input_exits_2_and_overwrites_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "report.html").write_text("the old report")
    good = json.loads(_write_run(folder).read_text())
    results = folder / "results.json"
    if case == "missing":
        folder = tmp_path / "nowhere"
    elif case == "file":
        folder = results
    elif case == "empty":
        results.unlink()
    elif case == "truncated":
        results.write_text(results.read_text()[:500])
    elif case == "schema":
        results.write_text(json.dumps({**good, "schema": SCHEMA + 1}))
    elif case == "no_schema":
        results.write_text(json.dumps({k: v for k, v in good.items() if k != "schema"}))
    elif case == "list":
        results.write_text("[1, 2]")
    elif case == "bad_row":
        results.write_text(json.dumps({**good, "results": [{"kernel": "primes", "status": "sideways"}]}))
    elif case == "no_rows":
        results.write_text(json.dumps({**good, "results": [], "io": []}))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["report", str(folder)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert (tmp_path / "run" / "report.html").read_text() == "the old report"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(
        ["report.html"] + (["results.json"] if case != "empty" else []))


def test_without_jinja2_the_report_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(page, "jinja_available", lambda: False)
    monkeypatch.setattr("labsrc.report.html.command.jinja_available", lambda: False)
    _write_run(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["report", str(tmp_path)])
    assert exit_info.value.code == 2 and "pip install Jinja2" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # cpu --html: said before anything is measured
        cli.main(["cpu", "--kernel", "noop", "--html", str(tmp_path / "x.html")])
    assert not (tmp_path / "x.html").exists()


def _fake_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "measure_io", lambda modes, count, delay: list(IO))


def test_compare_writes_the_report_and_prints_its_path_last(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    _fake_io(monkeypatch)
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    rc = cli.main(["compare", "--kernel", "noop", "--impl", "spin", "--scale", "1", "--repeat", "1",
                   "--workers", "2", "--out", str(tmp_path), "--quiet", "--open"])
    assert rc == 0
    (folder,) = tmp_path.iterdir()
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"report: {folder / 'report.html'}"
    html = (folder / "report.html").read_text()
    doc = json.loads((folder / "results.json").read_text())
    assert html.count('data-index="') >= len(doc["results"]) + len(doc["io"])
    assert opened == [(folder / "report.html").resolve().as_uri()]


def test_cpu_and_io_write_the_report_with_html(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _fake_io(monkeypatch)
    assert cli.main(["io", "--modes", "sequential,threadpool", "--count", "5", "--delay", "0.1",
                     "--html", str(tmp_path / "io.html")]) == 0
    html = (tmp_path / "io.html").read_text()
    assert _sections(html) == ["findings", "environment", "io"]
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"report: {tmp_path / 'io.html'}"
    assert cli.main(["cpu", "--kernel", "noop", "--impl", "spin", "--executor", "seq,threads", "--workers", "1,2",
                     "--scale", "1", "--repeat", "1", "--quiet", "--html", str(tmp_path / "cpu.html")]) == 0
    assert _sections((tmp_path / "cpu.html").read_text())[:3] == ["findings", "environment", "matrix"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # written atomically


def test_downloads_under_load_get_their_own_table_and_chart() -> None:
    plain = [IO[0], IO[1]]
    reference = IoRow("threadpool", 20, 20, 20, 0, 0, elapsed_s=0.08)
    loaded = [reference,
              IoRow("threadpool", 20, 20, 20, 0, 0, elapsed_s=0.4, cpu_load="primes/py:1", load_work_per_s=90.0),
              IoRow("threadpool", 20, 20, 20, 0, 0, elapsed_s=0.09, cpu_load="primes/cy_nogil:1")]
    for row in plain:
        row.delay_s = 0.5  # type: ignore[attr-defined]  # the settings tell the two groups apart
    for row in loaded:
        row.delay_s = 0.05  # type: ignore[attr-defined]
    html = render_report(ENV, [], plain + loaded)
    table = html[html.index('id="io-load-table"'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr") == 1 + 3 and "primes/cy_nogil:1" in table and ">none<" in table
    main = html[html.index('id="io-table"'):]
    assert main[:main.index("</table>")].count("<tr") == 1 + 2
    assert html.count('<img src="data:image/svg+xml') == 2  # plain downloads, then under load
    assert 'id="finding-io_load"' in html
