"""gil-lab trace: py-spy's --gil samples of a real cell, parsed; and, on a free-threaded
build, which py-spy cannot read, the reason instead."""

from __future__ import annotations

import json
import shutil
import sysconfig
from pathlib import Path

import pytest

from labsrc.cli import main
from labsrc.dynamics.trace import (
    TraceUnavailable,
    observations,
    parse_raw,
    pyspy,
    record,
    summarize,
    thread_names,
)

FREE_THREADED_BUILD = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def _why_no_trace() -> str | None:
    """What gil-lab trace would say instead of tracing here, or None: py-spy is missing
    (found as the command finds it), or this is a free-threaded build, which py-spy cannot
    read (the test extra does not install it there; test_trace_refuses_a_free_threaded_build
    checks the message)."""
    try:
        pyspy()
    except TraceUnavailable as exc:
        return str(exc)
    return None


needs_pyspy = pytest.mark.skipif(_why_no_trace() is not None, reason=_why_no_trace() or "")


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


def test_trace_refuses_a_free_threaded_build_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """py-spy found or not, a free-threaded build gets the reason, exit status 2 (as for a
    missing py-spy). On a GIL build py-spy is used as found, and the refusal is shown on a
    build that says it is free-threaded."""
    monkeypatch.setattr(shutil, "which", lambda *a, **k: "/opt/bin/py-spy")  # as if installed
    if not FREE_THREADED_BUILD:
        assert pyspy() == "/opt/bin/py-spy"
        real = sysconfig.get_config_var
        monkeypatch.setattr(sysconfig, "get_config_var",
                            lambda name: 1 if name == "Py_GIL_DISABLED" else real(name))
    with pytest.raises(SystemExit) as exc:
        main(["trace"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "py-spy cannot sample a free-threaded CPython" in err, err
    assert "run gil-lab trace under a GIL build" in err and "Traceback" not in err
