"""`gil-lab check` and labsrc.tools.gilcheck: does a call release the GIL?"""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from labsrc.tools.gilcheck import GilCheck, check, compile_statement

BIG = bytes(range(256)) * 1_000_000  # 256 MB: ~0.3-0.6 s of SHA-256, long next to timeslices


def test_a_releasing_call_and_a_holding_call() -> None:
    released = check(hashlib.sha256, BIG, tries=3)  # hashlib drops the GIL for large inputs
    assert released.freeze < 0.5 and released.verdict.startswith("releases the GIL")
    held = check(sum, range(20_000_000), tries=2)  # a C loop that never lets go
    assert held.freeze > 0.8 and held.contention > 0.5
    assert held.verdict.startswith("holds the GIL")


def test_verdict_thresholds_and_short_calls() -> None:
    assert "too short" in GilCheck(0.0, 0.001, 0.0).verdict
    assert "part of the call" in GilCheck(0.6, 1.0, 0.5).verdict
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


def _gil_lab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labsrc", "check", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_check_says_which_and_exits_with_clear_codes() -> None:
    held = _gil_lab("sum(range(20_000_000))", "--tries", "1")
    assert held.returncode == 0 and "holds the GIL" in held.stdout
    bad = _gil_lab("x = (1")
    assert bad.returncode == 2 and "never closed" in bad.stderr and "Traceback" not in bad.stderr
    raised = _gil_lab("1 / 0")
    assert raised.returncode == 1 and "ZeroDivisionError" in raised.stderr
    broken_setup = _gil_lab("pass", "--setup", "import no_such_module_here")
    assert broken_setup.returncode == 1 and "ModuleNotFoundError" in broken_setup.stderr
    assert _gil_lab("pass", "--tries", "0").returncode == 2
