"""labsrc.core.envinfo: the interpreter's build facts, and naming the ones two runs differ in."""

from __future__ import annotations

import multiprocessing.context
import platform
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from flags.mpcontext import start_method
from labsrc.core import allocator
from labsrc.core import envinfo
from labsrc.core.envinfo import (BUILD_FACTS, Optimisation, describe_optimisation, env_info,
                            interpreter_differences, optimisation_flags)

ROOT = Path(__file__).resolve().parents[1]


def test_env_info_has_every_build_fact_and_they_match_this_interpreter():
    info = env_info()
    assert set(BUILD_FACTS) <= set(info)
    assert info["python_version"] == platform.python_version()
    assert info["python_implementation"] == platform.python_implementation()
    assert info["python_compiler"] == platform.python_compiler()
    assert info["python_debug_build"] is hasattr(sys, "gettotalrefcount")
    want = optimisation_flags(sysconfig.get_config_var("CONFIG_ARGS"))
    assert (info["python_pgo"], info["python_lto"]) == (want.pgo, want.lto)
    assert info["free_threaded_build"] is bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    assert info["process_start_method"] == start_method() != "fork"
    assert interpreter_differences(info, env_info()) == []  # a run matches itself


def test_env_info_only_reads(monkeypatch):
    # No CPU-load sample (it sleeps), no allocator pinning, no forkserver preload: those
    # change the process, and `gil-lab env` or a findings module may call this any time.
    calls: list[str] = []
    monkeypatch.setattr(envinfo, "busy_cpus", lambda *a: calls.append("busy_cpus"))
    monkeypatch.setattr(allocator, "pin_allocator", lambda *a: calls.append("pin_allocator"))
    monkeypatch.setattr(multiprocessing.context.BaseContext, "set_forkserver_preload",
                        lambda self, names: calls.append("set_forkserver_preload"))
    info = env_info()
    assert calls == [] and "busy_cpus_at_start" not in info
    envinfo.run_env()  # the one that does change things, so the fakes above are live
    assert calls == ["pin_allocator", "busy_cpus"]


@pytest.mark.parametrize(("config_args", "want"), [
    (None, (None, None)),  # no CONFIG_ARGS (Windows): unknown, not "off"
    ("", (False, False)),
    ("'--prefix=/opt/py' '--enable-shared'", (False, False)),
    ("'--enable-optimizations' '--with-lto'", (True, True)),
    ("--enable-optimizations --with-lto=full", (True, True)),
    ("'--with-lto=thin'", (False, True)),
    ("'--enable-optimizations' '--with-lto=no'", (True, False)),
    ("--with-lto --without-lto --enable-optimizations=no", (False, False)),  # later wins
    ("'--disable-optimizations' '--enable-optimizations'", (True, False)),
    ("'--enable-optimizations", (True, False)),  # an unbalanced quote: plain words
    ("'CFLAGS=-O2 --with-lto-in-a-flag' '--enable-optimizationsX'", (False, False)),
])
def test_optimisation_flags_from_configure_arguments(config_args, want):
    assert optimisation_flags(config_args) == Optimisation(*want)


def test_optimisation_flags_bad_input():
    with pytest.raises(TypeError, match="config_args must be a str or None, not int"):
        optimisation_flags(1)  # type: ignore[arg-type]


def test_describe_optimisation():
    assert describe_optimisation(True, True) == "PGO+LTO"
    assert describe_optimisation(False, False) == "no PGO, no LTO"
    assert describe_optimisation(True, False) == "PGO, no LTO"
    assert describe_optimisation(None, True) == "PGO unknown, LTO"


def _env(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "python_implementation": "CPython", "python_version": "3.11.7", "python_pgo": False,
        "python_lto": False, "python_debug_build": False, "free_threaded_build": False,
        "gil_enabled": True, "python_compiler": "GCC 12.2.0",
        "process_start_method": "forkserver", "cpu_count": 2, "timestamp": "then",
    }
    base.update(changes)
    return base


def test_differences_name_version_and_optimisation_together():
    a, b = _env(), _env(python_version="3.13.0", python_pgo=True, python_lto=True)
    assert interpreter_differences(a, b) == ["CPython 3.11.7 (no PGO, no LTO) vs 3.13.0 (PGO+LTO)"]
    assert interpreter_differences(b, a) == ["CPython 3.13.0 (PGO+LTO) vs 3.11.7 (no PGO, no LTO)"]
    # Same builds, other versions: the version alone (the 3.11.7 vs 3.13.0 case).
    assert interpreter_differences(a, _env(python_version="3.13.0")) == ["CPython 3.11.7 vs 3.13.0"]


def test_differences_on_one_version_and_other_implementations():
    assert interpreter_differences(_env(), _env(python_pgo=True)) == [
        "CPython 3.11.7 built with no PGO, no LTO vs PGO, no LTO"]
    assert interpreter_differences(_env(), _env(python_implementation="PyPy", python_version="3.10.14")) == [
        "CPython 3.11.7 vs PyPy 3.10.14"]


def test_differences_name_each_other_fact():
    b = _env(python_debug_build=True, free_threaded_build=True, gil_enabled=False,
             python_compiler="Clang 17.0.0", process_start_method="spawn")
    assert interpreter_differences(_env(), b) == [
        "release build vs debug build",
        "GIL build vs free-threaded build",
        "GIL enabled vs GIL disabled",
        "compiled by GCC 12.2.0 vs compiled by Clang 17.0.0",
        "processes started by forkserver vs processes started by spawn",
    ]


def test_differences_ignore_what_is_not_an_interpreter_fact_or_is_unknown():
    assert interpreter_differences(_env(), _env(cpu_count=64, timestamp="now")) == []
    # An env block written before these facts existed cannot be said to differ in them.
    old = {k: v for k, v in _env().items() if k not in ("python_pgo", "python_lto")}
    assert interpreter_differences(old, _env(python_pgo=True, python_lto=True)) == []
    assert interpreter_differences({}, _env()) == []
    assert interpreter_differences(_env(python_pgo=None), _env(python_pgo=True)) == []


def test_differences_reject_what_is_not_an_env_block():
    with pytest.raises(TypeError, match="env_b must be a mapping"):
        interpreter_differences(_env(), [("python_version", "3.13.0")])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="env_a must be a mapping .* not NoneType"):
        interpreter_differences(None, _env())  # type: ignore[arg-type]


def test_differences_are_pure():
    a, b = _env(), _env(python_version="3.13.0")
    before = (dict(a), dict(b))
    interpreter_differences(a, b)
    assert (a, b) == before


def test_gil_lab_env_prints_the_build_facts():
    out = subprocess.run([sys.executable, "-m", "labsrc", "env"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(None, 1) for line in out.stdout.splitlines() if line.strip())
    for key in BUILD_FACTS:
        assert key in lines, key
    assert lines["python_version"].strip() == platform.python_version()
    assert lines["process_start_method"].strip() == start_method()


def test_build_facts_module_constant_lists_real_keys():
    assert set(BUILD_FACTS) <= set(envinfo.interpreter_build()) | {"gil_enabled", "process_start_method"}


def test_stolen_share_reads_proc_stat_and_divides_steal_by_all_time():
    from labsrc.core.envinfo import steal_sample, stolen_share

    first = steal_sample()
    if first is not None:  # Linux: counters only grow
        time.sleep(0.05)
        second = steal_sample()
        share = stolen_share(first, second)
        assert second is not None and second[0] >= first[0] and second[1] >= first[1]
        assert share is None or 0.0 <= share <= 1.0
    assert stolen_share((1000, 10), (2000, 60)) == 0.05
    assert stolen_share(None, (2000, 60)) is None
    assert stolen_share((2000, 60), (2000, 60)) is None  # no time passed: no share
