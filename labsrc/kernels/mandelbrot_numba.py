"""Mandelbrot escape counts compiled by numba: the mandelbrot `numba` / `numba_gil` peers.

The same pixels, iteration and operation order as the twins (see the docstring of
`labsrc.kernels.mandelbrot`), one pixel after the other as in the pure-Python twin (the
C twin steps 8 pixels together, which changes the speed, not the counts). The counts are
the twins' bit for bit: numba compiles without fast-math, and LLVM fuses no multiply and
add unless told to, so every double operation is rounded as Python rounds it. Arguments
are validated by the pure-Python twin's own checks (shared code, so they cannot drift).

- `mandelbrot`: `@njit(nogil=True)`, the GIL released for the whole image;
- `mandelbrot_gil`: the same code compiled by plain `@njit`, GIL held.

Importing this module compiles both (seconds in `COMPILE_S`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import numpy.typing as npt

from labsrc.kernels._numba_peer import compile_pair
from labsrc.kernels.mandelbrot_args import (
    MAX_COORDINATE,
    MAX_ITER,
    MAX_PIXELS,
    checked_sizes,
    checked_window,
)

__all__ = [
    "COMPILE_S", "MAX_COORDINATE", "MAX_ITER", "MAX_PIXELS", "mandelbrot", "mandelbrot_gil",
]

#: Seconds numba took to compile each function when this module was imported.
COMPILE_S: dict[str, float] = {}


def _fill(counts, max_iter, x0, span_x, y0, span_y):
    """Write the escape counts of the window into `counts` (compiled).

    counts: int32[:, ::1] of shape (height, width); max_iter: int64 in 1..2**31 - 1;
    x0, span_x, y0, span_y: float64, with span = x1 - x0 computed as the twins do.
    """
    height, width = counts.shape
    for row in range(height):
        # Sizes are <= 2**28, so int -> double is exact, as in Python's int/float mixing.
        cy = y0 + span_y * (row + 0.5) / height
        for col in range(width):
            cx = x0 + span_x * (col + 0.5) / width
            zr = 0.0
            zi = 0.0
            n = 0
            while n < max_iter:
                zr2 = zr * zr
                zi2 = zi * zi
                if zr2 + zi2 > 4.0:
                    break
                zi = 2.0 * zr * zi + cy
                zr = zr2 - zi2 + cx
                n += 1
            counts[row, col] = n  # n <= max_iter < 2**31: fits int32


_nogil, _held = compile_pair(
    _fill, "void(int32[:, ::1], int64, float64, float64, float64, float64)", "mandelbrot",
    COMPILE_S,
)


def _image(
    compiled: Callable[..., None],
    width: object,
    height: object,
    max_iter: object,
    x0: object,
    x1: object,
    y0: object,
    y1: object,
) -> npt.NDArray[np.int32]:
    """Validate like the pure-Python twin, then fill a new image with `compiled`."""
    w, h, iters = checked_sizes(width, height, max_iter)
    fx0, fx1, fy0, fy1 = checked_window(x0, x1, y0, y1)
    counts = np.empty((h, w), dtype=np.int32)
    compiled(counts, iters, fx0, fx1 - fx0, fy0, fy1 - fy0)
    return counts


def mandelbrot(
    width: int,
    height: int,
    max_iter: int,
    x0: float = -2.0,
    x1: float = 1.0,
    y0: float = -1.5,
    y1: float = 1.5,
) -> npt.NDArray[np.int32]:
    """Escape counts of [x0, x1] x [y0, y1] as int32 (height, width), releasing the GIL.

    Same contract, results and errors as `labsrc.kernels.mandelbrot.mandelbrot`.
    """
    return _image(_nogil, width, height, max_iter, x0, x1, y0, y1)


def mandelbrot_gil(
    width: int,
    height: int,
    max_iter: int,
    x0: float = -2.0,
    x1: float = 1.0,
    y0: float = -1.5,
    y1: float = 1.5,
) -> npt.NDArray[np.int32]:
    """`mandelbrot` holding the GIL throughout: the same compiled code, for comparison."""
    return _image(_held, width, height, max_iter, x0, x1, y0, y1)
