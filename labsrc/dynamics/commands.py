"""The `gil-lab` subcommands of the GIL-dynamics experiments."""

from __future__ import annotations

import argparse
from typing import Callable

Command = Callable[[argparse.Namespace], int]


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> dict[str, Command]:
    """Add this package's subparsers to `sub`; return {name: handler}."""
    return {}
