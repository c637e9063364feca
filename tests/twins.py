"""Shared test helpers: import a kernel twin, skipping the Cython side only when allowed.

Locally an unbuilt cext skips its half of a suite with the build hint; in CI (CI=true or
GILLAB_REQUIRE_CEXT=1) a missing extension fails the test instead, so a broken build can
never pass as "all skipped". The numba peers (`labsrc.kernels.<kernel>_numba`) run the
same suites and skip only when numba itself cannot be imported (the `peers` extra, which
the `test` extra and so CI install on a GIL build; numba has no free-threaded build yet).

The GIL assertions are build-aware (`assert_freezes_only_with_a_gil`): a `_gil` twin freezes
the other threads only where there is a GIL to hold. On a free-threaded build running
without one (3.13t; not PYTHON_GIL=1) its `with gil` excludes no other thread, so it must
leave the main thread running, exactly like the twin that releases.
"""

from __future__ import annotations

import importlib
import os
import sysconfig
from types import ModuleType
from typing import Any, Callable

import pytest

from labsrc.tools.gilcheck import gil_disabled, main_thread_freeze

REQUIRE_CEXT = os.environ.get("GILLAB_REQUIRE_CEXT") == "1" or os.environ.get("CI") == "true"

NUMBA_SUFFIX = "_numba"  # labsrc.kernels.<kernel>_numba: the numba peer of a kernel
NUMBA_MISSING = ("numba has no free-threaded build yet (its peers need a GIL build)"
                 if sysconfig.get_config_var("Py_GIL_DISABLED")
                 else "numba is not installed (pip install -e '.[peers]')")


def import_twin(module: str) -> ModuleType:
    """Import `labsrc.kernels.x`, `cext.x` or a numba peer; skip (or fail in CI) when cext is
    unbuilt, skip a numba peer when numba is not installed."""
    if module.endswith(NUMBA_SUFFIX):
        pytest.importorskip("numba", reason=NUMBA_MISSING)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if module.startswith("cext.") and not REQUIRE_CEXT:
            pytest.skip(f"{module} not built: {exc}")
        raise


def twin_params(kernel: str) -> list[str]:
    """The twin module names for a kernel, for `pytest.fixture(params=...)`: the pure-Python
    twin, the Cython one, and the numba peer (same functions, same names, same contract)."""
    return [f"labsrc.kernels.{kernel}", f"cext.{kernel}", f"labsrc.kernels.{kernel}{NUMBA_SUFFIX}"]


def best_freeze(fn: Callable[..., Any], *args: Any, releases: bool, attempts: int = 3) -> float:
    """labsrc.tools.gilcheck.main_thread_freeze, best of a few tries, so a loaded machine cannot
    fail a test by chance.

    Retrying hides no bug: a call that holds the GIL freezes the main thread every time
    (it cannot run Python without the GIL), and one that releases it leaves the main
    thread free every time the OS gives it a core. `releases` says which way is "good".
    The suites size their calls at ~0.3 s or more on an idle 2-core machine, so a stall
    of the main thread behind other processes (tens of ms on a loaded one) stays a small
    share of the window instead of passing for a held GIL.
    """
    freezes = []
    for _ in range(attempts):
        freeze, _window = main_thread_freeze(fn, *args)
        freezes.append(freeze)
        if (freeze < 0.5) if releases else (freeze > 0.8):
            break
    return min(freezes) if releases else max(freezes)


def assert_freezes_only_with_a_gil(fn: Callable[..., Any], *args: Any) -> None:
    """A `_gil` twin (or numba_gil peer), on this build: with a GIL, the call holds it
    throughout and the main thread freezes (> 0.8); without one (a free-threaded build, GIL
    disabled at run time) nothing is held, and the main thread keeps running (< 0.5), as
    beside the releasing twin. Each way is asserted with the same margins as elsewhere."""
    if gil_disabled():
        freeze = best_freeze(fn, *args, releases=True)
        assert freeze < 0.5, (f"no GIL in this process, yet {fn.__name__} froze the main thread "
                              f"for {freeze:.0%} of the call")
    else:
        freeze = best_freeze(fn, *args, releases=False)
        assert freeze > 0.8, f"{fn.__name__} let the main thread run: froze it only {freeze:.0%} of the call"
