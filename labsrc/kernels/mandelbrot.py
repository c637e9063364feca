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

import math
import numbers
import operator
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_COORDINATE", "MAX_ITER", "MAX_PIXELS", "mandelbrot"]

MAX_PIXELS: Final = 2**28  # 1 GiB of int32 counts: anything larger is a mistake
MAX_ITER: Final = 2**31 - 1  # counts are int32
# The set lies within |c| <= 2; this bound keeps every coordinate formula finite.
MAX_COORDINATE: Final = 1e100


def mandelbrot(
    width: int,
    height: int,
    max_iter: int,
    x0: float = -2.0,
    x1: float = 1.0,
    y0: float = -1.5,
    y1: float = 1.5,
) -> npt.NDArray[np.int32]:
    """Escape counts of the window [x0, x1] x [y0, y1], as int32 of shape (height, width).

    See the module docstring for the exact pixel formula and count definition.
    Raises TypeError for non-int sizes (bool and float included) or non-real
    coordinates, ValueError for sizes < 1, more than MAX_PIXELS pixels, max_iter above
    MAX_ITER, non-finite or huge (> MAX_COORDINATE) coordinates, or x1 <= x0, y1 <= y0.
    """
    width, height, max_iter = _checked_sizes(width, height, max_iter)
    x0, x1, y0, y1 = _checked_window(x0, x1, y0, y1)
    span_x = x1 - x0
    span_y = y1 - y0
    counts = np.empty((height, width), dtype=np.int32)
    for row in range(height):
        cy = y0 + span_y * (row + 0.5) / height
        counts[row] = [
            _escape_count(x0 + span_x * (col + 0.5) / width, cy, max_iter) for col in range(width)
        ]
    return counts


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


def _checked_sizes(width: object, height: object, max_iter: object) -> tuple[int, int, int]:
    """Validate the integer arguments; the Cython twin raises the same errors."""
    width = _positive_int("width", width, MAX_PIXELS)
    height = _positive_int("height", height, MAX_PIXELS)
    max_iter = _positive_int("max_iter", max_iter, MAX_ITER)
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"width * height must be at most {MAX_PIXELS} pixels (2**28), "
            f"got {width} * {height} = {width * height}"
        )
    return width, height, max_iter


def _positive_int(name: str, value: object, upper: int) -> int:
    if isinstance(value, bool):  # an int subclass, but True as a size is surely a bug
        raise TypeError(f"{name} must be an int, not bool")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__!r}") from None
    if not 1 <= number <= upper:
        raise ValueError(f"{name} must be between 1 and {upper}, got {number}")
    return number


def _checked_window(
    x0: object, x1: object, y0: object, y1: object
) -> tuple[float, float, float, float]:
    """Validate the window corners; the Cython twin raises the same errors."""
    fx0 = _coordinate("x0", x0)
    fx1 = _coordinate("x1", x1)
    fy0 = _coordinate("y0", y0)
    fy1 = _coordinate("y1", y1)
    if not fx0 < fx1:
        raise ValueError(f"x0 must be less than x1, got x0={fx0!r}, x1={fx1!r}")
    if not fy0 < fy1:
        raise ValueError(f"y0 must be less than y1, got y0={fy0!r}, y1={fy1!r}")
    return fx0, fx1, fy0, fy1


def _coordinate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number (int or float), not {type(value).__name__!r}")
    allowed = f"{name} must be finite and within +-{MAX_COORDINATE:g}"
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range (not shown: it may be huge)
        raise ValueError(f"{allowed}, got an int too large for a float") from None
    if not (math.isfinite(number) and abs(number) <= MAX_COORDINATE):
        raise ValueError(f"{allowed}, got {number!r}")
    return number
