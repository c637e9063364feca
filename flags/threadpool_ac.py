"""`submit` + `as_completed`, printing each future when scheduled and when done (the book's
demo: in its plain form, the first 5 codes on 3 workers)."""

from __future__ import annotations

from collections import Counter
from concurrent import futures

from flags.common import Outcome, Run, Status

DEFAULT_CONCUR_REQ = 3
MAX_CONCUR_REQ = 1000
DEFAULT_LIMIT = 5  # the CLI applies it when no -l is given


def download_many(cc_list: list[str], run: Run) -> Counter[Status]:
    with run.sync_fetcher() as fetcher:
        executor = futures.ThreadPoolExecutor(run.config.workers, thread_name_prefix="flags")
        try:
            to_do: dict[futures.Future[Outcome], str] = {}
            for cc in sorted(cc_list):
                future = executor.submit(fetcher.download_one, cc)
                to_do[future] = cc
                if run.chatty:
                    run.say(f"Scheduled for {cc}: {future}")
            for future in futures.as_completed(to_do):
                try:
                    outcome = future.result()
                except Exception as exc:  # download_one does not raise; be exact anyway
                    outcome = Outcome(to_do[future], Status.ERROR, repr(exc))
                if run.chatty:
                    run.say(f"{future} result: {outcome.cc} {outcome.status.value}")
                run.record(outcome)
        except BaseException:
            fetcher.cancelled.set()
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        executor.shutdown(wait=True)
    return run.counter
