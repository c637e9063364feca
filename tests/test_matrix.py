"""The matrix and the timing of one cell: the plan, calibration, verification, payloads,
failures and speedups."""

from __future__ import annotations

import math
import time

import pytest

from labsrc.executors.registry import Work
from labsrc.kernels import get_kernel
from labsrc.kernels.catalog import Impl, Kernel
from labsrc.harness.matrix import CellSpec, calibrate, fill_baselines, plan, run_matrix
from labsrc.core.names import Payload, Status
from labsrc.core.results import Cell
from labsrc.harness.timing import Options, inner_threads_for, measure_cell

FAST = Options(repeats=2, tasks=4, scale=1)


def _work(kernel: Kernel, tasks: int = 4, scale: int = 1) -> Work:
    return Work(kernel.make_workload(tasks, scale), scale)


def test_plan_always_has_a_seq_baseline_and_seq_runs_once() -> None:
    planned = plan([get_kernel("noop")], ["spin"], ["threads", "seq"], [1, 2])
    (only,) = planned
    assert only.cells[0] == CellSpec("seq", 1)
    assert CellSpec("seq", 2) not in only.cells
    assert CellSpec("threads", 1) in only.cells and CellSpec("threads", 2) in only.cells


def test_plan_gives_process_executors_one_cell_per_payload() -> None:
    (item,) = plan([get_kernel("noop")], ["spin"], ["threads", "procs"], [2], tuple(Payload))
    assert item.cells == (CellSpec("seq", 1), CellSpec("threads", 2),
                          CellSpec("procs", 2, Payload.RECIPE), CellSpec("procs", 2, Payload.DATA))


def test_prange_rule() -> None:
    prange = Impl("p", "m", "f", releases_gil=True, description="", inner_threads=True)
    plain = Impl("q", "m", "f", releases_gil=True, description="")
    assert inner_threads_for(prange, "seq", 2) == 2
    assert inner_threads_for(prange, "threads", 2) == 1
    assert inner_threads_for(prange, "procs", 4) == 1
    assert inner_threads_for(plain, "seq", 2) is None
    kernel = Kernel("k", "", (prange,), lambda t, s: [], lambda a, r: None, 1, 1)
    (item,) = plan([kernel], None, ["seq", "threads"], [1, 2])
    assert CellSpec("seq", 2) in item.cells


def test_calibration_reaches_the_target() -> None:
    kernel = get_kernel("noop")

    def sleepy(i: int, scale: int) -> int:
        time.sleep(scale * 0.001)  # sleep never returns early: a lower bound on the work
        return i

    scale = calibrate(kernel, sleepy, {}, tasks=2, target_s=0.02, start=1)
    assert scale * 2 * 0.001 >= 0.02 * 0.5  # reached about the target, never stuck at the start
    assert scale > 1


def test_dask_cells_get_tasks_long_enough_for_dask() -> None:
    from labsrc.executors.registry import executor_available
    from labsrc.harness.matrix import _target_s

    primes = get_kernel("primes")
    (pools,) = plan([primes], ["py"], ["seq", "threads", "procs"], [2])
    (dask,) = plan([primes], ["py"], ["seq", "threads", "dask_threads"], [2])
    opts = Options(tasks=8, target_s=0.4)
    assert _target_s(pools, opts) == 0.4
    # 8 tasks of at least 0.2 s each where Dask can run; an unavailable row needs no work.
    assert _target_s(dask, opts) == (1.6 if executor_available("dask_threads")[0] else 0.4)
    assert _target_s(dask, Options(tasks=8, target_s=0.4, quick=True)) == 0.4


def test_a_cell_is_measured_and_verified() -> None:
    noop = get_kernel("noop")
    cell = measure_cell(noop, noop.impl("spin"), "threads", 2, _work(noop), FAST)
    assert cell.ok and cell.verified
    assert len(cell.walls) == 2
    assert cell.wall_min_s <= cell.wall_s <= cell.wall_max_s
    assert cell.cpu_s >= 0 and 0 <= cell.gil_contention <= 1
    assert len(cell.spans) == 4


def test_wrong_answers_fail_loudly() -> None:
    faults = get_kernel("faults")
    for ex in ("seq", "threads", "procs"):
        for payload in Payload:
            cell = measure_cell(faults, faults.impl("wrong"), ex, 2, _work(faults), FAST, payload)
            assert cell.status == "failed" and not cell.verified
            assert "WRONG ANSWER" in cell.reason


def test_a_raising_task_and_a_crashed_worker_fail_the_cell() -> None:
    faults = get_kernel("faults")
    work = _work(faults)
    raised = measure_cell(faults, faults.impl("raises"), "threads", 2, work, FAST)
    assert raised.status == "failed" and "ValueError" in raised.reason
    crashed = measure_cell(faults, faults.impl("crash"), "procs", 2, work, FAST)
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
        Cell("k", "a", "seq", 1, walls=(2.0,)),
        Cell("k", "a", "threads", 2, walls=(1.0, 1.1, 0.9)),
        Cell("k", "b", "seq", 1, walls=(0.5,)),
        Cell("k", "b", "threads", 2, walls=(0.5,)),
        Cell("k", "c", "threads", 2, walls=(0.5,)),  # no baseline: no speedup
    ]
    fill_baselines(cells)
    assert [c.speedup for c in cells[:4]] == [1.0, 2.0, 1.0, 1.0]
    assert cells[1].efficiency == 1.0
    assert math.isnan(cells[4].speedup)


def test_statistics_derive_from_the_raw_repeats() -> None:
    cell = Cell("k", "a", "threads", 2, tasks=4, scale=10, walls=(1.0, 3.0, 2.0), cpus=(1.5, 1.0, 2.0))
    assert (cell.wall_s, cell.wall_min_s, cell.wall_max_s, cell.cpu_s) == (2.0, 1.0, 3.0, 1.5)
    assert cell.noisy and cell.throughput == 20.0
    cell.walls = (1.0, 1.2)
    assert not cell.noisy and cell.wall_s == pytest.approx(1.1)


@pytest.mark.parametrize("kernel_name", ["arcfour", "mandelbrot", "primes"])
def test_payload_modes_give_identical_verified_answers(kernel_name: str) -> None:
    """recipe and data process cells run the same tasks: both verified, and the digest a
    recipe worker sends is the digest of the very answer a data worker ships back."""
    from labsrc.executors.registry import make_executor
    from labsrc.core.worker import TaskRef, digest

    kernel = get_kernel(kernel_name)
    impl = "cy_nogil" if kernel.impl("cy_nogil").available()[0] else "py"
    work = _work(kernel, tasks=3, scale=kernel.quick_scale)  # answers large enough to be digested
    ref = TaskRef(kernel_name, impl)
    answers = {}
    for payload in Payload:
        with make_executor("procs", 2, payload) as ex:
            ex.open(ref)
            answers[payload] = ex.run(ref, work).results
    for args, shipped in zip(work.args, answers[Payload.DATA]):
        kernel.verify(args, shipped)
    assert [digest(a) for a in answers[Payload.DATA]] == answers[Payload.RECIPE]
    cells = run_matrix(plan([kernel], [impl], ["procs"], [2], tuple(Payload)),
                       Options(repeats=1, tasks=3, scale=work.scale)).cells
    assert [(c.executor, c.payload, c.status) for c in cells] == [
        ("seq", None, Status.OK), ("procs", Payload.RECIPE, Status.OK), ("procs", Payload.DATA, Status.OK)]
    assert cells[1].ipc_bytes < 1000 and (cells[2].ipc_bytes > 4096 or kernel_name == "primes")
    assert all(c.verified for c in cells)


def test_a_large_answer_is_summarised_by_a_checksum_that_sees_every_byte() -> None:
    import numpy as np
    import xxhash

    from labsrc.core.worker import CHECKSUM_NAME, SMALL_ANSWER_BYTES, digest

    answer = np.arange(SMALL_ANSWER_BYTES + 1, dtype=np.uint8)
    summary = digest(answer)
    assert CHECKSUM_NAME == "xxh3_64"  # xxhash is a dependency, so never the fallback here
    assert summary.algorithm == CHECKSUM_NAME and summary.nbytes == answer.nbytes
    assert summary.checksum == xxhash.xxh3_64_intdigest(answer.tobytes())
    changed = answer.copy()
    changed[-1] ^= 1
    assert digest(changed).checksum != summary.checksum
    small = answer[:SMALL_ANSWER_BYTES]
    assert digest(small) is small and digest(7) == 7  # small answers travel whole


def test_a_digest_made_with_another_checksum_is_a_clear_error() -> None:
    """A worker must summarise with a checksum the parent can compute (CRC-32 or XXH3; a
    3.13t sub-interpreter sends CRC-32, tests/test_executors.py): for any other the check
    says which, instead of calling the answer wrong."""
    from labsrc.executors.registry import RunOutput
    from labsrc.kernels.catalog import VerificationError
    from labsrc.harness.timing import Checker
    from labsrc.core.worker import digest

    kernel = get_kernel("mandelbrot")
    work = _work(kernel, tasks=1, scale=kernel.quick_scale)
    impl = kernel.impl("py")
    right = digest(impl.load()(*work.args[0]))
    Checker(kernel, impl, work).check(RunOutput([right], [], 0.0))
    other = right._replace(algorithm="md5")
    with pytest.raises(VerificationError, match="with md5, this process can check crc32"):
        Checker(kernel, impl, work).check(RunOutput([other], [], 0.0))


def test_timed_runs_carry_no_probe_and_one_probed_run_gives_the_gil_figures(monkeypatch) -> None:
    """Speedups must not carry the heartbeat (it handicaps GIL-holding seq cells only), so
    the probe is entered exactly once per cell, around a run kept apart from the walls."""
    from labsrc.executors.base import Executor

    entered: list[str] = []
    real = Executor.gil_probe

    def counted(self: Executor):
        entered.append(self.name)
        return real(self)

    monkeypatch.setattr(Executor, "gil_probe", counted)
    kernel = get_kernel("primes")
    impl = kernel.impl("py")
    work = Work(kernel.make_workload(2, kernel.quick_scale), kernel.quick_scale)
    cell = measure_cell(kernel, impl, "threads", 2, work, Options(repeats=3))
    assert cell.ok and len(cell.walls) == 3
    assert len(entered) == 1
    assert math.isfinite(cell.probed_wall_s) and cell.probed_wall_s > 0
    assert math.isfinite(cell.gil_contention)
    assert math.isfinite(cell.probe_cost)

    entered.clear()
    quiet = measure_cell(kernel, impl, "seq", 1, work, Options(repeats=2, probe=False))
    assert quiet.ok and len(quiet.walls) == 2 and not entered
    assert math.isnan(quiet.probed_wall_s) and math.isnan(quiet.gil_contention)


def test_the_matrix_probes_each_cell_once_after_its_timed_rounds() -> None:
    kernel = get_kernel("primes")
    result = run_matrix(plan([kernel], ["py"], ["seq", "threads"], [2]),
                        Options(repeats=2, tasks=2, scale=kernel.quick_scale))
    assert len(result.cells) == 2
    for cell in result.cells:
        assert cell.ok and len(cell.walls) == 2
        assert math.isfinite(cell.probed_wall_s) and math.isfinite(cell.gil_contention)


def test_fill_baselines_carries_the_baselines_noise() -> None:
    seq = Cell("k", "py", "seq", 1, walls=(1.0, 1.2, 1.1))
    par = Cell("k", "py", "procs", 2, walls=(0.5, 0.6, 0.55))
    fill_baselines([seq, par])
    assert (par.baseline_s, par.baseline_min_s, par.baseline_max_s) == (1.1, 1.0, 1.2)
    assert par.speedup_low == pytest.approx(1.0 / 0.6)
    assert par.speedup_high == pytest.approx(1.2 / 0.5)
