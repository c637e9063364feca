"""The machine's parallel ceiling: what N cores gave a plain C loop, measured beside the cells.

Two vCPUs of a shared host do not give 2x: a register-only C loop run alone and then as two
copies at once gave 1.84x, 1.87x and 1.97x in three back-to-back tries on one machine, and a
scaling figure of 1.63x means little unless the reader knows what the machine gave at that
moment. So every round of an implementation's cells (labsrc.harness.matrix) also times
`cext._spin.spin` once alone and once as N threads at once, for each worker count N its
cells use: N x (alone) / (together) is the ceiling of that round, and a cell's ceiling is
the median over the rounds it was timed in, so it met the same bursts of load.

Where an implementation's cells include process pools (procs, mp_pool, dask_procs), the
spin also runs in N worker processes of a pool kept for its rounds, alone and N at once
through the same pool (so both pay the same hand-off): those cells are judged against the
process ceiling, stored under "N processes". N threads of a GIL-free loop that touches no
memory need the same N cores as N processes, and the two read alike on a quiet machine;
measuring both keeps any difference (scheduling, a host that treats processes otherwise)
out of the verdicts.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import statistics
import threading
import time
from typing import Any, Callable, Iterable, Optional

# One spin: long against waking an idle vCPU. Measured here, two copies of a 50 ms spin gave
# 1.65-1.88x where 190 ms ones gave 1.88-1.99x, in the same minute, GIL switch interval or
# not: the host takes milliseconds to put an idle vCPU back to work, which a cell's longer
# runs amortise and a short spin does not. So a round's spin lasts as long as that round's
# parallel runs, between these bounds (labsrc.harness.matrix): a 20 ms spin beside cells of
# 0.3 s read 1.53x and 1.62x in two full `compare` runs whose cy_nogil threads got 1.94-1.98x.
SPIN_TARGET_S = 0.2
SHORTEST_SPIN_S = 0.005  # beside tiny cells (tests, smoke runs): short and as fair as they are
CALIBRATION_S = 0.02  # the one-core rate is measured on a spin at least this long
JOIN_TIMEOUT_S = 30.0  # a spin takes SPIN_TARGET_S; this only bounds a stuck machine
LOW_CEILING = 1.2  # on two cores, below this the run cannot teach parallel speedups
READ_LOW = 1.10  # a cell this far above its own rounds' ceiling, at its noise's low end: it read low
_FIRST_STEPS = 1 << 20
CHUNKS = 4  # pieces per worker of a "together" spin, by default: a cell's 8 tasks on 2 workers
PROCESS_EXECUTORS = frozenset({"procs", "mp_pool", "dask_procs"})  # cells judged by the process ceiling


def load_spin() -> tuple[Optional[Callable[[int], int]], str]:
    """(cext._spin.spin, '') or (None, why it cannot be imported)."""
    try:
        from cext._spin import spin
    except ImportError as exc:
        return None, f"cext._spin is not built ({exc}): pip install -e . builds it"
    return spin, ""


def key(workers: int, processes: bool = False) -> str:
    """Where a ceiling is filed (results.json env["ceiling"]): "2" for 2 threads, "2 processes"."""
    return f"{workers} processes" if processes else str(workers)


def label(key: str) -> str:
    """'2 workers' for the key "2" (threads), the key itself otherwise ('2 processes')."""
    return f"{key} workers" if key.isdigit() else key


def workers_of(key: str) -> int:
    return int(key.split()[0])


def spin_in_worker(steps: int) -> int:
    """The spin, in a worker process of the process ceiling (importable there by name)."""
    spin, reason = load_spin()
    if spin is None:
        raise RuntimeError(reason)
    return spin(steps)


class CeilingSampler:
    """Times the spin alone and N at once, once per `sample()` call, for each worker count;
    as threads for `worker_counts`, in processes for `process_counts` when given a pool
    factory (`process_pool(n)` -> a concurrent.futures executor of n processes)."""

    def __init__(self, worker_counts: Iterable[int], target_s: float = SPIN_TARGET_S,
                 process_counts: Iterable[int] = (),
                 process_pool: Optional[Callable[[int], cf.Executor]] = None) -> None:
        self.worker_counts = sorted({n for n in worker_counts if n > 1})
        self.process_counts = sorted({n for n in process_counts if n > 1}) if process_pool else []
        self.target_s = target_s
        self.spin, self.reason = load_spin()
        self._steps_per_s = 0.0
        self._ratios: dict[str, list[float]] = {key(n): [] for n in self.worker_counts}
        self._ratios.update({key(n, True): [] for n in self.process_counts})
        self._make_pool = process_pool
        self._pool: Optional[cf.Executor] = None

    def _processes(self) -> cf.Executor:
        """The pool of the process ceiling, started (and every process warmed) on first use."""
        if self._pool is None:
            assert self._make_pool is not None
            most = max(self.process_counts)
            self._pool = self._make_pool(most)
            for future in [self._pool.submit(spin_in_worker, 1) for _ in range(4 * most)]:
                future.result(timeout=JOIN_TIMEOUT_S)
        return self._pool

    def close(self) -> None:
        """Stop the process ceiling's pool, bounded (shutdown(wait=True) has no timeout): its
        workers are idle between samples, and a spin lasts at most SPIN_TARGET_S."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()

    @property
    def available(self) -> bool:
        return self.spin is not None

    def _calibrate(self) -> float:
        """Steps a second on one core, doubling from a small count to a spin of CALIBRATION_S."""
        assert self.spin is not None
        steps = _FIRST_STEPS
        while True:
            took = _timed(self.spin, steps)
            if took >= CALIBRATION_S or steps >= 1 << 40:
                return steps / max(took, 1e-9)
            steps *= 2

    def sample(self, spin_s: Optional[float] = None, tasks: int = 0) -> None:
        """One round: for each worker count N, the spin alone then N times that work at once,
        each worker's share lasting about `spin_s` (the sampler's target_s by default), cut
        into as many pieces as the round's cells give a worker tasks (`tasks` / N; CHUNKS
        when not given): the same shape of work, balanced the same way."""
        if self.spin is None or not self.worker_counts:
            return
        if not self._steps_per_s:
            self._steps_per_s = self._calibrate()
        steps = max(1, int(self._steps_per_s * (spin_s or self.target_s)))
        for n in self.worker_counts:
            alone = _timed(self.spin, steps)
            together = _timed_together(self.spin, steps, n, _chunks(tasks, n))
            self._ratios[key(n)].append(n * alone / together)
        for n in self.process_counts:
            pool = self._processes()
            alone = _timed_in(pool, steps, 1, 1)
            together = _timed_in(pool, steps, n, _chunks(tasks, n))
            self._ratios[key(n, True)].append(n * alone / together)

    def filed(self) -> dict[str, tuple[float, ...]]:
        """Every round's ceiling so far, by key ("2", "2 processes")."""
        return {k: tuple(v) for k, v in self._ratios.items()}

    def ratios(self, workers: int, processes: bool = False) -> tuple[float, ...]:
        """The ceiling of each round so far for `workers` threads or processes (empty for one
        worker, or for processes not sampled)."""
        return tuple(self._ratios.get(key(workers, processes), ()))


def _timed(spin: Callable[[int], int], steps: int) -> float:
    start = time.perf_counter()
    spin(steps)
    return time.perf_counter() - start


def _chunks(tasks: int, n: int) -> int:
    return max(1, tasks // n) if tasks else CHUNKS


def _timed_together(spin: Callable[[int], int], steps: int, n: int, chunks: int = CHUNKS) -> float:
    """Wall time of n threads doing n x steps of spin between them, in `chunks` pieces each,
    taken from a shared count (released together by a barrier). Pieces, not one spin each,
    because the pools do the same: a worker that gets a free core takes more tasks. With one
    fixed spin per thread, the one that shared a core with another program set the time:
    beside a neighbour keeping half a core busy, fixed spins read 1.50-1.58x while
    cy_prange (a dynamic schedule) got 1.72x in the same rounds; cut finer than the cells'
    tasks (8 pieces a worker beside 4 tasks) they read 4-12% above the cells."""
    gate = threading.Barrier(n + 1, timeout=JOIN_TIMEOUT_S)
    pieces = _Pieces(n * chunks)
    piece = max(1, steps // chunks)
    threads = [threading.Thread(target=_released_spins, args=(gate, spin, piece, pieces), daemon=True)
               for _ in range(n)]
    for thread in threads:
        thread.start()
    gate.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    took = time.perf_counter() - start
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"a ceiling spin did not finish within {JOIN_TIMEOUT_S:g} s")
    return took


class _Pieces:
    """A count of pieces of work left, taken one at a time by any thread (GIL or none)."""

    def __init__(self, count: int) -> None:
        self._left = count
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


def _released_spins(gate: threading.Barrier, spin: Callable[[int], int], piece: int, pieces: _Pieces) -> None:
    gate.wait()
    while pieces.take():
        spin(piece)


def _timed_in(pool: cf.Executor, steps: int, n: int, chunks: int = CHUNKS) -> float:
    """Wall time of n x steps of spin in a pool of processes, as n x `chunks` tasks of
    steps / chunks submitted together (the pool balances them, as it does a cell's tasks),
    until the last answer; alone: one task of `steps`."""
    calls = [steps] if n == 1 else [max(1, steps // chunks)] * (n * chunks)
    start = time.perf_counter()
    for future in [pool.submit(spin_in_worker, count) for count in calls]:
        future.result(timeout=JOIN_TIMEOUT_S)
    return time.perf_counter() - start


def summary(ratios: Iterable[float]) -> dict[str, Any]:
    """{'median', 'min', 'max', 'rounds'} of some rounds' ceilings (None figures without any)."""
    values = list(ratios)
    if not values:
        return {"median": None, "min": None, "max": None, "rounds": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": len(values)}


def measure(worker_counts: Iterable[int], rounds: int = 5, target_s: float = SPIN_TARGET_S,
            process_pool: Optional[Callable[[int], cf.Executor]] = None) -> dict[str, dict[str, Any]]:
    """A quick measure on its own (`gil-lab env --ceiling`): {key: summary} over `rounds`,
    threads and (given a pool factory) processes. RuntimeError when the spin is not built."""
    counts = list(worker_counts)
    sampler = CeilingSampler(counts, target_s, counts, process_pool)
    if not sampler.available:
        raise RuntimeError(sampler.reason)
    try:
        for _ in range(rounds):
            sampler.sample()
    finally:
        sampler.close()
    return {k: summary(v) for k, v in sampler.filed().items()}


def run_ceilings(cells: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """{key: summary} over every round of a run's cells (results.json's env["ceiling"]: "2"
    for threads, "2 processes"). The cells of one implementation share their rounds, so each
    (kernel, impl, key) counts once; rows from another interpreter (impl@label) measured their
    own and are left out."""
    pooled: dict[str, list[float]] = {}
    seen = set()
    for cell in cells:
        filed = key(cell.workers, cell.executor in PROCESS_EXECUTORS)
        if "@" in cell.impl or not cell.ceiling_ratios or (cell.kernel, cell.impl, filed) in seen:
            continue
        seen.add((cell.kernel, cell.impl, filed))
        pooled.setdefault(filed, []).extend(cell.ceiling_ratios)
    return {k: summary(pooled[k]) for k in sorted(pooled, key=lambda k: (workers_of(k), k))}


def describe(ceilings: dict[str, dict[str, Any]]) -> str:
    """'2 workers: 1.93x (1.84-1.97x, 40 rounds)', joined by '; ' ('' without any)."""
    return "; ".join(f"{label(n)}: {s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f}x, {s['rounds']} rounds)"
                     for n, s in ceilings.items() if s.get("rounds"))


def too_low(ceilings: dict[str, dict[str, Any]]) -> list[str]:
    """The worker counts whose median ceiling is below LOW_CEILING: such a run cannot teach
    parallel speedups (it is kept, and says so)."""
    return [n for n, s in ceilings.items() if s.get("rounds") and s["median"] < LOW_CEILING]


def beat_the_ceiling(cells: Iterable[Any]) -> Optional[Any]:
    """The OK cell furthest above its rounds' ceiling, when even its low speedup (baseline's
    fastest run over its slowest) is beyond READ_LOW of it: then the ceiling itself read low
    in this run (seen in a full compare whose spins were too short: 1.62x while cy_nogil
    threads reached 1.98x), and nothing may be judged against it. Judged on the low end
    because a median can beat the ceiling by noise alone (py procs 2.05x, noise 1.79-2.17x,
    beside a ceiling of 1.94x); by 10% because a finer schedule balances better than the
    spin's pieces beside another program (cy_prange's rows: 109% of the ceiling). Only
    cells in this process count: a worker process can run the same code faster than the
    parent (its heap, its layout: the bench prints that pace), so primes py procs reached
    2.10x beside a process ceiling of 1.85x in a quiet run, and the ceiling was not at fault."""
    above = [c for c in cells if c.ok and c.executor not in PROCESS_EXECUTORS and math.isfinite(c.speedup)
             and math.isfinite(c.of_ceiling) and _low_end(c) > READ_LOW * c.ceiling]
    return max(above, key=lambda c: c.of_ceiling, default=None)


def _low_end(cell: Any) -> float:
    """The cell's speedup at its noise's low end (its median one where that is unknown)."""
    return cell.speedup_low if math.isfinite(cell.speedup_low) else cell.speedup
