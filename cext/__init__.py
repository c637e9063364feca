"""Cython twins of the kernels in `labsrc.kernels`.

Each module mirrors its pure-Python twin's public names. In a Cython module the plain
name releases the GIL for the whole computation, `<name>_gil` runs the very same C code
while holding it, and `<name>_prange` parallelises inside the kernel with OpenMP.
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder
from pathlib import Path

BUILD_HINT = (
    "the Cython extensions in cext/ are not built; run `pip install -e .` "
    "from the project root (it needs a C compiler) and try again"
)


_SOURCE_DIR = Path(__file__).parent


class _UnbuiltKernelFinder(MetaPathFinder):
    """Last finder on sys.meta_path: turns "No module named cext.x" into build advice.

    It is consulted only after the normal finders failed, so it never shadows a built
    module; it answers only for names that have a .pyx source here.
    """

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        prefix, _, module = fullname.partition(".")
        if prefix == "cext" and module and (_SOURCE_DIR / f"{module}.pyx").exists():
            raise ImportError(f"cannot import cext.{module}: {BUILD_HINT}", name=fullname)
        return None


if not any(isinstance(f, _UnbuiltKernelFinder) for f in sys.meta_path):
    sys.meta_path.append(_UnbuiltKernelFinder())


def build_info() -> dict[str, object]:
    """Describe the build: OpenMP on or off, its version and threads, the Cython used.

    Raises ImportError with build instructions when the extensions are not built.
    """
    try:
        from cext import _buildinfo
    except ImportError as exc:
        raise ImportError(f"cannot describe the build: {BUILD_HINT}") from exc
    version = _buildinfo.openmp_version()
    return {
        "openmp": version > 0,
        "openmp_version": version,
        "openmp_max_threads": _buildinfo.openmp_max_threads(),
        "cython_version": _buildinfo.cython_version(),
    }
