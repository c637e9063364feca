"""The audit's one table, as text: a row per verdict and interpreter (verdict, python,
answer, figure), the interpreters' paths under it, and a line per --require that failed.

Each row is one line, however long its figure: a row stays greppable (`| grep thread-safe`)
and pastes into Markdown as a code block unchanged.
"""

from __future__ import annotations

from typing import Sequence

from labsrc.tools.audit import AuditReport


def _heading(report: AuditReport) -> list[str]:
    what = []
    if report.module:
        what.append(f"import {report.module}")
    if report.statement:
        what.append(report.statement)
    lines = ["gil-lab check: " + "; then ".join(what)]
    if report.setup:
        setup = report.setup.strip("\n").splitlines()
        lines += ["  setup: " + setup[0]] + ["    " + line for line in setup[1:]]
    if report.result:
        lines.append(f"  result compared: {report.result}")
    return lines


def render(report: AuditReport, required: Sequence[str] = ()) -> str:
    """The table, with the failures of `required` (if any) under it."""
    rows = [(name if first else "", interp.label, verdict.answer, verdict.figure)
            for name in _names(report)
            for first, (interp, verdict) in _firsts([(i, i.verdicts[name]) for i in report.interpreters
                                                     if name in i.verdicts])]
    head = ("verdict", "python", "answer", "figure")
    widths = [max(len(head[c]), *(len(r[c]) for r in rows)) for c in range(3)]
    out = _heading(report)
    out.append("  ".join(h.ljust(w) for h, w in zip(head, widths + [0])).rstrip())
    for row in rows:
        out.append(("  ".join(c.ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3]).rstrip())
    out.append("")
    out += [f"{i.label}: Python {i.version} ({i.python})" for i in report.interpreters]
    for failure in report.failures(required):
        out.append(f"REQUIRED, NOT MET: {failure}")
    return "\n".join(out)


def _names(report: AuditReport) -> list[str]:
    names: list[str] = []
    for interp in report.interpreters:
        names += [n for n in interp.verdicts if n not in names]
    return names


def _firsts(items: list) -> list:
    return [(k == 0, item) for k, item in enumerate(items)]
