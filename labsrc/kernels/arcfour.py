"""RC4 ("arcfour") with the CipherSaber-2 key schedule, in pure Python (twin of `cext.arcfour`).

`arcfour(key, data, loops)` runs RC4's key schedule `loops` times over the same state
(CipherSaber-2: the index j carries over from one pass to the next; loops=1 is plain
RC4), then XORs `data` with the keystream. Encryption and decryption are the same
operation, so `arcfour(key, arcfour(key, data, n), n) == data`. For CipherSaber itself,
pass the user key with its 10-byte IV appended as `key` and prepend the IV to the output.

Buffers: `key` and `data` may be any bytes-like object (bytes, bytearray, memoryview,
array.array, a numpy array, ...). The kernel works on their raw bytes in C order, exactly
what `bytes(memoryview(x))` gives: a strided memoryview contributes the bytes of the
elements it shows, an array of 4-byte items contributes 4 native-endian bytes per item.
str is rejected (it has no single byte encoding to assume), and so is None.

Cost: 256 * loops swap steps for the key schedule plus one step per data byte; a huge
`loops` is allowed (up to 2**63 - 1) and simply takes that long.
"""

from __future__ import annotations

import operator

__all__ = ["KEY_MAX", "LOOPS_LIMIT", "arcfour"]

#: Longest key RC4 can use: one byte for each entry of the 256-byte state.
KEY_MAX = 256

#: Exclusive upper bound for `loops` (it must fit the C twin's signed 64-bit counter).
LOOPS_LIMIT = 2**63


def _as_bytes(name: str, value: object) -> bytes:
    """The raw bytes of a bytes-like `value`, or TypeError naming `name`."""
    if isinstance(value, str):
        raise TypeError(
            f"{name} must be a bytes-like object (bytes, bytearray, memoryview), not str;"
            " encode it first"
        )
    try:
        view = memoryview(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{name} must be a bytes-like object (bytes, bytearray, memoryview),"
            f" not {type(value).__name__}"
        ) from None
    with view:
        return view.tobytes()


def _checked_loops(loops: object) -> int:
    """`loops` as an int in 1 <= loops < 2**63, else TypeError / ValueError."""
    # bool is an int subclass, but a True where a count belongs is a bug upstream.
    if isinstance(loops, bool):
        raise TypeError("loops must be an int, not bool")
    try:
        count = operator.index(loops)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"loops must be an int, not {type(loops).__name__}") from None
    if not 1 <= count < LOOPS_LIMIT:
        raise ValueError(f"loops must be in 1 <= loops < 2**63, got {count}")
    return count


def _checked_key(key: object) -> bytes:
    """The raw bytes of `key`, which must be 1..256 bytes long."""
    raw = _as_bytes("key", key)
    if not 1 <= len(raw) <= KEY_MAX:
        raise ValueError(f"key must be 1 to {KEY_MAX} bytes long, got {len(raw)} bytes")
    return raw


def _schedule(key: bytes, loops: int) -> list[int]:
    """RC4's key schedule, repeated `loops` times with j carried over (CipherSaber-2)."""
    state = list(range(256))
    # key[i % len(key)] for i in 0..255, looked up once instead of 256 * loops times.
    key_bytes = [key[i % len(key)] for i in range(256)]
    j = 0
    for _ in range(loops):
        for i in range(256):
            j = (j + state[i] + key_bytes[i]) & 0xFF
            state[i], state[j] = state[j], state[i]
    return state


def _crypt(state: list[int], data: bytes) -> bytes:
    """XOR `data` with RC4's keystream from `state` (which it consumes)."""
    out = bytearray(len(data))
    i = j = 0
    for pos, byte in enumerate(data):
        i = (i + 1) & 0xFF
        si = state[i]
        j = (j + si) & 0xFF
        sj = state[j]
        state[i] = sj
        state[j] = si
        out[pos] = byte ^ state[(si + sj) & 0xFF]
    return bytes(out)


def arcfour(key: bytes, data: bytes, loops: int = 1) -> bytes:
    """Encrypt or decrypt `data` with RC4 keyed by `key`, key schedule run `loops` times.

    key: 1..256 bytes; data: any length (b"" gives b""); both any bytes-like object,
    read as `bytes(memoryview(x))`. loops: int, 1 <= loops < 2**63 (1 is plain RC4,
    20 is CipherSaber-2's recommendation). Returns a new bytes object of len(data).
    """
    raw_key = _checked_key(key)
    raw_data = _as_bytes("data", data)
    count = _checked_loops(loops)
    return _crypt(_schedule(raw_key, count), raw_data)
