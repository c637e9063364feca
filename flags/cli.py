"""The downloader's command line, compatible with the book's flags2 scripts.

    flags [CC ...] [-a] [-e] [-l N] [-m N] [-s LABEL_OR_URL] [-v] [--mode MODE]
          [--dest DIR] [--timeout S] [--retries N] [--client aiohttp|httpx]

Exit status: 0 when nothing failed, 1 when any download errored, 2 for usage errors,
130 on Ctrl-C (after the partial summary).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from string import ascii_uppercase

from flags.common import ExitCode, MODES, Config, Result, Status, actual_workers, final_report, initial_report, load_mode, run_mode
from flags.countries import COUNTRY_CODES, EVERY_CC, POP20_CC
from flags.mpcontext import run_as_module_main, start_method

DEFAULT_SERVER = "LOCAL"
SERVER_LABELS = ("LOCAL", "DELAY", "ERROR", "REMOTE")
CC_USAGE = "*** Usage error: each CC argument must be A to Z or AA to ZZ."
EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERRUPTED = ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE, ExitCode.INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="flags", description="Download flags for country codes (Fluent Python's flags2).",
        epilog="Servers LOCAL, DELAY (0.5 s per request) and ERROR (0.5 s, 25% errors) are "
               "started on a free loopback port for the run; REMOTE is the book's site.")
    p.add_argument("cc", metavar="CC", nargs="*",
                   help="country code or 1st letter (eg. B for BA...BZ); default: 20 most populous")
    p.add_argument("-a", "--all", action="store_true", help="get all flags the server lists")
    p.add_argument("-e", "--every", action="store_true",
                   help="get flags for every possible code (AA...ZZ)")
    p.add_argument("-l", "--limit", metavar="N", type=int, default=None,
                   help="limit to N first codes")
    p.add_argument("-m", "--max_req", metavar="CONCURRENT", type=int, default=None,
                   help="maximum concurrent requests (default depends on --mode)")
    p.add_argument("-s", "--server", metavar="LABEL", default=DEFAULT_SERVER,
                   help=f"server to hit; one of {', '.join(SERVER_LABELS)} or a base URL "
                        f"(default: {DEFAULT_SERVER})")
    p.add_argument("-v", "--verbose", action="store_true", help="output detailed progress info")
    p.add_argument("--mode", choices=list(MODES), default="threadpool",
                   help="downloader variant (default: threadpool)")
    p.add_argument("--dest", type=Path, default=Path("downloaded"),
                   help="folder for the flags (default: ./downloaded)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds per request attempt (default: 10)")
    p.add_argument("--retries", type=int, default=0, metavar="N",
                   help="retries after connection errors and 5xx, with exponential back-off")
    p.add_argument("--client", choices=("aiohttp", "httpx"), default=None,
                   help="HTTP client of the asyncio mode (default: aiohttp)")
    return p


def expand_cc_args(every: bool, all_cc: bool, cc_args: list[str], limit: int | None,
                   listed: tuple[str, ...] = COUNTRY_CODES) -> list[str]:
    """The sorted codes to fetch; ValueError for an argument that is not A..Z or AA..ZZ."""
    codes: set[str] = set()
    if every:
        codes.update(EVERY_CC)
    elif all_cc:
        codes.update(listed)
    elif not cc_args:
        codes.update(POP20_CC)
    else:
        for cc in (c.upper() for c in cc_args):
            if len(cc) == 1 and cc in ascii_uppercase:
                codes.update(cc + c for c in ascii_uppercase)
            elif len(cc) == 2 and all(c in ascii_uppercase for c in cc):
                codes.add(cc)
            else:
                raise ValueError(CC_USAGE)
    return sorted(codes)[:limit]


def fetch_listing(base_url: str, timeout: float) -> tuple[str, ...]:
    """The codes in the server's country_codes.txt (the local list if it cannot be read)."""
    import httpx

    try:
        resp = httpx.get(f"{base_url.rstrip('/')}/country_codes.txt", timeout=timeout,
                         trust_env=False)
        resp.raise_for_status()
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        print(f"warning: cannot read the server's code list ({exc}); using the built-in one",
              file=sys.stderr)
        return COUNTRY_CODES
    words = resp.text.upper().split()
    return tuple(w for w in words if len(w) == 2 and w.isalpha() and w.isascii())


def interpreter_line(mode: str) -> str:
    """The -v line naming the interpreter and how worker processes start.

    Timings of two runs are only comparable on the same interpreter, and the start method
    decides what a processpool run pays to start its workers.
    """
    used = "" if mode == "processpool" else " (used by --mode processpool)"
    return (f"{platform.python_implementation()} {platform.python_version()}; "
            f"process start method: {start_method()}{used}.")


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors exit 2 with a message saying what is allowed."""
    if args.max_req is not None and args.max_req < 1:
        parser.error("-m/--max_req: CONCURRENT must be an integer >= 1")
    if args.limit is not None and args.limit < 1:
        parser.error("-l/--limit: N must be an integer >= 1")
    if not args.timeout > 0:
        parser.error("--timeout: S must be a number of seconds > 0")
    if args.retries < 0:
        parser.error("--retries: N must be an integer >= 0")
    if args.client is not None and args.mode != "asyncio":
        parser.error("--client applies to --mode asyncio only")
    server = args.server
    if server.upper() in SERVER_LABELS:
        args.server = server.upper()
    elif not server.startswith(("http://", "https://")):
        parser.error(f"-s/--server must be one of {', '.join(SERVER_LABELS)} "
                     f"or a URL starting with http:// or https://, not {server!r}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    try:
        expand_cc_args(args.every, args.all, args.cc, args.limit)  # usage check only
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        print(exc.args[0], file=sys.stderr)
        return EXIT_USAGE
    limit = args.limit
    plain = not (args.cc or args.all or args.every)
    if limit is None and plain and args.mode == "threadpool_ac":
        limit = load_mode("threadpool_ac").DEFAULT_LIMIT  # the book's demo: first 5 codes
    result: Result | None = None
    try:
        with ExitStack() as stack:
            label = args.server if args.server in SERVER_LABELS else "URL"
            if label in ("LOCAL", "DELAY", "ERROR"):
                from flags.embedded import LABELS, EmbeddedServer
                base_url = stack.enter_context(EmbeddedServer(LABELS[label])).url
            elif label == "REMOTE":
                from flags.embedded import REMOTE_URL
                base_url = REMOTE_URL
            else:
                base_url = args.server.rstrip("/")
            listed = fetch_listing(base_url, args.timeout) if args.all and not args.every else COUNTRY_CODES
            cc_list = expand_cc_args(args.every, args.all, args.cc, limit, listed)
            workers = actual_workers(args.mode, args.max_req, len(cc_list))
            config = Config(base_url=base_url, dest=args.dest, workers=workers,
                            timeout=args.timeout, retries=args.retries,
                            client=args.client or "aiohttp", trust_env=label == "REMOTE")
            initial_report(label, base_url, cc_list, workers)
            if args.verbose:
                print(interpreter_line(args.mode), flush=True)
            result = run_mode(args.mode, cc_list, config, verbose=args.verbose)
        # the embedded server is stopped here, before the summary
    except KeyboardInterrupt:  # during start-up or shut-down: nothing to summarise
        print("\n*** Interrupted.", file=sys.stderr)
        return _exit_interrupted()
    final_report(result)
    if result.interrupted:
        return _exit_interrupted()
    return EXIT_ERRORS if result.counter[Status.ERROR] else EXIT_OK


def console_main() -> int:
    """Entry point of the ``flags`` console script: ``python -m flags``, run from a wrapper
    script, so its worker processes skip that script as they do under ``python -m``."""
    run_as_module_main("flags.__main__")
    return main()


def _exit_interrupted() -> int:
    """Exit 130 now: worker threads blocked in a request would otherwise hold the exit
    back until their timeout. Every file they could still write is already forbidden and
    every temporary file removed (see AtomicWriter.close), and servers and worker processes
    are stopped, so nothing is left behind."""
    sys.stdout.flush()
    sys.stderr.flush()
    busy = [t for t in threading.enumerate() if t is not threading.current_thread()
            and not t.daemon and t.is_alive()]
    if busy:
        os._exit(EXIT_INTERRUPTED)
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
