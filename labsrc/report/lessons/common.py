"""What every lesson shares: the run it reads (`Run`), the finding it returns (`Finding`),
the speedup thresholds, and helpers that pick cells and quote their figures.

A lesson quotes the numbers it rests on; an interpretation ("the GIL serialised ...") is
added only when those numbers pass the thresholds named here (or next to the lesson).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from labsrc.harness.iobench import IoRow
from labsrc.core.names import ExecutorName, Payload
from labsrc.core.results import Cell

SEQ, THREADS, PROCS = ExecutorName.SEQ, ExecutorName.THREADS, ExecutorName.PROCS

NO_GAIN = 1.15  # a speedup at or below this is "no real gain"
REAL_GAIN = 1.5  # a speedup at or above this is "ran in parallel"
HIGH_GIL = 0.5  # probe contention at or above: the heartbeat mostly waited for the GIL
LOW_GIL = 0.2  # at or below: the GIL was mostly free

DASH = "\u2013"  # en dash between the ends of a range: 0.93-1.02x


@dataclass(frozen=True)
class Run:
    """One run as the lessons see it: the CPU cells, the I/O rows and the environment."""

    cells: Sequence[Cell] = ()
    io_rows: Sequence[IoRow] = ()
    env: Mapping[str, Any] = field(default_factory=dict)

    @property
    def free_threaded(self) -> bool:
        """True when the run's interpreter had the GIL disabled (env["gil_enabled"] False);
        an env without the key (an older run) counts as a GIL build."""
        return self.env.get("gil_enabled") is False

    def probe_name(self) -> str:
        """What the heartbeat's column measures on this build."""
        return "scheduling latency" if self.free_threaded else "GIL waiting"


@dataclass(frozen=True)
class Finding:
    """One lesson's finding: a sentence with its numbers, an optional per-kernel table,
    and the thresholds its interpretation rests on.

    `kind` is "warning" (read the rest with care), "lesson" or "problem".
    """

    key: str
    title: str
    text: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    rule: str = ""
    kind: str = "lesson"

    def as_text(self) -> str:
        """The sentence, then the table (if any) as aligned lines indented under it."""
        if not self.rows:
            return self.text
        lines = [self.columns, *self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.columns))]
        table = ["  " + "  ".join(text.ljust(w) for text, w in zip(line, widths)).rstrip() for line in lines]
        return "\n".join([self.text, *table])

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (the HTML report's template reads this)."""
        return {"key": self.key, "title": self.title, "text": self.text, "columns": list(self.columns),
                "rows": [list(r) for r in self.rows], "rule": self.rule, "kind": self.kind}


def measured(cell: Cell) -> bool:
    """An OK cell with a finite speedup (its implementation's baseline was measured)."""
    return cell.ok and math.isfinite(cell.speedup)


def kernels(cells: Iterable[Cell]) -> list[str]:
    """Kernel names in the order the run measured them."""
    return list(dict.fromkeys(c.kernel for c in cells if c.kernel))


def best(cells: Sequence[Cell], kernel: str, impl: str, executor: str,
         payload: Optional[Payload] = Payload.RECIPE) -> Optional[Cell]:
    """The measured cell with the most workers for kernel/impl/executor (None if there is
    none); a process executor's cell with `payload`, a seq cell with one worker."""
    found = [c for c in cells if measured(c) and (c.kernel, c.impl, c.executor) == (kernel, impl, executor)
             and (c.payload is None or c.payload == payload)]
    if executor == SEQ:
        found = [c for c in found if c.workers == 1]
    return max(found, key=lambda c: c.workers, default=None)


def probe(row: Cell | IoRow) -> Optional[float]:
    """The heartbeat's contention figure, None when it was not measured."""
    value = row.gil_contention
    return value if math.isfinite(value) else None


def span(values: Sequence[float], fmt: str = ".2f", unit: str = "x") -> str:
    """"0.93x" for one value (or equal ends), "0.93-1.02x" (en dash) for a range."""
    low, high = format(min(values), fmt), format(max(values), fmt)
    return f"{low}{unit}" if low == high else f"{low}{DASH}{high}{unit}"


def pct_span(values: Sequence[float]) -> str:
    """Fractions as a percentage range: "6-19%"."""
    return span([v * 100 for v in values], ".0f", "%")


def where(names: Sequence[str]) -> str:
    """"(primes)" for one kernel, "(4 kernels)" for more."""
    return f"({names[0]})" if len(names) == 1 else f"({len(names)} kernels)"


def count_of(values: Iterable[int], noun: str) -> str:
    """"2 threads" or "2-4 threads" over the worker counts of the quoted cells."""
    counts = sorted(set(values))
    return f"{counts[0]} {noun}" if len(counts) == 1 else f"{counts[0]}{DASH}{counts[-1]} {noun}"


def names(items: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


def x(value: float) -> str:
    """A speedup or ratio as the tables show it: 1.97x, or '-' when not finite."""
    return f"{value:.2f}x" if math.isfinite(value) else "-"


def pct(value: Optional[float]) -> str:
    """A 0..1 fraction as a percentage, '-' when missing."""
    return "-" if value is None else f"{value:.0%}"
