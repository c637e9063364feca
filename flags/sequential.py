"""Download flags one after another: the baseline every other variant is compared with."""

from __future__ import annotations

from collections import Counter

from flags.common import Run, Status

DEFAULT_CONCUR_REQ = 1
MAX_CONCUR_REQ = 1


def download_many(cc_list: list[str], run: Run) -> Counter[Status]:
    with run.sync_fetcher() as fetcher:
        for cc in sorted(cc_list):
            run.record(fetcher.download_one(cc))
    return run.counter
