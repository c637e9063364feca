"""Mandelbrot escape counts in Cython: the fast twin of `labsrc.kernels.mandelbrot`.

`mandelbrot` releases the GIL for the whole image, `mandelbrot_gil` runs the very same
C code holding it, and `mandelbrot_prange` splits the rows over OpenMP threads. All three
give the pure-Python twin's counts bit for bit: same pixel formula, same iteration, same
operation order (see the Python module's docstring), and setup.py builds with
-ffp-contract=off so the C compiler cannot fuse a multiply and an add into one rounding.
"""

import math
import numbers
import operator
from array import array

try:
    import numpy as np
except ImportError:  # an own-GIL sub-interpreter cannot load numpy: see new_image
    np = None

from cpython.buffer cimport PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cython.parallel cimport prange
from libc.stdint cimport int32_t

__all__ = [
    "MAX_COORDINATE", "MAX_ITER", "MAX_PIXELS", "MAX_THREADS",
    "mandelbrot", "mandelbrot_gil", "mandelbrot_prange",
]

MAX_PIXELS = 2**28
MAX_ITER = 2**31 - 1
MAX_COORDINATE = 1e100
MAX_THREADS = 256  # a sanity bound: thousands of OpenMP threads would only thrash

# Without OpenMP the module must still build and import, so ask for the default thread
# count through the preprocessor rather than linking omp_get_max_threads unconditionally.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int mandelbrot_default_threads(void) { return omp_get_max_threads(); }
    #else
    static int mandelbrot_default_threads(void) { return 1; }
    #endif
    """
    int mandelbrot_default_threads() noexcept nogil


cdef inline int32_t escape_count(double cx, double cy, int32_t max_iter) noexcept nogil:
    """First n with |z_n| > 2 under z <- z*z + c, or max_iter (the Python twin's steps)."""
    cdef double zr = 0.0, zi = 0.0, zr2, zi2
    cdef int32_t n = 0
    while n < max_iter:
        zr2 = zr * zr
        zi2 = zi * zi
        if zr2 + zi2 > 4.0:
            break
        zi = 2.0 * zr * zi + cy
        zr = zr2 - zi2 + cx
        n += 1
    return n


cdef enum:
    # Pixels stepped together by escape_counts_lanes. 4 measured fastest on a 2-core
    # Xeon (1.33x over 8): more lanes wait longer for their slowest pixel, fewer leave
    # the multipliers idle; 2, 3, 5, 6 and 16 were all slower.
    LANES = 4


cdef inline void escape_counts_lanes(const double* cx, double cy, int32_t max_iter,
                                     int32_t* out) noexcept nogil:
    """escape_count for LANES neighbouring pixels of one row, stepped in lockstep.

    Each lane does exactly escape_count's operations, so the counts are the same bit for
    bit; stepping several pixels together lets the CPU overlap their dependency chains
    (one pixel alone waits on every multiply and add). A lane that has escaped keeps
    iterating on meaningless values (at worst inf or nan, which cannot trap) until all
    have escaped; its count was recorded when it escaped.
    """
    cdef double zr[LANES]
    cdef double zi[LANES]
    cdef double zr2[LANES]
    cdef double zi2[LANES]
    cdef int lane, escaped, alive = (1 << LANES) - 1
    cdef int32_t n = 0
    for lane in range(LANES):
        zr[lane] = 0.0
        zi[lane] = 0.0
        out[lane] = max_iter
    while n < max_iter:
        escaped = 0
        for lane in range(LANES):
            zr2[lane] = zr[lane] * zr[lane]
            zi2[lane] = zi[lane] * zi[lane]
            escaped |= (<int>(zr2[lane] + zi2[lane] > 4.0)) << lane  # bool as a 0/1 bit
        escaped &= alive
        if escaped:
            for lane in range(LANES):
                if (escaped >> lane) & 1:
                    out[lane] = n
            alive &= ~escaped
            if not alive:
                break
        for lane in range(LANES):
            zi[lane] = 2.0 * zr[lane] * zi[lane] + cy
            zr[lane] = zr2[lane] - zi2[lane] + cx[lane]
        n += 1


cdef void mandelbrot_row(int32_t* out, Py_ssize_t row, Py_ssize_t width, Py_ssize_t height,
                         int32_t max_iter, double x0, double span_x,
                         double y0, double span_y) noexcept nogil:
    """Fill out[0:width] with the counts of image row `row`."""
    # Sizes are <= 2**28, so the casts to double are exact, as Python's int/float mixing is.
    cdef double cy = y0 + span_y * (<double>row + 0.5) / <double>height
    cdef double cx[LANES]
    cdef Py_ssize_t col = 0
    cdef int lane
    while col + LANES <= width:
        for lane in range(LANES):
            cx[lane] = x0 + span_x * (<double>(col + lane) + 0.5) / <double>width
        escape_counts_lanes(cx, cy, max_iter, out + col)
        col += LANES
    while col < width:  # the last width % LANES pixels, one at a time
        out[col] = escape_count(x0 + span_x * (<double>col + 0.5) / <double>width, cy, max_iter)
        col += 1


cdef void _mandelbrot(int32_t* out, Py_ssize_t width, Py_ssize_t height, int32_t max_iter,
                      double x0, double x1, double y0, double y1) noexcept nogil:
    """Fill the row-major height x width array `out`. Touches no Python object."""
    cdef Py_ssize_t row
    for row in range(height):
        mandelbrot_row(out + row * width, row, width, height, max_iter, x0, x1 - x0, y0, y1 - y0)


# The images are written through PyObject_GetBuffer, not typed memoryviews: Cython's
# memoryview support keeps process-global objects and static types, which crash a process
# that imports the module into a second interpreter ("double free or corruption").

def mandelbrot(width, height, max_iter, x0=-2.0, x1=1.0, y0=-1.5, y1=1.5):
    """Escape counts of [x0, x1] x [y0, y1] as int32 (height, width), releasing the GIL.

    Same contract, results and errors as `labsrc.kernels.mandelbrot.mandelbrot` (so
    without numpy, e.g. in an own-GIL sub-interpreter, a flat array("i") as there).
    """
    counts, args = new_image(width, height, max_iter, x0, x1, y0, y1)
    cdef Py_buffer buf
    cdef Py_ssize_t c_width = args[0], c_height = args[1]
    cdef int32_t c_max_iter = args[2]
    cdef double c_x0 = args[3], c_x1 = args[4], c_y0 = args[5], c_y1 = args[6]
    # C-contiguous and writable (new_image made it); width, height >= 1: never empty.
    PyObject_GetBuffer(counts, &buf, PyBUF_WRITABLE)
    try:
        # `counts` stays alive and exported, and _mandelbrot uses only C values: let others run.
        with nogil:
            _mandelbrot(<int32_t*>buf.buf, c_width, c_height, c_max_iter, c_x0, c_x1, c_y0, c_y1)
    finally:
        PyBuffer_Release(&buf)
    return counts


def mandelbrot_gil(width, height, max_iter, x0=-2.0, x1=1.0, y0=-1.5, y1=1.5):
    """`mandelbrot` holding the GIL throughout: the same C code, for comparison."""
    counts, args = new_image(width, height, max_iter, x0, x1, y0, y1)
    cdef Py_buffer buf
    cdef Py_ssize_t c_width = args[0], c_height = args[1]
    cdef int32_t c_max_iter = args[2]
    cdef double c_x0 = args[3], c_x1 = args[4], c_y0 = args[5], c_y1 = args[6]
    PyObject_GetBuffer(counts, &buf, PyBUF_WRITABLE)
    try:
        _mandelbrot(<int32_t*>buf.buf, c_width, c_height, c_max_iter, c_x0, c_x1, c_y0, c_y1)
    finally:
        PyBuffer_Release(&buf)
    return counts


def mandelbrot_prange(width, height, max_iter, x0=-2.0, x1=1.0, y0=-1.5, y1=1.5,
                      num_threads=None):
    """`mandelbrot` with its rows shared out over `num_threads` OpenMP threads.

    num_threads=None uses OpenMP's default (usually one per core); otherwise an int in
    1..MAX_THREADS. Without an OpenMP build it runs serially with the same results.
    """
    cdef int threads = checked_threads(num_threads)
    counts, args = new_image(width, height, max_iter, x0, x1, y0, y1)
    cdef Py_buffer buf
    cdef int32_t* out
    cdef Py_ssize_t c_width = args[0], c_height = args[1], row
    cdef int32_t c_max_iter = args[2]
    cdef double c_x0 = args[3], c_y0 = args[5]
    cdef double span_x = args[4] - args[3], span_y = args[6] - args[5]
    PyObject_GetBuffer(counts, &buf, PyBUF_WRITABLE)
    try:
        out = <int32_t*>buf.buf
        # prange needs the GIL released; rows near the set cost far more than rows outside
        # it, so threads take rows one at a time (dynamic) instead of fixed equal slices.
        with nogil:
            for row in prange(c_height, schedule="dynamic", num_threads=threads):
                mandelbrot_row(out + row * c_width, row, c_width, c_height, c_max_iter,
                               c_x0, span_x, c_y0, span_y)
    finally:
        PyBuffer_Release(&buf)
    return counts


cdef tuple new_image(width, height, max_iter, x0, x1, y0, y1):
    """Validate the arguments; return the uninitialised result array and the clean values."""
    width, height, max_iter = checked_sizes(width, height, max_iter)
    x0, x1, y0, y1 = checked_window(x0, x1, y0, y1)
    if np is not None:
        counts = np.empty((height, width), dtype=np.int32)
    else:  # the pure-Python twin's fallback: the same int32 counts, flat, row-major
        counts = array("i", [0]) * (width * height)  # C int: int32 wherever CPython runs
    return counts, (width, height, max_iter, x0, x1, y0, y1)


# Argument checks: the same rules and messages as the Python twin, kept in plain Python
# here so that this module stands alone.

cdef int checked_threads(num_threads) except -1:
    if num_threads is None:
        return max(1, mandelbrot_default_threads())
    return positive_int("num_threads", num_threads, MAX_THREADS)


cdef tuple checked_sizes(width, height, max_iter):
    width = positive_int("width", width, MAX_PIXELS)
    height = positive_int("height", height, MAX_PIXELS)
    max_iter = positive_int("max_iter", max_iter, MAX_ITER)
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"width * height must be at most {MAX_PIXELS} pixels (2**28), "
            f"got {width} * {height} = {width * height}"
        )
    return width, height, max_iter


cdef object positive_int(str name, value, upper):
    if isinstance(value, bool):  # an int subclass, but True as a size is surely a bug
        raise TypeError(f"{name} must be an int, not bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__!r}") from None
    if not 1 <= number <= upper:
        raise ValueError(f"{name} must be between 1 and {upper}, got {number}")
    return number


cdef tuple checked_window(x0, x1, y0, y1):
    fx0 = coordinate("x0", x0)
    fx1 = coordinate("x1", x1)
    fy0 = coordinate("y0", y0)
    fy1 = coordinate("y1", y1)
    if not fx0 < fx1:
        raise ValueError(f"x0 must be less than x1, got x0={fx0!r}, x1={fx1!r}")
    if not fy0 < fy1:
        raise ValueError(f"y0 must be less than y1, got y0={fy0!r}, y1={fy1!r}")
    return fx0, fx1, fy0, fy1


cdef object coordinate(str name, value):
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
