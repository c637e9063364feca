"""Mandelbrot escape counts with whole-array numpy steps: the catalog's `numpy` peer.

It iterates all still-bounded points together, one numpy step per iteration, and
drops the points that escaped. Every element goes through the very same IEEE double
operations, in the same order, as the twins in `labsrc.kernels.mandelbrot` and
`cext.mandelbrot` (see that module's docstring), so the counts agree bit for bit.
The catalog also uses it as the independent reference that verifies the twins.

numpy releases the GIL inside each array operation, but the loop over iterations is
Python code that takes it back between steps: other threads get real parallelism only
while the arrays are large.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Same argument rules and messages as the twins (shared code, so they cannot drift).
from labsrc.kernels.mandelbrot_args import checked_sizes, checked_window

__all__ = ["mandelbrot"]


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

    Same contract, results and errors as `labsrc.kernels.mandelbrot.mandelbrot`.
    """
    width, height, max_iter = checked_sizes(width, height, max_iter)
    x0, x1, y0, y1 = checked_window(x0, x1, y0, y1)
    # Pixel centres, element by element the twins' formula: x0 + span * (i + 0.5) / n.
    cols = x0 + (x1 - x0) * (np.arange(width, dtype=np.float64) + 0.5) / width
    rows = y0 + (y1 - y0) * (np.arange(height, dtype=np.float64) + 0.5) / height
    cx = np.tile(cols, height)  # flat, row-major: pixel k is (k // width, k % width)
    cy = np.repeat(rows, width)

    counts = np.full(width * height, max_iter, dtype=np.int32)
    alive = np.arange(width * height)  # flat indices of the points still iterating
    zr = np.zeros_like(cx)
    zi = np.zeros_like(cx)
    for n in range(max_iter):
        zr2 = zr * zr
        zi2 = zi * zi
        escaped = zr2 + zi2 > 4.0
        if escaped.any():
            counts[alive[escaped]] = n
            bounded = ~escaped
            alive, zr, zi, zr2, zi2, cx, cy = (
                a[bounded] for a in (alive, zr, zi, zr2, zi2, cx, cy)
            )
            if alive.size == 0:
                break
        zi = 2.0 * zr * zi + cy  # (2.0 * zr) * zi + cy, as in the twins
        zr = zr2 - zi2 + cx
    return counts.reshape(height, width)
