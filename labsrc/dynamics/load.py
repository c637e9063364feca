"""Background CPU load: N daemon threads (or processes) running one catalog kernel in a loop.

    with BackgroundLoad("primes", "py", 2) as load:
        before = load.snapshot()
        ...                                   # measure something else meanwhile
        rate = load.rate_since(before)        # work units per second since `before`

A *work unit* is one task of the kernel at scale 1 (a call at scale s counts s units), so
implementations of one kernel compare directly. Every worker checks its first result and
its last one with the kernel's verifier (never the implementation under test); it verifies
nothing in between, because verifying is Python code that would hold the GIL and disturb
what a `cy_nogil` load is there to show. Workers are stopped and joined on every path
(with a timeout), and a worker that failed makes `stop()` raise `LoadError`.

The implementation name `procs` means the kernel's `py` implementation run in processes
(multiprocessing, `forkserver` start method): the same work, none of it under our GIL.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Any, Callable, Optional

from flags.mpcontext import process_context
from labsrc.kernels.catalog import (
    Kernel,
    TaskArgs,
    get_kernel,
    kernels,
)

#: The pseudo-implementation "the `py` work in processes".
PROCS = "procs"
#: Default length of one call: under the default 5 ms switch interval, so a GIL-holding C
#: call does not set the latency by its own length unless asked to (--chunk-ms).
DEFAULT_CHUNK_S = 0.002
MAX_WORKERS = 64
_START_TIMEOUT_S = 60.0  # a first call plus its verification, or a process start-up

_clock = time.perf_counter  # CLOCK_MONOTONIC on Linux: shared with other processes


class LoadError(RuntimeError):
    """A background worker failed (wrong answer, exception, died, did not start or stop)."""


@dataclass(frozen=True)
class LoadSnapshot:
    """Work done so far at one instant (perf_counter seconds)."""

    t: float
    units: int
    calls: int


@dataclass(frozen=True)
class LoadResult:
    """What a whole load run did, start to stop."""

    kernel: str
    impl: str
    workers: int
    runner: str
    scale: int
    calls: int
    units: int
    elapsed_s: float

    @property
    def work_per_s(self) -> float:
        """Work units (scale-1 tasks) per second over the run."""
        return self.units / self.elapsed_s if self.elapsed_s > 0 else 0.0


def runner_of(impl: str) -> tuple[str, str]:
    """(task implementation, runner): `procs` is `py` in processes, anything else threads."""
    return ("py", "procs") if impl == PROCS else (impl, "threads")


def resolve(kernel_name: str, impl: str) -> tuple[Kernel, Callable[..., Any]]:
    """The kernel and the task function behind `impl` (`procs` -> `py`).

    ValueError names the valid kernels or implementations (plus `procs`); ImplUnavailable
    says why a known implementation cannot run here (e.g. cext not built)."""
    try:
        kernel = get_kernel(kernel_name)
    except KeyError:
        valid = ", ".join(k.name for k in kernels())
        raise ValueError(f"unknown kernel {kernel_name!r}; choose from: {valid}") from None
    task_impl, _ = runner_of(impl)
    if task_impl not in kernel.impl_names:
        valid = ", ".join((*kernel.impl_names, PROCS) if "py" in kernel.impl_names else kernel.impl_names)
        raise ValueError(f"unknown implementation {impl!r} for {kernel.name}; choose from: {valid}")
    return kernel, kernel.impl(task_impl).load()


def call_seconds(kernel: Kernel, fn: Callable[..., Any], scale: int, tries: int = 3) -> float:
    """The fastest of `tries` timed calls at `scale` (after one warm-up call)."""
    args = kernel.make_workload(1, scale)[0]
    fn(*args)
    best = float("inf")
    for _ in range(tries):
        t0 = _clock()
        fn(*args)
        best = min(best, _clock() - t0)
    return best


def calibrate_scale(kernel: Kernel, fn: Callable[..., Any], chunk_s: float) -> int:
    """The scale whose one call takes about `chunk_s` (at least 1: the finest grain)."""
    one = call_seconds(kernel, fn, 1)
    scale = max(1, round(chunk_s / one)) if one > 0 else 1
    if scale > 1 and scale * one > 0.02:  # a long call: time it at its own size, work is not
        scale = max(1, round(chunk_s / (call_seconds(kernel, fn, scale, tries=1) / scale)))
    return scale


def parse_load_spec(text: str) -> tuple[str, str, int]:
    """`KERNEL/IMPL:N` (N defaults to 1) -> (kernel, impl, N); ValueError with the reason."""
    body, _, count = text.partition(":")
    kernel, slash, impl = body.partition("/")
    if not slash or not kernel or not impl:
        raise ValueError(f"expected KERNEL/IMPL[:THREADS], e.g. primes/py:1, got {text!r}")
    try:
        n = int(count) if count else 1
    except ValueError:
        raise ValueError(f"THREADS in {text!r} must be a whole number") from None
    if not 0 <= n <= MAX_WORKERS:
        raise ValueError(f"THREADS must be 0..{MAX_WORKERS}, got {n}")
    resolve(kernel, impl)
    return kernel, impl, n


def _work_loop(fn: Callable[..., Any], args: TaskArgs, verify: Callable[[TaskArgs, Any], None],
               stop: Callable[[], bool], count: Callable[[], None], ready: Callable[[], None]) -> None:
    """Verify one call, say ready, then call until told to stop; verify the last result."""
    result = fn(*args)
    verify(args, result)
    count()
    ready()
    while not stop():
        result = fn(*args)
        count()
    verify(args, result)


def _proc_main(kernel_name: str, impl: str, args: TaskArgs, counter: Any, stop: Any,
               conn: Connection) -> None:
    """A load process: the same loop as a thread; reports 'ready', then 'done' or an error."""
    try:
        kernel = get_kernel(kernel_name)
        fn = kernel.impl(impl).load()

        def count() -> None:
            counter.value += 1  # only this process writes it; the parent only reads

        _work_loop(fn, args, kernel.verify, stop.is_set, count, lambda: conn.send("ready"))
        conn.send("done")
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent reports it
        pass
    except BaseException as exc:
        conn.send(f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def _read(conn: Connection) -> str:
    """The worker's message if one is waiting, else "" (also at EOF: the worker died)."""
    try:
        return str(conn.recv()) if conn.poll() else ""
    except (EOFError, OSError):
        return ""


class BackgroundLoad:
    """`workers` threads (or processes for impl `procs`) running `kernel`/`impl` until stopped.

    scale: the work of one call (default: calibrated so one call takes `chunk_s`).
    join_timeout: how long stop() waits for each worker to finish its current call.
    `workers=0` is a valid, idle load (a baseline), with work_per_s 0.
    """

    def __init__(self, kernel: str, impl: str, workers: int, *, scale: Optional[int] = None,
                 chunk_s: float = DEFAULT_CHUNK_S, join_timeout: float = 10.0) -> None:
        if not 0 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be 0..{MAX_WORKERS}, got {workers}")
        self.kernel, self.fn = resolve(kernel, impl)
        self.impl = impl
        self.task_impl, self.runner = runner_of(impl)
        self.workers = workers
        self.scale = scale if scale is not None else (
            calibrate_scale(self.kernel, self.fn, chunk_s) if workers else 1)
        self.join_timeout = join_timeout
        self._stop_flag = threading.Event()
        self._counts = [0] * workers  # per worker: each writes only its own slot
        self._threads: list[threading.Thread] = []
        self._procs: list[Any] = []
        self._conns: list[Connection] = []
        self._values: list[Any] = []
        self._proc_stop: Any = None
        self._errors: list[str] = []
        self._started_at = 0.0
        self._result: Optional[LoadResult] = None

    # -- counting ---------------------------------------------------------------------
    def calls(self) -> int:
        """Calls completed so far by all workers."""
        if self.runner == "procs":
            return sum(v.value for v in self._values)
        return sum(self._counts)

    def snapshot(self) -> LoadSnapshot:
        """Now, and the work done so far."""
        calls = self.calls()
        return LoadSnapshot(_clock(), calls * self.scale, calls)

    def rate_since(self, before: LoadSnapshot) -> float:
        """Work units per second from `before` to now."""
        now = self.snapshot()
        dt = now.t - before.t
        return (now.units - before.units) / dt if dt > 0 else 0.0

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> "BackgroundLoad":
        """Start the workers and wait until each has made (and verified) its first call."""
        workload = self.kernel.make_workload(max(self.workers, 1), self.scale)
        try:
            if self.runner == "procs":
                self._start_procs(workload)
            else:
                self._start_threads(workload)
        except BaseException:
            self.stop(raise_errors=False)
            raise
        self._started_at = _clock()
        return self

    def _start_threads(self, workload: list[TaskArgs]) -> None:
        ready = threading.Semaphore(0)
        for i in range(self.workers):
            thread = threading.Thread(target=self._thread_main, args=(i, workload[i], ready),
                                      name=f"load-{i}", daemon=True)
            self._threads.append(thread)
            thread.start()
        deadline = _clock() + _START_TIMEOUT_S
        for _ in range(self.workers):
            # A failed worker also releases the semaphore, so this never waits for a dead one.
            if not ready.acquire(timeout=max(0.0, deadline - _clock())):
                raise LoadError(f"the load threads did not start within {_START_TIMEOUT_S:.0f} s")
            if self._errors:
                raise LoadError(f"a load thread failed: {self._errors[0]}")

    def _thread_main(self, i: int, args: TaskArgs, ready: threading.Semaphore) -> None:
        def count() -> None:
            self._counts[i] += 1

        try:
            _work_loop(self.fn, args, self.kernel.verify, self._stop_flag.is_set, count, ready.release)
        except BaseException as exc:
            self._errors.append(f"{type(exc).__name__}: {exc}")
            ready.release()

    def _start_procs(self, workload: list[TaskArgs]) -> None:
        ctx = process_context()
        self._proc_stop = ctx.Event()
        for i in range(self.workers):
            parent, child = ctx.Pipe(duplex=False)
            value = ctx.Value("q", 0, lock=False)
            proc = ctx.Process(target=_proc_main, name=f"load-{i}", daemon=True,
                               args=(self.kernel.name, self.task_impl, workload[i], value,
                                     self._proc_stop, child))
            self._values.append(value)
            self._conns.append(parent)
            self._procs.append(proc)
            proc.start()
            child.close()
        deadline = _clock() + _START_TIMEOUT_S
        for proc, conn in zip(self._procs, self._conns):
            left = max(0.0, deadline - _clock())
            if not wait([conn, proc.sentinel], timeout=left):
                raise LoadError(f"a load process did not start within {_START_TIMEOUT_S:.0f} s")
            message = _read(conn) or f"exited with status {proc.join(1) or proc.exitcode}"
            if message != "ready":
                raise LoadError(f"a load process failed: {message}")

    def stop(self, raise_errors: bool = True) -> LoadResult:
        """Stop and join every worker (terminating late processes); the run's totals.

        Raises LoadError (after everything is stopped) when a worker failed, unless
        `raise_errors` is false. Safe to call more than once."""
        if self._result is None:
            end = _clock()
            calls = self.calls()
            self._stop_flag.set()
            if self._proc_stop is not None:
                self._proc_stop.set()
            self._join_threads()
            self._join_procs()
            self._result = LoadResult(self.kernel.name, self.impl, self.workers, self.runner,
                                      self.scale, calls, calls * self.scale,
                                      end - self._started_at if self._started_at else 0.0)
        if raise_errors and self._errors:
            raise LoadError(f"background {self.kernel.name}/{self.impl}: {self._errors[0]}")
        return self._result

    def _join_threads(self) -> None:
        deadline = _clock() + self.join_timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - _clock()))
        stuck = sum(t.is_alive() for t in self._threads)
        if stuck:  # a thread cannot be killed; it is a daemon and dies with the process
            print(f"gil-lab: {stuck} load thread(s) still in a call after {self.join_timeout:.0f} s",
                  file=sys.stderr)

    def _join_procs(self) -> None:
        deadline = _clock() + self.join_timeout
        for proc, conn in zip(self._procs, self._conns):
            wait([conn, proc.sentinel], timeout=max(0.0, deadline - _clock()))
            message = _read(conn)
            if message not in ("done", ""):
                self._errors.append(message)
            proc.join(timeout=max(0.0, deadline - _clock()))
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=2)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=2)
            if proc.exitcode not in (0, None) and not self._errors:
                self._errors.append(f"load process exited with status {proc.exitcode}")
            conn.close()

    def __enter__(self) -> "BackgroundLoad":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # On an exception the load's own errors must not hide the one already in flight.
        self.stop(raise_errors=exc_type is None)
