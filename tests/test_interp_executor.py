"""The `interp` executor (own-GIL sub-interpreters through InterpreterPoolExecutor), its
unavailable rows, the lesson "Sub-interpreters" and the bench goal.

On 3.13 (GIL and free-threaded builds) the test extra installs the interpreters-pep-734
backport, so the tests that need a sub-interpreter run there and never skip; they skip
only where the backport cannot work at all (Python < 3.13: no _interpreters module).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import pickle
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from labsrc.bench.targets import GOALS, evaluate, format_verdicts
from labsrc.core.names import ExecutorName, Payload, Status
from labsrc.core.results import Cell
from labsrc.core.worker import CHECKSUM_NAME, ResultDigest, TaskRef, digest
from labsrc.executors import interp as interp_module
from labsrc.executors.interp import INSTALL_HINT, interp_reason, short_reason
from labsrc.executors.interp_worker import answer, serve
from labsrc.executors.registry import ExecutorUnavailable, Work, executor_available, make_executor
from labsrc.harness.timing import Options, measure_cell
from labsrc.kernels import get_kernel, kernels
from labsrc.report.lessons import lessons
from labsrc.report.lessons.common import Run
from labsrc.report.lessons.subinterp import sub_interpreters
from made_cells import make_cell

needs_interp = pytest.mark.skipif(sys.version_info < (3, 13),
                                  reason="the PEP 734 backport needs Python 3.13's _interpreters")
FAST = Options(repeats=2, tasks=4, scale=1)


def run_interp(kernel: str, impl: str, tasks: list, scale: int, workers: int = 2,  # type: ignore[no-untyped-def]
               payload: Payload = Payload.RECIPE):
    with make_executor("interp", workers, payload) as ex:
        ex.open(TaskRef(kernel, impl))
        return ex.run(TaskRef(kernel, impl), Work(tasks, scale)), ex


def _digest_like(got: object, answer: object) -> object:
    """digest(answer) by the checksum `got` names: a 3.13t sub-interpreter cannot load
    xxhash and sends CRC-32 (the parent's checker computes either)."""
    return digest(answer, got.algorithm if isinstance(got, ResultDigest) else CHECKSUM_NAME)


def test_interp_is_available_from_313_and_says_why_not_before() -> None:
    ok, reason = executor_available("interp")
    if sys.version_info >= (3, 13):
        assert ok, f"the test extra installs the backport on 3.13: {reason}"
    else:
        assert not ok and "needs Python 3.13" in reason and sys.version.split()[0] in reason


def test_a_missing_backport_reads_as_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # As on 3.13 without the extra: no stdlib pool, and the backport's import fails.
    monkeypatch.delattr(cf, "InterpreterPoolExecutor", raising=False)
    monkeypatch.setattr(interp_module, "sys", types.SimpleNamespace(version_info=(3, 13, 5), version="3.13.5"))
    for name in ("interpreters_backport", "interpreters_backport.concurrent",
                 "interpreters_backport.concurrent.futures"):  # their import: ModuleNotFoundError
        monkeypatch.setitem(sys.modules, name, None)
    assert interp_reason() == INSTALL_HINT == "unavailable: pip install 'gil-lab[interp]'"
    assert executor_available("interp") == (False, INSTALL_HINT)
    noop = get_kernel("noop")
    cell = measure_cell(noop, noop.impl("spin"), "interp", 2, Work(noop.make_workload(2, 1), 1), FAST)
    assert cell.status == Status.UNAVAILABLE and cell.reason == INSTALL_HINT


@needs_interp
@pytest.mark.parametrize("kernel_name", [k.name for k in kernels()])
def test_py_gives_the_same_verified_answers_as_seq(kernel_name: str) -> None:
    kernel = get_kernel(kernel_name)
    tasks = kernel.make_workload(4, kernel.quick_scale)
    out, ex = run_interp(kernel_name, "py", tasks, kernel.quick_scale, payload=Payload.DATA)
    assert ex.payload == Payload.DATA
    seq = kernel.impl("py").load()
    for args, got in zip(tasks, out.results):
        kernel.verify(args, got)
        assert repr(got) == repr(seq(*args))  # mandelbrot's flat array('i') comes back as the ndarray
    assert len(out.spans) == 4 and all(s.start <= s.end for s in out.spans)
    assert out.worker_cpu_s == 0.0  # worker threads are already in this process's CPU count
    assert ex.startup_s > 0.0


@needs_interp
@pytest.mark.parametrize("kernel_name", [k.name for k in kernels()])
def test_the_recipe_payload_builds_tasks_there_and_sends_digests_of_large_answers(kernel_name: str) -> None:
    # The entries import numpy only to verify, so a sub-interpreter builds its tasks; a
    # large answer comes back as the digest the parent would take of its own answer
    # (mandelbrot's array('i') there becomes the ndarray's digest: the same bytes).
    kernel = get_kernel(kernel_name)
    tasks = kernel.make_workload(4, kernel.quick_scale)
    out, ex = run_interp(kernel_name, "py", tasks, kernel.quick_scale)
    assert ex.payload == Payload.RECIPE
    seq = kernel.impl("py").load()
    for args, got in zip(tasks, out.results):
        assert got == _digest_like(got, seq(*args))
    if kernel_name in ("arcfour", "mandelbrot"):  # answers of many KiB: digests, not data
        assert all(isinstance(got, ResultDigest) for got in out.results)


@needs_interp
def test_start_up_waits_for_every_interpreter_and_tasks_spread() -> None:
    out, ex = run_interp("faults", "slow", [(i, 1) for i in range(4)], 1)  # 0.1 s each
    assert len({s.worker for s in out.spans}) == 2  # two worker threads, one interpreter each
    assert ex.startup_s < interp_module.STARTUP_TIMEOUT_S


@needs_interp
def test_c_twins_run_in_sub_interpreters() -> None:
    # cext is built with subinterpreters_compatible=own_gil and module state (setup.py).
    for kernel_name, impl in (("primes", "cy_gil"), ("primes", "cy_nogil"), ("mandelbrot", "cy_nogil")):
        kernel = get_kernel(kernel_name)
        if not kernel.impl(impl).available()[0]:
            continue  # not built for this interpreter
        tasks = kernel.make_workload(2, kernel.quick_scale)
        out, _ = run_interp(kernel_name, impl, tasks, kernel.quick_scale, payload=Payload.DATA)
        assert len(out.results) == len(tasks)
        for args, result in zip(tasks, out.results):
            kernel.verify(args, result)
        out, _ = run_interp(kernel_name, impl, tasks, kernel.quick_scale)  # recipe: built there
        here = kernel.impl(impl).load()
        assert out.results == [_digest_like(got, here(*args)) for got, args in zip(out.results, tasks)]


@needs_interp
def test_numpy_peers_are_unavailable_with_the_import_error() -> None:
    for kernel_name, impl in (("mandelbrot", "numpy"),):
        kernel = get_kernel(kernel_name)
        if not kernel.impl(impl).available()[0]:
            continue  # not built for this interpreter: its rows say "skipped" before interp
        with pytest.raises(ExecutorUnavailable,
                           match=f"{impl} cannot load in a sub-interpreter: module .* does not support "
                                 "loading in subinterpreters"):
            run_interp(kernel_name, impl, kernel.make_workload(2, kernel.quick_scale), kernel.quick_scale)
        cell = measure_cell(kernel, kernel.impl(impl), "interp", 2,
                            Work(kernel.make_workload(2, kernel.quick_scale), kernel.quick_scale), FAST)
        assert cell.status == Status.UNAVAILABLE and "does not support loading in subinterpreters" in cell.reason
        assert "IMPORTANT" not in cell.reason  # numpy's advice page is cut to its one cause


@needs_interp
def test_a_raising_task_raises_from_run_and_fails_its_cell() -> None:
    with pytest.raises(ValueError, match="raised on purpose"):
        run_interp("faults", "raises", [(i, 1) for i in range(4)], 1)
    faults = get_kernel("faults")
    cell = measure_cell(faults, faults.impl("raises"), "interp", 2, Work(faults.make_workload(4, 1), 1), FAST)
    assert cell.status == Status.FAILED and "ValueError" in cell.reason


def test_the_worker_entry_never_raises() -> None:
    # A reply for anything, even a mailbox or a request that cannot be unpickled: an
    # exception escaping there would leave the backport's worker waiting forever.
    for entry in (serve, answer):
        status, pickled, type_name, message, cannot_load = pickle.loads(entry(b"not a pickle"))
        assert status == "raised" and type_name == "UnpicklingError" and not cannot_load
    request = pickle.dumps((0, "data", "cext.not_a_module", "f", {}, ()))
    status, _, type_name, _, cannot_load = pickle.loads(answer(request))
    assert status == "raised" and cannot_load


@needs_interp
def test_the_worker_takes_its_request_from_the_mailbox_and_names_its_index() -> None:
    from interpreters_backport.interpreters.queues import create

    requests = create()
    requests.put_nowait(pickle.dumps((7, "data", "labsrc.kernels.primes", "count_primes", {}, (10, 20))))
    status, index, done = pickle.loads(serve(pickle.dumps(requests)))
    assert (status, index, done.answer) == ("ok", 7, 4)  # 11, 13, 17, 19
    status, _, type_name, _, _ = pickle.loads(serve(pickle.dumps(requests)))  # nothing left
    assert status == "raised" and type_name == "QueueEmpty"


@needs_interp
def test_the_worker_module_loads_in_an_own_gil_sub_interpreter() -> None:
    import _interpreters  # type: ignore[import-not-found]

    iid = _interpreters.create()  # the default config: its own GIL, isolated extensions
    try:
        failed = _interpreters.exec(iid, "import labsrc.executors.interp_worker")
    finally:
        _interpreters.destroy(iid)
    assert failed is None, failed


def test_short_reason_keeps_numpys_cause() -> None:
    advice = ("\n\nIMPORTANT: PLEASE READ THIS FOR ADVICE\n...\nOriginal error was: module "
              "numpy._core._multiarray_umath does not support loading in subinterpreters\n")
    assert short_reason(advice) == ("module numpy._core._multiarray_umath does not support loading in "
                                    "subinterpreters")
    assert short_reason("x" * 500).endswith("...") and len(short_reason("x" * 500)) == 200


@needs_interp
def test_ctrl_c_stops_the_interpreter_pool(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labsrc", "cpu", "--kernel", "faults", "--impl", "slow", "--executor", "interp",
         "--workers", "2", "--tasks", "2", "--scale", "1", "--repeat", "20", "--quiet", "--json", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)  # seq and interp rounds of 0.1 s tasks are under way by now
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        pytest.fail("the lab did not stop within 60 s of Ctrl-C")
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    doc = json.loads(out.read_text())
    assert {r["executor"] for r in doc["results"]} <= {"seq", "interp"}


def _interp_run(py_interp: float = 1.9, startup: float = 0.08) -> list[Cell]:
    refused = "cannot load in a sub-interpreter: module cext.primes does not support loading in subinterpreters"
    return [
        make_cell("py", "seq", 1),
        make_cell("py", "threads", 2, speedup=1.0),
        make_cell("py", "procs", 2, speedup=1.85, startup_s=0.4),
        make_cell("py", "interp", 2, speedup=py_interp, payload=Payload.RECIPE, startup_s=startup, ipc_bytes=120),
        make_cell("py", "interp", 2, speedup=0.5, payload=Payload.DATA, ipc_bytes=120),  # not the goal's
        Cell("primes", "cy_gil", "interp", 2, payload=Payload.DATA, status=Status.UNAVAILABLE,
             reason=f"cy_gil {refused}"),
        Cell("primes", "numpy", "interp", 2, payload=Payload.DATA, status=Status.UNAVAILABLE,
             reason="numpy cannot load in a sub-interpreter: module numpy._core._multiarray_umath does not "
                    "support loading in subinterpreters"),
    ]


def test_lesson_quotes_speed_start_up_shipping_and_who_could_load() -> None:
    found = sub_interpreters(Run(tuple(_interp_run()), (), {"gil_enabled": True}))
    assert found is not None and found.title == "Sub-interpreters"
    assert found.text.startswith("Each sub-interpreter has its own GIL (PEP 684): pure Python in 2 "
                                 "sub-interpreters ran at 1.90x (primes), processes at 1.85x, threads at 1.00x")
    assert "the pool started in 0.08 s against 0.40 s for processes" in found.text
    assert "pickled, as between processes: 0.1 kB a task" in found.text
    assert "Could load there: py" in found.text
    assert "cy_gil (module cext.* does not support loading in subinterpreters)" in found.text
    assert "numpy (module numpy._core._multiarray_umath" in found.text
    (row,) = found.rows
    assert row == ("primes", "2", "1.90x", "1.85x", "1.00x", "0.08 s", "0.40 s", "0.1 kB")
    assert found in lessons(_interp_run(), env={"gil_enabled": True})


def test_lesson_says_c_holding_the_gil_runs_in_parallel_there() -> None:
    cells = [c for c in _interp_run() if c.impl != "cy_gil"] + [
        make_cell("cy_gil", "seq", 1),
        make_cell("cy_gil", "threads", 2, speedup=0.98),
        make_cell("cy_gil", "interp", 2, speedup=1.93, payload=Payload.DATA, ipc_bytes=120),
    ]
    found = sub_interpreters(Run(tuple(cells), (), {"gil_enabled": True}))
    assert found is not None
    assert ("C that never releases the GIL (cy_gil) ran at 1.93x in 2 sub-interpreters (primes), where its "
            "threads took turns at 0.98x: the GIL it holds is its own interpreter's") in found.text
    assert "Could load there: py and cy_gil." in found.text
    cells[-1] = make_cell("cy_gil", "interp", 2, speedup=0.97, payload=Payload.RECIPE, ipc_bytes=120)
    slow = sub_interpreters(Run(tuple(cells), (), {"gil_enabled": True}))
    assert slow is not None and "(cy_gil) ran at 0.97x" in slow.text and "its own interpreter's" not in slow.text
    without = sub_interpreters(Run(tuple(_interp_run()), (), {"gil_enabled": True}))
    assert without is not None and "C that never releases" not in without.text


def test_lesson_claims_no_own_gil_below_the_threshold_and_hides_without_interp_rows() -> None:
    found = sub_interpreters(Run(tuple(_interp_run(py_interp=1.1)), (), {}))
    assert found is not None and found.text.startswith("Pure Python in 2 sub-interpreters ran at 1.10x")
    assert "own GIL" not in found.text.split(".")[0]
    no_interp = [c for c in _interp_run() if c.executor != ExecutorName.INTERP]
    assert sub_interpreters(Run(tuple(no_interp), (), {})) is None
    # Only executor-level refusals (no backport): the problems lesson says so, not this one.
    missing = [Cell("primes", "py", "interp", 2, status=Status.UNAVAILABLE, reason=INSTALL_HINT)]
    assert sub_interpreters(Run(tuple(no_interp + missing), (), {})) is None


def test_the_interp_goal_is_met_missed_or_unavailable_with_its_reason() -> None:
    goal = next(g for g in GOALS if g.executor == ExecutorName.INTERP)
    assert (goal.impl, goal.workers, goal.op, goal.bound) == ("py", 2, ">=", 1.8)
    met = [v for v in evaluate(_interp_run(py_interp=1.9), [goal])]
    assert [v.met for v in met] == [True]  # judged on the recipe cell, as for procs
    assert evaluate(_interp_run(py_interp=1.5), [goal])[0].met is False
    missing = [make_cell("py", "seq", 1),
               Cell("primes", "py", "interp", 2, status=Status.UNAVAILABLE, reason=INSTALL_HINT)]
    (verdict,) = evaluate(missing, [goal])
    assert verdict.met is None and verdict.unavailable == INSTALL_HINT
    assert "unavailable: pip install 'gil-lab[interp]'" in format_verdicts([verdict])
    old = [make_cell("py", "seq", 1),
           Cell("primes", "py", "interp", 2, status=Status.UNAVAILABLE, reason="needs Python 3.13 ...")]
    assert "unavailable: needs Python 3.13" in format_verdicts(evaluate(old, [goal]))
