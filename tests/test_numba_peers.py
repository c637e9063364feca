"""The numba peers (`labsrc.kernels.<kernel>_numba`) beyond the shared kernel suites.

The kernel suites already run every known-answer, equivalence, buffer and bad-input test
over the numba modules (tests/twins.py lists them as twins). Here: answers around 2**63,
where a signed 64-bit slip in the compiled code would show; the catalog workloads
bit for bit against the pure-Python twins; that `numba` releases the GIL and `numba_gil`
holds it (where there is a GIL to hold); that loading an impl is what compiles it; and what
a user without numba sees, which is every user of a free-threaded build (numba has no
free-threaded wheels yet): that test runs everywhere, the others need numba.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import sysconfig
import textwrap
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from labsrc.kernels import get_kernel
from labsrc.kernels.entries.primes import count_primes_reference, is_prime_reference
from labsrc.bench.peers import run_peers_bench
from twins import NUMBA_MISSING, assert_freezes_only_with_a_gil, best_freeze, import_twin

needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason=NUMBA_MISSING)

KERNELS = ("primes", "arcfour", "sha256", "mandelbrot")
# The reason every numba row gives without numba: the install hint, or on a free-threaded
# build (the build decides, not PYTHON_GIL) why that hint cannot work there.
UNAVAILABLE = ("unavailable: numba has no free-threaded build yet (pip install 'gil-lab[peers]' needs a GIL build)"
               if sysconfig.get_config_var("Py_GIL_DISABLED") else "unavailable: pip install 'gil-lab[peers]'")
TWO_63 = 2**63


def peer(kernel: str) -> ModuleType:
    return import_twin(f"labsrc.kernels.{kernel}_numba")


# --- around 2**63: numba's int64 default meets the twins' uint64 --------------------------

# [2**63 - 24, 2**63 + 29) holds no prime (2**63 - 25 and 2**63 + 29 are the primes around
# it), and its numbers above 2**63 have smallest factors up to 6619867: an implementation
# that let n wrap to a negative int64 would miss those factors.
PRIME_FREE = (TWO_63 - 24, TWO_63 + 29)


@needs_numba
def test_composites_around_2_63() -> None:
    primes, py = peer("primes"), import_twin("labsrc.kernels.primes")
    numbers = range(*PRIME_FREE)
    got = [primes.is_prime(n) for n in numbers]
    assert got == [primes.is_prime_gil(n) for n in numbers] == [False] * len(numbers)
    assert py.count_primes(*PRIME_FREE) == 0 == count_primes_reference(*PRIME_FREE)
    assert primes.count_primes(*PRIME_FREE) == 0 == primes.count_primes_gil(*PRIME_FREE)


@needs_numba
@pytest.mark.slow
def test_a_prime_above_2_63() -> None:
    """~1.5e9 divisions (~4 s compiled): only a prime shows that n >= 2**63 is not read as
    negative (which would make every such n "not prime", composites right by luck)."""
    assert is_prime_reference(TWO_63 + 29)
    assert peer("primes").is_prime(TWO_63 + 29) is True


@needs_numba
def test_is_prime_returns_bool_and_count_returns_int() -> None:
    primes = peer("primes")
    assert type(primes.is_prime(97)) is bool and type(primes.is_prime_gil(97)) is bool
    assert type(primes.count_primes(0, 100)) is int and type(primes.count_primes_gil(0, 100)) is int


# --- the catalog workloads, bit for bit against the pure-Python twins ---------------------


@needs_numba
@pytest.mark.parametrize("kernel", KERNELS)
def test_workload_matches_the_pure_twin(kernel: str) -> None:
    entry = get_kernel(kernel)
    py = entry.impl("py").load()
    tasks = entry.make_workload(2, entry.quick_scale)
    for name in ("numba", "numba_gil"):
        fn = entry.impl(name).load()
        for args in tasks:
            got, expected = fn(*args), py(*args)
            assert type(got) is type(expected)
            if isinstance(expected, np.ndarray):
                assert got.dtype == expected.dtype and np.array_equal(got, expected)
            else:
                assert got == expected
            entry.verify(args, got)


# --- the GIL: `numba` lets the main thread run, `numba_gil` does not -----------------------

# Calls of ~0.3-0.4 s on an idle lab machine, far longer than the 5 ms switch interval and
# than the tens of ms a loaded machine can keep the main thread waiting for a core, so the
# freeze lands near 0 or near 1 (the sizes the Cython suites use, mandelbrot's smaller:
# numba's is slower).
SLOW_CALLS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "is_prime": ("primes", (200000000000000003,)),
    "count_primes": ("primes", (10**14, 10**14 + 2000)),
    "arcfour": ("arcfour", (b"slow key", b"some data", 600_000)),
    "sha256": ("sha256", (bytes(96 << 20),)),
    "mandelbrot": ("mandelbrot", (1000, 750, 1000)),
}


@needs_numba
@pytest.mark.parametrize("function", list(SLOW_CALLS))
def test_numba_releases_the_gil(function: str) -> None:
    kernel, args = SLOW_CALLS[function]
    assert best_freeze(getattr(peer(kernel), function), *args, releases=True) < 0.5


@needs_numba
@pytest.mark.parametrize("function", list(SLOW_CALLS))
def test_numba_gil_holds_the_gil(function: str) -> None:
    kernel, args = SLOW_CALLS[function]
    assert_freezes_only_with_a_gil(getattr(peer(kernel), f"{function}_gil"), *args)


# --- compilation happens when the impl is loaded, never in a timed call -------------------


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=240)


@needs_numba
def test_loading_the_impl_compiles_it() -> None:
    """In a fresh process: the catalog alone imports no numba module; `Impl.load()` compiles
    (COMPILE_S filled in); later calls, with bytes or a writable bytearray, compile nothing."""
    result = _run_python("""
        import sys
        from labsrc.kernels import get_kernel
        entry = get_kernel("arcfour")
        assert "labsrc.kernels.arcfour_numba" not in sys.modules
        assert "numba" not in sys.modules
        fn = entry.impl("numba").load()
        peer = sys.modules["labsrc.kernels.arcfour_numba"]
        compiled = dict(peer.COMPILE_S)
        assert compiled["arcfour"] > 0 and compiled["arcfour_gil"] > 0, compiled
        before = [len(d.signatures) for d in (peer._nogil, peer._held)]
        fn(b"key", b"data", 3); fn(bytearray(b"key"), bytearray(b"data"))
        entry.impl("numba_gil").load()(memoryview(b"key"), b"")
        assert peer.COMPILE_S == compiled
        assert [len(d.signatures) for d in (peer._nogil, peer._held)] == before == [1, 1]
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --- the peers bench: every figure printed and returned (the figures themselves unchecked) ---


@needs_numba
def test_peers_bench_reports_every_figure() -> None:
    out = io.StringIO()
    figures = run_peers_bench(out, repeats=1, kernels=("arcfour",), target_s=0.005)
    assert set(figures) == {
        "numba_import_s", "arcfour_numba_load_s", "arcfour_numba_compile_s",
        "arcfour_numba_vs_cy_nogil", "arcfour_numba_threads2_speedup",
        "arcfour_numba_gil_threads2_speedup", "arcfour_cy_nogil_threads2_speedup",
    }
    assert all(value > 0 for value in figures.values())
    text = out.getvalue()
    assert "numba / cy_nogil = " in text
    for impl, goal in (("numba", ">= 1.8x"), ("numba_gil", "<= 1.1x")):
        line = next(row for row in text.splitlines() if row.strip().startswith(f"{impl:<9} threads"))
        assert goal in line and (line.count("met") + line.count("MISSED")) == 1, line


# --- without numba: "unavailable", with the install hint ------------------------------------


def test_without_numba_the_impls_are_unavailable() -> None:
    """`sys.modules["numba"] = None` makes `import numba` fail, as if it were not installed
    (on a free-threaded build it is not, for real)."""
    result = _run_python(f"""
        import sys
        sys.modules["numba"] = None
        from labsrc.kernels import ImplUnavailable, get_kernel
        for kernel in {KERNELS!r}:
            entry = get_kernel(kernel)
            for name in ("numba", "numba_gil"):
                assert entry.impl(name).available() == (False, {UNAVAILABLE!r}), (kernel, name)
                try:
                    entry.impl(name).load()
                except ImplUnavailable as exc:
                    assert str(exc) == {UNAVAILABLE!r}
                else:
                    raise AssertionError("loaded without numba")
            assert entry.impl("py").available() == (True, "")  # the rest is unaffected
        try:
            import labsrc.kernels.primes_numba
        except ImplUnavailable as exc:
            assert str(exc) == {UNAVAILABLE!r}
        else:
            raise AssertionError("imported without numba")
        from labsrc.bench.peers import run_peers_bench
        assert run_peers_bench() == {{}}
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"numba peers: {UNAVAILABLE}", "ok"]
