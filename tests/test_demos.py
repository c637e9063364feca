"""The demos: Executor.map keeps order; the spinner freezes only behind a held GIL (and
so, on a free-threaded build running without a GIL, behind nothing)."""

from __future__ import annotations

import io
import sys
import time

import pytest

from labsrc.tools import demos
from labsrc.tools.gilcheck import gil_disabled
from labsrc.kernels import get_kernel


def test_map_returns_results_in_submission_order() -> None:
    out = io.StringIO()
    assert demos.demo_map(scale=0.01, out=out) == [0, 10, 20, 30, 40]
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("script starting.") and lines[0].startswith("[")
    assert [line.split(": ")[-1] for line in lines if "result " in line] == ["0", "10", "20", "30", "40"]


def test_spinner_stalls_behind_a_held_gil_only() -> None:
    # A GIL-holding C loop (builtin sum over a range never lets the eval loop switch)
    # stops the spinner for the whole call; hashing with the GIL released leaves it free.
    # Compared as fractions of each call, not as timings.
    import hashlib

    if gil_disabled():
        _spinner_turns_beside_both_without_a_gil()
        return
    data = bytes(64 << 20)

    def free() -> None:
        hashlib.sha256().update(data)

    def held() -> None:
        sum(range(10**7))

    frames_free, stall_free, work_free = demos.spin_while(free, interval=0.005)
    frames_held, stall_held, work_held = demos.spin_while(held, interval=0.005)
    assert stall_held / work_held > stall_free / work_free


def _spinner_turns_beside_both_without_a_gil() -> None:
    """A free-threaded build with the GIL disabled: hashing and the same C loop, which holds
    nothing now, each leave the spinner turning: its longest stall stays under half the call,
    where a held GIL stalls it for all of it.

    The calls last ~1 s, longer than on a GIL build: on 3.13.5t a thread waiting on a lock
    (the spinner's Event.wait, Thread.start) first spins on sched_yield (strace: ~100 calls
    per Event.wait; CPython's PyMutex, cf. gh-135871), and when its core also runs a busy
    thread each yield can hand that thread a timeslice, so one wake-up can lag by ~0.1 s.
    Up to 3 tries each, as twins.best_freeze does: outside load can only add stalls."""
    import hashlib

    chunk = bytes(32 << 20)

    def hashing() -> None:  # ~1 s of hashing, which drops the GIL on a GIL build too
        digest, end = hashlib.sha256(), time.perf_counter() + 1.0
        while time.perf_counter() < end:
            digest.update(chunk)

    def summing() -> None:  # one C call of ~1 s, which holds the GIL throughout on a GIL build
        sum(range(8 * 10**7))

    for fn in (hashing, summing):
        fractions = []
        for _ in range(3):
            frames, stall, work = demos.spin_while(fn, interval=0.005)
            fractions.append(stall / work)
            if fractions[-1] < 0.5:
                break
        assert min(fractions) < 0.5 and frames > 0, (fn.__name__, fractions)


def test_spinner_demo_reports_each_impl() -> None:
    try:
        get_kernel("primes")
    except KeyError:
        pytest.skip("primes kernel not in the catalog yet")
    out = io.StringIO()
    runs = demos.demo_spinner(seconds=0.1, out=out)
    text = out.getvalue()
    assert runs and "longest stall" in text
    if {"cy_nogil", "cy_gil"} <= {r.impl for r in runs}:  # the closing line compares the two
        if gil_disabled():
            assert "there is no GIL to hold in this free-threaded build" in text
            assert "behind the held GIL" not in text
        else:
            assert "behind the held GIL" in text and "free-threaded" not in text


def test_spinner_stops_and_reraises_when_the_kernel_raises() -> None:
    def broken() -> None:
        raise ValueError("kernel broke")

    with pytest.raises(ValueError, match="kernel broke"):
        demos.spin_while(broken, interval=0.01)


def test_reenable_demo_on_a_gil_build_is_a_usage_error_and_on_a_free_threaded_one_shows_the_cost() -> None:
    """`gil-lab demo reenable`: under a GIL build, exit 2 with the reason; under a
    free-threaded one (CI's 3.13t run), the import turns the GIL on, with CPython's
    warning, unless PYTHON_GIL=0 keeps it off."""
    import sysconfig

    from labsrc.tools.reenable import demo_reenable

    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        with pytest.raises(ValueError, match="needs a free-threaded build"):
            demo_reenable(sys.executable, out=io.StringIO())
        return
    out = io.StringIO()
    default, forced_off = demo_reenable(sys.executable, out=out)
    assert default.before_gil is False and default.after_gil is True
    assert any("GIL" in w for w in default.warnings)
    # The speedups are the demo's figures, printed, not asserted: timing belongs to the bench.
    assert default.before_speedup > 0 and default.after_speedup > 0
    assert forced_off.before_gil is False and forced_off.after_gil is False
    assert "after the import:  GIL on" in out.getvalue()


def test_reenable_demo_with_a_missing_interpreter_is_a_usage_error(tmp_path) -> None:
    from labsrc import cli

    with pytest.raises(SystemExit) as stop:
        cli.main(["demo", "reenable", "--python", str(tmp_path / "no-python")])
    assert stop.value.code == 2
