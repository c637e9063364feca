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
    """The executors of the matrix (one class per name in the labsrc.executors.registry registry)."""

    SEQ = "seq"
    THREADS = "threads"
    PROCS = "procs"
    ASYNCIO = "asyncio"
    INTERP = "interp"
    THREADING = "threading"  # N threading.Thread workers on a queue.Queue (the book's 17.5.3)
    MP_POOL = "mp_pool"  # multiprocessing.Pool, imap_unordered
    DASK_THREADS = "dask_threads"  # one Dask worker process with N threads
    DASK_PROCS = "dask_procs"  # N Dask worker processes with one thread each


class Payload(StrEnum):
    """What a process cell sends its workers for each task.

    RECIPE: (kernel, scale, task index); the worker builds the input once, keeps it, and
    returns small answers as they are and large ones as a digest (labsrc.core.worker.ResultDigest).
    DATA: the input bytes themselves, and the whole answer back (pickled both ways).
    """

    RECIPE = "recipe"
    DATA = "data"
