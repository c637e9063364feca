"""Hidden kernel `noop`: times the harness (no-op) and gives GIL-held/released busy work."""

from __future__ import annotations

from labsrc.kernels import noop
from labsrc.kernels.catalog import Impl, Kernel


_M = "labsrc.kernels.noop"

ENTRY = Kernel(
    name="noop",
    summary="does nothing (harness overhead); spin/hash_nogil are GIL-held/released busy work",
    impls=(
        Impl("noop", _M, "noop", releases_gil=False, description="returns at once"),
        Impl("spin", _M, "spin", releases_gil=False, description="pure-Python loop"),
        Impl("hash_nogil", _M, "hash_nogil", releases_gil=True, description="hashlib on 64 KiB blocks"),
    ),
    make_workload=noop.make_workload,
    verify=noop.verify,
    default_scale=50,
    quick_scale=10,
    hidden=True,
    notes="used by `gil-lab bench` and the harness tests",
)
