"""Mandelbrot escape counts in pure Python: the slow twin of `cext.mandelbrot`.

Both twins (and the numpy peer in `labsrc.kernels.mandelbrot_numpy`) give the same
counts bit for bit, because they do the same IEEE double operations in the same order:

* pixel (row, col) samples the centre of its cell::

      cx = x0 + (x1 - x0) * (col + 0.5) / width
      cy = y0 + (y1 - y0) * (row + 0.5) / height

  evaluated left to right, so row 0 lies next to y0 and column 0 next to x0;
* the iteration z <- z*z + c on separate real and imaginary doubles::

      zr2 = zr * zr;  zi2 = zi * zi          # escape test first: zr2 + zi2 > 4.0
      zi = 2.0 * zr * zi + cy                # i.e. (2.0 * zr) * zi + cy
      zr = zr2 - zi2 + cx                    # i.e. (zr2 - zi2) + cx

  (the C build forbids fused multiply-add, so no step is rounded differently);
* the escape count is the first n with |z_n| > 2 (z_0 = 0, so n >= 1), or `max_iter`
  when that does not happen for n < max_iter: points of the set get `max_iter`.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Union

from labsrc.kernels.mandelbrot_args import (
    MAX_COORDINATE,
    MAX_ITER,
    MAX_PIXELS,
    checked_sizes,
    checked_window,
)

try:
    import numpy as np
except ImportError:  # PyPy as Debian ships it has no numpy: see `mandelbrot`'s return value
    np = None

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["MAX_COORDINATE", "MAX_ITER", "MAX_PIXELS", "mandelbrot"]


def mandelbrot(
    width: int,
    height: int,
    max_iter: int,
    x0: float = -2.0,
    x1: float = 1.0,
    y0: float = -1.5,
    y1: float = 1.5,
) -> Union[npt.NDArray[np.int32], array[int]]:
    """Escape counts of the window [x0, x1] x [y0, y1], as int32 of shape (height, width).

    Where numpy cannot be imported (PyPy as Debian ships it, for `gil-lab cpu --python`)
    the same counts come back as a flat `array("i")` in row-major order: the same int32
    values, the same bytes. See the module docstring for the exact pixel formula and count
    definition.
    Raises TypeError for non-int sizes (bool and float included) or non-real
    coordinates, ValueError for sizes < 1, more than MAX_PIXELS pixels, max_iter above
    MAX_ITER, non-finite or huge (> MAX_COORDINATE) coordinates, or x1 <= x0, y1 <= y0.
    """
    width, height, max_iter = checked_sizes(width, height, max_iter)
    x0, x1, y0, y1 = checked_window(x0, x1, y0, y1)
    span_x = x1 - x0
    span_y = y1 - y0
    if np is None:
        flat = array("i")
        for row in range(height):
            flat.extend(_row(row, width, height, max_iter, x0, span_x, y0, span_y))
        return flat
    counts = np.empty((height, width), dtype=np.int32)
    for row in range(height):
        counts[row] = _row(row, width, height, max_iter, x0, span_x, y0, span_y)
    return counts


def _row(row: int, width: int, height: int, max_iter: int, x0: float, span_x: float,
         y0: float, span_y: float) -> list[int]:
    """The escape counts of one row, left to right (the pixel formula of the module docstring)."""
    cy = y0 + span_y * (row + 0.5) / height
    return [_escape_count(x0 + span_x * (col + 0.5) / width, cy, max_iter) for col in range(width)]


def _escape_count(cx: float, cy: float, max_iter: int) -> int:
    """First n with |z_n| > 2 under z <- z*z + c, or max_iter (same steps as the C twin)."""
    zr = zi = 0.0
    n = 0
    while n < max_iter:
        zr2 = zr * zr
        zi2 = zi * zi
        if zr2 + zi2 > 4.0:
            break
        zi = 2.0 * zr * zi + cy
        zr = zr2 - zi2 + cx
        n += 1
    return n
