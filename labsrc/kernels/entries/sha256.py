"""Catalog entry `sha256`: FIPS 180-4 digests of equal-sized buffers.

Workload: every task hashes its own `scale` KiB of deterministic pseudo-random data.
Equal lengths make equal cost (SHA-256 work depends only on the length), linear in
`scale`; different data keeps every task's answer distinct.

Verification recomputes the digest with hashlib (OpenSSL), which shares no code with
either twin and costs well under a millisecond next to a ~0.1 s pure-Python task.
"""

from __future__ import annotations

import hashlib
import random

from labsrc.kernels.catalog import Impl, Kernel, TaskArgs, VerificationError

__all__ = ["ENTRY", "make_task", "make_workload", "verify"]

_KIB = 1024


def make_task(index: int, scale: int) -> TaskArgs:
    """Task `index` of make_workload(tasks, scale): its own `scale` KiB of bytes."""
    # A str seed is hashed into the generator's state the same way on every platform
    # and Python version; the "sha256/" prefix keeps this data unlike other kernels'.
    return (random.Random(f"sha256/{index}").randbytes(scale * _KIB),)


def make_workload(tasks: int, scale: int) -> list[TaskArgs]:
    """`tasks` one-element (data,) tuples, each with its own `scale` KiB of bytes."""
    if tasks < 0 or scale < 1:
        raise ValueError(f"need tasks >= 0 and scale >= 1, got tasks={tasks}, scale={scale}")
    return [make_task(task, scale) for task in range(tasks)]


def verify(args: TaskArgs, result: object) -> None:
    """Raise VerificationError unless `result` is the SHA-256 digest of args[0]."""
    (data,) = args
    if not isinstance(result, bytes):
        raise VerificationError(f"sha256 returned {type(result).__name__}, expected bytes")
    raw = bytes(memoryview(data))
    expected = hashlib.sha256(raw).digest()
    if result != expected:
        raise VerificationError(
            f"sha256(<{len(raw)} bytes>) returned {result.hex()}, expected {expected.hex()}"
        )


_PY = "labsrc.kernels.sha256"
_CY = "cext.sha256"

ENTRY = Kernel(
    name="sha256",
    summary="SHA-256 (FIPS 180-4) digests of KiB-sized buffers",
    impls=(
        Impl("py", _PY, "sha256", releases_gil=False, description="pure Python"),
        Impl("cy_gil", _CY, "sha256_gil", releases_gil=False,
             description="Cython, C compression loop holding the GIL"),
        Impl("cy_nogil", _CY, "sha256", releases_gil=True,
             description="Cython, same C loop with the GIL released, buffer read in place"),
        Impl("hashlib", "labsrc.kernels.sha256_hashlib", "sha256", releases_gil=True,
             description="hashlib (OpenSSL); releases the GIL for inputs over 2 KiB"),
        Impl("numba", "labsrc.kernels.sha256_numba", "sha256", releases_gil=True,
             description="numba @njit(nogil=True), compiled when loaded"),
        Impl("numba_gil", "labsrc.kernels.sha256_numba", "sha256_gil", releases_gil=False,
             description="numba @njit, the same machine code holding the GIL"),
    ),
    make_workload=make_workload,
    make_task=make_task,
    verify=verify,
    # scale = KiB per task; pure Python hashes ~0.4-0.5 MB/s here, so 48 KiB ~ 0.1 s.
    default_scale=48,
    quick_scale=12,
    notes="distinct data per task; verified with hashlib",
)
