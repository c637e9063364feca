"""RC4 with the CipherSaber-2 key schedule in C (the twin of `labsrc.kernels.arcfour`).

One C helper does the work; the entry points differ only in what they do with the GIL:
`arcfour` releases it for the key schedule and the whole keystream, `arcfour_gil` runs
the very same helper while holding it.

Buffers are read in place: a C-contiguous buffer (bytes, bytearray, a contiguous
memoryview or array, of any item size) is viewed as raw bytes without a copy, and the
result is written straight into the new bytes object. Only a non-contiguous buffer is
copied first, into the C-order bytes `bytes(memoryview(x))` gives, so both twins see the
same bytes. While the C code runs, the buffers stay exported, so a bytearray cannot be
resized under it (Python raises BufferError instead).
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int64_t

import operator

__all__ = ["KEY_MAX", "LOOPS_LIMIT", "arcfour", "arcfour_gil"]

#: Longest key RC4 can use: one byte for each entry of the 256-byte state.
KEY_MAX = 256

#: Exclusive upper bound for `loops` (it must fit the signed 64-bit counter below).
LOOPS_LIMIT = 2**63


cdef void _arcfour(
    const unsigned char* key,
    Py_ssize_t key_len,
    int64_t loops,
    const unsigned char* src,
    unsigned char* dst,
    Py_ssize_t length,
) noexcept nogil:
    """dst[k] = src[k] ^ keystream[k] for k < length; src and dst may be the same buffer."""
    # The permutation holds bytes, but 32-bit entries avoid byte-sized stores feeding
    # the next loads, which makes both loops ~25% faster here (OpenSSL's RC4_INT idea).
    cdef unsigned int state[256]
    cdef unsigned char key_bytes[256]
    # The keystream loop is bound by its loop-carried steps i = (i + 1) & 0xFF and
    # j = (j + state[i]) & 0xFF, so one extra cycle on either shows at once. With 32-bit
    # indices GCC zero-extends each masked sum into a fresh register, a move the CPU
    # eliminates; Py_ssize_t indices made it extend in place (movzbl %cl,%ecx: a real
    # cycle) and ran 1.3-1.5x slower, `unsigned char` indices wrapping by themselves
    # 1.1x slower (GCC 12 -O3; measured against numba, whose int64 loop this one matches).
    cdef unsigned int i, j, si, sj
    cdef int64_t round_
    cdef Py_ssize_t pos
    for i in range(256):
        state[i] = i
        key_bytes[i] = key[i % key_len]
    # Key schedule, `loops` passes over the same state; j carries over (CipherSaber-2).
    j = 0
    for round_ in range(loops):
        for i in range(256):
            si = state[i]
            j = (j + si + key_bytes[i]) & 0xFF
            state[i] = state[j]
            state[j] = si
    # Keystream generation XORed into the output.
    i = 0
    j = 0
    for pos in range(length):
        i = (i + 1) & 0xFF
        si = state[i]
        j = (j + si) & 0xFF
        sj = state[j]
        state[i] = sj
        state[j] = si
        # Every state entry is < 256, so the XOR fits a byte and the cast loses nothing.
        dst[pos] = <unsigned char>(src[pos] ^ state[(si + sj) & 0xFF])


def _byte_view(name, value):
    """A C-contiguous view of `value`'s raw bytes, copying only a non-contiguous buffer."""
    if isinstance(value, str):
        raise TypeError(
            f"{name} must be a bytes-like object (bytes, bytearray, memoryview), not str;"
            " encode it first"
        )
    try:
        view = memoryview(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a bytes-like object (bytes, bytearray, memoryview),"
            f" not {type(value).__name__}"
        ) from None
    if view.nbytes == 0:
        # memoryview.cast refuses shapes with a zero in them; there are no bytes anyway.
        return b""
    if view.c_contiguous:
        if view.ndim == 1 and view.format == "B":
            return view
        try:
            # Reinterpret as unsigned bytes (no copy): any item format, any shape.
            return view.cast("B")
        except (TypeError, ValueError):
            pass  # a format cast() does not know: fall through to the copy
    # A strided view has gaps between its bytes; pack them in C order, as tobytes does.
    return view.tobytes()


def _checked_loops(loops):
    """`loops` as an int in 1 <= loops < 2**63, else TypeError / ValueError."""
    # bool is an int subclass, but a True where a count belongs is a bug upstream.
    if isinstance(loops, bool):
        raise TypeError("loops must be an int, not bool")
    try:
        count = operator.index(loops)
    except TypeError:
        raise TypeError(f"loops must be an int, not {type(loops).__name__}") from None
    if not 1 <= count < LOOPS_LIMIT:
        raise ValueError(f"loops must be in 1 <= loops < 2**63, got {count}")
    return count


# The buffers are taken with PyObject_GetBuffer, not as typed memoryviews: Cython's
# memoryview support keeps process-global objects and static types, which crash a process
# that imports the module into a second interpreter ("double free or corruption").

cdef bytes _run(key, data, loops, bint release_gil):
    """Validate like the pure-Python twin, then run _arcfour with or without the GIL."""
    cdef Py_buffer key_buf, data_buf
    PyObject_GetBuffer(_byte_view("key", key), &key_buf, PyBUF_SIMPLE)  # C-contiguous bytes
    try:
        if not 1 <= key_buf.len <= KEY_MAX:
            raise ValueError(f"key must be 1 to {KEY_MAX} bytes long, got {key_buf.len} bytes")
        PyObject_GetBuffer(_byte_view("data", data), &data_buf, PyBUF_SIMPLE)
        try:
            return _run_buffers(&key_buf, &data_buf, _checked_loops(loops), release_gil)
        finally:
            PyBuffer_Release(&data_buf)
    finally:
        PyBuffer_Release(&key_buf)


cdef bytes _run_buffers(Py_buffer* key_buf, Py_buffer* data_buf, int64_t rounds,
                        bint release_gil):
    """XOR data with the keystream into a new bytes object (the buffers are held by _run)."""
    cdef Py_ssize_t length = data_buf.len
    out = PyBytes_FromStringAndSize(NULL, length)
    # A fresh bytes object nobody else has seen yet: filling it in place is the
    # documented way to build one, and saves copying the result.
    cdef unsigned char* dst = <unsigned char*>PyBytes_AS_STRING(out)
    # An empty buffer may have no memory to point at; any valid pointer will do, since
    # the loop then reads nothing.
    cdef const unsigned char* src = <const unsigned char*>data_buf.buf if length > 0 else dst
    cdef const unsigned char* key_ptr = <const unsigned char*>key_buf.buf
    if release_gil:
        # Only raw pointers into buffers that stay exported until _run releases them:
        # no Python object is touched, so other threads may run meanwhile.
        with nogil:
            _arcfour(key_ptr, key_buf.len, rounds, src, dst, length)
    else:
        _arcfour(key_ptr, key_buf.len, rounds, src, dst, length)
    return out


def arcfour(key, data, loops=1) -> bytes:
    """Encrypt or decrypt `data` with RC4 keyed by `key`, key schedule run `loops` times.

    key: 1..256 bytes; data: any length (b"" gives b""); both any bytes-like object,
    read as `bytes(memoryview(x))`. loops: int, 1 <= loops < 2**63 (1 is plain RC4,
    20 is CipherSaber-2's recommendation). Returns a new bytes object of len(data).
    Releases the GIL for the key schedule and the keystream.
    """
    return _run(key, data, loops, True)


def arcfour_gil(key, data, loops=1) -> bytes:
    """arcfour, running the same C helper while holding the GIL (for comparison).

    No other Python thread runs, and Ctrl-C waits, until it returns: mind huge `loops`.
    """
    return _run(key, data, loops, False)
