"""Free-threaded readiness, with the environment faked (no free-threaded CPython can be
installed on these machines): `env` says the GIL is off, the GIL column is explained as
scheduling latency, and another interpreter's free-threaded rows are labelled and
explained the same way."""

from __future__ import annotations

import argparse
import io
import json
import sys
import sysconfig
from typing import Any, Optional

import pytest

from labsrc import cli
from labsrc.core import envinfo
from labsrc.interpreters import worker as foreign_worker
from labsrc.report import tables as report
from labsrc.interpreters.discover import Interpreter, label_for
from made_cells import make_cell

_real_config_var = sysconfig.get_config_var


def fake_build(monkeypatch: pytest.MonkeyPatch, free_threaded: bool, gil_enabled: bool) -> None:
    """Make this interpreter look like a (free-threaded) build with the GIL on or off."""
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: gil_enabled, raising=False)

    def config_var(name: str) -> Any:
        if name == "Py_GIL_DISABLED":
            return 1 if free_threaded else 0
        return _real_config_var(name)

    monkeypatch.setattr(sysconfig, "get_config_var", config_var)


def test_env_says_the_gil_is_off_and_what_the_probe_measures(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_build(monkeypatch, free_threaded=True, gil_enabled=False)
    info = envinfo.env_info()
    assert info["free_threaded_build"] is True and info["gil_enabled"] is False
    assert info["gil_probe_measures"].startswith("scheduling latency")
    assert "GIL disabled" in " ".join(envinfo.interpreter_differences({**info, "gil_enabled": True}, info))


def test_free_threaded_build_with_the_gil_back_on(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_build(monkeypatch, free_threaded=True, gil_enabled=True)
    info = envinfo.env_info()
    assert info["gil_enabled"] is True
    assert "enabled at run time" in info["gil_probe_measures"]
    assert report.gil_column_note(info) == report.GIL_NOTE


def test_ordinary_build(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_build(monkeypatch, free_threaded=False, gil_enabled=True)
    info = envinfo.env_info()
    assert info["gil_probe_measures"].startswith("GIL waiting")
    assert "scheduling latency" not in report.legend(info)


def test_gil_lab_env_prints_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake_build(monkeypatch, free_threaded=True, gil_enabled=False)
    assert cli.cmd_env(argparse.Namespace(json=True)) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["gil_enabled"] is False and "scheduling latency" in info["gil_probe_measures"]


def _emitted(env: dict[str, Any], json_path: Optional[Any] = None) -> str:
    cells = [make_cell("py", "seq", 1, gil=0.0), make_cell("py", "threads", 2, speedup=1.9, gil=0.05)]
    out = io.StringIO()
    cli.emit(cells, (), env, cli.Outputs(json=json_path), out=out)
    return out.getvalue()


def test_the_gil_column_is_explained_as_scheduling_latency(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    fake_build(monkeypatch, free_threaded=True, gil_enabled=False)
    env = envinfo.env_info()
    text = " ".join(_emitted(env, tmp_path / "r.json").split())
    assert "GIL: share of the cell the heartbeat woke late" in text and "scheduling latency" in text
    assert "waited for the GIL" not in text
    doc = json.loads((tmp_path / "r.json").read_text())
    assert "scheduling latency" in doc["notes"]["gil_contention"]
    plain = " ".join(_emitted({"gil_enabled": True}).split())
    assert "waited for the GIL" in plain and "scheduling latency" not in plain


def test_rows_of_a_free_threaded_interpreter_get_their_own_note() -> None:
    env = {"gil_enabled": True, "interpreters": {"3.14t": {"gil_enabled": False}, "pypy3.9": {"gil_enabled": True}}}
    text = report.legend(env)
    assert "waited for the GIL" in text
    assert "GIL for rows @3.14t: share of the cell the heartbeat woke late" in text and "@pypy3.9" not in text


def test_a_free_threaded_interpreter_is_labelled_with_t(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_build(monkeypatch, free_threaded=True, gil_enabled=False)
    facts = foreign_worker.facts()  # what the worker reports from inside that interpreter
    assert facts["free_threaded_build"] is True and facts["gil_enabled"] is False
    label = label_for(facts)
    assert label.endswith("t") and label[:-1] == ".".join(facts["python_version"].split(".")[:2])
    interp = Interpreter("/opt/python3.14t", "/opt/python3.14t", facts, runs_lab=True)
    assert "free-threaded, GIL disabled" in interp.describe()
    block = interp.env_block()
    assert block["gil_enabled"] is False and block["gil_probe_measures"].startswith("scheduling latency")
    assert "@" + label in report.legend({"gil_enabled": True, "interpreters": {label: block}})


def test_labels_say_when_a_free_threaded_build_has_its_gil_back() -> None:
    from labsrc.interpreters.discover import label_for

    facts = {"python_implementation": "CPython", "python_version": "3.13.5", "free_threaded_build": True}
    assert label_for({**facts, "gil_enabled": False}) == "3.13t"
    assert label_for({**facts, "gil_enabled": True}) == "3.13t+gil"


def test_gil_suffix_on_a_gil_build_is_a_usage_error() -> None:
    import sys

    from labsrc.core.usage import UsageError
    from labsrc.interpreters.discover import probe

    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        pytest.skip("this test needs a GIL build to run it")
    with pytest.raises(UsageError, match="only a free-threaded build"):
        probe(sys.executable + ":gil")


def test_a_real_free_threaded_interpreter_and_its_gil_suffix(ft_python: str) -> None:
    """Probed for real: the build is free-threaded, its GIL off; with `:gil` the same
    interpreter runs with PYTHON_GIL=1 and the GIL on, under its own label."""
    from labsrc.interpreters.discover import probe

    free = probe(ft_python)
    assert free.facts["free_threaded_build"] is True and free.gil_enabled is False
    relocked = probe(ft_python + ":gil")
    assert relocked.gil_enabled is True and relocked.label == free.label + "+gil"
    assert relocked.env()["PYTHON_GIL"] == "1" and relocked.env_block()["environment"] == {"PYTHON_GIL": "1"}
