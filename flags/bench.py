"""Measure the downloader variants against the embedded slow server.

`measure_modes` runs modes on the same codes against one embedded server (the lab's
labsrc.harness.iobench drives it, with its GIL probe as the `watch`); `python -m flags.bench`
prints the downloader's own figures (ratios measured in one run):

1. 20 flags at a 0.5 s delay: sequential vs threadpool (20 workers) vs processpool vs asyncio;
2. asyncio with every code (-e, 676 requests) at -m 1000, against the 0.5 s floor;
3. processpool vs threadpool with the same number of workers: processes buy nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from flags.common import Config, Status, actual_workers, load_mode, run_mode
from flags.countries import COUNTRY_CODES, EVERY_CC, POP20_CC
from flags.embedded import EmbeddedServer
from flags.server import ServerConfig

#: Extra pseudo-mode: the asyncio variant on httpx.AsyncClient instead of aiohttp.
CLIENT_VARIANTS = {"asyncio_httpx": ("asyncio", "httpx")}


def bench_codes(count: int) -> list[str]:
    """`count` codes: the 20 most populous first, then the other listed countries, then the
    codes the server does not know (404s), as `-e` would add them."""
    ordered = list(POP20_CC)
    ordered += [cc for cc in COUNTRY_CODES if cc not in ordered]
    ordered += [cc for cc in EVERY_CC if cc not in ordered]
    if not 1 <= count <= len(ordered):
        raise ValueError(f"count must be 1..{len(ordered)}, got {count}")
    return ordered[:count]


def check_arguments(modes: Sequence[str], count: int, delay: float) -> None:
    """ValueError naming what is allowed, for anything measure_modes would reject."""
    for mode in modes:
        load_mode(CLIENT_VARIANTS.get(mode, (mode, ""))[0])
    bench_codes(count)
    if not delay >= 0:  # also rejects NaN
        raise ValueError(f"delay must be >= 0 seconds, got {delay}")


def measure_modes(modes: Sequence[str], count: int, delay: float, max_req: int = 1000,
                  watch: Callable[[], AbstractContextManager[Any]] = nullcontext) -> list[dict[str, Any]]:
    """Run each mode on the same `count` codes against one embedded server with a fixed
    `delay`, each into a fresh temporary folder; one row per mode (see module doc).

    `watch()` makes a context manager wrapped around each mode's run alone (a caller's
    probe, say); what it yields is kept in the row under "watch"."""
    check_arguments(modes, count, delay)  # fail before starting anything
    codes = bench_codes(count)
    rows: list[dict[str, Any]] = []
    with EmbeddedServer(ServerConfig(delay=(delay, delay))) as server:
        base = Config(base_url=server.url, dest=Path("."), timeout=max(10.0, 4 * delay + 5))
        _warm_up(server.url, base.timeout)
        for mode in modes:
            variant, client = CLIENT_VARIANTS.get(mode, (mode, "aiohttp"))
            workers = actual_workers(variant, max_req, len(codes))
            with tempfile.TemporaryDirectory(prefix=f"flags-{mode}-") as tmp:
                config = replace(base, dest=Path(tmp), workers=workers, client=client)
                with watch() as watched:
                    result = run_mode(variant, codes, config, progress=False, chatty=False)
            if result.interrupted:
                raise KeyboardInterrupt
            elapsed = result.elapsed_s
            rows.append({
                "mode": mode, "workers": workers, "flags": len(codes),
                "ok": result.counter[Status.OK], "not_found": result.counter[Status.NOT_FOUND],
                "errors": result.counter[Status.ERROR], "elapsed_s": elapsed,
                "speedup": None, "req_per_s": len(codes) / elapsed if elapsed > 0 else None,
                "watch": watched,
            })
    base_row = next((r for r in rows if r["mode"] == "sequential"), None)
    if base_row is not None:
        for row in rows:
            row["speedup"] = float(base_row["elapsed_s"]) / float(row["elapsed_s"])
    return rows


def _warm_up(url: str, timeout: float) -> None:
    import httpx

    httpx.get(f"{url}/country_codes.txt", timeout=timeout, trust_env=False).raise_for_status()


def format_rows(rows: list[dict[str, Any]]) -> str:
    head = f"{'mode':<14}{'workers':>8}{'ok':>5}{'404':>5}{'err':>5}{'elapsed':>10}{'speedup':>9}{'req/s':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        speedup = f"{r['speedup']:.1f}x" if r["speedup"] is not None else "-"
        lines.append(f"{r['mode']:<14}{r['workers']:>8}{r['ok']:>5}{r['not_found']:>5}"
                     f"{r['errors']:>5}{r['elapsed_s']:>9.2f}s{speedup:>9}"
                     f"{r['req_per_s']:>8.0f}")
    return "\n".join(lines)


def _verdict(value: float, limit: float) -> str:
    return f"target <= {limit:.2f}s: {'met' if value <= limit else 'MISSED'}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flags.bench", description=__doc__.split("\n")[0])
    p.add_argument("--delay", type=float, default=0.5, help="server delay in seconds (0.5)")
    p.add_argument("--workers", type=int, default=4, help="workers for part 3 (4)")
    p.add_argument("--httpx", action="store_true",
                   help="also run asyncio on httpx.AsyncClient with every code (slow)")
    args = p.parse_args(argv)
    d = args.delay

    print(f"1. 20 flags, server delay {d}s, one connection per flag (-m 20)")
    rows = measure_modes(["sequential", "threadpool", "processpool", "asyncio"], 20, d, 20)
    print(format_rows(rows))
    by = {r["mode"]: r for r in rows}
    seq, thr = float(by["sequential"]["elapsed_s"]), float(by["threadpool"]["elapsed_s"])  # type: ignore[arg-type]
    print(f"   threadpool is {seq / thr:.1f}x faster than sequential; {_verdict(thr, 1.2 * d)}")
    for mode in ("processpool", "asyncio"):
        t = float(by[mode]["elapsed_s"])  # type: ignore[arg-type]
        print(f"   {mode} is {seq / t:.1f}x faster than sequential, {t / thr:.2f}x threadpool's time")

    modes = ["asyncio", "asyncio_httpx"] if args.httpx else ["asyncio"]
    print(f"\n2. every code (-e, 676 requests), -m 1000, server delay {d}s")
    rows = measure_modes(modes, len(EVERY_CC), d, 1000)
    print(format_rows(rows))
    t = float(rows[0]["elapsed_s"])  # type: ignore[arg-type]
    print(f"   asyncio took {t / d:.2f}x the one-delay floor; {_verdict(t, 1.5 * d)}")
    if args.httpx:
        print(f"   httpx.AsyncClient took {float(rows[1]['elapsed_s']) / t:.1f}x aiohttp's time")  # type: ignore[arg-type]

    n = args.workers
    print(f"\n3. 20 flags, {n} workers each, server delay {d}s: processes vs threads")
    rows = measure_modes(["threadpool", "processpool"], 20, d, n)
    print(format_rows(rows))
    ratio = float(rows[1]["elapsed_s"]) / float(rows[0]["elapsed_s"])  # type: ignore[arg-type]
    gain = "no gain" if ratio >= 0.95 else "a gain"
    print(f"   processpool/threadpool time = {ratio:.2f} ({gain} from processes on I/O)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
