"""The speed goals' verdicts, from fixed cells (no timing here: benchmarks are not tests)."""

from __future__ import annotations

from labsrc.measure import Cell
from labsrc.targets import GOALS, Goal, evaluate, format_verdicts


def _cell(impl: str, executor: str, workers: int, speedup: float = 1.0, throughput: float = 1.0,
          kernel: str = "primes") -> Cell:
    return Cell(kernel, impl, executor, workers, speedup=speedup, throughput=throughput, wall_s=1.0)


def test_verdicts_use_this_runs_cells() -> None:
    cells = [
        _cell("py", "seq", 1, throughput=10.0),
        _cell("py", "threads", 2, speedup=0.97),
        _cell("cy_nogil", "seq", 1, throughput=250.0),
        _cell("cy_nogil", "threads", 2, speedup=1.85),
        _cell("cy_gil", "threads", 2, speedup=1.2),
    ]
    by_goal = {(v.goal.impl, v.goal.executor, v.goal.metric): v for v in evaluate(cells)}
    assert by_goal[("cy_nogil", "seq", "vs_py")].value == 25.0
    assert by_goal[("cy_nogil", "seq", "vs_py")].met is True  # primes: >= 18x
    assert by_goal[("cy_nogil", "threads", "speedup")].met is False  # 1.85 < 1.9
    assert by_goal[("cy_gil", "threads", "speedup")].met is False  # 1.2 > 1.05
    assert by_goal[("py", "threads", "speedup")].met is True
    assert by_goal[("py", "procs", "speedup")].value is None  # not measured: said, not guessed
    text = format_verdicts(evaluate(cells))
    assert "25.000x" in text and "MISSED" in text and "not measured" in text
    assert "2 of 5 goals met" in text  # no cy_prange cell here, so no prange goal


def test_goals_skip_kernels_without_the_implementation() -> None:
    cells = [_cell("py", "seq", 1, kernel="sha256"), _cell("cy_nogil", "seq", 1, kernel="sha256")]
    kernels_for_prange = [v.kernel for v in evaluate(cells) if v.goal.impl == "cy_prange"]
    assert kernels_for_prange == []
    only = Goal("sha256", "cy_nogil", "seq", 1, "vs_py", ">=", 50, "test")
    assert [v.kernel for v in evaluate(cells, [only])] == ["sha256"]
    assert any(g.impl == "cy_prange" for g in GOALS)


def test_failed_cells_do_not_count_as_measured() -> None:
    failed = _cell("cy_nogil", "threads", 2, speedup=3.0)
    failed.status = "failed"
    cells = [_cell("cy_nogil", "seq", 1), failed]
    verdict = next(v for v in evaluate(cells) if v.goal.executor == "threads" and v.goal.impl == "cy_nogil")
    assert verdict.value is None and verdict.met is None
