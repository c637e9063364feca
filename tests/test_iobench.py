"""The lab's I/O driver: downloads probed, and downloads beside a CPU load (real server, tiny sizes)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from labsrc.harness.iobench import IO_FIELDS, check_io, measure_io_under_loads


def test_downloads_under_a_cpu_load_carry_the_load_and_its_work() -> None:
    rows = measure_io_under_loads(["threadpool"], 3, 0.01, ["primes/py:1", "primes/cy_nogil:1"])
    assert [(r.mode, r.cpu_load) for r in rows] == [
        ("threadpool", ""), ("threadpool", "primes/py:1"), ("threadpool", "primes/cy_nogil:1")]
    assert all(r.ok == 3 and r.errors == 0 and r.delay_s == 0.01 for r in rows)
    quiet, *loaded = rows
    assert math.isnan(quiet.vs_no_load) and math.isnan(quiet.load_work_per_s)
    for row in loaded:
        assert row.load_work_per_s > 0  # the load really ran (and its answers were verified)
        assert row.vs_no_load == pytest.approx(row.elapsed_s / quiet.elapsed_s)
    assert list(rows[1].as_dict()) == list(IO_FIELDS)


def test_bad_load_specs_are_rejected_before_anything_runs() -> None:
    for spec, needle in (("primes/nope:1", "nope"), ("primes/py:-1", "0..64"), ("nokernel/py:1", "nokernel")):
        with pytest.raises(ValueError, match=needle):
            check_io(["threadpool"], 3, 0.01, [spec])


def test_io_cpu_load_usage_error_exits_2() -> None:
    done = subprocess.run([sys.executable, "-m", "labsrc", "io", "--count", "2", "--cpu-load", "primes/fast:1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "gil-lab: error:" in done.stderr and "Traceback" not in done.stderr
