"""The audit's sub-interpreter probe, run inside the audited interpreter (see audit_worker):
does the module (and the setup, and one call) load and run in a sub-interpreter with its own
GIL (PEP 684, Python 3.12+)?

An extension loads there only if it opted in (multi-phase init with Py_mod_multiple_interpreters
= per-interpreter GIL; Cython's `subinterpreters_compatible=own_gil`); otherwise the import
raises ImportError "module X does not support loading in subinterpreters". When the code fails
there, it is run once more in the main interpreter: failing there too, it is the user's code
that is broken (an error, not a verdict).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Optional

from labsrc.tools.audit_probes import NO, NOT_CHECKED, YES, answer, call_once, prepare, subinterpreter_api

# Runs inside the sub-interpreter; %r slots are the job's own strings.
_SCRIPT = """
import sys
sys.path[:] = %r
module = %r
namespace = {"__name__": "__audit__"}
if module:
    import importlib
    importlib.import_module(module)
    namespace[module.split(".")[0]] = __import__(module)
exec(compile(%r, "<setup>", "exec"), namespace)
exec(compile(%r, "<statement>", "exec"), namespace)
"""


def run_in_subinterpreter(api: str, script: str) -> Optional[str]:
    """Run `script` in a new own-GIL sub-interpreter; None when it ran, else 'Type: message'."""
    mod: Any = importlib.import_module(api)
    if api.endswith(".interpreters"):  # the PEP 734 backport: interpreters.create() is own-GIL
        interp = mod.create()
        try:
            interp.exec(script)
        except mod.ExecutionFailed as exc:
            info = exc.excinfo
            return f"{info.type.__name__}: {info.msg}"
        finally:
            interp.close()
        return None
    if api == "_interpreters":  # 3.13's low-level module: exec returns the exception's info
        iid = mod.create("isolated")  # own GIL, its own allocator, strict extension checks
        try:
            info = mod.exec(iid, script)
        finally:
            mod.destroy(iid)
        return None if info is None else f"{info.type.__name__}: {info.msg}"
    iid = mod.create(isolated=True)  # 3.12's _xxsubinterpreters: raises RunFailedError
    try:
        mod.run_string(iid, script)
    except mod.RunFailedError as exc:
        return str(exc)
    finally:
        mod.destroy(iid)
    return None


def _last_line(text: str, width: int = 160) -> str:
    """numpy wraps the reason in a page of advice: keep its last meaningful line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    kind = lines[0].split(":")[0] if lines and ":" in lines[0] else ""
    last = (lines[-1] if lines else text).replace("Original error was: ", "")  # numpy's wording
    if kind and not last.startswith(kind):
        last = f"{kind}: ...{last}"
    return last if len(last) <= width else last[:width - 3] + "..."


def probe_subinterpreter(job: dict[str, Any]) -> dict[str, Any]:
    api = subinterpreter_api()
    if api is None:
        why = (f"sub-interpreters with their own GIL need Python 3.12+ (PEP 684); this is "
               f"{sys.version.split()[0]}" if sys.version_info < (3, 12)
               else "no sub-interpreter module here (_interpreters / _xxsubinterpreters)")
        return answer(NOT_CHECKED, why)
    script = _SCRIPT % (list(sys.path), job.get("module") or "", job.get("setup") or "",
                        job.get("statement") or "pass")
    failed = run_in_subinterpreter(api, script)
    ran = ("imported " + job["module"] if job.get("module") else "ran the setup")
    ran += " and one call" if job.get("statement") else ""
    if failed is None:
        return answer(YES, f"{ran} in an own-GIL sub-interpreter (via {api})")
    _, call = prepare(job)  # UserCodeError here: the code fails in the main interpreter too
    if job.get("statement"):
        call_once(call)
    return answer(NO, _last_line(failed))
