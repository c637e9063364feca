"""labsrc.dynamics.load: the background load counts its work, verifies, and always stops."""

from __future__ import annotations

import threading
import time

import pytest

from labsrc.dynamics.load import BackgroundLoad, LoadError, parse_load_spec, resolve, runner_of


def _load_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("load-")]


def test_threads_count_work_and_stop() -> None:
    with BackgroundLoad("noop", "spin", 2, scale=5) as load:
        before = load.snapshot()
        time.sleep(0.2)
        rate = load.rate_since(before)
        assert len(_load_threads()) == 2
    result = load.stop()
    assert result.calls >= 2 and result.units == result.calls * 5
    assert rate > 0 and result.work_per_s > 0
    assert _load_threads() == []


def test_zero_workers_is_an_idle_baseline() -> None:
    with BackgroundLoad("primes", "py", 0) as load:
        time.sleep(0.05)
    assert load.stop().calls == 0


def test_wrong_answer_is_a_load_error_and_threads_are_joined() -> None:
    with pytest.raises(LoadError, match="VerificationError"):
        with BackgroundLoad("faults", "wrong", 2, scale=1):
            pass
    assert _load_threads() == []


def test_error_inside_the_block_wins_and_load_still_stops() -> None:
    with pytest.raises(KeyboardInterrupt):
        with BackgroundLoad("noop", "spin", 1, scale=5):
            raise KeyboardInterrupt
    assert _load_threads() == []


def test_procs_run_py_in_processes_and_are_terminated() -> None:
    assert runner_of("procs") == ("py", "procs")
    with BackgroundLoad("primes", "procs", 1, scale=1) as load:
        deadline = time.monotonic() + 10
        while load.calls() < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        procs = list(load._procs)
    assert load.stop().calls >= 3
    assert all(not p.is_alive() for p in procs)


def test_names_are_checked_with_the_valid_ones_listed() -> None:
    with pytest.raises(ValueError, match="choose from: primes"):
        resolve("nope", "py")
    with pytest.raises(ValueError, match="cy_nogil.*procs"):
        resolve("primes", "fortran")
    assert parse_load_spec("primes/cy_nogil:2") == ("primes", "cy_nogil", 2)
    assert parse_load_spec("primes/py") == ("primes", "py", 1)
    for bad in ("primes", "primes/py:x", "primes/py:65", "primes/py:-1"):
        with pytest.raises(ValueError):
            parse_load_spec(bad)
