"""RC4 with the CipherSaber-2 key schedule compiled by numba: the arcfour `numba` peers.

The same algorithm as the twins (`labsrc.kernels.arcfour`, `cext.arcfour`): the key
schedule run `loops` times over one state with j carried over, then the keystream XORed
into the data. Arguments are validated by the pure-Python twin's own checks (same
errors, same messages, same order: key, data, loops).

- `arcfour`: `@njit(nogil=True)`, the GIL released for the schedule and the keystream;
- `arcfour_gil`: the same code compiled by plain `@njit`, GIL held.

Buffers: a C-contiguous `data` is read in place (any item format or shape, as its raw
bytes); a strided one is copied into `bytes(memoryview(data))` first, so every twin sees
the same bytes. numba cannot build a bytes object, so the result is computed into a
numpy array and copied once into the returned bytes (the C twin writes into the bytes
object directly). Importing this module compiles both (seconds in `COMPILE_S`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from labsrc.kernels._numba_peer import BYTES, READONLY_BYTES, buffer_bytes, compile_pair, types
from labsrc.kernels.arcfour import KEY_MAX, LOOPS_LIMIT, _as_bytes, _checked_key, _checked_loops

__all__ = ["COMPILE_S", "KEY_MAX", "LOOPS_LIMIT", "arcfour", "arcfour_gil"]

#: Seconds numba took to compile each function when this module was imported.
COMPILE_S: dict[str, float] = {}


def _arcfour(key, loops, src, dst):
    """dst[k] = src[k] ^ keystream[k] (compiled).

    key, src: read-only uint8[::1]; loops: int64 >= 1; dst: uint8[::1] of len(src).
    """
    # int64 entries and indices: numba's natural integer; all values stay below 256, so
    # `& 0xFF` is the byte wrap-around and the final cast to uint8 loses nothing.
    state = np.arange(256, dtype=np.int64)
    key_bytes = np.empty(256, dtype=np.int64)
    for i in range(256):
        key_bytes[i] = key[i % key.size]
    # Key schedule, `loops` passes over the same state; j carries over (CipherSaber-2).
    j = 0
    for _ in range(loops):
        for i in range(256):
            si = state[i]
            j = (j + si + key_bytes[i]) & 0xFF
            state[i] = state[j]
            state[j] = si
    # Keystream generation XORed into the output.
    i = 0
    j = 0
    for pos in range(src.size):
        i = (i + 1) & 0xFF
        si = state[i]
        j = (j + si) & 0xFF
        sj = state[j]
        state[i] = sj
        state[j] = si
        dst[pos] = src[pos] ^ state[(si + sj) & 0xFF]


_nogil, _held = compile_pair(
    _arcfour, types.void(READONLY_BYTES, types.int64, READONLY_BYTES, BYTES), "arcfour", COMPILE_S
)


def _run(compiled: Callable[..., None], key: object, data: object, loops: object) -> bytes:
    """Validate like the pure-Python twin, then run one of the compiled dispatchers."""
    raw_key = np.frombuffer(_checked_key(key), dtype=np.uint8)  # <= 256 bytes: a copy is free
    src = buffer_bytes(data, lambda value: _as_bytes("data", value))
    count = _checked_loops(loops)
    dst = np.empty(src.size, dtype=np.uint8)
    compiled(raw_key, count, src, dst)
    return dst.tobytes()


def arcfour(key: bytes, data: bytes, loops: int = 1) -> bytes:
    """Encrypt or decrypt `data` with RC4 keyed by `key`, key schedule run `loops` times.

    key: 1..256 bytes; data: any length (b"" gives b""); both any bytes-like object,
    read as `bytes(memoryview(x))`. loops: int, 1 <= loops < 2**63 (1 is plain RC4,
    20 is CipherSaber-2's recommendation). Returns a new bytes object of len(data).
    Compiled by numba with nogil=True: the GIL is released for the schedule and keystream.
    """
    return _run(_nogil, key, data, loops)


def arcfour_gil(key: bytes, data: bytes, loops: int = 1) -> bytes:
    """arcfour, the same compiled loop holding the GIL (for comparison)."""
    return _run(_held, key, data, loops)
