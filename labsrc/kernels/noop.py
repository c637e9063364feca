"""Harness-only kernels: a no-op (to time the harness itself) and deliberate faults.

Every function takes the same task arguments `(i, scale)` and returns `i`, so the one
verifier of each catalog entry holds for all of its implementations. None of these is
shown among "all kernels"; their entries are hidden.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from pathlib import Path

from labsrc.kernels.catalog import VerificationError


def noop(i: int, scale: int) -> int:
    """Do nothing: what is left of a cell's time is the harness's own overhead."""
    return i


def spin(i: int, scale: int) -> int:
    """A pure-Python loop of `scale * 1000` additions: holds the GIL the whole time."""
    total = 0
    for k in range(scale * 1000):
        total += k
    return i if total >= 0 else -1


def hash_nogil(i: int, scale: int) -> int:
    """SHA-256 of `scale * 64` KiB of zeros: hashlib releases the GIL for big buffers."""
    h = hashlib.sha256()
    h.update(_zeros(scale * 65536))  # update() drops the GIL; the 3.11 constructor does not
    digest = h.digest()
    return i if len(digest) == 32 else -1


_ZEROS: dict[int, bytes] = {}


def _zeros(size: int) -> bytes:
    # Cached so a task measures hashing, not allocating.
    if size not in _ZEROS:
        _ZEROS.clear()
        _ZEROS[size] = bytes(size)
    return _ZEROS[size]


def make_workload(tasks: int, scale: int) -> list[tuple[int, int]]:
    """`tasks` equal tasks `(i, scale)`."""
    return [(i, scale) for i in range(tasks)]


def verify(args: tuple[int, int], result: object) -> None:
    """Every task here answers its own index: anything else is a wrong answer."""
    if result != args[0]:
        raise VerificationError(f"task {args!r} returned {result!r}, expected {args[0]!r}")


# --- deliberate faults, for the harness's own tests --------------------------------


def crash_in_worker(i: int, scale: int) -> int:
    """Kill the process abruptly when running inside a pool worker (never the parent)."""
    if multiprocessing.parent_process() is not None:
        os._exit(3)
    return i


def wrong_answer(i: int, scale: int) -> int:
    """Return a wrong result so verification must fail."""
    return i + 1


def raises(i: int, scale: int) -> int:
    """Raise from inside the task."""
    raise ValueError(f"task {i} raised on purpose")


def slow(i: int, scale: int) -> int:
    """Sleep `scale / 10` s; record the pid under $GILLAB_PIDDIR so tests can find orphans."""
    piddir = os.environ.get("GILLAB_PIDDIR")
    if piddir:
        Path(piddir, str(os.getpid())).touch()
    deadline = time.monotonic() + scale / 10
    while time.monotonic() < deadline:
        time.sleep(0.01)
    return i
