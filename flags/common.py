"""What every downloader variant shares: outcomes, the atomic writer, one HTTP fetch with
retries, the run context, and the book's initial and final reports.

A variant module defines only ``download_many(cc_list, run) -> Counter[Status]`` (plus its
``DEFAULT_CONCUR_REQ`` and ``MAX_CONCUR_REQ``, as in the book's flags2 scripts); timing,
the command line and the summary live here and in ``flags.cli``, once.
"""

from __future__ import annotations

import functools
import importlib
import os
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from pathlib import Path
from types import ModuleType
from typing import TextIO

import httpx

MODES: dict[str, str] = {
    "sequential": "flags.sequential",
    "threadpool": "flags.threadpool",
    "threadpool_ac": "flags.threadpool_ac",
    "processpool": "flags.processpool",
    "asyncio": "flags.asyncio_mode",
}
TEMP_SUFFIX = ".flagpart"
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class ExitCode(IntEnum):
    """The exit statuses of the project's commands (`flags` and `gil-lab` alike)."""

    OK = 0
    FAILED = 1  # some downloads (or, in the lab, some cells) failed
    USAGE = 2  # bad command-line input
    INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


class Status(Enum):
    """The one outcome each requested code ends with."""

    OK = "ok"
    NOT_FOUND = "not found"
    ERROR = "error"


@dataclass(frozen=True)
class Outcome:
    cc: str
    status: Status
    detail: str = ""


class Cancelled(Exception):
    """The run was interrupted; nothing more may be written."""


@dataclass(frozen=True)
class Config:
    """How to download: where from, where to, how many at once, how patiently."""

    base_url: str
    dest: Path
    workers: int = 1
    timeout: float = 10.0  # seconds, per request attempt
    retries: int = 0  # extra attempts after a connection error or a 5xx, never after a 404
    backoff: float = 0.1  # first retry waits this long, then 2x, 4x ... (capped at 5 s)
    client: str = "aiohttp"  # asyncio variant only: "aiohttp" or "httpx"
    trust_env: bool = False  # honour proxy variables (only sensible for REMOTE)

    def backoff_s(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        return min(self.backoff * 2**attempt, 5.0)


def raise_nofile_limit() -> None:
    """Lift the soft open-files limit to the hard one: 1000 connections need 1000+ fds."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        with suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def flag_url(base_url: str, cc: str) -> str:
    cc = cc.lower()
    return f"{base_url.rstrip('/')}/{cc}/{cc}.gif"


def flag_filename(cc: str) -> str:
    return f"{cc.lower()}.gif"


class AtomicWriter:
    """Writes each file to a temporary name in the same folder, then renames it.

    A failed or interrupted save never leaves a partial file under the final name and an
    existing file is only ever replaced by a complete one. `close()` forbids further saves
    and removes the temporary files of saves still in progress.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = Path(dest)
        self._lock = threading.Lock()
        self._closed = False
        self._temps: set[str] = set()

    def save(self, data: bytes, filename: str) -> Path:
        final = self.dest / filename
        with self._lock:
            if self._closed:
                raise Cancelled("download interrupted")
            fd, tmp = tempfile.mkstemp(dir=self.dest, prefix=f".{filename}.",
                                       suffix=f".{os.getpid()}{TEMP_SUFFIX}")
            self._temps.add(tmp)
        try:
            with os.fdopen(fd, "wb") as fp:
                os.fchmod(fp.fileno(), 0o666 & ~_UMASK)
                fp.write(data)
            os.replace(tmp, final)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        finally:
            with self._lock:
                self._temps.discard(tmp)
        return final

    def close(self) -> None:
        with self._lock:
            self._closed = True
            temps, self._temps = list(self._temps), set()
        for tmp in temps:
            with suppress(FileNotFoundError):
                os.unlink(tmp)


def sweep_temps(dest: Path, pids: Sequence[int]) -> int:
    """Remove temporary files that processes `pids` (killed mid-save) left in `dest`."""
    removed = 0
    for pid in pids:
        for path in Path(dest).glob(f".*.{pid}{TEMP_SUFFIX}"):
            with suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


def http_error(status_code: int) -> tuple[Status, bool] | None:
    """None for 200; else (the status it counts as, whether a retry may help)."""
    if status_code == 200:
        return None
    if status_code == 404:
        return Status.NOT_FOUND, False
    return Status.ERROR, status_code >= 500


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


@functools.cache
def shared_ssl_context(trust_env: bool) -> ssl.SSLContext:
    """The one verifying SSL context of this process (per `trust_env`) for the sync clients.

    httpx builds a new context for every client, loading certifi's CA bundle each time
    (~20 ms, and ~100 ms with the imports the first one pulls in): nothing for one client,
    but a processpool worker makes its own, so 20 workers on 2 cores paid it 20 times
    before their first request. One context serves any number of clients and threads, and
    the processpool's forkserver builds it before forking (flags._preload), so workers
    inherit it ready. Verification is httpx's default: SSL_CERT_FILE or SSL_CERT_DIR when
    `trust_env`, else certifi's bundle (read once: later changes to those variables are
    not seen).
    """
    return httpx.create_ssl_context(trust_env=trust_env)


def make_sync_client(config: Config) -> httpx.Client:
    """One client per run (per worker process for processpool), pooled for `workers`."""
    n = max(1, config.workers)
    return httpx.Client(timeout=httpx.Timeout(config.timeout), follow_redirects=True,
                        limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                        trust_env=config.trust_env, verify=shared_ssl_context(config.trust_env))


def get_within(client: httpx.Client, url: str, timeout: float) -> tuple[int, str, bytes]:
    """GET `url` -> (status, reason, body), giving up once `timeout` seconds have passed.

    httpx's timeouts apply to each phase and each read, so a server that trickles a byte
    every second would never trip a 10 s timeout; the body is read in chunks here and the
    overall deadline checked between them (so a response can overrun it by one read at most).
    """
    deadline = time.monotonic() + timeout
    with client.stream("GET", url) as resp:
        chunks = []
        for chunk in resp.iter_bytes():
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout(f"no complete response within {timeout:g} s",
                                        request=resp.request)
        return resp.status_code, resp.reason_phrase, b"".join(chunks)


@dataclass
class Fetcher:
    """Everything a synchronous worker needs to download one flag."""

    config: Config
    client: httpx.Client
    writer: AtomicWriter
    cancelled: threading.Event = field(default_factory=threading.Event)

    def download_one(self, cc: str) -> Outcome:
        """Fetch and save one flag; never raises (the outcome says what happened)."""
        url, attempt = flag_url(self.config.base_url, cc), 0
        while True:
            if self.cancelled.is_set():
                return Outcome(cc, Status.ERROR, "cancelled")
            try:
                status_code, reason, body = get_within(self.client, url, self.config.timeout)
                failure = http_error(status_code)
                if failure is None:
                    self.writer.save(body, flag_filename(cc))
                    return Outcome(cc, Status.OK)
                status, retryable = failure
                if status is Status.NOT_FOUND:
                    return Outcome(cc, status)
                detail = f"HTTP {status_code} - {reason}"
            except httpx.TransportError as exc:  # connection, protocol and timeout errors
                detail, retryable = describe(exc), True
            except Cancelled:
                return Outcome(cc, Status.ERROR, "cancelled")
            except Exception as exc:  # e.g. a disk error while saving: counted, not raised
                detail, retryable = describe(exc), False
            if not retryable or attempt >= self.config.retries:
                return Outcome(cc, Status.ERROR, detail)
            if self.cancelled.wait(self.config.backoff_s(attempt)):
                return Outcome(cc, Status.ERROR, "cancelled")
            attempt += 1


class Run:
    """One run of one variant: config, tally, progress display and cancellation."""

    def __init__(self, config: Config, total: int, *, verbose: bool = False,
                 progress: bool = True, out: TextIO | None = None, chatty: bool = True) -> None:
        self.config = config
        self.total = total
        self.verbose = verbose
        self.chatty = chatty  # threadpool_ac's future reprs; off for benchmarks
        self.out = out if out is not None else sys.stdout
        self.counter: Counter[Status] = Counter()
        self.cancelled = threading.Event()
        self.writer = AtomicWriter(config.dest)
        self._lock = threading.Lock()
        self._bar = None
        if progress and not verbose:
            from tqdm import tqdm
            self._bar = tqdm(total=total, unit="flag", leave=False, dynamic_ncols=True)

    def record(self, outcome: Outcome) -> None:
        """Count one finished code (exactly once per code) and show it."""
        with self._lock:
            self.counter[outcome.status] += 1
        if self._bar is not None:
            self._bar.update(1)
        elif self.verbose:
            if outcome.status is Status.ERROR:
                self.say(f"*** Error for {outcome.cc}: {outcome.detail}")
            else:
                self.say(f"{outcome.cc} {outcome.status.value}")

    def say(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.out)
        else:
            print(text, file=self.out, flush=True)

    def fetcher(self, client: httpx.Client) -> Fetcher:
        return Fetcher(self.config, client, self.writer, self.cancelled)

    @contextmanager
    def sync_fetcher(self) -> Iterator[Fetcher]:
        client = make_sync_client(self.config)
        try:
            yield self.fetcher(client)
        except BaseException:
            self.cancelled.set()  # Ctrl-C: worker threads may still be using the client
            raise
        client.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@dataclass
class Result:
    mode: str
    requested: int
    workers: int
    counter: Counter[Status]
    elapsed_s: float
    interrupted: bool = False

    @property
    def unfinished(self) -> int:
        return self.requested - sum(self.counter.values())


def load_mode(mode: str) -> ModuleType:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    return importlib.import_module(MODES[mode])


def actual_workers(mode: str, requested: int | None, count: int) -> int:
    """The book's rule: min(-m, the variant's maximum, number of codes), at least 1."""
    module = load_mode(mode)
    wanted = module.DEFAULT_CONCUR_REQ if requested is None else requested
    return max(1, min(wanted, module.MAX_CONCUR_REQ, count))


def run_mode(mode: str, cc_list: Sequence[str], config: Config, *, verbose: bool = False,
             progress: bool = True, out: TextIO | None = None, chatty: bool = True,
             on_start: Callable[[], None] | None = None) -> Result:
    """Time one variant's download_many; Ctrl-C ends it early with a partial tally."""
    module = load_mode(mode)
    Path(config.dest).mkdir(parents=True, exist_ok=True)
    run = Run(config, len(cc_list), verbose=verbose, progress=progress, out=out, chatty=chatty)
    interrupted = False
    t0 = time.perf_counter()
    try:
        if on_start is not None:
            on_start()
        module.download_many(list(cc_list), run)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        run.cancelled.set()
        run.writer.close()
        run.close()
    elapsed = time.perf_counter() - t0
    return Result(mode, len(cc_list), config.workers, run.counter, elapsed, interrupted)


def initial_report(label: str, url: str, cc_list: Sequence[str], workers: int,
                   out: TextIO | None = None) -> None:
    out = out if out is not None else sys.stdout
    if len(cc_list) <= 10:
        cc_msg = ", ".join(cc_list)
    else:
        cc_msg = f"from {cc_list[0]} to {cc_list[-1]}"
    print(f"{label} site: {url}", file=out)
    plural = "s" if len(cc_list) != 1 else ""
    print(f"Searching for {len(cc_list)} flag{plural}: {cc_msg}", file=out)
    if workers == 1:
        print("1 connection will be used.", file=out)
    else:
        print(f"{workers} concurrent connections will be used.", file=out)
    out.flush()


def final_report(result: Result, out: TextIO | None = None) -> None:
    out = out if out is not None else sys.stdout
    counter = result.counter
    print("-" * 20, file=out)
    ok = counter[Status.OK]
    print(f"{ok:3} flag{'s' if ok != 1 else ''} downloaded.", file=out)
    if counter[Status.NOT_FOUND]:
        print(f"{counter[Status.NOT_FOUND]:3} not found.", file=out)
    if counter[Status.ERROR]:
        errors = counter[Status.ERROR]
        print(f"{errors:3} error{'s' if errors != 1 else ''}.", file=out)
    if result.interrupted:
        print(f"{result.unfinished:3} not attempted (interrupted).", file=out)
    print(f"Elapsed time: {result.elapsed_s:.2f}s", file=out)
    out.flush()
