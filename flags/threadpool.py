"""Download flags with `ThreadPoolExecutor.map`, all threads sharing one `httpx.Client`.

Threads help on I/O-bound work because a thread blocked in a socket call releases the GIL.
"""

from __future__ import annotations

from collections import Counter
from concurrent import futures

from flags.common import Run, Status

DEFAULT_CONCUR_REQ = 30
MAX_CONCUR_REQ = 1000


def download_many(cc_list: list[str], run: Run) -> Counter[Status]:
    with run.sync_fetcher() as fetcher:
        executor = futures.ThreadPoolExecutor(run.config.workers, thread_name_prefix="flags")
        try:
            # map yields in submission order; download_one never raises, so one failure
            # cannot hide the results behind it.
            for outcome in executor.map(fetcher.download_one, sorted(cc_list)):
                run.record(outcome)
        except BaseException:
            # Ctrl-C: drop the queue and do not wait for requests still in flight.
            fetcher.cancelled.set()
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        executor.shutdown(wait=True)
    return run.counter
