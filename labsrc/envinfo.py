"""The environment a run was measured in: interpreter, GIL, CPUs, build of the extensions."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
import sysconfig
import time
from importlib import metadata
from typing import Any

from labsrc import allocator


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


def busy_cpus(window_s: float = 0.25) -> float | None:
    """CPUs busy with other work right now: non-idle jiffies over a short window (Linux).

    The load average is a minute-long memory (it still counts the lab's own previous run);
    this sample says what the cores are doing as the run starts. None where /proc/stat is
    missing.
    """
    def sample() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as fh:
                fields = [int(x) for x in fh.readline().split()[1:]]
        except (OSError, ValueError):
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


def env_info() -> dict[str, Any]:
    """Everything a reader needs to interpret the numbers, as plain JSON-able values.

    It only reads: it neither pins the allocator nor samples the CPUs' load (that takes a
    short sleep; see `run_env`)."""
    from labsrc.executors import CLOCK_INFO, process_context

    gil_check = getattr(sys, "_is_gil_enabled", None)
    info: dict[str, Any] = {
        "timestamp": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "free_threaded_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
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
        "process_start_method": process_context().get_start_method(),
        "allocator_pinned": allocator.pinned(),
    }
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
    (labsrc.allocator), then `env_info()` plus a short sample of how busy the CPUs are.

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
