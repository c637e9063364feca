"""The kernel catalog: the only thing the harness knows about kernels.

One `Kernel` per CPU-bound kernel names its implementations (`py`, `cy_gil`, `cy_nogil`,
`cy_prange`, peers such as `hashlib` or `numpy`), makes a deterministic workload and
verifies results. Entries live one per file in `labsrc.kernels.entries`; adding a kernel
means one pure-Python twin, one .pyx and one entry file, nothing here.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Callable, Optional, Sequence

# Display order of the shipped kernels; entries not named here follow alphabetically.
KERNEL_ORDER = ("primes", "arcfour", "sha256", "mandelbrot")

TaskArgs = tuple[Any, ...]


class ImplUnavailable(RuntimeError):
    """An implementation cannot run here (extension not built, no OpenMP, ...).

    `str(exc)` is a plain reason meant for the user, e.g. "cext not built".
    """


class VerificationError(AssertionError):
    """A kernel returned a wrong answer. The message says which task and how it differs."""


@dataclass(frozen=True)
class Impl:
    """One implementation of a kernel: where its task function lives and what it promises.

    `function` is called as `function(*task_args)`; when `inner_threads` is true it also
    takes `num_threads=` (an OpenMP prange kernel that parallelises inside one call).
    """

    name: str
    module: str
    function: str
    releases_gil: bool
    description: str
    inner_threads: bool = False
    needs_openmp: bool = False

    def load(self) -> Callable[..., Any]:
        """Import and return the task function, or raise ImplUnavailable with a reason."""
        try:
            mod = importlib.import_module(self.module)
        except ImportError as exc:
            raise ImplUnavailable(f"{self.module} cannot be imported: {exc}") from exc
        if self.needs_openmp:
            from cext import build_info

            if not build_info()["openmp"]:
                raise ImplUnavailable("cext was built without OpenMP, so prange would run serially")
        try:
            return getattr(mod, self.function)
        except AttributeError as exc:
            raise ImplUnavailable(f"{self.module} has no {self.function}") from exc

    def available(self) -> tuple[bool, str]:
        """(True, "") when loadable, else (False, reason)."""
        try:
            self.load()
        except ImplUnavailable as exc:
            return False, str(exc)
        return True, ""


@dataclass(frozen=True)
class Kernel:
    """A CPU-bound kernel with its implementations, workload maker and verifier.

    make_workload(tasks, scale) returns `tasks` argument tuples of equal cost; the work of
    one task grows about linearly with `scale` (an int >= 1), so the harness can calibrate.
    Task `i` is the same whatever `tasks` is, so a worker can rebuild it from (i, scale).
    verify(args, result) raises VerificationError unless `result` is right for `args`; it
    never trusts the implementation under test and is cheap next to a `py` task.
    """

    name: str
    summary: str
    impls: tuple[Impl, ...]
    make_workload: Callable[[int, int], list[TaskArgs]]
    verify: Callable[[TaskArgs, Any], None]
    default_scale: int
    quick_scale: int
    hidden: bool = False  # not in "all kernels" (e.g. the no-op used to time the harness)
    notes: str = field(default="")
    # make_task(index, scale) -> the args of task `index` alone, where building the whole
    # workload to pick one task would be wasteful (large per-task inputs).
    make_task: Optional[Callable[[int, int], TaskArgs]] = None

    def task(self, index: int, scale: int) -> TaskArgs:
        """The args of task `index` of `make_workload(tasks, scale)`, for any tasks > index
        (a worker process builds its own input from this recipe)."""
        if self.make_task is not None:
            return self.make_task(index, scale)
        return self.make_workload(index + 1, scale)[index]

    def impl(self, name: str) -> Impl:
        for impl in self.impls:
            if impl.name == name:
                return impl
        names = ", ".join(i.name for i in self.impls)
        raise KeyError(f"kernel {self.name!r} has no implementation {name!r}; choose from: {names}")

    @property
    def impl_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.impls)


@cache
def _registry() -> dict[str, Kernel]:
    from labsrc.kernels import entries

    found: dict[str, Kernel] = {}
    for info in pkgutil.iter_modules(entries.__path__):
        module = importlib.import_module(f"{entries.__name__}.{info.name}")
        kernel: Kernel = module.ENTRY
        found[kernel.name] = kernel

    def order(name: str) -> tuple[int, str]:
        return (KERNEL_ORDER.index(name) if name in KERNEL_ORDER else len(KERNEL_ORDER), name)

    return {name: found[name] for name in sorted(found, key=order)}


def kernels(include_hidden: bool = False) -> list[Kernel]:
    """All catalogued kernels in display order."""
    return [k for k in _registry().values() if include_hidden or not k.hidden]


def get_kernel(name: str) -> Kernel:
    """The kernel called `name`; KeyError listing the valid names otherwise."""
    try:
        return _registry()[name]
    except KeyError:
        names = ", ".join(_registry())
        raise KeyError(f"unknown kernel {name!r}; choose from: {names}") from None


def resolve(kernel: str, impl: str) -> Callable[..., Any]:
    """The task function of `kernel`/`impl` (used by worker processes, which get names)."""
    return get_kernel(kernel).impl(impl).load()


def check_equal(kernel: str, args: TaskArgs, got: Any, expected: Any) -> None:
    """Shared verifier helper: raise VerificationError when got != expected."""
    if got != expected:
        shown = ", ".join(_short(a) for a in args)
        raise VerificationError(
            f"{kernel}({shown}) returned {_short(got)}, expected {_short(expected)}"
        )


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__: Sequence[str] = (
    "Impl",
    "ImplUnavailable",
    "Kernel",
    "VerificationError",
    "check_equal",
    "get_kernel",
    "kernels",
    "resolve",
)
