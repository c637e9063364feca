"""`gil-lab check`, `demo` and `bench`: the lab's tools beside the matrix, as subcommands
(`add_commands`, listed in labsrc.cli.COMMAND_MODULES)."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from labsrc.cliargs import (
    BENCH_SECTIONS,
    DEFAULT_BENCH_SECTIONS,
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    bench_sections,
    float_in,
    positive_int,
)


def cmd_check(args: argparse.Namespace) -> int:
    """The GIL audit of STATEMENT (timeit-style, after --setup) and/or --import MODULE, under
    each --python: one table of verdicts (labsrc.tools.audit); exit 1 when a --require'd
    verdict fails or the audited code raises, 2 for bad input."""
    import json

    from labsrc.core.usage import split_names
    from labsrc.tools.audit import VERDICTS, audit, check_verdict_names
    from labsrc.tools.audit_table import render

    only = check_verdict_names(split_names(args.only, "--only") or list(VERDICTS), "--only")
    required = check_verdict_names(split_names(args.require, "--require") or [], "--require")
    asked = [name for name in VERDICTS if name in only or name in required]
    report = audit(args.statement, setup=args.setup, module=args.module, python=args.python,
                   verdicts=asked, threads=args.threads, result=args.result, tries=args.tries,
                   timeout_s=args.timeout)
    if args.json:
        print(json.dumps({**report.to_json(), "required": required,
                          "required_failures": report.failures(required)}, indent=2))
    else:
        print(render(report, required), flush=True)
    for error in report.errors():  # the audited code raised: no verdict stands on it
        print(f"gil-lab: {error}", file=sys.stderr)
    return EXIT_FAILED if report.errors() or report.failures(required) else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """The book's demos, `map` (Executor.map, timestamped) and `spinner`; and `reenable`
    (an undeclared extension turns a free-threaded build's GIL back on)."""
    from labsrc.tools import demos

    if args.which == "map":
        demos.demo_map(scale=args.scale)
    elif args.which == "spinner":
        demos.demo_spinner(seconds=args.seconds)
    else:
        from labsrc.tools.reenable import demo_reenable

        try:
            demo_reenable(args.python)
        except ValueError as exc:  # not a free-threaded build: the user's choice, exit 2
            raise UsageError(str(exc)) from None
        except RuntimeError as exc:
            print(f"gil-lab: {exc}", file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    """Harness overhead per task, GIL-probe overhead and the kernels' speed goals; beside a
    noisy neighbour when asked (--neighbour)."""
    if not args.neighbour:
        return _bench_sections(args)
    from labsrc.tools.neighbour import Neighbour

    neighbour = Neighbour(args.neighbour)
    print(f"Measured beside {neighbour.describe()} (--neighbour).", flush=True)
    try:
        with neighbour:
            return _bench_sections(args)
    except RuntimeError as exc:  # it did not start
        print(f"gil-lab: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _bench_sections(args: argparse.Namespace) -> int:
    from labsrc.bench.run import run_bench

    sections, repeats, status = args.only, args.repeat or 5, EXIT_OK
    if "harness" in sections or "kernels" in sections:
        run_bench(tasks=args.tasks, repeats=repeats, goals="kernels" in sections,
                  harness="harness" in sections)
    if "dynamics" in sections:
        from labsrc.dynamics.bench import run_goals

        print(flush=True)
        status = max(status, run_goals(quick=False))
    if "peers" in sections:
        from labsrc.bench.peers import run_peers_bench

        print(flush=True)
        run_peers_bench(repeats=max(repeats, 7))
    if "interpreters" in sections:
        from labsrc.bench.interpreters import run_interp_bench

        print(flush=True)
        run_interp_bench(args.python, repeats=max(3, repeats // 2))
    if "freethreading" in sections:
        from labsrc.bench.freethreading import run_ft_bench

        print(flush=True)
        status = max(status, EXIT_FAILED if run_ft_bench(args.free_threaded, repeats=repeats) else EXIT_OK)
    return status


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
                 ) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add check, demo and bench to `sub`; return their handlers."""
    p = sub.add_parser("check", help="the GIL audit of a statement or a module: releases the GIL? keeps "
                                     "a free-threaded build free? scales? thread-safe? loads in a sub-interpreter?",
                       description="Audit STATEMENT (timeit-style, after --setup) and/or --import MODULE under "
                                   "each --python: one table of verdicts (releases-gil, keeps-gil-off, scales, "
                                   "thread-safe, subinterpreter), each with its figure; a verdict that cannot be "
                                   "asked of an interpreter reads 'not checked: why'. Example: gil-lab check "
                                   "--setup \"import zlib; data = bytes(100_000_000)\" \"zlib.compress(data)\"")
    p.add_argument("statement", nargs="?", default="",
                   help="Python code to run (give it ~0.1 s of work or more); optional with --import")
    p.add_argument("--setup", default="", help="code run once before, e.g. imports and data")
    p.add_argument("--import", dest="module", default="", metavar="MODULE",
                   help="a module to audit: imported first (keeps-gil-off names the first module that "
                        "turned the GIL on; subinterpreter says whether it loads there)")
    p.add_argument("--python", action="append", metavar="PATH",
                   help="an interpreter to audit under, where gil-lab is installed (repeatable; default: "
                        "this one), e.g. --python /usr/bin/python3.13 --python /usr/bin/python3.13t")
    p.add_argument("--only", metavar="VERDICT[,...]", help="ask only these verdicts (default: all)")
    p.add_argument("--require", metavar="VERDICT[,...]",
                   help="exit 1 unless each passed: checked on at least one interpreter, failed on none")
    p.add_argument("--result", default="", metavar="EXPR",
                   help="thread-safe: an expression over the setup's names, evaluated after the calls, that "
                        "must equal its value after the same calls run one by one (shared state)")
    p.add_argument("--threads", type=positive_int, help="threads for scales and thread-safe "
                                                        "(default: the CPUs there, 2 to 4)")
    p.add_argument("--tries", type=positive_int, default=3, help="measurements of the freeze (default 3)")
    p.add_argument("--timeout", type=float_in(0, 3600), default=120.0,
                   help="seconds each probe may take before it counts as hung (default 120)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p = sub.add_parser("demo", help="the book's demos, and the free-threaded GIL's silent re-enable")
    p.add_argument("which", choices=("map", "spinner", "reenable"))
    p.add_argument("--python", help="reenable: the free-threaded interpreter to run it under "
                                     "(default: this one), e.g. ~/.pyenv/versions/3.13.5t/bin/python")
    p.add_argument("--scale", type=float_in(0, 100), default=1.0, help="map: multiply the sleeps")
    p.add_argument("--seconds", type=float_in(0, 600), default=1.5, help="spinner: seconds of work per kernel")
    p = sub.add_parser("bench", help="harness and probe overhead, then the kernels' speed goals")
    p.add_argument("--tasks", type=positive_int, default=2000, help="no-op tasks for the overhead figure")
    p.add_argument("--repeat", type=positive_int, help="timed runs per figure (default 5)")
    p.add_argument("--only", type=bench_sections, default=DEFAULT_BENCH_SECTIONS, metavar="SECTION[,...]",
                   help=f"sections to run, of {','.join(BENCH_SECTIONS)} (default: all but freethreading, "
                        "which needs --free-threaded; harness and kernels take ~3 min, the others ~1 min each)")
    p.add_argument("--free-threaded", metavar="PATH",
                   help="freethreading: a free-threaded Python (3.13t) where gil-lab is installed")
    p.add_argument("--python", default="pypy3", help="the interpreter the interpreters section compares "
                                                     "with this one (default: pypy3)")
    p.add_argument("--neighbour", type=float_in(0, 1), metavar="DUTY",
                   help="run beside a noisy neighbour: one process keeping DUTY (0 < DUTY <= 1) of a core "
                        "busy, as other programs do on a shared machine; the goals judged against the "
                        "machine's ceiling should still hold")
    return {"check": cmd_check, "demo": cmd_demo, "bench": cmd_bench}
