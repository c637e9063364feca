"""`gil-lab trace`: who holds the GIL, sampled by py-spy during a short cell.

The cell runs in a child process (labsrc.dynamics.tracee). Two `py-spy record --gil
--nonblocking --pid` samplers watch it at the same time (non-blocking: neither stops the
process, so both can read it, and the sampling does not pause the threads it times):

- `--format raw --threads` counts, per thread, the samples in which it held the GIL:
  exact counts, but no time order;
- `--format chrometrace` gives the time order. It writes a begin/end event for a thread
  only when that thread's sampled stack *changes*, so a sample whose stack equals the
  thread's previous one leaves no trace: every event at time t says "this thread held the
  GIL at t", and the hand-overs read from these events are a floor, not a count.

The tracee also records each call's span and each thread's CPU time; `cpu_share` is a
thread's CPU time over the window: two pure-Python threads get about half a core each
(the one waiting for the GIL uses none), two `cy_nogil` threads a core each, side by side.
A thread's GIL share is its samples over rate x window, and py-spy's pace wanders: the
shares of two pure-Python threads (in truth just under 1 together) summed to 0.97-1.06 over
1000-2000 expected samples (the defaults: 1 s at 1000/s) but 0.89-1.18 over 250, so shares
are "about", and rougher the fewer the samples.

py-spy cannot read a free-threaded CPython (3.13t): its interpreter structures differ, and
py-spy 0.4 stops with "Failed to find python version from target process", whether the GIL
is off or turned back on with PYTHON_GIL=1. The tracee runs under this interpreter, so on
such a build `pyspy()` says so (TraceUnavailable) before anything starts.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Optional, Sequence, TypeAlias

from labsrc.dynamics.rows import TraceRow

INSTALL_HINT = "py-spy is needed: pip install 'gil-lab[trace]' (or pip install py-spy)"
FREE_THREADED = ("py-spy cannot sample a free-threaded CPython (this is {version}t, with or without "
                 "PYTHON_GIL=1): run gil-lab trace under a GIL build, where pip install 'gil-lab[trace]' "
                 "installs py-spy")
_SAMPLES = re.compile(r"Samples:\s*(\d+)\s+Errors:\s*(\d+)")
_RAW_THREAD = re.compile(r"^thread \((?:0x)?[0-9a-fA-F]+\)(?:: ([^;]*))?.* (\d+)$")
_DENIED = ("permission", "not permitted", "ptrace", "root")
_Lines: TypeAlias = "queue.Queue[Optional[str]]"


class TraceUnavailable(RuntimeError):
    """py-spy is missing or may not attach here; the message says how to fix it."""


class TraceFailed(RuntimeError):
    """The traced cell or py-spy failed for another reason."""


@dataclass
class Trace:
    """One traced cell: py-spy's outputs and the tracee's own record."""

    kernel: str
    impl: str
    rate: int
    events: list[dict[str, Any]]  # chrometrace
    raw_counts: dict[str, int]  # thread name -> GIL-holding samples
    record: dict[str, Any]  # the tracee's: thread idents and names, call spans, window
    offset_s: float  # tracee perf_counter ~= chrometrace ts (s) + offset_s (to a few ms)
    samples: Optional[int] = None
    errors: Optional[int] = None


def pyspy() -> str:
    """The py-spy executable (on PATH or beside this Python), or TraceUnavailable: when it is
    missing, or when this interpreter (which runs the tracee) is a free-threaded build."""
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        raise TraceUnavailable(FREE_THREADED.format(version=".".join(map(str, sys.version_info[:3]))))
    found = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(sys.executable))
    if not found:
        raise TraceUnavailable(INSTALL_HINT)
    return found


def _reader(stream: IO[bytes]) -> _Lines:
    lines: _Lines = queue.Queue()

    def pump() -> None:
        for raw in iter(stream.readline, b""):
            lines.put(raw.decode(errors="replace"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: _Lines, needle: str, timeout: float, seen: list[str]) -> bool:
    """Collect lines into `seen` until one contains `needle` (True), EOF or timeout (False)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            return False
        if line is None:
            return False
        seen.append(line)
        if needle and needle in line:
            return True
    return False


def _start_spy(exe: str, pid: int, fmt: str, out: Path, rate: int) -> tuple[subprocess.Popen[bytes], _Lines]:
    extra = ["--threads"] if fmt == "raw" else []
    proc = subprocess.Popen([exe, "record", "--gil", "--nonblocking", "--format", fmt, "-o", str(out),
                             "--rate", str(rate), "--pid", str(pid), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    return proc, _reader(proc.stdout)


def _started(lines: _Lines, said: list[str]) -> None:
    """Wait for py-spy's 'Sampling process' line; TraceUnavailable/TraceFailed otherwise."""
    if _wait_for(lines, "Sampling process", 30, said):
        return
    text = "".join(said).strip()
    if any(word in text.lower() for word in _DENIED):
        last = text.splitlines()[-1] if text else "no output"
        raise TraceUnavailable(f"py-spy may not attach to a process here ({last}); run as root "
                               "or allow ptrace (sysctl kernel.yama.ptrace_scope=0)")
    raise TraceFailed(f"py-spy did not start sampling: {text[-500:] or 'no output'}")


def parse_raw(text: str) -> dict[str, int]:
    """py-spy `raw --threads` output -> {thread name: samples}."""
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        match = _RAW_THREAD.match(line.strip())
        if match:
            counts[(match.group(1) or "?").strip()] += int(match.group(2))
    return dict(counts)


def record(kernel: str, impl: str, threads: int, seconds: float, rate: int, interval: float,
           chunk_s: float, folder: Path) -> Trace:
    """Run the tracee under both samplers; their files go into `folder`. Every process is
    waited for with a timeout and killed on any way out."""
    exe = pyspy()
    argv = [sys.executable, "-m", "labsrc.dynamics.tracee", kernel, impl, str(threads),
            repr(seconds), repr(interval), repr(chunk_s)]
    tracee = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    spies: list[subprocess.Popen[bytes]] = []
    try:
        assert tracee.stdin and tracee.stdout and tracee.stderr
        out_lines = _reader(tracee.stdout)
        if not _wait_for(out_lines, "ready", 120, []):
            tracee.kill()
            raise TraceFailed(f"the traced cell did not start: {tracee.stderr.read().decode()[-500:]}")
        raw_path, chrome_path = folder / f"{kernel}-{impl}.raw.txt", folder / f"{kernel}-{impl}.chrometrace.json"
        raw, raw_lines = _start_spy(exe, tracee.pid, "raw", raw_path, rate)
        spies.append(raw)
        chrome, chrome_lines = _start_spy(exe, tracee.pid, "chrometrace", chrome_path, rate)
        spies.append(chrome)
        said: list[str] = []
        _started(raw_lines, [])
        _started(chrome_lines, said)
        offset = time.perf_counter()  # chrometrace's clock starts just before that line
        tracee.stdin.write(b"go\n")
        tracee.stdin.flush()
        doc: list[str] = []
        if not _wait_for(out_lines, "{", seconds + 60, doc):
            tracee.kill()
            raise TraceFailed(f"the traced cell gave no record: {tracee.stderr.read().decode()[-500:]}")
        tracee.wait(timeout=30)
        for spy in spies:
            spy.wait(timeout=30)
        _wait_for(chrome_lines, "", 2, said)  # what py-spy said at exit (until EOF)
        found = _SAMPLES.search("".join(said))
        return Trace(kernel, impl, rate, json.loads(chrome_path.read_text()),
                     parse_raw(raw_path.read_text()), json.loads(doc[-1]), offset,
                     int(found.group(1)) if found else None, int(found.group(2)) if found else None)
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        raise TraceFailed(f"py-spy or the traced cell failed: {exc}") from exc
    finally:
        for proc in (*spies, tracee):
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)


def observations(events: Sequence[dict[str, Any]]) -> list[tuple[float, int]]:
    """(seconds since py-spy's start, tid) of every sampling instant with an event, without
    the end events py-spy appends at exit for whatever was still open."""
    timed = [e for e in events if e.get("ph") in ("B", "E")]
    if not timed:
        return []
    last = max(e["ts"] for e in timed)
    seen = {(e["ts"], e["tid"]) for e in timed if not (e["ts"] == last and e["ph"] == "E")}
    return sorted((ts / 1e6, tid) for ts, tid in seen)


def thread_names(events: Sequence[dict[str, Any]], record: dict[str, Any]) -> dict[int, str]:
    """chrometrace tid -> thread name: the idents the tracee reported (py-spy 0.4 writes the
    pthread id, which is threading.get_ident()), or py-spy's own metadata when it writes it."""
    names = {int(k): v for k, v in record.get("threads", {}).items()}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            ident, _, name = str(e.get("args", {}).get("name", "")).partition(": ")
            names[e["tid"]] = names.get(int(ident), name) if ident.isdigit() else name
    return names


def timeline(trace: Trace) -> dict[str, list[float]]:
    """Thread name -> the instants (tracee perf_counter s) it was seen holding the GIL."""
    names = thread_names(trace.events, trace.record)
    seen: dict[str, list[float]] = {}
    for t, tid in observations(trace.events):
        seen.setdefault(names.get(tid, f"thread {tid}"), []).append(t + trace.offset_s)
    return seen


def summarize(trace: Trace) -> list[TraceRow]:
    """One row per thread of the tracee, over its window [go, end]."""
    rec = trace.record
    t_go, t_end = rec["t_go"], rec["t_end"]
    window = max(t_end - t_go, 1e-9)
    names = thread_names(trace.events, trace.record)
    holders = [(t + trace.offset_s, names.get(tid, f"thread {tid}")) for t, tid in observations(trace.events)]
    holders = [h for h in holders if t_go <= h[0] <= t_end]
    handovers = Counter(cur for (_, prev), (_, cur) in zip(holders, holders[1:]) if cur != prev)
    rows = []
    for name in dict.fromkeys(list(rec.get("threads", {}).values()) + list(trace.raw_counts)):
        cpu = rec.get("cpu", {}).get(name)
        count = trace.raw_counts.get(name, 0)
        rows.append(TraceRow(kernel=trace.kernel, impl=trace.impl, thread=name, gil_samples=count,
                             gil_share=min(1.0, count / (trace.rate * window)),
                             handovers_seen=handovers.get(name, 0),
                             cpu_share=None if cpu is None else cpu / window))
    return rows


COLUMNS = ("impl", "thread", "gil_samples", "gil_share", "handovers_seen", "cpu_share")
