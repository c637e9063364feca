"""The Mandelbrot kernels' argument checks, shared by the pure twin and its peers (numpy,
numba), so that every implementation rejects the same input with the same error as the
Cython twin. Pure Python, no numpy: the pure twin must run where numpy does not (PyPy).
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Final

__all__ = ["MAX_COORDINATE", "MAX_ITER", "MAX_PIXELS", "checked_sizes", "checked_window"]

MAX_PIXELS: Final = 2**28  # 1 GiB of int32 counts: anything larger is a mistake
MAX_ITER: Final = 2**31 - 1  # counts are int32
# The set lies within |c| <= 2; this bound keeps every coordinate formula finite.
MAX_COORDINATE: Final = 1e100


def checked_sizes(width: object, height: object, max_iter: object) -> tuple[int, int, int]:
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


def checked_window(
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
