"""Does this call release the GIL? Measured, for any callable or any line of Python.

The question a library author asks of an extension: while `fn(*args)` runs in a worker
thread, can other Python threads run? Two independent measurements answer it:

- freeze: the main thread loops on a clock while the call runs; the longest stretch it could
  not run a single iteration, as a fraction of the call. Holding the GIL for the whole call
  freezes it (near 1: the 5 ms switch interval only lets it in at the edges); releasing it
  leaves the main thread running (near 0: the OS hands out timeslices far shorter than a
  call of a tenth of a second or more). Pure Python lands near 0 too: the interpreter
  switches threads every few milliseconds, which is not parallelism (see `gil-lab cpu`).
- contention: labsrc.core.probe's heartbeat during a second run of the call, while the main thread
  only waits: the fraction of the call the heartbeat waited for the GIL. It tells pure Python
  (short freezes, but the heartbeat waits most of the call: the threads take turns) from a
  call that really lets go (the heartbeat hardly waits).

On a free-threaded build running without a GIL (3.13t, the GIL not turned back on by
PYTHON_GIL=1, -X gil=1 or an undeclared extension) there is no GIL to release or hold: every
call leaves the main thread running, `with gil` included, and the heartbeat's lateness is
scheduling latency. The figures are still measured and reported, but the verdict says the
question was not checked, and where to ask it (a GIL build, or PYTHON_GIL=1).
"""

from __future__ import annotations

import sys
import sysconfig
import threading
import time
from array import array
from dataclasses import dataclass
from typing import Any, Callable

from labsrc.core.probe import GilProbe

RELEASES_BELOW = 0.5  # freeze under this: other threads ran through the call
HOLDS_ABOVE = 0.8  # freeze over this: nothing else ran for most of the call
# Heartbeat waiting over this, with a short freeze: turns, not a release. Pure Python reads
# 0.83-0.99; a releasing call 0.01-0.43 on a 2-CPU machine at load 4, and up to 0.68 at load
# 6 (the heartbeat then waits for a CPU, not the GIL): judged on a machine that busy, the
# verdict can be wrong either way, and the figure shows why.
TAKES_TURNS_ABOVE = 0.75
MIN_WINDOW_S = 0.05  # shorter calls are too close to timeslices to judge
NOT_CHECKED = ("not checked: this free-threaded build runs without a GIL; "
               "run gil-lab check on a GIL build (or with PYTHON_GIL=1)")


def gil_disabled() -> bool:
    """True when this process runs without a GIL: a free-threaded build (3.13t) whose GIL is
    off at run time. False on a GIL build, and on a free-threaded one whose GIL was turned on
    (PYTHON_GIL=1, -X gil=1, or importing an extension not declared free-threading safe)."""
    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        return False
    return not sys._is_gil_enabled()  # 3.13+, as every free-threaded build is


def main_thread_freeze(fn: Callable[..., Any], *args: Any) -> tuple[float, float]:
    """Run `fn(*args)` in a worker thread while this thread keeps executing Python.

    Returns (freeze, window): `window` is how long the call took, `freeze` the longest
    stretch of it during which this thread could not run one loop iteration, as a fraction
    of the window. Exceptions from `fn` are re-raised here.
    """
    stamps = array("d")
    span: list[float] = []
    failure: list[BaseException] = []

    def work() -> None:
        span.append(time.perf_counter())
        try:
            fn(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
        span.append(time.perf_counter())

    worker = threading.Thread(target=work, name="gil-check")
    clock = time.perf_counter
    worker.start()
    while worker.is_alive():
        stamps.append(clock())
    worker.join()
    stamps.append(clock())
    if failure:
        raise failure[0]
    start, end = span
    window = max(end - start, 1e-9)
    # Stamps bracketing the window: the last one before it starts through the first after.
    inside = [t for t in stamps if start < t < end]
    before = [t for t in stamps if t <= start][-1:] or [start]
    after = [t for t in stamps if t >= end][:1] or [end]
    points = before + inside + after
    longest = max(min(b, end) - max(a, start) for a, b in zip(points, points[1:]))
    return longest / window, window


@dataclass(frozen=True)
class GilCheck:
    """What `check` measured: the longest main-thread freeze (best of the tries), the call's
    length, the heartbeat's contention during one more call, and whether the process had a
    GIL at all (False: a free-threaded build running without one, where nothing is judged)."""

    freeze: float
    window_s: float
    contention: float
    gil_enabled: bool = True

    @property
    def verdict(self) -> str:
        if not self.gil_enabled:
            return NOT_CHECKED
        if self.window_s < MIN_WINDOW_S:
            return (f"too short to judge ({self.window_s * 1e3:.1f} ms): give the call more work, "
                    f"at least {MIN_WINDOW_S * 1e3:.0f} ms")
        if self.freeze < RELEASES_BELOW and self.contention > TAKES_TURNS_ABOVE:
            # Pure Python: the main thread got in at every switch interval, so it never froze
            # for long, but the heartbeat waited most of the call: turns, not parallel running.
            return ("holds the GIL, taking turns: other threads ran only between its switch "
                    "intervals (as pure Python does), never alongside it")
        if self.freeze < RELEASES_BELOW:
            return "releases the GIL: other Python threads kept running during the call"
        if self.freeze > HOLDS_ABOVE:
            return "holds the GIL: no other Python thread ran during the call"
        return "releases the GIL for part of the call only"


def check(fn: Callable[..., Any], *args: Any, tries: int = 3) -> GilCheck:
    """Measure whether `fn(*args)` releases the GIL (it is called tries + 1 times). Without a
    GIL in this process (see `gil_disabled`) the figures are measured all the same, and the
    verdict is NOT_CHECKED.

    The freeze kept is the lowest of `tries`: outside load can only make the main thread
    look frozen, never free, so the lowest is the call's own behaviour.
    """
    if tries < 1:
        raise ValueError(f"tries must be >= 1, got {tries}")
    # Read before the calls: a call that turns the GIL on (importing an undeclared extension)
    # would leave figures measured partly without it, which no verdict can stand on.
    gil_enabled = not gil_disabled()
    runs = [main_thread_freeze(fn, *args) for _ in range(tries)]
    freeze, window = min(runs)
    worker = threading.Thread(target=fn, args=args, name="gil-check-probe")
    with GilProbe() as probe:
        worker.start()
        worker.join()
    return GilCheck(freeze, window, probe.stats().contention, gil_enabled=gil_enabled)


def compile_statement(statement: str, setup: str = "") -> Callable[[], None]:
    """A callable that runs `statement` (timeit-style) after `setup` ran once, here.

    SyntaxError for code that does not compile; whatever `setup` raises propagates.
    """
    namespace: dict[str, Any] = {}
    exec(compile(setup, "<setup>", "exec"), namespace)  # the user's own code, as in timeit
    code = compile(statement, "<statement>", "exec")
    return lambda: exec(code, namespace)
