"""The audit's child process: `python -m labsrc.tools.audit_worker PROBE OUTFILE` reads the
job (JSON) on stdin, runs one probe and writes its answer (JSON) to OUTFILE.

labsrc.tools.audit starts one child per probe, so that what one probe does to its process
(an import that turns a free-threaded build's GIL back on, a crash, a hang, a sub-interpreter
left behind) cannot touch the next probe or the lab; the parent turns a crash or a timeout
into a verdict. The answer goes to a file, not stdout, so that whatever the audited code
prints cannot corrupt it.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any, Callable

from labsrc.tools import audit_subinterp, audit_threads
from labsrc.tools.audit_probes import ERROR, UserCodeError, answer, facts, probe_keeps_gil_off, probe_releases

PROBES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "facts": lambda job: facts(),
    "releases-gil": probe_releases,
    "keeps-gil-off": probe_keeps_gil_off,
    "scales": audit_threads.probe_scales,
    "thread-safe": audit_threads.probe_thread_safe,
    "subinterpreter": audit_subinterp.probe_subinterpreter,
}


def run_probe(name: str, job: dict[str, Any]) -> dict[str, Any]:
    try:
        return PROBES[name](job)
    except UserCodeError as exc:
        return answer(ERROR, str(exc), stage=exc.stage, exc_type=exc.exc_type)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in PROBES:
        print(f"usage: python -m labsrc.tools.audit_worker {{{','.join(PROBES)}}} OUTFILE < job.json "
              "(the audit is `gil-lab check`)", file=sys.stderr)
        return 2
    name, outfile = argv
    job = json.loads(sys.stdin.read() or "{}")
    started = time.perf_counter()
    try:
        out = run_probe(name, job)
    except Exception:  # the probe itself broke: said in full, never a verdict
        out = answer(ERROR, "the probe failed: " + traceback.format_exc(limit=3).strip().splitlines()[-1],
                     stage="probe", trace=traceback.format_exc())
    out["seconds"] = time.perf_counter() - started
    with open(outfile, "w") as f:
        json.dump(out, f)
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads left running (a hung call) must not keep this process alive: the answer is out.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
