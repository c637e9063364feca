"""gil-lab bench's own figures (the timed ones are printed by the command, never asserted)."""

from __future__ import annotations

import pytest

from labsrc.bench.run import worker_paces

from made_cells import make_cell


def _spans(times_by_worker: dict[int, list[float]]) -> tuple[tuple[float, float, int], ...]:
    spans, at = [], 0.0
    for worker, times in times_by_worker.items():
        for took in times:
            spans.append((at, at + took, worker))
            at += took
    return tuple(spans)


def test_worker_paces_show_a_worker_process_slower_than_the_parent() -> None:
    seq = make_cell("py", "seq", 1, spans=_spans({1: [0.1, 0.1, 0.1, 0.1]}))
    procs = make_cell("py", "procs", 2, spans=_spans({11: [0.1, 0.1], 22: [0.125, 0.125]}))
    threads = make_cell("py", "threads", 2, spans=_spans({5: [0.2, 0.2], 6: [0.2, 0.2]}))
    dask_threads = make_cell("py", "dask_threads", 2, spans=_spans({8: [0.2, 0.2]}))  # one process
    # sha256 has no seq/1 cell here: nothing to compare with.
    other = make_cell("py", "mp_pool", 2, kernel="sha256", spans=_spans({7: [0.1]}))
    (line,) = worker_paces([seq, procs, threads, dask_threads, other])
    assert line.split()[:2] == ["primes/py", "procs[recipe]"]
    assert line.split()[2:] == ["1.00", "1.25"]


def test_limit_check_names_cells_above_the_cores_and_judges_them_by_their_noise() -> None:
    from labsrc.bench.run import limit_check
    from labsrc.core.results import Cell

    def cell(executor: str, walls: tuple[float, ...]) -> Cell:
        return Cell("primes", "py", executor, 2, walls=walls, baseline_s=2.0, baseline_min_s=1.9,
                    baseline_max_s=2.1, verified=True)

    fine = [cell("procs", (1.0, 1.05, 1.1)), cell("threads", (1.9, 2.0, 2.1))]
    assert limit_check(fine, 2).endswith(": met")
    within = fine + [cell("mp_pool", (0.97, 0.98, 0.99))]
    text = limit_check(within, 2)
    assert "1 with a median above 2x, 0 of them beyond" in text and "within noise" in text
    beyond = fine + [cell("mp_pool", (0.8, 0.81, 0.82))]
    text = limit_check(beyond, 2)
    assert "MISSED" in text.splitlines()[0] and "beyond noise" in text


def test_limit_check_names_worker_processes_faster_than_the_parent() -> None:
    from labsrc.bench.run import limit_check
    from labsrc.core.results import Cell

    def procs(task_s: float) -> Cell:
        # 2.6x the seq wall (2.0 s over 0.77 s), noise 2.44-2.76x: beyond the 2 cores either way
        return Cell("primes", "py", "procs", 2, walls=(0.76, 0.77, 0.78), baseline_s=2.0, baseline_min_s=1.9,
                    baseline_max_s=2.1, verified=True, spans=_spans({11: [task_s] * 4, 22: [task_s] * 4}))

    seq = Cell("primes", "py", "seq", 1, walls=(2.0,), baseline_s=2.0, verified=True,
               spans=_spans({1: [0.25] * 8}))
    faster = limit_check([seq, procs(0.19)], 2)  # each task in 0.76 of the parent's time
    assert faster.splitlines()[0].endswith("1 of them beyond their own min-max noise, 1 of those by "
                                           "faster worker processes: met")
    assert "its workers took 0.76 of the parent's task time: 1.974x at the parent's pace (explained)" in faster
    same_pace = limit_check([seq, procs(0.25)], 2)
    assert same_pace.splitlines()[0].endswith("0 of those by faster worker processes: MISSED")
    assert "(explained)" not in same_pace


def test_freethreading_section_refuses_what_it_cannot_measure(tmp_path) -> None:
    """--only freethreading: no interpreter named, a GIL build, or a missing path are usage
    errors (exit 2) before anything is measured."""
    import sys

    from labsrc import cli

    def exit_status(*argv: str) -> object:
        with pytest.raises(SystemExit) as stop:
            cli.main(["bench", "--only", "freethreading", *argv])
        return stop.value.code

    assert exit_status() == 2
    if not __import__("sysconfig").get_config_var("Py_GIL_DISABLED"):
        assert exit_status("--free-threaded", sys.executable) == 2
    assert exit_status("--free-threaded", str(tmp_path / "nope")) == 2


def test_freethreading_goals_name_the_free_and_the_relocked_rows() -> None:
    from labsrc.bench.freethreading import ft_goals
    from labsrc.bench.targets import evaluate
    from made_cells import make_cell

    goals = ft_goals("3.13t", "3.13t+gil")
    cells = [make_cell("py@3.13t", "seq", 1), make_cell("py@3.13t", "threads", 2, speedup=1.9),
             make_cell("py@3.13t+gil", "seq", 1), make_cell("py@3.13t+gil", "threads", 2, speedup=1.0)]
    verdicts = {(v.goal.impl, v.goal.op): v.met for v in evaluate(cells, goals)}
    assert verdicts == {("py@3.13t", ">="): True, ("py@3.13t+gil", "<="): True}
