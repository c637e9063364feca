"""Catalog entry `primes`: count primes in ranges of 12-digit numbers by trial division.

Workload: task k is the range [q[k*s], q[(k+1)*s]) where q[0] < q[1] < ... are the
consecutive primes from 10**11 on and s is `scale`, so every task holds exactly `scale`
primes. A prime there costs ~158,000 divisions and a composite usually a handful, so the
tasks cost the same to within a few per cent and the cost is linear in `scale`, while
their arguments (and any mix-up of results between tasks) still differ.

Verification never runs trial division: deterministic Miller-Rabin for the workload's
narrow ranges (~1 ms a task), a segmented sieve for wide ones; cached per range. The sieve
is a bytearray crossed off by slice assignment (C speed, like numpy's) because the
`interp` executor's workers build their tasks from this module in sub-interpreters, where
numpy cannot load.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import compress
from math import isqrt, log

from labsrc.kernels.catalog import Impl, Kernel, TaskArgs, VerificationError, check_equal

__all__ = ["ENTRY", "count_primes_reference", "is_prime_reference", "make_workload", "verify"]

#: Where the workload's ranges start: above 2**32, so the C twin does 64-bit division.
WORKLOAD_BASE = 10**11

# Miller-Rabin with these bases is exact for every n < 3.3 * 10**24 (so all n < 2**64).
_WITNESSES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)

# Miller-Rabin costs ~4 us a number here, the sieve ~30 ms a range near 10**11 (its
# setup: one slice per prime up to isqrt(stop)) plus ~1 ns a number; the sieve also needs
# those primes in memory. So: Miller-Rabin for narrow or very high ranges, else the sieve.
_MR_WIDTH_MAX = 10_000
_SIEVE_STOP_MAX = 10**13
_SIEVE_WIDTH_MAX = 10**8


def is_prime_reference(n: int) -> bool:
    """Deterministic Miller-Rabin for 0 <= n < 2**64: an independent check on the kernels."""
    if n < 2:
        return False
    for p in _WITNESSES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in _WITNESSES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _cross_off(flags: bytearray, first: int, step: int) -> None:
    """flags[first::step] = 0, in one slice assignment."""
    if first < len(flags):
        flags[first::step] = bytes(len(range(first, len(flags), step)))


@lru_cache(maxsize=4)
def _primes_up_to(limit: int) -> tuple[int, ...]:
    """All primes <= limit, by a plain sieve of Eratosthenes."""
    flags = bytearray(b"\x01") * (limit + 1)
    flags[: min(2, limit + 1)] = bytes(min(2, limit + 1))
    for p in range(2, isqrt(limit) + 1):
        if flags[p]:
            _cross_off(flags, p * p, p)
    return tuple(compress(range(limit + 1), flags))


def _prime_flags(start: int, stop: int) -> bytearray:
    """flags[i] is 1 iff start + i is prime, 0 if not, for the segment [start, stop)."""
    flags = bytearray(b"\x01") * (stop - start)
    flags[: max(0, 2 - start)] = bytes(min(len(flags), max(0, 2 - start)))  # 0 and 1
    for p in _primes_up_to(isqrt(max(stop - 1, 0))):
        _cross_off(flags, max(p * p, -(-start // p) * p) - start, p)
    return flags


@lru_cache(maxsize=4096)
def count_primes_reference(start: int, stop: int) -> int:
    """Primes in [start, stop), counted by sieve or Miller-Rabin (never trial division)."""
    if stop <= start:
        return 0
    width = stop - start
    if width > _MR_WIDTH_MAX and stop <= _SIEVE_STOP_MAX and width <= _SIEVE_WIDTH_MAX:
        return _prime_flags(start, stop).count(1)
    return sum(1 for n in range(start, stop) if is_prime_reference(n))


@lru_cache(maxsize=64)
def _consecutive_primes(count: int) -> tuple[int, ...]:
    """The first `count` primes >= WORKLOAD_BASE."""
    found: list[int] = []
    start = WORKLOAD_BASE
    while len(found) < count:
        # Primes near 10**11 are ~25 apart; ask for a fifth more than that, then go on.
        width = int((count - len(found)) * log(start) * 1.2) + 1000
        flags = _prime_flags(start, start + width)
        found.extend(compress(range(start, start + width), flags))
        start += width
    return tuple(found[:count])


def make_workload(tasks: int, scale: int) -> list[TaskArgs]:
    """`tasks` disjoint (start, stop) ranges, each holding exactly `scale` primes."""
    if tasks < 0 or scale < 1:
        raise ValueError(f"need tasks >= 0 and scale >= 1, got tasks={tasks}, scale={scale}")
    primes = _consecutive_primes(tasks * scale + 1)
    return [(primes[k * scale], primes[(k + 1) * scale]) for k in range(tasks)]


def verify(args: TaskArgs, result: object) -> None:
    """Raise VerificationError unless `result` is the prime count of range `args`."""
    start, stop = args
    if isinstance(result, bool) or not isinstance(result, int):
        raise VerificationError(f"primes{tuple(args)!r} returned {result!r}, not an int")
    check_equal("count_primes", args, result, count_primes_reference(start, stop))


_PY = "labsrc.kernels.primes"
_CY = "cext.primes"

ENTRY = Kernel(
    name="primes",
    summary="count primes in ranges near 10**11 by trial division (double division below 2**53 in C)",
    impls=(
        Impl("py", _PY, "count_primes", releases_gil=False, description="pure Python"),
        Impl("cy_gil", _CY, "count_primes_gil", releases_gil=False,
             description="Cython, C loop holding the GIL"),
        Impl("cy_nogil", _CY, "count_primes", releases_gil=True,
             description="Cython, same C loop with the GIL released"),
        Impl("cy_prange", _CY, "count_primes_prange", releases_gil=True,
             description="Cython, OpenMP prange (dynamic chunks of 4) inside each call",
             inner_threads=True, needs_openmp=True),
        Impl("numba", "labsrc.kernels.primes_numba", "count_primes", releases_gil=True,
             description="numba @njit(nogil=True), compiled when loaded"),
        Impl("numba_gil", "labsrc.kernels.primes_numba", "count_primes_gil", releases_gil=False,
             description="numba @njit, the same machine code holding the GIL"),
    ),
    make_workload=make_workload,
    verify=verify,
    # scale = primes per task; one `py` task ~0.1 s here (a prime costs ~8 ms in Python).
    default_scale=12,
    quick_scale=3,
    notes="every task holds exactly `scale` primes, so tasks cost the same",
)
