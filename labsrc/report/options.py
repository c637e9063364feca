"""The report's own option, parsed: `--timeline IMPL/EXECUTOR[,...]` (which cells the
timeline plot shows), shared by `gil-lab cpu`, `compare` and `report`."""

from __future__ import annotations

from typing import Optional

from labsrc.core.usage import UsageError, split_names
from labsrc.executors.registry import EXECUTORS


def timeline_cells(text: Optional[str]) -> Optional[list[tuple[str, str]]]:
    """--timeline IMPL/EXECUTOR[,...] as pairs (None: the plots' default choice)."""
    names = split_names(text, "--timeline")
    if names is None:
        return None
    pairs = []
    for name in names:
        impl, sep, executor = name.partition("/")
        if not sep or not impl or executor not in EXECUTORS:
            raise UsageError(f"--timeline takes IMPL/EXECUTOR pairs such as cy_nogil/threads "
                             f"(executors: {', '.join(EXECUTORS)}), got {name!r}")
        pairs.append((impl, executor))
    return pairs
