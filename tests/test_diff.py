"""`gil-lab diff A B`: matching, ratios, the noise tests, bad input, JSON and the plot."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labsrc.report import tables as report
from labsrc.cliargs import UsageError
from labsrc.report.diff import Pair, _u_counts, diff_runs, format_diff, load_run, mann_whitney_p
from labsrc.core.names import Status
from labsrc.core.results import Cell

PNG = b"\x89PNG\r\n\x1a\n"
ENV_311 = {"python_implementation": "CPython", "python_version": "3.11.7", "gil_enabled": True,
           "timestamp": "2026-01-01T00:00:00"}


def gil_lab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labsrc", *args], capture_output=True, text=True, timeout=120)


def cell(impl: str, executor: str, workers: int, walls: Sequence[float], kernel: str = "primes",
         scale: int = 10, **fields: Any) -> Cell:
    return Cell(kernel, impl, executor, workers, tasks=4, scale=scale, repeats=len(walls),
                walls=tuple(walls), cpus=tuple(walls), verified=True, **fields)


def write(path: Path, cells: Sequence[Cell], env: dict[str, Any] = ENV_311) -> Path:
    report.write_json(path, env, cells)
    return path


# --- the rank test -------------------------------------------------------------------

def _brute_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided exact p by enumerating every split of the pooled values (no ties)."""
    pooled = list(a) + list(b)

    def u(xs: Sequence[float], ys: Sequence[float]) -> float:
        return sum(x > y for x in xs for y in ys)

    observed = u(a, b)
    splits = [u([pooled[i] for i in idx], [pooled[i] for i in range(len(pooled)) if i not in idx])
              for idx in itertools.combinations(range(len(pooled)), len(a))]
    lower = sum(s <= observed for s in splits)
    upper = sum(s >= observed for s in splits)
    return min(1.0, 2 * min(lower, upper) / len(splits))


def test_u_distribution_counts_every_ordering() -> None:
    for n, m in [(1, 1), (3, 3), (5, 5), (2, 7), (6, 4)]:
        counts = _u_counts(n, m)
        assert sum(counts) == math.comb(n + m, n) and counts == counts[::-1] and min(counts) > 0


def test_separated_samples_reach_the_smallest_p() -> None:
    assert mann_whitney_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)
    assert mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    assert mann_whitney_p([1.0] * 4, [1.0] * 4) == 1.0
    assert math.isnan(mann_whitney_p([], [1.0]))


@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=4, unique=True),
       st.lists(st.floats(2, 3, allow_nan=False), min_size=1, max_size=4, unique=True), st.randoms())
def test_exact_p_matches_brute_force(a: list[float], b: list[float], rnd: Any) -> None:
    pooled = a + b
    rnd.shuffle(pooled)  # mix the two ranges so every U, not only the extremes, is tried
    left, right = pooled[: len(a)], pooled[len(a):]
    p = mann_whitney_p(left, right)
    assert p == pytest.approx(_brute_p(left, right))
    assert p == pytest.approx(mann_whitney_p(right, left))


# --- matching and marking ---------------------------------------------------------------

def test_pairs_are_marked_only_beyond_the_noise_and_sorted_by_effect(tmp_path: Path) -> None:
    a = write(tmp_path / "a.json", [cell("py", "seq", 1, [1.0, 1.1, 1.2]),
                                    cell("py", "threads", 2, [1.0, 1.1, 1.2]),
                                    cell("cy_nogil", "seq", 1, [0.1, 0.11, 0.12]),
                                    cell("cy_gil", "seq", 1, [0.2, 0.2, 0.2])])
    b = write(tmp_path / "b.json", [cell("py", "seq", 1, [0.5, 0.55, 0.6]),  # 2x faster, apart
                                    cell("py", "threads", 2, [0.9, 1.15, 1.3]),  # overlapping
                                    cell("cy_nogil", "seq", 1, [0.13, 0.14, 0.15]),  # slower, apart
                                    cell("cy_prange", "seq", 2, [0.05, 0.05, 0.05])])
    d = diff_runs(load_run(a, "A"), load_run(b, "B"))
    assert [p.key[1:3] for p in d.pairs] == [("py", "seq"), ("cy_nogil", "seq"), ("py", "threads")]
    first, second, third = d.pairs
    assert first.ratio == pytest.approx(0.5) and first.ranges_apart and first.beyond_noise
    assert second.ratio == pytest.approx(14 / 11) and second.beyond_noise
    assert not third.ranges_apart and not third.beyond_noise and third.p_value > 0.05
    assert [c.impl for c in d.only_a] == ["cy_gil"] and [c.impl for c in d.only_b] == ["cy_prange"]
    text = format_diff(d)
    assert "only in A (1): primes/cy_gil/seqx1" in text and "only in B (1): primes/cy_prange/seqx2" in text
    assert "2 of 3 matched cells differ beyond the noise" in text
    assert "Mann-Whitney" in text and "do not overlap" in text


def test_the_rank_test_marks_what_overlapping_ranges_hide(tmp_path: Path) -> None:
    # 7 runs a side, one outlier in A makes the ranges overlap; the ranks still tell (p = 0.026).
    a = [cell("py", "seq", 1, [1.0, 1.01, 1.02, 1.03, 1.04, 1.05, 1.5])]
    b = [cell("py", "seq", 1, [1.2, 1.21, 1.22, 1.23, 1.24, 1.25, 1.26])]
    (pair,) = diff_runs(load_run(write(tmp_path / "a.json", a), "A"),
                        load_run(write(tmp_path / "b.json", b), "B")).pairs
    assert not pair.ranges_apart and pair.p_value < 0.05 and pair.beyond_noise


def test_different_work_is_compared_per_work_unit(tmp_path: Path) -> None:
    a = write(tmp_path / "a.json", [cell("py", "seq", 1, [1.0, 1.0, 1.0], scale=10)])
    b = write(tmp_path / "b.json", [cell("py", "seq", 1, [1.0, 1.0, 1.0], scale=200)])
    (pair,) = diff_runs(load_run(a, "A"), load_run(b, "B")).pairs
    assert not pair.same_work and pair.ratio == pytest.approx(0.05)
    assert "/u" in format_diff(diff_runs(load_run(a, "A"), load_run(b, "B")))


def test_cells_not_ok_are_listed_apart(tmp_path: Path) -> None:
    a = write(tmp_path / "a.json", [cell("py", "seq", 1, [1.0]), cell("py", "threads", 2, [1.0])])
    b = write(tmp_path / "b.json", [cell("py", "seq", 1, [1.0]),
                                    Cell("primes", "py", "threads", 2, status=Status.FAILED, reason="WRONG ANSWER: x")])
    d = diff_runs(load_run(a, "A"), load_run(b, "B"))
    assert len(d.pairs) == 1 and len(d.not_compared) == 1
    assert "not compared: primes/py/threadsx2: A ok; B failed: WRONG ANSWER: x" in format_diff(d)


def test_one_run_against_itself_across_interpreters(tmp_path: Path) -> None:
    env = {**ENV_311, "interpreters": {"pypy3.9": {"python_implementation": "PyPy", "python_version": "3.9.16",
                                                   "gil_enabled": True}}}
    run = write(tmp_path / "r.json", [cell("py", "seq", 1, [1.0, 1.1, 1.2]), cell("cy_nogil", "seq", 1, [0.1]),
                                      cell("py@pypy3.9", "seq", 1, [0.1, 0.11, 0.12], scale=100)], env)
    d = diff_runs(load_run(run, "A"), load_run(run, "B"), b_at="pypy3.9")
    (pair,) = d.pairs
    assert pair.key[1] == "py" and pair.b.impl == "py@pypy3.9"
    assert pair.ratio == pytest.approx((0.11 / 400) / (1.1 / 40))  # per work unit: 10x the work in a tenth
    assert [c.impl for c in d.only_a] == ["cy_nogil"] and d.only_b == []
    assert any("PyPy" in line for line in d.differences)
    assert "interpreters differ: CPython 3.11.7 vs PyPy 3.9.16" in format_diff(d, b_at="pypy3.9")


# --- bad input: exit 2 with the reason ---------------------------------------------------

def test_bad_inputs_are_usage_errors(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", [cell("py", "seq", 1, [1.0])])
    (tmp_path / "empty_dir").mkdir()
    truncated = tmp_path / "cut.json"
    truncated.write_text(good.read_text()[:40])
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**json.loads(good.read_text()), "schema": 99}))
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"results": []}))
    cases = {tmp_path / "missing.json": "no such file", tmp_path / "empty_dir": "has no results.json",
             truncated: "not valid JSON", other: "schema 99", foreign: "not a gil-lab results.json"}
    for path, words in cases.items():
        with pytest.raises(UsageError, match=words):
            load_run(path, "B")
    with pytest.raises(UsageError, match="no rows run under --python pypy3.9.*none"):
        diff_runs(load_run(good, "A"), load_run(good, "B"), b_at="pypy3.9")
    disjoint = write(tmp_path / "d.json", [cell("py", "threads", 2, [1.0])])
    with pytest.raises(UsageError, match="no cell"):
        diff_runs(load_run(good, "A"), load_run(disjoint, "B"))


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", [cell("py", "seq", 1, [1.0])])
    done = gil_lab("diff", str(good), str(tmp_path / "nope"))
    assert done.returncode == 2 and "B:" in done.stderr and "nope" in done.stderr
    assert "Traceback" not in done.stderr


# --- the CLI: table, JSON, PNG ----------------------------------------------------------

def test_cli_writes_the_table_json_and_plot(tmp_path: Path) -> None:
    folder_a = tmp_path / "run-a"
    write(folder_a / "results.json", [cell("py", "seq", 1, [1.0, 1.1, 1.2]), cell("py", "threads", 2, [1.0, 1.1])])
    b = write(tmp_path / "b.json", [cell("py", "seq", 1, [2.0, 2.1, 2.2]), cell("py", "threads", 2, [1.0, 1.05])],
              {**ENV_311, "python_version": "3.13.0"})
    out, png = tmp_path / "out" / "diff.json", tmp_path / "out" / "diff.png"
    done = gil_lab("diff", str(folder_a), str(b), "--json", str(out), "--plot", str(png))
    assert done.returncode == 0, done.stderr
    assert "interpreters differ: CPython 3.11.7 vs 3.13.0" in done.stdout
    assert done.stdout.index("seq") < done.stdout.index("threads")  # largest effect first
    doc = json.loads(out.read_text())
    assert [r["executor"] for r in doc["rows"]] == ["seq", "threads"]
    assert doc["rows"][0]["ratio"] == pytest.approx(2.1 / 1.1) and doc["rows"][0]["beyond_noise"]
    assert png.read_bytes().startswith(PNG)
    assert sorted(p.name for p in png.parent.iterdir()) == ["diff.json", "diff.png"]  # no temp files left
    done = gil_lab("diff", str(folder_a), str(b), "--plot", str(tmp_path / "x.txt"))
    assert done.returncode == 2 and ".png" in done.stderr


def test_pair_as_dict_is_plain_json() -> None:
    pair = Pair(("primes", "py", "seq", 1, None), cell("py", "seq", 1, [1.0]), cell("py", "seq", 1, [2.0]))
    row = json.loads(json.dumps(pair.as_dict()))
    assert row["ratio"] == 2.0 and row["p_value"] == 1.0 and row["ranges_apart"] is True
