"""Download flags with asyncio: one client session, an `asyncio.Semaphore` bounding the
concurrent requests (-m), and files saved off the event loop with `asyncio.to_thread`.

The client is `aiohttp.ClientSession`; `--client httpx` uses `httpx.AsyncClient` instead, to
show how it degrades with hundreds of concurrent connections (httpx issue #3215).
(Named asyncio_mode so that nothing ever mistakes it for the standard library's asyncio.)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import httpx

from flags.common import (Cancelled, Config, Outcome, Run, Status, describe, flag_filename,
                          flag_url, http_error, raise_nofile_limit)

DEFAULT_CONCUR_REQ = 5
MAX_CONCUR_REQ = 1000

Get = Callable[[str], Awaitable[tuple[int, str, bytes]]]  # url -> (status, reason, body)
RETRYABLE = (aiohttp.ClientError, asyncio.TimeoutError, httpx.TransportError)


@asynccontextmanager
async def open_client(config: Config) -> AsyncIterator[Get]:
    """A `get(url)` coroutine function over one shared session of the chosen library."""
    n = max(1, config.workers)
    if config.client == "httpx":
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(timeout=httpx.Timeout(config.timeout), limits=limits,
                                     follow_redirects=True, trust_env=config.trust_env) as client:
            async def get_httpx(url: str) -> tuple[int, str, bytes]:
                resp = await client.get(url)
                return resp.status_code, resp.reason_phrase, resp.content
            yield get_httpx
    elif config.client == "aiohttp":
        timeout = aiohttp.ClientTimeout(total=config.timeout)
        connector = aiohttp.TCPConnector(limit=n)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                         trust_env=config.trust_env) as session:
            async def get_aiohttp(url: str) -> tuple[int, str, bytes]:
                async with session.get(url) as resp:
                    return resp.status, resp.reason or "", await resp.read()
            yield get_aiohttp
    else:
        raise ValueError(f"unknown client {config.client!r}: use aiohttp or httpx")


async def download_one(get: Get, cc: str, run: Run, semaphore: asyncio.Semaphore) -> Outcome:
    """Fetch and save one flag; returns its outcome, raises only CancelledError."""
    config = run.config
    url, attempt = flag_url(config.base_url, cc), 0
    while True:
        try:
            async with semaphore:  # bounds requests in flight, not saves or back-off waits
                status_code, reason, body = await get(url)
            failure = http_error(status_code)
            if failure is None:
                await asyncio.to_thread(run.writer.save, body, flag_filename(cc))
                return Outcome(cc, Status.OK)
            status, retryable = failure
            if status is Status.NOT_FOUND:
                return Outcome(cc, status)
            detail = f"HTTP {status_code} - {reason}"
        except RETRYABLE as exc:
            detail, retryable = describe(exc), True
        except Cancelled:
            return Outcome(cc, Status.ERROR, "cancelled")
        except Exception as exc:
            detail, retryable = describe(exc), False
        if not retryable or attempt >= config.retries:
            return Outcome(cc, Status.ERROR, detail)
        await asyncio.sleep(config.backoff_s(attempt))
        attempt += 1


async def supervisor(cc_list: list[str], run: Run) -> Counter[Status]:
    semaphore = asyncio.Semaphore(max(1, run.config.workers))
    async with open_client(run.config) as get:
        tasks = [asyncio.create_task(download_one(get, cc, run, semaphore))
                 for cc in sorted(cc_list)]
        try:
            for next_done in asyncio.as_completed(tasks):
                run.record(await next_done)
        finally:  # cancelled (Ctrl-C): stop every request before the session closes
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return run.counter


def download_many(cc_list: list[str], run: Run) -> Counter[Status]:
    raise_nofile_limit()  # 1000 concurrent connections need more than 1024 descriptors
    return asyncio.run(supervisor(cc_list, run))
