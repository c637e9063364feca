"""Command-line text -> validated choices: kernels, implementations, executors, workers,
payloads, timeline cells, measurement options and output paths.

Numbers are checked by argparse `type=` validators (argparse then exits 2 naming the
option); names that need the catalog raise UsageError (exit 2) with the valid names. All of
it happens before any measuring starts."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from labsrc.core.envinfo import cpu_count
from labsrc.core.usage import (  # noqa: F401  (re-exported: the CLI's names)
    EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError, split_names)
from labsrc.report.options import timeline_cells  # noqa: F401  (re-exported)
from labsrc.executors.registry import EXECUTORS
from labsrc.kernels.catalog import Kernel, get_kernel, kernels
from labsrc.core.names import ExecutorName, Payload
from labsrc.harness.timing import TARGET_S, Options

DEFAULT_EXECUTORS = (ExecutorName.SEQ, ExecutorName.THREADS, ExecutorName.PROCS)
# One set of exit codes for the project: the downloader's (flags is the leaf the lab uses).
MAX_WORKERS = 256


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def float_in(low: float, high: float, low_open: bool = True) -> Callable[[str], float]:
    """argparse type: a finite number in (low, high] ([low, high] when not `low_open`)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        above = value > low if low_open else value >= low
        if not (math.isfinite(value) and above and value <= high):
            bracket = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"must be in {bracket}{low:g}, {high:g}], got {text!r}")
        return value

    return parse


def worker_counts(text: str) -> list[int]:
    """argparse type: comma-separated worker counts, each 1..MAX_WORKERS."""
    values = []
    for part in text.split(","):
        if not part.strip():
            continue
        value = positive_int(part.strip())
        if value > MAX_WORKERS:
            raise argparse.ArgumentTypeError(
                f"must be <= {MAX_WORKERS} (the prange kernels' OpenMP bound), got {value}")
        values.append(value)
    if not values:
        raise argparse.ArgumentTypeError(f"needs at least one comma-separated number, got {text!r}")
    return values


def scheduler_address(text: str) -> str:
    """argparse type: a Dask scheduler address, tcp://HOST:PORT (port 1..65535)."""
    from urllib.parse import urlsplit

    hint = "must be tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786"
    parts = urlsplit(text.strip())
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = None
    if parts.scheme != "tcp" or not parts.hostname or not port or parts.path or parts.query:
        raise argparse.ArgumentTypeError(f"{hint}, got {text!r}")
    return text.strip()


def payloads(text: str) -> tuple[Payload, ...]:
    """argparse type: comma-separated payloads of process cells (recipe, data)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    valid = ", ".join(Payload)
    if not names:
        raise argparse.ArgumentTypeError(f"needs at least one of {valid}, got {text!r}")
    for name in names:
        if name not in set(Payload):
            raise argparse.ArgumentTypeError(f"unknown payload {name!r}; choose from: {valid}")
    return tuple(dict.fromkeys(Payload(n) for n in names))


BENCH_SECTIONS = ("harness", "kernels", "dynamics", "peers", "interpreters", "freethreading")
# What `gil-lab bench` runs without --only: freethreading needs a free-threaded build named.
DEFAULT_BENCH_SECTIONS = BENCH_SECTIONS[:-1]


def bench_sections(text: str) -> tuple[str, ...]:
    """argparse type: comma-separated sections of `gil-lab bench`."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"needs at least one of {', '.join(BENCH_SECTIONS)}, got {text!r}")
    for name in names:
        if name not in BENCH_SECTIONS:
            raise argparse.ArgumentTypeError(f"unknown section {name!r}; choose from: {', '.join(BENCH_SECTIONS)}")
    return tuple(names)


@dataclass(frozen=True)
class Outputs:
    """Where a command writes what it measured (None: not asked for)."""

    json: Optional[Path] = None
    csv: Optional[Path] = None
    plot: Optional[Path] = None
    io_csv: Optional[Path] = None
    timeline: Optional[list[tuple[str, str]]] = None  # cells of the Gantt charts

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Outputs":
        """The file options of `cpu` and `io` (those a command does not have stay None)."""
        def path(name: str) -> Optional[Path]:
            value = getattr(args, name, None)
            return Path(value) if value else None

        return cls(json=path("json"), csv=path("csv"), plot=path("plot"),
                   timeline=timeline_cells(getattr(args, "timeline", None)))


def select_kernels(text: Optional[str]) -> list[Kernel]:
    """Kernels named on the command line (all visible ones by default)."""
    names = split_names(text, "--kernel")
    if names is None:
        return kernels()
    chosen = []
    for name in names:
        try:
            chosen.append(get_kernel(name))
        except KeyError:
            valid = ", ".join(k.name for k in kernels())
            raise UsageError(f"unknown kernel {name!r}; choose from: {valid}") from None
    return chosen


def select_impls(text: Optional[str], chosen: Sequence[Kernel]) -> Optional[list[str]]:
    """Implementation names, each of which must exist in at least one chosen kernel."""
    names = split_names(text, "--impl")
    if names is None:
        return None
    valid = list(dict.fromkeys(i.name for k in chosen for i in k.impls))
    for name in names:
        if name not in valid:
            raise UsageError(f"unknown implementation {name!r} for {', '.join(k.name for k in chosen)}; "
                             f"choose from: {', '.join(valid)}")
    return names


def select_executors(text: Optional[str]) -> list[str]:
    names = split_names(text, "--executor") or list(DEFAULT_EXECUTORS)
    for name in names:
        if name not in EXECUTORS:
            raise UsageError(f"unknown executor {name!r}; choose from: {', '.join(EXECUTORS)}")
    return names


def options_from(args: argparse.Namespace, workers: Sequence[int]) -> Options:
    """Measurement options: --quick shrinks repeats and the calibration target."""
    quick = bool(args.quick)
    widest = max(workers)
    return Options(
        repeats=args.repeat or (3 if quick else 5),
        tasks=args.tasks or max(8 if not quick else 4, 2 * widest),
        # The sequential workload gets target x (parallelism the machine can give) so that
        # parallel cells still last ~target (--quick too: sub-0.2 s cells are the trap the lab
        # warns about); more workers than CPUs cannot shorten a cell further.
        target_s=args.target or TARGET_S * min(widest, cpu_count()),
        scale=args.scale,
        quick=quick,
        probe=not args.no_probe,
        knocker=args.gilknocker,
        payloads=args.payload,
    )


def select_workers(given: Optional[list[int]], quick: bool) -> list[int]:
    """Worker counts from --workers (already checked by `worker_counts`); default 1 and the
    CPU count (--quick: the CPU count)."""
    if given is None:
        return [cpu_count()] if quick else sorted({1, cpu_count()})
    return given
