"""Rows measured under another interpreter (`gil-lab cpu --python PATH[,PATH]`).

Each interpreter (labsrc.interpreters.discover) is used in one of two ways:

- **the worker** (PyPy, any Python >= 3.9): labsrc.interpreters.worker runs there, in a
  process of its own, and this module drives it as labsrc.harness.matrix drives the lab's own
  cells: calibrate the `py` implementation there, ship the workload once, open the seq /
  threads / procs cells (start-up timed apart, warm-up run), then time them round by
  round. The worker times on its own monotonic clock; every answer of every run comes
  back (a digest when large) and is checked here: small answers by the kernel's
  verifier, digests against the digest of an answer computed here by the fastest
  implementation at hand and passed by that same verifier (never by the twin under test);
- **the lab itself** (CPython >= 3.11 where gil-lab imports, e.g. a free-threaded build
  with `pip install -e .`): labsrc.interpreters.lab runs `PATH -m labsrc cpu ... --json FILE`
  with this run's choices and reads its rows (cext ones too) back with Cell.from_dict.

Either way the rows are relabelled `impl@label` (`py@pypy3.9`, `cy_nogil@3.14t`) and
join the run's table, JSON and plots; the interpreter's build facts go to
env["interpreters"][label]. Every wait on a child has a timeout; Ctrl-C kills the child's
whole process group (its pool workers too) and keeps the rows finished before it.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import tempfile
import zlib
from multiprocessing.connection import Connection
from typing import Any, Callable, Optional, Sequence

from labsrc.interpreters.discover import PURE_IMPL, Interpreter, failed_cell
from labsrc.kernels.catalog import Impl, Kernel, TaskArgs, VerificationError
from labsrc.harness.matrix import calibrate, plan
from labsrc.core.names import ExecutorName, Payload, Status
from labsrc.core.results import Cell
from labsrc.harness.timing import Options
from labsrc.core.worker import clock

WORKER_EXECUTORS = (ExecutorName.SEQ, ExecutorName.THREADS, ExecutorName.PROCS)
CALL_TIMEOUT_S = 300.0  # one calibration task
ROUND_TIMEOUT_S = 900.0  # a round (or the warm-ups) when no calibration gave an estimate
MIN_ROUND_TIMEOUT_S = 120.0
ROUND_SLACK = 30.0  # x the sequential estimate per cell: pools, a loaded machine, a slow JIT
_LAUNCH = "import sys; from labsrc.interpreters.worker import main; sys.exit(main())"


class ForeignError(RuntimeError):
    """The child interpreter died, timed out or broke the protocol; str() says which."""


class WorkerProcess:
    """labsrc.interpreters.worker under another interpreter, spoken to over two pipes; stderr
    goes to a temporary file (read back when something breaks)."""

    def __init__(self, interp: Interpreter) -> None:
        self.interp = interp
        self._stderr = tempfile.TemporaryFile(mode="w+b")
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [interp.executable, "-c", _LAUNCH, str(req_r), str(rep_w)], pass_fds=(req_r, rep_w),
                env=self.interp.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self._stderr, start_new_session=True)  # its own group: killed as one
        except BaseException:
            for fd in (req_r, req_w, rep_r, rep_w):
                os.close(fd)
            raise
        os.close(req_r)
        os.close(rep_w)
        self._send = Connection(req_w, readable=False)
        self._recv = Connection(rep_r, writable=False)

    def request(self, *message: Any, timeout: float) -> Any:
        """Send one request, wait at most `timeout` s for its reply; ForeignError if the child
        dies or is late (then it is killed), VerificationError-free: a task's exception
        comes back as ForeignError too, with its text."""
        try:
            self._send.send(message)
            if not self._recv.poll(timeout):
                self.kill()
                raise ForeignError(f"{self.interp.label}: no answer to {message[0]!r} within {timeout:.0f} s")
            status, value = self._recv.recv()
        except (EOFError, OSError):
            raise ForeignError(f"{self.interp.label} exited ({self._why()})") from None
        if status != "ok":
            raise ForeignError(str(value))
        return value

    def _why(self) -> str:
        try:
            code: Optional[int] = self._proc.wait(timeout=5)  # a closed pipe: it is exiting
        except subprocess.TimeoutExpired:
            code = None
        self._stderr.seek(0)
        tail = [ln for ln in self._stderr.read().decode(errors="replace").splitlines() if ln.strip()][-3:]
        return f"exit status {code}" + (": " + " | ".join(tail) if tail else "")

    def kill(self) -> None:
        """Kill the child and everything it started (its process group), then reap it."""
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._proc.wait(timeout=30)

    def close(self) -> None:
        """Ask the child to stop, kill it if it does not within 10 s; close the pipes."""
        try:
            if self._proc.poll() is None:
                self._send.send(("quit",))
                self._proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()
        self._send.close()
        self._recv.close()
        self._stderr.close()


def _plain(args: TaskArgs) -> TaskArgs:
    """Task arguments as builtins the other interpreter can unpickle without numpy."""
    out: list[Any] = []
    for value in args:
        if isinstance(value, (bool, int, float, str, bytes)):
            out.append(value)
        elif hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
            out.append(value.item())  # a numpy scalar
        else:
            out.append(bytes(memoryview(value)))
    return tuple(out)


def reference_impl(kernel: Kernel) -> Impl:
    """The fastest loadable implementation to compute expected digests with (then verified)."""
    for name in ("cy_nogil", "hashlib", "numpy", PURE_IMPL):
        if name in kernel.impl_names and kernel.impl(name).available()[0]:
            return kernel.impl(name)
    return kernel.impl(PURE_IMPL)


class ForeignChecker:
    """Checks every answer the worker sends for one workload (see the module docstring)."""

    def __init__(self, kernel: Kernel, args: Sequence[TaskArgs]) -> None:
        self.kernel, self.args = kernel, args
        self._digests: dict[Any, tuple[int, int]] = {}

    def check(self, answers: Sequence[Any]) -> None:
        """Raise VerificationError unless every answer (or digest) is right."""
        if len(answers) != len(self.args):
            raise VerificationError(f"{len(answers)} results for {len(self.args)} tasks")
        for index, (args, answer) in enumerate(zip(self.args, answers)):
            if isinstance(answer, dict) and "crc32" in answer:
                got, expected = (answer["crc32"], answer["nbytes"]), self._expected(args)
                if got != expected:
                    raise VerificationError(f"{self.kernel.name} task {index}: the answer's CRC-32 and "
                                            f"size are {got}, expected {expected}")
            else:
                self.kernel.verify(args, answer)

    def _expected(self, args: TaskArgs) -> tuple[int, int]:
        if args not in self._digests:
            answer = reference_impl(self.kernel).load()(*args)
            self.kernel.verify(args, answer)
            view = memoryview(answer)
            data = view.cast("B") if view.contiguous else view.tobytes()
            self._digests[args] = (zlib.crc32(data), view.nbytes)
        return self._digests[args]


def _lateness_stats(runs: Sequence[dict[str, Any]]) -> tuple[float, float, float]:
    """(contention, p50 ms, p99 ms) over every run's heartbeat, as labsrc.core.probe.combined_stats."""
    values = sorted(v for run in runs for v in run.get("late", ()))
    lifetime = sum(run.get("lifetime", 0.0) for run in runs)
    if not values or lifetime <= 0:
        return math.nan, math.nan, math.nan
    floor = runs[0]["floor"]
    contention = min(1.0, sum(v - floor for v in values if v > floor) / lifetime)

    def rank(q: float) -> float:
        return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))] * 1e3

    return contention, rank(0.5), rank(0.99)


class ForeignRun:
    """The cells of one kernel's `py` under another interpreter: opened together, timed
    round by round (`round()` once per repeat, so a caller can interleave its own cells)."""

    def __init__(self, proc: WorkerProcess, kernel: Kernel, executors: Sequence[str],
                 workers: Sequence[int], opts: Options) -> None:
        self.proc, self.kernel, self.opts = proc, kernel, opts
        self.impl = f"{PURE_IMPL}@{proc.interp.label}"
        specs = plan([kernel], [PURE_IMPL], executors, workers, (Payload.RECIPE,))[0].cells
        self.cells: list[Cell] = []
        self.runs: list[list[dict[str, Any]]] = []
        self.probed: list[list[dict[str, Any]]] = []  # the run apart with the heartbeat on
        for spec in specs:
            payload = Payload.RECIPE if spec.executor == ExecutorName.PROCS else None
            cell = Cell(kernel.name, self.impl, spec.executor, spec.workers, repeats=opts.repeats,
                        payload=payload)
            if spec.executor not in WORKER_EXECUTORS:
                cell.status = Status.UNAVAILABLE
                cell.reason = f"not run under {proc.interp.label} (its worker runs seq, threads, procs)"
            self.cells.append(cell)
            self.runs.append([])
            self.probed.append([])
        self.timeout = ROUND_TIMEOUT_S
        self.checker: Optional[ForeignChecker] = None

    def _live(self) -> list[int]:
        return [i for i, c in enumerate(self.cells) if c.executor in WORKER_EXECUTORS]

    def open(self) -> None:
        """Load and calibrate there, ship the workload, start every cell and check its warm-up."""
        impl = self.kernel.impl(PURE_IMPL)
        load_s = self.proc.request("load", impl.module, impl.function, timeout=CALL_TIMEOUT_S)
        scale = self.opts.scale
        if scale is None:
            per_task: list[float] = []

            def remote(*args: Any) -> Any:
                t0 = clock()
                answer = self.proc.request("call", _plain(args), timeout=CALL_TIMEOUT_S)
                per_task.append(clock() - t0)
                return answer

            start = self.kernel.quick_scale if self.opts.quick else self.kernel.default_scale
            # Twice: a JIT (PyPy's) compiles the loop during the first pass, which would
            # otherwise size the work for the cold interpreter, several times too small.
            for _ in range(2):
                start = calibrate(self.kernel, remote, {}, self.opts.tasks, self.opts.target_s, start)
            scale = start
            seq_estimate = sum(per_task[-self.opts.tasks:])  # the last pass: about this scale's
            live = max(1, len(self._live()))
            self.timeout = max(MIN_ROUND_TIMEOUT_S, ROUND_SLACK * live * seq_estimate)
        work = [_plain(a) for a in self.kernel.make_workload(self.opts.tasks, scale)]
        self.checker = ForeignChecker(self.kernel, work)
        for cell in self.cells:
            cell.tasks, cell.scale, cell.load_s = len(work), scale, load_s
        # Plain str and int: the other interpreter cannot unpickle the lab's StrEnums.
        specs = [(str(self.cells[i].executor), int(self.cells[i].workers)) for i in self._live()]
        replies = self.proc.request("open", work, specs, self.opts.warmup, timeout=self.timeout)
        for i, reply in zip(self._live(), replies):
            cell = self.cells[i]
            cell.startup_s = reply["startup_s"]
            self._check(cell, reply.get("failure"), reply.get("answers"))

    def _check(self, cell: Cell, failure: Optional[str], answers: Optional[Sequence[Any]]) -> bool:
        if not cell.ok:
            return False
        if failure:
            cell.status, cell.reason = Status.FAILED, failure
            return False
        if answers is not None:
            assert self.checker is not None
            try:
                self.checker.check(answers)
            except VerificationError as exc:
                cell.status, cell.reason = Status.FAILED, f"WRONG ANSWER: {exc}"
                return False
        return True

    def round(self, probed: bool = False) -> None:
        """One timed run of every cell there; each run's answers are checked here. As in
        labsrc.harness.timing, the timed runs carry no heartbeat; `probed` is the one run
        apart with it, for the GIL figures."""
        if probed and not self.opts.probe:
            return
        replies = self.proc.request("round", probed, timeout=self.timeout)
        for i, run in zip(self._live(), replies):
            if self._check(self.cells[i], run.get("failure"), run.get("answers")):
                run.pop("answers", None)
                (self.probed[i] if probed else self.runs[i]).append(run)

    def finish(self, interrupted: bool = False) -> list[Cell]:
        """The cells with their figures (those with no timed run are failed, or dropped
        when Ctrl-C came first)."""
        out = []
        for cell, runs, probed in zip(self.cells, self.runs, self.probed):
            if cell.ok and not runs:
                if interrupted:
                    continue
                cell.status, cell.reason = Status.FAILED, "no timed run"
            if cell.ok:
                if interrupted and len(runs) < cell.repeats:
                    cell.reason = f"interrupted after {len(runs)} of {cell.repeats} runs"
                _summarise(cell, runs, probed)
            out.append(cell)
        return out


def _summarise(cell: Cell, runs: list[dict[str, Any]], probed: list[dict[str, Any]]) -> None:
    cell.verified, cell.repeats = True, len(runs)
    cell.walls = tuple(r["wall"] for r in runs)
    cell.cpus = tuple(r["cpu"] for r in runs)
    cell.gil_contention, cell.gil_p50_late_ms, cell.gil_p99_late_ms = _lateness_stats(probed)
    if probed:
        cell.probed_wall_s = sorted(r["wall"] for r in probed)[len(probed) // 2]
    median = sorted(cell.walls)[len(cell.walls) // 2]
    spans = min(runs, key=lambda r: abs(r["wall"] - median))["spans"]
    origin = min((s[0] for s in spans), default=0.0)
    cell.spans = tuple((a - origin, b - origin, int(w)) for a, b, w in spans)


def run_worker(interp: Interpreter, kernels: Sequence[Kernel], executors: Sequence[str],
               workers: Sequence[int], opts: Options, log: Callable[[str], None]) -> tuple[list[Cell], bool]:
    """The `py` cells of every kernel under `interp`'s worker; (cells, interrupted)."""
    cells: list[Cell] = []
    proc = WorkerProcess(interp)
    try:
        for kernel in kernels:
            log(f"{kernel.name}/{PURE_IMPL} under {interp.describe()}")
            run = ForeignRun(proc, kernel, executors, workers, opts)
            try:
                run.open()
                for _ in range(opts.repeats):
                    run.round()
                run.round(probed=True)
            except KeyboardInterrupt:
                proc.kill()
                cells += run.finish(interrupted=True)
                return cells, True
            except ForeignError as exc:  # the child is gone or late: this kernel failed
                cells.append(failed_cell(kernel, run.impl, str(exc)))
                proc.kill()
                proc = WorkerProcess(interp)
                continue
            cells += run.finish()
    finally:
        proc.close()
    return cells, False


__all__ = ["ForeignChecker", "ForeignError", "ForeignRun", "WorkerProcess", "reference_impl", "run_worker"]
