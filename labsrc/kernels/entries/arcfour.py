"""Catalog entry `arcfour`: RC4 with the CipherSaber-2 key schedule over equal-sized buffers.

Workload: every task encrypts its own `scale` KiB of deterministic pseudo-random data
under one CipherSaber-2 style key (a 16-byte secret plus a 10-byte IV) with the key
schedule run 20 times, CipherSaber-2's recommendation. Equal lengths make equal cost,
linear in `scale`; different data keeps every task's answer distinct.

Verification uses RC4's structure: the output is the data XOR a keystream that depends
only on (key, loops, length). That keystream is computed once per distinct triple with
the pure-Python twin (checked against RFC 6229 by the tests) and cached, so checking a
result is one numpy XOR-and-compare, however many tasks share the key.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import TYPE_CHECKING

from labsrc.kernels.arcfour import arcfour as arcfour_reference
from labsrc.kernels.catalog import Impl, Kernel, TaskArgs, VerificationError

if TYPE_CHECKING:
    import numpy as np

# numpy is imported where a result is verified, never at import: the `interp` executor's
# workers build their tasks from this module in sub-interpreters, where numpy cannot load.

__all__ = ["ENTRY", "make_task", "WORKLOAD_KEY", "WORKLOAD_LOOPS", "make_workload", "verify"]

#: The workload's key: a CipherSaber user key with its 10-byte IV appended.
WORKLOAD_KEY = b"gil-lab secret!!" + bytes.fromhex("c1d2e3f4a5b6c7d8e9fa")

#: Key-schedule passes per task (CipherSaber-2 recommends 20).
WORKLOAD_LOOPS = 20

_KIB = 1024


def make_task(index: int, scale: int) -> TaskArgs:
    """Task `index` of make_workload(tasks, scale): its own `scale` KiB of data."""
    # random.Random(seed).randbytes is deterministic for an int seed, and fast (C code).
    return (WORKLOAD_KEY, random.Random(index).randbytes(scale * _KIB), WORKLOAD_LOOPS)


def make_workload(tasks: int, scale: int) -> list[TaskArgs]:
    """`tasks` (key, data, loops) tuples, each with its own `scale` KiB of data."""
    if tasks < 0 or scale < 1:
        raise ValueError(f"need tasks >= 0 and scale >= 1, got tasks={tasks}, scale={scale}")
    return [make_task(task, scale) for task in range(tasks)]


@lru_cache(maxsize=16)
def _keystream(key: bytes, loops: int, length: int) -> np.ndarray:
    """RC4-CS2 keystream for (key, loops): the encryption of `length` zero bytes."""
    import numpy as np

    stream = np.frombuffer(arcfour_reference(key, bytes(length), loops), dtype=np.uint8)
    stream.flags.writeable = False  # shared through the cache
    return stream


def verify(args: TaskArgs, result: object) -> None:
    """Raise VerificationError unless `result` is arcfour(*args), checked via the keystream."""
    import numpy as np

    key, data, loops = args
    raw_data = bytes(memoryview(data))
    if not isinstance(result, bytes):
        raise VerificationError(f"arcfour returned {type(result).__name__}, expected bytes")
    if len(result) != len(raw_data):
        raise VerificationError(
            f"arcfour returned {len(result)} bytes for {len(raw_data)} bytes of data"
        )
    stream = _keystream(bytes(memoryview(key)), loops, len(raw_data))
    got = np.frombuffer(result, dtype=np.uint8) ^ np.frombuffer(raw_data, dtype=np.uint8)
    wrong = np.flatnonzero(got != stream)
    if wrong.size:
        first = int(wrong[0])
        raise VerificationError(
            f"arcfour(key of {len(key)} bytes, {len(raw_data)} bytes, loops={loops}) is wrong"
            f" at {wrong.size} bytes, the first at offset {first}:"
            f" got {result[first]:#04x}, expected {raw_data[first] ^ int(stream[first]):#04x}"
        )


_PY = "labsrc.kernels.arcfour"
_CY = "cext.arcfour"

ENTRY = Kernel(
    name="arcfour",
    summary="RC4 with CipherSaber-2's 20-pass key schedule over KiB-sized buffers",
    impls=(
        Impl("py", _PY, "arcfour", releases_gil=False, description="pure Python"),
        Impl("cy_gil", _CY, "arcfour_gil", releases_gil=False,
             description="Cython, C loop holding the GIL"),
        Impl("cy_nogil", _CY, "arcfour", releases_gil=True,
             description="Cython, same C loop with the GIL released, buffers read in place"),
        Impl("numba", "labsrc.kernels.arcfour_numba", "arcfour", releases_gil=True,
             description="numba @njit(nogil=True), compiled when loaded"),
        Impl("numba_gil", "labsrc.kernels.arcfour_numba", "arcfour_gil", releases_gil=False,
             description="numba @njit, the same machine code holding the GIL"),
    ),
    make_workload=make_workload,
    make_task=make_task,
    verify=verify,
    # scale = KiB of data per task; one `py` task ~0.1 s here (~250 ns a byte in Python).
    default_scale=512,
    quick_scale=128,
    notes="one key for all tasks, distinct data; verified against a cached keystream",
)
