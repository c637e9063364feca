"""Reports and findings, from fixed numbers (each lesson's own rules: test_findings.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from dataclasses import replace

from labsrc.report import findings
from labsrc.report import tables as report
from labsrc.core.names import Payload
from labsrc.core.results import SCHEMA, Cell
from made_cells import make_cell as _row


ROWS = [
    _row("py", "seq", 1, 1.0, 0.84, throughput=73.0),
    _row("py", "threads", 2, 0.96, 0.92),
    _row("py", "procs", 2, 1.85, 0.03, startup_s=0.15),
    _row("cy_gil", "threads", 2, 1.01, 0.99),
    _row("cy_nogil", "seq", 1, 1.0, 0.02, throughput=4600.0),
    _row("cy_nogil", "threads", 2, 1.97, 0.02),
]


def test_findings_quote_this_runs_numbers() -> None:
    lines = findings.findings(ROWS)
    text = "\n".join(lines)
    assert "0.96x" in text and "1.97x" in text
    assert "92%" in text and "2%" in text  # the probe clause: its numbers support it
    assert "cy_gil" in text and "1.01x" in text and "releasing the GIL" in text
    assert "1.85x" in text and "own GIL" in text and "0.15 s" in text
    assert "63.0x" in text  # 4600 / 73 work units per second


def test_no_interpretation_the_numbers_do_not_support() -> None:
    rows = [_row("py", "threads", 2, 1.6, 0.3), _row("cy_nogil", "threads", 2, 1.7, 0.02),
            _row("cy_gil", "threads", 2, 1.5, 0.9)]
    text = "\n".join(findings.findings(rows))
    assert "1.60x" in text and "1.70x" in text
    assert "serialised" not in text and "releasing the GIL" not in text


def test_no_findings_without_rows_and_problems_are_said() -> None:
    assert findings.findings([]) == []
    bad = [_row("py", "threads", 2, 1.0, status="failed", reason="WRONG ANSWER: x"),
           Cell("primes", "cy_prange", "*", 0, status="skipped", reason="no OpenMP")]
    text = "\n".join(findings.findings(bad))
    assert "FAILED" in text and "WRONG ANSWER" in text and "no OpenMP" in text


def test_table_is_aligned_and_marks_noise_and_reasons() -> None:
    rows = ROWS + [_row("py", "threads", 2, 1.0, walls=(0.5, 1.0)),
                   _row("cy_prange", "seq", 2, 1.9, num_threads=2),
                   Cell("primes", "x", "*", 0, status="skipped", reason="not built")]
    text = report.format_table(rows)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["kernel", "impl", "executor", "workers"]
    assert len({line.index("primes") for line in lines[2:]}) == 1
    assert " !" in text and "(omp 2)" in text and "skipped: not built" in text
    assert "procs[recipe]" in text


def test_a_pool_that_never_started_shows_no_start_up_time() -> None:
    started = _row("py", "procs", 2, startup_s=0.15)
    unavailable = Cell("primes", "py", "dask_procs", 2, status="unavailable",
                       reason="unavailable: pip install 'gil-lab[dask]'")
    rows = report.format_table([started, unavailable]).splitlines()[2:]
    column = report.format_table([started]).splitlines()[0].split().index("start-up")
    assert rows[0].split()[column] == "150.0ms"
    assert rows[1].split()[column] == "-"


def test_json_schema_and_atomic_files(tmp_path: Path) -> None:
    rows = [replace(ROWS[0], cpus=()), *ROWS[1:]]
    path = report.write_json(tmp_path / "sub" / "r.json", {"python_version": "3.11"}, rows)
    doc = json.loads(path.read_text())
    assert doc["schema"] == SCHEMA == 1
    assert set(doc) >= {"env", "results", "io", "notes"}
    required = {"kernel", "impl", "executor", "workers", "tasks", "repeats", "wall_s", "wall_min_s",
                "wall_max_s", "cpu_s", "speedup", "efficiency", "gil_contention", "verified", "walls",
                "payload", "load_s"}
    for row in doc["results"]:
        assert required <= set(row)
    assert doc["results"][0]["cpu_s"] is None  # NaN is written as null, never as NaN
    back = [Cell.from_dict(r) for r in doc["results"]]
    assert [c.speedup for c in back] == [c.speedup for c in rows]  # derived again from raw walls
    assert back[2].payload == Payload.RECIPE and back[2].status == "ok"
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temp file left behind
    csv_path = report.write_csv(tmp_path / "r.csv", ROWS)
    table = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert len(table) == len(ROWS) and table[1]["impl"] == "py"
    assert float(table[1]["speedup"]) == pytest.approx(0.96)
    assert "ipc_bytes" in table[0] and "walls" not in table[0]  # columns follow the dataclass


def test_load_finding_only_when_the_machine_was_busy() -> None:
    busy = findings.findings(ROWS, env={"load_average": [2.4, 2.0, 1.0], "cpu_count": 2})
    assert busy[0].startswith("Before the run the 1-minute load average was 2.4 on 2 CPU(s)")
    idle = findings.findings(ROWS, env={"load_average": [0.1, 0.1, 0.1], "cpu_count": 2})
    assert not any("load average" in line for line in idle)


def test_busy_cpus_sample_wins_over_the_load_average() -> None:
    # The load average still remembers the lab's own previous run; the short sample does not.
    env = {"load_average": [1.8, 1.0, 0.5], "cpu_count": 2, "busy_cpus_at_start": 0.05}
    assert not any("busy" in line or "load average" in line for line in findings.findings(ROWS, env=env))
    env["busy_cpus_at_start"] = 1.2
    assert findings.findings(ROWS, env=env)[0].startswith("As the run started, other programs kept 1.2 of 2")


def test_busy_cpus_is_a_fraction_of_the_machine() -> None:
    from labsrc.core.envinfo import busy_cpus

    busy = busy_cpus(0.05)
    assert busy is None or 0.0 <= busy <= (__import__("os").cpu_count() or 1)


def test_public_api_reexports_are_the_functions() -> None:
    import labsrc
    import labsrc.report.findings  # noqa: F401  (the submodules are attributes of the package too)
    import labsrc.kernels  # noqa: F401
    from labsrc import GilProbe, list_kernels, make_findings, run_matrix

    assert [k.name for k in list_kernels()][:2] == ["primes", "arcfour"]
    assert make_findings([]) == [] and callable(run_matrix) and GilProbe().interval == 0.001
    assert set(labsrc.__all__) >= {"list_kernels", "make_findings", "GilProbe"}


def test_gilknocker_column_only_when_measured() -> None:
    assert "knocker" not in report.format_table(ROWS).splitlines()[0]
    rows = [replace(r, gilknocker=0.42) for r in ROWS]
    table = report.format_table(rows)
    assert "knocker" in table.splitlines()[0] and "0.42" in table


def test_a_speedup_above_the_workers_is_never_shown_as_more_than_100_percent() -> None:
    """The median above the limit within its own noise reads "100%~"; beyond noise it keeps
    its figure with a "?" that the legend explains; below the limit, the plain figure."""
    from labsrc.core.results import Cell

    def cell(walls: tuple[float, ...]) -> Cell:
        return Cell("primes", "py", "procs", 2, tasks=2, scale=1, walls=walls, baseline_s=2.0,
                    baseline_min_s=1.9, baseline_max_s=2.1, verified=True)

    eff = next(c for c in report.CPU_COLUMNS if c.header == "eff").render
    within = cell((0.97, 0.98, 0.99))  # 2.04x median; slowest run 1.92x: noise reaches 2
    beyond = cell((0.80, 0.81, 0.82))  # 2.47x median; even the slowest 2.32x
    under = cell((1.1, 1.2, 1.3))
    assert (within.above_limit, beyond.above_limit, under.above_limit) == ("within noise", "beyond noise", "")
    assert eff(within) == "100%~"
    assert eff(beyond) == "123%?"  # 2.47x over 2 workers
    assert eff(under) == "83%"  # 1.67x over 2
    assert "100%~" in report.LEGEND
