"""The Dask executors on real clusters: embedded LocalClusters, and a `dask scheduler` plus a
`dask worker` started as separate processes on 127.0.0.1 for the --scheduler path.

Every cluster a test starts is closed or killed in a finally; the fault tests check that no
process of the run survives it (each CLI run gets its own session, so its leftovers can be
found by session id whatever their parent became)."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from labsrc.executors.dask.executors import DaskProcsExecutor, DaskThreadsExecutor, connect, dask_available
from labsrc.harness.dask_options import add_section, env_block
from labsrc.executors.dask.worker import distributed_gil_samples
from labsrc.executors.registry import Work, WorkerCrashed, make_executor
from labsrc.kernels import get_kernel, kernels
from labsrc.harness.matrix import plan
from labsrc.core.names import Payload, Status
from labsrc.core.probe import knocker_available
from labsrc.core.results import Cell
from labsrc.core.worker import TaskRef, clock, digest

needs_dask = pytest.mark.skipif(not dask_available()[0], reason="distributed is not installed")
# distributed's GIL monitor is gilknocker, which has no free-threaded build: the test extra
# installs it on GIL builds only (so CI runs the test there).
needs_gilknocker = pytest.mark.skipif(not knocker_available(),
                                      reason="gilknocker is not installed: distributed's GIL monitor needs it "
                                             "(pip install gilknocker; there is no free-threaded build of it)")
ROOT = Path(__file__).resolve().parents[1]


def gil_lab(*args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labsrc", *args], capture_output=True, text=True,
                          timeout=timeout, start_new_session=True, **kw)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def session_leftovers(sid: int) -> list[int]:
    """Live (non-zombie) processes still in session `sid`: orphans of a finished run."""
    import psutil

    left = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getsid(proc.pid) == sid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                left.append(proc.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return left


def wait_gone(sid: int, seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := session_leftovers(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _cases() -> list[tuple[str, str, int]]:
    """Small answers (primes) and large ones (digested under the recipe payload)."""
    cases = [("noop", "spin", 2)]
    for kernel in kernels():
        if kernel.name in ("primes", "mandelbrot"):
            built = [i.name for i in kernel.impls if i.available()[0] and not i.inner_threads]
            name = next((n for n in ("cy_nogil", "py") if n in built), None)
            if name:
                cases.append((kernel.name, name, kernel.quick_scale))
    return cases


@needs_dask
@pytest.mark.parametrize("name", ["dask_threads", "dask_procs"])
def test_same_verified_answers_as_seq_under_both_payloads(name: str) -> None:
    expected = {}
    for kernel_name, impl, scale in _cases():
        ref, tasks = TaskRef(kernel_name, impl), get_kernel(kernel_name).make_workload(4, scale)
        with make_executor("seq", 1) as seq:
            seq.open(ref)
            expected[kernel_name] = (ref, tasks, scale, seq.run(ref, Work(tasks, scale)).results)
    for payload in Payload:
        with make_executor(name, 2, payload) as ex:
            ex.open(TaskRef("noop", "spin"))
            assert ex.startup_s > 0 and ex.payload == payload and ex.workers == 2
            workers = ex._client.nthreads()
            assert sorted(workers.values()) == ([2] if name == "dask_threads" else [1, 1])
            for kernel_name, (ref, tasks, scale, want) in expected.items():
                before = clock()
                out = ex.run(ref, Work(tasks, scale))
                after = clock()
                if payload == Payload.RECIPE:
                    assert out.results == [digest(a) for a in want], kernel_name
                else:
                    assert [repr(a) for a in out.results] == [repr(a) for a in want], kernel_name
                    for args, answer in zip(tasks, out.results):
                        get_kernel(kernel_name).verify(args, answer)
                # Spans on the workers' monotonic clock: inside our window (one machine).
                assert all(before <= s.start <= s.end <= after for s in out.spans)
                assert out.worker_cpu_s > 0
            probe = ex.gil_probe()
            probe.start()
            ex.run(TaskRef("noop", "spin"), Work([(i, 20) for i in range(4)], 20))
            probe.stop()
            assert probe.stats().samples > 0 and 0.0 <= probe.stats().contention <= 1.0


@needs_dask
@needs_gilknocker
def test_the_row_shows_the_workers_heartbeat_beside_distributeds_gil_monitor() -> None:
    """Both metrics rank GIL-holding Python above sleeping tasks; during one long GIL-holding
    C call distributed's monitor (sampled by the worker's event loop every 500 ms) falls
    silent and reports the whole wait late, in one sample, while the lab's heartbeat,
    started and stopped exactly around the run, counts the same wait within that run."""
    t0 = time.perf_counter()
    from labsrc.kernels import noop

    noop.spin(0, 1000)
    spin_scale = max(1000, round(1000 * 0.25 / (time.perf_counter() - t0)))  # ~0.25 s a task
    ex = DaskThreadsExecutor(2, gil_monitor=True)
    try:
        ex.open(TaskRef("noop", "spin"))

        def measured(ref: TaskRef, work: Work) -> tuple[Any, list[tuple[float, float]], float, float]:
            probe = ex.gil_probe()
            probe.start()
            start = time.time()
            ex.run(ref, work)
            end = time.time()
            probe.stop()
            time.sleep(1.1)  # the monitor's next two ticks
            (samples,) = ex._client.run(distributed_gil_samples).values()
            return probe.stats(), samples, start, end

        ours, theirs = {}, {}
        for ref, work in ((TaskRef("noop", "spin"), Work([(i, spin_scale) for i in range(4)], spin_scale)),
                          (TaskRef("faults", "slow"), Work([(i, 6) for i in range(4)], 6))):
            stats, samples, start, end = measured(ref, work)
            ours[ref.impl] = stats.contention
            during = [v for t, v in samples if start < t <= end + 0.6]
            assert during, "distributed's monitor took no sample during the run"
            theirs[ref.impl] = statistics.fmean(during)
        assert ours["spin"] > ours["slow"] and theirs["spin"] > theirs["slow"], (ours, theirs)

        primes = get_kernel("primes")
        if not primes.impl("cy_gil").available()[0]:
            return  # the C-call half needs the Cython build (CI builds it)
        fn, probe_scale = primes.impl("cy_gil").load(), primes.quick_scale * 50
        t0 = time.perf_counter()
        fn(*primes.make_workload(1, probe_scale)[0])
        scale = round(probe_scale * 2.5 / (time.perf_counter() - t0))  # one call of ~2.5 s
        stats, samples, start, end = measured(TaskRef("primes", "cy_gil"), Work(primes.make_workload(1, scale), scale))
        call_s = end - start
        times = [t for t, _ in samples if start - 1.0 < t <= end + 1.1]
        longest_gap = max(b - a for a, b in zip(times, times[1:]))
        print(f"C call {call_s:.2f} s: monitor gap {longest_gap:.2f} s; heartbeat {stats}; "
              f"python: ours {ours}, distributed's {theirs}")
        # No tick while the C call ran: at least one gap of the call's length, > 2 ticks.
        assert longest_gap > max(0.8 * call_s, 1.0), (times, call_s)
        assert stats.max_late_s > 0.5 * call_s and stats.contention > 0.4, stats
    finally:
        ex.close()


@pytest.fixture
def remote_cluster(tmp_path: Path) -> Iterator[str]:
    """`dask scheduler` and `dask worker --nworkers 2 --nthreads 1` on 127.0.0.1, each in its
    own session, killed with everything they started however the test ends."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    http = ["--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for argv, log in ((["scheduler", "--host", "127.0.0.1", "--port", str(port), *http], "scheduler.log"),
                          (["worker", address, "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1",
                            *http, "--death-timeout", "60"], "worker.log")):
            with open(tmp_path / log, "wb") as out:
                procs.append(subprocess.Popen([*dask, *argv], stdout=out, stderr=subprocess.STDOUT,
                                              start_new_session=True, cwd=ROOT))
        deadline = time.monotonic() + 60
        while True:
            assert all(p.poll() is None for p in procs), (tmp_path / "scheduler.log").read_text()
            try:
                client = connect(address, 2)
                try:
                    if len(client.nthreads()) == 2:
                        break
                finally:
                    client.close()
            except OSError:
                pass
            assert time.monotonic() < deadline, "the cluster did not come up"
            time.sleep(0.3)
        yield address
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)


@needs_dask
def test_scheduler_option_uses_the_running_cluster(remote_cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    primes = get_kernel("primes")
    done = gil_lab("cpu", "--kernel", "primes", "--impl", "py", "--executor", "dask_procs,dask_threads",
                   "--workers", "3", "--tasks", "4", "--scale", str(primes.quick_scale), "--repeat", "1",
                   "--scheduler", remote_cluster, "--quiet", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(out.read_text())
    rows = {r["executor"]: r for r in doc["results"]}
    procs, threads = rows["dask_procs"], rows["dask_threads"]
    assert procs["status"] == threads["status"] == "ok" and procs["verified"] and threads["verified"]
    assert procs["workers"] == threads["workers"] == 2  # from the cluster, not --workers 3
    assert "--workers 3" in procs["reason"] and "2 worker(s) x 1 thread(s)" in procs["reason"]
    assert "expects one worker" in threads["reason"]
    dask_env = doc["env"]["dask"]
    assert dask_env["scheduler"] == remote_cluster and dask_env["spans_same_machine"]
    assert {(c["workers"], tuple(c["threads"])) for c in dask_env["clusters"]} == {(2, (1,))}
    client = connect(remote_cluster, 5)  # the lab closed only its clients, never the cluster
    try:
        assert len(client.nthreads()) == 2
    finally:
        client.close()


@needs_dask
def test_unreachable_scheduler_exits_2_quickly() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    t0 = time.monotonic()
    done = gil_lab("cpu", "--kernel", "noop", "--impl", "noop", "--executor", "dask_procs",
                   "--scheduler", address, "--quiet", timeout=60)
    assert done.returncode == 2, done.stderr
    assert address in done.stderr and "3 s" in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - t0 < 30  # the connect timeout, not a hang


@pytest.mark.parametrize("args,needle", [
    (["--executor", "dask_procs", "--scheduler", "http://127.0.0.1:8786"], "must be tcp://HOST:PORT"),
    (["--executor", "dask_procs", "--scheduler", "tcp://127.0.0.1"], "must be tcp://HOST:PORT"),
    (["--executor", "threads", "--scheduler", "tcp://127.0.0.1:8786"], "add dask_threads or dask_procs"),
])
def test_bad_dask_options_exit_2(args: list[str], needle: str) -> None:
    done = gil_lab("cpu", "--kernel", "noop", *args)
    assert done.returncode == 2 and needle in done.stderr and "Traceback" not in done.stderr


@needs_dask
def test_dask_dashboard_needs_bokeh_or_serves_on_loopback() -> None:
    import importlib.util

    done = gil_lab("cpu", "--kernel", "noop", "--impl", "noop", "--executor", "dask_threads", "--workers", "1",
                   "--tasks", "2", "--scale", "1", "--repeat", "1", "--dask-dashboard", "--quiet")
    if importlib.util.find_spec("bokeh") is None:
        assert done.returncode == 2 and "needs bokeh" in done.stderr
    else:
        assert done.returncode == 0 and "dashboard of dask_threads x1: http://127.0.0.1:" in done.stderr


@needs_dask
def test_a_worker_dying_mid_cell_fails_it_without_orphans() -> None:
    done = subprocess.Popen([sys.executable, "-m", "labsrc", "cpu", "--kernel", "faults", "--impl", "crash",
                             "--executor", "dask_procs", "--workers", "2", "--tasks", "4", "--scale", "1",
                             "--repeat", "1", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = done.communicate(timeout=120)
    finally:
        if done.poll() is None:
            os.killpg(done.pid, signal.SIGKILL)
    assert done.returncode == 1, stdout + stderr
    assert "FAILED" in stdout and "left the cluster" in stdout and "Traceback" not in stdout + stderr
    assert not wait_gone(done.pid), "orphan processes after the run"


@needs_dask
def test_a_worker_killed_from_outside_fails_the_run_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    monkeypatch.setenv("GILLAB_PIDDIR", str(tmp_path))  # the workers inherit it
    ex = DaskProcsExecutor(2)
    try:
        ex.open(TaskRef("faults", "slow"))
        pids = set(ex._pids.values())

        def kill_a_busy_worker() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                busy = {int(p.name) for p in tmp_path.iterdir()} & pids
                if busy:
                    os.kill(busy.pop(), signal.SIGKILL)
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        t0 = time.monotonic()
        with pytest.raises(WorkerCrashed, match="left the cluster"):
            ex.run(TaskRef("faults", "slow"), Work([(i, 40) for i in range(4)], 40))  # 4 s a task
        assert time.monotonic() - t0 < 8  # failed when the worker went, not after the tasks
        killer.join()
    finally:
        ex.abort()
    assert pids and not [p for p in pids if psutil.pid_exists(p)
                         and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


@needs_dask
def test_ctrl_c_closes_the_cluster_and_keeps_what_was_measured(tmp_path: Path) -> None:
    piddir = tmp_path / "pids"
    piddir.mkdir()
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labsrc", "cpu", "--kernel", "faults", "--impl", "slow", "--executor",
         "dask_procs", "--workers", "2", "--tasks", "2", "--scale", "3", "--repeat", "5", "--quiet",
         "--json", str(out)],
        env={**os.environ, "GILLAB_PIDDIR": str(piddir)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # wait until the Dask workers run tasks
            if {int(p.name) for p in piddir.iterdir()} - {proc.pid}:
                break
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    doc = json.loads(out.read_text())
    assert ("seq", "ok") in [(r["executor"], r["status"]) for r in doc["results"]]
    assert not wait_gone(proc.pid), "orphan processes after Ctrl-C"


def test_without_distributed_the_cells_are_unavailable_rows() -> None:
    code = """
import sys
sys.modules["distributed"] = None  # as if the extra were not installed
from labsrc.executors.registry import executor_available
from labsrc.kernels import get_kernel
from labsrc.harness.matrix import Options, plan, run_matrix
print(executor_available("dask_threads"))
cells = run_matrix(plan([get_kernel("noop")], ["noop"], ["dask_threads", "dask_procs"], [2]),
                   Options(repeats=1, tasks=2, scale=1)).cells
for c in cells:
    print(c.executor, c.status, c.reason)
from labsrc.cli import main
sys.exit(main(["cpu", "--kernel", "noop", "--impl", "noop", "--executor", "dask_procs",
               "--scheduler", "tcp://127.0.0.1:8786", "--quiet"]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    hint = "unavailable: pip install 'gil-lab[dask]'"
    lines = done.stdout.splitlines()
    assert lines[0] == str((False, hint))
    assert lines[1:] == ["seq ok ", f"dask_threads unavailable {hint}", f"dask_procs unavailable {hint}"]
    assert done.returncode == 2 and "needs the optional package distributed" in done.stderr


def test_compare_section_adds_dask_cells_to_primes_only() -> None:
    planned = plan([get_kernel("primes"), get_kernel("noop")], ["py", "cy_nogil", "noop"], ["seq", "threads"], [2])
    extended = {(p.kernel.name, p.impl.name): p.cells for p in add_section(planned, [1, 2])}
    assert [c.executor for c in extended[("primes", "py")]] == ["seq", "threads", "dask_threads", "dask_procs"]
    assert all(c.workers == 2 and c.payload == Payload.RECIPE for c in extended[("primes", "py")][2:])
    assert [c.executor for c in extended[("noop", "noop")]] == ["seq", "threads"]


def test_env_block_only_when_dask_cells_ran() -> None:
    assert env_block([Cell("primes", "py", "threads", 2)]) is None
    block = env_block([Cell("primes", "py", "dask_procs", 2, status=Status.UNAVAILABLE)])
    assert block is not None and "available" in block
