"""`gil-lab demo reenable`: one undeclared extension turns a free-threaded CPython's GIL back on.

A free-threaded build (3.13t) runs without a GIL only while every extension module it
imports declares that it is safe without one (the `Py_mod_gil` slot set to
`Py_MOD_GIL_NOT_USED`; Cython writes it for `freethreading_compatible=True`). Importing a
module without the declaration turns the GIL on for the whole process, with a
RuntimeWarning, unless PYTHON_GIL=0 (or -X gil=0) forces it off.

The demo measures it in child processes of a free-threaded interpreter: pure-Python primes
in two threads over one thread, then `import cext.primes_undeclared` (cext.primes built
without the declaration), then the same two threads again; and once more with PYTHON_GIL=0.
Each child prints one JSON line; every wait has a timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from labsrc.tools.gilcheck import gil_disabled

UNDECLARED = "cext.primes_undeclared"
CHILD_TIMEOUT_S = 120.0
WORK_S = 0.3  # seconds of one thread's pure-Python work per measurement


def _threads_speedup(n: int, rounds: int = 3) -> float:
    """Two threads each counting primes in [0, n) over one thread doing it twice: the best
    of `rounds` tries (the same work both ways; 2.0 means the threads ran in parallel)."""
    from labsrc.kernels.primes import count_primes

    def one() -> None:
        count_primes(0, n)

    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        one()
        one()
        alone = time.perf_counter() - t0
        threads = [threading.Thread(target=one) for _ in range(2)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(CHILD_TIMEOUT_S)
        best = max(best, alone / (time.perf_counter() - t0))
    return best


def _calibrate() -> int:
    """An n for which count_primes(0, n) takes about WORK_S here."""
    from labsrc.kernels.primes import count_primes

    n = 20_000
    while True:
        t0 = time.perf_counter()
        count_primes(0, n)
        took = time.perf_counter() - t0
        if took >= WORK_S / 4:
            return max(n, int(n * WORK_S / took))
        n *= 2


def child() -> dict[str, Any]:
    """What one child process measures (run as `python -m labsrc.tools.reenable --child`)."""
    n = _calibrate()
    before = {"gil": not gil_disabled(), "speedup": _threads_speedup(n)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import cext.primes_undeclared  # noqa: F401  (the point: its import alone)
    after = {"gil": not gil_disabled(), "speedup": _threads_speedup(n)}
    return {"before": before, "after": after, "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
            "free_threaded_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
            "version": sys.version.split()[0]}


@dataclass(frozen=True)
class Outcome:
    """One child's figures: the GIL and py threads x2 before and after the import."""

    python_gil: Optional[str]  # PYTHON_GIL set for the child, or None
    before_gil: bool
    before_speedup: float
    after_gil: bool
    after_speedup: float
    warnings: tuple[str, ...]

    def lines(self) -> list[str]:
        where = f"PYTHON_GIL={self.python_gil}" if self.python_gil is not None else "default environment"
        state = {True: "on", False: "off"}
        out = [f"{where}:",
               f"  before the import: GIL {state[self.before_gil]}, py threads x2 {self.before_speedup:.2f}x",
               f"  import {UNDECLARED}: " + ("; ".join(self.warnings) or "no warning"),
               f"  after the import:  GIL {state[self.after_gil]}, py threads x2 {self.after_speedup:.2f}x"]
        return out


def run_child(python: str, python_gil: Optional[str]) -> Outcome:
    """Run the child under `python` (PYTHON_GIL as given; unset when None)."""
    env = dict(os.environ)
    env.pop("PYTHON_GIL", None)
    if python_gil is not None:
        env["PYTHON_GIL"] = python_gil
    try:
        done = subprocess.run([python, "-m", "labsrc.tools.reenable", "--child"], capture_output=True, text=True,
                              timeout=CHILD_TIMEOUT_S, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{python}: the demo's child did not finish within {CHILD_TIMEOUT_S:g} s") from None
    except OSError as exc:  # a missing or non-executable path: the user's input, not a failure
        raise ValueError(f"--python {python}: cannot be started: {exc.strerror or exc}") from None
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise RuntimeError(f"{python}: the demo's child failed (exit {done.returncode}): {tail}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    if not answer["free_threaded_build"]:
        raise ValueError(f"{python} is Python {answer['version']} with the GIL always on: the demo needs a "
                         "free-threaded build (e.g. python3.13t)")
    b, a = answer["before"], answer["after"]
    return Outcome(python_gil, b["gil"], b["speedup"], a["gil"], a["speedup"], tuple(answer["warnings"]))


def demo_reenable(python: Optional[str] = None, out: Any = None) -> list[Outcome]:
    """Print and return the two outcomes: the default environment, then PYTHON_GIL=0."""
    out = out or sys.stdout
    python = python or sys.executable
    outcomes = []
    for python_gil in (None, "0"):
        outcome = run_child(python, python_gil)
        if not outcomes:  # the first child said it is a free-threaded build
            print(f"{python}: two pure-Python threads over one, before and after importing {UNDECLARED} "
                  "(cext.primes built without freethreading_compatible):", file=out, flush=True)
        print("\n".join(outcome.lines()), file=out, flush=True)
        outcomes.append(outcome)
    return outcomes


def main(argv: Sequence[str]) -> int:
    if list(argv) == ["--child"]:
        print(json.dumps(child()))
        return 0
    print("usage: python -m labsrc.tools.reenable --child (the demo is `gil-lab demo reenable`)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
