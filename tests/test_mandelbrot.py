"""The mandelbrot kernel over both twins: known pixels, bit-for-bit equality, bad input, GIL."""

from __future__ import annotations

import math
from fractions import Fraction
from types import ModuleType
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labsrc.kernels import get_kernel
from labsrc.kernels import mandelbrot as py
from labsrc.kernels import mandelbrot_numpy
from labsrc.kernels.catalog import VerificationError
from twins import assert_freezes_only_with_a_gil, best_freeze, import_twin, twin_params


@pytest.fixture(scope="module", params=twin_params("mandelbrot"))
def twin(request: pytest.FixtureRequest) -> ModuleType:
    return import_twin(request.param)


@pytest.fixture(scope="module")
def cy() -> ModuleType:
    return import_twin("cext.mandelbrot")


def entry_points(module: ModuleType) -> list[Callable[..., np.ndarray]]:
    """Every image function of a twin: mandelbrot, plus _gil and _prange in the Cython one."""
    names = ("mandelbrot", "mandelbrot_gil", "mandelbrot_prange")
    return [getattr(module, name) for name in names if hasattr(module, name)]


def count_at(fn: Callable[..., np.ndarray], re: float, im: float, max_iter: int) -> int:
    """The count of the single pixel c = re + im*i.

    A 1x1 image of the window [re - 0.5, re + 0.5] samples its centre:
    (re - 0.5) + 1.0 * 0.5 / 1, which is exactly `re` for the dyadic values used here.
    """
    image = fn(1, 1, max_iter, re - 0.5, re + 0.5, im - 0.5, im + 0.5)
    assert image.shape == (1, 1)
    return int(image[0, 0])


# --- known pixels --------------------------------------------------------------------------

# Points of the set never escape, so they get max_iter.
INSIDE = {
    "0 (centre of the cardioid)": (0.0, 0.0),
    "-1 (period-2 cycle 0, -1)": (-1.0, 0.0),
    "-2 (tip: z stays at 2, and |z|^2 = 4 is not > 4)": (-2.0, 0.0),
    "1/4 (cusp: z creeps up to 1/2)": (0.25, 0.0),
    "i (preperiodic: 0, i, -1+i, -i, -1+i, ...)": (0.0, 1.0),
    "-1/2 + i/4 (inside the cardioid)": (-0.5, 0.25),
    "-1/2 - i/4 (its mirror image)": (-0.5, -0.25),
    "0.2 (inside the cardioid)": (0.2, 0.0),
    "-1 + i/8 (inside the period-2 disc)": (-1.0, 0.125),
}

# Outside points with counts worked out by hand, in exact dyadic arithmetic:
# the count is the first n with |z_n|^2 > 4 (z_0 = 0, z_1 = c).
OUTSIDE = {
    "2+2i: |z1|^2 = 8": ((2.0, 2.0), 1),
    "-2.5: |z1|^2 = 6.25": ((-2.5, 0.0), 1),
    "2: z1 = 2 (not > 2), z2 = 6": ((2.0, 0.0), 2),
    "2i: z1 = 2i (not > 2), z2 = -4+2i": ((0.0, 2.0), 2),
    "1: z = 1, 2, 5": ((1.0, 0.0), 3),
    "1/2: z = .5, .75, 1.0625, 1.62890625, 3.15...": ((0.5, 0.0), 5),
}


@pytest.mark.parametrize("name", list(INSIDE))
def test_points_inside_the_set_reach_max_iter(twin: ModuleType, name: str) -> None:
    re, im = INSIDE[name]
    for fn in entry_points(twin):
        assert count_at(fn, re, im, 500) == 500


@pytest.mark.parametrize("name", list(OUTSIDE))
def test_points_outside_escape_at_known_counts(twin: ModuleType, name: str) -> None:
    (re, im), expected = OUTSIDE[name]
    for fn in entry_points(twin):
        assert count_at(fn, re, im, 500) == expected


def test_counts_are_capped_at_max_iter(twin: ModuleType) -> None:
    for fn in entry_points(twin):
        assert count_at(fn, 0.5, 0.0, 3) == 3  # would escape at 5
        assert count_at(fn, 0.5, 0.0, 5) == 5
        assert count_at(fn, 2.0, 2.0, 1) == 1  # max_iter = 1: every pixel is 1
        assert (fn(7, 5, 1) == 1).all()


def test_shape_dtype_and_range(twin: ModuleType) -> None:
    for fn in entry_points(twin):
        image = fn(13, 7, 40)
        assert isinstance(image, np.ndarray)
        assert image.dtype == np.int32 and image.shape == (7, 13)
        assert image.flags.c_contiguous and image.flags.writeable
        assert 1 <= image.min() and image.max() == 40  # the default view holds the set


def test_row_zero_lies_next_to_y0(twin: ModuleType) -> None:
    # Window [-2.5, 1.5] x [0, 2] in 4x2 pixels: the bottom row (row 0, imag 0.5) crosses
    # the set, the top row (imag 1.5) lies wholly outside it.
    image = twin.mandelbrot(4, 2, 100, -2.5, 1.5, 0.0, 2.0)
    assert image[0].max() == 100 and image[1].max() < 100


# --- bit-for-bit equality of twins and peers -----------------------------------------------

WINDOWS = [
    (40, 30, 100, -2.0, 1.0, -1.5, 1.5),  # the whole set
    (33, 17, 300, -0.7436447860 - 2e-9, -0.7436447860 + 2e-9,  # deep zoom: rounding-sensitive
     0.1318252536 - 1.5e-9, 0.1318252536 + 1.5e-9),
    (25, 25, 500, -0.235125 - 0.0001, -0.235125 + 0.0001, 0.827215 - 0.0001, 0.827215 + 0.0001),
    (9, 3, 50, -1.25, 1.0, 0.0, 1.0e-3),  # odd sizes: widths not a multiple of 8 lanes
    (1, 64, 60, -0.75, -0.74, -1.0, 1.0),
]


@pytest.mark.parametrize("args", WINDOWS, ids=range(len(WINDOWS)))
def test_twins_agree_bit_for_bit(twin: ModuleType, args: tuple[Any, ...]) -> None:
    expected = py.mandelbrot(*args)
    for fn in entry_points(twin):
        assert np.array_equal(fn(*args), expected)


@pytest.mark.parametrize("args", WINDOWS, ids=range(len(WINDOWS)))
def test_numpy_peer_agrees_bit_for_bit(args: tuple[Any, ...]) -> None:
    assert np.array_equal(mandelbrot_numpy.mandelbrot(*args), py.mandelbrot(*args))


@pytest.mark.parametrize("threads", [1, 2, 3, None])
def test_prange_is_identical_for_any_thread_count(cy: ModuleType, threads: int | None) -> None:
    args = (123, 77, 200, -1.8, 0.6, -1.1, 1.2)
    expected = cy.mandelbrot(*args)
    assert np.array_equal(cy.mandelbrot_prange(*args, num_threads=threads), expected)
    # More threads than rows leaves some idle, which must not matter either.
    assert np.array_equal(cy.mandelbrot_prange(30, 2, 50, num_threads=threads),
                          cy.mandelbrot(30, 2, 50))


@st.composite
def windows(draw: st.DrawFn) -> tuple[Any, ...]:
    x0 = draw(st.floats(-2.5, 1.5))
    y0 = draw(st.floats(-1.5, 1.5))
    # Spans from wide views to deep zooms, where the rounding order matters most.
    span_x = 10.0 ** draw(st.floats(-12, 0.5))
    span_y = 10.0 ** draw(st.floats(-12, 0.5))
    return (draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 120)),
            x0, x0 + span_x, y0, y0 + span_y)


@given(args=windows())
def test_twins_agree_on_random_windows(twin: ModuleType, args: tuple[Any, ...]) -> None:
    expected = py.mandelbrot(*args)
    assert np.array_equal(mandelbrot_numpy.mandelbrot(*args), expected)
    for fn in entry_points(twin):
        assert np.array_equal(fn(*args), expected)


def test_int_and_fraction_coordinates_are_accepted(twin: ModuleType) -> None:
    for fn in entry_points(twin):
        assert np.array_equal(fn(5, 4, 30, -2, 1, Fraction(-3, 2), np.float64(1.5)),
                              py.mandelbrot(5, 4, 30))
        assert np.array_equal(fn(np.int64(5), np.int32(4), np.uint8(30)), py.mandelbrot(5, 4, 30))


# --- bad input: the same exception and message from every twin and entry point -----------

BAD_INPUT = [
    # (args, exception, message pattern)
    (("8", 8, 10), TypeError, r"width must be an int, not 'str'"),
    ((8.0, 8, 10), TypeError, r"width must be an int, not 'float'"),
    ((8, True, 10), TypeError, r"height must be an int, not bool"),
    ((8, 8, None), TypeError, r"max_iter must be an int, not 'NoneType'"),
    ((8, 8, 10.5), TypeError, r"max_iter must be an int, not 'float'"),
    ((0, 8, 10), ValueError, r"width must be between 1 and 268435456, got 0"),
    ((8, -3, 10), ValueError, r"height must be between 1 and 268435456, got -3"),
    ((8, 8, 0), ValueError, r"max_iter must be between 1 and 2147483647, got 0"),
    ((8, 8, 2**31), ValueError, r"max_iter must be between 1 and 2147483647"),
    ((2**14, 2**14 + 1, 1), ValueError, r"width \* height must be at most 268435456 pixels"),
    ((2**40, 2**40, 1), ValueError, r"width must be between 1 and 268435456"),
    ((8, 8, 10, "-2"), TypeError, r"x0 must be a real number \(int or float\), not 'str'"),
    ((8, 8, 10, -2.0, None), TypeError, r"x1 must be a real number .*not 'NoneType'"),
    ((8, 8, 10, -2.0, 1.0, 1j), TypeError, r"y0 must be a real number .*not 'complex'"),
    ((8, 8, 10, -2.0, 1.0, -1.0, False), TypeError, r"y1 must be a real number .*not 'bool'"),
    ((8, 8, 10, math.nan), ValueError, r"x0 must be finite and within \+-1e\+100, got nan"),
    ((8, 8, 10, -2.0, math.inf), ValueError, r"x1 must be finite .*got inf"),
    ((8, 8, 10, -2.0, 1.0, -1e101), ValueError, r"y0 must be finite .*got -1e\+101"),
    ((8, 8, 10, -2.0, 1.0, -1.0, 10**400), ValueError, r"y1 .*int too large for a float"),
    ((8, 8, 10, 1.0, 1.0), ValueError, r"x0 must be less than x1, got x0=1.0, x1=1.0"),
    ((8, 8, 10, 1.0, -2.0), ValueError, r"x0 must be less than x1"),
    ((8, 8, 10, -2.0, 1.0, 1.5, -1.5), ValueError, r"y0 must be less than y1"),
]


@pytest.mark.parametrize("args, error, message", BAD_INPUT, ids=range(len(BAD_INPUT)))
def test_bad_input(twin: ModuleType, args: tuple[Any, ...], error: type[Exception],
                   message: str) -> None:
    for fn in [*entry_points(twin), mandelbrot_numpy.mandelbrot]:
        with pytest.raises(error, match=message):
            fn(*args)


@pytest.mark.parametrize("threads, error, message", [
    (0, ValueError, r"num_threads must be between 1 and 256, got 0"),
    (-1, ValueError, r"num_threads must be between 1 and 256"),
    (10**6, ValueError, r"num_threads must be between 1 and 256"),
    (2.0, TypeError, r"num_threads must be an int, not 'float'"),
    (True, TypeError, r"num_threads must be an int, not bool"),
    ("2", TypeError, r"num_threads must be an int, not 'str'"),
])
def test_prange_bad_thread_counts(cy: ModuleType, threads: object, error: type[Exception],
                                  message: str) -> None:
    with pytest.raises(error, match=message):
        cy.mandelbrot_prange(8, 8, 10, num_threads=threads)


# --- the GIL: mandelbrot and mandelbrot_prange let the main thread run, _gil does not ----
# (if there is a GIL)

# About 0.35 s of single-threaded C on an idle lab machine (and as long for prange's two
# threads, which share the two cores with the main thread): far longer than the 5 ms switch
# interval and than the tens of ms a loaded machine can keep the main thread waiting for a
# core, so the freeze fraction lands near 0 or near 1, never in between.
# A `_gil` twin freezes the main thread only where there is a GIL to hold: on a free-threaded
# build running without one, its `with gil` excludes nobody (twins.assert_freezes_only_with_a_gil).
SLOW_IMAGE = (1600, 1200, 1000)


def test_mandelbrot_releases_the_gil(cy: ModuleType) -> None:
    assert best_freeze(cy.mandelbrot, *SLOW_IMAGE, releases=True) < 0.5


def test_mandelbrot_prange_releases_the_gil(cy: ModuleType) -> None:
    # Positional num_threads: main_thread_freeze passes positional arguments only.
    args = (*SLOW_IMAGE, -2.0, 1.0, -1.5, 1.5, 2)
    assert best_freeze(cy.mandelbrot_prange, *args, releases=True) < 0.5


def test_mandelbrot_gil_holds_the_gil(cy: ModuleType) -> None:
    assert_freezes_only_with_a_gil(cy.mandelbrot_gil, *SLOW_IMAGE)


# --- the catalog entry -------------------------------------------------------------------


def test_catalog_entry_runs_and_verifies_every_impl() -> None:
    kernel = get_kernel("mandelbrot")
    assert kernel.impl_names == ("py", "cy_gil", "cy_nogil", "cy_prange", "numpy", "numba", "numba_gil")
    work = kernel.make_workload(2, 6)
    assert work == kernel.make_workload(2, 6) and work[0] == work[1]  # equal, deterministic
    assert work[0][:2] == (64, 6)  # scale sets the rows
    for impl in kernel.impls:
        ok, _reason = impl.available()
        if ok:
            fn = impl.load()
            result = fn(*work[0], num_threads=2) if impl.inner_threads else fn(*work[0])
            kernel.verify(work[0], result)


def test_catalog_verify_rejects_wrong_answers() -> None:
    kernel = get_kernel("mandelbrot")
    args = kernel.make_workload(1, 4)[0]
    right = py.mandelbrot(*args)
    off_by_one = right.copy()
    off_by_one[2, 10] += 1
    for wrong in (off_by_one, right[:, :-1], right.astype(np.int64), right.tolist(), None):
        with pytest.raises(VerificationError):
            kernel.verify(args, wrong)
