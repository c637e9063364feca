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
    """Does STATEMENT release the GIL? (timeit-style statement and --setup)."""
    from labsrc.tools.gilcheck import check, compile_statement

    try:
        call = compile_statement(args.statement, args.setup)
    except SyntaxError as exc:
        raise UsageError(f"{exc.filename}: {exc.msg} (line {exc.lineno}): {exc.text!r}") from None
    except Exception as exc:  # the setup code itself failed
        print(f"gil-lab: --setup raised {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        result = check(call, tries=args.tries)
    except Exception as exc:
        print(f"gil-lab: the statement raised {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    # Without a GIL the heartbeat waits for nothing but a CPU: say so beside its figure.
    heartbeat = (f"the GIL heartbeat waited {result.contention:.1%} of it" if result.gil_enabled
                 else f"the heartbeat woke late {result.contention:.1%} of it (waiting for a CPU: "
                      "there is no GIL here)")
    print(f"{args.statement}\n  ran {result.window_s:.3f} s; the main thread's longest stall was "
          f"{result.freeze:.1%} of it; {heartbeat}\n  -> {result.verdict}")
    return EXIT_OK


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
    """Harness overhead per task, GIL-probe overhead and the kernels' speed goals."""
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
    p = sub.add_parser("check", help="does a statement release the GIL? (timeit-style)",
                       description="Run STATEMENT in a thread and measure whether other Python "
                                   "threads could run meanwhile. Example: gil-lab check --setup "
                                   "\"import zlib; data = bytes(100_000_000)\" \"zlib.compress(data)\"")
    p.add_argument("statement", help="Python code to run (give it ~0.1 s of work or more)")
    p.add_argument("--setup", default="", help="code run once before, e.g. imports and data")
    p.add_argument("--tries", type=positive_int, default=3, help="measurements of the freeze (default 3)")
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
    return {"check": cmd_check, "demo": cmd_demo, "bench": cmd_bench}
