"""What runs inside a pool's worker (a process, or a sub-interpreter): resolve the task
function by name, build a task's input from its recipe, time the call, and send back the
answer or, when it is large, its digest.

Kept apart from labsrc.executors.registry so that a worker imports only the catalog and this.
"""

from __future__ import annotations

import array
import os
import pickle
import resource
import signal
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from labsrc.core.allocator import pin_allocator
from labsrc.kernels.catalog import TaskArgs, get_kernel, resolve
from labsrc.core.layout import call_shifted

# Which clock `clock` (time.perf_counter) is, for the report: on Linux CLOCK_MONOTONIC, one
# system-wide clock, so stamps taken in worker processes line up with the parent's.
CLOCK_INFO = str(time.get_clock_info("perf_counter").implementation)

# CLOCK_MONOTONIC on Linux: one system-wide clock, so spans stamped in a worker process
# line up with the parent's.
clock = time.perf_counter

# Answers up to this many bytes travel whole under the recipe payload (a prime count, a
# 32-byte digest); larger ones (an RC4 buffer, a Mandelbrot array) as a ResultDigest.
SMALL_ANSWER_BYTES = 4096


@dataclass(frozen=True)
class TaskRef:
    """The task function by name: `resolve(kernel, impl)(*args, **dict(kwargs))`."""

    kernel: str
    impl: str
    kwargs: tuple[tuple[str, Any], ...] = ()


class ResultDigest(NamedTuple):
    """A large answer, summarised: a checksum of its bytes, their count, its type/shape, and
    the checksum's name (a worker and the parent that checks it must use the same one).
    """

    checksum: int
    nbytes: int
    kind: str
    algorithm: str


def _pick_checksum() -> tuple[str, Callable[[Any], int]]:
    """XXH3-64 where the xxhash package is installed, else CRC-32 (standard library).

    The checksum runs inside the timed task of a worker (the answer must be summarised
    before it can travel), but not under `seq`, whose answers are checked outside the
    timing; so its cost is a handicap of the process and Dask cells. Measured here on a
    12 MB Mandelbrot answer: CRC-32 0.19 ns a byte, XXH3 0.036. Both catch every wrong
    answer short of a deliberate collision.
    """
    try:
        import xxhash
    except ImportError:  # e.g. an interpreter without a wheel for it
        return "crc32", zlib.crc32
    return "xxh3_64", xxhash.xxh3_64_intdigest


CHECKSUM_NAME, _checksum = _pick_checksum()


class RemoteResult(NamedTuple):
    """One task done in a worker: its answer (or digest), its span and its CPU seconds."""

    answer: Any
    start: float
    end: float
    worker: int
    cpu_s: float


_FUNCTIONS: dict[tuple[str, str], Callable[..., Any]] = {}
_INPUTS: dict[tuple[str, int, int], TaskArgs] = {}


def function(ref: TaskRef) -> Callable[..., Any]:
    """The task function of `ref`, resolved once per process."""
    key = (ref.kernel, ref.impl)
    fn = _FUNCTIONS.get(key)
    if fn is None:
        fn = _FUNCTIONS[key] = resolve(ref.kernel, ref.impl)
    return fn


def task_input(kernel: str, scale: int, index: int) -> TaskArgs:
    """The input of task `index` at `scale`, built here once and kept, as a worker keeps its
    shard of the data (the warm-up run builds it, so timed runs do not)."""
    key = (kernel, scale, index)
    args = _INPUTS.get(key)
    if args is None:
        if any(k[:2] != (kernel, scale) for k in _INPUTS):
            _INPUTS.clear()  # a new workload: drop the old one's inputs
        args = _INPUTS[key] = get_kernel(kernel).task(index, scale)
    return args


def digest_kind(type_name: str, dtype: Any, shape: Any) -> str:
    """What a ResultDigest says its answer was: 'ndarray:int32:(16, 64)', 'bytes:B:(4096,)'."""
    return f"{type_name}:{dtype}:{tuple(shape)}"


# The checksums a digest may name, and where each can be computed: CRC-32 everywhere (the
# standard library's zlib), XXH3 where xxhash loads (not in every sub-interpreter: 3.13t's).
CHECKSUMS: dict[str, Callable[[Any], int]] = {"crc32": zlib.crc32, CHECKSUM_NAME: _checksum}


def digest(answer: Any, algorithm: str = CHECKSUM_NAME) -> Any:
    """`answer` itself when small, else its ResultDigest (by `algorithm`, one of CHECKSUMS)."""
    checksum = CHECKSUMS[algorithm]
    if isinstance(answer, (int, float, str, bool)) or answer is None:
        return answer
    nbytes = getattr(answer, "nbytes", None)
    # array.array: mandelbrot's twins answer one where numpy cannot load (a sub-interpreter)
    if isinstance(answer, (bytes, bytearray, memoryview, array.array)) or nbytes is not None:
        view = memoryview(answer)
        if view.nbytes <= SMALL_ANSWER_BYTES:
            return answer
        kind = digest_kind(type(answer).__name__, getattr(answer, "dtype", "B"),
                           getattr(answer, "shape", (view.nbytes,)))
        return ResultDigest(checksum(view.cast("B") if view.contiguous else bytes(view)),
                            view.nbytes, kind, algorithm)
    data = pickle.dumps(answer)
    if len(data) <= SMALL_ANSWER_BYTES:
        return answer
    return ResultDigest(checksum(data), len(data), f"pickle:{type(answer).__name__}", algorithm)


def _timed_call(fn: Callable[..., Any], args: TaskArgs, kwargs: dict[str, Any]) -> RemoteResult:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = clock()
    answer = call_shifted(fn, args, kwargs)
    end = clock()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return RemoteResult(answer, start, end, os.getpid(), cpu)


def call_data(ref: TaskRef, args: TaskArgs) -> RemoteResult:
    """Worker entry, data payload: the input came pickled; the whole answer goes back."""
    return _timed_call(function(ref), args, dict(ref.kwargs))


def call_recipe(ref: TaskRef, scale: int, index: int) -> RemoteResult:
    """Worker entry, recipe payload: build (or reuse) the input here; send back the answer
    when small, its digest when large (the digest is taken after the span ends)."""
    args = task_input(ref.kernel, scale, index)
    done = _timed_call(function(ref), args, dict(ref.kwargs))
    return done._replace(answer=digest(done.answer))


def init_worker(ref: TaskRef) -> None:
    """Pool initializer: ignore Ctrl-C (the parent handles it and terminates us; tracebacks
    from every worker would bury its message), pin the allocator as the parent does, and
    resolve the function now so that its import counts as start-up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pin_allocator()
    function(ref)


def ready() -> int:
    """A no-op the pool runs once per worker, so start-up ends when all of them answered."""
    return os.getpid()
