"""The arcfour kernel over both twins: RFC 6229 vectors, CipherSaber-2, buffers, bad input, GIL."""

from __future__ import annotations

import array
import ctypes
import tracemalloc
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twins import assert_freezes_only_with_a_gil, best_freeze, import_twin, twin_params


@pytest.fixture(scope="module", params=twin_params("arcfour"))
def twin(request: pytest.FixtureRequest) -> ModuleType:
    return import_twin(request.param)


@pytest.fixture(scope="module")
def cy() -> ModuleType:
    return import_twin("cext.arcfour")


# --- known answers -------------------------------------------------------------------

# RFC 6229 keystream bytes: {key: {offset: 16 bytes}}, a few offsets per key.
RFC6229 = {
    "0102030405": {
        0: "b2396305f03dc027ccc3524a0a1118a8",
        16: "6982944f18fc82d589c403a47a0d0919",
        240: "28cb1132c96ce286421dcaadb8b69eae",
        256: "1cfcf62b03eddb641d77dfcf7f8d8c93",
        4080: "068326a2118416d21f9d04b2cd1ca050",
        4096: "ff25b58995996707e51fbdf08b34d875",
    },
    "833222772a": {
        0: "80ad97bdc973df8a2e879e92a497efda",
        16: "20f060c2f2e5126501d3d4fea10d5fc0",
    },
    "0102030405060708090a0b0c0d0e0f10": {
        0: "9ac7cc9a609d1ef7b2932899cde41b97",
        16: "5248c4959014126a6e8a84f11d1a9e1c",
        4080: "ff38265c1642c1abe8d3c2fe5e572bf8",
        4096: "a36a4c301ae8ac13610ccbc12256cacc",
    },
    "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20": {
        0: "eaa6bd25880bf93d3f5d1e4ca2611d91",
        4096: "f3e4c0a2e02d1d01f7f0a74618af2b48",
    },
}

# The classic vectors: (key, plaintext, ciphertext hex).
CLASSIC = [
    (b"Key", b"Plaintext", "bbf316e8d940af0ad3"),
    (b"Wiki", b"pedia", "1021bf0420"),
    (b"Secret", b"Attack at dawn", "45a01f645fc35b383552544b9bf5"),
]


@pytest.mark.parametrize("key_hex", list(RFC6229))
def test_rfc6229_keystream(twin: ModuleType, key_hex: str) -> None:
    stream = twin.arcfour(bytes.fromhex(key_hex), bytes(4112))
    for offset, expected in RFC6229[key_hex].items():
        assert stream[offset : offset + 16].hex() == expected, f"offset {offset}"


@pytest.mark.parametrize(("key", "plain", "cipher_hex"), CLASSIC)
def test_classic_vectors(twin: ModuleType, key: bytes, plain: bytes, cipher_hex: str) -> None:
    assert twin.arcfour(key, plain).hex() == cipher_hex
    assert twin.arcfour(key, bytes.fromhex(cipher_hex)) == plain


def _ciphersaber2_keystream(key: bytes, loops: int, length: int) -> bytes:
    """A deliberately plain CipherSaber-2 reference, written apart from both twins."""
    s = list(range(256))
    j = 0
    for _ in range(loops):  # the schedule repeated; j is not reset between passes
        for i in range(256):
            j = (j + s[i] + key[i % len(key)]) % 256
            s[i], s[j] = s[j], s[i]
    out, i, j = [], 0, 0
    for _ in range(length):
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(s[(s[i] + s[j]) % 256])
    return bytes(out)


@pytest.mark.parametrize("loops", [1, 2, 20])
def test_ciphersaber2_schedule(twin: ModuleType, loops: int) -> None:
    key = b"asdfg" + bytes.fromhex("6f6d0babf3aa6719031a")  # user key + 10-byte IV
    assert twin.arcfour(key, bytes(64), loops) == _ciphersaber2_keystream(key, loops, 64)


def test_ciphersaber2_round_trip(twin: ModuleType) -> None:
    user_key, iv = b"ThomasJefferson", bytes(range(10, 20))
    message = b"This is a test of CipherSaber-2." * 3
    sealed = iv + twin.arcfour(user_key + iv, message, 20)
    assert sealed[10:] != message
    assert twin.arcfour(user_key + sealed[:10], sealed[10:], 20) == message
    assert twin.arcfour(user_key + iv, sealed[10:], 19) != message  # loops matter


def test_edges(twin: ModuleType) -> None:
    assert twin.arcfour(b"k", b"") == b""
    assert twin.arcfour(b"k", b"abc", loops=1) == twin.arcfour(b"k", b"abc")
    longest = bytes(range(256))
    assert twin.arcfour(longest, b"\x00") == _ciphersaber2_keystream(longest, 1, 1)
    assert isinstance(twin.arcfour(bytearray(b"k"), bytearray(b"xyz")), bytes)


# --- buffers: the raw bytes, as bytes(memoryview(x)) gives --------------------------------

BUFFERS = [
    bytearray(b"bytearray data"),
    memoryview(b"a contiguous memoryview"),
    memoryview(b"0123456789abcdef")[::3],  # strided
    memoryview(b"0123456789abcdef")[::-1],  # negative stride
    array.array("I", [1, 2, 3, 0xDEADBEEF]),  # 4-byte items, native byte order
    np.arange(12, dtype=np.int16).reshape(3, 4),  # 2-D, C order
    np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)),  # F order only
    np.arange(30, dtype=np.uint8).reshape(5, 6)[1:4, ::2],  # 2-D, strided
    np.array(1.5),  # 0-d: one 8-byte item
    np.arange(5, dtype=">i4"),  # non-native byte order
    np.zeros(2, dtype=[("a", "u1"), ("b", "<f8")]),  # structured items
    (ctypes.c_int * 3)(1, 2, 3),  # ctypes array
    np.zeros((0, 3)),  # no bytes at all
]


@pytest.mark.parametrize("buffer", BUFFERS, ids=lambda b: type(b).__name__)
def test_buffers_mean_their_raw_bytes(twin: ModuleType, buffer: object) -> None:
    raw = bytes(memoryview(buffer))  # type: ignore[arg-type]
    assert twin.arcfour(b"key", buffer) == twin.arcfour(b"key", raw)
    if raw:
        assert twin.arcfour(buffer, b"data", 3) == twin.arcfour(raw, b"data", 3)


def test_contiguous_data_is_not_copied(cy: ModuleType) -> None:
    """Only the result is allocated: the input is read in place (traced by tracemalloc)."""
    data = bytearray(4 * 1024 * 1024)
    for buffer in (data, memoryview(data), np.frombuffer(data, dtype=np.uint32)):
        tracemalloc.start()
        try:
            cy.arcfour(b"key", buffer)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 1.5 * len(data), f"{type(buffer).__name__}: peak {peak} bytes"


# --- twin equivalence ----------------------------------------------------------------

@given(st.binary(min_size=1, max_size=256), st.binary(max_size=600), st.integers(1, 25))
def test_twins_agree(key: bytes, data: bytes, loops: int) -> None:
    py, cy = import_twin("labsrc.kernels.arcfour"), import_twin("cext.arcfour")
    expected = py.arcfour(key, data, loops)
    assert cy.arcfour(key, data, loops) == expected
    assert cy.arcfour_gil(key, data, loops) == expected
    assert cy.arcfour(key, expected, loops) == data  # its own inverse


@given(st.binary(min_size=1, max_size=300), st.integers(-4, 4).filter(bool), st.integers(0, 3))
def test_twins_agree_on_strided_views(data: bytes, step: int, start: int) -> None:
    py, cy = import_twin("labsrc.kernels.arcfour"), import_twin("cext.arcfour")
    view = memoryview(data)[start::step]
    raw = bytes(view)
    assert py.arcfour(b"k3y", view) == cy.arcfour(b"k3y", view) == py.arcfour(b"k3y", raw)
    if raw:
        assert py.arcfour(view, b"data") == cy.arcfour_gil(view, b"data")


# --- bad input -------------------------------------------------------------------------

BAD_CALLS = [
    (("key", b"data"), TypeError, "key must be a bytes-like object .* not str; encode it"),
    ((None, b"data"), TypeError, "key must be a bytes-like object .* not NoneType"),
    ((5, b"data"), TypeError, "key must be a bytes-like object .* not int"),
    ((b"key", "data"), TypeError, "data must be a bytes-like object .* not str"),
    ((b"key", None), TypeError, "data must be a bytes-like object .* not NoneType"),
    ((b"key", [1, 2]), TypeError, "data must be a bytes-like object .* not list"),
    ((b"", b"data"), ValueError, "key must be 1 to 256 bytes long, got 0 bytes"),
    ((memoryview(b"abc")[3:], b"data"), ValueError, "got 0 bytes"),
    ((bytes(257), b"data"), ValueError, "key must be 1 to 256 bytes long, got 257 bytes"),
    ((b"key", b"data", 0), ValueError, r"loops must be in 1 <= loops < 2\*\*63, got 0"),
    ((b"key", b"data", -3), ValueError, "got -3"),
    ((b"key", b"data", 2**63), ValueError, "got 9223372036854775808"),
    ((b"key", b"data", 1.0), TypeError, "loops must be an int, not float"),
    ((b"key", b"data", True), TypeError, "loops must be an int, not bool"),
    ((b"key", b"data", "1"), TypeError, "loops must be an int, not str"),
    ((b"key", b"data", None), TypeError, "loops must be an int, not NoneType"),
]


@pytest.mark.parametrize(("args", "error", "message"), BAD_CALLS)
def test_bad_input(twin: ModuleType, args: tuple, error: type, message: str) -> None:
    entry_points = [twin.arcfour] + ([twin.arcfour_gil] if hasattr(twin, "arcfour_gil") else [])
    for arcfour in entry_points:
        with pytest.raises(error, match=message):
            arcfour(*args)


# --- the GIL ---------------------------------------------------------------------------

# ~1.5 * 10**8 key-schedule steps: ~0.35 s in C on an idle lab machine, long next to
# timeslices and the switch interval, and next to the tens of ms a loaded machine can keep
# the main thread waiting for a core (which a shorter call would mistake for a held GIL).
# A `_gil` twin freezes the main thread only where there is a GIL to hold: on a free-threaded
# build running without one, its `with gil` excludes nobody (twins.assert_freezes_only_with_a_gil).
SLOW_LOOPS = 600_000
SLOW_ARGS = (b"slow key", b"some data", SLOW_LOOPS)


def test_arcfour_releases_the_gil(cy: ModuleType) -> None:
    assert best_freeze(cy.arcfour, *SLOW_ARGS, releases=True) < 0.5


def test_arcfour_gil_holds_the_gil(cy: ModuleType) -> None:
    assert_freezes_only_with_a_gil(cy.arcfour_gil, *SLOW_ARGS)
