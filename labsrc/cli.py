"""`gil-lab`: argparse subcommands, one `cmd_*` function each, through a dispatch dict.

Exit codes: 0 all good; 1 a cell failed (wrong answer, crashed worker, task raised) or
the I/O side failed; 2 bad command-line input (the valid names are listed); 130 Ctrl-C
(whatever was measured is still printed and written).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import textwrap
import time
from importlib import import_module
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TextIO

from labsrc.report import findings as _findings
from labsrc.report import tables as report
from labsrc.cliargs import (
    DEFAULT_EXECUTORS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Outputs,
    UsageError,
    float_in,
    options_from,
    payloads,
    positive_int,
    scheduler_address,
    select_executors,
    select_impls,
    select_kernels,
    select_workers,
    split_names,
    timeline_cells,
    worker_counts,
)
from labsrc.core.envinfo import format_env, run_env
from labsrc.executors.registry import EXECUTORS
from labsrc.harness.iobench import (
    IO_COUNT,
    IO_FIELDS,
    IO_LOAD_CONTRAST,
    IO_MODES,
    IoRow,
    check_io,
    measure_io,
    measure_io_under_loads,
)
from labsrc.harness.matrix import MatrixResult, plan, run_matrix
from labsrc.core.names import Payload
from labsrc.report.lessons.run import ceiling_warning
from labsrc.report.html.command import REPORT_NAME, check_report_options, publish
from labsrc.core.results import Cell

HTML_HELP = "write the HTML report (findings, environment, sortable table, plots; one offline file)"


def measure_cpu(args: argparse.Namespace, quiet: bool, env: Optional[dict[str, Any]] = None) -> MatrixResult:
    """Validate the matrix arguments and run it with a progress bar on stderr; then the same
    matrix under each --python interpreter (its facts go to env["interpreters"])."""
    chosen = select_kernels(args.kernel)
    impls = select_impls(args.impl, chosen)
    executors = select_executors(args.executor)
    workers = select_workers(args.workers, args.quick)
    opts = options_from(args, workers)
    if opts.knocker:
        from labsrc.core.probe import knocker_available

        if not knocker_available():
            raise UsageError("--gilknocker needs the optional package: pip install gilknocker")
    from labsrc.harness import dask_options

    # compare adds its Dask section unless the Dask executors were named already.
    dask_section = getattr(args, "command", None) == "compare" and not any(
        e in dask_options.DASK_EXECUTORS for e in executors)
    dask_options.prepare(args.scheduler, args.dask_dashboard, executors, section=dask_section)
    planned = plan(chosen, impls, executors, workers, opts.payloads)
    if dask_section:
        planned = dask_options.add_section(planned, workers)
    from labsrc.interpreters.discover import check_interpreters

    interpreters = check_interpreters(getattr(args, "python", None), impls)  # exit 2 before measuring
    from tqdm import tqdm

    total = sum(len(p.cells) for p in planned)
    with tqdm(total=total, file=sys.stderr, disable=quiet, delay=1.0, unit="cell", leave=False) as bar:

        def step(cell: Cell) -> None:
            bar.set_postfix_str(cell.label, refresh=False)
            bar.update(1)

        started = time.monotonic()
        result = run_matrix(planned, opts, on_cell=step)
    if interpreters and not result.interrupted:
        from labsrc.interpreters.rows import add_interpreter_rows

        add_interpreter_rows(result, interpreters, chosen, impls, executors, workers, opts, env, quiet,
                             local_s=time.monotonic() - started)
    if env is not None:
        from labsrc.core.ceiling import run_ceilings

        env["ceiling"] = run_ceilings(result.cells)  # the machine's, in the same rounds as the cells
    dask_env = dask_options.env_block(result.cells)
    if dask_env is not None and env is not None:
        env["dask"] = dask_env  # the clusters' workers and threads, the probe, the clock
    return result


def emit(cells: Sequence[Cell], io_rows: Sequence[IoRow], env: dict[str, Any], outputs: Outputs,
         out: Optional[TextIO] = None) -> None:
    """Print table + findings; write the files `outputs` names."""
    out = out or sys.stdout
    low = ceiling_warning(env, cells)
    if low:
        print(textwrap.fill(low, width=100), file=out)
    if cells:
        print(report.format_table(cells), file=out)
        print(textwrap.fill(report.legend(env), width=100), file=out)
        if any(c.num_threads is not None for c in cells):
            print(f"(omp N): {report.NOTES['num_threads']}", file=out)
    if io_rows:
        print(("\n" if cells else "") + report.format_table(io_rows, report.io_columns(io_rows)), file=out)
    lines = _findings.findings(cells, io_rows, env)
    if lines:
        print("\nFindings:", file=out)
        for line in lines:
            print(f"- {line}", file=out)
    if outputs.json:
        report.write_json(outputs.json, env, cells, io_rows)
    if outputs.csv:
        if cells:
            report.write_csv(outputs.csv, cells)
        else:
            report.write_csv(outputs.csv, io_rows, IO_FIELDS)
    if outputs.io_csv and io_rows:
        report.write_csv(outputs.io_csv, io_rows, IO_FIELDS)
    if outputs.plot:
        from labsrc.report.plots import write_plots

        write_plots(cells, outputs.plot, io_rows, timeline=outputs.timeline)


def _status(result: MatrixResult, io_failed: bool = False) -> int:
    if result.interrupted:
        print("gil-lab: interrupted; the cells measured so far are shown and written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.failed or io_failed:
        print(f"gil-lab: {len(result.failed)} cell(s) failed{' and the I/O run failed' if io_failed else ''}",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_env(args: argparse.Namespace) -> int:
    """Print the environment (human-readable, or JSON with --json)."""
    info = run_env()
    wanted = getattr(args, "ceiling", False)
    if wanted:
        info["ceiling"] = measure_ceiling_now(info["cpu_count"])
    if args.json:
        import json

        print(json.dumps(info, indent=2))
    else:
        from labsrc.core.ceiling import describe

        shown = dict(info)
        if wanted and "error" not in info["ceiling"]:
            shown["ceiling"] = describe(info["ceiling"])
        print(format_env(shown))
    return EXIT_OK


def measure_ceiling_now(cpus: int) -> dict[str, Any]:
    """`gil-lab env --ceiling`: {key: summary} for 2..cpus threads and processes (2 on one
    CPU: what the machine gives two at once is then the lesson), over a few rounds."""
    from labsrc.core import ceiling
    from labsrc.executors.base import process_pool

    try:
        return ceiling.measure(range(2, max(2, cpus) + 1), process_pool=process_pool)
    except RuntimeError as exc:  # the spin is not built: a failure of the install, said plainly
        return {"error": str(exc)}


def cmd_cpu(args: argparse.Namespace) -> int:
    """Run the CPU matrix."""
    outputs = Outputs.from_args(args)  # a typo in --timeline must not wait for the whole run
    check_report_options(args.html)  # --html without Jinja2: said now, not after the run
    env = run_env()  # before measuring: its load sample is the other programs', not ours
    result = measure_cpu(args, quiet=args.quiet, env=env)
    emit(result.cells, (), env, outputs)
    status = _status(result)
    if args.html and not publish(Path(args.html), env, result.cells, (), outputs.timeline):
        status = status or EXIT_FAILED
    return status


def _check_io(modes: Sequence[str], count: int, delay: float, cpu_loads: Sequence[str] = ()) -> None:
    """UsageError for I/O arguments the downloader would reject (before anything runs)."""
    try:
        check_io(modes, count, delay, cpu_loads)
    except ValueError as exc:  # unknown mode or too many codes: the message lists what is allowed
        raise UsageError(str(exc)) from None


def cmd_io(args: argparse.Namespace) -> int:
    """Run the flag downloader modes against the embedded DELAY server."""
    modes = split_names(args.modes, "--modes") or list(IO_MODES)
    cpu_loads = split_names(args.cpu_load, "--cpu-load") or []
    _check_io(modes, args.count, args.delay, cpu_loads)
    check_report_options(args.html)
    # A ValueError from here on is a failure, not usage.
    rows = measure_io_under_loads(modes, args.count, args.delay, cpu_loads)
    env = run_env()
    emit([], rows, env, Outputs.from_args(args))
    status = EXIT_FAILED if any(r.errors for r in rows) else EXIT_OK
    if args.html and not publish(Path(args.html), env, [], rows):
        status = EXIT_FAILED
    return status


def cmd_compare(args: argparse.Namespace) -> int:
    """The tour: CPU matrix for every kernel, then the I/O comparison, into results/<timestamp>/."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(args.out) / stamp
    outputs = Outputs(json=folder / "results.json", csv=folder / "results.csv", plot=folder,
                      io_csv=folder / "io.csv", timeline=timeline_cells(args.timeline))
    if not args.no_io:
        _check_io(IO_MODES, IO_COUNT, args.delay)  # before minutes of CPU work, not after
    report_html = check_report_options(folder / REPORT_NAME, args.screenshot, args.open, required=False)
    env = run_env()
    result = measure_cpu(args, quiet=args.quiet, env=env)
    io_rows: list[IoRow] = []
    io_failed = False
    if not args.no_io and not result.interrupted:
        try:
            io_rows = measure_io(IO_MODES, IO_COUNT, args.delay)
            contrast = IO_LOAD_CONTRAST  # the same downloads beside a py, then a cy_nogil thread
            io_rows += measure_io_under_loads(contrast.modes, contrast.count, contrast.delay, contrast.loads)
        except KeyboardInterrupt:
            result.interrupted = True
        except Exception as exc:  # the CPU results still stand; say plainly what broke
            io_failed = True
            print(f"gil-lab: the I/O comparison failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    emit(result.cells, io_rows, env, outputs)
    print(f"\nwrote {folder}/ (results.json, results.csv, io.csv, PNGs{', report.html' if report_html else ''})")
    status = _status(result, io_failed)
    if report_html and not publish(folder / REPORT_NAME, env, result.cells, io_rows, outputs.timeline,
                                   screenshot=args.screenshot, open_it=args.open):
        status = status or EXIT_FAILED
    return status  # the report's path was printed last


def _matrix_options(p: argparse.ArgumentParser, files: bool = True,
                    payload_default: tuple[Payload, ...] = (Payload.RECIPE,)) -> None:
    p.add_argument("--kernel", help="kernels, comma-separated (default: all)")
    p.add_argument("--impl", help="implementations, comma-separated (default: all built)")
    p.add_argument("--executor", help=f"of {','.join(EXECUTORS)} (default: {','.join(DEFAULT_EXECUTORS)})")
    p.add_argument("--workers", type=worker_counts,
                   help="worker counts, comma-separated (default: 1 and the CPU count)")
    p.add_argument("--payload", type=payloads, default=payload_default,
                   help="what a process task ships, comma-separated: recipe (kernel, scale, task "
                        "index; the worker builds its input) and/or data (the input and answer, "
                        f"pickled) (default: {','.join(payload_default)})")
    p.add_argument("--repeat", type=positive_int, help="timed runs per cell (default 5, 3 with --quick)")
    p.add_argument("--tasks", type=positive_int,
                   help="tasks per cell (default max(8, 2 x workers); max(4, 2 x workers) with --quick)")
    p.add_argument("--scale", type=positive_int, help="fixed work scale: skip calibration")
    p.add_argument("--target", type=float_in(0, 3600), help="seconds of sequential work to calibrate to")
    p.add_argument("--quick", action="store_true", help="small smoke configuration")
    p.add_argument("--no-probe", action="store_true", help="no GIL heartbeat")
    p.add_argument("--gilknocker", action="store_true", help="also report gilknocker's metric")
    p.add_argument("--scheduler", type=scheduler_address, metavar="tcp://HOST:PORT",
                   help="run dask_threads/dask_procs on this running Dask cluster (its workers "
                        "decide the worker count); default: an embedded LocalCluster per cell")
    p.add_argument("--dask-dashboard", action="store_true",
                   help="serve each embedded Dask cluster's dashboard on a free loopback port")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--python", metavar="PATH[,PATH]",
                   help="also run the matrix under these interpreters, rows labelled impl@label "
                        "(e.g. py@pypy3.9, py@3.13): the lab itself where gil-lab imports there "
                        "(CPython >= 3.11), else the pure-Python kernels (py) in a small worker "
                        "(Python >= 3.9, PyPy)")
    if files:
        p.add_argument("--json", help="write results as JSON")
        p.add_argument("--csv", help="write results as CSV")
        p.add_argument("--plot", help="write PNG plots into this folder")
        p.add_argument("--html", help=HTML_HELP)
        p.add_argument("--timeline", help="cells for the Gantt charts, IMPL/EXECUTOR comma-separated "
                                          "(default: py, cy_gil, cy_nogil threads and py procs)")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(prog="gil-lab", description="What the GIL does to each kind of code.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("env", help="the environment: Python, GIL, CPUs, build")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--ceiling", action="store_true",
                   help="also measure the machine's parallel ceiling: a plain C loop alone and as N at once")
    _matrix_options(sub.add_parser("cpu", help="kernels x implementations x executors x workers"))
    p = sub.add_parser("io", help="flag downloads: sequential, threads, processes, asyncio")
    p.add_argument("--modes", help=f"comma-separated (default: {','.join(IO_MODES)})")
    p.add_argument("--count", type=positive_int, default=IO_COUNT, help=f"flags to fetch (default {IO_COUNT})")
    p.add_argument("--delay", type=float_in(0, 60, low_open=False), default=0.5,
                   help="server delay per request, seconds")
    p.add_argument("--json"), p.add_argument("--csv"), p.add_argument("--plot")
    p.add_argument("--cpu-load", metavar="KERNEL/IMPL[:THREADS][,...]",
                   help="also run the modes while THREADS (default 1) threads of this process run the kernel "
                        "(e.g. primes/py:1,primes/cy_nogil:1); IMPL 'procs' runs py in processes")
    p.add_argument("--html", help=HTML_HELP)
    p.add_argument("--quiet", action="store_true")
    p = sub.add_parser("compare", help="the tour: every kernel, then I/O; writes results/<timestamp>/")
    _matrix_options(p, files=False, payload_default=tuple(Payload))
    p.add_argument("--timeline", help="cells for the Gantt charts, IMPL/EXECUTOR comma-separated")
    p.add_argument("--out", default="results", help="parent folder of the timestamped results")
    p.add_argument("--delay", type=float_in(0, 60, low_open=False), default=0.5,
                   help="I/O server delay per request")
    p.add_argument("--no-io", action="store_true", help="skip the I/O comparison")
    p.add_argument("--open", action="store_true", help="open report.html in a browser at the end")
    p.add_argument("--screenshot", action="store_true",
                   help="save report.png, the report's first screen, beside it (headless Chromium)")
    p.set_defaults(quick=True)
    for module in COMMAND_MODULES:
        COMMANDS.update(import_module(module).add_commands(sub))
    return parser


# Packages that add their own subcommands: each has add_commands(subparsers) -> {name: handler}.
COMMAND_MODULES = ("labsrc.toolcmds", "labsrc.dynamics.commands", "labsrc.report.diff",
                   "labsrc.report.html.command")

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "env": cmd_env, "cpu": cmd_cpu, "io": cmd_io, "compare": cmd_compare,
}


def console_main() -> int:
    """Entry point of the `gil-lab` console script: `python -m labsrc`, run from a wrapper
    script, so its worker processes skip that script as they do under `python -m` (each
    re-ran it, importing this whole CLI, before its first task)."""
    from flags.mpcontext import run_as_module_main

    run_as_module_main("labsrc.__main__")
    return main()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The `gil-lab` command line (`python -m labsrc`; the console script via console_main)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        parser.exit(EXIT_USAGE, f"gil-lab: error: {exc}\n")
    except KeyboardInterrupt:
        print("gil-lab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `gil-lab ... | head`: the reader left; that is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
