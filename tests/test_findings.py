"""Findings grouped by lesson, from fixed numbers: one finding per lesson, in a fixed order,
each quoting its numbers and interpreting them only past its thresholds."""

from __future__ import annotations

from dataclasses import replace

from made_cells import make_cell as _row

from labsrc.report import findings
from labsrc.harness.iobench import IoRow
from labsrc.report.lessons import ORDER, lessons
from labsrc.report.lessons.common import NO_GAIN, REAL_GAIN, span
from labsrc.core.names import Payload
from labsrc.core.results import Cell


def _kernel_rows(kernel: str, py: float, free: float, held: float, gil_py: float = 0.92,
                 gil_free: float = 0.02) -> list[Cell]:
    return [
        _row("py", "seq", 1, 1.0, 0.84, throughput=73.0, kernel=kernel),
        _row("py", "threads", 2, py, gil_py, kernel=kernel),
        _row("py", "procs", 2, 1.85, 0.03, startup_s=0.15, kernel=kernel),
        _row("cy_gil", "threads", 2, held, 0.99, kernel=kernel),
        _row("cy_nogil", "seq", 1, 1.0, 0.02, throughput=4600.0, kernel=kernel),
        _row("cy_nogil", "threads", 2, free, gil_free, kernel=kernel),
    ]


FOUR = (_kernel_rows("primes", 0.93, 1.95, 1.01) + _kernel_rows("arcfour", 1.02, 1.76, 0.98)
        + _kernel_rows("sha256", 0.97, 1.90, 1.00) + _kernel_rows("mandelbrot", 0.99, 1.88, 1.03))


def _keys(found: list) -> list[str]:
    return [f.key for f in found]


def test_one_finding_per_lesson_with_the_range_over_kernels() -> None:
    found = lessons(FOUR)
    assert _keys(found) == ["gil", "compiled", "processes", "single_core"]
    gil = found[0]
    assert gil.text.startswith("The GIL serialised pure Python: with 2 threads, pure Python ran at "
                               "0.93\u20131.02x of its sequential time (4 kernels)")
    assert "reached 1.76\u20131.95x" in gil.text
    assert "waited 92% of the time under py threads and 2% under cy_nogil" in gil.text
    assert [r[0] for r in gil.rows] == ["primes", "arcfour", "sha256", "mandelbrot"]
    assert gil.rows[0][2:4] == ("0.93x", "1.95x")
    assert "1.15" in gil.rule and "1.5" in gil.rule  # the thresholds it rests on are named
    assert found[1].text.startswith("Compiling is not enough: with 2 threads, cy_gil")
    assert found[2].text.startswith("Each process has its own GIL: pure Python in 2 processes ran at 1.85x")
    assert "0.15 s" in found[2].text
    assert "63.0x" in found[3].text  # 4600 / 73 work units per second


def test_text_form_is_one_entry_per_lesson_with_its_table_under_it() -> None:
    lines = findings.findings(FOUR)
    assert len(lines) == 4
    first = lines[0].splitlines()
    assert first[0].startswith("The GIL serialised pure Python")
    assert first[1].split() == ["kernel", "threads", "py", "cy_nogil", "probe", "py", "(GIL", "waiting)",
                                "probe", "cy_nogil"]
    assert first[2].split()[:4] == ["primes", "2", "0.93x", "1.95x"]
    assert all(line.startswith("  ") for line in first[1:])  # indented under the bullet
    assert len(first) == 2 + 4


def test_no_interpretation_the_numbers_do_not_support() -> None:
    rows = [_row("py", "threads", 2, 1.6, 0.3), _row("cy_nogil", "threads", 2, 1.7, 0.02),
            _row("cy_gil", "threads", 2, 1.5, 0.9)]
    found = lessons(rows)
    text = "\n".join(f.text for f in found)
    assert "1.60x" in text and "1.70x" in text and "1.50x" in text
    assert "serialised" not in text and "not enough" not in text and "heartbeat" not in text


def test_probe_is_quoted_only_where_it_agrees() -> None:
    rows = _kernel_rows("primes", 0.95, 1.9, 1.0, gil_py=0.3)  # the heartbeat barely waited
    (gil,) = [f for f in lessons(rows) if f.key == "gil"]
    assert gil.text.startswith("The GIL serialised pure Python")
    assert "heartbeat" not in gil.text


def test_partial_support_names_the_kernels() -> None:
    rows = _kernel_rows("primes", 0.95, 1.9, 1.0) + _kernel_rows("arcfour", 1.3, 1.4, 1.3)
    gil = lessons(rows)[0]
    assert not gil.text.startswith("The GIL serialised")
    assert "releasing the GIL paid off, and the GIL held pure Python back, in primes only" in gil.text
    assert "; there the GIL heartbeat waited 92%" in gil.text  # the probe's figures are primes' alone
    compiled = lessons(rows)[1]
    assert "releasing the GIL made the difference in primes" in compiled.text


def test_free_threaded_wording_says_whether_python_threads_scaled() -> None:
    env = {"gil_enabled": False, "free_threaded_build": True}
    scaled = _kernel_rows("primes", 1.9, 1.95, 1.9, gil_py=0.6)
    gil = lessons(scaled, env=env)[0]
    assert gil.title == "Threads without a GIL"
    assert "pure-Python threads scaled, as expected without a GIL" in gil.text
    assert "scheduling latency" in gil.text and "serialised" not in gil.text
    assert "scheduling latency" in gil.columns[4]
    flat = _kernel_rows("primes", 1.0, 1.95, 1.0)
    text = lessons(flat, env=env)[0].text
    assert "did not scale" in text and "although there was no GIL" in text
    compiled = next(f for f in lessons(flat, env=env) if f.key == "compiled")
    assert "there is no GIL for cy_gil to hold, yet it stayed below 1.5x" in compiled.text
    processes = next(f for f in lessons(flat, env=env) if f.key == "processes")
    assert "own GIL" not in processes.text and processes.text.startswith("With the GIL disabled")
    # the same rows on a GIL build read as the GIL's doing
    assert lessons(flat, env={"gil_enabled": True})[0].text.startswith("The GIL serialised")


def test_payload_cost_keeps_its_substance_inside_the_processes_lesson() -> None:
    rows = [_row("cy_nogil", "procs", 2, 1.9, ipc_bytes=240, payload=Payload.RECIPE),
            _row("cy_nogil", "procs", 2, 0.7, ipc_bytes=28_400_000, payload=Payload.DATA),
            _row("cy_gil", "procs", 2, 1.8, ipc_bytes=240, payload=Payload.RECIPE),
            _row("cy_gil", "procs", 2, 1.7, ipc_bytes=28_400_000, payload=Payload.DATA)]
    (found,) = lessons(rows)
    assert found.key == "processes"
    assert "primes/cy_nogil in 2 processes ran at 1.90x" in found.text and "0.70x" in found.text
    assert "28.4 MB" in found.text and "0.2 kB" in found.text and "moving data between processes" in found.text
    assert "1 more cell pair" in found.text  # cy_gil shipped as much, with a smaller gap
    assert found.rows == (("primes", "-", "-", "-", "-", "cy_nogil: 1.90x recipe, 0.70x data (28.4 MB)"),)
    small = [_row("cy_nogil", "procs", 2, 1.9, ipc_bytes=240, payload=Payload.RECIPE),
             _row("cy_nogil", "procs", 2, 1.8, ipc_bytes=2_000, payload=Payload.DATA)]
    assert lessons(small) == []
    close = [_row("cy_nogil", "procs", 2, 1.0, ipc_bytes=240, payload=Payload.RECIPE),
             _row("cy_nogil", "procs", 2, 0.95, ipc_bytes=5_000_000, payload=Payload.DATA)]
    (found,) = lessons(close)
    assert "moving data" not in found.text and "5.0 MB" in found.text  # below SHIP_GAP: numbers only


def test_openmp_lesson() -> None:
    rows = [_row("cy_prange", "seq", 1, 1.0, num_threads=1), _row("cy_prange", "seq", 2, 1.9, num_threads=2),
            _row("cy_nogil", "threads", 2, 1.8)]
    (found,) = [f for f in lessons(rows) if f.key == "openmp"]
    assert found.text.startswith("OpenMP ran one call on several cores: split over 2 OpenMP threads")
    assert "1.90x" in found.text and "1.80x" in found.text
    slow = [_row("cy_prange", "seq", 2, 1.1, num_threads=2)]
    text = lessons(slow)[0].text
    assert text.startswith("Split over 2 OpenMP threads") and "several cores" not in text


def test_single_core_names_the_twin_and_a_faster_peer_only() -> None:
    rows = [_row("py", "seq", 1, 1.0, throughput=10.0), _row("cy_nogil", "seq", 1, 1.0, throughput=500.0),
            _row("cy_prange", "seq", 1, 1.0, throughput=520.0), _row("hashlib", "seq", 1, 1.0, throughput=4000.0),
            _row("numba", "seq", 1, 1.0, throughput=400.0)]
    (found,) = lessons(rows)
    assert "cy_nogil) did 50.0x" in found.text and "hashlib 400.0x on primes" in found.text
    assert "cy_prange" not in found.text and "numba" not in found.text
    slower = [rows[0], rows[1], rows[4]]
    assert "numba" not in lessons(slower)[0].text  # a peer slower than the twin is no news
    only_gil = [rows[0], _row("cy_gil", "seq", 1, 1.0, throughput=480.0)]
    assert all(f.key != "single_core" for f in lessons(only_gil))  # no twin, no peer: no empty "."


def test_io_lesson_and_the_probe_only_for_in_process_modes() -> None:
    rows = [IoRow("sequential", 1, 20, 20, 0, 0, elapsed_s=10.0, speedup=1.0, gil_contention=0.05),
            IoRow("threadpool", 20, 20, 20, 0, 0, elapsed_s=0.55, speedup=18.2, gil_contention=0.01),
            IoRow("processpool", 20, 20, 20, 0, 0, elapsed_s=2.0, speedup=5.0, gil_contention=0.9),
            IoRow("asyncio", 20, 20, 20, 0, 0, elapsed_s=0.52, speedup=19.2, gil_contention=0.06)]
    (found,) = lessons(io_rows=rows)
    assert found.text.startswith("Waiting on the network releases the GIL: threadpool and asyncio fetched "
                                 "20 flags at 18.2\u201319.2x sequential's speed (sequential: 10.00 s)")
    assert "waited only 1\u20136% of the time" in found.text and "processpool 5.0x" in found.text
    assert found.rows[2][-1] == "(other processes)"
    busy = [rows[0], replace(rows[1], gil_contention=0.6)]
    text = lessons(io_rows=busy)[0].text
    assert text.startswith("I/O: threadpool fetched") and "releases the GIL" not in text


def test_downloads_under_load_contrast_a_gil_holding_and_a_releasing_load() -> None:
    plain = IoRow("threadpool", 20, 20, 20, 0, 0, elapsed_s=0.5, speedup=18.0)
    held = replace(plain, elapsed_s=2.0, cpu_load="primes/py:2", load_work_per_s=150.0)
    free = replace(plain, elapsed_s=0.55, cpu_load="primes/cy_nogil:2", load_work_per_s=3000.0)
    seq = IoRow("sequential", 1, 20, 20, 0, 0, elapsed_s=9.0, speedup=1.0)
    found = lessons(io_rows=[seq, plain, held, free])
    assert _keys(found) == ["io", "io_load"]
    assert "18.0x" in found[0].text and "4.00x" not in found[0].text  # loaded rows stay apart
    load = found[1]
    assert load.text.startswith("A GIL-holding load slows the downloads, a GIL-releasing one does not")
    assert "primes/py:2 the downloads took 4.00x" in load.text and "1.10x" in load.text
    assert load.rows[0] == ("threadpool", "primes/py:2", "2.00 s", "4.00x", "150")
    mild = replace(held, elapsed_s=0.6)
    text = lessons(io_rows=[plain, mild, free])[-1].text
    assert text.startswith("Downloads under CPU load:") and "slows" not in text


def _at(delay: float, row: IoRow) -> IoRow:
    row.delay_s = delay  # type: ignore[attr-defined]  # the server delay the row was measured at
    return row


def test_each_loaded_row_is_compared_with_its_own_setting() -> None:
    main = [_at(0.5, IoRow("sequential", 1, 20, 20, 0, 0, elapsed_s=10.0, speedup=1.0)),
            _at(0.5, IoRow("threadpool", 20, 20, 20, 0, 0, elapsed_s=0.5, speedup=20.0, gil_contention=0.01))]
    plain = _at(0.05, IoRow("threadpool", 20, 20, 20, 0, 0, elapsed_s=0.08))
    held = _at(0.05, replace(plain, elapsed_s=0.4, cpu_load="primes/py:1"))
    free = _at(0.05, replace(plain, elapsed_s=0.09, cpu_load="primes/cy_nogil:1"))
    io, load = lessons(io_rows=main + [plain, held, free])
    assert [r[0] for r in io.rows] == ["sequential", "threadpool"]  # the 0.05 s rows stay out
    assert load.rows[0][3] == "5.00x" and load.rows[1][3] == "1.12x"  # against 0.08 s, not 0.5 s
    assert load.text.startswith("A GIL-holding load slows the downloads")


def test_dask_advice_only_when_the_row_pair_shows_it() -> None:
    rows = [_row("py", "dask_threads", 2, 1.0), _row("cy_nogil", "dask_threads", 2, 1.9),
            _row("py", "dask_procs", 2, 1.8)]
    (found,) = [f for f in lessons(rows) if f.key == "dask"]
    assert found.text == ("Dask: on dask_threads, cy_nogil reached 1.90x and py 1.00x; on dask_procs, py "
                          "reached 1.80x: choose threads per worker for GIL-releasing code and more worker "
                          "processes for pure Python.")
    weak = [_row("py", "dask_threads", 2, 1.0), _row("cy_nogil", "dask_threads", 2, 1.3)]
    (found,) = [f for f in lessons(weak) if f.key == "dask"]
    assert "1.30x" in found.text and "choose" not in found.text


def test_order_is_fixed_load_first_problems_last() -> None:
    rows = FOUR + [_row("py", "threads", 4, 1.0, status="failed", reason="WRONG ANSWER: x"),
                   Cell("primes", "cy_prange", "*", 0, status="skipped", reason="no OpenMP"),
                   _row("py", "dask_threads", 2, 1.0), _row("cy_nogil", "dask_threads", 2, 1.9),
                   _row("cy_prange", "seq", 2, 1.9, num_threads=2)]
    io = [IoRow("sequential", 1, 20, 20, 0, 0, elapsed_s=10.0, speedup=1.0),
          IoRow("threadpool", 20, 20, 20, 0, 0, elapsed_s=0.5, speedup=20.0, gil_contention=0.01)]
    env = {"cpu_count": 2, "busy_cpus_at_start": 1.2}
    keys = _keys(lessons(rows, io, env))
    assert keys == ["load", "gil", "compiled", "processes", "openmp", "single_core", "io", "dask", "problems"]
    assert [f.__name__ for f in ORDER][0] == "machine_load" and ORDER[-1].__name__ == "problems"
    problems = lessons(rows, io, env)[-1]
    assert problems.kind == "problem" and "FAILED" in problems.text and "WRONG ANSWER" in problems.text
    assert "no OpenMP" in problems.text


def test_no_findings_without_rows() -> None:
    assert findings.findings([]) == [] and lessons() == []
    assert lessons(env={"cpu_count": 2, "busy_cpus_at_start": 2.0}) == []  # no run, no warning


def test_load_warning_only_when_the_machine_was_busy() -> None:
    busy = findings.findings(FOUR, env={"load_average": [2.4, 2.0, 1.0], "cpu_count": 2})
    assert busy[0].startswith("Before the run the 1-minute load average was 2.4 on 2 CPU(s)")
    idle = findings.findings(FOUR, env={"load_average": [0.1, 0.1, 0.1], "cpu_count": 2})
    assert not any("load average" in line for line in idle)
    # The load average still remembers the lab's own previous run; the short sample does not.
    env = {"load_average": [1.8, 1.0, 0.5], "cpu_count": 2, "busy_cpus_at_start": 0.05}
    assert lessons(FOUR, env=env)[0].key == "gil"
    env["busy_cpus_at_start"] = 1.2
    assert findings.findings(FOUR, env=env)[0].startswith("As the run started, other programs kept 1.2 of 2")


def test_thresholds_are_the_named_constants() -> None:
    just_below = _kernel_rows("primes", NO_GAIN + 0.01, REAL_GAIN, 1.0)
    assert not lessons(just_below)[0].text.startswith("The GIL serialised")
    at = _kernel_rows("primes", NO_GAIN, REAL_GAIN, 1.0)
    assert lessons(at)[0].text.startswith("The GIL serialised")
    assert span([0.93, 1.02]) == "0.93\u20131.02x" and span([1.5, 1.5]) == "1.50x"
