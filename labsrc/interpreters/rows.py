"""Rows from other interpreters beside the host's: each interpreter runs the lab itself
(labsrc.interpreters.lab) or the small worker (labsrc.interpreters.foreign), and its cells
join the host's matrix result. The one module that knows both ways, so that neither needs
the other."""

from __future__ import annotations

import sys
from typing import Any, Optional, Sequence

from labsrc.harness.matrix import MatrixResult, fill_baselines
from labsrc.harness.timing import Options
from labsrc.interpreters.discover import Interpreter
from labsrc.interpreters.foreign import run_worker
from labsrc.interpreters.lab import LAB_MIN_TIMEOUT_S, LAB_SLACK, run_lab
from labsrc.kernels.catalog import Kernel


def add_interpreter_rows(result: MatrixResult, interps: Sequence[Interpreter], kernels: Sequence[Kernel],
                         impls: Optional[Sequence[str]], executors: Sequence[str], workers: Sequence[int],
                         opts: Options, env: Optional[dict[str, Any]], quiet: bool, local_s: float) -> None:
    """Measure the same matrix under each interpreter and append its rows to `result`
    (baselines refilled; env["interpreters"][label] filled; Ctrl-C sets `interrupted`)."""
    def log(text: str) -> None:
        if not quiet:
            print(f"gil-lab: {text}", file=sys.stderr, flush=True)

    blocks: dict[str, Any] = {}
    for interp in interps:
        if interp.runs_lab:
            timeout = max(LAB_MIN_TIMEOUT_S, LAB_SLACK * local_s)
            cells, lab_env, interrupted = run_lab(interp, kernels, impls, executors, workers, opts, timeout, log)
            blocks[interp.label] = {**lab_env, **interp.env_block()}
        else:
            cells, interrupted = run_worker(interp, kernels, executors, workers, opts, log)
            blocks[interp.label] = interp.env_block()
        result.cells.extend(cells)
        if interrupted:
            result.interrupted = True
            break
    if env is not None:
        env["interpreters"] = blocks
    fill_baselines(result.cells)
