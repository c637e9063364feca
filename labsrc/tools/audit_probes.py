"""The audit's probes and their shared helpers, run inside the audited interpreter by
labsrc.tools.audit_worker (one child process per probe): the interpreter's facts,
releases-gil and keeps-gil-off, and the preparation every probe shares (import the module,
run the setup, compile the statement).

Every answer is {"answer": yes|no|not checked|error, "figure": text, "value": number|null};
"error" also names the `stage` (import, setup, statement) where the user's own code raised.
The thread probes live in audit_threads.py, the sub-interpreter one in audit_subinterp.py.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import sys
import sysconfig
import warnings
from typing import Any, Callable, Optional

YES, NO, NOT_CHECKED, ERROR = "yes", "no", "not checked", "error"
GIL_WARNING = re.compile(r"to load module '([^']+)'")  # CPython 3.13t's RuntimeWarning text


class UserCodeError(Exception):
    """The audited code itself raised (in `stage`): no verdict stands on it."""

    def __init__(self, stage: str, exc: BaseException) -> None:
        super().__init__(f"{stage} raised {type(exc).__name__}: {exc}")
        self.stage = stage
        self.exc_type = type(exc).__name__


def answer(kind: str, figure: str, value: Optional[float] = None, **extra: Any) -> dict[str, Any]:
    return {"answer": kind, "figure": figure, "value": value, **extra}


def free_threaded_build() -> bool:
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_enabled() -> bool:
    """Whether this process has a GIL right now (always True on a GIL build)."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def subinterpreter_api() -> Optional[str]:
    """Which module can start an own-GIL sub-interpreter here: the PEP 734 backport, the
    stdlib's low-level `_interpreters` (3.13) or `_xxsubinterpreters` (3.12); None before 3.12."""
    if sys.version_info < (3, 12):
        return None
    for name in ("interpreters_backport.interpreters", "_interpreters", "_xxsubinterpreters"):
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        return name
    return None


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def facts() -> dict[str, Any]:
    """What the parent needs to know before choosing which probes can run here."""
    ft = free_threaded_build()
    version = ".".join(map(str, sys.version_info[:3])) + ("t" if ft else "")
    return {"version": version, "label": f"{sys.version_info[0]}.{sys.version_info[1]}" + ("t" if ft else ""),
            "free_threaded_build": ft, "gil_enabled": gil_enabled(), "cpus": usable_cpus(),
            "subinterpreters": subinterpreter_api(), "executable": sys.executable}


def make_call(statement: str, namespace: dict[str, Any]) -> Callable[[], Any]:
    """The statement as a function of no arguments, timeit-style: names it assigns are its
    own locals (so threads do not share them), names from the setup are globals, and when
    its last line is an expression the function returns that value (the result compared
    across threads)."""
    tree = ast.parse(statement, "<statement>", "exec")
    body = list(tree.body) or [ast.Pass()]
    if isinstance(body[-1], ast.Expr):
        body[-1] = ast.Return(body[-1].value)
        ast.copy_location(body[-1], tree.body[-1])
    wrapper = ast.parse("def __audited__():\n    pass\n", "<statement>", "exec")
    wrapper.body[0].body = body  # type: ignore[attr-defined]
    ast.fix_missing_locations(wrapper)
    exec(compile(wrapper, "<statement>", "exec"), namespace)  # the user's own code, as in timeit
    return namespace.pop("__audited__")


def has_value(statement: str) -> bool:
    tree = ast.parse(statement, "<statement>", "exec")
    return bool(tree.body) and isinstance(tree.body[-1], ast.Expr)


def prepare(job: dict[str, Any]) -> tuple[dict[str, Any], Callable[[], Any]]:
    """Import the module, run the setup once, and compile the statement (not called yet).
    UserCodeError when the user's code raises."""
    namespace: dict[str, Any] = {"__name__": "__audit__"}
    module = job.get("module")
    if module:
        try:
            importlib.import_module(module)
            namespace[module.split(".")[0]] = __import__(module)  # bound as `import a.b` binds it
        except BaseException as exc:
            raise UserCodeError(f"import {module}", exc) from exc
    try:
        exec(compile(job.get("setup") or "", "<setup>", "exec"), namespace)
    except BaseException as exc:
        raise UserCodeError("--setup", exc) from exc
    return namespace, make_call(job.get("statement") or "pass", namespace)


def call_once(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except BaseException as exc:
        raise UserCodeError("the statement", exc) from exc


# --- releases-gil ---------------------------------------------------------------------------

def probe_releases(job: dict[str, Any]) -> dict[str, Any]:
    """Today's `gil-lab check`: the main thread's longest stall while the statement runs."""
    if not gil_enabled():
        return answer(NOT_CHECKED, "this free-threaded build runs without a GIL, so there is nothing to "
                                   "release; ask a GIL build (or run gil-lab check with PYTHON_GIL=1)")
    if not job.get("statement"):
        return answer(NOT_CHECKED, "no statement to run (give one beside --import)")
    from labsrc.tools.gilcheck import check

    _, call = prepare(job)
    call_once(call)  # a raising statement is the user's error, said as such, before measuring
    result = check(call, tries=int(job.get("tries", 3)))
    verdict = result.verdict
    figure = (f"ran {result.window_s:.3f} s; the main thread's longest stall was {result.freeze:.1%} of it; "
              f"the GIL heartbeat waited {result.contention:.1%} of it")
    if verdict.startswith("releases the GIL:"):
        return answer(YES, f"{figure} ({verdict.split(':')[0]})", result.freeze)
    if verdict.startswith("too short"):
        return answer(NOT_CHECKED, f"{figure}: {verdict}", result.freeze)
    return answer(NO, f"{figure} ({verdict.split(':')[0]})", result.freeze)


# --- keeps-gil-off --------------------------------------------------------------------------

def probe_keeps_gil_off(job: dict[str, Any]) -> dict[str, Any]:
    """Import, set up and call once; the GIL must still be off afterwards, else name the module
    that turned it on: from CPython's RuntimeWarning, or (if something swallowed the warning)
    from the import audit events, checking the GIL at each one."""
    if not free_threaded_build():
        return answer(NOT_CHECKED, "this build always has a GIL; ask a free-threaded build "
                                   "(--python .../python3.13t)")
    if gil_enabled():
        return answer(NOT_CHECKED, "the GIL was already on before anything was imported "
                                   "(PYTHON_GIL=1 or -X gil=1 in this interpreter's options?)")
    loaded: list[str] = []
    first_on: list[str] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "import":
            if not first_on and gil_enabled() and loaded:
                first_on.append(loaded[-1])  # the GIL came on while the previous one loaded
            loaded.append(str(args[0]))

    before = set(sys.modules)
    sys.addaudithook(hook)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, call = prepare(job)
        if job.get("statement"):
            call_once(call)
    new = sorted(set(sys.modules) - before)
    if not gil_enabled():
        return answer(YES, f"the GIL stayed off through {len(new)} newly loaded module{'s' if len(new) != 1 else ''}"
                           + (" and one call" if job.get("statement") else ""))
    named = [m.group(1) for w in caught if (m := GIL_WARNING.search(str(w.message)))]
    culprit = named[0] if named else (first_on[0] if first_on else "")
    how = f"importing {culprit} turned the GIL on" if culprit else "the GIL came on (no module named by CPython)"
    return answer(NO, how + " (CPython's RuntimeWarning: it does not declare Py_mod_gil "
                            "= Py_MOD_GIL_NOT_USED)", culprit=culprit)
