"""The machine's parallel ceiling: its bookkeeping (rounds, cells, JSON, table, lesson, env),
not its value, which is the machine's."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from labsrc import cli
from labsrc.core import ceiling
from labsrc.core.results import Cell
from labsrc.harness.matrix import plan, run_matrix
from labsrc.harness.timing import Options
from labsrc.kernels import get_kernel
from labsrc.report import tables
from labsrc.report.lessons.common import Run
from labsrc.report.lessons.run import ceiling_warning, machine_load
from made_cells import make_cell


def test_the_spin_is_built_and_gives_the_same_state_everywhere() -> None:
    spin, reason = ceiling.load_spin()
    assert spin is not None, reason
    assert spin(0) == 88172645463325252
    assert spin(3) == spin(3) != spin(4)


def test_a_round_gives_each_worker_count_workers_x_alone_over_together(monkeypatch: Any) -> None:
    monkeypatch.setattr(ceiling, "_timed", lambda spin, steps: 0.05)
    pieces = []

    def together(spin: Any, steps: int, n: int, chunks: int) -> float:
        pieces.append((n, chunks))
        return 0.05 * n / 1.5

    monkeypatch.setattr(ceiling, "_timed_together", together)
    sampler = ceiling.CeilingSampler([1, 2, 3, 2])
    assert sampler.worker_counts == [2, 3]
    for _ in range(4):
        sampler.sample(tasks=12)
    assert pieces[:2] == [(2, 6), (3, 4)]  # each worker's share cut as the cells' tasks are
    assert sampler.ratios(2) == pytest.approx((1.5,) * 4)
    assert sampler.ratios(3) == pytest.approx((1.5,) * 4)
    assert sampler.ratios(1) == ()


def test_process_cells_get_the_process_ceiling_from_a_pool_kept_for_their_rounds() -> None:
    result = run_matrix(plan([get_kernel("primes")], ["py"], ["seq", "threads", "procs"], [1, 2]),
                        Options(repeats=2, tasks=4, scale=1, quick=True, payloads=("recipe",)))
    by_cell = {(c.executor, c.workers): c for c in result.cells}
    threads, procs = by_cell[("threads", 2)], by_cell[("procs", 2)]
    assert len(threads.ceiling_ratios) == len(procs.ceiling_ratios) == 2
    assert threads.ceiling_ratios != procs.ceiling_ratios  # two measures, not one copied
    assert all(r > 0 for r in procs.ceiling_ratios)
    assert list(ceiling.run_ceilings(result.cells)) == ["2", "2 processes"]
    import multiprocessing

    assert multiprocessing.active_children() == []  # the ceiling's pool is gone with its rounds


def test_threads_really_run_together_and_are_all_waited_for() -> None:
    spin, _ = ceiling.load_spin()
    assert spin is not None
    pieces = []

    def counted(steps: int) -> int:
        pieces.append(steps)  # list.append is atomic, GIL or none
        return spin(steps)

    took = ceiling._timed_together(counted, 1 << 16, 3, chunks=4)
    assert 0 < took < ceiling.JOIN_TIMEOUT_S
    assert pieces == [1 << 14] * 12  # 3 workers x 4 pieces of a quarter each: all done, none twice


def test_a_missing_spin_is_said_not_guessed(monkeypatch: Any) -> None:
    monkeypatch.setattr(ceiling, "load_spin", lambda: (None, "cext._spin is not built (x)"))
    sampler = ceiling.CeilingSampler([2])
    sampler.sample()
    assert not sampler.available and sampler.ratios(2) == ()
    with pytest.raises(RuntimeError, match="cext._spin is not built"):
        ceiling.measure([2])


def test_every_parallel_cell_gets_one_ceiling_per_round() -> None:
    result = run_matrix(plan([get_kernel("primes")], ["py"], ["seq", "threads"], [1, 2]),
                        Options(repeats=3, tasks=4, scale=1, quick=True))
    by_workers = {(c.executor, c.workers): c for c in result.cells}
    assert by_workers[("seq", 1)].ceiling_ratios == () and math.isnan(by_workers[("seq", 1)].ceiling)
    parallel = by_workers[("threads", 2)]
    assert len(parallel.ceiling_ratios) == 3 and all(r > 0 for r in parallel.ceiling_ratios)
    assert parallel.of_ceiling == pytest.approx(parallel.speedup / parallel.ceiling)
    row = json.loads(json.dumps(parallel.as_dict()))
    assert row["ceiling"] == pytest.approx(parallel.ceiling)
    assert Cell.from_dict(row).ceiling_ratios == parallel.ceiling_ratios
    assert "ceiling_ratios" not in parallel.as_dict(raw=False)


def test_run_ceilings_count_each_implementations_rounds_once() -> None:
    threads = make_cell("py", "threads", 2, ceiling_ratios=(1.8, 1.9, 2.0))
    interp = make_cell("py", "interp", 2, ceiling_ratios=(1.8, 1.9, 2.0))  # the same rounds, threads
    procs = make_cell("py", "procs", 2, ceiling_ratios=(1.7, 1.8, 1.9))  # the process ceiling
    mp_pool = make_cell("py", "mp_pool", 2, ceiling_ratios=(1.7, 1.8, 1.9))
    other = make_cell("cy_nogil", "threads", 2, ceiling_ratios=(1.0, 1.1, 1.2))
    there = make_cell("py@3.13t", "threads", 2, ceiling_ratios=(0.5,))  # the other run's own
    found = ceiling.run_ceilings([threads, interp, procs, mp_pool, other, there, make_cell("py", "seq", 1)])
    assert list(found) == ["2", "2 processes"]
    assert found["2"]["rounds"] == 6 and found["2"]["min"] == 1.0 and found["2"]["max"] == 2.0
    assert found["2 processes"]["rounds"] == 3 and found["2 processes"]["median"] == 1.8
    assert ceiling.describe(found) == ("2 workers: 1.50x (1.00-2.00x, 6 rounds); "
                                       "2 processes: 1.80x (1.70-1.90x, 3 rounds)")
    assert ceiling.too_low(found) == []
    assert ceiling.too_low({"2": ceiling.summary([1.1, 1.0, 1.15])}) == ["2"]


def test_the_table_shows_the_speedup_over_the_ceiling_and_the_legend_its_figures() -> None:
    cell = make_cell("cy_nogil", "threads", 2, speedup=1.6, ceiling_ratios=(1.6, 1.65, 1.55))
    assert "vs ceil" in tables.format_table([cell]) and "100%" in tables.format_table([cell])
    env = {"ceiling": ceiling.run_ceilings([cell])}
    assert "(here 2 workers: 1.60x (1.55-1.65x, 3 rounds))" in tables.legend(env)


def test_a_low_ceiling_is_said_first_and_a_far_one_explained() -> None:
    cells = (make_cell("py", "threads", 2),)
    low = {"ceiling": {"2": ceiling.summary([1.05, 1.1, 1.0])}}
    assert ceiling_warning(low).startswith("This run cannot teach parallel speedups")
    found = machine_load(Run(cells, (), low))
    assert found is not None and found.text.startswith("This run cannot teach")
    far = {"ceiling": {"2": ceiling.summary([1.5, 1.6, 1.7])}}
    assert ceiling_warning(far) == ""
    found = machine_load(Run(cells, (), far))
    assert found is not None and "a plain C loop got 1.60x from 2 workers" in found.text
    assert machine_load(Run(cells, (), {"ceiling": {"2": ceiling.summary([1.95, 1.9])}})) is None


def test_env_ceiling_measures_it_alone(capsys: Any) -> None:
    assert cli.main(["env", "--ceiling", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["ceiling"]
    for kind in ("2", "2 processes"):
        assert shown[kind]["rounds"] == 5 and shown[kind]["min"] <= shown[kind]["median"] <= shown[kind]["max"]


def test_the_threads_lesson_quotes_the_share_of_the_ceiling() -> None:
    from labsrc.report.lessons.threads import gil_released

    cells = (make_cell("py", "threads", 2, speedup=1.0), make_cell("cy_nogil", "threads", 2, speedup=1.6,
                                                                   ceiling_ratios=(1.6, 1.62, 1.58)))
    found = gil_released(Run(cells, (), {}))
    assert found is not None and "reached 1.60x, 100% of what this machine gave a plain C loop" in found.text
    unmeasured = gil_released(Run((cells[0], make_cell("cy_nogil", "threads", 2, speedup=1.6)), (), {}))
    assert unmeasured is not None and "plain C loop" not in unmeasured.text


def test_a_cell_above_its_rounds_ceiling_shows_the_ceiling_read_low() -> None:
    from labsrc.report.lessons.threads import gil_released

    low = {"ceiling": {"2": ceiling.summary([1.5, 1.6, 1.7])}}
    beaten = make_cell("cy_nogil", "threads", 2, speedup=1.98, ceiling_ratios=(1.5, 1.6, 1.7))
    cells = (make_cell("py", "threads", 2, speedup=1.0), beaten)
    found = machine_load(Run(cells, (), low))
    assert found is not None and found.text.startswith("The machine's ceiling read low in this run: "
                                                       "primes/cy_nogil/threadsx2 reached 1.98x, 124% of the 1.60x")
    assert "read every parallel speedup against it" not in found.text
    lesson = gil_released(Run(cells, (), low))
    assert lesson is not None and "plain C loop" not in lesson.text
    too_low_env = {"ceiling": {"2": ceiling.summary([1.05, 1.1, 1.0])}}
    assert ceiling_warning(too_low_env, [make_cell("cy_nogil", "threads", 2, speedup=1.9,
                                                    ceiling_ratios=(1.0, 1.05, 1.1))]) == ""
    assert ceiling_warning(too_low_env, [make_cell("cy_nogil", "threads", 2, speedup=1.04,
                                                    ceiling_ratios=(1.0, 1.05, 1.1))]) != ""


def test_a_median_above_the_ceiling_within_its_own_noise_does_not_discredit_it() -> None:
    # py procs 2.05x (noise 1.79-2.17x) beside a process ceiling of 1.94x: noise, not a low read.
    noisy = make_cell("py", "procs", 2, speedup=2.05, ceiling_ratios=(1.92, 1.94, 1.96),
                      walls=(0.9 / 2.05, 1 / 2.05, 1.0 / 1.79), baseline_min_s=1.0)
    assert noisy.speedup_low == pytest.approx(1.79) and noisy.of_ceiling > 1.05
    assert ceiling.beat_the_ceiling([noisy]) is None
    # A process cell beyond its noise is its workers' pace, not the ceiling's error.
    faster = make_cell("py", "procs", 2, speedup=2.10, ceiling_ratios=(1.85,),
                       walls=(0.9 / 2.1, 1 / 2.1, 1.0 / 2.08), baseline_min_s=1.0)
    assert faster.speedup_low > ceiling.READ_LOW * faster.ceiling and ceiling.beat_the_ceiling([faster]) is None
    beyond = make_cell("cy_nogil", "threads", 2, speedup=1.98, ceiling_ratios=(1.5, 1.6, 1.7),
                       walls=(0.9 / 1.98, 1 / 1.98, 1.0 / 1.9), baseline_min_s=1.0)
    assert ceiling.beat_the_ceiling([noisy, beyond]) is beyond
