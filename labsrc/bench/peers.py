"""The numba peers next to the Cython twins, measured in one run (`python -m labsrc.bench.peers`).

Per kernel:

- one core: the time of one task under `numba` over its time under `cy_nogil`, the two
  alternated call by call, best of N (under 1: numba is faster), on the kernel's own
  workload calibrated to ~0.2 s a task; the seconds numba spent compiling the peer module
  (its `COMPILE_S`) and loading the impl (import + compile, numba's own import apart);
- two threads: `numba` and `numba_gil` running equal tasks (at most 8x the catalog's size,
  together the work of one one-core task) on a ThreadPoolExecutor of 2, against the very
  same tasks one after the other, best of 2N rounds. The goals: numba >= 1.8x (the GIL is
  released, so the threads run together) and numba_gil <= 1.1x (the GIL is held, so they
  take turns), each printed as met or MISSED, next to `cy_nogil` measured in the same rounds
  as a control: when it misses 1.8x too, the machine had no second core to give (the load
  average is printed at the start).

Every result is checked by the kernel's verifier. Figures are printed, never asserted:
benchmarks are not tests. `gil-lab bench` calls `run_peers_bench`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, TextIO

from labsrc.core.allocator import pin_allocator
from labsrc.kernels.catalog import ImplUnavailable, Kernel, TaskArgs, get_kernel

__all__ = ["KERNELS", "THREAD_GOALS", "ThreadGoal", "main", "run_peers_bench"]

KERNELS = ("primes", "arcfour", "sha256", "mandelbrot")

TaskFn = Callable[..., Any]


@dataclass(frozen=True)
class ThreadGoal:
    """`impl` on 2 threads must reach a speedup `op` `bound` over the same tasks in sequence."""

    impl: str
    op: str
    bound: float
    why: str

    def met(self, speedup: float) -> bool:
        return speedup >= self.bound if self.op == ">=" else speedup <= self.bound


THREAD_GOALS = (
    ThreadGoal("numba", ">=", 1.8, "nogil=True: the threads run together"),
    ThreadGoal("numba_gil", "<=", 1.1, "GIL held: the threads take turns"),
)

THREADS = 2
MIN_TASKS_PER_THREAD = 2
THREAD_TASK_CAP = 8  # thread tasks are at most this many times the catalog's default scale
THREAD_ROUNDS_PER_REPEAT = 2  # thread rounds are short: twice as many as one-core repeats
# Measured in the same rounds as the goals: when it misses 1.8x too, the machine had no
# second core to give, whatever numba does.
CONTROL = "cy_nogil"


def _say(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)  # flushed: a figure shows as soon as it is measured


def _elapsed(fn: TaskFn, args: TaskArgs) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def _calibrated_scale(kernel: Kernel, fn: TaskFn, target_s: float) -> int:
    """A workload scale at which one task of `fn` takes about `target_s` (cost ~ scale)."""
    scale = kernel.quick_scale
    while True:
        (args,) = kernel.make_workload(1, scale)
        took = _elapsed(fn, args)
        if took >= target_s / 4 or scale >= 2**20:
            return max(1, round(scale * target_s / max(took, 1e-6)))
        scale *= 4


def _one_core_ratio(
    fn: TaskFn, base: TaskFn, args: TaskArgs, repeats: int
) -> tuple[float, float, float]:
    """(best time of fn, best time of base, fn / base), the two calls alternated."""
    mine: list[float] = []
    theirs: list[float] = []
    for _ in range(repeats):
        mine.append(_elapsed(fn, args))
        theirs.append(_elapsed(base, args))
    return min(mine), min(theirs), min(mine) / min(theirs)


def _thread_speedups(fns: dict[str, TaskFn], tasks: list[TaskArgs],
                     rounds: int) -> dict[str, tuple[float, float]]:
    """Per impl: (best-of-N speedup, median speedup) of THREADS threads over a sequential loop
    through the same tasks.

    The pool is started (its threads created) before any timing. Every round runs each impl
    sequentially and then on the pool, impl after impl, so load from elsewhere on the machine
    falls on all of them alike; the best of many short rounds is the figure, since load only
    ever takes a core away.
    """
    seq: dict[str, list[float]] = {name: [] for name in fns}
    par: dict[str, list[float]] = {name: [] for name in fns}
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(lambda _: None, range(THREADS)))  # start the threads now
        for _ in range(rounds):
            for name, fn in fns.items():
                started = time.perf_counter()
                for args in tasks:
                    fn(*args)
                seq[name].append(time.perf_counter() - started)
                started = time.perf_counter()
                list(pool.map(lambda args: fn(*args), tasks))  # noqa: B023 (used at once)
                par[name].append(time.perf_counter() - started)
    return {
        name: (min(seq[name]) / min(par[name]),
               statistics.median(seq[name]) / statistics.median(par[name]))
        for name in fns
    }


def _verified(kernel: Kernel, fn: TaskFn, tasks: list[TaskArgs]) -> None:
    """Run every task once (a warm-up) and check it: a fast wrong answer is no figure."""
    for args in tasks:
        kernel.verify(args, fn(*args))


def _load(kernel: Kernel, name: str) -> tuple[TaskFn, float]:
    """The impl's task function and the seconds `Impl.load()` took (import + compile)."""
    started = time.perf_counter()
    fn = kernel.impl(name).load()
    return fn, time.perf_counter() - started


def _bench_kernel(name: str, repeats: int, target_s: float, out: TextIO) -> dict[str, float]:
    """Measure and print one kernel's figures; return them keyed `<kernel>_<figure>`."""
    kernel = get_kernel(name)
    figures: dict[str, float] = {}
    numba_fn, load_s = _load(kernel, "numba")
    peer = importlib.import_module(kernel.impl("numba").module)
    compile_s = sum(peer.COMPILE_S.values())
    figures[f"{name}_numba_load_s"] = load_s
    figures[f"{name}_numba_compile_s"] = compile_s
    _say(out, f"  {name}: compile {compile_s:.2f} s (load: import + compile {load_s:.2f} s)")

    scale = _calibrated_scale(kernel, numba_fn, target_s)
    (args,) = kernel.make_workload(1, scale)
    cy_fn: Optional[TaskFn] = None
    try:
        cy_fn = kernel.impl("cy_nogil").load()
    except (ImplUnavailable, KeyError) as exc:
        _say(out, f"    numba / cy_nogil: cy_nogil unavailable ({exc})")
    else:
        _verified(kernel, numba_fn, [args])
        _verified(kernel, cy_fn, [args])
        nb_s, cy_s, ratio = _one_core_ratio(numba_fn, cy_fn, args, repeats)
        figures[f"{name}_numba_vs_cy_nogil"] = ratio
        _say(out, f"    one core, scale {scale}: numba {nb_s * 1e3:.1f} ms, cy_nogil"
                  f" {cy_s * 1e3:.1f} ms: numba / cy_nogil = {ratio:.2f}x"
                  f" (interleaved, best of {repeats})")

    # Threads: the one-core task's work, cut into tasks of at most
    # THREAD_TASK_CAP x the catalog's default size. Two threads handling tens of MB at once
    # measure page faults and memory traffic, not the GIL (numba's arcfour: 1.94x on 512 KiB
    # tasks, 1.54x on 23 MiB ones, the Cython twin alike).
    task_scale = max(1, min(scale // (2 * MIN_TASKS_PER_THREAD),
                            THREAD_TASK_CAP * kernel.default_scale))
    per_thread = max(MIN_TASKS_PER_THREAD, round(scale / (THREADS * task_scale)))
    tasks = kernel.make_workload(THREADS * per_thread, task_scale)
    fns = {goal.impl: _load(kernel, goal.impl)[0] for goal in THREAD_GOALS}
    if cy_fn is not None:
        fns[CONTROL] = cy_fn
    for fn in fns.values():
        _verified(kernel, fn, tasks)
    speedups = _thread_speedups(fns, tasks, THREAD_ROUNDS_PER_REPEAT * repeats)
    for impl, (best, median) in speedups.items():
        figures[f"{name}_{impl}_threads{THREADS}_speedup"] = best
        goal = next((g for g in THREAD_GOALS if g.impl == impl), None)
        if goal is None:
            verdict = "control, no goal: the same tasks through the Cython twin"
        else:
            verdict = f"goal {goal.op} {goal.bound:g}x: {'met' if goal.met(best) else 'MISSED'}"
            verdict += f" ({goal.why})"
        _say(out, f"    {impl:<9} threads x{THREADS}: {best:.2f}x (median {median:.2f}x)"
                  f" vs sequential, {verdict}")
    return figures


def run_peers_bench(
    out: Optional[TextIO] = None,
    repeats: int = 7,
    kernels: Sequence[str] = KERNELS,
    target_s: float = 0.2,
) -> dict[str, float]:
    """Print the numba peers' figures (see the module docstring) and return them.

    Keys: `numba_import_s`, and per kernel `<kernel>_numba_vs_cy_nogil` (time ratio, one
    core), `<kernel>_numba_compile_s`, `<kernel>_numba_load_s`, and
    `<kernel>_{numba,numba_gil,cy_nogil}_threads2_speedup`. Without numba it prints why
    and returns {}.
    """
    out = out or sys.stdout
    pin_allocator()  # as in every lab run: repeats reuse memory instead of faulting it in
    started = time.perf_counter()
    try:
        importlib.import_module("labsrc.kernels._numba_peer")  # imports numba itself
    except ImplUnavailable as exc:
        _say(out, f"numba peers: {exc}")
        return {}
    figures = {"numba_import_s": time.perf_counter() - started}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    _say(out, f"numba peers (load average {load:.1f} on {os.cpu_count()} CPUs; numba imported"
              f" in {figures['numba_import_s']:.2f} s). One core: numba / cy_nogil time, under 1"
              f" = numba faster. Then {THREADS} threads sharing equal tasks vs the same tasks in"
              " sequence:")
    for name in kernels:
        figures.update(_bench_kernel(name, repeats, target_s, out))
    return figures


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -m labsrc.bench.peers [--repeats N] [--kernel a,b]`."""
    parser = argparse.ArgumentParser(prog="python -m labsrc.bench.peers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="rounds per figure (best of N)")
    parser.add_argument("--kernel", default=",".join(KERNELS),
                        help=f"comma-separated kernels (default: {','.join(KERNELS)})")
    parser.add_argument("--target", type=float, default=0.2, help="seconds per one-core task")
    opts = parser.parse_args(argv)
    chosen = [k for k in opts.kernel.split(",") if k]
    unknown = sorted(set(chosen) - set(KERNELS))
    if unknown or not chosen or opts.repeats < 1 or opts.target <= 0:
        parser.error(f"--kernel takes names from {', '.join(KERNELS)}; --repeats >= 1; --target > 0"
                     + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    run_peers_bench(sys.stdout, opts.repeats, chosen, opts.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
