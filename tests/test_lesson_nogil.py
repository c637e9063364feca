"""The lesson "Without the GIL", from made rows: which sources it compares, and its figures."""

from __future__ import annotations

from typing import Any

import pytest

from labsrc.report.lessons import lessons
from labsrc.report.lessons.common import Run
from labsrc.report.lessons.nogil import pick_sources, without_gil
from made_cells import make_cell

GIL_313 = {"python_implementation": "CPython", "python_version": "3.13.5", "free_threaded_build": False,
           "gil_enabled": True}
FREE_313 = {**GIL_313, "free_threaded_build": True, "gil_enabled": False}
RELOCKED_313 = {**FREE_313, "gil_enabled": True}


def rows(suffix: str, py_seq: float, py_threads: float, c_seq: float = 1000.0,
         cy_gil_threads: float = 1.0, kernel: str = "primes") -> list[Any]:
    """seq and threads x2 cells of py, cy_gil and cy_nogil; throughputs in work units/s."""
    return [
        make_cell("py" + suffix, "seq", 1, speedup=1.0, throughput=py_seq, kernel=kernel),
        make_cell("py" + suffix, "threads", 2, speedup=py_threads, throughput=py_seq * py_threads, kernel=kernel),
        make_cell("cy_gil" + suffix, "seq", 1, speedup=1.0, throughput=c_seq, kernel=kernel),
        make_cell("cy_gil" + suffix, "threads", 2, speedup=cy_gil_threads, throughput=c_seq * cy_gil_threads,
                  kernel=kernel),
        make_cell("cy_nogil" + suffix, "seq", 1, speedup=1.0, throughput=c_seq, kernel=kernel),
        make_cell("cy_nogil" + suffix, "threads", 2, speedup=1.95, throughput=c_seq * 1.95, kernel=kernel),
    ]


def test_like_for_like_tax_scaling_net_and_the_lock() -> None:
    host = {**GIL_313, "interpreters": {"3.13t": FREE_313, "3.13t+gil": RELOCKED_313}}
    cells = (rows("", 60.0, 1.0) + rows("@3.13t", 30.0, 1.9, c_seq=990.0, cy_gil_threads=1.9)
             + rows("@3.13t+gil", 31.0, 1.02))
    found = without_gil(Run(tuple(cells), (), host))
    assert found is not None
    assert "3.13.5t against 3.13.5: the same release, like for like" in found.text
    assert "0.50x the GIL build's work/s" in found.text  # 30 / 60
    assert "the C twins at 0.99x" in found.text
    assert "two threads of py scaled 1.90x and cy_gil 1.90x" in found.text
    assert "0.95x" in found.text and "about even" in found.text  # best py there 57 / 60
    assert "PYTHON_GIL=1 the same build's py threads ran at 1.02x: the lock" in found.text
    (row,) = found.rows
    assert row[0] == "primes" and row[1] == "0.50x" and row[-1] == "1.02x"
    assert row[6].startswith("0.95x (threads x2)")


def test_mixed_versions_are_said_plainly_and_the_same_release_is_preferred() -> None:
    host = {**GIL_313, "python_version": "3.11.7",
            "interpreters": {"3.13t": FREE_313}}
    found = without_gil(Run(tuple(rows("", 60.0, 1.0) + rows("@3.13t", 30.0, 1.9)), (), host))
    assert found is not None and "MIXES VERSIONS" in found.text
    both = {**host, "interpreters": {"3.13": GIL_313, "3.13t": FREE_313}}
    free, ref, relocked = pick_sources(Run((), (), both)) or pytest.fail("no sources")
    assert (free.suffix, ref.suffix, relocked) == ("@3.13t", "@3.13", None)


def test_a_net_gain_is_called_a_gain() -> None:
    host = {**GIL_313, "interpreters": {"3.13t": FREE_313}}
    found = without_gil(Run(tuple(rows("", 40.0, 1.0) + rows("@3.13t", 30.0, 1.9)), (), host))
    assert found is not None and "gains by switching" in found.text  # 57 / 40


def test_no_lesson_without_both_kinds_of_build() -> None:
    assert without_gil(Run(tuple(rows("", 60.0, 1.0)), (), GIL_313)) is None
    only_free = {**FREE_313, "interpreters": {}}
    assert without_gil(Run(tuple(rows("", 30.0, 1.9)), (), only_free)) is None
    host = {**GIL_313, "interpreters": {"3.13t": FREE_313}}
    assert "nogil" in [f.key for f in lessons(rows("", 60.0, 1.0) + rows("@3.13t", 30.0, 1.9), (), host)]


def test_a_free_threaded_host_compares_with_a_gil_interpreter() -> None:
    host = {**FREE_313, "interpreters": {"3.13": GIL_313}}
    found = without_gil(Run(tuple(rows("", 30.0, 1.9) + rows("@3.13", 60.0, 1.0)), (), host))
    assert found is not None and "like for like" in found.text and "0.50x" in found.text


def test_mortal_constants_there_are_a_caution_and_their_absence_is_silent() -> None:
    mortal = ["mandelbrot._escape_count: 0.0, 4.0, 2.0"]
    cells = tuple(rows("", 60.0, 1.0) + rows("@3.13t", 30.0, 1.5))
    warned = without_gil(Run(cells, (), {**GIL_313, "interpreters": {
        "3.13t": {**FREE_313, "mortal_kernel_constants": mortal}}}))
    assert warned is not None
    assert "Caution: there the pure kernels' constants were mortal in 1 places" in warned.text
    assert "mandelbrot._escape_count: 0.0, 4.0, 2.0" in warned.text
    quiet = without_gil(Run(cells, (), {**GIL_313, "interpreters": {
        "3.13t": {**FREE_313, "mortal_kernel_constants": []}}}))
    assert quiet is not None and "Caution" not in quiet.text
