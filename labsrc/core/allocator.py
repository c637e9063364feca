"""Keep freed memory in the process, so repeats measure kernels, not page faults.

Kernels such as arcfour return buffers of tens of MB. glibc returns such blocks to the OS
when they are freed (mmap'd chunks, heap trimming), so every repeat faults fresh, zeroed
pages back in; and worker threads allocate from their own arenas, which trim differently
from the main thread's heap. Measured here, that made `threads` with one worker 15% slower
than `seq` on identical work, and capped two nogil threads well below 2x: allocator
behaviour posing as a GIL effect. Pinning the two thresholds makes every repeat, in every
thread and process, reuse pages it already has.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# The largest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2): blocks up to
# this size come from the heap and are reused instead of being unmapped on free.
_MMAP_THRESHOLD = 32 * 1024 * 1024
_TRIM_THRESHOLD = 2**31 - 1  # never give the top of a heap back to the OS

_pinned: bool | None = None


def pin_allocator() -> bool:
    """Pin glibc's trim and mmap thresholds in this process; True if it took effect.

    Idempotent; a no-op returning False on platforms without glibc's mallopt.
    """
    global _pinned
    if _pinned is None:
        _pinned = _mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) and _mallopt(
            _M_MMAP_THRESHOLD, _MMAP_THRESHOLD
        )
    return _pinned


def pinned() -> bool:
    """Whether `pin_allocator()` took effect in this process (False before it was called)."""
    return bool(_pinned)


def _mallopt(param: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(param, value) == 1
