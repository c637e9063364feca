"""Executors: every executor returns the same verified results, with sane spans."""

from __future__ import annotations

import os
import sys

import pytest

from labsrc.executors.registry import (
    EXECUTORS,
    Executor,
    ExecutorUnavailable,
    RunOutput,
    Work,
    WorkerCrashed,
    executor_available,
    make_executor,
)
from labsrc.kernels import get_kernel, kernels
from labsrc.kernels.catalog import TaskArgs
from labsrc.core.names import Payload
from labsrc.core.worker import TaskRef, digest

RUNNABLE = [e for e in EXECUTORS if executor_available(e)[0]]
# A Dask executor starts a cluster (~2-3 s) per opening: tests/test_dask_executors.py checks
# the same answers with one cluster for several kernels, so the per-kernel loop skips them.
POOLED = [e for e in RUNNABLE if not e.startswith("dask_")]


def run_tasks(name: str, workers: int, ref: TaskRef, tasks: list[TaskArgs], scale: int = 1,
              payload: Payload = Payload.DATA) -> tuple[RunOutput, float]:
    """Open an executor, run the tasks once, close it: (output, start-up seconds)."""
    with make_executor(name, workers, payload) as ex:
        ex.open(ref)
        return ex.run(ref, Work(tasks, scale)), ex.startup_s


def _cases() -> list[tuple[str, str, int]]:
    """(kernel, impl, scale): the noop kernel plus each real kernel's cheapest built impl."""
    cases = [("noop", "spin", 2), ("noop", "hash_nogil", 1)]
    for kernel in kernels():
        built = [i.name for i in kernel.impls if i.available()[0] and not i.inner_threads]
        for name in ("cy_nogil", "py"):
            if name in built:
                cases.append((kernel.name, name, kernel.quick_scale))
                break
    return cases


@pytest.mark.parametrize("kernel_name,impl,scale", _cases())
def test_every_executor_returns_the_same_verified_results(kernel_name: str, impl: str, scale: int) -> None:
    kernel = get_kernel(kernel_name)
    tasks = kernel.make_workload(4, scale)
    ref = TaskRef(kernel_name, impl)
    expected, _ = run_tasks("seq", 1, ref, tasks, scale)
    for args, result in zip(tasks, expected.results):
        kernel.verify(args, result)
    for name in POOLED:  # interp included: cext is built to load in own-GIL sub-interpreters
        out, startup = run_tasks(name, 2, ref, tasks, scale)
        assert len(out.results) == len(tasks), name
        for args, got, want in zip(tasks, out.results, expected.results):
            kernel.verify(args, got)
            assert repr(got) == repr(want), name
        assert len(out.spans) == len(tasks)
        assert all(s.start <= s.end for s in out.spans)
        assert startup >= 0.0
    # The recipe payload: the worker builds the same inputs and sends the same answers (or
    # their digests) back.
    recipe, _ = run_tasks("procs", 2, ref, tasks, scale, Payload.RECIPE)
    assert [repr(r) for r in recipe.results] == [repr(digest(r)) for r in expected.results]


def test_spans_name_threads_or_processes() -> None:
    tasks = [(i, 1) for i in range(6)]
    out, _ = run_tasks("procs", 2, TaskRef("noop", "spin"), tasks)
    assert all(s.worker != os.getpid() for s in out.spans)
    assert out.worker_cpu_s >= 0.0
    seq, _ = run_tasks("seq", 1, TaskRef("noop", "spin"), tasks)
    assert len({s.worker for s in seq.spans}) == 1


def test_spans_share_one_clock_across_processes() -> None:
    from labsrc.executors.registry import clock

    before = clock()
    out, _ = run_tasks("procs", 2, TaskRef("noop", "noop"), [(i, 1) for i in range(4)])
    after = clock()
    assert all(before <= s.start <= s.end <= after for s in out.spans)


def test_crashed_worker_fails_instead_of_hanging() -> None:
    with pytest.raises(WorkerCrashed):
        run_tasks("procs", 2, TaskRef("faults", "crash"), [(i, 1) for i in range(4)])


@pytest.mark.parametrize("name", ["threads", "asyncio", "procs", "threading", "mp_pool"])
def test_a_task_that_never_finishes_fails_its_run_in_bounded_time(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every wait has a timeout: a stuck task (here 0.5 s against a 0.05 s budget) becomes a
    # WorkerCrashed for its cell, never a frozen lab.
    import labsrc.executors.base as base

    ex = make_executor(name, 1)
    ex.open(TaskRef("faults", "slow"))  # start-up first, under the real timeout (processes start slowly)
    monkeypatch.setattr(base, "TASK_TIMEOUT_S", 0.05)
    from labsrc.executors.registry import clock

    started = clock()
    with pytest.raises(WorkerCrashed, match="did not finish within 0.05 s"):
        ex.run(TaskRef("faults", "slow"), Work([(0, 5)], 5))
    assert clock() - started < 0.45  # it gave up before the task's 0.5 s were over
    ex.abort()


def test_a_digest_by_crc32_is_checked_whatever_checksum_this_process_prefers() -> None:
    # A worker where xxhash cannot load (a 3.13t sub-interpreter) sends CRC-32 digests.
    from labsrc.executors.base import RemoteResult, remote_output
    from labsrc.harness.timing import Checker

    kernel = get_kernel("mandelbrot")
    tasks = kernel.make_workload(2, kernel.quick_scale)
    work = Work(tasks, kernel.quick_scale)
    answers = [kernel.impl("py").load()(*args) for args in tasks]
    checker = Checker(kernel, kernel.impl("py"), work)
    crc = [digest(a, "crc32") for a in answers]
    checker.check(remote_output([RemoteResult(d, 0.0, 1.0, 1, 0.0) for d in crc]))
    wrong = crc[0]._replace(checksum=crc[0].checksum ^ 1)
    with pytest.raises(Exception, match="digest"):
        checker.check(remote_output([RemoteResult(d, 0.0, 1.0, 1, 0.0) for d in (wrong, crc[1])]))
    alien = crc[0]._replace(algorithm="md5")
    with pytest.raises(Exception, match="install the same gil-lab"):
        checker.check(remote_output([RemoteResult(d, 0.0, 1.0, 1, 0.0) for d in (alien, crc[1])]))


def test_interp_runs_from_313_where_the_backport_is_installed() -> None:
    ok, reason = executor_available("interp")
    if sys.version_info < (3, 13):  # the backport needs 3.13's _interpreters module
        assert not ok and "3.13" in reason
        with pytest.raises(ExecutorUnavailable, match="3.13"):
            make_executor("interp", 1)
    else:  # the test extra installs the backport on 3.13 (tests/test_interp_executor.py)
        assert ok, reason


def test_every_executor_class_is_an_executor_with_its_name() -> None:
    for name in RUNNABLE:
        ex = make_executor(name, 1)
        assert isinstance(ex, Executor) and ex.name == name
        assert (ex.payload is None) == ex.in_process  # only work that leaves the process ships
        ex.close()  # closing a pool that never started is harmless


def test_bad_names_and_worker_counts() -> None:
    with pytest.raises(KeyError, match="seq, threads"):
        make_executor("fibers", 1)
    with pytest.raises(ValueError):
        make_executor("threads", 0)
