"""Files written atomically: a reader (or an interrupted run) sees the old file or the new
one, never half of one. Every table, JSON, CSV, plot and page the lab writes goes through here."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_UMASK = os.umask(0o022)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write `data` (text as UTF-8, or bytes) to `path` via a temporary file in the same
    folder and os.replace: a reader sees the old file or the new one, never half of it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if isinstance(data, bytes):
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(data)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; reports are ordinary files
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
