"""Reading a results folder back for `gil-lab report DIR`: DIR/results.json, checked.

Everything that can be wrong with the input (no folder, no results.json, truncated JSON,
another schema, rows that are not cells) raises `ReportInputError` with what is wrong, so
the command exits 2 before it writes anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from labsrc.harness.iobench import IoRow
from labsrc.core.results import SCHEMA, Cell

RESULTS_NAME = "results.json"


class ReportInputError(ValueError):
    """The results folder cannot be read back: the message says what is wrong."""


@dataclass
class RunData:
    """One run as written to results.json: environment, CPU cells, I/O rows."""

    env: dict[str, Any] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)
    io_rows: list[IoRow] = field(default_factory=list)


def _rows(doc: Mapping[str, Any], key: str, path: Path) -> list[Any]:
    rows = doc.get(key, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ReportInputError(f"{path}: {key!r} must be a list of rows (objects)")
    return rows


def parse_results(doc: Any, path: Path) -> RunData:
    """The run in a parsed results.json document; ReportInputError when it is not one."""
    if not isinstance(doc, dict):
        raise ReportInputError(f"{path} is not a gil-lab results document (a JSON object with "
                               f"'schema', 'env', 'results' and 'io'), it holds a {type(doc).__name__}")
    if "schema" not in doc:
        raise ReportInputError(f"{path} has no 'schema' field: not a results.json of gil-lab cpu, io or "
                               "compare (the dynamics experiments write a format of their own)")
    schema = doc["schema"]
    if schema != SCHEMA:
        newer = " (written by a newer gil-lab)" if isinstance(schema, int) and schema > SCHEMA else ""
        raise ReportInputError(f"{path} has schema {schema!r}{newer}; this gil-lab reads schema {SCHEMA}")
    env = doc.get("env", {})
    if not isinstance(env, dict):
        raise ReportInputError(f"{path}: 'env' must be an object")
    cells, io_rows = [], []
    for n, row in enumerate(_rows(doc, "results", path)):
        try:
            cells.append(Cell.from_dict(row))
        except (TypeError, ValueError, KeyError) as exc:  # a missing field, a wrong type or status
            raise ReportInputError(f"{path}: results[{n}] is not a cell: {exc}") from None
    for n, row in enumerate(_rows(doc, "io", path)):
        try:
            io_rows.append(IoRow.from_dict(row))
        except (TypeError, ValueError, KeyError) as exc:
            raise ReportInputError(f"{path}: io[{n}] is not an I/O row: {exc}") from None
    if not cells and not io_rows:
        raise ReportInputError(f"{path} holds no cells and no I/O rows: nothing to report")
    return RunData(env, cells, io_rows)


def load_results(folder: str | os.PathLike[str]) -> RunData:
    """The run stored in `folder`/results.json; ReportInputError saying what is wrong."""
    where = Path(folder)
    if not where.exists():
        raise ReportInputError(f"no such folder: {where}")
    if not where.is_dir():
        raise ReportInputError(f"{where} is not a folder (give the results folder that holds {RESULTS_NAME})")
    path = where / RESULTS_NAME
    if not path.is_file():
        raise ReportInputError(f"{where} has no {RESULTS_NAME} (gil-lab compare writes one into "
                               "results/<timestamp>/; gil-lab cpu and io write one with --json)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"cannot read {path}: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column "
                               f"{exc.colno}): truncated or edited by hand?") from None
    return parse_results(doc, path)
