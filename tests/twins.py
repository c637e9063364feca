"""Shared test helpers: import a kernel twin, skipping the Cython side only when allowed.

Locally an unbuilt cext skips its half of a suite with the build hint; in CI (CI=true or
GILLAB_REQUIRE_CEXT=1) a missing extension fails the test instead, so a broken build can
never pass as "all skipped".
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from array import array
from types import ModuleType
from typing import Any, Callable

import pytest

REQUIRE_CEXT = os.environ.get("GILLAB_REQUIRE_CEXT") == "1" or os.environ.get("CI") == "true"


def import_twin(module: str) -> ModuleType:
    """Import `labsrc.kernels.x` or `cext.x`; skip (or fail in CI) when cext is unbuilt."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if module.startswith("cext.") and not REQUIRE_CEXT:
            pytest.skip(f"{module} not built: {exc}")
        raise


def twin_params(kernel: str) -> list[str]:
    """The two twin module names for a kernel, for `pytest.fixture(params=...)`."""
    return [f"labsrc.kernels.{kernel}", f"cext.{kernel}"]


def main_thread_freeze(fn: Callable[..., Any], *args: Any) -> tuple[float, float]:
    """Run `fn(*args)` in a worker thread while the main thread keeps executing Python.

    Returns (freeze, window): `window` is how long the call took, `freeze` the longest
    stretch of that window during which the main thread could not run a single loop
    iteration, as a fraction of the window. A call that holds the GIL freezes the main
    thread for the whole window (freeze near 1: the switch interval only lets it in at
    the edges); a call that releases the GIL leaves it running (freeze near 0 even on a
    loaded machine, where the OS still hands out timeslices far shorter than a window).
    Give it a call that lasts at least ~0.1 s.
    """
    stamps = array("d")
    span: list[float] = []

    def work() -> None:
        span.append(time.perf_counter())
        fn(*args)
        span.append(time.perf_counter())

    worker = threading.Thread(target=work)
    clock = time.perf_counter
    worker.start()
    while worker.is_alive():
        stamps.append(clock())
    worker.join()
    stamps.append(clock())
    start, end = span
    window = end - start
    # Stamps bracketing the window: the last one before it starts through the first after.
    inside = [t for t in stamps if start < t < end]
    before = [t for t in stamps if t <= start][-1:] or [start]
    after = [t for t in stamps if t >= end][:1] or [end]
    points = before + inside + after
    longest = max(min(b, end) - max(a, start) for a, b in zip(points, points[1:]))
    return longest / window, window


def best_freeze(fn: Callable[..., Any], *args: Any, releases: bool, attempts: int = 3) -> float:
    """main_thread_freeze, best of a few tries, so a loaded machine cannot fail a test by chance.

    Retrying hides no bug: a call that holds the GIL freezes the main thread every time
    (it cannot run Python without the GIL), and one that releases it leaves the main
    thread free every time the OS gives it a core. `releases` says which way is "good".
    """
    freezes = []
    for _ in range(attempts):
        freeze, _window = main_thread_freeze(fn, *args)
        freezes.append(freeze)
        if (freeze < 0.5) if releases else (freeze > 0.8):
            break
    return min(freezes) if releases else max(freezes)
