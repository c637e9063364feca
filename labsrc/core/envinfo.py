"""The environment a run was measured in: interpreter, GIL, CPUs, build of the extensions.

Two runs are comparable only on comparable interpreters: the same pure-Python loop took
8.8 ms on one CPython 3.11.7 and 13.1 ms on one 3.13.0 (both built without PGO/LTO), so the
interpreter's build facts travel with every result, and `interpreter_differences` names
the ones that differ between two runs.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import sys
import sysconfig
import time
from collections.abc import Mapping
from importlib import metadata
from typing import Any, NamedTuple

from flags.mpcontext import start_method
from labsrc.core import allocator
from labsrc.core.constants import mortal_kernel_constants


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_count() -> int:
    """CPUs this process may run on (affinity-aware where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cpu_jiffies() -> list[int] | None:
    """The all-CPU line of /proc/stat (user, nice, system, idle, iowait, irq, softirq, steal,
    ...), or None where it cannot be read (not Linux)."""
    try:
        with open("/proc/stat") as fh:
            return [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def busy_cpus(window_s: float = 0.25) -> float | None:
    """CPUs busy with other work right now: non-idle jiffies over a short window (Linux).

    The load average is a minute-long memory (it still counts the lab's own previous run);
    this sample says what the cores are doing as the run starts. None where /proc/stat is
    missing.
    """
    def sample() -> tuple[int, int] | None:
        fields = _cpu_jiffies()
        if fields is None:
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    first = sample()
    time.sleep(window_s)
    second = sample()
    if first is None or second is None or second[0] <= first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    return (os.cpu_count() or 1) * (total - idle) / total


def steal_sample() -> tuple[int, int] | None:
    """(all jiffies, stolen jiffies) of every CPU so far (Linux /proc/stat), else None.

    Steal is time a virtual CPU was ready but the hypervisor ran something else: load that
    no process list on this machine shows, and that hits 2-core cells harder than 1-core ones.
    """
    fields = _cpu_jiffies()
    if fields is None:
        return None
    return sum(fields[:8]), (fields[7] if len(fields) > 7 else 0)


def stolen_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Fraction of CPU time stolen between two steal_sample()s (None if either is)."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return (after[1] - before[1]) / (after[0] - before[0])


class Optimisation(NamedTuple):
    """How the interpreter was optimised at build time; None where the build does not say."""

    pgo: bool | None  # profile-guided optimisation: ./configure --enable-optimizations
    lto: bool | None  # link-time optimisation: ./configure --with-lto


def optimisation_flags(config_args: str | None) -> Optimisation:
    """PGO and LTO as ./configure was told, from `sysconfig`'s CONFIG_ARGS string.

    None for both where there is no CONFIG_ARGS (Windows builds, some other
    implementations): we cannot tell, which is not the same as "off". Later switches win,
    as in ./configure, and the explicit negatives (`--with-lto=no`, `--without-lto`,
    `--disable-optimizations`) count as off.
    """
    if config_args is None:
        return Optimisation(None, None)
    if not isinstance(config_args, str):
        raise TypeError(f"config_args must be a str or None, not {type(config_args).__name__}")
    try:
        words = shlex.split(config_args)  # the arguments are shell-quoted
    except ValueError:  # an unbalanced quote: fall back to plain words rather than fail
        words = [word.strip("'\"") for word in config_args.split()]
    pgo, lto = False, False
    for word in words:
        name, _, value = word.partition("=")
        negative = value.lower() == "no"
        if name == "--enable-optimizations":
            pgo = not negative
        elif name == "--disable-optimizations":
            pgo = False
        elif name == "--with-lto":  # bare, =yes, =full, =thin: on
            lto = not negative
        elif name == "--without-lto":
            lto = False
    return Optimisation(pgo, lto)


def interpreter_build() -> dict[str, Any]:
    """The running interpreter's build facts, as `env_info` reports them (read-only).

    The keys are `BUILD_FACTS`; `interpreter_differences` compares them between runs.
    """
    optimisation = optimisation_flags(sysconfig.get_config_var("CONFIG_ARGS"))
    return {
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_pgo": optimisation.pgo,
        "python_lto": optimisation.lto,
        # Py_DEBUG is missing outside CPython's sysconfig; a debug build always has
        # sys.gettotalrefcount, so either tells.
        "python_debug_build": bool(sysconfig.get_config_var("Py_DEBUG"))
        or hasattr(sys, "gettotalrefcount"),
        "free_threaded_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "python_compiler": platform.python_compiler(),
    }


#: The interpreter facts two runs must share to be compared as equals.
BUILD_FACTS = (
    "python_implementation",
    "python_version",
    "python_pgo",
    "python_lto",
    "python_debug_build",
    "free_threaded_build",
    "gil_enabled",
    "python_compiler",
    "process_start_method",
)


def describe_optimisation(pgo: bool | None, lto: bool | None) -> str:
    """"PGO+LTO", "no PGO, no LTO", "PGO, LTO unknown"...: how a reader names a build."""
    if pgo and lto:
        return "PGO+LTO"

    def part(flag: bool | None, name: str) -> str:
        return name if flag else f"{name} unknown" if flag is None else f"no {name}"

    return f"{part(pgo, 'PGO')}, {part(lto, 'LTO')}"


def interpreter_differences(env_a: Mapping[str, Any], env_b: Mapping[str, Any]) -> list[str]:
    """The interpreter facts that differ between two env blocks, as short phrases.

    For instance ``["CPython 3.11.7 (no PGO, no LTO) vs 3.13.0 (PGO+LTO)"]``, or
    ``["debug build vs release build"]``; an empty list when the interpreters match.
    A fact missing (or None) on either side is not named: an env block from an older run
    cannot show that it differs. Pure: it reads the two mappings and nothing else.
    """
    for name, env in (("env_a", env_a), ("env_b", env_b)):
        if not isinstance(env, Mapping):
            raise TypeError(f"{name} must be a mapping (an env block), not {type(env).__name__}")

    def differs(key: str) -> bool:
        a, b = env_a.get(key), env_b.get(key)
        return a is not None and b is not None and a != b

    def opt(env: Mapping[str, Any]) -> str:
        return describe_optimisation(env.get("python_pgo"), env.get("python_lto"))

    out: list[str] = []
    opt_differs = differs("python_pgo") or differs("python_lto")
    impl_a, impl_b = env_a.get("python_implementation"), env_b.get("python_implementation")
    ver_a = env_a.get("python_version") or "?"
    ver_b = env_b.get("python_version") or "?"
    if differs("python_implementation") or differs("python_version"):
        left = f"{impl_a or 'Python'} {ver_a}"
        right = f"{impl_b} {ver_b}" if differs("python_implementation") else ver_b
        if opt_differs:
            left, right = f"{left} ({opt(env_a)})", f"{right} ({opt(env_b)})"
        out.append(f"{left} vs {right}")
    elif opt_differs:
        out.append(f"{impl_a or 'Python'} {ver_a} built with {opt(env_a)} vs {opt(env_b)}")
    phrases = {
        "python_debug_build": lambda v: "debug build" if v else "release build",
        "free_threaded_build": lambda v: "free-threaded build" if v else "GIL build",
        "gil_enabled": lambda v: "GIL enabled" if v else "GIL disabled",
        "python_compiler": lambda v: f"compiled by {v}",
        "process_start_method": lambda v: f"processes started by {v}",
    }
    for key, phrase in phrases.items():
        if differs(key):
            out.append(f"{phrase(env_a[key])} vs {phrase(env_b[key])}")
    return out


def probe_meaning(gil_enabled: bool, free_threaded_build: bool) -> str:
    """What the heartbeat probe's figure (the table's GIL column) measures on this interpreter.

    With the GIL disabled (a free-threaded build, 3.13t/3.14t) nothing makes the heartbeat
    wait for a lock: a late wake-up is the OS scheduling it behind busy threads, so the
    column is scheduling latency, and pure-Python threads are expected to scale."""
    if not gil_enabled:
        return ("scheduling latency: this free-threaded build runs without a GIL, so the heartbeat "
                "waits only for a CPU; pure-Python threads can run in parallel")
    if free_threaded_build:
        return ("GIL waiting: this free-threaded build has the GIL enabled at run time (PYTHON_GIL=1, "
                "-X gil=1, or an extension module not declared free-threading safe)")
    return "GIL waiting: how long the heartbeat thread waited to take the GIL back"


def env_info() -> dict[str, Any]:
    """Everything a reader needs to interpret the numbers, as plain JSON-able values.

    It only reads: it neither pins the allocator nor samples the CPUs' load (that takes a
    short sleep; see `run_env`)."""
    from labsrc.core.worker import CLOCK_INFO

    gil_check = getattr(sys, "_is_gil_enabled", None)
    info: dict[str, Any] = {
        "timestamp": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        **interpreter_build(),
        "gil_enabled": bool(gil_check()) if gil_check is not None else True,
        "switch_interval_s": sys.getswitchinterval(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": cpu_count(),
        "cpu_count_os": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "numpy_version": _version("numpy"),
        "cython_version_installed": _version("Cython"),
        "gilknocker_version": _version("gilknocker"),
        "clock": CLOCK_INFO,
        # The name only: building the context would set the forkserver's preload list.
        "process_start_method": start_method(),
        "allocator_pinned": allocator.pinned(),
        # free-threaded builds: pure-kernel constants every thread counts references to
        "mortal_kernel_constants": mortal_kernel_constants(),
    }
    info["gil_probe_measures"] = probe_meaning(info["gil_enabled"], info["free_threaded_build"])
    try:
        from cext import build_info

        build = build_info()
        info.update(
            cext_built=True,
            openmp=bool(build["openmp"]),
            openmp_version=build["openmp_version"],
            openmp_max_threads=build["openmp_max_threads"],
            cython_version=build["cython_version"],
        )
    except ImportError as exc:
        info.update(cext_built=False, openmp=False, cython_version=None, cext_error=str(exc))
    return info


def run_env() -> dict[str, Any]:
    """The environment of a run about to start: the allocator pinned as the harness pins it
    (labsrc.core.allocator), then `env_info()` plus a short sample of how busy the CPUs are.

    Call it before measuring: the sample must see the other programs' load, not the lab's.
    """
    allocator.pin_allocator()
    info = env_info()
    info["busy_cpus_at_start"] = busy_cpus()
    return info


def format_env(info: dict[str, Any]) -> str:
    """Human-readable `key: value` lines, aligned."""
    width = max(len(k) for k in info)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in info.items())
