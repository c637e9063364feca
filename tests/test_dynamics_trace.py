"""gil-lab trace: py-spy's --gil samples of a real cell, parsed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from labsrc.cli import main
from labsrc.dynamics.trace import observations, parse_raw, record, summarize, thread_names

needs_pyspy = pytest.mark.skipif(shutil.which("py-spy") is None,
                                 reason="py-spy is not installed (pip install 'gil-lab[trace]')")


def test_parse_raw_counts_samples_per_thread() -> None:
    text = ("thread (0x1A2B): load-0;run (tracee.py:10);count (primes.py:3) 7\n"
            "thread (0x1A2B): load-0;run (tracee.py:10) 5\n"
            "thread (123): MainThread;<module> (x.py:1) 2\n")
    assert parse_raw(text) == {"load-0": 12, "MainThread": 2}


def test_observations_drop_the_closing_events() -> None:
    events = [
        {"ph": "B", "tid": 1, "ts": 1000, "name": "f"},
        {"ph": "B", "tid": 2, "ts": 2000, "name": "g"},
        {"ph": "E", "tid": 2, "ts": 3000, "name": "g"},
        {"ph": "B", "tid": 2, "ts": 3000, "name": "h"},
        {"ph": "E", "tid": 1, "ts": 9000, "name": "f"},  # written at exit: not a sample
        {"ph": "E", "tid": 2, "ts": 9000, "name": "h"},
    ]
    assert observations(events) == [(0.001, 1), (0.002, 2), (0.003, 2)]
    assert thread_names(events, {"threads": {"1": "load-0"}}) == {1: "load-0"}


@needs_pyspy
def test_a_real_chrometrace_of_two_python_threads(tmp_path: Path) -> None:
    # A share is GIL samples over rate x window, and py-spy's pace wanders: measured here,
    # two pure-Python threads' shares summed to 0.89-1.18 over 250 expected samples (0.5 s
    # at 500/s) but 0.97-1.06 over 1000-2000. So the bound below needs the larger sample.
    trace = record("primes", "py", 2, 1.5, 1000, 0.005, 0.002, tmp_path)
    assert (tmp_path / "primes-py.chrometrace.json").exists()
    events = json.loads((tmp_path / "primes-py.chrometrace.json").read_text())
    assert any(e["ph"] == "B" for e in events)
    rows = {r.thread: r for r in summarize(trace)}
    load = [rows["load-0"], rows["load-1"]]
    # Both pure-Python threads held the GIL, one at a time: shares add up to at most ~1,
    # and so does their CPU time (the one waiting for the GIL uses none).
    assert all(r.gil_samples > 0 and r.cpu_share is not None for r in load)
    assert 0.5 <= sum(r.gil_share for r in load) <= 1.1
    assert sum(r.cpu_share or 0 for r in load) <= 1.3
    assert sum(r.handovers_seen for r in load) >= 1


@needs_pyspy
def test_trace_command_writes_json_and_timeline(tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    assert main(["trace", "--impl", "cy_nogil", "--seconds", "0.4", "--rate", "500",
                 "--json", str(out), "--plot", str(tmp_path), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    load = [r for r in doc["rows"] if r["thread"].startswith("load-")]
    assert len(load) == 2
    for row in load:  # cy_nogil: computing, rarely with the GIL
        assert row["cpu_share"] > 0.1 and row["gil_share"] < 0.2
    assert (tmp_path / "gil-timeline.png").read_bytes()[:4] == b"\x89PNG"
