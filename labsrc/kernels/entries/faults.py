"""Hidden kernel `faults`: implementations that crash, lie, raise or dawdle, for harness tests."""

from __future__ import annotations

from labsrc.kernels import noop
from labsrc.kernels.catalog import Impl, Kernel


_M = "labsrc.kernels.noop"

ENTRY = Kernel(
    name="faults",
    summary="deliberately broken implementations to test the harness",
    impls=(
        Impl("ok", _M, "noop", releases_gil=False, description="correct no-op"),
        Impl("crash", _M, "crash_in_worker", releases_gil=False, description="os._exit in a pool worker"),
        Impl("wrong", _M, "wrong_answer", releases_gil=False, description="returns a wrong answer"),
        Impl("raises", _M, "raises", releases_gil=False, description="raises ValueError"),
        Impl("slow", _M, "slow", releases_gil=True, description="sleeps scale/10 s"),
        Impl("missing", "cext.not_a_module", "nothing", releases_gil=True, description="never built"),
    ),
    make_workload=noop.make_workload,
    verify=noop.verify,
    default_scale=1,
    quick_scale=1,
    hidden=True,
)
