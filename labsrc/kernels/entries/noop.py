"""Hidden kernel `noop`: times the harness (no-op) and gives GIL-held/released busy work."""

from __future__ import annotations

from labsrc.kernels.catalog import Impl, Kernel, TaskArgs, VerificationError


def _verify(args: TaskArgs, result: object) -> None:
    if result != args[0]:
        raise VerificationError(f"noop{args!r} returned {result!r}, expected {args[0]!r}")


_M = "labsrc.kernels.noop"

ENTRY = Kernel(
    name="noop",
    summary="does nothing (harness overhead); spin/hash_nogil are GIL-held/released busy work",
    impls=(
        Impl("noop", _M, "noop", releases_gil=False, description="returns at once"),
        Impl("spin", _M, "spin", releases_gil=False, description="pure-Python loop"),
        Impl("hash_nogil", _M, "hash_nogil", releases_gil=True, description="hashlib on 64 KiB blocks"),
    ),
    make_workload=lambda tasks, scale: [(i, scale) for i in range(tasks)],
    verify=_verify,
    default_scale=50,
    quick_scale=10,
    hidden=True,
    notes="used by `gil-lab bench` and the harness tests",
)
