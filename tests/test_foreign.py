"""Rows run under another interpreter (`gil-lab cpu --python`): probing, the small worker,
answer checks, failures, timeouts, Ctrl-C, and both ways of running (worker and lab).

Most tests use "this CPython without site-packages" (a wrapper running `python -S`) as
the other interpreter: gil-lab's dependencies (numpy, tqdm) do not import there, just as
under Debian's PyPy, so the worker path and numpy-free Mandelbrot are exercised on every
machine; the PyPy tests run where `pypy3` is installed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from array import array
from pathlib import Path

import numpy as np
import pytest

from labsrc.interpreters import foreign
from labsrc.interpreters import worker as foreign_worker
from labsrc.cliargs import UsageError
from labsrc.interpreters.foreign import ForeignChecker, ForeignError, ForeignRun, WorkerProcess, run_worker
from labsrc.interpreters.discover import Interpreter, check_interpreters, label_for, probe
from labsrc.kernels import mandelbrot as pure_mandelbrot
from labsrc.kernels import noop
from labsrc.kernels.catalog import Impl, Kernel, VerificationError, get_kernel
from labsrc.core.names import Payload, Status
from labsrc.harness.timing import Options

PYPY = shutil.which("pypy3")
needs_pypy = pytest.mark.skipif(PYPY is None, reason="pypy3 is not installed (apt install pypy3)")
TINY = Options(repeats=2, tasks=2, scale=1, warmup=True)


def gil_lab(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labsrc", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """This CPython without site-packages: no numpy, no tqdm, so only the worker can run."""
    path = tmp_path_factory.mktemp("bare") / "python-bare"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    path.chmod(0o755)
    return str(path)


@pytest.fixture(scope="module")
def bare(bare_python: str) -> Interpreter:
    return probe(bare_python)


def _fake_python(tmp_path: Path, body: str) -> str:
    path = tmp_path / "python-fake"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def _fault_kernel(function: str) -> Kernel:
    """A kernel whose `py` is one of labsrc.kernels.noop's deliberate faults."""
    return Kernel("faulty", "faults for the worker", (Impl("py", "labsrc.kernels.noop", function, False, ""),),
                  noop.make_workload, noop.verify, default_scale=1, quick_scale=1)


# --- the pure kernels and the worker stay importable without numpy --------------------

def test_mandelbrot_without_numpy_gives_the_same_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    with_numpy = pure_mandelbrot.mandelbrot(37, 5, 60, -2.1, 0.9, -1.2, 1.3)
    monkeypatch.setattr(pure_mandelbrot, "np", None)
    flat = pure_mandelbrot.mandelbrot(37, 5, 60, -2.1, 0.9, -1.2, 1.3)
    assert isinstance(flat, array) and flat.typecode == "i" and len(flat) == 37 * 5
    assert flat.tobytes() == with_numpy.tobytes()
    with pytest.raises(ValueError):
        pure_mandelbrot.mandelbrot(0, 5, 60)


def test_bare_python_cannot_import_numpy_but_runs_the_pure_kernels(bare_python: str) -> None:
    code = ("import importlib.util, labsrc.kernels.mandelbrot as m, labsrc.interpreters.worker as w;"
            "w.check_kernels(); print(importlib.util.find_spec('numpy') is None, type(m.mandelbrot(4, 2, 9)).__name__)")
    done = subprocess.run([bare_python, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(foreign.__file__).parent.parent)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "array"]


@needs_pypy
def test_pypy_imports_the_pure_kernels_and_the_worker() -> None:
    interp = probe("pypy3")
    assert interp.label.startswith("pypy3.") and not interp.runs_lab
    assert interp.facts["python_implementation"] == "PyPy"


# --- probing interpreters: bad input is exit 2 with the path and the reason ----------

@pytest.mark.parametrize("body, words", [
    ("echo not python", "broken"),
    ('echo \'{"version": [3, 8, 18]}\'', "3.8.18 is too old"),
    ('echo \'{"version": [3, 10, 0], "worker_error": "ImportError: nope"}\'', "do not import there"),
])
def test_broken_or_old_interpreters_are_usage_errors(tmp_path: Path, body: str, words: str) -> None:
    fake = _fake_python(tmp_path, body)
    with pytest.raises(UsageError, match=words) as caught:
        probe(fake)
    assert fake in str(caught.value)


def test_missing_interpreter_exits_2_before_measuring(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    done = gil_lab("cpu", "--kernel", "primes", "--impl", "py", "--scale", "1", "--quiet",
                   "--python", "/no/such/python", "--json", str(out))
    assert done.returncode == 2
    assert "/no/such/python" in done.stderr and "no such interpreter" in done.stderr
    assert not out.exists()  # nothing was measured


def test_worker_only_interpreter_needs_py_in_impl(bare: Interpreter, bare_python: str) -> None:
    with pytest.raises(UsageError, match="add py to --impl"):
        check_interpreters(bare_python, ["cy_nogil"])
    with pytest.raises(UsageError, match="share one label"):
        check_interpreters(f"{bare_python},{bare_python}", None)
    assert check_interpreters(None, None) == []


def test_labels() -> None:
    assert label_for({"python_implementation": "PyPy", "python_version": "3.9.16"}) == "pypy3.9"
    assert label_for({"python_implementation": "CPython", "python_version": "3.13.0"}) == "3.13"
    assert label_for({"python_implementation": "CPython", "python_version": "3.14.0",
                      "free_threaded_build": True}) == "3.14t"


# --- answers: digests and checks -------------------------------------------------------

def test_worker_digest_matches_the_bytes_of_a_local_answer() -> None:
    assert foreign_worker.digest(42) == 42
    assert foreign_worker.digest(b"x" * 32) == b"x" * 32
    counts = np.arange(5000, dtype=np.int32)
    flat = array("i", range(5000))
    expected = {"crc32": zlib.crc32(counts.tobytes()), "nbytes": counts.nbytes}
    assert foreign_worker.digest(flat) == expected == foreign_worker.digest(counts)


def test_foreign_checker_verifies_values_and_digests() -> None:
    kernel = get_kernel("mandelbrot")
    args = kernel.make_workload(2, 3)
    right = foreign_worker.digest(array("i", pure_mandelbrot.mandelbrot(*args[0]).tobytes()))
    checker = ForeignChecker(kernel, args)
    checker.check([right, right])
    with pytest.raises(VerificationError, match="CRC-32"):
        checker.check([right, {**right, "crc32": right["crc32"] ^ 1}])
    with pytest.raises(VerificationError, match="2 tasks"):
        checker.check([right])
    primes = get_kernel("primes")
    work = primes.make_workload(2, 1)
    ForeignChecker(primes, work).check([1, 1])  # each task holds exactly `scale` primes
    with pytest.raises(VerificationError):
        ForeignChecker(primes, work).check([1, 2])


# --- the worker path, end to end ------------------------------------------------------

def test_worker_runs_seq_threads_procs_and_every_answer_is_checked(bare: Interpreter) -> None:
    kernels = [get_kernel("primes"), get_kernel("mandelbrot")]
    cells, interrupted = run_worker(bare, kernels, ["seq", "threads", "procs", "asyncio"], [2], TINY, lambda s: None)
    assert not interrupted
    by = {(c.kernel, c.executor): c for c in cells}
    assert len(cells) == 8
    for kernel in ("primes", "mandelbrot"):
        for executor in ("seq", "threads", "procs"):
            cell = by[(kernel, executor)]
            assert cell.ok and cell.verified, cell.reason
            assert cell.impl == f"py@{bare.label}" and len(cell.walls) == 2 and len(cell.spans) == 2
            assert cell.tasks == 2 and cell.scale == 1 and cell.load_s >= 0
            assert 0 <= cell.gil_contention <= 1  # the worker's heartbeat ran beside every run
        assert by[(kernel, "procs")].payload == Payload.RECIPE and by[(kernel, "procs")].startup_s > 0
        assert by[(kernel, "asyncio")].status == Status.UNAVAILABLE
    assert len({s[2] for s in by[("primes", "procs")].spans}) >= 1


@pytest.mark.parametrize("function, status, words", [
    ("wrong_answer", Status.FAILED, "WRONG ANSWER"),
    ("raises", Status.FAILED, "ValueError: task 0 raised on purpose"),
])
def test_wrong_answers_and_raising_tasks_fail_their_cells(bare: Interpreter, function: str,
                                                          status: Status, words: str) -> None:
    cells, _ = run_worker(bare, [_fault_kernel(function)], ["seq", "threads"], [2], TINY, lambda s: None)
    assert [c.status for c in cells] == [status, status]
    assert all(words in c.reason for c in cells)


def test_a_crashing_pool_worker_fails_only_its_cell(bare: Interpreter) -> None:
    cells, _ = run_worker(bare, [_fault_kernel("crash_in_worker")], ["seq", "procs"], [2], TINY, lambda s: None)
    seq, procs = cells
    assert seq.ok and seq.verified
    assert procs.status == Status.FAILED and "worker process died" in procs.reason


def test_a_late_child_is_killed_at_the_timeout(bare: Interpreter, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GILLAB_PIDDIR", str(tmp_path))
    proc = WorkerProcess(bare)
    try:
        run = ForeignRun(proc, _fault_kernel("slow"), ["seq"], [1], Options(repeats=1, tasks=1, scale=50))
        run.timeout = 0.5
        t0 = time.monotonic()
        with pytest.raises(ForeignError, match="no answer"):
            run.open()
        assert time.monotonic() - t0 < 10
        assert proc._proc.poll() is not None  # killed, not left sleeping
    finally:
        proc.close()


def test_ctrl_c_keeps_the_finished_rounds_and_kills_the_child(bare: Interpreter,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[WorkerProcess] = []
    real_init, real_round = WorkerProcess.__init__, ForeignRun.round

    def init(self: WorkerProcess, interp: Interpreter) -> None:
        real_init(self, interp)
        started.append(self)

    def round_then_ctrl_c(self: ForeignRun) -> None:
        if any(self.runs):
            raise KeyboardInterrupt
        real_round(self)

    monkeypatch.setattr(WorkerProcess, "__init__", init)
    monkeypatch.setattr(ForeignRun, "round", round_then_ctrl_c)
    cells, interrupted = run_worker(bare, [get_kernel("primes")], ["seq", "threads"], [2],
                                    Options(repeats=3, tasks=2, scale=1), lambda s: None)
    assert interrupted and [len(c.walls) for c in cells] == [1, 1]
    assert all("interrupted after 1 of 3 runs" in c.reason for c in cells)
    assert started and all(p._proc.poll() is not None for p in started)


def _descendants(root: int) -> set[int]:
    """Every live process below `root` (children, their pool workers...), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_cli_ctrl_c_in_the_foreign_phase_exits_130_without_orphans(bare_python: str, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-m", "labsrc", "cpu", "--kernel", "primes", "--impl", "py",
                             "--executor", "procs", "--workers", "2", "--scale", "4", "--tasks", "2",
                             "--repeat", "20", "--no-probe", "--python", bare_python, "--json", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:  # the foreign phase announces itself on stderr
            if "under" in line:
                break
        time.sleep(1.0)  # inside the worker's rounds
        below = _descendants(proc.pid)
        assert below, "the foreign worker should be running"
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "py " in stdout  # the rows measured before Ctrl-C are printed...
    doc = json.loads(out.read_text())  # ...and written
    assert any(r["impl"] == "py" and r["status"] == "ok" for r in doc["results"])
    time.sleep(0.5)
    assert [pid for pid in below if _alive(pid)] == []


# --- the CLI: rows labelled, verified, in the same table and JSON ----------------------

def test_cli_adds_worker_rows_and_the_interpreter_facts(bare_python: str, bare: Interpreter, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    done = gil_lab("cpu", "--kernel", "primes,sha256", "--impl", "py", "--executor", "threads",
                   "--workers", "2", "--scale", "1", "--tasks", "2", "--repeat", "1", "--quiet",
                   "--python", bare_python, "--json", str(out), "--plot", str(tmp_path / "png"))
    assert done.returncode == 0, done.stderr
    assert f"py@{bare.label}" in done.stdout
    assert (tmp_path / "png" / "speedup_primes.png").exists()
    doc = json.loads(out.read_text())
    foreign_rows = [r for r in doc["results"] if r["impl"] == f"py@{bare.label}"]
    assert len(foreign_rows) == 4 and all(r["verified"] and r["status"] == "ok" for r in foreign_rows)
    assert all(r["speedup"] is not None for r in foreign_rows)  # their own seq/1 is their baseline
    block = doc["env"]["interpreters"][bare.label]
    assert block["runs"] == "the pure-kernel worker" and block["path"] == bare_python
    assert block["python_implementation"] == "CPython" and "gil_probe_measures" in block


def test_cli_runs_the_lab_itself_where_it_imports(tmp_path: Path) -> None:
    here = probe(sys.executable)
    assert here.runs_lab, here.lab_error
    out = tmp_path / "r.json"
    done = gil_lab("cpu", "--kernel", "primes", "--impl", "py", "--executor", "threads", "--workers", "2",
                   "--scale", "1", "--tasks", "2", "--repeat", "1", "--quiet", "--python", sys.executable,
                   "--json", str(out))
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    impls = {r["impl"] for r in doc["results"]}
    assert impls == {"py", f"py@{here.label}"}
    assert all(r["verified"] for r in doc["results"])
    assert doc["env"]["interpreters"][here.label]["runs"] == "the lab itself"
    assert doc["env"]["interpreters"][here.label]["cpu_count"] >= 1  # the child's own env block


@needs_pypy
def test_pypy_rows_are_verified_for_every_pure_kernel() -> None:
    interp = probe("pypy3")
    kernels = [get_kernel(k) for k in ("primes", "arcfour", "sha256", "mandelbrot")]
    cells, _ = run_worker(interp, kernels, ["seq", "procs"], [2], TINY, lambda s: None)
    assert [(c.kernel, c.executor, c.status) for c in cells] == [
        (k.name, e, Status.OK) for k in kernels for e in ("seq", "procs")]
    assert all(c.verified and c.impl == f"py@{interp.label}" for c in cells)



# --- the PyPy vs CPython bench figure ----------------------------------------------------

def test_interp_bench_prints_the_ratio_per_kernel(bare_python: str, bare: Interpreter) -> None:
    from labsrc.bench.interpreters import run_interp_bench

    out = io.StringIO()
    (fig,) = run_interp_bench(bare_python, ["primes"], repeats=1, workers=2, out=out)
    assert fig.kernel == "primes" and fig.ratio > 0 and fig.threads is not None
    assert fig.here.impl == "py" and fig.there.impl == f"py@{bare.label}"
    assert fig.here.verified and fig.there.verified and fig.threads.verified
    line = out.getvalue().splitlines()[-1]
    assert line.split()[0] == "primes" and f"= {fig.ratio:5.1f}x" in line and "threads x2 there" in line


def test_interp_bench_without_the_interpreter_says_so() -> None:
    from labsrc.bench.interpreters import run_interp_bench

    out = io.StringIO()
    assert run_interp_bench("/no/such/pypy", out=out) == []
    assert "skipped" in out.getvalue() and "/no/such/pypy" in out.getvalue()
