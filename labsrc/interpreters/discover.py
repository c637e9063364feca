"""Other interpreters for `gil-lab cpu --python PATH[,PATH]`: what each one is, how the lab
can use it, and the label its rows carry (`py@pypy3.9`, `py@3.13`, `cy_nogil@3.14t`).

Each path is probed once, before anything is measured, by running a few lines under it
(every wait has a timeout). Two ways to use an interpreter follow from what it can import:

- the lab itself (`PATH -m labsrc cpu ...`): CPython >= 3.11 where gil-lab and its
  dependencies import (e.g. a free-threaded build where the user ran `pip install -e .`);
  every implementation built there comes back, cext rows included;
- the small worker (labsrc.interpreters.worker): any Python >= 3.9 where the pure kernels
  import (PyPy as Debian ships it: no numpy), for the `py` implementation only.

`PATH:gil` is the same interpreter with `PYTHON_GIL=1` in its environment: on a
free-threaded build that turns the GIL back on, which separates what the build costs (its
rows without a GIL) from what the lock costs (these rows, labelled `3.13t+gil`).

A missing path, an interpreter that does not start, one older than 3.9 or one where even
the pure kernels do not import is bad input (UsageError: exit 2, with the path and why);
so is `:gil` on a build that has no GIL to turn on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from labsrc.core.usage import UsageError, split_names
from labsrc.core.names import Status
from labsrc.core.results import SCHEMA, Cell

if TYPE_CHECKING:
    from labsrc.kernels.catalog import Kernel

MIN_WORKER = (3, 9)  # labsrc.interpreters.worker and the pure kernels
MIN_LAB = (3, 11)  # the harness itself
PROBE_TIMEOUT_S = 60.0
PURE_IMPL = "py"

# The folder holding the labsrc package: put first on the child's PYTHONPATH, so the
# other interpreter imports this very checkout (its pure kernels, its worker).
SOURCE_ROOT = Path(__file__).resolve().parents[2]

# Runs under any Python (2.7 included: old syntax only) so that a too-old interpreter can
# still say which version it is. The last line of stdout is the JSON answer.
_PROBE = r"""
import json, sys
out = {"version": list(sys.version_info[:3])}
if tuple(sys.version_info[:2]) >= (3, 9):
    try:
        from labsrc.interpreters import worker as foreign_worker
        out["facts"] = foreign_worker.facts()
        foreign_worker.check_kernels()
    except Exception as exc:
        out["worker_error"] = "%s: %s" % (type(exc).__name__, exc)
if tuple(sys.version_info[:2]) >= (3, 11) and "worker_error" not in out:
    try:
        import tqdm, labsrc.cli, labsrc.core.results
        from labsrc.kernels.catalog import kernels
        kernels()
        out["lab_schema"] = labsrc.core.results.SCHEMA
    except Exception as exc:
        out["lab_error"] = "%s: %s" % (type(exc).__name__, exc)
sys.stdout.write("\n" + json.dumps(out) + "\n")
"""


GIL_SUFFIX = ":gil"  # --python PATH:gil -> PYTHON_GIL=1 there


def child_env(extra: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """The environment of every child interpreter: ours, with this checkout first on
    PYTHONPATH, plus `extra` (PYTHON_GIL=1 for `PATH:gil`)."""
    env = dict(os.environ)
    env.update(extra)
    paths = [str(SOURCE_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.pop("PYTHONHOME", None)  # ours would point another interpreter at the wrong stdlib
    return env


def label_for(facts: dict[str, Any]) -> str:
    """How rows run under an interpreter are labelled: 'pypy3.9', '3.13', '3.14t' (free-threaded),
    '3.14t+gil' (a free-threaded build whose GIL is on at run time: PYTHON_GIL=1)."""
    major, minor = (facts.get("python_version") or "?.?").split(".")[:2]
    implementation = str(facts.get("python_implementation") or "")
    if implementation == "CPython":
        if not facts.get("free_threaded_build"):
            return f"{major}.{minor}"
        return f"{major}.{minor}t" + ("+gil" if facts.get("gil_enabled") else "")
    return f"{implementation.lower()}{major}.{minor}"


@dataclass(frozen=True)
class Interpreter:
    """One probed interpreter: where it is, its build facts, and whether the lab runs there."""

    path: str  # as the user gave it
    executable: str  # resolved to a file
    facts: dict[str, Any] = field(hash=False, compare=False)  # keys of envinfo.interpreter_build
    runs_lab: bool = False  # gil-lab itself imports there: run `PATH -m labsrc cpu` there
    lab_error: str = ""  # why the lab itself does not run there (the worker is used instead)
    extra_env: tuple[tuple[str, str], ...] = ()  # set in its environment (PYTHON_GIL=1 for PATH:gil)

    def env(self) -> dict[str, str]:
        """The environment to start this interpreter in."""
        return child_env(self.extra_env)

    @property
    def label(self) -> str:
        return label_for(self.facts)

    @property
    def gil_enabled(self) -> bool:
        return bool(self.facts.get("gil_enabled", True))

    def describe(self) -> str:
        """'PyPy 3.9.16 (/usr/bin/pypy3)', '3.14.0 free-threaded, GIL disabled (...)'."""
        f = self.facts
        text = f"{f.get('python_implementation')} {f.get('python_version')}"
        if f.get("free_threaded_build"):
            text += ", free-threaded, GIL " + ("enabled" if self.gil_enabled else "disabled")
        return f"{text} ({self.executable})"

    def env_block(self) -> dict[str, Any]:
        """What a run's JSON keeps about this interpreter (env["interpreters"][label])."""
        # PyPy reports its compiler as "": unknown, not a difference to name in a diff.
        block = {k: (v if v != "" else None) for k, v in self.facts.items() if k != "config_args"}
        block.update(_optimisation(self.facts.get("config_args")))
        from labsrc.core.envinfo import probe_meaning

        block["gil_probe_measures"] = probe_meaning(self.gil_enabled, bool(self.facts.get("free_threaded_build")))
        if self.extra_env:
            block["environment"] = dict(self.extra_env)
        block.update(path=self.path, executable=self.executable,
                     runs=("the lab itself" if self.runs_lab else "the pure-kernel worker"))
        return block


def _optimisation(config_args: Optional[str]) -> dict[str, Optional[bool]]:
    """python_pgo / python_lto as labsrc.core.envinfo reads them, where envinfo can (issue 12)."""
    from labsrc.core import envinfo

    flags = getattr(envinfo, "optimisation_flags", None)
    if flags is None:
        return {}
    try:
        pgo, lto = flags(config_args)
    except (TypeError, ValueError):
        return {}
    return {"python_pgo": pgo, "python_lto": lto}


def _tail(text: str, lines: int = 3) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(no output)"


def probe(path: str, timeout_s: float = PROBE_TIMEOUT_S) -> Interpreter:
    """Run the probe under `path` (`PATH:gil`: with PYTHON_GIL=1); UsageError naming the path
    and the reason when it cannot serve."""
    given = path
    extra: tuple[tuple[str, str], ...] = ()
    if path.endswith(GIL_SUFFIX) and not Path(path).exists():
        path, extra = path[:-len(GIL_SUFFIX)], (("PYTHON_GIL", "1"),)
    found = shutil.which(path) if os.sep not in path else path
    if found is None or not Path(found).exists():
        raise UsageError(f"--python {path}: no such interpreter (not a file, not on PATH)")
    if Path(found).is_dir() or not os.access(found, os.X_OK):
        raise UsageError(f"--python {path}: not an executable file")
    try:
        done = subprocess.run([found, "-c", _PROBE], capture_output=True, text=True,
                              timeout=timeout_s, env=child_env(extra), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise UsageError(f"--python {path}: did not answer a version check within {timeout_s:g} s") from None
    except OSError as exc:
        raise UsageError(f"--python {path}: cannot be started: {exc.strerror or exc}") from None
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        version = tuple(int(v) for v in answer["version"])
    except (IndexError, KeyError, TypeError, ValueError):
        raise UsageError(f"--python {path}: broken, it did not run a Python version check "
                         f"(exit status {done.returncode}: {_tail(done.stderr or done.stdout)})") from None
    shown = ".".join(map(str, version))
    if version[:2] < MIN_WORKER:
        raise UsageError(f"--python {path}: Python {shown} is too old; the lab's worker needs "
                         f"Python >= {'.'.join(map(str, MIN_WORKER))}")
    if "worker_error" in answer or "facts" not in answer:
        raise UsageError(f"--python {path}: the pure kernels do not import there: "
                         f"{answer.get('worker_error', _tail(done.stderr))}")
    if extra and not answer["facts"].get("free_threaded_build"):
        raise UsageError(f"--python {given}: {GIL_SUFFIX} sets PYTHON_GIL=1, which only a free-threaded "
                         f"build (e.g. python3.13t) has a GIL to turn on with; {path} is Python {shown} "
                         "with the GIL always on")
    runs_lab = version[:2] >= MIN_LAB and answer.get("lab_schema") == SCHEMA
    lab_error = "" if runs_lab else answer.get("lab_error", f"Python {shown} < 3.11" if version[:2] < MIN_LAB
                                                else "another results schema")
    return Interpreter(given, found, answer["facts"], runs_lab, lab_error, extra)


def check_interpreters(text: Optional[str], impls: Optional[Sequence[str]]) -> list[Interpreter]:
    """--python PATH[,PATH] probed (none when not given); UsageError on any bad one, on two
    with the same label, or on an --impl list the worker could not run (it runs only py)."""
    paths = split_names(text, "--python")
    if not paths:
        return []
    found = [probe(path) for path in paths]
    labels: dict[str, str] = {}
    for interp in found:
        if interp.label in labels:
            raise UsageError(f"--python: {labels[interp.label]} and {interp.path} are both "
                             f"{interp.label}; their rows would share one label")
        labels[interp.label] = interp.path
        if not interp.runs_lab and impls is not None and PURE_IMPL not in impls:
            raise UsageError(f"--python {interp.path}: gil-lab itself does not run there "
                             f"({interp.lab_error}), so only the pure-Python kernels run there: "
                             f"add {PURE_IMPL} to --impl")
    return found


def failed_cell(kernel: Kernel, impl: str, reason: str) -> Cell:
    """One FAILED row standing for every cell of `kernel`/`impl` that could not be measured
    under another interpreter (the worker or the lab died, was late, or could not start)."""
    return Cell(kernel.name, impl, "*", 0, status=Status.FAILED, reason=reason)
