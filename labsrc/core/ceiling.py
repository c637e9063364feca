"""The machine's parallel ceiling: what N cores gave a plain C loop, measured beside the cells.

Two vCPUs of a shared host do not give 2x: a register-only C loop run alone and then as two
copies at once gave 1.84x, 1.87x and 1.97x in three back-to-back tries on one machine, and a
scaling figure of 1.63x means little unless the reader knows what the machine gave at that
moment. So every round of an implementation's cells (labsrc.harness.matrix) also times
`cext._spin.spin` once alone and once as N threads at once, for each worker count N its
cells use: N x (alone) / (together) is the ceiling of that round, and a cell's ceiling is
the median over the rounds it was timed in, so it met the same bursts of load.

Threads stand in for processes too: the loop releases the GIL and touches no memory, so N
threads of it need exactly the N cores that N processes would.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any, Callable, Iterable, Optional

# One spin: long against waking an idle vCPU. Measured here, two copies of a 50 ms spin gave
# 1.65-1.88x where 190 ms ones gave 1.88-1.99x, in the same minute, GIL switch interval or
# not: the host takes milliseconds to put an idle vCPU back to work, which a cell's longer
# runs amortise and a short spin does not.
SPIN_TARGET_S = 0.2
QUICK_TARGET_S = 0.02  # --quick: a smoke test, not a measurement
JOIN_TIMEOUT_S = 30.0  # a spin takes SPIN_TARGET_S; this only bounds a stuck machine
LOW_CEILING = 1.2  # on two cores, below this the run cannot teach parallel speedups
_FIRST_STEPS = 1 << 20


def load_spin() -> tuple[Optional[Callable[[int], int]], str]:
    """(cext._spin.spin, '') or (None, why it cannot be imported)."""
    try:
        from cext._spin import spin
    except ImportError as exc:
        return None, f"cext._spin is not built ({exc}): pip install -e . builds it"
    return spin, ""


class CeilingSampler:
    """Times the spin alone and N at once, once per `sample()` call, for each worker count."""

    def __init__(self, worker_counts: Iterable[int], target_s: float = SPIN_TARGET_S) -> None:
        self.worker_counts = sorted({n for n in worker_counts if n > 1})
        self.target_s = target_s
        self.spin, self.reason = load_spin()
        self._steps = 0
        self._ratios: dict[int, list[float]] = {n: [] for n in self.worker_counts}

    @property
    def available(self) -> bool:
        return self.spin is not None

    def _calibrate(self) -> int:
        """Steps for one spin of about target_s on one core, doubling from a small count."""
        assert self.spin is not None
        steps = _FIRST_STEPS
        while True:
            took = _timed(self.spin, steps)
            if took >= self.target_s / 2 or steps >= 1 << 40:
                return max(1, int(steps * self.target_s / max(took, 1e-9)))
            steps *= 2

    def sample(self) -> None:
        """One round: for each worker count, the spin alone then N copies at once."""
        if self.spin is None or not self.worker_counts:
            return
        if not self._steps:
            self._steps = self._calibrate()
        for n in self.worker_counts:
            alone = _timed(self.spin, self._steps)
            together = _timed_together(self.spin, self._steps, n)
            self._ratios[n].append(n * alone / together)

    def ratios(self, workers: int) -> tuple[float, ...]:
        """The ceiling of each round so far for `workers` (empty for one worker)."""
        return tuple(self._ratios.get(workers, ()))


def _timed(spin: Callable[[int], int], steps: int) -> float:
    start = time.perf_counter()
    spin(steps)
    return time.perf_counter() - start


def _timed_together(spin: Callable[[int], int], steps: int, n: int) -> float:
    """Wall time of n threads each running spin(steps), released together by a barrier."""
    gate = threading.Barrier(n + 1, timeout=JOIN_TIMEOUT_S)
    threads = [threading.Thread(target=_released_spin, args=(gate, spin, steps), daemon=True) for _ in range(n)]
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


def _released_spin(gate: threading.Barrier, spin: Callable[[int], int], steps: int) -> None:
    gate.wait()
    spin(steps)


def summary(ratios: Iterable[float]) -> dict[str, Any]:
    """{'median', 'min', 'max', 'rounds'} of some rounds' ceilings (None figures without any)."""
    values = list(ratios)
    if not values:
        return {"median": None, "min": None, "max": None, "rounds": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": len(values)}


def measure(worker_counts: Iterable[int], rounds: int = 5, target_s: float = SPIN_TARGET_S) -> dict[int, dict[str, Any]]:
    """A quick measure on its own (`gil-lab env --ceiling`): {N: summary} over `rounds`.
    RuntimeError when the spin is not built."""
    sampler = CeilingSampler(worker_counts, target_s)
    if not sampler.available:
        raise RuntimeError(sampler.reason)
    for _ in range(rounds):
        sampler.sample()
    return {n: summary(sampler.ratios(n)) for n in sampler.worker_counts}


def run_ceilings(cells: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """{str(N): summary} over every round of a run's cells (results.json's env["ceiling"]).
    The cells of one implementation share their rounds, so each (kernel, impl, N) counts once;
    rows from another interpreter (impl@label) measured their own and are left out."""
    pooled: dict[int, list[float]] = {}
    seen = set()
    for cell in cells:
        key = (cell.kernel, cell.impl, cell.workers)
        if "@" in cell.impl or not cell.ceiling_ratios or key in seen:
            continue
        seen.add(key)
        pooled.setdefault(cell.workers, []).extend(cell.ceiling_ratios)
    return {str(n): summary(pooled[n]) for n in sorted(pooled)}


def describe(ceilings: dict[str, dict[str, Any]]) -> str:
    """'2 workers: 1.93x (1.84-1.97x, 40 rounds)', joined by '; ' ('' without any)."""
    return "; ".join(f"{n} workers: {s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f}x, {s['rounds']} rounds)"
                     for n, s in ceilings.items() if s.get("rounds"))


def too_low(ceilings: dict[str, dict[str, Any]]) -> list[str]:
    """The worker counts whose median ceiling is below LOW_CEILING: such a run cannot teach
    parallel speedups (it is kept, and says so)."""
    return [n for n, s in ceilings.items() if s.get("rounds") and s["median"] < LOW_CEILING]
