"""The lab itself under another interpreter: `PATH -m labsrc cpu ... --json FILE` with this
run's choices (a CPython >= 3.11 where gil-lab imports, e.g. a free-threaded build with
`pip install -e .`), its rows read back with Cell.from_dict and relabelled impl@label, so
its cext rows come along. The child runs in a process group of its own, under a timeout;
Ctrl-C kills the group.

A free-threaded child imports the lab from bytecode compiled just before, in a cache of the
run's own: on 3.13t a module compiled from source keeps its constants mortal, and threads
then contend for their reference counts (see labsrc.core.constants). Whether the user's
environment writes `.pyc` files (PYTHONDONTWRITEBYTECODE) must not decide how well pure
Python scales there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from typing import Any, Callable, Optional, Sequence

from labsrc.interpreters.discover import SOURCE_ROOT, Interpreter, failed_cell
from labsrc.kernels.catalog import Kernel
from labsrc.core.results import SCHEMA, Cell
from labsrc.harness.timing import Options

LAB_MIN_TIMEOUT_S = 600.0  # the lab run there: at least this, or LAB_SLACK x our own run's time
LAB_SLACK = 10.0
COMPILE_TIMEOUT_S = 120.0


def lab_command(interp: Interpreter, kernels: Sequence[Kernel], impls: Optional[Sequence[str]],
                executors: Sequence[str], workers: Sequence[int], opts: Options, json_path: str) -> list[str]:
    """`PATH -m labsrc cpu ...` with this run's choices (calibration there: same target)."""
    argv = [interp.executable, "-m", "labsrc", "cpu", "--quiet", "--json", json_path,
            "--kernel", ",".join(k.name for k in kernels), "--executor", ",".join(executors),
            "--workers", ",".join(map(str, workers)), "--repeat", str(opts.repeats),
            "--tasks", str(opts.tasks), "--target", repr(opts.target_s),
            "--payload", ",".join(opts.payloads)]
    if impls:
        argv += ["--impl", ",".join(impls)]
    if opts.scale:
        argv += ["--scale", str(opts.scale)]
    if opts.quick:
        argv.append("--quick")
    if not opts.probe:
        argv.append("--no-probe")
    return argv


def run_lab(interp: Interpreter, kernels: Sequence[Kernel], impls: Optional[Sequence[str]],
            executors: Sequence[str], workers: Sequence[int], opts: Options, timeout_s: float,
            log: Callable[[str], None]) -> tuple[list[Cell], dict[str, Any], bool]:
    """Run the lab itself under `interp`; (its cells relabelled, its env block, interrupted).

    A run that times out, dies or writes no (or another schema's) results gives one FAILED
    row per kernel with the reason."""
    log(f"the lab itself under {interp.describe()}")
    everything = f"*@{interp.label}"
    with tempfile.TemporaryDirectory(prefix="gil-lab-") as tmp:
        json_path = os.path.join(tmp, "results.json")
        with open(os.path.join(tmp, "stderr"), "w+b") as err:
            argv = lab_command(interp, kernels, impls, executors, workers, opts, json_path)
            proc = subprocess.Popen(argv, env=child_env_compiled(interp, tmp), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
            try:
                code: Optional[int] = proc.wait(timeout=timeout_s)
            except KeyboardInterrupt:
                _killpg(proc)
                return [], {}, True
            except subprocess.TimeoutExpired:
                _killpg(proc)
                code = None
            err.seek(0)
            lines = [ln for ln in err.read().decode(errors="replace").splitlines() if ln.strip()]
        if code is None:
            reason = f"{interp.path} did not finish within {timeout_s:.0f} s (killed)"
            return [failed_cell(k, everything, reason) for k in kernels], {}, False
        try:
            with open(json_path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError):
            tail = " | ".join(lines[-3:]) or "no output"
            reason = f"{interp.path} -m labsrc cpu exited with status {code} and wrote no results ({tail})"
            return [failed_cell(k, everything, reason) for k in kernels], {}, False
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        schema = doc.get("schema") if isinstance(doc, dict) else None
        reason = f"{interp.path} wrote results schema {schema!r}; this lab reads {SCHEMA}"
        return [failed_cell(k, everything, reason) for k in kernels], {}, False
    cells = [Cell.from_dict(row) for row in doc.get("results", [])]
    for cell in cells:
        cell.impl = f"{cell.impl}@{interp.label}"
    return cells, dict(doc.get("env") or {}), False


def child_env_compiled(interp: Interpreter, tmp: str) -> dict[str, str]:
    """`interp`'s environment; for a free-threaded build, with the lab compiled to bytecode
    in `tmp` first and read from there (nothing is written into the checkout). If compiling
    fails the run goes on from source, and its env block says which constants stayed mortal."""
    env = interp.env()
    if not interp.facts.get("free_threaded_build"):
        return env
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "bytecode")
    argv = [interp.executable, "-m", "compileall", "-q", "-j", "0", str(SOURCE_ROOT / "labsrc")]
    try:
        subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=COMPILE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        pass
    return env


def _killpg(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
