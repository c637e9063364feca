"""The worker `gil-lab cpu --python PATH` runs under another interpreter (PyPy, another CPython).

It must run on Python >= 3.9 with the standard library and the pure kernels only (no
numpy, no harness: Debian's PyPy has neither), so it carries its own small seq / threads /
procs executors and heartbeat. The harness (labsrc.interpreters.foreign) builds the workload, checks
every answer and makes the Cells; this side only runs and times, on its own monotonic
clock, as the lab's executors do:

- requests arrive as pickled tuples over a `multiprocessing.connection` pipe, one reply
  each: ("ok", value) or ("error", text);
- "open" starts every cell's executor (start-up timed apart) and runs its warm-up;
  "round" times one run of every cell (heartbeat around it), so the harness can
  interleave rounds with its own cells; answers are digested outside the timing;
- a procs pool gets the whole task list once, at start-up, and then only task indices
  (the lab's recipe payload: input kept in the worker, small answer or digest back).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib
import multiprocessing
import os
import platform
import resource
import signal
import sys
import sysconfig
import threading
import time
import zlib
from multiprocessing.connection import Connection
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

clock = time.perf_counter  # CLOCK_MONOTONIC on Linux, in every interpreter
SMALL_ANSWER_BYTES = 4096  # as labsrc.core.worker: larger answers travel as a CRC-32 digest
PURE_KERNELS = ("labsrc.kernels.primes", "labsrc.kernels.arcfour", "labsrc.kernels.sha256",
                "labsrc.kernels.mandelbrot")
MIN_VERSION = (3, 9)
HEARTBEAT_S = 0.001

Task = Tuple[Any, ...]


def facts() -> Dict[str, Any]:
    """This interpreter's build facts, under the keys of labsrc.core.envinfo.interpreter_build."""
    gil_check = getattr(sys, "_is_gil_enabled", None)
    return {
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_debug_build": bool(sysconfig.get_config_var("Py_DEBUG")) or hasattr(sys, "gettotalrefcount"),
        "free_threaded_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "gil_enabled": bool(gil_check()) if gil_check is not None else True,
        "python_compiler": platform.python_compiler(),
        "config_args": sysconfig.get_config_var("CONFIG_ARGS"),
        "executable": sys.executable,
        "clock": str(time.get_clock_info("perf_counter").implementation),
        "cpu_count": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }


def check_kernels() -> None:
    """Import every pure kernel (raises what the first failing import raises)."""
    for name in PURE_KERNELS:
        importlib.import_module(name)


def digest(answer: Any) -> Any:
    """A number, or bytes up to SMALL_ANSWER_BYTES, as is; anything else with a buffer as
    {"crc32", "nbytes"} of its raw bytes in C order (an array('i') of counts has the same
    bytes as the int32 ndarray the lab's own twins return)."""
    if answer is None or isinstance(answer, (int, float, str)):
        return answer
    if isinstance(answer, (bytes, bytearray)) and len(answer) <= SMALL_ANSWER_BYTES:
        return bytes(answer)
    view = memoryview(answer)  # TypeError for an answer without a buffer: the cell fails
    data = view.cast("B") if view.contiguous else view.tobytes()
    return {"crc32": zlib.crc32(data), "nbytes": view.nbytes}


class Heartbeat:
    """The lab's GIL probe, in miniature (labsrc.core.probe.GilProbe has the full story): a
    thread that sleeps HEARTBEAT_S per beat and records how late it woke up. The harness
    turns the lateness beyond `floor` (an idle beat's) into the contention figure."""

    _floor: Optional[float] = None

    def __init__(self) -> None:
        self.late: List[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="gil-probe", daemon=True)
        self.started = self.stopped = 0.0

    @classmethod
    def floor(cls) -> float:
        if cls._floor is None:
            late = []
            for _ in range(40):
                intended = clock() + HEARTBEAT_S
                time.sleep(HEARTBEAT_S)
                late.append(max(0.0, clock() - intended))
            cls._floor = sorted(late)[len(late) // 2]
        return cls._floor

    def _beat(self) -> None:
        while not self._stop.is_set():
            intended = clock() + HEARTBEAT_S
            time.sleep(HEARTBEAT_S)
            self.late.append(max(0.0, clock() - intended))

    def __enter__(self) -> "Heartbeat":
        self.floor()
        self.started = clock()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.stopped = clock()


# --- what a procs pool's worker process holds -------------------------------------------
_FN: Optional[Callable[..., Any]] = None
_TASKS: Sequence[Task] = ()


def _load(module: str, function: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(module), function)


def _proc_init(module: str, function: str, tasks: Sequence[Task]) -> None:
    """Pool initializer: the parent handles Ctrl-C; keep the function and the inputs."""
    global _FN, _TASKS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _FN, _TASKS = _load(module, function), tasks


def _ready() -> int:
    return os.getpid()


def _proc_task(index: int) -> Tuple[Any, float, float, int, float]:
    """One task in a pool process: (digest, start, end, pid, CPU seconds of the call)."""
    assert _FN is not None, "pool initializer did not run"
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = clock()
    answer = _FN(*_TASKS[index])
    end = clock()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return digest(answer), start, end, os.getpid(), cpu


def _call_here(fn: Callable[..., Any], args: Task) -> Tuple[Any, float, float, int, float]:
    start = clock()
    answer = fn(*args)
    return answer, start, clock(), threading.get_native_id(), 0.0


class _ProcessPool(cf.ProcessPoolExecutor):
    """ProcessPoolExecutor, mended where PyPy 7.3.11's stdlib (Debian's pypy3) renamed
    `_adjust_process_count` to `_adjust_process_count_cpython` yet still calls the old name
    for every start method but fork (AttributeError on the first submit)."""

    if not hasattr(cf.ProcessPoolExecutor, "_adjust_process_count"):
        _adjust_process_count = getattr(cf.ProcessPoolExecutor, "_adjust_process_count_cpython", None)


def _usage_s() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


class Cell:
    """One cell's executor here: seq, threads or procs with `workers` workers."""

    def __init__(self, executor: str, workers: int, fn: Callable[..., Any], module: str,
                 function: str, tasks: Sequence[Task]) -> None:
        self.executor, self.workers, self.fn, self.tasks = executor, workers, fn, tasks
        self.pool: Optional[cf.Executor] = None
        self.failure = ""
        t0 = clock()
        if executor == "threads":
            self.pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="lab")
        elif executor == "procs":
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            if ctx.get_start_method() == "forkserver":
                ctx.set_forkserver_preload([__name__, module])
            self.pool = _ProcessPool(workers, mp_context=ctx, initializer=_proc_init,
                                         initargs=(module, function, tuple(tasks)))
            try:  # submitted together, these start every worker before the first answer
                for future in [self.pool.submit(_ready) for _ in range(workers)]:
                    future.result()
            except BaseException:
                self.close(abort=True)
                raise
        elif executor != "seq":
            raise ValueError("the worker runs seq, threads and procs, not %r" % executor)
        self.startup_s = clock() - t0

    def run(self) -> Tuple[List[Any], List[Tuple[float, float, int]], float]:
        """Every task once: (answers in task order, spans, CPU seconds of pool processes)."""
        if self.executor == "seq":
            done = [_call_here(self.fn, args) for args in self.tasks]
        elif self.executor == "threads":
            assert self.pool is not None
            futures = [self.pool.submit(_call_here, self.fn, args) for args in self.tasks]
            done = [f.result() for f in futures]
        else:
            assert self.pool is not None
            futures = [self.pool.submit(_proc_task, i) for i in range(len(self.tasks))]
            done = [f.result() for f in futures]
        return ([d[0] for d in done], [(d[1], d[2], d[3]) for d in done], sum(d[4] for d in done))

    def digests(self, answers: List[Any]) -> List[Any]:
        """The answers of `run` as they travel (a procs pool digested them already)."""
        return answers if self.executor == "procs" else [digest(a) for a in answers]

    def close(self, abort: bool = False) -> None:
        pool, self.pool = self.pool, None
        if pool is None:
            return
        if abort:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=abort)


class Session:
    """The requests of one harness: the function, the open cells and their rounds."""

    def __init__(self) -> None:
        self.fn: Optional[Callable[..., Any]] = None
        self.module = self.function = ""
        self.cells: List[Any] = []  # Cell or _FailedCell, in the order of the specs

    def load(self, module: str, function: str) -> float:
        """Import the task function; the seconds it took (the cells' load_s)."""
        t0 = clock()
        self.fn, self.module, self.function = _load(module, function), module, function
        return clock() - t0

    def call(self, args: Task) -> Any:
        """One task, untimed here (the harness calibrates with it)."""
        assert self.fn is not None, "load first"
        return digest(self.fn(*args))

    def open(self, tasks: Sequence[Task], specs: Sequence[Tuple[str, int]], warmup: bool) -> List[Dict[str, Any]]:
        """Start a cell per (executor, workers) and run its warm-up; per cell: start-up,
        warm-up answers (digested) or the failure."""
        assert self.fn is not None, "load first"
        self.close()
        out = []
        for executor, workers in specs:
            reply: Dict[str, Any] = {"startup_s": 0.0, "answers": None, "failure": ""}
            cell: Any = None
            try:
                cell = Cell(executor, workers, self.fn, self.module, self.function, tasks)
                reply["startup_s"] = cell.startup_s
                if warmup:
                    reply["answers"] = cell.digests(cell.run()[0])
            except Exception as exc:  # a task raised, a process died: this cell failed
                reply["failure"] = _failure(exc)
                if cell is not None:
                    cell.close(abort=True)
                cell = _FailedCell(reply["failure"])
            self.cells.append(cell)
            out.append(reply)
        return out

    def round(self, probe: bool) -> List[Dict[str, Any]]:
        """One timed run of every open cell, in order; per cell its figures or failure."""
        out = []
        for cell in self.cells:
            if cell.failure:
                out.append({"failure": cell.failure})
                continue
            try:
                out.append(_timed(cell, probe))
            except Exception as exc:
                cell.failure = _failure(exc)
                cell.close(abort=True)
                out.append({"failure": cell.failure})
        return out

    def close(self) -> None:
        cells, self.cells = self.cells, []
        for cell in cells:
            cell.close()


class _FailedCell:
    """A cell whose executor could not start: only its failure remains."""

    def __init__(self, failure: str) -> None:
        self.failure = failure

    def close(self, abort: bool = False) -> None:
        pass


def _failure(exc: BaseException) -> str:
    if isinstance(exc, cf.process.BrokenProcessPool):
        return "a worker process died (%s)" % exc
    return "%s: %s" % (type(exc).__name__, exc)


def _timed(cell: Cell, probe: bool) -> Dict[str, Any]:
    """One timed run of `cell`, with the heartbeat around exactly that run; answers are
    digested after the clock stops."""
    beat = Heartbeat() if probe else None
    with beat if beat is not None else contextlib.nullcontext():
        cpu0, t0 = _usage_s(), clock()
        answers, spans, pool_cpu = cell.run()
        wall = clock() - t0
        cpu = _usage_s() - cpu0 + pool_cpu
    run: Dict[str, Any] = {"wall": wall, "cpu": cpu, "spans": spans,
                           "answers": cell.digests(answers), "failure": ""}
    if beat is not None:
        run.update(late=beat.late, lifetime=beat.stopped - beat.started, floor=Heartbeat.floor())
    return run


def serve(read_fd: int, write_fd: int) -> int:
    """Answer requests until the harness closes the pipe (or sends "quit")."""
    requests, replies = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    session = Session()
    handlers: Dict[str, Callable[..., Any]] = {
        "hello": facts, "load": session.load, "call": session.call, "open": session.open,
        "round": session.round, "close": session.close,
    }
    try:
        while True:
            try:
                request = requests.recv()
            except EOFError:
                return 0
            name, args = request[0], request[1:]
            if name == "quit":
                return 0
            try:
                replies.send(("ok", handlers[name](*args)))
            except Exception as exc:
                replies.send(("error", _failure(exc)))
    finally:
        session.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -c "from labsrc.interpreters.worker import main; main()" READ_FD WRITE_FD`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if sys.version_info < MIN_VERSION:
        sys.stderr.write("the gil-lab worker needs Python >= 3.9\n")
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness handles Ctrl-C and ends us
    # Anything a kernel prints goes to stderr; the protocol has pipes of its own.
    os.dup2(2, 1)
    return serve(int(args[0]), int(args[1]))
