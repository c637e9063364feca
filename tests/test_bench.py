"""gil-lab bench's own figures (the timed ones are printed by the command, never asserted)."""

from __future__ import annotations

from labsrc.bench.run import worker_paces

from made_cells import make_cell


def _spans(times_by_worker: dict[int, list[float]]) -> tuple[tuple[float, float, int], ...]:
    spans, at = [], 0.0
    for worker, times in times_by_worker.items():
        for took in times:
            spans.append((at, at + took, worker))
            at += took
    return tuple(spans)


def test_worker_paces_show_a_worker_process_slower_than_the_parent() -> None:
    seq = make_cell("py", "seq", 1, spans=_spans({1: [0.1, 0.1, 0.1, 0.1]}))
    procs = make_cell("py", "procs", 2, spans=_spans({11: [0.1, 0.1], 22: [0.125, 0.125]}))
    threads = make_cell("py", "threads", 2, spans=_spans({5: [0.2, 0.2], 6: [0.2, 0.2]}))
    dask_threads = make_cell("py", "dask_threads", 2, spans=_spans({8: [0.2, 0.2]}))  # one process
    # sha256 has no seq/1 cell here: nothing to compare with.
    other = make_cell("py", "mp_pool", 2, kernel="sha256", spans=_spans({7: [0.1]}))
    (line,) = worker_paces([seq, procs, threads, dask_threads, other])
    assert line.split()[:2] == ["primes/py", "procs[recipe]"]
    assert line.split()[2:] == ["1.00", "1.25"]
