"""`gil-lab check` and labsrc.tools.gilcheck: does a call release the GIL?

On a free-threaded build running without a GIL (3.13t) the question does not apply: the
figures are measured, every call leaves the main thread running, and the verdict says it
was not checked; with PYTHON_GIL=1 the same build has a GIL again and is judged as usual.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys

import pytest

from labsrc.tools.gilcheck import NOT_CHECKED, GilCheck, check, compile_statement, gil_disabled

BIG = bytes(range(256)) * 1_000_000  # 256 MB: ~0.3-0.6 s of SHA-256, long next to timeslices
HELD = "sum(range(20_000_000))"  # a C loop that never lets go of the GIL: ~0.3-0.4 s


def test_a_releasing_call_and_a_holding_call() -> None:
    released = check(hashlib.sha256, BIG, tries=3)  # hashlib drops the GIL for large inputs
    held = check(sum, range(20_000_000), tries=2)  # a C loop that never lets go
    if gil_disabled():
        # No GIL to hold: sum's loop stops no other thread either, and neither call is judged.
        assert released.freeze < 0.5 and held.freeze < 0.5, (released, held)
        assert held.contention < 0.5, held  # the heartbeat waited for a CPU at most
        assert not released.gil_enabled and not held.gil_enabled
        assert released.verdict == held.verdict == NOT_CHECKED
        return
    assert released.gil_enabled and held.gil_enabled
    assert released.freeze < 0.5 and released.verdict.startswith("releases the GIL")
    assert held.freeze > 0.8 and held.contention > 0.5
    assert held.verdict.startswith("holds the GIL")


def test_verdict_thresholds_and_short_calls() -> None:
    assert "too short" in GilCheck(0.0, 0.001, 0.0).verdict
    assert "part of the call" in GilCheck(0.6, 1.0, 0.5).verdict
    assert GilCheck(0.97, 1.0, 0.9).verdict.startswith("holds the GIL")
    # Short freezes but a heartbeat that waited most of the call: pure Python taking turns.
    assert GilCheck(0.08, 1.0, 0.88).verdict.startswith("holds the GIL, taking turns")
    assert GilCheck(0.03, 1.0, 0.36).verdict.startswith("releases the GIL")  # a loaded machine's release
    # Without a GIL nothing is judged, whatever the figures say.
    for figures in ((0.97, 1.0, 0.9), (0.01, 1.0, 0.0), (0.0, 0.001, 0.0)):
        assert GilCheck(*figures, gil_enabled=False).verdict == NOT_CHECKED
    assert "free-threaded build runs without a GIL" in NOT_CHECKED and "PYTHON_GIL=1" in NOT_CHECKED
    with pytest.raises(ValueError, match="tries must be >= 1"):
        check(sum, [], tries=0)


def test_statements_compile_timeit_style() -> None:
    call = compile_statement("out.append(len(data))", "data = b'abc'; out = []")
    call()
    call()
    with pytest.raises(SyntaxError):
        compile_statement("x = (1")
    with pytest.raises(ZeroDivisionError):
        check(compile_statement("1 / 0"), tries=1)


def _gil_lab(*args: str, gil: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ) if gil is None else {**os.environ, "PYTHON_GIL": gil}
    return subprocess.run([sys.executable, "-m", "labsrc", "check", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def _stall(stdout: str) -> float:
    """The main thread's longest stall, as the CLI prints it (a fraction)."""
    found = re.search(r"longest stall was (\d+\.\d)% of it", stdout)
    assert found, stdout
    return float(found.group(1)) / 100


def test_cli_check_says_which_and_exits_with_clear_codes() -> None:
    # `gil-lab check` is the audit now (tests/test_audit*.py); its releases-gil row is this check.
    only = ("--only", "releases-gil")
    if gil_disabled():
        # No GIL in the child either: not checked (never a pass), and still exit 0.
        held = _gil_lab(HELD, "--tries", "3", *only)
        assert held.returncode == 0 and "not checked" in held.stdout, held
        assert "runs without a GIL" in held.stdout and "holds the GIL" not in held.stdout
        # PYTHON_GIL=1 gives the same build a GIL, and the usual verdict comes back.
        held = _gil_lab(HELD, "--tries", "1", *only, gil="1")
    else:
        held = _gil_lab(HELD, "--tries", "1", *only)
    assert held.returncode == 0 and "holds the GIL" in held.stdout, held
    assert _stall(held.stdout) > 0.8 and "the GIL heartbeat waited" in held.stdout
    bad = _gil_lab("x = (1")
    assert bad.returncode == 2 and "never closed" in bad.stderr and "Traceback" not in bad.stderr
    # The audited code's own errors: exit 1 (thread-safe runs the code on every build).
    runs = ("--only", "releases-gil,thread-safe")
    raised = _gil_lab("1 / 0", *runs)
    assert raised.returncode == 1 and "ZeroDivisionError" in raised.stderr
    broken_setup = _gil_lab("pass", "--setup", "import no_such_module_here", *runs)
    assert broken_setup.returncode == 1 and "ModuleNotFoundError" in broken_setup.stderr
    assert _gil_lab("pass", "--tries", "0").returncode == 2
