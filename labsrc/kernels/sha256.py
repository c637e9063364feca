"""SHA-256 (FIPS 180-4) in pure Python: the slow twin of `cext.sha256`.

A straightforward transcription of the standard: pad the message, then run the
64-round compression function over each 512-bit block with 32-bit words kept in
Python ints and masked after every addition. No tricks beyond binding constants to
locals, so the comparison with the Cython twin measures the interpreter, not cleverness.

Input is any bytes-like object. What gets hashed is exactly `bytes(memoryview(data))`:
the raw bytes of the buffer in C (row-major) order, so an `array('i')` or a numpy array
hashes as its in-memory bytes (native byte order) and a non-contiguous memoryview hashes
the bytes it shows, not the ones it skips.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # collections.abc.Buffer is 3.12+; only the type checker needs it
    from typing_extensions import Buffer

__all__ = ["DIGEST_SIZE", "sha256"]

DIGEST_SIZE: Final = 32

_MASK: Final = 0xFFFFFFFF

# FIPS 180-4 section 5.3.3: the first 32 bits of the fractional parts of the square
# roots of the first 8 primes.
_INITIAL_HASH: Final = (
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
    0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
)  # fmt: skip

# FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of the cube
# roots of the first 64 primes.
_ROUND_CONSTANTS: Final = (
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
)  # fmt: skip

_BLOCK_WORDS: Final = struct.Struct(">16I")
_DIGEST_WORDS: Final = struct.Struct(">8I")


def sha256(data: Buffer) -> bytes:
    """Return the 32-byte SHA-256 digest of `data`.

    `data` is any bytes-like object (bytes, bytearray, memoryview, array, numpy array,
    non-contiguous views included); the bytes hashed are `bytes(memoryview(data))`.
    Raises TypeError for anything that does not export a buffer (str, None, int, ...).
    """
    message = _raw_bytes(data)
    state = list(_INITIAL_HASH)
    padded = message + _padding(len(message))
    for offset in range(0, len(padded), 64):
        _compress(state, _BLOCK_WORDS.unpack_from(padded, offset))
    return _DIGEST_WORDS.pack(*state)


def _raw_bytes(data: Buffer) -> bytes:
    """The bytes a buffer exports, in C order; TypeError naming what was given otherwise."""
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(
            f"sha256() needs a bytes-like object (bytes, bytearray, memoryview, ...), "
            f"not {type(data).__name__!r}"
        ) from None
    with view:
        return view.tobytes()


def _padding(length: int) -> bytes:
    """FIPS 180-4 section 5.1.1: a 1 bit, zeros to 448 mod 512 bits, the 64-bit bit length."""
    zeros = (55 - length) % 64
    return b"\x80" + b"\x00" * zeros + ((length * 8) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")


def _compress(state: list[int], block: tuple[int, ...]) -> None:
    """Fold one 16-word block into `state` (FIPS 180-4 section 6.2.2), in place."""
    mask = _MASK
    schedule = list(block)
    for t in range(16, 64):
        w15 = schedule[t - 15]
        w2 = schedule[t - 2]
        # sigma0 and sigma1 of the message schedule: rotations written as shift pairs.
        s0 = ((w15 >> 7) | (w15 << 25)) ^ ((w15 >> 18) | (w15 << 14)) ^ (w15 >> 3)
        s1 = ((w2 >> 17) | (w2 << 15)) ^ ((w2 >> 19) | (w2 << 13)) ^ (w2 >> 10)
        schedule.append((schedule[t - 16] + (s0 & mask) + schedule[t - 7] + (s1 & mask)) & mask)

    a, b, c, d, e, f, g, h = state
    for k, w in zip(_ROUND_CONSTANTS, schedule):
        big_s1 = ((e >> 6) | (e << 26)) ^ ((e >> 11) | (e << 21)) ^ ((e >> 25) | (e << 7))
        choose = (e & f) ^ (~e & g)
        t1 = h + (big_s1 & mask) + (choose & mask) + k + w
        big_s0 = ((a >> 2) | (a << 30)) ^ ((a >> 13) | (a << 19)) ^ ((a >> 22) | (a << 10))
        majority = (a & b) ^ (a & c) ^ (b & c)
        t2 = (big_s0 & mask) + majority
        h, g, f, e = g, f, e, (d + t1) & mask
        d, c, b, a = c, b, a, (t1 + t2) & mask

    for i, value in enumerate((a, b, c, d, e, f, g, h)):
        state[i] = (state[i] + value) & mask
