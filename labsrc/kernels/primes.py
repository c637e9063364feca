"""Primality by trial division, in pure Python (the twin of `cext.primes`).

Both twins run the same algorithm, so comparing them compares interpreters, not
algorithms: 0 and 1 are not prime, 2 and 3 are, even numbers above 2 are not, and any
other n is tested against every odd d in 3..isqrt(n). The cost of a prime n is therefore
about isqrt(n) / 2 divisions; a composite stops at its smallest factor.

Inputs are ints in 0 <= n < 2**64 (the range of the C twin's `uint64_t`). Anything
with `__index__` (a numpy integer, say) counts as an int; bool, float, str and None do
not. Wrong types raise TypeError, out-of-range values ValueError, in both twins alike.
"""

from __future__ import annotations

import operator
from math import isqrt

__all__ = ["N_LIMIT", "count_primes", "is_prime"]

#: Exclusive upper bound for n; start and stop may equal it ([start, 2**64) is a range).
N_LIMIT = 2**64


def _as_int(name: str, value: object) -> int:
    """`value` as a Python int, or TypeError naming `name` and what is allowed."""
    # bool is an int subclass, but a True where a number belongs is a bug upstream.
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


def _checked(name: str, value: object, stop_inclusive: bool = False) -> int:
    """`value` as an int in 0 <= value < 2**64 (or <= 2**64), else TypeError / ValueError."""
    number = _as_int(name, value)
    if number < 0 or number > N_LIMIT or (number == N_LIMIT and not stop_inclusive):
        bound = "<=" if stop_inclusive else "<"
        raise ValueError(f"{name} must be in 0 <= {name} {bound} 2**64, got {number}")
    return number


def _is_prime(n: int) -> bool:
    """Trial division of an already-validated n by 2 and the odd numbers up to isqrt(n)."""
    if n < 4:
        return n >= 2
    if n % 2 == 0:
        return False
    for divisor in range(3, isqrt(n) + 1, 2):
        if n % divisor == 0:
            return False
    return True


def is_prime(n: int) -> bool:
    """True if n is prime, by trial division; n must be an int in 0 <= n < 2**64.

    Costs about isqrt(n) / 2 divisions for a prime: ~2**31 near 2**64, which takes
    minutes in pure Python.
    """
    return _is_prime(_checked("n", n))


def count_primes(start: int, stop: int) -> int:
    """How many primes lie in [start, stop), by trial division of each number.

    0 <= start <= stop <= 2**64; an empty range counts 0.
    """
    first = _checked("start", start, stop_inclusive=True)
    end = _checked("stop", stop, stop_inclusive=True)
    if first > end:
        raise ValueError(f"start must be <= stop, got start={first} > stop={end}")
    return sum(1 for n in range(first, end) if _is_prime(n))
