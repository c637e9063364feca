"""The speed goals' verdicts, from fixed cells (no timing here: benchmarks are not tests)."""

from __future__ import annotations

import pytest

from labsrc.core.names import Payload
from labsrc.core.results import Cell
from labsrc.bench.targets import GOALS, Goal, evaluate, format_verdicts


def _cell(impl: str, executor: str, workers: int, speedup: float = 1.0, throughput: float = 1.0,
          kernel: str = "primes", best: float | None = None) -> Cell:
    """A cell whose median and fastest runs give `speedup` (or `best`) against a 1 s baseline;
    `throughput` sets its work (tasks * scale) per median second."""
    wall = 1.0 / speedup
    fastest = 0.9 / (best if best is not None else speedup)
    # Three runs: the fastest, the median, and a slower one; the baseline's fastest is 0.9 s.
    return Cell(kernel, impl, executor, workers, tasks=1, scale=round(throughput * wall * 1000),
                walls=(fastest, wall, 1.1 * wall), baseline_s=1.0)


def _base(impl: str, throughput: float = 1.0, kernel: str = "primes") -> Cell:
    return _cell(impl, "seq", 1, throughput=throughput, kernel=kernel)


def test_verdicts_use_this_runs_cells() -> None:
    cells = [
        _base("py", throughput=10.0),
        _cell("py", "threads", 2, speedup=0.97),
        _base("cy_nogil", throughput=250.0),
        _cell("cy_nogil", "threads", 2, speedup=1.85),
        _base("cy_gil"),
        _cell("cy_gil", "threads", 2, speedup=1.2),
    ]
    by_goal = {(v.goal.impl, v.goal.executor, v.goal.metric): v for v in evaluate(cells)}
    assert by_goal[("cy_nogil", "seq", "vs_py")].value == pytest.approx(25.0)
    assert by_goal[("cy_nogil", "seq", "vs_py")].met is True  # primes: >= 18x
    assert by_goal[("cy_nogil", "threads", "speedup")].met is False  # 1.85 < 1.9
    assert by_goal[("cy_gil", "threads", "speedup")].met is False  # 1.2 > 1.05
    assert by_goal[("py", "threads", "speedup")].met is True
    assert by_goal[("py", "procs", "speedup")].value is None  # not measured: said, not guessed
    text = format_verdicts(evaluate(cells))
    assert "25.000x" in text and "MISSED" in text and "not measured" in text
    # No cy_prange cell here, so no prange goal; the threading, mp_pool, interp and Dask
    # goals of py, cy_gil and cy_nogil count, as not measured.
    assert "2 of 13 goals met" in text


def test_goals_skip_kernels_without_the_implementation() -> None:
    cells = [_base("py", kernel="sha256"), _base("cy_nogil", kernel="sha256")]
    kernels_for_prange = [v.kernel for v in evaluate(cells) if v.goal.impl == "cy_prange"]
    assert kernels_for_prange == []
    only = Goal("sha256", "cy_nogil", "seq", 1, "vs_py", ">=", 50, "test")
    assert [v.kernel for v in evaluate(cells, [only])] == ["sha256"]
    assert any(g.impl == "cy_prange" for g in GOALS)


def test_failed_cells_do_not_count_as_measured() -> None:
    failed = _cell("cy_nogil", "threads", 2, speedup=3.0)
    failed.status = "failed"
    cells = [_base("cy_nogil"), failed]
    verdict = next(v for v in evaluate(cells) if v.goal.executor == "threads" and v.goal.impl == "cy_nogil")
    assert verdict.value is None and verdict.best is None and verdict.met is None


def test_verdict_is_judged_on_the_fastest_runs_and_shows_both() -> None:
    # Median 1.7x (a noisy run), fastest runs 1.95x: met on best, both figures printed.
    cells = [_base("cy_nogil"), _cell("cy_nogil", "threads", 2, speedup=1.7, best=1.95)]
    verdict = next(v for v in evaluate(cells) if v.goal.executor == "threads")
    assert verdict.value == pytest.approx(1.7) and verdict.best == pytest.approx(1.95)
    assert verdict.met is True
    text = format_verdicts([verdict])
    assert "1.700x" in text and "1.950x" in text and "met" in text


def test_process_goals_are_judged_on_the_recipe_payload() -> None:
    data = _cell("py", "procs", 2, speedup=0.9)
    data.payload = Payload.DATA
    recipe = _cell("py", "procs", 2, speedup=1.9)
    recipe.payload = Payload.RECIPE
    verdict = next(v for v in evaluate([_base("py"), data, recipe]) if v.goal.executor == "procs")
    assert verdict.value == pytest.approx(1.9) and verdict.met is True


def test_executor_ratio_goals_are_judged_within_a_band() -> None:
    """threading vs threads: speed ratio on the same work, met only within +-10% of 1."""
    base = _base("cy_nogil")
    threads = _cell("cy_nogil", "threads", 2, speedup=1.9)
    close = _cell("cy_nogil", "threading", 2, speedup=1.8)  # 1.8/1.9 = 0.947: within 10%
    far = _cell("cy_nogil", "threading", 2, speedup=1.5)  # 0.79: slower by more than 10%
    fast = _cell("cy_nogil", "threading", 2, speedup=2.2)  # 1.16: suspiciously faster, also out
    for cell in (base, threads, close, far, fast):
        cell.scale = 1000  # the same work in every cell, as in a real run
    goal = next(g for g in GOALS if g.executor == "threading" and g.impl == "cy_nogil")
    (verdict,) = evaluate([base, threads, close], [goal])
    assert verdict.value == pytest.approx(1.8 / 1.9) and verdict.met is True
    assert evaluate([base, threads, far], [goal])[0].met is False
    assert evaluate([base, threads, fast], [goal])[0].met is False
    assert evaluate([base, close], [goal])[0].value is None  # no threads cell: not measured
    assert "speed vs threads within 10%" in format_verdicts([verdict])


def test_goals_about_releasing_the_gil_are_judged_against_the_machines_ceiling() -> None:
    nogil = _cell("cy_nogil", "threads", 2, speedup=1.6)
    nogil.ceiling_ratios = (1.62, 1.65, 1.7)  # what a plain C loop got in the same rounds
    held = _cell("py", "threads", 2, speedup=1.04)
    held.ceiling_ratios = (1.62, 1.65, 1.7)
    cells = [_base("cy_nogil"), nogil, _base("py"), held]
    by_impl = {(v.goal.impl, v.goal.executor): v for v in evaluate(cells) if v.goal.metric == "speedup"}
    released = by_impl[("cy_nogil", "threads")]
    assert released.ceiling == pytest.approx(1.65)
    assert released.bound == pytest.approx(1.9 * 1.65 / 2)  # 95% of the ceiling
    assert released.best == pytest.approx(1.6) and released.met is True
    serialised = by_impl[("py", "threads")]  # proving the GIL serialises stays absolute
    assert serialised.ceiling is None and serialised.bound == 1.05 and serialised.met is True
    text = format_verdicts([released, serialised])
    assert "1.65x" in text and "met (>= 1.57x here: 82% of the goal)" in text
    nogil.ceiling_ratios = (2.3, 2.4, 2.5)  # above the cores: noise, never a harder goal
    (again,) = [v for v in evaluate(cells) if (v.goal.impl, v.goal.executor) == ("cy_nogil", "threads")]
    assert again.bound == pytest.approx(1.9) and again.met is False
    nogil.ceiling_ratios = ()  # not measured: the absolute goal
    (plain,) = [v for v in evaluate(cells) if (v.goal.impl, v.goal.executor) == ("cy_nogil", "threads")]
    assert plain.ceiling is None and plain.met is False


def test_a_ceiling_that_a_cell_beat_read_low_and_judges_nothing() -> None:
    nogil = _cell("cy_nogil", "threads", 2, speedup=1.6)
    nogil.ceiling_ratios = (1.3, 1.4, 1.5)  # the C loop got much less than this cell: it read low
    cells = [_base("cy_nogil"), nogil]
    (verdict,) = [v for v in evaluate(cells) if (v.goal.impl, v.goal.executor) == ("cy_nogil", "threads")]
    assert verdict.ceiling == pytest.approx(1.4) and verdict.ceiling_read_low
    assert verdict.bound == pytest.approx(1.9) and verdict.met is False  # the absolute bound
    text = format_verdicts([verdict])
    assert "The ceiling read low in this run (primes cy_nogil threads x2 reached 1.60x, 114%" in text
    assert "judged by its absolute bound" in text and "here:" not in text
    nogil.ceiling_ratios = (1.55, 1.6, 1.65)  # within READ_LOW of it: the ceiling is trusted
    (trusted,) = [v for v in evaluate(cells) if (v.goal.impl, v.goal.executor) == ("cy_nogil", "threads")]
    assert not trusted.ceiling_read_low and trusted.met is True
