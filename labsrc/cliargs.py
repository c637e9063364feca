"""Command-line text -> validated choices: kernels, implementations, executors, workers,
timeline cells and measurement options. Anything wrong raises UsageError (exit 2) with the
valid names, before any measuring starts."""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from labsrc.envinfo import cpu_count
from labsrc.executors import EXECUTORS
from labsrc.kernels.catalog import Kernel, get_kernel, kernels
from labsrc.measure import TARGET_S, Options

DEFAULT_EXECUTORS = ("seq", "threads", "procs")
IO_MODES = ("sequential", "threadpool", "processpool", "asyncio")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
MAX_WORKERS = 256


class UsageError(Exception):
    """Bad command-line input: printed after `gil-lab: error:`, exit status 2."""


def split_names(text: Optional[str], option: str) -> Optional[list[str]]:
    """A comma-separated option as a list (None when not given); an empty list is a usage error."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"{option} needs at least one comma-separated name, got {text!r}")
    return names


def _positive(text: str, what: str) -> list[int]:
    values = []
    for part in split_names(text, what) or []:
        try:
            value = int(part)
        except ValueError:
            raise UsageError(f"{what} must be whole numbers >= 1, got {part!r}") from None
        if value < 1:
            raise UsageError(f"{what} must be >= 1, got {value}")
        values.append(value)
    return values


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


def timeline_cells(text: Optional[str]) -> Optional[list[tuple[str, str]]]:
    """--timeline IMPL/EXECUTOR[,...] as pairs (None: the plots' default choice)."""
    names = split_names(text, "--timeline")
    if names is None:
        return None
    pairs = []
    for name in names:
        impl, sep, executor = name.partition("/")
        if not sep or not impl or executor not in EXECUTORS:
            raise UsageError(f"--timeline takes IMPL/EXECUTOR pairs such as cy_nogil/threads "
                             f"(executors: {', '.join(EXECUTORS)}), got {name!r}")
        pairs.append((impl, executor))
    return pairs


def select_executors(text: Optional[str]) -> list[str]:
    names = split_names(text, "--executor") or list(DEFAULT_EXECUTORS)
    for name in names:
        if name not in EXECUTORS:
            raise UsageError(f"unknown executor {name!r}; choose from: {', '.join(EXECUTORS)}")
    return names


def options_from(args: argparse.Namespace, workers: Sequence[int]) -> Options:
    """Measurement options: --quick shrinks repeats and the calibration target."""
    if args.repeat is not None and args.repeat < 1:
        raise UsageError(f"--repeat must be >= 1, got {args.repeat}")
    for flag in ("tasks", "scale"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UsageError(f"--{flag} must be >= 1, got {value}")
    if args.target is not None and args.target <= 0:
        raise UsageError(f"--target must be > 0 seconds, got {args.target}")
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
    )


def select_workers(text: Optional[str], quick: bool) -> list[int]:
    """Worker counts from --workers (1..MAX_WORKERS); default 1 and the CPU count (--quick: the CPU count)."""
    if text is None:
        return [cpu_count()] if quick else sorted({1, cpu_count()})
    workers = _positive(text, "--workers")
    if max(workers) > MAX_WORKERS:
        raise UsageError(f"--workers must be <= {MAX_WORKERS} (the prange kernels' OpenMP bound), "
                         f"got {max(workers)}")
    return workers
