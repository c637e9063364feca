"""Primality by trial division compiled by numba: the `numba` / `numba_gil` peers of primes.

The same algorithm as the twins (`labsrc.kernels.primes`, `cext.primes`): 0 and 1 are not
prime, 2 and 3 are, even numbers above 2 are not, any other n is tried against every odd d
in 3..isqrt(n), by double division below 2**53 as the C twin does. Arguments are validated
by the pure-Python twin's own checks (same errors, same messages), then the compiled loop
runs on uint64, like the C twin's:

- `is_prime`, `count_primes`: `@njit(nogil=True)`, the GIL released during the loop;
- `is_prime_gil`, `count_primes_gil`: the same code compiled by plain `@njit`, GIL held.

numba types an operation mixing uint64 with a plain int literal as int64, which would
wrap every n >= 2**63 negative; so every constant in the compiled code is a np.uint64.
Importing this module compiles all four (seconds in `COMPILE_S`); without numba it
raises ImplUnavailable("unavailable: pip install 'gil-lab[peers]'").
"""

from __future__ import annotations

import math

import numpy as np

from labsrc.kernels._numba_peer import compile_helper, compile_pair
from labsrc.kernels.primes import N_LIMIT, _checked

__all__ = ["COMPILE_S", "N_LIMIT", "count_primes", "count_primes_gil", "is_prime", "is_prime_gil"]

#: Seconds numba took to compile each function (helpers too) when this module was imported.
COMPILE_S: dict[str, float] = {}

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U4 = np.uint64(4)
# isqrt(n) for n < 2**64 is at most 2**32 - 1, whose square still fits in 64 bits.
_ROOT_MAX = np.uint64(0xFFFFFFFF)
# Below 2**53 the twins test divisors with an exact double division (cext/primes.pyx says why).
_DOUBLE_EXACT = np.uint64(2**53)


def _isqrt(n):
    """Exact floor(sqrt(n)) of a uint64 (compiled; the double estimate can be off by one)."""
    # float(n) <= 2**64, so the root is <= 2**32 and converts back to uint64 safely; clamp
    # it so that every square below fits in 64 bits, then correct the rounding.
    root = np.uint64(math.sqrt(np.float64(n)))
    if root > _ROOT_MAX:
        root = _ROOT_MAX
    while root * root > n:
        root -= _U1
    while root < _ROOT_MAX and (root + _U1) * (root + _U1) <= n:
        root += _U1
    return root


_isqrt_nb = compile_helper(_isqrt, "uint64(uint64)", "_isqrt", COMPILE_S)


def _is_prime(n):
    """Trial division of a uint64 n by 2 and the odd numbers up to isqrt(n) (compiled)."""
    if n < _U4:
        return n >= _U2
    if n % _U2 == _U0:
        return False
    limit = _isqrt_nb(n)
    divisor = _U3
    if n < _DOUBLE_EXACT:  # double division, exact here: see cext/primes.pyx
        value = np.float64(n)
        while divisor <= limit:
            if np.uint64(value / np.float64(divisor)) * divisor == n:
                return False
            divisor += _U2
        return True
    # divisor <= limit <= 2**32 - 1, so divisor += 2 never wraps.
    while divisor <= limit:
        if n % divisor == _U0:
            return False
        divisor += _U2
    return True


_is_prime_nogil, _is_prime_held = compile_pair(_is_prime, "boolean(uint64)", "is_prime", COMPILE_S)


def _count_primes(first, span):
    """How many primes lie in [first, first + span), both uint64 (compiled)."""
    total = _U0
    for offset in range(span):
        if _is_prime_held(first + offset):  # a native call: the GIL flag plays no part here
            total += _U1
    return total


_count_nogil, _count_held = compile_pair(
    _count_primes, "uint64(uint64, uint64)", "count_primes", COMPILE_S
)


def _range(start: object, stop: object) -> tuple[np.uint64, np.uint64]:
    """Validate [start, stop) like the twins; return (first, span) that fit in uint64.

    stop may be 2**64, which uint64 cannot hold, and so may the length of [0, 2**64).
    0 and 1 are not prime, so starting at 2 changes no count and brings both into range
    (the C twin does the same).
    """
    first = _checked("start", start, stop_inclusive=True)
    end = _checked("stop", stop, stop_inclusive=True)
    if first > end:
        raise ValueError(f"start must be <= stop, got start={first} > stop={end}")
    if first >= end:  # empty, even at start == stop == 2**64
        return _U2, _U0
    first = max(first, 2)
    return np.uint64(first), np.uint64(max(end - first, 0))


def is_prime(n: int) -> bool:
    """True if n is prime, by trial division; n must be an int in 0 <= n < 2**64.

    Compiled by numba with nogil=True: the GIL is released while dividing.
    """
    return bool(_is_prime_nogil(np.uint64(_checked("n", n))))


def is_prime_gil(n: int) -> bool:
    """is_prime, the same compiled loop holding the GIL (for comparison)."""
    return bool(_is_prime_held(np.uint64(_checked("n", n))))


def count_primes(start: int, stop: int) -> int:
    """How many primes lie in [start, stop), 0 <= start <= stop <= 2**64; GIL released."""
    return int(_count_nogil(*_range(start, stop)))


def count_primes_gil(start: int, stop: int) -> int:
    """count_primes, the same compiled loop holding the GIL (for comparison)."""
    return int(_count_held(*_range(start, stop)))
