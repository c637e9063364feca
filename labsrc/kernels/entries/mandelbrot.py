"""Catalog entry `mandelbrot`: escape counts of the classic whole-set view.

Workload: every task renders the same window, [-2, 1] x [-1.5, 1.5] at MAX_ITER
iterations, `WIDTH` columns by `scale` rows, so tasks cost the same and the cost grows
linearly with `scale` (more rows sample the same picture more finely). Rows through the
set cost MAX_ITER iterations a pixel, rows far from it a handful: that uneven cost is
what the prange variant's dynamic schedule is for.

Verification compares against the vectorised numpy peer, an independent implementation
of the same documented formulas, computed once per distinct task (all tasks share one)
and cached; it takes ~10 % of one pure-Python task, and nothing after the first.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from labsrc.kernels.catalog import Impl, Kernel, TaskArgs, VerificationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# numpy (and the numpy peer) are imported where a result is verified, never at import: the
# `interp` executor's workers build their tasks from this module in sub-interpreters,
# where numpy cannot load.

__all__ = ["ENTRY", "MAX_ITER", "WIDTH", "WINDOW", "make_workload", "verify"]

#: Columns of every task's image; `scale` sets the rows.
WIDTH = 64
#: Iteration cap: points of the set cost this many iterations each.
MAX_ITER = 256
#: (x0, x1, y0, y1): the whole set, centred.
WINDOW = (-2.0, 1.0, -1.5, 1.5)


def make_workload(tasks: int, scale: int) -> list[TaskArgs]:
    """`tasks` identical (width, height, max_iter, x0, x1, y0, y1) tuples, `scale` rows."""
    if tasks < 0 or scale < 1:
        raise ValueError(f"need tasks >= 0 and scale >= 1, got tasks={tasks}, scale={scale}")
    return [(WIDTH, scale, MAX_ITER, *WINDOW) for _ in range(tasks)]


@lru_cache(maxsize=8)
def _expected(args: TaskArgs) -> npt.NDArray[np.int32]:
    from labsrc.kernels.mandelbrot_numpy import mandelbrot as mandelbrot_reference

    counts = mandelbrot_reference(*args)
    counts.flags.writeable = False  # shared through the cache
    return counts


def verify(args: TaskArgs, result: object) -> None:
    """Raise VerificationError unless `result` equals the numpy peer's counts for `args`."""
    import numpy as np

    shown = "mandelbrot(" + ", ".join(repr(a) for a in args) + ")"
    if not isinstance(result, np.ndarray):
        raise VerificationError(f"{shown} returned {type(result).__name__}, expected ndarray")
    expected = _expected(tuple(args))
    if result.dtype != expected.dtype or result.shape != expected.shape:
        raise VerificationError(
            f"{shown} returned {result.dtype} {result.shape}, "
            f"expected {expected.dtype} {expected.shape}"
        )
    if not np.array_equal(result, expected):
        wrong = np.argwhere(result != expected)
        row, col = (int(i) for i in wrong[0])
        raise VerificationError(
            f"{shown} is wrong at {len(wrong)} pixels, the first at row {row}, column {col}:"
            f" got {result[row, col]}, expected {expected[row, col]}"
        )


_PY = "labsrc.kernels.mandelbrot"
_CY = "cext.mandelbrot"

ENTRY = Kernel(
    name="mandelbrot",
    summary="Mandelbrot escape counts, bit-identical in every implementation",
    impls=(
        Impl("py", _PY, "mandelbrot", releases_gil=False, description="pure Python"),
        Impl("cy_gil", _CY, "mandelbrot_gil", releases_gil=False,
             description="Cython, C loop holding the GIL"),
        Impl("cy_nogil", _CY, "mandelbrot", releases_gil=True,
             description="Cython, same C loop with the GIL released"),
        Impl("cy_prange", _CY, "mandelbrot_prange", releases_gil=True,
             description="Cython, same C loop, rows shared out over OpenMP threads",
             inner_threads=True, needs_openmp=True),
        # numpy drops the GIL inside each whole-array step, but at these image sizes the
        # Python loop over iterations (a dozen small array calls each) dominates and holds
        # it, so threads gain little: say so rather than promise parallelism.
        Impl("numpy", "labsrc.kernels.mandelbrot_numpy", "mandelbrot", releases_gil=False,
             description="vectorised numpy; GIL released only inside each array step"),
        Impl("numba", "labsrc.kernels.mandelbrot_numba", "mandelbrot", releases_gil=True,
             description="numba @njit(nogil=True), compiled when loaded"),
        Impl("numba_gil", "labsrc.kernels.mandelbrot_numba", "mandelbrot_gil", releases_gil=False,
             description="numba @njit, the same machine code holding the GIL"),
    ),
    make_workload=make_workload,
    verify=verify,
    # scale = image rows of WIDTH pixels; pure Python ~0.1 s for 192 rows here.
    default_scale=192,
    quick_scale=48,
    notes="every task renders the same window; verified against the numpy peer (cached)",
)
