"""Timing one cell: open its executor, warm up, time single runs, then summarise.

`CellRun` splits a cell into steps so that labsrc.harness.matrix can interleave the cells of one
implementation round by round: on a shared machine, load comes and goes over seconds, and
cells measured side by side see the same load, which keeps their speedups (ratios of
medians) honest.

Rules, applied here once:
- a warm-up run first (verified, not timed), then timed runs; the cell keeps each run's
  wall and CPU seconds, raw (labsrc.core.results derives the statistics);
- CPU seconds = RUSAGE_SELF + RUSAGE_CHILDREN deltas of the parent, plus what live pool
  workers report per task (they are not in RUSAGE_CHILDREN until they exit);
- every answer of every run is checked right after its run, outside the timing, so
  checking costs neither wall time nor probe contention, then dropped (memory stays
  bounded, no run inherits another's pages); a digest (recipe payload) is compared with the
  digest of an answer that passed the kernel's verifier in this process;
- no probe runs during the timed runs that speedups come from: the GIL heartbeat
  competes with GIL-holding work for the GIL in the parent only (+2% on a `py` seq
  cell), which would make a process pool's speedup read above the core count. Each
  cell gets one more run, verified but kept apart from its walls, with the GilProbe
  (and optionally gilknocker) around it: the contention figures come from that run;
- prange implementations (`inner_threads`) get `num_threads=workers` under `seq` (one
  call, N OpenMP threads) and `num_threads=1` inside pools, so the number of busy
  threads always equals `workers`.
"""

from __future__ import annotations

import pickle
import resource
import statistics
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from labsrc.executors.registry import (
    Executor,
    ExecutorUnavailable,
    RunOutput,
    Work,
    WorkerCrashed,
    executor_available,
    make_executor,
    runs_in_process,
)
from labsrc.kernels.catalog import Impl, Kernel, VerificationError
from labsrc.core.names import ExecutorName, Payload, Status
from labsrc.core.probe import GilProbe, combined_stats
from labsrc.core.results import Cell
from labsrc.core.worker import CHECKSUMS, ResultDigest, TaskRef, clock, digest


TARGET_S = 0.2  # the least sequential work per calibrated workload


@dataclass(frozen=True)
class Options:
    """How to measure: repeats, tasks per cell, calibration target or a fixed scale."""

    repeats: int = 5
    tasks: int = 8
    target_s: float = TARGET_S
    scale: Optional[int] = None  # fixed scale: skip calibration (tests, reproductions)
    quick: bool = False
    probe: bool = True
    knocker: bool = False
    warmup: bool = True
    payloads: tuple[Payload, ...] = (Payload.RECIPE,)  # for process executors


def inner_threads_for(impl: Impl, executor: str, workers: int) -> Optional[int]:
    """num_threads passed to a prange implementation under this executor (None: not one)."""
    if not impl.inner_threads:
        return None
    return workers if executor == ExecutorName.SEQ else 1


def _usage_s() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


class Checker:
    """Checks every answer of one implementation's work, for all of its cells.

    Whole answers go through the kernel's verifier (never the twin under test). A digest,
    which a recipe-payload worker sends instead of a large answer, is compared with the
    digest of an answer that passed that verifier here: kept from an in-process cell of the
    same work when `keep_digests`, else computed once with the implementation itself.
    """

    def __init__(self, kernel: Kernel, impl: Impl, work: Work, keep_digests: bool = False) -> None:
        self.kernel, self.impl, self.work = kernel, impl, work
        self.keep_digests = keep_digests
        self._digests: dict[int, Any] = {}

    def check(self, out: RunOutput) -> None:
        """Raise VerificationError unless every answer of `out` is right."""
        if len(out.results) != len(self.work.args):
            raise VerificationError(f"{len(out.results)} results for {len(self.work.args)} tasks")
        for index, (args, answer) in enumerate(zip(self.work.args, out.results)):
            if isinstance(answer, ResultDigest):
                if answer.algorithm not in CHECKSUMS:  # e.g. a remote worker with another checksum
                    raise VerificationError(
                        f"the worker summarised its answer with {answer.algorithm}, this process "
                        f"can check {', '.join(CHECKSUMS)}: install the same gil-lab on both")
                expected = self._expected_digest(index, answer.algorithm)
                if answer != expected:
                    raise VerificationError(
                        f"{self.kernel.name} task {index}: the worker's answer has digest {answer},"
                        f" expected {expected}")
                continue
            self.kernel.verify(args, answer)
            if self.keep_digests and index not in self._digests:
                self._digests[index] = digest(answer)

    def _expected_digest(self, index: int, algorithm: str) -> Any:
        """The digest of task `index`'s verified answer by `algorithm` (a worker where xxhash
        cannot load, a 3.13t sub-interpreter, sends CRC-32: computed here again)."""
        kept = self._digests.get(index)
        if kept is None or getattr(kept, "algorithm", algorithm) != algorithm:
            args = self.work.args[index]
            # One OpenMP thread is enough: every thread count gives the same answer.
            kwargs = {"num_threads": 1} if self.impl.inner_threads else {}
            answer = self.impl.load()(*args, **kwargs)
            self.kernel.verify(args, answer)
            kept = self._digests[index] = digest(answer, algorithm)
        return kept


@dataclass
class _TimedRun:
    output: RunOutput
    wall_s: float
    cpu_s: float
    probe: Optional[GilProbe]
    knock: Optional[float]


def _timed_run(ex: Executor, ref: TaskRef, work: Work, opts: Options, probed: bool) -> _TimedRun:
    """One timed run; `probed`: with its own heartbeat (and gilknocker, when asked) for
    exactly its length, where the executor says they beat (here, or in its workers: Dask)."""
    probe = ex.gil_probe() if probed and opts.probe else None
    with ExitStack() as stack:
        knocker = stack.enter_context(ex.knocker_probe()) if probed and opts.knocker else None
        if probe:
            stack.enter_context(probe)
        cpu0, t0 = _usage_s(), clock()
        out = ex.run(ref, work)
        wall = clock() - t0
        cpu = _usage_s() - cpu0 + out.worker_cpu_s
    return _TimedRun(out, wall, cpu, probe, knocker.contention if knocker else None)


class CellRun:
    """One cell in the making: `repeat()` once per timed run (the first call also opens it:
    executor start-up and warm-up), then `finish()`.

    A step that fails (wrong answer, crashed worker, a task raising, executor unavailable)
    marks the cell and closes its executor; later steps then do nothing. Call `close()`
    when abandoning a cell (Ctrl-C): it stops the pool at once.
    """

    def __init__(self, kernel: Kernel, impl: Impl, executor: str, workers: int, work: Work,
                 checker: Checker, opts: Options, payload: Payload = Payload.RECIPE) -> None:
        threads = inner_threads_for(impl, executor, workers)
        self.work, self.checker, self.opts = work, checker, opts
        self.ref = TaskRef(kernel.name, impl.name, () if threads is None else (("num_threads", threads),))
        self.cell = Cell(kernel.name, impl.name, executor, workers, len(work.args), work.scale,
                         opts.repeats, threads, None if runs_in_process(executor) else payload)
        self.runs: list[_TimedRun] = []  # the timed runs: no probe around them
        self.probed: list[_TimedRun] = []  # the probed run, apart from the timed ones
        self._ex: Optional[Executor] = None
        self._opened = False

    @property
    def alive(self) -> bool:
        return self.cell.ok and self._ex is not None

    def open(self) -> None:
        """Start the executor (start-up timed apart) and run the verified warm-up."""
        self._opened = True
        ok, reason = executor_available(self.cell.executor)
        if not ok:
            self.cell.status, self.cell.reason = Status.UNAVAILABLE, reason
            return
        self._ex = make_executor(self.cell.executor, self.cell.workers, self.cell.payload or Payload.RECIPE)
        self.cell.payload = self._ex.payload
        with self._guard():
            self._ex.open(self.ref)
            self.cell.startup_s = self._ex.startup_s
            # A remote Dask cluster decides the worker count; its note says how it differs.
            self.cell.workers, self.cell.reason = self._ex.workers, self._ex.note
            if self.opts.warmup:
                self.checker.check(self._ex.run(self.ref, self.work))

    @property
    def wants_probe(self) -> bool:
        """Whether this cell's options ask for GIL figures (and so for a probed run)."""
        return self.opts.probe or self.opts.knocker

    def repeat(self) -> None:
        """One timed run, without a probe (opening the cell first if needed); checked right
        after, then only its spans are kept."""
        self._run(probed=False)

    def probe_run(self) -> None:
        """The probed run: checked like the others, its wall kept apart (`probed_wall_s`),
        its heartbeat (and gilknocker) figures the cell's GIL contention."""
        if self.wants_probe:
            self._run(probed=True)

    def _run(self, probed: bool) -> None:
        if not self._opened:
            self.open()
        if not self.alive:
            return
        assert self._ex is not None
        with self._guard():
            run = _timed_run(self._ex, self.ref, self.work, self.opts, probed)
            self.checker.check(run.output)
            if self.cell.payload is not None and self.cell.ipc_bytes is None:
                self.cell.ipc_bytes = self._ipc_bytes(run.output.results[0])
            run.output = RunOutput([], run.output.spans, run.output.worker_cpu_s)
            (self.probed if probed else self.runs).append(run)

    def _ipc_bytes(self, answer: Any) -> int:
        """What one task costs to ship to a worker process and back, as pickled bytes."""
        sent: Any = self.work.args[0] if self.cell.payload == Payload.DATA else (self.work.scale, 0)
        return len(pickle.dumps((self.ref, sent))) + len(pickle.dumps(answer))

    def close(self, abort: bool = False) -> None:
        """Stop the executor (at once when `abort`)."""
        ex, self._ex = self._ex, None
        if ex is not None:
            ex.abort() if abort else ex.close()

    def finish(self, interrupted: bool = False) -> Cell:
        """Close the executor and fill in the cell's figures from its runs.

        `interrupted`: Ctrl-C came before every run was done; the cell reports the runs it
        has, and says so.
        """
        self.close(abort=interrupted)
        cell = self.cell
        if interrupted and cell.ok and self.runs:
            cell.reason = f"interrupted after {len(self.runs)} of {cell.repeats} runs"
            cell.repeats = len(self.runs)
        if cell.ok and not self.runs:
            cell.status, cell.reason = Status.FAILED, "no timed run"
        if cell.ok:
            _summarise(cell, self.runs, self.probed)
        return cell

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn a failing step into the cell's status and stop its executor at once."""
        cell = self.cell
        try:
            yield
            return
        except VerificationError as exc:
            cell.status, cell.reason = Status.FAILED, f"WRONG ANSWER: {exc}"
        except WorkerCrashed as exc:
            cell.status, cell.reason = Status.FAILED, str(exc)
        except ExecutorUnavailable as exc:
            cell.status, cell.reason = Status.UNAVAILABLE, str(exc)
        except Exception as exc:  # a task raised: report it as the cell's failure, keep going
            cell.status, cell.reason = Status.FAILED, f"{type(exc).__name__}: {exc}"
        self.close(abort=True)


def _summarise(cell: Cell, runs: list[_TimedRun], probed: list[_TimedRun]) -> None:
    probes = [r.probe for r in probed if r.probe is not None]
    knocks = [(r.knock, r.wall_s) for r in probed if r.knock is not None]
    cell.verified = True
    cell.walls = tuple(r.wall_s for r in runs)
    cell.cpus = tuple(r.cpu_s for r in runs)
    if probed:
        cell.probed_wall_s = statistics.median(r.wall_s for r in probed)
    if knocks:
        cell.gilknocker = sum(k * w for k, w in knocks) / sum(w for _, w in knocks)
    if probes:  # without a probe the GIL figures stay NaN ("-"): unmeasured, not zero
        stats = combined_stats(probes)
        cell.gil_contention = stats.contention
        cell.gil_p50_late_ms = stats.p50_late_s * 1e3
        cell.gil_p99_late_ms = stats.p99_late_s * 1e3
    # Spans of the run closest to the median, relative to that run's first start.
    median_wall = statistics.median(cell.walls)
    median_run = min(runs, key=lambda r: abs(r.wall_s - median_wall)).output
    origin = min(s.start for s in median_run.spans) if median_run.spans else 0.0
    cell.spans = tuple((s.start - origin, s.end - origin, s.worker) for s in median_run.spans)


def measure_cell(kernel: Kernel, impl: Impl, executor: str, workers: int, work: Work,
                 opts: Options, payload: Payload = Payload.RECIPE) -> Cell:
    """Measure one cell on its own; failures become a failed Cell, KeyboardInterrupt propagates."""
    run = CellRun(kernel, impl, executor, workers, work, Checker(kernel, impl, work), opts, payload)
    try:
        run.open()
        for _ in range(opts.repeats):
            run.repeat()
        run.probe_run()
    except BaseException:
        run.close(abort=True)
        raise
    return run.finish()
