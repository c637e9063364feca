"""`gil-lab bench --only freethreading --python PATH`: the goals of a free-threaded build.

PATH is a free-threaded CPython (3.13t) where gil-lab is installed (`pip install
--prefer-binary -e .` there). In one run, interleaved as the lab always measures, this
prints and judges:

- py and cy_gil threads x2 there >= 1.8x (no GIL: pure Python and `with gil` code run
  together), cy_nogil too, for every kernel;
- the same interpreter with PYTHON_GIL=1 (`PATH:gil`): py threads x2 <= 1.1x (the lock is
  back, so what remains of the difference is the lock, not the build);
- the echo thread's median response time with one pure-Python thread beside it, over its
  median with no load, there: <= 2x (a GIL build: tens of times);
- and, for the reader, the free-threading tax: one py thread's work/s there over here
  (like for like when this interpreter is the same release with the GIL).

Figures are printed, never asserted: benchmarks are not tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Optional, Sequence, TextIO

from labsrc.bench.targets import ALL, SEQ, THREADS, Goal, evaluate, format_verdicts, goal_cell
from labsrc.core.usage import UsageError
from labsrc.harness.matrix import Options, plan, run_matrix
from labsrc.interpreters.discover import GIL_SUFFIX, Interpreter, probe
from labsrc.interpreters.rows import add_interpreter_rows
from labsrc.kernels.catalog import kernels as all_kernels

LATENCY_LIMIT = 2.0  # echo median with one py thread / with none, on a free-threaded build
LATENCY_TIMEOUT_S = 300.0
IMPLS = ("py", "cy_gil", "cy_nogil")


def ft_goals(free: str, relocked: str) -> tuple[Goal, ...]:
    """The free-threaded goals for rows labelled impl@`free` and impl@`relocked`."""
    return (
        Goal(ALL, f"py@{free}", THREADS, 2, "speedup", ">=", 1.8, "no GIL: pure Python threads run together",
             ceiling=True),
        Goal(ALL, f"cy_gil@{free}", THREADS, 2, "speedup", ">=", 1.8, "`with gil` excludes no one without a GIL",
             ceiling=True),
        Goal(ALL, f"cy_nogil@{free}", THREADS, 2, "speedup", ">=", 1.8, "the released GIL, as on any build",
             ceiling=True),
        Goal(ALL, f"py@{relocked}", THREADS, 2, "speedup", "<=", 1.1, "PYTHON_GIL=1: the lock is back"),
    )


def check_free_threaded(python: str) -> tuple[Interpreter, Interpreter]:
    """The interpreter and its PYTHON_GIL=1 twin; UsageError unless it is a free-threaded
    build running without a GIL where gil-lab itself imports."""
    free = probe(python)
    if not free.facts.get("free_threaded_build") or free.gil_enabled:
        raise UsageError(f"--free-threaded {python}: the freethreading section needs a free-threaded build running "
                         f"without a GIL (e.g. python3.13t); this one is {free.describe()}")
    if not free.runs_lab:
        raise UsageError(f"--free-threaded {python}: gil-lab does not import there ({free.lab_error}); "
                         "run `pip install --prefer-binary -e .` with that interpreter first")
    return free, probe(python + GIL_SUFFIX)


def latency_ratio(interp: Interpreter, seconds: float = 2.0) -> Optional[float]:
    """Echo median with one py thread over no load, measured by the lab under `interp`."""
    with tempfile.TemporaryDirectory(prefix="gil-lab-") as tmp:
        path = os.path.join(tmp, "latency.json")
        argv = [interp.executable, "-m", "labsrc", "latency", "--impl", "py", "--threads", "0,1",
                "--duration", f"{seconds:g}", "--json", path, "--quiet"]
        done = subprocess.run(argv, env=interp.env(), capture_output=True, text=True,
                              timeout=LATENCY_TIMEOUT_S, stdin=subprocess.DEVNULL)
        if done.returncode != 0 or not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as fh:
            rows = json.load(fh)["rows"]
    by_threads = {r["threads"]: r["p50_ms"] for r in rows if r["impl"] == "py" or r["threads"] == 0}
    idle, busy = by_threads.get(0), by_threads.get(1)
    return busy / idle if idle and busy else None


def run_ft_bench(python: Optional[str], repeats: int = 5, kernel_names: Optional[Sequence[str]] = None,
                 out: Optional[TextIO] = None) -> int:
    """Measure, print the verdicts; the number of goals missed (or not measured)."""
    out = out or sys.stdout
    if not python:
        raise UsageError("--only freethreading needs --free-threaded PATH: a free-threaded build (python3.13t)")
    free, relocked = check_free_threaded(python)
    chosen = [k for k in all_kernels() if not kernel_names or k.name in kernel_names]
    opts = Options(repeats=repeats, tasks=8, target_s=0.4)
    print(f"free-threaded goals: {free.describe()} and the same with PYTHON_GIL=1, beside this "
          f"{sys.version.split()[0]} (median of {repeats}; this takes a few minutes):", file=out, flush=True)
    started = time.monotonic()
    result = run_matrix(plan(chosen, list(IMPLS), [SEQ, THREADS], [2]), opts)
    # local_s sizes the timeout of each run there, as `gil-lab cpu --python` does
    add_interpreter_rows(result, [free, relocked], chosen, list(IMPLS), [SEQ, THREADS], [2], opts, None,
                         quiet=True, local_s=time.monotonic() - started)
    verdicts = evaluate(result.cells, ft_goals(free.label, relocked.label))
    print(format_verdicts(verdicts), file=out)
    for cell in result.failed:
        print(f"FAILED {cell.kernel}/{cell.impl}/{cell.executor}: {cell.reason}", file=out)
    print("the free-threading tax, one thread's work/s there over here (seq; a GIL build of "
          + ("the same release: like for like" if free.facts.get("python_version") == sys.version.split()[0]
             else "ANOTHER release: the ratio mixes versions") + "):", file=out)
    for kernel in chosen:
        ratios = []
        for impl in IMPLS:
            here = goal_cell(result.cells, kernel.name, impl, SEQ, 1)
            there = goal_cell(result.cells, kernel.name, f"{impl}@{free.label}", SEQ, 1)
            if here and there:
                ratios.append(f"{impl} {there.throughput / here.throughput:.2f}x")
        print(f"  {kernel.name:<11} " + "  ".join(ratios), file=out)
    ratio = latency_ratio(free)
    met = ratio is not None and ratio <= LATENCY_LIMIT
    shown = "not measured" if ratio is None else f"{ratio:.2f}x"
    print(f"echo latency there, one py thread over no load (median): {shown} (goal <= {LATENCY_LIMIT:g}x): "
          + ("met" if met else "MISSED"), file=out)
    missed = sum(1 for v in verdicts if not v.met) + (0 if met else 1)
    print(f"{len(verdicts) + 1 - missed} of {len(verdicts) + 1} free-threaded goals met in this run.", file=out)
    return missed
