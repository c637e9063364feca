"""A noisy neighbour: another program keeping part of one core busy while the lab measures.

Laptops, CI runners and cloud VMs share their cores with programs the lab knows nothing
about, and a scaling goal of ">= 1.9x on two cores" misses there for reasons that have
nothing to do with the GIL. `gil-lab bench --neighbour 0.5` makes that case on purpose and
in the open: beside the benchmark runs one process that, every PERIOD_S, spins for `duty`
of it and sleeps for the rest (`duty` 1 keeps a whole core busy). The lab's ceiling
(labsrc.core.ceiling) meets the same load in the same rounds, so goals judged against it
should still hold where the absolute ones miss: that is what this is for.

The neighbour is a child process that lives no longer than the lab: it exits when its
stdin closes (the lab exits, is killed, or leaves the `with` block), and the lab's side
waits for it with a timeout, then kills it.
"""

from __future__ import annotations

import select
import subprocess
import sys
import time
from typing import Optional, Sequence

PERIOD_S = 0.1  # one spin and one sleep: short against a cell's runs, so its load looks steady
STOP_TIMEOUT_S = 5.0  # the neighbour notices a closed stdin within one period
START_TIMEOUT_S = 30.0  # its interpreter starts and says it is spinning


class Neighbour:
    """`with Neighbour(duty):` one process keeping `duty` (0 < duty <= 1) of a core busy."""

    def __init__(self, duty: float) -> None:
        if not 0 < duty <= 1:
            raise ValueError(f"duty must be in 0 < duty <= 1 (a share of one core), got {duty}")
        self.duty = duty
        self._proc: Optional[subprocess.Popen[bytes]] = None

    def __enter__(self) -> "Neighbour":
        self._proc = subprocess.Popen([sys.executable, "-m", "labsrc.tools.neighbour", repr(self.duty)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], START_TIMEOUT_S)
        if not ready or self._proc.stdout.readline() != b"spinning\n":
            self.__exit__(None, None, None)
            raise RuntimeError(f"the noisy neighbour did not start within {START_TIMEOUT_S:g} s")
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()  # the neighbour's signal to stop
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)
        proc.stdout.close()

    @property
    def pid(self) -> Optional[int]:
        return None if self._proc is None else self._proc.pid

    def describe(self) -> str:
        return (f"a noisy neighbour: one process keeping {self.duty:.0%} of a core busy "
                f"({self.duty * PERIOD_S * 1e3:.0f} ms of every {PERIOD_S * 1e3:.0f} ms), beside the lab")


def _stdin_closed(timeout_s: float) -> bool:
    """Whether stdin reached end of file, waiting up to timeout_s (the lab never writes to it)."""
    readable, _, _ = select.select([sys.stdin.buffer], [], [], timeout_s)
    return bool(readable) and not sys.stdin.buffer.read1(1)


def spin_until_told(duty: float) -> None:
    """Spin `duty` of every PERIOD_S, sleep the rest, until stdin closes."""
    print("spinning", flush=True)
    while True:
        start = time.perf_counter()
        busy_until = start + duty * PERIOD_S
        while time.perf_counter() < busy_until:
            pass
        if _stdin_closed(max(0.0, start + PERIOD_S - time.perf_counter())):
            return


def main(argv: Sequence[str]) -> int:
    try:
        duty = float(argv[0])
        if not 0 < duty <= 1:
            raise ValueError
    except (IndexError, ValueError):
        print("usage: python -m labsrc.tools.neighbour DUTY (0 < DUTY <= 1)", file=sys.stderr)
        return 2
    try:
        spin_until_told(duty)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the lab handles it
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
