"""The book's alternatives (threading, mp_pool): the same verified answers as seq, the same
failures as the pools (a raising task, a dying worker), and the one executors registry."""

from __future__ import annotations

import os
import threading
import time

import pytest

from labsrc.executors.registry import (
    EXECUTORS,
    _TYPES,
    RunOutput,
    Work,
    WorkerCrashed,
    make_executor,
    runs_in_process,
)
from labsrc.kernels import get_kernel, kernels
from labsrc.kernels.catalog import TaskArgs
from labsrc.harness.matrix import Options, plan, run_matrix
from labsrc.core.names import ExecutorName, Payload, Status
from labsrc.core.worker import TaskRef, digest

CLASSIC = (ExecutorName.THREADING, ExecutorName.MP_POOL)


def run_once(name: str, workers: int, ref: TaskRef, tasks: list[TaskArgs], scale: int,
             payload: Payload = Payload.RECIPE) -> RunOutput:
    with make_executor(name, workers, payload) as ex:
        ex.open(ref)
        return ex.run(ref, Work(tasks, scale))


def _cases() -> list[tuple[str, str, int]]:
    """(kernel, impl, scale): each real kernel's cheapest built implementation, small answers
    (primes) and large ones (arcfour, mandelbrot: digested under the recipe payload)."""
    cases = [("noop", "spin", 2)]
    for kernel in kernels():
        built = [i.name for i in kernel.impls if i.available()[0] and not i.inner_threads]
        name = next((n for n in ("cy_nogil", "py") if n in built), None)
        if name:
            cases.append((kernel.name, name, kernel.quick_scale))
    return cases


@pytest.mark.parametrize("kernel_name,impl,scale", _cases())
def test_same_verified_answers_as_seq_under_both_payloads(kernel_name: str, impl: str, scale: int) -> None:
    kernel = get_kernel(kernel_name)
    tasks = kernel.make_workload(5, scale)
    ref = TaskRef(kernel_name, impl)
    expected = run_once("seq", 1, ref, tasks, scale).results
    threaded = run_once("threading", 2, ref, tasks, scale)
    assert [repr(a) for a in threaded.results] == [repr(a) for a in expected]
    for args, answer in zip(tasks, threaded.results):
        kernel.verify(args, answer)
    data = run_once("mp_pool", 2, ref, tasks, scale, Payload.DATA)
    assert [repr(a) for a in data.results] == [repr(a) for a in expected]
    recipe = run_once("mp_pool", 2, ref, tasks, scale, Payload.RECIPE)
    assert recipe.results == [digest(a) for a in expected]  # answers or their digests, in task order
    assert all(s.start <= s.end for s in threaded.spans + recipe.spans)
    assert recipe.worker_cpu_s > 0.0 and threaded.worker_cpu_s == 0.0


def test_spans_name_the_threads_and_the_worker_processes() -> None:
    tasks = [(i, 2) for i in range(6)]
    ref = TaskRef("faults", "slow")  # 0.2 s each: both workers get some
    threaded = run_once("threading", 2, ref, tasks, 2)
    main = threading.get_native_id()
    assert len({s.worker for s in threaded.spans}) == 2 and main not in {s.worker for s in threaded.spans}
    pooled = run_once("mp_pool", 2, ref, tasks, 2)
    pids = {s.worker for s in pooled.spans}
    assert len(pids) == 2 and os.getpid() not in pids  # start-up waited for both workers


def test_threading_workers_leave_when_closed() -> None:
    before = {t.name for t in threading.enumerate()}
    out = run_once("threading", 3, TaskRef("noop", "noop"), [(i, 1) for i in range(10)], 1)
    assert out.results == list(range(10))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(t.name.startswith("lab-threading") for t in threading.enumerate()):
        time.sleep(0.01)
    assert {t.name for t in threading.enumerate()} <= before


@pytest.mark.parametrize("name", CLASSIC)
def test_a_raising_task_raises_from_run(name: str) -> None:
    with pytest.raises(ValueError, match="raised on purpose"):
        run_once(name, 2, TaskRef("faults", "raises"), [(i, 1) for i in range(4)], 1)


def test_a_dying_mp_pool_worker_fails_instead_of_hanging() -> None:
    # multiprocessing.Pool replaces a dead worker and never delivers its task's result;
    # the executor must notice rather than wait forever.
    t0 = time.monotonic()
    with pytest.raises(WorkerCrashed, match="mp_pool worker process died"):
        run_once("mp_pool", 2, TaskRef("faults", "crash"), [(i, 1) for i in range(4)], 1)
    assert time.monotonic() - t0 < 60


def test_matrix_cells_of_the_classic_executors() -> None:
    noop = get_kernel("noop")
    cells = run_matrix(plan([noop], ["spin"], list(CLASSIC), [2], tuple(Payload)),
                       Options(repeats=2, tasks=4, scale=2)).cells
    assert [(c.executor, c.payload, c.status) for c in cells] == [
        ("seq", None, Status.OK), ("threading", None, Status.OK),
        ("mp_pool", Payload.RECIPE, Status.OK), ("mp_pool", Payload.DATA, Status.OK)]
    assert all(c.verified and len(c.walls) == 2 for c in cells)
    assert cells[2].startup_s > 0 and cells[2].ipc_bytes is not None


def test_one_registry_names_every_executor() -> None:
    assert set(_TYPES) == set(EXECUTORS) == {e.value for e in ExecutorName}
    assert all(kind.name == name for name, kind in _TYPES.items())
    in_process = {name for name in EXECUTORS if runs_in_process(name)}
    assert in_process == {"seq", "threads", "asyncio", "threading"}
