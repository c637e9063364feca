"""The lab's closed vocabularies, one StrEnum each.

StrEnum members compare equal to their plain strings, so rows read back from a JSON file
("seq", "ok") and rows made in this run match the same names.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """How a cell ended."""

    OK = "ok"
    FAILED = "failed"  # wrong answer, crashed worker, a task raised
    SKIPPED = "skipped"  # the implementation cannot load here (not built, no OpenMP, ...)
    UNAVAILABLE = "unavailable"  # the executor cannot run here (e.g. interp before 3.14)


class ExecutorName(StrEnum):
    """The executors of the matrix (labsrc.executors has one class per name)."""

    SEQ = "seq"
    THREADS = "threads"
    PROCS = "procs"
    ASYNCIO = "asyncio"
    INTERP = "interp"


class Payload(StrEnum):
    """What a process cell sends its workers for each task.

    RECIPE: (kernel, scale, task index); the worker builds the input once, keeps it, and
    returns small answers as they are and large ones as a CRC-32 digest.
    DATA: the input bytes themselves, and the whole answer back (pickled both ways).
    """

    RECIPE = "recipe"
    DATA = "data"
