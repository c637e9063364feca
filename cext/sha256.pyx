"""SHA-256 (FIPS 180-4) in Cython: the fast twin of `labsrc.kernels.sha256`.

`sha256(data)` releases the GIL for the whole digest; `sha256_gil(data)` runs the very
same C helper, `_sha256`, while holding it. Both hash exactly `bytes(memoryview(data))`,
the raw bytes of the buffer in C order. A C-contiguous buffer is read in place, without a
copy; only a non-contiguous view (or one Python refuses to recast as bytes) is copied.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy, memset

__all__ = ["DIGEST_SIZE", "sha256", "sha256_gil"]

DIGEST_SIZE = 32

# FIPS 180-4 section 5.3.3 (initial hash value) and 4.2.2 (round constants).
# `static const` C arrays, not `cdef uint32_t[...]` globals: those are filled in again by
# every interpreter that imports the module, while another one may be hashing with them.
cdef extern from *:
    """
    static const uint32_t INITIAL_HASH[8] = {
        0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
        0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
    };
    static const uint32_t ROUND_CONSTANTS[64] = {
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
        0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
        0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
        0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
        0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
        0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
        0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
    };
    """
    const uint32_t INITIAL_HASH[8]
    const uint32_t ROUND_CONSTANTS[64]


cdef inline uint32_t rotr(uint32_t x, unsigned int n) noexcept nogil:
    # n is always 1..31 here, so neither shift is by 32 (undefined in C).
    return (x >> n) | (x << (32 - n))


cdef inline uint32_t load_be32(const unsigned char* p) noexcept nogil:
    # Assembled byte by byte: big-endian whatever the host, no alignment assumptions.
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | <uint32_t>p[3]


cdef inline void store_be32(unsigned char* p, uint32_t x) noexcept nogil:
    p[0] = <unsigned char>(x >> 24)  # the casts keep the low 8 bits, as intended
    p[1] = <unsigned char>(x >> 16)
    p[2] = <unsigned char>(x >> 8)
    p[3] = <unsigned char>x


cdef void compress(uint32_t* state, const unsigned char* block) noexcept nogil:
    """Fold one 64-byte block into `state` (FIPS 180-4 section 6.2.2)."""
    cdef uint32_t schedule[64]
    cdef uint32_t a, b, c, d, e, f, g, h, t1, t2, w15, w2
    cdef int t
    for t in range(16):
        schedule[t] = load_be32(block + 4 * t)
    for t in range(16, 64):
        w15 = schedule[t - 15]
        w2 = schedule[t - 2]
        schedule[t] = (schedule[t - 16] + (rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >> 3))
                       + schedule[t - 7] + (rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >> 10)))
    a = state[0]; b = state[1]; c = state[2]; d = state[3]
    e = state[4]; f = state[5]; g = state[6]; h = state[7]
    for t in range(64):
        # uint32_t arithmetic wraps modulo 2**32, which is exactly the standard's addition.
        t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) \
            + ROUND_CONSTANTS[t] + schedule[t]
        t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))
        h = g; g = f; f = e; e = d + t1
        d = c; c = b; b = a; a = t1 + t2
    state[0] += a; state[1] += b; state[2] += c; state[3] += d
    state[4] += e; state[5] += f; state[6] += g; state[7] += h


cdef void _sha256(const unsigned char* data, size_t length, unsigned char* digest) noexcept nogil:
    """Write the SHA-256 of data[0:length] to digest[0:32]. Touches no Python object."""
    cdef uint32_t state[8]
    cdef unsigned char tail[128]  # the last partial block plus padding: one or two blocks
    cdef size_t full = length - length % 64
    cdef size_t offset, rest = length - full, tail_len
    cdef uint64_t bit_length = (<uint64_t>length) * 8  # buffers are < 2**61 bytes: no wrap
    cdef int i
    memcpy(state, INITIAL_HASH, sizeof(state))
    offset = 0
    while offset < full:
        compress(state, data + offset)
        offset += 64
    # FIPS 180-4 section 5.1.1: a 1 bit, zeros up to 56 mod 64 bytes, the bit length.
    tail_len = 64 if rest < 56 else 128
    memset(tail, 0, tail_len)
    if rest:
        memcpy(tail, data + full, rest)
    tail[rest] = 0x80
    for i in range(8):
        tail[tail_len - 1 - i] = <unsigned char>(bit_length >> (8 * i))  # low byte of each shift
    compress(state, tail)
    if tail_len == 128:
        compress(state, tail + 64)
    for i in range(8):
        store_be32(digest + 4 * i, state[i])


cdef object byte_view(object data):
    """`data`'s bytes as a C-contiguous unsigned-byte buffer: no copy when it is C-contiguous."""
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(
            f"sha256() needs a bytes-like object (bytes, bytearray, memoryview, ...), "
            f"not {type(data).__name__!r}"
        ) from None
    if view.c_contiguous:
        try:
            # Reinterpret the same memory as unsigned bytes ('i', '>i', 'c', ... all fine).
            return view.cast("B")
        except TypeError:
            pass  # e.g. an empty view with a zero in its shape: copying it costs nothing
    # Non-contiguous: gather the bytes it shows, in C order, into a new bytes object.
    return view.tobytes()


# The buffers are taken with PyObject_GetBuffer, not as typed memoryviews: Cython's
# memoryview support keeps process-global objects and static types, which crash a process
# that imports the module into a second interpreter ("double free or corruption").

def sha256(data) -> bytes:
    """Return the 32-byte SHA-256 digest of `data`, releasing the GIL while hashing.

    `data` is any bytes-like object; the bytes hashed are `bytes(memoryview(data))`.
    Raises TypeError for anything that does not export a buffer (str, None, int, ...).
    """
    cdef Py_buffer buf
    cdef unsigned char digest[32]
    PyObject_GetBuffer(byte_view(data), &buf, PyBUF_SIMPLE)  # C-contiguous bytes
    try:
        # The buffer stays exported until released (a bytearray cannot be resized or
        # freed under us), and _sha256 touches no Python object: other threads may run.
        with nogil:
            _sha256(<const unsigned char*>buf.buf, <size_t>buf.len, digest)
    finally:
        PyBuffer_Release(&buf)
    return digest[:32]


def sha256_gil(data) -> bytes:
    """`sha256` holding the GIL throughout: the same C code, for comparison."""
    cdef Py_buffer buf
    cdef unsigned char digest[32]
    PyObject_GetBuffer(byte_view(data), &buf, PyBUF_SIMPLE)
    try:
        _sha256(<const unsigned char*>buf.buf, <size_t>buf.len, digest)
    finally:
        PyBuffer_Release(&buf)
    return digest[:32]
