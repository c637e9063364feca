"""Every kernel's twins export the same names and signatures, and the catalog agrees.

Runs over catalog.KERNEL_ORDER; a kernel whose pure-Python twin does not exist yet is
skipped (kernels land one at a time). The Cython side follows tests/twins.py: skipped
locally when unbuilt, a failure in CI. The numba peers obey the same rules as the Cython
twin (minus `_prange`), and are skipped only when numba is not installed.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import sysconfig
from types import ModuleType
from typing import Any, Callable

import pytest

from labsrc.kernels import catalog
from twins import NUMBA_SUFFIX, import_twin

GIL_SUFFIX = "_gil"
PRANGE_SUFFIX = "_prange"


@pytest.fixture(params=catalog.KERNEL_ORDER)
def kernel(request: pytest.FixtureRequest) -> str:
    return request.param


def _py_twin(kernel: str) -> ModuleType:
    name = f"labsrc.kernels.{kernel}"
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} does not exist yet")
    return importlib.import_module(name)


def _twins(kernel: str) -> tuple[ModuleType, ModuleType]:
    return _py_twin(kernel), import_twin(f"cext.{kernel}")


def _shape(fn: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """Parameter names, kinds and defaults: what a caller relies on (annotations aside)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def _functions(module: ModuleType) -> dict[str, Callable[..., Any]]:
    return {name: getattr(module, name) for name in module.__all__ if callable(getattr(module, name))}


def test_every_public_name_exists(kernel: str) -> None:
    py, cy = _twins(kernel)
    assert all(hasattr(py, name) for name in py.__all__)
    assert all(hasattr(cy, name) for name in cy.__all__)
    missing = set(py.__all__) - set(cy.__all__)
    assert not missing, f"cext.{kernel} lacks {sorted(missing)}"


def test_constants_agree(kernel: str) -> None:
    py, cy = _twins(kernel)
    for name in py.__all__:
        if not callable(getattr(py, name)):
            assert getattr(cy, name) == getattr(py, name), name


def test_signatures_agree(kernel: str) -> None:
    py, cy = _twins(kernel)
    for name, fn in _functions(py).items():
        assert _shape(getattr(cy, name)) == _shape(fn), name
        # The GIL-holding twin of every kernel function takes exactly the same arguments.
        gil_name = name + GIL_SUFFIX
        assert hasattr(cy, gil_name), f"cext.{kernel} lacks {gil_name}"
        assert _shape(getattr(cy, gil_name)) == _shape(fn), gil_name


def test_extra_cython_functions_are_variants(kernel: str) -> None:
    """The Cython twin adds only `<name>_gil` and `<name>_prange(..., num_threads=None)`."""
    py, cy = _twins(kernel)
    base = _functions(py)
    for name, fn in _functions(cy).items():
        if name in base:
            continue
        if name.endswith(GIL_SUFFIX):
            assert name.removesuffix(GIL_SUFFIX) in base, name
        elif name.endswith(PRANGE_SUFFIX):
            stem = name.removesuffix(PRANGE_SUFFIX)
            assert stem in base, name
            *same, threads = _shape(fn)
            assert same == _shape(base[stem]), name
            assert threads == ("num_threads", inspect.Parameter.POSITIONAL_OR_KEYWORD, None)
        else:
            pytest.fail(f"cext.{kernel}.{name} is neither a twin nor a _gil/_prange variant")


def test_public_functions_are_documented(kernel: str) -> None:
    py, cy = _twins(kernel)
    for module in (py, cy):
        for name, fn in _functions(module).items():
            assert (fn.__doc__ or "").strip(), f"{module.__name__}.{name} has no docstring"


def test_numba_peer_mirrors_the_pure_twin(kernel: str) -> None:
    """Same public names, constants and signatures; extras are only `<name>_gil` variants;
    everything documented; every public function's compile time recorded at import."""
    py = _py_twin(kernel)
    nb = import_twin(f"labsrc.kernels.{kernel}{NUMBA_SUFFIX}")
    assert all(hasattr(nb, name) for name in nb.__all__)
    missing = set(py.__all__) - set(nb.__all__)
    assert not missing, f"{nb.__name__} lacks {sorted(missing)}"
    for name in py.__all__:
        if not callable(getattr(py, name)):
            assert getattr(nb, name) == getattr(py, name), name
    base = _functions(py)
    for name, fn in base.items():
        assert _shape(getattr(nb, name)) == _shape(fn), name
        assert _shape(getattr(nb, name + GIL_SUFFIX)) == _shape(fn), name + GIL_SUFFIX
    for name, fn in _functions(nb).items():
        assert name in base or name.removesuffix(GIL_SUFFIX) in base, name
        assert (fn.__doc__ or "").strip(), f"{nb.__name__}.{name} has no docstring"
        assert nb.COMPILE_S[name] > 0, name  # compiled at import, and timed


def _entry(kernel: str) -> catalog.Kernel:
    _py_twin(kernel)
    try:
        return catalog.get_kernel(kernel)
    except KeyError:
        pytest.skip(f"kernel {kernel!r} has no catalog entry yet")


def test_catalog_names_the_twins(kernel: str) -> None:
    entry = _entry(kernel)
    names = entry.impl_names
    assert {"py", "cy_gil", "cy_nogil"} <= set(names)
    py, gil, nogil = entry.impl("py"), entry.impl("cy_gil"), entry.impl("cy_nogil")
    assert py.module == f"labsrc.kernels.{kernel}" and not py.releases_gil
    assert gil.module == nogil.module == f"cext.{kernel}"
    assert gil.function == nogil.function + GIL_SUFFIX and not gil.releases_gil
    assert nogil.releases_gil and nogil.function == py.function
    if "cy_prange" in names:
        prange = entry.impl("cy_prange")
        assert prange.function.endswith(PRANGE_SUFFIX) and prange.inner_threads
        assert prange.needs_openmp and prange.releases_gil


def test_catalog_names_the_numba_peers(kernel: str) -> None:
    entry = _entry(kernel)
    py = entry.impl("py")
    nogil, gil = entry.impl("numba"), entry.impl("numba_gil")
    assert nogil.module == gil.module == f"{py.module}{NUMBA_SUFFIX}"
    assert nogil.function == py.function and nogil.releases_gil
    assert gil.function == py.function + GIL_SUFFIX and not gil.releases_gil
    assert not (nogil.inner_threads or gil.inner_threads or nogil.needs_openmp)


def _numba_missing() -> bool:
    return "numba" not in sys.modules and importlib.util.find_spec("numba") is None


def test_catalog_impls_load(kernel: str) -> None:
    entry = _entry(kernel)
    import_twin(f"cext.{kernel}")  # skips (or fails in CI) when unbuilt
    for impl in entry.impls:
        ok, reason = impl.available()
        if impl.needs_openmp and not ok:
            continue  # a serial build says so instead of pretending
        if impl.module.endswith(NUMBA_SUFFIX) and _numba_missing():
            # the install hint; on a free-threaded build, why that extra cannot help there
            if sysconfig.get_config_var("Py_GIL_DISABLED"):
                assert reason.startswith("unavailable: numba has no free-threaded build"), reason
            else:
                assert reason == "unavailable: pip install 'gil-lab[peers]'"
            continue
        assert ok, f"{kernel}/{impl.name}: {reason}"
        assert callable(impl.load())


def test_catalog_quick_workload_verifies_with_every_twin(kernel: str) -> None:
    """One quick task through each impl and the verifier: the catalog round trip."""
    entry = _entry(kernel)
    import_twin(f"cext.{kernel}")
    assert entry.make_workload(2, entry.quick_scale) == entry.make_workload(2, entry.quick_scale)
    (args,) = entry.make_workload(1, entry.quick_scale)
    for impl in entry.impls:
        ok, _ = impl.available()
        if ok:
            fn = impl.load()
            result = fn(*args, num_threads=2) if impl.inner_threads else fn(*args)
            entry.verify(args, result)
