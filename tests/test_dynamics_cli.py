"""gil-lab latency / bandwidth / loop / trace / dynamics-bench from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from labsrc.cli import main
from labsrc.dynamics import session


def _usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("argv, says", [
    (["latency", "--kernel", "nope"], "choose from: primes"),
    (["latency", "--impl", "fortran"], "choose from: py, cy_gil, cy_nogil"),
    (["bandwidth", "--threads", "-1"], "0..64"),
    (["latency", "--threads", "65"], "0..64"),
    (["latency", "--threads", "two"], "whole numbers"),
    (["latency", "--switch-interval", "0"], "> 0 and <= 1"),
    (["bandwidth", "--switch-interval", "1.5"], "> 0 and <= 1"),
    (["latency", "--chunk-ms", "0"], "--chunk-ms"),
    (["latency", "--duration", "0"], "--duration"),
    (["bandwidth", "--gap-ms", "-1"], "--gap-ms"),
    (["loop", "--modes", "inline,sideways"], "choose from: none, inline"),
    (["loop", "--gil-impl", "nope"], "choose from"),
    (["trace", "--impl", "procs"], "procs"),
    (["trace", "--threads", "0"], ">= 1"),
])
def test_bad_input_exits_2_with_the_reason(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert says in _usage(argv, capsys)


def test_bad_input_through_python_m_labsrc() -> None:
    done = subprocess.run([sys.executable, "-m", "labsrc", "latency", "--impl", "nope"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "gil-lab: error:" in done.stderr


def test_latency_json_has_the_documented_fields(tmp_path: Path) -> None:
    out = tmp_path / "lat.json"
    assert main(["latency", "--impl", "cy_nogil", "--threads", "0,1", "--duration", "0.3",
                 "--json", str(out), "--csv", str(tmp_path / "lat.csv"), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert doc["experiment"] == "latency" and "python_version" in doc["env"] and doc["findings"]
    assert [(r["impl"], r["threads"]) for r in doc["rows"]] == [("none", 0), ("cy_nogil", 1)]
    for row in doc["rows"]:
        for key in ("impl", "threads", "switch_interval_s", "p50_ms", "p90_ms", "p99_ms", "max_ms",
                    "sent", "answered", "work_per_s"):
            assert key in row
        assert row["sent"] == row["answered"] + row["lost"]
    assert doc["rows"][1]["work_per_s"] > 0
    assert (tmp_path / "lat.csv").read_text().startswith("kernel,impl,threads,switch_interval_s")


def test_bandwidth_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "bw.json"
    assert main(["bandwidth", "--impl", "cy_nogil", "--threads", "1", "--duration", "0.3",
                 "--json", str(out), "--plot", str(tmp_path), "--quiet"]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["pct_of_baseline"] == 100.0
    for row in rows:
        assert {"packets_per_s", "pct_of_baseline", "work_per_s", "switch_interval_s"} <= row.keys()
    assert (tmp_path / "bandwidth.png").read_bytes()[:4] == b"\x89PNG"


def test_a_port_that_cannot_be_bound_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        assert main(["latency", "--threads", "0", "--duration", "0.1", "--port", str(port), "--quiet"]) == 1
    assert "cannot bind" in capsys.readouterr().err


def test_ctrl_c_stops_everything_and_still_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_ping, calls = session.ping, []

    def ping_then_interrupt(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) > 1:  # the second cell: the load is running now
            raise KeyboardInterrupt
        return real_ping(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(session, "ping", ping_then_interrupt)
    before = sys.getswitchinterval()
    out = tmp_path / "lat.json"
    assert main(["latency", "--kernel", "noop", "--impl", "spin", "--threads", "0,1", "--duration", "0.2",
                 "--switch-interval", "0.002", "--json", str(out), "--quiet"]) == 130
    assert sys.getswitchinterval() == before
    assert not [t for t in threading.enumerate() if t.name == "io-echo" or t.name.startswith("load-")]
    assert [r["impl"] for r in json.loads(out.read_text())["rows"]] == ["none"]


def test_trace_without_py_spy_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    assert "pip install 'gil-lab[trace]'" in _usage(["trace"], capsys)


def test_commands_are_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for name in ("latency", "bandwidth", "loop", "trace", "dynamics-bench"):
        assert name in text
