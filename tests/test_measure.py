"""Measurement: the plan, calibration, verification, failures and speedups."""

from __future__ import annotations

import math
import time

from labsrc.kernels import get_kernel
from labsrc.kernels.catalog import Impl, Kernel
from labsrc.measure import (
    Cell,
    Options,
    calibrate,
    fill_speedups,
    inner_threads_for,
    measure_cell,
    plan,
    run_matrix,
)

FAST = Options(repeats=2, tasks=4, scale=1)


def test_plan_always_has_a_seq_baseline_and_seq_runs_once() -> None:
    planned = plan([get_kernel("noop")], ["spin"], ["threads", "seq"], [1, 2])
    (only,) = planned
    assert only.cells[0] == ("seq", 1)
    assert ("seq", 2) not in only.cells
    assert ("threads", 1) in only.cells and ("threads", 2) in only.cells


def test_prange_rule() -> None:
    prange = Impl("p", "m", "f", releases_gil=True, description="", inner_threads=True)
    plain = Impl("q", "m", "f", releases_gil=True, description="")
    assert inner_threads_for(prange, "seq", 2) == 2
    assert inner_threads_for(prange, "threads", 2) == 1
    assert inner_threads_for(prange, "procs", 4) == 1
    assert inner_threads_for(plain, "seq", 2) is None
    kernel = Kernel("k", "", (prange,), lambda t, s: [], lambda a, r: None, 1, 1)
    (item,) = plan([kernel], None, ["seq", "threads"], [1, 2])
    assert ("seq", 2) in item.cells


def test_calibration_reaches_the_target() -> None:
    kernel = get_kernel("noop")

    def sleepy(i: int, scale: int) -> int:
        time.sleep(scale * 0.001)  # sleep never returns early: a lower bound on the work
        return i

    scale = calibrate(kernel, sleepy, {}, tasks=2, target_s=0.02, start=1)
    assert scale * 2 * 0.001 >= 0.02 * 0.5  # reached about the target, never stuck at the start
    assert scale > 1


def test_a_cell_is_measured_and_verified() -> None:
    noop = get_kernel("noop")
    cell = measure_cell(noop, noop.impl("spin"), "threads", 2, noop.make_workload(4, 1), 1, FAST)
    assert cell.ok and cell.verified
    assert len(cell.walls) == 2
    assert cell.wall_min_s <= cell.wall_s <= cell.wall_max_s
    assert cell.cpu_s >= 0 and 0 <= cell.gil_contention <= 1
    assert len(cell.spans) == 4


def test_wrong_answers_fail_loudly() -> None:
    faults = get_kernel("faults")
    for ex in ("seq", "threads", "procs"):
        cell = measure_cell(faults, faults.impl("wrong"), ex, 2, faults.make_workload(4, 1), 1, FAST)
        assert cell.status == "failed" and not cell.verified
        assert "WRONG ANSWER" in cell.reason


def test_a_raising_task_and_a_crashed_worker_fail_the_cell() -> None:
    faults = get_kernel("faults")
    work = faults.make_workload(4, 1)
    raised = measure_cell(faults, faults.impl("raises"), "threads", 2, work, 1, FAST)
    assert raised.status == "failed" and "ValueError" in raised.reason
    crashed = measure_cell(faults, faults.impl("crash"), "procs", 2, work, 1, FAST)
    assert crashed.status == "failed" and "died" in crashed.reason


def test_unbuilt_and_unavailable_are_rows_not_tracebacks() -> None:
    faults = get_kernel("faults")
    result = run_matrix(plan([faults], ["missing", "ok"], ["seq", "interp"], [1]), FAST)
    by_impl = {(c.impl, c.executor): c for c in result.cells}
    assert by_impl[("missing", "*")].status == "skipped"
    assert "cannot be imported" in by_impl[("missing", "*")].reason
    assert by_impl[("ok", "seq")].ok
    interp = by_impl[("ok", "interp")]
    assert interp.status in ("ok", "unavailable")


def test_speedups_compare_each_impl_with_its_own_seq() -> None:
    cells = [
        Cell("k", "a", "seq", 1, wall_s=2.0),
        Cell("k", "a", "threads", 2, wall_s=1.0),
        Cell("k", "b", "seq", 1, wall_s=0.5),
        Cell("k", "b", "threads", 2, wall_s=0.5),
        Cell("k", "c", "threads", 2, wall_s=0.5),  # no baseline: no speedup
    ]
    fill_speedups(cells)
    assert [c.speedup for c in cells[:4]] == [1.0, 2.0, 1.0, 1.0]
    assert cells[1].efficiency == 1.0
    assert math.isnan(cells[4].speedup)
