"""`gil-lab check` as a library author's GIL audit, callable from a test suite:

    from labsrc.tools.audit import audit
    report = audit("zlib.compress(data)", setup="import zlib; data = bytes(50_000_000)",
                   python=["/usr/bin/python3.13", "/usr/bin/python3.13t"])
    assert report.passed("releases-gil")

Five verdicts per interpreter, each with its figure (see VERDICTS); one that cannot be
asked of an interpreter (no free-threaded build, no sub-interpreters) is "not checked" with
the reason, never a pass. Each probe runs in a child process of the audited interpreter
(labsrc.tools.audit_worker) under a timeout, so that a crash or a hang is a verdict ("no"),
not a lab that died. On a free-threaded build the thread probes run with PYTHON_GIL=0: they
judge the code without a GIL even where an import would turn it on (keeps-gil-off says
whether one does, with PYTHON_GIL unset); releases-gil keeps the caller's PYTHON_GIL, so
that PYTHON_GIL=1 asks it of a free-threaded build with its GIL turned on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from labsrc.core.usage import UsageError
from labsrc.interpreters.discover import child_env

VERDICTS: dict[str, str] = {
    "releases-gil": "the statement lets other Python threads run while it works (GIL builds)",
    "keeps-gil-off": "importing and running it leaves a free-threaded build's GIL off",
    "scales": "N threads running it at once do ~N times the work of one (builds without a GIL)",
    "thread-safe": "N threads released together, many rounds: results equal the sequential run's",
    "subinterpreter": "the module, setup and statement load and run in an own-GIL sub-interpreter",
}
YES, NO, NOT_CHECKED, ERROR = "yes", "no", "not checked", "error"
PROBE_TIMEOUT_S = 120.0
FACTS_TIMEOUT_S = 60.0
THREAD_PROBES = ("scales", "thread-safe")  # run with PYTHON_GIL=0 on a free-threaded build


@dataclass(frozen=True)
class Verdict:
    """One answer: yes, no, "not checked" (figure says why) or "error" (the user's code raised)."""

    name: str
    answer: str
    figure: str
    value: Optional[float] = None

    @property
    def failed(self) -> bool:
        return self.answer in (NO, ERROR)


@dataclass
class InterpreterAudit:
    """The verdicts under one interpreter, in VERDICTS order."""

    python: str
    label: str
    version: str
    free_threaded_build: bool
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    error: str = ""  # the user's code raised here: its message (every verdict then reads "error")


@dataclass
class AuditReport:
    """What `audit` found: one InterpreterAudit per interpreter."""

    statement: str
    setup: str
    module: str
    result: str
    interpreters: list[InterpreterAudit]

    def answers(self, name: str) -> list[Verdict]:
        """`name`'s verdict on every interpreter (KeyError for an unknown name)."""
        if name not in VERDICTS:
            raise KeyError(f"unknown verdict {name!r}; known: {', '.join(VERDICTS)}")
        return [i.verdicts[name] for i in self.interpreters if name in i.verdicts]

    def passed(self, name: str) -> bool:
        """True when `name` was checked on at least one interpreter and failed on none:
        what --require asks. "not checked" alone is never a pass."""
        found = self.answers(name)
        return any(v.answer == YES for v in found) and not any(v.failed for v in found)

    def failures(self, required: Sequence[str]) -> list[str]:
        """Why each of `required` did not pass (empty: all passed)."""
        out = []
        for name in required:
            if self.passed(name):
                continue
            found = self.answers(name)
            bad = [v for v in found if v.failed]
            if bad:
                out.append(f"{name}: " + "; ".join(f"{i.label}: {i.verdicts[name].answer}: {i.verdicts[name].figure}"
                                                  for i in self.interpreters if i.verdicts.get(name) in bad))
            else:
                out.append(f"{name}: not checked on any interpreter given")
        return out

    def errors(self) -> list[str]:
        return [f"{i.label}: {i.error}" for i in self.interpreters if i.error]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_verdict_names(names: Sequence[str], option: str) -> list[str]:
    """`names` if every one is a verdict; UsageError naming the wrong one and the allowed ones."""
    for name in names:
        if name not in VERDICTS:
            raise UsageError(f"{option}: unknown verdict {name!r}; choose from {', '.join(VERDICTS)}")
    return list(names)


def check_code(statement: str, setup: str, result: str) -> None:
    """UsageError when the statement, setup or --result does not compile (here, before any child)."""
    for text, name, mode in ((setup, "--setup", "exec"), (statement, "the statement", "exec"),
                             (result, "--result", "eval")):
        if not text:
            continue
        try:
            compile(text, f"<{name}>", mode)
        except SyntaxError as exc:
            raise UsageError(f"{name}: {exc.msg} (line {exc.lineno}): {exc.text!r}") from None


def _run_child(python: str, probe: str, job: dict[str, Any], env: dict[str, str],
               timeout_s: float) -> dict[str, Any]:
    """One probe in a child process; a crash or a timeout becomes an answer ("no")."""
    with tempfile.TemporaryDirectory(prefix="gil-lab-audit-") as folder:
        outfile = Path(folder) / "answer.json"
        proc = subprocess.Popen([python, "-m", "labsrc.tools.audit_worker", probe, str(outfile)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, start_new_session=True)
        try:
            _, stderr = proc.communicate(json.dumps(job), timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the child and anything it started
            proc.communicate()
            return {"answer": NO, "figure": f"hung: no answer within {timeout_s:g} s (killed)"}
        if outfile.exists():
            return json.loads(outfile.read_text())
    tail = " | ".join(line for line in stderr.strip().splitlines()[-2:] if line.strip())
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        return {"answer": NO, "figure": f"crashed: killed by {name}" + (f" ({tail})" if tail else "")}
    return {"answer": NO if probe != "facts" else ERROR,
            "figure": f"crashed: exit status {proc.returncode}" + (f" ({tail})" if tail else "")}


def interpreter_facts(python: str) -> dict[str, Any]:
    """The audited interpreter's build (UsageError when it is missing or cannot run the lab)."""
    found = Path(python)
    if not found.is_file() or not os.access(found, os.X_OK):
        raise UsageError(f"--python {python}: no such interpreter (give the path of a python "
                         "executable where gil-lab is installed)")
    env = child_env()
    env.pop("PYTHON_GIL", None)
    answer = _run_child(python, "facts", {}, env, FACTS_TIMEOUT_S)
    if "version" not in answer:
        raise UsageError(f"--python {python}: cannot run the audit there ({answer.get('figure')}); "
                         "it needs CPython 3.11+ with gil-lab importable")
    return answer


def audit(stmt: str = "", setup: str = "", module: str = "",
          python: Union[str, Sequence[str], None] = None, verdicts: Optional[Sequence[str]] = None,
          threads: Optional[int] = None, result: str = "", tries: int = 3,
          timeout_s: float = PROBE_TIMEOUT_S, budget_s: Optional[float] = None) -> AuditReport:
    """Audit `stmt` (timeit-style, after `setup`) and/or `module` under each `python` (default:
    this interpreter). `verdicts`: which of VERDICTS to ask (default all); `threads`: N for the
    thread probes (default: the CPUs there, 2 to 4); `result`: an expression evaluated after the
    calls that must equal its sequential value (shared state; without it thread-safe compares
    the statement's own value); `budget_s`: seconds of thread-safety rounds (default 2).
    UsageError (exit 2 in the CLI) for bad input: nothing to audit, code that does not
    compile, an unknown verdict, a missing interpreter."""
    if not stmt and not module:
        raise UsageError("nothing to audit: give a statement, --import MODULE, or both")
    check_code(stmt, setup, result)
    names = check_verdict_names(list(verdicts) if verdicts else list(VERDICTS), "verdicts")
    pythons = [python] if isinstance(python, str) else list(python or [sys.executable])
    facts = [(p, interpreter_facts(p)) for p in pythons]  # every path checked before any probe
    job = {"statement": stmt, "setup": setup, "module": module, "result": result, "threads": threads,
           "tries": tries, "budget_s": budget_s}
    report = AuditReport(stmt, setup, module, result, [])
    for path, fact in facts:
        here = InterpreterAudit(path, fact["label"], fact["version"], fact["free_threaded_build"])
        report.interpreters.append(here)
        for name in names:
            if here.error:  # the user's code raised under this interpreter: no verdict stands
                here.verdicts[name] = Verdict(name, ERROR, here.error)
                continue
            env = child_env()
            if name != "releases-gil":  # PYTHON_GIL=1 given by the user gives 3.13t a GIL to judge
                env.pop("PYTHON_GIL", None)
            if fact["free_threaded_build"] and name in THREAD_PROBES:
                env["PYTHON_GIL"] = "0"
            got = _run_child(path, name, job, env, timeout_s)
            here.verdicts[name] = Verdict(name, got["answer"], got["figure"], got.get("value"))
            if got["answer"] == ERROR and got.get("stage") not in (None, "probe"):
                here.error = got["figure"]
    _label_uniquely(report.interpreters)
    return report


def _label_uniquely(found: list[InterpreterAudit]) -> None:
    """Two interpreters of one version (a venv and its base) get #2, #3 after the label."""
    seen: dict[str, int] = {}
    for interp in found:
        seen[interp.label] = seen.get(interp.label, 0) + 1
        if seen[interp.label] > 1:
            interp.label += f"#{seen[interp.label]}"
