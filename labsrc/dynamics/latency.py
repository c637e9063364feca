"""`gil-lab latency`: the echo thread's response time while background threads run a kernel.

Response time is the client's round trip: send -> the echo thread back from `recvfrom`
with the GIL -> its answer back at the client. The client runs in another process, so the
whole delay is the echo thread's wait for our GIL (plus ~0.1 ms of loopback and wake-up).
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np

from labsrc.dynamics.rows import LatencyRow
from labsrc.dynamics.session import CellRun, EchoOptions, sweep
from labsrc.dynamics.switch import Cell


def _ms(values: Sequence[float], q: float) -> Optional[float]:
    return float(np.percentile(values, q)) * 1e3 if len(values) else None


def latency_row(run: CellRun) -> LatencyRow:
    """Percentiles of one cell's round trips (answered pings only; the lost are counted)."""
    client = run.client
    rtt = [back - sent for sent, _, back in client.pings]
    one_way = [echo - sent for sent, echo, _ in client.pings]
    return LatencyRow(
        kernel=run.kernel, impl=run.cell.impl, threads=run.cell.threads,
        switch_interval_s=run.cell.switch_interval_s,
        scale=run.grain.scale if run.grain else None,
        call_ms=run.grain.call_s * 1e3 if run.grain else None,
        sent=client.sent, answered=client.answered, lost=client.lost,
        p50_ms=_ms(rtt, 50), p90_ms=_ms(rtt, 90), p99_ms=_ms(rtt, 99), max_ms=_ms(rtt, 100),
        one_way_p50_ms=_ms(one_way, 50), work_per_s=run.work_per_s,
        duration_s=client.t_end - client.t_start,
    )


def measure_latency(cells: Sequence[Cell], kernel: str, duration_s: float, ping_interval_s: float,
                    chunk_s: float, port: int = 0) -> Iterator[LatencyRow]:
    """One row per cell, as each is measured (so a failure keeps the rows before it)."""
    opts = EchoOptions(kernel, "latency", duration_s, ping_interval_s, chunk_s, port)
    for run in sweep(cells, opts):
        yield latency_row(run)


COLUMNS = ("impl", "threads", "switch_interval_s", "call_ms", "sent", "lost",
           "p50_ms", "p90_ms", "p99_ms", "max_ms", "work_per_s")
