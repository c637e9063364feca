"""`gil-lab bandwidth`: ping-pong packets per second through the echo thread while
background threads run a kernel, as a percentage of the no-load baseline measured under
the same switch interval in the same run."""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

from labsrc.dynamics.rows import BandwidthRow
from labsrc.dynamics.session import CellRun, EchoOptions, sweep
from labsrc.dynamics.switch import Cell

#: The client's pause between an answer and its next packet. Any real peer takes a moment;
#: back to back (0) on an idle loopback, the answer is back within ~10 us, before a CPU
#: thread woken by the echo thread's GIL release can take the GIL, so the echo thread
#: keeps it and the convoy effect hides. With a pause, every packet finds the GIL taken.
DEFAULT_GAP_S = 0.00005


def bandwidth_row(run: CellRun, baseline_pps: Optional[float]) -> BandwidthRow:
    """Round trips per second of one cell; `baseline_pps` None for the baseline itself."""
    client = run.client
    elapsed = client.t_end - client.t_start
    pps = client.answered / elapsed if elapsed > 0 else 0.0
    base = pps if baseline_pps is None else baseline_pps
    return BandwidthRow(
        kernel=run.kernel, impl=run.cell.impl, threads=run.cell.threads,
        switch_interval_s=run.cell.switch_interval_s,
        scale=run.grain.scale if run.grain else None,
        call_ms=run.grain.call_s * 1e3 if run.grain else None,
        packets=client.answered, lost=client.lost, packets_per_s=pps,
        # pps / base first: the baseline row itself is then exactly 100.0 (100 * pps / base
        # can round to 99.99999999999999).
        pct_of_baseline=100.0 * (pps / base) if base > 0 else None,
        work_per_s=run.work_per_s, duration_s=elapsed,
    )


def measure_bandwidth(cells: Sequence[Cell], kernel: str, duration_s: float, chunk_s: float,
                      gap_s: float = DEFAULT_GAP_S, port: int = 0) -> Iterator[BandwidthRow]:
    """One row per cell, as each is measured; each loaded cell against the last baseline
    (threads 0) of its switch interval, which plan_cells puts first."""
    opts = EchoOptions(kernel, "bandwidth", duration_s, chunk_s=chunk_s, port=port, gap_s=gap_s)
    baselines: dict[float, float] = {}
    for run in sweep(cells, opts):
        interval = run.cell.switch_interval_s
        row = bandwidth_row(run, baselines.get(interval) if run.cell.threads else None)
        if not run.cell.threads:
            baselines[interval] = row.packets_per_s
        yield row


COLUMNS = ("impl", "threads", "switch_interval_s", "call_ms", "packets", "lost",
           "packets_per_s", "pct_of_baseline", "work_per_s")
