"""`gil-lab diff A B`: two runs side by side, cell by cell.

A and B are results folders (holding results.json) or results.json files. Cells match on
(kernel, impl, executor, workers, payload); for each pair the ratio of medians B/A of the
wall time per work unit (tasks x scale: equal to the plain ratio of median walls when both
runs did the same work, and still fair when each calibrated its own), marked as beyond
the noise only when the raw repeats say so (`beyond_noise`: the min-max ranges do not
overlap, or an exact two-sided Mann-Whitney U test gives p < ALPHA). Rows are sorted by
effect (|log ratio|); cells of one run only, and cells not ok in either run, are listed
apart.

`--a-at LABEL` / `--b-at LABEL` take one side's rows run under `--python` (impl@LABEL)
and match them as the plain impl (the other side then keeps only its own interpreter's
rows), so one run with `--python pypy3` can be diffed with itself: CPython's `py`
against PyPy's.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TextIO

from labsrc.core.usage import EXIT_OK, UsageError
from labsrc.core.files import atomic_write
from labsrc.report.tables import Column, format_table
from labsrc.core.results import SCHEMA, Cell

ALPHA = 0.05
Key = tuple[str, str, str, int, Optional[str]]


@dataclass
class Run:
    """One side of the diff: where it came from, its env block and its cells."""

    path: Path
    env: dict[str, Any]
    cells: list[Cell]


def load_run(path: str | Path, side: str) -> Run:
    """Read a results folder or results.json; UsageError saying what is wrong with it."""
    given = Path(path)
    target = given / "results.json" if given.is_dir() else given
    if not target.is_file():
        where = f"{given} has no results.json" if given.is_dir() else f"{given}: no such file"
        raise UsageError(f"{side}: {where} (give a results folder or a results.json)")
    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{side}: {target}: cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{side}: {target} is not valid JSON (truncated?): {exc}") from None
    if not isinstance(doc, dict) or "schema" not in doc:
        raise UsageError(f"{side}: {target} is not a gil-lab results.json (no \"schema\")")
    if doc["schema"] != SCHEMA:
        raise UsageError(f"{side}: {target} has results schema {doc['schema']!r}; this gil-lab reads "
                         f"schema {SCHEMA}")
    cells = []
    for n, row in enumerate(doc.get("results") or []):
        try:
            cells.append(Cell.from_dict(row))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise UsageError(f"{side}: {target}: result {n} is malformed: {exc}") from None
    return Run(target, dict(doc.get("env") or {}), cells)


def side_cells(run: Run, at: Optional[str]) -> dict[Key, Cell]:
    """The cells of one side by key: with `at`, only rows impl@at, under the plain impl name;
    without it, every row of the run as labelled."""
    out: dict[Key, Cell] = {}
    for cell in run.cells:
        impl = cell.impl
        if at is not None:
            base, sep, label = impl.rpartition("@")
            if not sep or label != at:
                continue
            impl = base
        out[(cell.kernel, impl, str(cell.executor), cell.workers,
             None if cell.payload is None else str(cell.payload))] = cell
    return out


def side_env(run: Run, at: Optional[str]) -> dict[str, Any]:
    """The env block of one side: the run's, with the --python interpreter's facts over it."""
    env = dict(run.env)
    if at is not None:
        env.update((run.env.get("interpreters") or {}).get(at) or {})
    return env


def _u_counts(n: int, m: int) -> list[int]:
    """How many of the C(n+m, n) orderings of two untied samples give each U in 0..n*m:
    the coefficients of the Gaussian binomial [n+m choose n](q), as products of
    (1 - q^(m+i)) / (1 - q^i), in power series cut at degree n*m (exact: the result has
    that degree)."""
    size = n * m + 1
    poly = [1] + [0] * (size - 1)
    for i in range(1, n + 1):
        for k in range(size - 1, m + i - 1, -1):
            poly[k] -= poly[k - m - i]
        for k in range(i, size):
            poly[k] += poly[k - i]
    return poly


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Exact two-sided p-value of the Mann-Whitney U test (NaN for an empty side).

    Ties count half in U; the p-value then uses the untied distribution, rounded the
    conservative way (a tie never makes a difference look more certain)."""
    n, m = len(a), len(b)
    if not n or not m:
        return math.nan
    u = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)
    counts = _u_counts(n, m)
    total = sum(counts)
    lower = sum(counts[: math.ceil(u) + 1])
    upper = sum(counts[math.floor(u):])
    return min(1.0, 2 * min(lower, upper) / total)


@dataclass(frozen=True)
class Pair:
    """One matched cell: A's and B's, and what the raw repeats say about them."""

    key: Key
    a: Cell
    b: Cell

    @staticmethod
    def _per_unit(cell: Cell) -> list[float]:
        units = cell.tasks * cell.scale or 1
        return [w / units for w in cell.walls]

    @property
    def same_work(self) -> bool:
        return (self.a.tasks, self.a.scale) == (self.b.tasks, self.b.scale)

    @property
    def ratio(self) -> float:
        """Median wall per work unit, B over A (< 1: B faster)."""
        a, b = self._per_unit(self.a), self._per_unit(self.b)
        return statistics.median(b) / statistics.median(a) if a and b and min(a) > 0 else math.nan

    @property
    def ranges_apart(self) -> bool:
        a, b = self._per_unit(self.a), self._per_unit(self.b)
        return bool(a and b) and (max(a) < min(b) or max(b) < min(a))

    @property
    def p_value(self) -> float:
        return mann_whitney_p(self._per_unit(self.a), self._per_unit(self.b))

    @property
    def beyond_noise(self) -> bool:
        return self.ranges_apart or self.p_value < ALPHA

    @property
    def effect(self) -> float:
        return abs(math.log(self.ratio)) if self.ratio > 0 else math.inf

    @property
    def label(self) -> str:
        kernel, impl, executor, workers, payload = self.key
        return f"{kernel}/{impl}/{executor}" + (f"[{payload}]" if payload else "") + f"x{workers}"

    def as_dict(self) -> dict[str, Any]:
        kernel, impl, executor, workers, payload = self.key
        p = self.p_value

        def finite(x: float) -> Optional[float]:
            return x if math.isfinite(x) else None

        return {"kernel": kernel, "impl": impl, "executor": executor, "workers": workers,
                "payload": payload, "a_wall_s": finite(self.a.wall_s), "b_wall_s": finite(self.b.wall_s),
                "a_walls": list(self.a.walls), "b_walls": list(self.b.walls),
                "a_work": self.a.tasks * self.a.scale, "b_work": self.b.tasks * self.b.scale,
                "ratio": finite(self.ratio), "ranges_apart": self.ranges_apart,
                "p_value": finite(p), "beyond_noise": self.beyond_noise}


@dataclass
class Diff:
    """Everything `gil-lab diff` reports."""

    a: Run
    b: Run
    pairs: list[Pair]  # sorted by effect, largest first
    only_a: list[Cell]
    only_b: list[Cell]
    not_compared: list[tuple[Cell, Cell]]
    differences: list[str]  # interpreter facts that differ between the two sides


def _differences(env_a: dict[str, Any], env_b: dict[str, Any]) -> list[str]:
    """labsrc.core.envinfo.interpreter_differences where it exists, else the three facts that matter most."""
    from labsrc.core import envinfo

    named = getattr(envinfo, "interpreter_differences", None)
    if named is not None:
        return list(named(env_a, env_b))
    out = []
    for key in ("python_implementation", "python_version", "gil_enabled"):
        a, b = env_a.get(key), env_b.get(key)
        if a is not None and b is not None and a != b:
            out.append(f"{key} {a} vs {b}")
    return out


def diff_runs(a: Run, b: Run, a_at: Optional[str] = None, b_at: Optional[str] = None) -> Diff:
    """Match the two sides' cells; UsageError when no cell is common to both."""
    cells_a, cells_b = side_cells(a, a_at), side_cells(b, b_at)
    for side, run, at, cells in (("A", a, a_at, cells_a), ("B", b, b_at, cells_b)):
        if at is not None and not cells:
            labels = sorted({c.impl.rpartition("@")[2] for c in run.cells if "@" in c.impl})
            raise UsageError(f"{side}: {run.path} has no rows run under --python {at} (impl@{at}); "
                             f"its labels: {', '.join(labels) or 'none (no --python rows)'}")
    if (a_at is None) != (b_at is None):  # one side is another interpreter's: the other, ours
        if a_at is None:
            cells_a = {k: c for k, c in cells_a.items() if "@" not in k[1]}
        else:
            cells_b = {k: c for k, c in cells_b.items() if "@" not in k[1]}
    common = [k for k in cells_a if k in cells_b]
    if not common:
        raise UsageError(f"no cell (kernel, impl, executor, workers, payload) is in both {a.path} "
                         f"({len(cells_a)} cells) and {b.path} ({len(cells_b)} cells)")
    pairs, skipped = [], []
    for key in common:
        ca, cb = cells_a[key], cells_b[key]
        if ca.ok and cb.ok and ca.walls and cb.walls:
            pairs.append(Pair(key, ca, cb))
        else:
            skipped.append((ca, cb))
    pairs.sort(key=lambda p: p.effect, reverse=True)
    return Diff(a, b, pairs, [c for k, c in cells_a.items() if k not in cells_b],
                [c for k, c in cells_b.items() if k not in cells_a], skipped,
                _differences(side_env(a, a_at), side_env(b, b_at)))


def _ms(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.3g}us"
    return f"{value * 1e3:.1f}ms" if value < 1 else f"{value:.3f}s"


def _wall(pair: Pair, cell: Cell) -> str:
    """Median wall; per work unit ('/u') where the two runs did different work."""
    if pair.same_work:
        return _ms(cell.wall_s)
    return _ms(cell.wall_s / (cell.tasks * cell.scale or 1)) + "/u"


def _range(pair: Pair, cell: Cell) -> str:
    if pair.same_work:
        return f"{_ms(cell.wall_min_s)}-{_ms(cell.wall_max_s)}"
    units = cell.tasks * cell.scale or 1
    return f"{_ms(cell.wall_min_s / units)}-{_ms(cell.wall_max_s / units)}/u"


def _executor(pair: Pair) -> str:
    executor, payload = pair.key[2], pair.key[4]
    return f"{executor}[{payload}]" if payload else executor


DIFF_COLUMNS = (
    Column("kernel", lambda p: p.key[0], right=False), Column("impl", lambda p: p.key[1], right=False),
    Column("executor", _executor, right=False), Column("workers", lambda p: str(p.key[3])),
    Column("A wall", lambda p: _wall(p, p.a)), Column("A min-max", lambda p: _range(p, p.a)),
    Column("B wall", lambda p: _wall(p, p.b)), Column("B min-max", lambda p: _range(p, p.b)),
    Column("B/A", lambda p: f"{p.ratio:.3g}"),
    Column("ranges", lambda p: "apart" if p.ranges_apart else "overlap"),
    Column("p(U)", lambda p: "-" if math.isnan(p.p_value) else f"{p.p_value:.3f}"),
    Column("", lambda p: "*" if p.beyond_noise else "", right=False),
)

LEGEND = ("B/A: B's median wall over A's (< 1: B is faster), per work unit (tasks x scale); '/u': "
          "figures per work unit, where the two runs calibrated different work. *: beyond the noise: "
          "the min-max ranges "
          "of the raw runs do not overlap, or an exact two-sided Mann-Whitney U test on them gives "
          f"p < {ALPHA} (with 3 runs a side p cannot go below 0.10, so the ranges decide). Sorted by "
          "effect, largest first.")


def _side_name(run: Run, at: Optional[str]) -> str:
    """'CPython 3.11.7', or 'rows @pypy3.9, PyPy 3.9.16' for one interpreter's rows."""
    env = side_env(run, at)
    what = f"{env.get('python_implementation', '?')} {env.get('python_version', '?')}"
    return f"rows @{at}, {what}" if at else what


def _side_line(name: str, run: Run, at: Optional[str]) -> str:
    return f"{name}: {run.path} ({_side_name(run, at)}, {run.env.get('timestamp', 'time unknown')})"


def format_diff(d: Diff, a_at: Optional[str] = None, b_at: Optional[str] = None) -> str:
    """The text report: the two sides, interpreter differences, the table, the lists apart."""
    import textwrap

    lines = [_side_line("A", d.a, a_at), _side_line("B", d.b, b_at)]
    if d.differences:
        lines.append("interpreters differ: " + "; ".join(d.differences))
    lines += ["", format_table(d.pairs, DIFF_COLUMNS), textwrap.fill(LEGEND, width=100)]
    marked = sum(p.beyond_noise for p in d.pairs)
    lines.append(f"{marked} of {len(d.pairs)} matched cells differ beyond the noise.")
    for title, cells in (("only in A", d.only_a), ("only in B", d.only_b)):
        if cells:
            lines.append(textwrap.fill(f"{title} ({len(cells)}): " + ", ".join(c.label for c in cells),
                                       width=100, subsequent_indent="  "))
    for ca, cb in d.not_compared:
        lines.append(f"not compared: {ca.label}: A {ca.status}{': ' + ca.reason if ca.reason else ''}; "
                     f"B {cb.status}{': ' + cb.reason if cb.reason else ''}")
    return "\n".join(lines)


def diff_json(d: Diff) -> str:
    """The diff as JSON (sorted as the table)."""
    doc = {"a": str(d.a.path), "b": str(d.b.path), "interpreter_differences": d.differences,
           "alpha": ALPHA, "rows": [p.as_dict() for p in d.pairs],
           "only_in_a": [c.label for c in d.only_a], "only_in_b": [c.label for c in d.only_b],
           "not_compared": [ca.label for ca, _ in d.not_compared], "legend": LEGEND}
    return json.dumps(doc, indent=2) + "\n"


def diff_plot(d: Diff, path: str | Path, title: str = "") -> Path:
    """Horizontal bars from 1 to B/A on a log axis, one per matched cell, largest effect on
    top (beyond the noise: blue; within it: grey); written atomically."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401  (matplotlib.ticker.FuncFormatter below)

    pairs = [p for p in d.pairs if math.isfinite(p.ratio) and p.ratio > 0][::-1]
    fig, ax = plt.subplots(figsize=(8, 1.4 + 0.32 * max(1, len(pairs))))
    try:
        ax.barh([p.label for p in pairs], [p.ratio - 1 for p in pairs], left=1,
                color=["tab:blue" if p.beyond_noise else "0.75" for p in pairs])
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.axvline(1, color="black", lw=0.8)
        for y, pair in enumerate(pairs):
            ax.annotate(f"{pair.ratio:.3g}", (pair.ratio, y), fontsize=7, va="center",
                        ha="left" if pair.ratio >= 1 else "right",
                        xytext=(3 if pair.ratio >= 1 else -3, 0), textcoords="offset points")
        ax.set_xlabel("B/A, median wall per work unit (log scale; < 1: B faster; grey: within the noise)")
        ax.set_title(title or f"B = {d.b.path} vs A = {d.a.path}", fontsize=8)
        ax.margins(x=0.15)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=110, format="png")
    finally:
        plt.close(fig)
    return atomic_write(path, buffer.getvalue())


def cmd_diff(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    """`gil-lab diff A B [--a-at L] [--b-at L] [--json PATH] [--plot PATH]`."""
    out = out or sys.stdout
    if args.plot and not str(args.plot).lower().endswith(".png"):
        raise UsageError(f"--plot writes a PNG: give a path ending in .png, got {args.plot!r}")
    a, b = load_run(args.a, "A"), load_run(args.b, "B")
    d = diff_runs(a, b, args.a_at, args.b_at)
    print(format_diff(d, args.a_at, args.b_at), file=out)
    if args.json:
        atomic_write(args.json, diff_json(d))
    if args.plot:
        diff_plot(d, args.plot, title=f"B ({b.path}: {_side_name(b, args.b_at)}) over "
                                      f"A ({a.path}: {_side_name(a, args.a_at)})")
    return EXIT_OK


def add_commands(subparsers: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register `gil-lab diff` (labsrc.cli.COMMAND_MODULES)."""
    p = subparsers.add_parser("diff", help="two runs side by side: B/A per cell, marked beyond the noise",
                              description="Compare two runs (results folders or results.json files) cell "
                                          "by cell. Example: gil-lab diff results/A results/B; one run made "
                                          "with --python pypy3 against itself: gil-lab diff r.json r.json "
                                          "--b-at pypy3.9")
    p.add_argument("a", help="results folder or results.json (the reference, A)")
    p.add_argument("b", help="results folder or results.json (B)")
    p.add_argument("--a-at", metavar="LABEL", help="take A's rows run under --python LABEL (impl@LABEL)")
    p.add_argument("--b-at", metavar="LABEL", help="take B's rows run under --python LABEL (impl@LABEL)")
    p.add_argument("--json", help="also write the diff as JSON")
    p.add_argument("--plot", help="also draw the ratios into this PNG file")
    return {"diff": cmd_diff}
