"""The primes kernel over both twins: known answers, twin equivalence, bad input, the GIL."""

from __future__ import annotations

from math import prod
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labsrc.kernels.entries.primes import count_primes_reference, is_prime_reference
from twins import assert_freezes_only_with_a_gil, best_freeze, import_twin, twin_params

TWO_64 = 2**64


@pytest.fixture(scope="module", params=twin_params("primes"))
def twin(request: pytest.FixtureRequest) -> ModuleType:
    return import_twin(request.param)


@pytest.fixture(scope="module")
def cy() -> ModuleType:
    return import_twin("cext.primes")


# --- known answers -------------------------------------------------------------------

SMALL_PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71,
                73, 79, 83, 89, 97]

PRIMES = [
    7919, 104729, 1_000_000_007,
    2**31 - 1,  # Mersenne
    4294967291,  # largest prime below 2**32
    4294967311,  # smallest prime above 2**32: 64-bit division from here on
    100000000003,  # first prime of the catalog workload
    999999999989,  # largest 12-digit prime
]

COMPOSITES = [
    0, 1, 4, 6, 8, 9, 15, 91, 2**32, 2**32 + 1,  # 641 * 6700417
    600851475143, 10**12, 2**62, 3 * 4294967291,
]

SQUARES_OF_PRIMES = [p * p for p in (2, 3, 5, 7, 65521, 104729, 1000003)]

# Carmichael numbers: Fermat pseudoprimes to every coprime base, so any shortcut gets them wrong.
SMALL_CARMICHAEL = [561, 1105, 1729, 2465, 2821, 6601, 8911, 10585, 15841, 29341, 41041,
                    46657, 52633, 62745, 63973, 75361, 101101, 115921, 126217, 162401]
# Chernick's (6k+1)(12k+1)(18k+1) with all three factors prime, k = 100291 and 220125;
# the second lies just below 2**64.
LARGE_CARMICHAEL = {
    1307351018993397769: (601747, 1203493, 1805239),
    13823362955725362001: (1320751, 2641501, 3962251),
}

# 2**64 - k for small k: composites whose smallest factor is small, so even the pure-Python
# twin is quick. (The nearest prime, 2**64 - 59, needs 2**31 divisions: seconds even in C.)
NEAR_2_64_COMPOSITES = [TWO_64 - k for k in (1, 2, 3, 5, 7, 9, 15, 33, 45, 57)] + [
    (2**32 - 1) ** 2,  # largest square of an odd number below 2**64: isqrt's edge
]


def _prime_factors(n: int) -> list[int]:
    factors, d = [], 2
    while d * d <= n:
        while n % d == 0:
            factors.append(d)
            n //= d
        d += 1
    return factors + ([n] if n > 1 else [])


def test_first_hundred(twin: ModuleType) -> None:
    assert [n for n in range(100) if twin.is_prime(n)] == SMALL_PRIMES
    assert twin.count_primes(0, 100) == 25


@pytest.mark.parametrize("n", PRIMES)
def test_primes(twin: ModuleType, n: int) -> None:
    assert twin.is_prime(n) is True


@pytest.mark.parametrize("n", COMPOSITES + SQUARES_OF_PRIMES + NEAR_2_64_COMPOSITES)
def test_composites(twin: ModuleType, n: int) -> None:
    assert twin.is_prime(n) is False


def test_carmichael_fixture_is_right() -> None:
    """Korselt's criterion: squarefree, and p - 1 divides n - 1 for every prime factor p."""
    fixture = {n: tuple(_prime_factors(n)) for n in SMALL_CARMICHAEL} | LARGE_CARMICHAEL
    for n, factors in fixture.items():
        assert prod(factors) == n and len(set(factors)) == len(factors) >= 3
        assert all(is_prime_reference(p) and (n - 1) % (p - 1) == 0 for p in factors)


@pytest.mark.parametrize("n", SMALL_CARMICHAEL + list(LARGE_CARMICHAEL))
def test_carmichael_numbers_are_composite(twin: ModuleType, n: int) -> None:
    assert twin.is_prime(n) is False


def test_counts(twin: ModuleType) -> None:
    assert twin.count_primes(0, 0) == 0
    assert twin.count_primes(7, 7) == 0
    assert twin.count_primes(0, 2) == 0
    assert twin.count_primes(2, 3) == 1
    assert twin.count_primes(0, 10_000) == 1229
    assert twin.count_primes(4294967290, 4294967312) == 2
    assert twin.count_primes(100000000003, 100000000211) == 12  # a workload task
    # The top of the range: stop = 2**64 itself (both numbers here are composite).
    assert twin.count_primes(TWO_64 - 2, TWO_64) == 0
    assert twin.count_primes(TWO_64, TWO_64) == 0  # empty at the very top: allowed, not overflow


def test_numpy_integers_count_as_ints(twin: ModuleType) -> None:
    assert twin.is_prime(np.uint64(97)) is True
    assert twin.count_primes(np.int64(0), np.uint16(100)) == 25


def test_cython_only_large_primes(cy: ModuleType) -> None:
    """Past 2**53, where sqrt() in doubles rounds: isqrt must still be exact."""
    p = 134217757  # a prime just above 2**27; p * p is about 1.8e16 > 2**53
    assert cy.is_prime(p * p) is False
    assert cy.is_prime(p * p - 2) is is_prime_reference(p * p - 2)
    assert cy.is_prime(40000000000000063) is True  # ~10**8 divisions: C only


# Below 2**53 the C twin tests divisors with double division; at and above it, with
# integer division. Both sides of the edge, with the hardest cases for the double path:
# primes (every divisor tried) and composites whose only factor is the last one tried.
EDGE_53 = {
    2**53 - 111: True,  # largest prime below 2**53
    2**53 + 5: True,  # smallest prime above it
    94906249 * 94906249: False,  # largest prime square below 2**53: divisor == isqrt(n)
    94906249 * 94906297: False,  # two primes near sqrt(2**53), just above it
    2**53 - 1: False, 2**53: False, 2**53 + 1: False,
    3 * (2**53 // 3): False,  # the quotient itself needs all 53 bits
}


@pytest.mark.parametrize("n", sorted(EDGE_53))
def test_cython_double_division_edge(cy: ModuleType, n: int) -> None:
    """~5e7 divisions a prime: C only."""
    assert is_prime_reference(n) is EDGE_53[n]
    assert cy.is_prime(n) is cy.is_prime_gil(n) is EDGE_53[n]


# --- twin equivalence ----------------------------------------------------------------

@given(st.integers(0, 10**9))
def test_twins_agree_small(n: int) -> None:
    py, cy = import_twin("labsrc.kernels.primes"), import_twin("cext.primes")
    expected = is_prime_reference(n)
    assert py.is_prime(n) is cy.is_prime(n) is cy.is_prime_gil(n) is expected


@given(st.integers(2, 100_000), st.integers(2, TWO_64 // 100_000))
def test_twins_agree_large_composites(factor: int, cofactor: int) -> None:
    py, cy = import_twin("labsrc.kernels.primes"), import_twin("cext.primes")
    n = factor * cofactor
    assert py.is_prime(n) is cy.is_prime(n) is cy.is_prime_gil(n) is False


@given(st.integers(0, 10**11), st.integers(0, 300), st.integers(1, 3))
def test_counts_agree(start: int, width: int, threads: int) -> None:
    py, cy = import_twin("labsrc.kernels.primes"), import_twin("cext.primes")
    stop = start + width
    expected = count_primes_reference(start, stop)
    assert py.count_primes(start, stop) == expected
    assert cy.count_primes(start, stop) == expected
    assert cy.count_primes_gil(start, stop) == expected
    assert cy.count_primes_prange(start, stop, threads) == expected


def test_prange_default_threads(cy: ModuleType) -> None:
    assert cy.count_primes_prange(0, 100_000) == 9592
    assert cy.count_primes_prange(0, 100_000, num_threads=None) == 9592


# --- bad input -------------------------------------------------------------------------

BAD_N = [
    ("7", TypeError, "n must be an int, not str"),
    (7.0, TypeError, "n must be an int, not float"),
    (True, TypeError, "n must be an int, not bool"),
    (None, TypeError, "n must be an int, not NoneType"),
    (-1, ValueError, r"n must be in 0 <= n < 2\*\*64, got -1"),
    (TWO_64, ValueError, r"n must be in 0 <= n < 2\*\*64, got 18446744073709551616"),
    (2**100, ValueError, r"0 <= n < 2\*\*64"),
]

BAD_RANGES = [
    ((5, 3), ValueError, "start must be <= stop, got start=5 > stop=3"),
    ((-1, 5), ValueError, r"start must be in 0 <= start <= 2\*\*64, got -1"),
    ((0, TWO_64 + 1), ValueError, r"stop must be in 0 <= stop <= 2\*\*64"),
    ((0, 10.0), TypeError, "stop must be an int, not float"),
    ((False, 10), TypeError, "start must be an int, not bool"),
    ((b"0", 10), TypeError, "start must be an int, not bytes"),
    ((None, None), TypeError, "start must be an int, not NoneType"),
]


def _is_prime_entry_points(twin: ModuleType) -> list:
    return [twin.is_prime] + ([twin.is_prime_gil] if hasattr(twin, "is_prime_gil") else [])


def _count_entry_points(twin: ModuleType) -> list:
    names = ("count_primes", "count_primes_gil", "count_primes_prange")
    return [getattr(twin, name) for name in names if hasattr(twin, name)]


@pytest.mark.parametrize(("value", "error", "message"), BAD_N)
def test_bad_n(twin: ModuleType, value: object, error: type, message: str) -> None:
    for is_prime in _is_prime_entry_points(twin):
        with pytest.raises(error, match=message):
            is_prime(value)


@pytest.mark.parametrize(("args", "error", "message"), BAD_RANGES)
def test_bad_ranges(twin: ModuleType, args: tuple, error: type, message: str) -> None:
    for count_primes in _count_entry_points(twin):
        with pytest.raises(error, match=message):
            count_primes(*args)


@pytest.mark.parametrize(
    ("threads", "error", "message"),
    [
        (0, ValueError, "num_threads must be None or in 1 <= num_threads <= 256, got 0"),
        (-2, ValueError, "got -2"),
        (10**6, ValueError, "got 1000000"),
        (257, ValueError, "num_threads <= 256, got 257"),
        (2.0, TypeError, "num_threads must be an int, not float"),
        (True, TypeError, "num_threads must be an int, not bool"),
        ("2", TypeError, "num_threads must be an int, not str"),
    ],
)
def test_bad_num_threads(cy: ModuleType, threads: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        cy.count_primes_prange(0, 10, threads)


# --- the GIL ---------------------------------------------------------------------------

# Calls lasting ~0.3-0.4 s on an idle lab machine: long next to OS timeslices, the 5 ms
# switch interval and the tens of ms a loaded machine can keep the main thread waiting for
# a core, so the freeze fraction is near 0 or near 1, never in between.
# A `_gil` twin freezes the main thread only where there is a GIL to hold: on a free-threaded
# build running without one, its `with gil` excludes nobody (twins.assert_freezes_only_with_a_gil).
SLOW_PRIME = 200000000000000003  # ~2.2 * 10**8 divisions (a prime: every divisor tried)
SLOW_RANGE = (10**14, 10**14 + 2000)  # ~60 primes of ~5 * 10**6 divisions each


def test_is_prime_releases_the_gil(cy: ModuleType) -> None:
    assert best_freeze(cy.is_prime, SLOW_PRIME, releases=True) < 0.5


def test_is_prime_gil_holds_the_gil(cy: ModuleType) -> None:
    assert_freezes_only_with_a_gil(cy.is_prime_gil, SLOW_PRIME)


def test_count_primes_releases_the_gil(cy: ModuleType) -> None:
    assert best_freeze(cy.count_primes, *SLOW_RANGE, releases=True) < 0.5


def test_count_primes_gil_holds_the_gil(cy: ModuleType) -> None:
    assert_freezes_only_with_a_gil(cy.count_primes_gil, *SLOW_RANGE)


@pytest.mark.parametrize("threads", [1, 2])
def test_count_primes_prange_releases_the_gil(cy: ModuleType, threads: int) -> None:
    assert best_freeze(cy.count_primes_prange, *SLOW_RANGE, threads, releases=True) < 0.5
