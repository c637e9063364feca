"""labsrc.tools.audit: every verdict of the GIL audit on a known-yes and a known-no case, on
the interpreter that applies (a GIL build for releases-gil, a free-threaded one for
keeps-gil-off and scales, 3.12+ for subinterpreter), and "not checked" where it does not.

Each probe runs in a child process, so these tests start a few dozen interpreters: the
thread-safety rounds get a short budget to keep the whole file well under a minute.
"""

from __future__ import annotations

import sys

import pytest

from labsrc.core.usage import UsageError
from labsrc.tools.audit import NO, NOT_CHECKED, YES, AuditReport, InterpreterAudit, Verdict, audit
from labsrc.tools.gilcheck import gil_disabled

HERE = sys.executable
GIL_BUILD = not gil_disabled()  # the running interpreter has a GIL (3.11, 3.13, or 3.13t with PYTHON_GIL=1)
ZLIB = dict(stmt="zlib.compress(data)", setup="import zlib; data = bytes(50_000_000)")
PURE_LOOP = "for i in range(4_000_000): pass"  # pure Python: takes turns with other threads

# A read-modify-write of one attribute, with work between the read and the write: two threads
# without a GIL lose updates (box.n ends below 2 x 20_000: enough calls that the threads
# overlap); under a lock they cannot.
RACY = """
class Box:
    n = 0
box = Box()
def bump(box, times=20_000):
    for _ in range(times):
        seen = box.n
        seen = seen + len(str(seen)) * 0 + 1
        box.n = seen
"""
LOCKED = """
import threading
lock = threading.Lock()
class Box:
    n = 0
box = Box()
def bump(box, times=20_000):
    for _ in range(times):
        with lock:
            seen = box.n
            seen = seen + len(str(seen)) * 0 + 1
            box.n = seen
"""


def one(report: AuditReport, name: str) -> Verdict:
    [verdict] = report.answers(name)
    return verdict


def test_releases_gil_known_yes_and_no() -> None:
    def judged(expected: str, **kwargs: object) -> Verdict:
        # Up to three audits: on a 2-vCPU machine at load 4+ the heartbeat also waits for a CPU,
        # which blurs "releases" and "takes turns" (see gilcheck.TAKES_TURNS_ABOVE).
        for _ in range(3):
            verdict = one(audit(verdicts=["releases-gil"], **kwargs), "releases-gil")  # type: ignore[arg-type]
            if verdict.answer == expected or verdict.answer == NOT_CHECKED:
                break
        return verdict

    released = judged(YES, **ZLIB)
    turns = judged(NO, stmt=PURE_LOOP)
    if not GIL_BUILD:  # nothing to release without a GIL: neither is judged, neither passes
        assert released.answer == turns.answer == NOT_CHECKED
        assert "runs without a GIL" in released.figure and "PYTHON_GIL=1" in released.figure
        return
    assert released.answer == YES and "longest stall was" in released.figure, released
    # The loop lets the main thread in at every switch interval, but the heartbeat waited
    # most of the call: taking turns is not releasing the GIL.
    assert turns.answer == NO and "taking turns" in turns.figure, turns


def test_keeps_gil_off_names_the_module_that_turned_it_on(ft_python_with_cext: str) -> None:
    ft_python = ft_python_with_cext
    declared = audit(module="cext.primes", python=ft_python, verdicts=["keeps-gil-off"])
    undeclared = audit(module="cext.primes_undeclared", python=ft_python, verdicts=["keeps-gil-off"])
    assert one(declared, "keeps-gil-off").answer == YES, declared
    off = one(undeclared, "keeps-gil-off")
    assert off.answer == NO and "importing cext.primes_undeclared turned the GIL on" in off.figure, off
    # Found through what imports it too: the first module that turned it on is named.
    nested = audit("pass", setup="import json; import cext.primes_undeclared", python=ft_python,
                   verdicts=["keeps-gil-off"])
    assert "cext.primes_undeclared" in one(nested, "keeps-gil-off").figure


def test_keeps_gil_off_is_not_checked_on_a_gil_build() -> None:
    if not GIL_BUILD:
        pytest.skip("the running interpreter is free-threaded: covered by the test above")
    verdict = one(audit(module="json", verdicts=["keeps-gil-off"]), "keeps-gil-off")
    assert verdict.answer == NOT_CHECKED and "always has a GIL" in verdict.figure


def test_scales_known_yes_and_no(ft_python: str) -> None:
    # Two shared vCPUs: up to three audits of the pure loop (each the best of three timings).
    for _ in range(3):
        verdict = one(audit(PURE_LOOP, python=ft_python, verdicts=["scales"], threads=2), "scales")
        if verdict.answer == YES:
            break
    if verdict.answer == NOT_CHECKED and "too busy" in verdict.figure:
        # Other jobs hold the CPUs: the reference loop did not scale either, so nothing could.
        pytest.skip(f"this machine has no free CPUs now: {verdict.figure}")
    # YES means at least 0.7 of what the reference loop got around it (itself >= 1.4x here)
    assert verdict.answer == YES and (verdict.value or 0) >= 0.7 * 1.4 and "reference" in verdict.figure, verdict
    serial = one(audit("with lock: sum(range(2_000_000))", setup="import threading; lock = threading.Lock()",
                       python=ft_python, verdicts=["scales"], threads=2), "scales")
    assert serial.answer in (NO, NOT_CHECKED), serial
    if serial.answer == NO:  # judged only when the reference loop showed free CPUs
        assert (serial.value or 0) < 1.4 and "a reference pure-Python loop" in serial.figure, serial


def test_scales_is_never_a_pass_on_a_gil_build() -> None:
    if not GIL_BUILD:
        pytest.skip("the running interpreter runs without a GIL: covered by test_scales_known_yes_and_no")
    verdict = one(audit(PURE_LOOP, verdicts=["scales"]), "scales")
    assert verdict.answer == NOT_CHECKED and "this build has a GIL" in verdict.figure


def test_thread_safe_catches_a_race_and_passes_its_locked_twin(ft_python: str) -> None:
    racy = one(audit("bump(box)", setup=RACY, result="box.n", python=ft_python, verdicts=["thread-safe"],
                     threads=2, budget_s=1.0), "thread-safe")
    assert racy.answer == NO and "box.n = " in racy.figure and "40000 after 2 sequential calls" in racy.figure, racy
    locked = one(audit("bump(box)", setup=LOCKED, result="box.n", python=ft_python, verdicts=["thread-safe"],
                       threads=2, budget_s=0.5), "thread-safe")
    assert locked.answer == YES and (locked.value or 0) >= 3, locked


def test_thread_safe_compares_values_or_says_what_is_missing() -> None:
    pure = one(audit("zlib.crc32(data)", setup="import zlib; data = bytes(1_000_000)", verdicts=["thread-safe"],
                     budget_s=0.3), "thread-safe")
    assert pure.answer == YES and "every call's value" in pure.figure, pure
    if GIL_BUILD:
        assert "under a GIL" in pure.figure  # a pass under a GIL says how little it proves
    changing = one(audit("next(counter)", setup="import itertools; counter = itertools.count()",
                         verdicts=["thread-safe"], budget_s=0.3), "thread-safe")
    assert changing.answer == NOT_CHECKED and "--result" in changing.figure, changing


def test_subinterpreter_known_yes_and_no() -> None:
    report = audit(module="labsrc.kernels.primes", verdicts=["subinterpreter"])
    numpy = audit(module="numpy", verdicts=["subinterpreter"])
    pure, np_verdict = one(report, "subinterpreter"), one(numpy, "subinterpreter")
    if sys.version_info < (3, 12):
        assert pure.answer == np_verdict.answer == NOT_CHECKED and "3.12+" in pure.figure
        return
    assert pure.answer == YES and "own-GIL sub-interpreter" in pure.figure, pure
    # numpy's extension does not opt in to per-interpreter GILs: the reason is kept.
    assert np_verdict.answer == NO and "does not support loading in subinterpreters" in np_verdict.figure


def test_subinterpreter_the_lab_own_c_twins_yes_and_the_undeclared_one_no() -> None:
    # cext.primes is built to load there (subinterpreters_compatible=own_gil and module
    # state); cext.primes_undeclared is the same code built declaring nothing.
    pytest.importorskip("cext.primes", reason="cext not built here (CI builds it)")
    declared = one(audit(module="cext.primes", verdicts=["subinterpreter"]), "subinterpreter")
    undeclared = one(audit(module="cext.primes_undeclared", verdicts=["subinterpreter"]), "subinterpreter")
    if sys.version_info < (3, 12):
        assert declared.answer == undeclared.answer == NOT_CHECKED
        return
    assert declared.answer == YES, declared
    assert undeclared.answer == NO and "does not support loading in subinterpreters" in undeclared.figure


def test_a_crash_and_a_hang_are_verdicts_not_lab_failures() -> None:
    crash = one(audit("ctypes.string_at(0)", setup="import ctypes", verdicts=["thread-safe"]), "thread-safe")
    assert crash.answer == NO and "crashed" in crash.figure and "SIGSEGV" in crash.figure, crash
    hang = one(audit("time.sleep(60)", setup="import time", verdicts=["thread-safe"], timeout_s=3), "thread-safe")
    assert hang.answer == NO and "hung" in hang.figure, hang


def test_the_users_own_errors_are_errors_not_verdicts() -> None:
    report = audit("1 / 0", verdicts=["thread-safe", "subinterpreter"])
    assert all(v.answer == "error" for i in report.interpreters for v in i.verdicts.values())
    assert "ZeroDivisionError" in report.errors()[0]
    broken = audit("pass", setup="import no_such_module_here", verdicts=["thread-safe"])
    assert "ModuleNotFoundError" in broken.errors()[0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(), "nothing to audit"),
    (dict(stmt="x = (1"), "never closed"),
    (dict(stmt="pass", result="a b"), "--result"),
    (dict(stmt="pass", verdicts=["fast"]), "unknown verdict 'fast'; choose from releases-gil"),
    (dict(stmt="pass", python="/no/such/python"), "no such interpreter"),
])
def test_bad_input_is_a_usage_error(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        audit(**kwargs)


def test_required_verdicts_must_be_checked_somewhere_and_fail_nowhere() -> None:
    def report(*answers: str) -> AuditReport:
        found = [InterpreterAudit(f"py{k}", f"3.1{k}", "3.13.5", False, {"scales": Verdict("scales", a, "figure")})
                 for k, a in enumerate(answers)]
        return AuditReport("pass", "", "", "", found)

    assert report(YES, NOT_CHECKED).passed("scales")  # checked where it applies, failed nowhere
    assert not report(NOT_CHECKED, NOT_CHECKED).passed("scales")  # never a pass by default
    assert report(NOT_CHECKED).failures(["scales"]) == ["scales: not checked on any interpreter given"]
    assert not report(YES, NO).passed("scales")
    assert report(YES, NO).failures(["scales"])[0].startswith("scales: 3.11: no")
    with pytest.raises(KeyError, match="unknown verdict"):
        report(YES).passed("fast")
