"""`gil-lab check` as the audit's command line: one table, --json, and the exit statuses a
library's CI relies on (1: a --require'd verdict failed; 2: bad input, saying what is allowed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from labsrc.tools.audit import VERDICTS

PRIMES = ("labsrc.kernels.primes.count_primes(0, 3000)", "--import", "labsrc.kernels.primes")


def gil_lab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labsrc", "check", *args], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def test_one_table_of_every_verdict() -> None:
    done = gil_lab(*PRIMES, "--threads", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "gil-lab check: import labsrc.kernels.primes; then labsrc.kernels.primes.count_primes(0, 3000)"
    assert lines[1].split() == ["verdict", "python", "answer", "figure"]
    for name in VERDICTS:  # every verdict once, each with an answer
        [row] = [line for line in lines if line.startswith(name + " ")]
        assert row.split()[2] in ("yes", "no", "not"), row
    assert f"({sys.executable})" in done.stdout


def test_json_and_require() -> None:
    done = gil_lab(*PRIMES, "--only", "thread-safe,subinterpreter", "--json", "--require", "thread-safe")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    [here] = report["interpreters"]
    assert set(here["verdicts"]) == {"thread-safe", "subinterpreter"}
    assert here["verdicts"]["thread-safe"]["answer"] == "yes"
    assert report["required"] == ["thread-safe"] and report["required_failures"] == []
    # numpy does not load in an own-GIL sub-interpreter (3.12+); on 3.11 it cannot be checked:
    # either way a required verdict that did not pass is exit status 1, and says why.
    failed = gil_lab("--import", "numpy", "--require", "subinterpreter")
    assert failed.returncode == 1 and "REQUIRED, NOT MET: subinterpreter:" in failed.stdout, failed
    # --require asks its verdict even when --only leaves it out.
    assert "subinterpreter" in failed.stdout and "releases-gil" in failed.stdout


@pytest.mark.parametrize("args, message", [
    (("pass", "--require", "fast"), "--require: unknown verdict 'fast'; choose from releases-gil, keeps-gil-off"),
    (("pass", "--only", "scales,slow"), "--only: unknown verdict 'slow'"),
    (("pass", "--python", "/no/such/python"), "--python /no/such/python: no such interpreter"),
    ((), "nothing to audit: give a statement, --import MODULE, or both"),
])
def test_bad_input_exits_2_saying_what_is_allowed(args: tuple[str, ...], message: str) -> None:
    done = gil_lab(*args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done
