"""SHA-256 (FIPS 180-4) compiled by numba: the sha256 `numba` / `numba_gil` peers.

The same algorithm as the twins (`labsrc.kernels.sha256`, `cext.sha256`): the message
padded as FIPS 180-4 section 5.1.1 says, then the 64-round compression over each 512-bit
block. The 32-bit words live in int64 and are masked with 0xFFFFFFFF after every sum, as
in the pure-Python twin: numba widens uint32 arithmetic to 64 bits anyway, and signed
int64 never mixes signedness with the literals (which numba would turn into a float or
a wrong-signed result). A sum of five words stays below 2**35 and a word shifted left by
at most 30 below 2**62, so nothing overflows before its mask.

- `sha256`: `@njit(nogil=True)`, the GIL released for the whole digest;
- `sha256_gil`: the same code compiled by plain `@njit`, GIL held.

What is hashed is exactly `bytes(memoryview(data))`; a C-contiguous buffer is read in
place. Importing this module compiles both (seconds in `COMPILE_S`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from labsrc.kernels._numba_peer import (
    BYTES,
    READONLY_BYTES,
    buffer_bytes,
    compile_helper,
    compile_pair,
    types,
)
from labsrc.kernels.sha256 import _INITIAL_HASH, _ROUND_CONSTANTS, DIGEST_SIZE, _raw_bytes

if TYPE_CHECKING:  # collections.abc.Buffer is 3.12+; only the type checker needs it
    from typing_extensions import Buffer

__all__ = ["COMPILE_S", "DIGEST_SIZE", "sha256", "sha256_gil"]

#: Seconds numba took to compile each function when this module was imported.
COMPILE_S: dict[str, float] = {}

# The pure twin's FIPS 180-4 constants; numba freezes global arrays into the machine code.
_H0 = np.array(_INITIAL_HASH, dtype=np.int64)
_K = np.array(_ROUND_CONSTANTS, dtype=np.int64)
_MASK = 0xFFFFFFFF


def _compress(state, block, start, schedule):
    """Fold the 64 bytes block[start:start + 64] into `state` (FIPS 180-4 6.2.2; compiled).

    state: int64[8] of 32-bit words, updated in place; block: uint8[::1];
    schedule: int64[64] scratch space.
    """
    for t in range(16):
        p = start + 4 * t
        schedule[t] = (
            (np.int64(block[p]) << 24) | (np.int64(block[p + 1]) << 16)
            | (np.int64(block[p + 2]) << 8) | np.int64(block[p + 3])
        )
    for t in range(16, 64):
        w15 = schedule[t - 15]
        w2 = schedule[t - 2]
        # Rotations as shift pairs on words < 2**32, masked once afterwards.
        s0 = ((w15 >> 7) | (w15 << 25)) ^ ((w15 >> 18) | (w15 << 14)) ^ (w15 >> 3)
        s1 = ((w2 >> 17) | (w2 << 15)) ^ ((w2 >> 19) | (w2 << 13)) ^ (w2 >> 10)
        schedule[t] = (schedule[t - 16] + (s0 & _MASK) + schedule[t - 7] + (s1 & _MASK)) & _MASK
    a, b, c, d = state[0], state[1], state[2], state[3]
    e, f, g, h = state[4], state[5], state[6], state[7]
    for t in range(64):
        big_s1 = ((e >> 6) | (e << 26)) ^ ((e >> 11) | (e << 21)) ^ ((e >> 25) | (e << 7))
        choose = (e & f) ^ (~e & g)  # ~e is negative, but & g keeps only g's 32 bits
        t1 = h + (big_s1 & _MASK) + choose + _K[t] + schedule[t]
        big_s0 = ((a >> 2) | (a << 30)) ^ ((a >> 13) | (a << 19)) ^ ((a >> 22) | (a << 10))
        majority = (a & b) ^ (a & c) ^ (b & c)
        t2 = (big_s0 & _MASK) + majority
        h, g, f, e = g, f, e, (d + t1) & _MASK
        d, c, b, a = c, b, a, (t1 + t2) & _MASK
    state[0] = (state[0] + a) & _MASK
    state[1] = (state[1] + b) & _MASK
    state[2] = (state[2] + c) & _MASK
    state[3] = (state[3] + d) & _MASK
    state[4] = (state[4] + e) & _MASK
    state[5] = (state[5] + f) & _MASK
    state[6] = (state[6] + g) & _MASK
    state[7] = (state[7] + h) & _MASK


# The padded tail is a writable array: numba passes it where a read-only one is declared.
_compress_nb = compile_helper(
    _compress,
    types.void(types.int64[::1], READONLY_BYTES, types.int64, types.int64[::1]),
    "_compress",
    COMPILE_S,
)


def _sha256(data, digest):
    """Write the SHA-256 of `data` (read-only uint8[::1]) into `digest` (uint8[32]; compiled)."""
    state = _H0.copy()
    schedule = np.empty(64, dtype=np.int64)
    length = data.size
    full = length - length % 64
    for start in range(0, full, 64):
        _compress_nb(state, data, start, schedule)
    # FIPS 180-4 5.1.1: a 1 bit, zeros up to 56 mod 64 bytes, the 64-bit bit length.
    rest = length - full
    tail_len = 64 if rest < 56 else 128
    tail = np.zeros(tail_len, dtype=np.uint8)
    tail[:rest] = data[full:]
    tail[rest] = 0x80
    bit_length = np.int64(length) * 8  # buffers are < 2**60 bytes: no overflow
    for i in range(8):
        tail[tail_len - 1 - i] = (bit_length >> (8 * i)) & 0xFF
    for start in range(0, tail_len, 64):
        _compress_nb(state, tail, start, schedule)
    for i in range(8):
        for k in range(4):
            digest[4 * i + k] = (state[i] >> (24 - 8 * k)) & 0xFF


_nogil, _held = compile_pair(
    _sha256, types.void(READONLY_BYTES, BYTES), "sha256", COMPILE_S
)


def _digest(compiled: Callable[..., None], data: Buffer) -> bytes:
    """Validate like the pure-Python twin, then hash with one of the compiled dispatchers."""
    raw = buffer_bytes(data, _raw_bytes)
    digest = np.empty(DIGEST_SIZE, dtype=np.uint8)
    compiled(raw, digest)
    return digest.tobytes()


def sha256(data: Buffer) -> bytes:
    """Return the 32-byte SHA-256 digest of `data`, releasing the GIL while hashing.

    `data` is any bytes-like object; the bytes hashed are `bytes(memoryview(data))`.
    Raises TypeError for anything that does not export a buffer (str, None, int, ...).
    """
    return _digest(_nogil, data)


def sha256_gil(data: Buffer) -> bytes:
    """`sha256` holding the GIL throughout: the same compiled code, for comparison."""
    return _digest(_held, data)
