"""The audit's two thread probes, run inside the audited interpreter (see audit_worker):

- scales: N threads each running the statement at once, against one thread running the same
  share alone: the speedup, judged only where there is no GIL to serialise them;
- thread-safe: N threads released together by a barrier, many rounds, every result equal to
  the sequential one; no exception the sequential run did not raise, no hang.

Every wait has a timeout: a thread that never returns is a "no" (it hung), not a hung lab;
the child then leaves through os._exit, and the parent has its own timeout besides.
"""

from __future__ import annotations

import pickle
import sys
import threading
import time
from typing import Any, Callable, Optional

from labsrc.tools.audit_probes import (
    NO, NOT_CHECKED, YES, UserCodeError, answer, call_once, free_threaded_build, gil_enabled,
    has_value, prepare, usable_cpus)

SCALE_WORK_S = 0.25  # one thread's share of work per timing: long next to start-up and timeslices
REFERENCE_WORK_S = 0.1  # the reference loop's share: enough to see free CPUs, cheap to run
SCALES_FROM = 0.7  # speedup >= 0.7 x min(N, the reference's): "scales" (2 threads: 1.4x at most)
MIN_SCALING = 1.25  # ...and never below this: a statement that gains less does not scale
SAFETY_BUDGET_S = 2.0  # the thread-safety rounds stop after this long (at least MIN_ROUNDS)
MIN_ROUNDS, MAX_ROUNDS = 3, 200
RACE_SWITCH_S = 1e-6  # on a GIL build: switch threads as often as CPython allows, to shake out races


def default_threads(job: dict[str, Any]) -> int:
    return int(job.get("threads") or max(2, min(4, usable_cpus())))


class Hung(Exception):
    """A thread did not finish within the timeout."""


def run_together(fns: list[Callable[[], Any]], timeout_s: float) -> list[tuple[Any, Optional[BaseException]]]:
    """Run each of `fns` in its own thread, all released at once by a barrier; their results
    (value, exception) in order. Hung when any thread is still running after `timeout_s`."""
    barrier = threading.Barrier(len(fns), timeout=timeout_s)
    out: list[tuple[Any, Optional[BaseException]]] = [(None, None)] * len(fns)

    def run(i: int) -> None:
        try:
            barrier.wait()
            out[i] = (fns[i](), None)
        except BaseException as exc:  # compared with what the sequential run did
            out[i] = (None, exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True, name=f"audit-{i}") for i in range(len(fns))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout_s
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        raise Hung(f"a thread was still running after {timeout_s:g} s")
    return out


# --- scales ---------------------------------------------------------------------------------

def probe_scales(job: dict[str, Any]) -> dict[str, Any]:
    if not free_threaded_build():
        return answer(NOT_CHECKED, "this build has a GIL: threads running Python take turns, so speedup "
                                   "is not the question; ask a free-threaded build (--python .../python3.13t)")
    if not job.get("statement"):
        return answer(NOT_CHECKED, "no statement to run (give one beside --import)")
    n = default_threads(job)
    if usable_cpus() < 2:
        return answer(NOT_CHECKED, "this process may use one CPU only: threads cannot run at once")
    _, call = prepare(job)
    if gil_enabled():  # the parent sets PYTHON_GIL=0; a GIL here means something overrode it
        return answer(NOT_CHECKED, "the GIL is on in this process (PYTHON_GIL=0 was overridden)")
    # A machine busy with other work shows no scaling for anything: a reference loop that
    # scales wherever there are free CPUs tells "does not scale" from "no CPUs to scale onto".
    reference = speedup_of(_reference_loop, n, REFERENCE_WORK_S)
    if isinstance(reference, str):
        return answer(NOT_CHECKED, f"the reference loop failed: {reference}")
    if reference < SCALES_FROM * n:
        return answer(NOT_CHECKED, f"this machine is too busy to show scaling now: a reference pure-Python "
                                   f"loop ran {reference:.2f}x with {n} threads (ideal {n:.2f}x)")
    call_once(call)
    got = speedup_of(call, n, SCALE_WORK_S)
    if isinstance(got, str):
        return answer(NO, got)
    # The host's share of free CPUs moves in bursts of seconds: the reference again, right
    # after, and the statement judged against the lower of the two (never above n).
    after = speedup_of(_reference_loop, n, REFERENCE_WORK_S)
    if not isinstance(after, str):
        reference = min(reference, after)
    figure = (f"{n} threads ran {got:.2f}x the work of one in the same time (ideal {n:.2f}x; "
              f"a reference pure-Python loop around it: {reference:.2f}x)")
    if reference < SCALES_FROM * n:  # the CPUs were taken while the statement ran
        return answer(NOT_CHECKED, f"this machine got too busy to show scaling: {figure}")
    # Never "scales" without a real gain: with a reference of 1.38x, 0.7 of it let a
    # statement serialised by a lock (0.98x) pass.
    bar = max(SCALES_FROM * min(n, reference), MIN_SCALING)
    return answer(YES if got >= bar else NO, figure, got)


def _reference_loop() -> int:
    total = 0
    for i in range(20_000):  # small ints only: no refcount contention on shared constants
        total += i & 7
    return total


def speedup_of(call: Callable[[], Any], n: int, work_s: float) -> "float | str":
    """N threads each running `work_s` of calls at once, against one thread running that share
    alone: the speedup (best of three each), or why it could not be had (hung, raised)."""
    t0 = time.perf_counter()
    call()
    one = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(work_s / one))

    def share() -> None:
        for _ in range(reps):
            call()

    timeout = max(30.0, 20 * reps * one * n)
    alone, together = float("inf"), float("inf")
    for _ in range(3):  # best of three each: outside load only ever slows a run down
        t0 = time.perf_counter()
        share()
        alone = min(alone, time.perf_counter() - t0)
        t0 = time.perf_counter()
        try:
            results = run_together([share] * n, timeout)
        except Hung as exc:
            return f"hung: {exc}"
        together = min(together, time.perf_counter() - t0)
        raised = [exc for _, exc in results if exc is not None]
        if raised:
            return f"raised {type(raised[0]).__name__} in a thread: {raised[0]}"
    return n * alone / together


# --- thread-safe -----------------------------------------------------------------------------

def same(a: Any, b: Any) -> bool:
    """Equality that also copes with values whose == is not a bool (numpy arrays)."""
    try:
        return bool(a == b)
    except Exception:
        pass
    try:
        return pickle.dumps(a) == pickle.dumps(b)
    except Exception:
        return repr(a) == repr(b)


def _round(job: dict[str, Any], n: int, timeout_s: float, fresh: bool,
           shared: Optional[tuple[dict[str, Any], Callable[[], Any]]]) -> tuple[list[Any], Any]:
    """One threaded round: the N calls' values and the --result expression after them."""
    namespace, call = prepare(job) if fresh or shared is None else shared
    values = run_together([call] * n, timeout_s)
    for _, exc in values:
        if exc is not None:
            raise exc
    result = eval(job["result"], namespace) if job.get("result") else None
    return [v for v, _ in values], result


def probe_thread_safe(job: dict[str, Any]) -> dict[str, Any]:
    if not job.get("statement"):
        return answer(NOT_CHECKED, "no statement to run (give one beside --import)")
    n = default_threads(job)
    result_expr = job.get("result")
    # The reference: the same N calls one after another, from a fresh setup.
    namespace, call = prepare(job)
    t0 = time.perf_counter()
    expected = [call_once(call) for _ in range(n)]
    seq_s = time.perf_counter() - t0
    try:
        expected_result = eval(result_expr, namespace) if result_expr else None
    except BaseException as exc:
        raise UserCodeError("--result", exc) from exc
    per_call = (has_value(job["statement"]) and expected[0] is not None
                and all(same(v, expected[0]) for v in expected))
    if not result_expr and not per_call:
        why = ("the statement has no value" if not has_value(job["statement"]) or expected[0] is None
               else "its value changes from call to call even in one thread")
        return answer(NOT_CHECKED, f"nothing to compare: {why}; give --result EXPR (e.g. the shared state "
                                   "after the calls)")
    gil = gil_enabled()
    if gil:
        sys.setswitchinterval(RACE_SWITCH_S)
    fresh = bool(result_expr)  # shared state must start over each round; pure calls need no new setup
    shared = None if fresh else (namespace, call)
    timeout = max(10.0, 20 * seq_s)
    deadline = time.perf_counter() + float(job.get("budget_s") or SAFETY_BUDGET_S)
    rounds = 0
    while rounds < MAX_ROUNDS and (rounds < MIN_ROUNDS or time.perf_counter() < deadline):
        rounds += 1
        try:
            values, result = _round(job, n, timeout, fresh, shared)
        except Hung as exc:
            return answer(NO, f"hung in round {rounds}: {exc}")
        except UserCodeError:
            raise
        except BaseException as exc:
            return answer(NO, f"round {rounds}: a thread raised {type(exc).__name__}: {exc} "
                              "(the sequential calls did not)")
        if per_call and not all(same(v, expected[0]) for v in values):
            wrong = next(v for v in values if not same(v, expected[0]))
            return answer(NO, f"round {rounds}: a thread's value {_short(wrong)} != the sequential "
                              f"{_short(expected[0])}", float(rounds))
        if result_expr and not same(result, expected_result):
            return answer(NO, f"round {rounds}: {result_expr} = {_short(result)} after {n} threads, "
                              f"{_short(expected_result)} after {n} sequential calls", float(rounds))
    what = f"{result_expr} and " if result_expr else ""
    what += "every call's value" if per_call else "no exception"
    figure = f"{rounds} rounds of {n} threads released together: {what} equal to the sequential run"
    if gil:
        figure += " (under a GIL, switching every 1 us; most races hide behind a GIL: ask a free-threaded build)"
    return answer(YES, figure, float(rounds))


def _short(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."
