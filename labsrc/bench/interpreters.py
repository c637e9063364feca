"""PyPy (or any other interpreter) against this CPython on the pure-Python kernels, for
`gil-lab bench`: per kernel, the throughput of `py` there over `py` here, and the
speedup of two threads there (PyPy has a GIL too: it does not scale).

One run, interleaved: each kernel's `py` is calibrated on each side (equal target time,
so each side does its own amount of work and they are compared as throughput), then
every round times this CPython's seq cell and the other interpreter's seq and threads
cells, so load on a shared machine hits both sides alike. Every answer is verified, as in
the matrix. A missing interpreter prints why and measures nothing: it is optional.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, replace
from typing import Optional, Sequence, TextIO

from labsrc.core.usage import UsageError
from labsrc.executors.registry import Work
from labsrc.interpreters.foreign import ForeignError, ForeignRun, WorkerProcess
from labsrc.interpreters.discover import PURE_IMPL, probe
from labsrc.kernels.catalog import Kernel, kernels as all_kernels
from labsrc.harness.matrix import calibrate, fill_baselines
from labsrc.core.names import ExecutorName
from labsrc.core.results import Cell
from labsrc.harness.timing import TARGET_S, CellRun, Checker, Options

DEFAULT_PYTHON = "pypy3"


@dataclass(frozen=True)
class InterpFigures:
    """One kernel: `py` here and there, and the other interpreter's threads speedup."""

    kernel: str
    here: Cell  # py seq/1 under this CPython
    there: Cell  # py@label seq/1
    threads: Optional[Cell]  # py@label threads/N

    @property
    def ratio(self) -> float:
        """Throughput there over here (work units per second, each on its calibrated work)."""
        return self.there.throughput / self.here.throughput


def measure_kernel(proc: WorkerProcess, kernel: Kernel, opts: Options, workers: int) -> InterpFigures:
    """Calibrate both sides, then time them round by round; ForeignError if the child breaks."""
    impl = kernel.impl(PURE_IMPL)
    fn = impl.load()
    scale = calibrate(kernel, fn, {}, opts.tasks, opts.target_s, kernel.quick_scale)
    work = Work(kernel.make_workload(opts.tasks, scale), scale)
    here = CellRun(kernel, impl, ExecutorName.SEQ, 1, work, Checker(kernel, impl, work), opts)
    there = ForeignRun(proc, kernel, [ExecutorName.SEQ, ExecutorName.THREADS], [workers],
                       replace(opts, quick=True))  # calibration there starts small, as here
    try:
        there.open()
        here.open()
        for _ in range(opts.repeats):
            here.repeat()
            there.round()
    except BaseException:
        here.close(abort=True)
        raise
    cells = [here.finish(), *there.finish()]
    fill_baselines(cells)
    for cell in cells:
        if not cell.ok:
            raise ForeignError(f"{cell.label}: {cell.reason}")
    threads = next((c for c in cells[1:] if c.executor == ExecutorName.THREADS), None)
    return InterpFigures(kernel.name, cells[0], cells[1], threads)


def run_interp_bench(python: str = DEFAULT_PYTHON, kernel_names: Optional[Sequence[str]] = None,
                     repeats: int = 3, workers: int = 2, out: Optional[TextIO] = None) -> list[InterpFigures]:
    """Print, per pure kernel, `py` throughput under `python` over this CPython's, and the
    threads x`workers` speedup there; return the figures ([] when `python` is unusable)."""
    out = out or sys.stdout
    try:
        interp = probe(python)
    except UsageError as exc:
        print(f"{python} vs this CPython: skipped: {exc}", file=out)
        return []
    here = f"{platform.python_implementation()} {platform.python_version()}"
    chosen = [k for k in all_kernels() if kernel_names is None or k.name in kernel_names]
    opts = Options(repeats=repeats, tasks=max(4, 2 * workers), target_s=TARGET_S * workers)
    print(f"{interp.describe()} vs this {here}, pure-Python kernels: py seq/1 throughput (work units/s, "
          f"median of {repeats}, rounds interleaved, each side calibrated to ~{opts.target_s:g} s), "
          f"and {interp.label} threads x{workers} speedup:", file=out, flush=True)
    figures: list[InterpFigures] = []
    proc = WorkerProcess(interp)
    try:
        for kernel in chosen:
            try:
                fig = measure_kernel(proc, kernel, opts, workers)
            except ForeignError as exc:
                print(f"  {kernel.name:<10} FAILED: {exc}", file=out)
                proc.kill()
                proc = WorkerProcess(interp)
                continue
            figures.append(fig)
            threads = f"{fig.threads.speedup:.2f}x" if fig.threads is not None else "-"
            print(f"  {kernel.name:<10} py {fig.here.throughput:9.4g}/s  py@{interp.label} "
                  f"{fig.there.throughput:9.4g}/s  = {fig.ratio:5.1f}x   threads x{workers} there: {threads}",
                  file=out, flush=True)
    finally:
        proc.close()
    return figures


if __name__ == "__main__":  # python -m labsrc.bench.interpreters [PYTHON]
    run_interp_bench(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PYTHON)
