"""The sha256 kernel over both twins: FIPS answers, hashlib agreement, buffers, bad input, GIL."""

from __future__ import annotations

import array
import hashlib
import random
from types import ModuleType
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labsrc.kernels import get_kernel
from labsrc.kernels.catalog import VerificationError
from labsrc.kernels.sha256_hashlib import sha256 as hashlib_peer
from twins import assert_freezes_only_with_a_gil, best_freeze, import_twin, twin_params


@pytest.fixture(scope="module", params=twin_params("sha256"))
def twin(request: pytest.FixtureRequest) -> ModuleType:
    return import_twin(request.param)


@pytest.fixture(scope="module")
def cy() -> ModuleType:
    return import_twin("cext.sha256")


def entry_points(module: ModuleType) -> list[Callable[[Any], bytes]]:
    """Every public digest function of a twin: sha256, plus sha256_gil in the Cython one."""
    return [getattr(module, name) for name in ("sha256", "sha256_gil") if hasattr(module, name)]


def reference(data: Any) -> bytes:
    return hashlib.sha256(bytes(memoryview(data))).digest()


# --- known answers -------------------------------------------------------------------

# FIPS 180-4 / NIST CSRC example messages (SHA256.pdf, SHA2_Additional).
FIPS_EXAMPLES = {
    b"": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    b"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq":
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
    b"klmnopqrlmnopqrsmnopqrstnopqrstu":
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
}
MILLION_A = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"


@pytest.mark.parametrize("message", list(FIPS_EXAMPLES), ids=["empty", "abc", "448-bit", "896-bit"])
def test_fips_examples(twin: ModuleType, message: bytes) -> None:
    for fn in entry_points(twin):
        assert fn(message).hex() == FIPS_EXAMPLES[message]


@pytest.mark.slow
def test_fips_one_million_a(twin: ModuleType) -> None:
    # ~2 s in pure Python (15,626 blocks): slow, but the classic long-message vector.
    assert twin.sha256(b"a" * 1_000_000).hex() == MILLION_A


# Every length up to 200 crosses the padding cases: the length field fits in the last
# block (rest < 56) or needs one more (56..63), at block boundaries and one block on.
BOUNDARY_LENGTHS = [55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 4095, 4096, 4097]


def test_every_length_matches_hashlib(twin: ModuleType) -> None:
    rng = random.Random(2024)
    for length in [*range(201), *BOUNDARY_LENGTHS]:
        data = rng.randbytes(length)
        for fn in entry_points(twin):
            assert fn(data) == hashlib.sha256(data).digest(), length


@pytest.mark.parametrize("fill", [0x00, 0x80, 0xFF])
def test_constant_bytes(twin: ModuleType, fill: int) -> None:
    # 0xFF and 0x80 bytes catch sign-extension slips when bytes are widened to words.
    for length in (1, 55, 64, 300):
        data = bytes([fill]) * length
        assert twin.sha256(data) == hashlib.sha256(data).digest()


def test_returns_32_bytes(twin: ModuleType) -> None:
    digest = twin.sha256(b"x")
    assert type(digest) is bytes and len(digest) == 32 == twin.DIGEST_SIZE


# --- every kind of bytes-like input: hashed as bytes(memoryview(data)) -------------------

BUFFERS = {
    "bytearray": bytearray(b"hello world" * 20),
    "memoryview": memoryview(b"hello world" * 20),
    "readonly slice": memoryview(b"0123456789" * 30)[7:251],
    "non-contiguous": memoryview(bytes(range(256)) * 3)[::3],
    "negative stride": memoryview(bytes(range(200)))[::-1],
    "array of uint32": array.array("I", range(100)),
    "array of double": array.array("d", [0.5, -1.25, 1e300] * 30),
    "numpy int16 2-d": np.arange(600, dtype=np.int16).reshape(20, 30),
    "numpy big-endian": np.arange(77, dtype=">i4"),
    "numpy fortran": np.asfortranarray(np.arange(120, dtype=np.int32).reshape(10, 12)),
    "numpy strided 2-d": np.arange(400, dtype=np.uint8).reshape(20, 20)[::2, 1::3],
    "numpy 0-d": np.array(123456789, dtype=np.int64),
    "numpy empty 2-d": np.zeros((0, 5), dtype=np.float64),
    "numpy records": np.zeros(7, dtype=[("a", "<i4"), ("b", "<f8")]),
}


@pytest.mark.parametrize("name", list(BUFFERS))
def test_bytes_like_inputs(twin: ModuleType, name: str) -> None:
    data = BUFFERS[name]
    for fn in entry_points(twin):
        assert fn(data) == reference(data)
    assert hashlib_peer(data) == reference(data)


def test_input_is_not_modified(twin: ModuleType) -> None:
    data = bytearray(range(256)) * 4
    before = bytes(data)
    twin.sha256(data)
    assert data == before


# --- hypothesis: twin equivalence --------------------------------------------------------


@given(data=st.binary(max_size=300))
def test_matches_hashlib_on_random_bytes(twin: ModuleType, data: bytes) -> None:
    for fn in entry_points(twin):
        assert fn(data) == hashlib.sha256(data).digest()


@given(data=st.binary(max_size=300), start=st.integers(0, 20), step=st.integers(-4, 4))
def test_matches_hashlib_on_random_views(twin: ModuleType, data: bytes, start: int,
                                         step: int) -> None:
    view = memoryview(data)[start :: step or 1]
    for fn in entry_points(twin):
        assert fn(view) == hashlib.sha256(view.tobytes()).digest()


# --- bad input: the same TypeError from every twin and entry point ---------------------

NOT_BYTES = ["abc", "", None, 42, 1.5, True, [1, 2, 3], (1,), {1: 2}, object()]


@pytest.mark.parametrize("value", NOT_BYTES, ids=lambda v: type(v).__name__)
def test_rejects_non_buffers(twin: ModuleType, value: object) -> None:
    for fn in entry_points(twin):
        with pytest.raises(TypeError, match=rf"bytes-like object .*not '{type(value).__name__}'"):
            fn(value)


def test_rejects_missing_and_extra_arguments(twin: ModuleType) -> None:
    for fn in entry_points(twin):
        with pytest.raises(TypeError):
            fn()  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            fn(b"a", b"b")  # type: ignore[call-arg]


# --- the GIL: sha256 lets the main thread run, sha256_gil does not (if there is a GIL) ---

# ~96 MiB: about 0.3 s of C hashing on an idle lab machine (~300 MB/s), far longer than the
# 5 ms switch interval and than the tens of ms a loaded machine can keep the main thread
# waiting for a core, so the freeze fraction lands near 0 or near 1, never in between.
# A `_gil` twin freezes the main thread only where there is a GIL to hold: on a free-threaded
# build running without one, its `with gil` excludes nobody (twins.assert_freezes_only_with_a_gil).
SLOW_LENGTH = 96 << 20


@pytest.fixture(scope="module")
def slow_data() -> bytes:
    return bytes(SLOW_LENGTH)


def test_sha256_releases_the_gil(cy: ModuleType, slow_data: bytes) -> None:
    assert best_freeze(cy.sha256, slow_data, releases=True) < 0.5


def test_sha256_gil_holds_the_gil(cy: ModuleType, slow_data: bytes) -> None:
    assert_freezes_only_with_a_gil(cy.sha256_gil, slow_data)


# --- the catalog entry -----------------------------------------------------------------


def test_catalog_entry_runs_and_verifies_every_impl() -> None:
    kernel = get_kernel("sha256")
    assert kernel.impl_names == ("py", "cy_gil", "cy_nogil", "hashlib", "numba", "numba_gil")
    work = kernel.make_workload(3, 2)
    assert work == kernel.make_workload(3, 2)  # deterministic
    assert [len(args[0]) for args in work] == [2048] * 3  # equal cost
    assert len({args[0] for args in work}) == 3  # distinct answers
    for impl in kernel.impls:
        ok, _reason = impl.available()
        if ok:
            kernel.verify(work[0], impl.load()(*work[0]))


def test_catalog_verify_rejects_wrong_answers() -> None:
    kernel = get_kernel("sha256")
    args = kernel.make_workload(1, 1)[0]
    right = hashlib.sha256(args[0]).digest()
    for wrong in (bytes(32), right[:-1], right.hex(), None):
        with pytest.raises(VerificationError):
            kernel.verify(args, wrong)
