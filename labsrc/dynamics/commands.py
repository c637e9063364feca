"""The `gil-lab` subcommands of the GIL-dynamics experiments: latency, bandwidth, loop,
trace and dynamics-bench.

Bad input raises UsageError before anything runs (exit 2, with the valid names). A failed
measurement (client died, port not bindable, wrong answer in the load) prints the reason
and exits 1. Ctrl-C propagates (exit 130) after what was measured is shown and written;
the measuring code below has already stopped its threads and processes and restored the
switch interval on its way out.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from labsrc.core.usage import EXIT_FAILED, EXIT_OK, UsageError, split_names
from labsrc.dynamics import findings as _findings
from labsrc.dynamics import rows as _rows
from labsrc.dynamics.load import MAX_WORKERS, resolve
from labsrc.kernels.catalog import ImplUnavailable

Command = Callable[[argparse.Namespace], int]
DEFAULT_IMPLS = "py,cy_gil,cy_nogil"
# What a failed measurement raises: EchoError, LoadError and TraceFailed (RuntimeErrors),
# OS errors (bind, spawn), a wrong answer from a kernel's verifier (an AssertionError).
FAILURES: tuple[type[BaseException], ...] = (RuntimeError, OSError, AssertionError)
STOPS: tuple[type[BaseException], ...] = (KeyboardInterrupt, *FAILURES)  # caught, kept, re-raised


def check_impls(kernel: str, text: Optional[str], default: str = DEFAULT_IMPLS) -> list[str]:
    """--impl names, each runnable for --kernel (`procs` included); UsageError otherwise."""
    names = split_names(text, "--impl") or default.split(",")
    for name in names:
        try:
            resolve(kernel, name)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        except ImplUnavailable as exc:
            raise UsageError(f"{kernel}/{name} cannot run here: {exc}") from None
    return names


def check_threads(text: Optional[str], default: str = "0,1,2") -> list[int]:
    """--threads: whole numbers 0..64."""
    values = []
    for part in split_names(text, "--threads") or default.split(","):
        try:
            value = int(part)
        except ValueError:
            raise UsageError(f"--threads must be whole numbers, got {part!r}") from None
        if not 0 <= value <= MAX_WORKERS:
            raise UsageError(f"--threads must be 0..{MAX_WORKERS}, got {value}")
        values.append(value)
    return list(dict.fromkeys(values))


def check_range(name: str, value: float, low: float, high: float) -> float:
    """`low < value <= high`, else UsageError."""
    if not low < value <= high:
        raise UsageError(f"{name} must be > {low:g} and <= {high:g}, got {value:g}")
    return value


def _intervals(text: Optional[str]) -> list[float]:
    from labsrc.dynamics.switch import parse_intervals

    try:
        return parse_intervals(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _emit(args: argparse.Namespace, experiment: str, env: dict[str, Any], rows: Sequence[Any],
          row_type: type, columns: Sequence[str], lines: Sequence[str],
          plot: Callable[[str], Any], **extra: Any) -> None:
    """Table + findings on stdout; --json/--csv/--plot files (atomically)."""
    if rows:
        print(_rows.format_table(rows, columns))
    if lines:
        print("\nFindings:")
        for line in lines:
            print(f"- {line}")
    if getattr(args, "json", None):
        _rows.write_json(args.json, experiment, env, rows, lines, **extra)
    if getattr(args, "csv", None):
        _rows.write_csv(args.csv, rows, row_type)
    if getattr(args, "plot", None) and rows:
        for path in plot(args.plot):
            print(f"wrote {path}", file=sys.stderr)


def _measure_rows(gen: Any, rows: list[Any], quiet: bool) -> Optional[BaseException]:
    """Drain a row generator into `rows`; the error that stopped it (Ctrl-C re-raised later)."""
    try:
        for row in gen:
            rows.append(row)
            if not quiet:
                print(f"  measured {row.impl} x{row.threads} at {row.switch_interval_s * 1e3:g} ms",
                      file=sys.stderr)
    except STOPS as exc:
        return exc
    return None


def _finish(error: Optional[BaseException], what: str) -> int:
    if isinstance(error, KeyboardInterrupt):
        raise error
    if error is not None:
        print(f"gil-lab: the {what} measurement failed: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _echo_setup(args: argparse.Namespace) -> tuple[list[Any], float, int]:
    from labsrc.dynamics.switch import check_chunk_ms, plan_cells

    impls = check_impls(args.kernel, args.impl)
    threads = check_threads(args.threads)
    intervals = _intervals(args.switch_interval)
    try:
        chunk_ms = check_chunk_ms(args.chunk_ms)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    check_range("--duration", args.duration, 0, 600)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {args.port}")
    return plan_cells(impls, threads, intervals), (chunk_ms or 2.0) / 1e3, args.port


def cmd_latency(args: argparse.Namespace) -> int:
    """Echo response time under 0..N background threads per implementation."""
    from labsrc.dynamics import latency, plots
    from labsrc.core.envinfo import run_env

    cells, chunk_s, port = _echo_setup(args)
    check_range("--ping-ms", args.ping_ms, 0, 10_000)
    env = run_env()
    rows: list[Any] = []
    error = _measure_rows(latency.measure_latency(cells, args.kernel, args.duration, args.ping_ms / 1e3,
                                                  chunk_s, port), rows, args.quiet)
    _emit(args, "latency", env, rows, _rows.LatencyRow, latency.COLUMNS, _findings.latency_findings(rows),
          lambda d: plots.latency_plot(rows, d) + plots.tradeoff_plot(rows, d))
    return _finish(error, "latency")


def cmd_bandwidth(args: argparse.Namespace) -> int:
    """Ping-pong packets/s under background load, as % of no load."""
    from labsrc.dynamics import bandwidth, plots
    from labsrc.core.envinfo import run_env

    cells, chunk_s, port = _echo_setup(args)
    if not 0 <= args.gap_ms <= 1000:
        raise UsageError(f"--gap-ms must be 0..1000, got {args.gap_ms:g}")
    env = run_env()
    rows: list[Any] = []
    error = _measure_rows(bandwidth.measure_bandwidth(cells, args.kernel, args.duration, chunk_s,
                                                      args.gap_ms / 1e3, port), rows, args.quiet)
    _emit(args, "bandwidth", env, rows, _rows.BandwidthRow, bandwidth.COLUMNS,
          _findings.bandwidth_findings(rows), lambda d: plots.bandwidth_plot(rows, d), gap_s=args.gap_ms / 1e3)
    return _finish(error, "bandwidth")


def cmd_loop(args: argparse.Namespace) -> int:
    """Event-loop lag and download time while CPU work runs inline / in threads / a process."""
    from labsrc.dynamics import loop, plots
    from labsrc.core.envinfo import run_env

    modes = split_names(args.modes, "--modes") or list(loop.MODES)
    for mode in modes:
        if mode not in loop.MODES:
            raise UsageError(f"unknown mode {mode!r}; choose from: {', '.join(loop.MODES)}")
    check_impls(args.kernel, f"{args.gil_impl},cy_nogil", "")
    if args.tasks < 1 or args.tasks > 1000 or args.flags < 1 or args.flags > 200:
        raise UsageError("--tasks must be 1..1000 and --flags 1..200")
    check_range("--task-ms", args.task_ms, 0, 60_000)
    if not 0 <= args.server_delay <= 10:
        raise UsageError(f"--server-delay must be 0..10 s, got {args.server_delay:g}")
    plan = loop.LoopPlan(args.kernel, args.gil_impl, args.tasks, args.task_ms / 1e3, args.flags, args.server_delay)
    env = run_env()
    rows: list[Any] = []
    lags: dict[str, list[float]] = {}

    def keep(row: Any, lag: list[float]) -> None:
        rows.append(row)
        lags[row.mode] = lag

    error: Optional[BaseException] = None
    try:
        loop.measure_loop(modes, plan, keep)
    except STOPS as exc:
        error = exc
    _emit(args, "loop", env, rows, _rows.LoopRow, loop.COLUMNS, _findings.loop_findings(rows, sys.getswitchinterval()),
          lambda d: plots.loop_cdf(rows, lags, d), switch_interval_s=sys.getswitchinterval())
    return _finish(error, "event-loop")


def cmd_trace(args: argparse.Namespace) -> int:
    """Who holds the GIL: py-spy --gil samples of a short cell per implementation."""
    from labsrc.dynamics import plots, trace
    from labsrc.dynamics.switch import check_chunk_ms
    from labsrc.core.envinfo import run_env

    impls = check_impls(args.kernel, args.impl, "py,cy_nogil")
    if "procs" in impls:
        raise UsageError("trace samples threads of one process; `procs` has nothing to show here")
    threads = check_threads(args.threads, "2")
    if len(threads) != 1 or threads[0] < 1:
        raise UsageError("trace takes one --threads count >= 1")
    check_range("--seconds", args.seconds, 0, 60)
    if not 1 <= args.rate <= 10_000:
        raise UsageError(f"--rate must be 1..10000 samples/s, got {args.rate}")
    interval = _intervals(args.switch_interval)
    try:
        check_chunk_ms(args.chunk_ms)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if len(interval) != 1:
        raise UsageError("trace takes one --switch-interval value")
    try:
        trace.pyspy()
    except trace.TraceUnavailable as exc:
        raise UsageError(str(exc)) from None
    env = run_env()
    traces: list[Any] = []
    rows: list[Any] = []
    error: Optional[BaseException] = None
    with tempfile.TemporaryDirectory(prefix="gil-lab-trace-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            for impl in impls:
                traces.append(trace.record(args.kernel, impl, threads[0], args.seconds, args.rate,
                                           interval[0], args.chunk_ms / 1e3, folder))
                rows += trace.summarize(traces[-1])
        except trace.TraceUnavailable as exc:
            raise UsageError(str(exc)) from None
        except STOPS as exc:
            error = exc
    _emit(args, "trace", env, rows, _rows.TraceRow, trace.COLUMNS, _findings.trace_findings(rows),
          lambda d: plots.trace_timeline(traces, d), rate=args.rate, switch_interval_s=interval[0],
          samples={t.impl: t.samples for t in traces})
    return _finish(error, "trace")


def cmd_bench(args: argparse.Namespace) -> int:
    """The issue's goals, measured in one run, each printed as met or MISSED."""
    from labsrc.dynamics.bench import run_goals

    return run_goals(quick=args.quick)


def _echo_options(p: argparse.ArgumentParser, duration: float) -> None:
    p.add_argument("--kernel", default="primes", help="the background kernel (default primes)")
    p.add_argument("--impl", help="implementations, comma-separated; `procs` = py in processes "
                                  f"(default {DEFAULT_IMPLS})")
    p.add_argument("--threads", help="background thread counts, comma-separated, 0..64 (default 0,1,2)")
    p.add_argument("--switch-interval", help="seconds, comma-separated, each in (0, 1] (default: the current one)")
    p.add_argument("--chunk-ms", type=float, help="length of one background call, ms (default 2)")
    p.add_argument("--duration", type=float, default=duration, help=f"seconds per cell (default {duration:g})")
    p.add_argument("--port", type=int, default=0, help="UDP port of the echo thread on 127.0.0.1 (default: any free)")
    _files(p)


def _files(p: argparse.ArgumentParser, csv: bool = True) -> None:
    p.add_argument("--json", help="write the rows, findings and env as JSON")
    if csv:
        p.add_argument("--csv", help="write the rows as CSV")
    p.add_argument("--plot", help="write PNG plots into this folder")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> dict[str, Command]:
    """Add this package's subparsers to `sub`; return {name: handler}."""
    p = sub.add_parser("latency", help="I/O response time while threads run a kernel (ccbench-style)")
    _echo_options(p, 1.5)
    p.add_argument("--ping-ms", type=float, default=10.0, help="mean time between pings, ms (default 10)")
    p = sub.add_parser("bandwidth", help="UDP ping-pong packets/s while threads run a kernel")
    _echo_options(p, 1.0)
    p.add_argument("--gap-ms", type=float, default=0.05, help="client's pause after each answer, ms (default 0.05)")
    p = sub.add_parser("loop", help="asyncio heartbeat lag + downloads while CPU work runs 4 ways")
    p.add_argument("--kernel", default="primes", help="the CPU work's kernel (default primes)")
    p.add_argument("--gil-impl", default="py", help="the GIL-holding implementation for inline/thread_gil (default py)")
    p.add_argument("--modes", help="comma-separated: none,inline,thread_gil,thread_nogil,process (default all)")
    p.add_argument("--tasks", type=int, default=4, help="CPU tasks per mode (default 4)")
    p.add_argument("--task-ms", type=float, default=100.0, help="length of one task, ms (default 100)")
    p.add_argument("--flags", type=int, default=20, help="flags downloaded concurrently (default 20)")
    p.add_argument("--server-delay", type=float, default=0.2, help="flag server's delay per request, s (default 0.2)")
    _files(p)
    p = sub.add_parser("trace", help="who holds the GIL: py-spy --gil samples of a short cell")
    p.add_argument("--kernel", default="primes", help="(default primes)")
    p.add_argument("--impl", help="implementations, comma-separated (default py,cy_nogil)")
    p.add_argument("--threads", default="2", help="load threads (default 2)")
    p.add_argument("--seconds", type=float, default=1.0, help="length of the cell (default 1)")
    p.add_argument("--rate", type=int, default=1000, help="py-spy samples per second (default 1000)")
    p.add_argument("--switch-interval", default="0.005", help="seconds (default 0.005)")
    p.add_argument("--chunk-ms", type=float, default=2.0, help="length of one kernel call, ms (default 2)")
    p.add_argument("--keep", help="keep py-spy's raw and chrometrace files in this folder")
    _files(p, csv=False)
    p = sub.add_parser("dynamics-bench", help="the GIL-dynamics goals: met or MISSED")
    p.add_argument("--quick", action="store_true", help="shorter cells (noisier)")
    return {"latency": cmd_latency, "bandwidth": cmd_bandwidth, "loop": cmd_loop, "trace": cmd_trace,
            "dynamics-bench": cmd_bench}
