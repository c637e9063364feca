"""What every command-line layer shares: the exit codes (from flags.common, the leaf), the
usage error (exit status 2) and the comma-separated list option. Here, not in labsrc.cliargs,
so that the packages below the CLI (dynamics, interpreters, report) can raise a usage error
without importing the CLI."""

from __future__ import annotations

from typing import Optional

from flags.common import ExitCode

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = (
    ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE, ExitCode.INTERRUPTED)


class UsageError(Exception):
    """Bad command-line input: printed after `gil-lab: error:`, exit status 2."""


def split_names(text: Optional[str], option: str) -> Optional[list[str]]:
    """A comma-separated option as a list (None when not given); an empty list is a usage error."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"{option} needs at least one comma-separated name, got {text!r}")
    return names
