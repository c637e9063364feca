"""Races: every kernel's twins called from many threads at once, every answer checked.

Without a GIL (a free-threaded build: CI runs this suite on 3.13t) nothing serialises the
threads, so shared state in a twin (a module-level cache, a buffer reused between calls)
would show as a wrong answer or a crash here. A barrier lines the threads up before each
round so that their calls really overlap; each thread takes another task each round;
every wait has a timeout, so a deadlock fails instead of hanging.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

import numpy as np

from labsrc.kernels.catalog import Impl, Kernel, kernels

THREADS = 8
TASKS = 8
WAIT_S = 60.0


def _same(got: Any, expected: Any) -> bool:
    """Equal answers: element by element for arrays and buffers (mandelbrot), else ==."""
    if isinstance(expected, (np.ndarray, memoryview, bytearray)) or hasattr(expected, "__array__"):
        return bool(np.array_equal(np.asarray(got), np.asarray(expected)))
    return bool(got == expected)


def _twins() -> list[tuple[Kernel, Impl]]:
    return [(k, i) for k in kernels() for i in k.impls]


@pytest.mark.parametrize(("kernel", "impl"), _twins(), ids=lambda v: getattr(v, "name", ""))
def test_many_threads_at_once_get_the_sequential_answers(kernel: Kernel, impl: Impl) -> None:
    ok, why = impl.available()
    if not ok:
        pytest.skip(f"{kernel.name}/{impl.name}: {why}")
    fn = impl.load()
    kwargs = {"num_threads": 2} if impl.inner_threads else {}  # OpenMP threads inside threads too
    work = kernel.make_workload(TASKS, kernel.quick_scale)
    expected = [fn(*args, **kwargs) for args in work]  # one thread, one call at a time
    for args, answer in zip(work, expected):
        kernel.verify(args, answer)  # and right, not merely repeatable
    rounds = 4 if impl.name == "py" else 25  # pure Python is ~50x slower per call
    barrier = threading.Barrier(THREADS, timeout=WAIT_S)
    problems: list[str] = []
    lock = threading.Lock()  # the test's own bookkeeping must not rely on a GIL either

    def worker(me: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait()
                index = (me + r) % TASKS
                got: Any = fn(*work[index], **kwargs)
                if not _same(got, expected[index]):
                    raise AssertionError(f"task {index} in round {r}: not the sequential answer")
        except Exception as exc:  # a wrong answer, a broken barrier, a crash in the twin
            with lock:
                problems.append(f"thread {me}: {type(exc).__name__}: {exc}")
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i,), name=f"race-{i}") for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S * rounds)
    assert not any(t.is_alive() for t in threads), "a thread is still running: deadlock or hang"
    real = [p for p in problems if "BrokenBarrierError" not in p] or problems
    assert not real, f"{kernel.name}/{impl.name} under {THREADS} threads: {real[:3]}"


def test_the_suite_leaves_a_free_threaded_build_free() -> None:
    """Every twin imported above declares itself free-threading safe: on a free-threaded
    build the GIL is still off (the session-wide check in .ci/run says the same at the end)."""
    import sysconfig

    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        pytest.skip("a GIL build: the GIL is on by design")
    for kernel, impl in _twins():
        if impl.available()[0]:
            impl.load()
    assert not sys._is_gil_enabled()
