"""Build the Cython kernels in cext/.

Everything declarative lives in pyproject.toml; this file only does what needs code:
cythonize every cext/*.pyx with one set of directives, find numpy's headers, probe
whether the C compiler really accepts OpenMP before asking for it, and leave out of the
test extra the peers that a free-threaded build cannot have.

Environment switches (read at build time):
  GILLAB_DEBUG=1      bounds and wraparound checks back on (slower; for hunting bugs)
  GILLAB_ANNOTATE=1   write Cython's annotated HTML next to each .pyx
  GILLAB_NO_OPENMP=1  build the serial fallback even where OpenMP works
"""

from __future__ import annotations

import os
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools._distutils.ccompiler import new_compiler
from setuptools._distutils.errors import CompileError, LinkError
from setuptools._distutils.sysconfig import customize_compiler

HERE = Path(__file__).parent
DEBUG = os.environ.get("GILLAB_DEBUG") == "1"

DIRECTIVES = {
    "language_level": 3,
    # The kernels index arrays they sized themselves; checks cost ~2x in the inner loops.
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    # C division semantics: no ZeroDivisionError checks in hot loops (divisors are never 0).
    "cdivision": True,
    # Signatures in docstrings, so help() and the twin-parity test see real parameter lists.
    "embedsignature": True,
    # The kernels keep no shared mutable state, so they are safe without the GIL (3.13t).
    "freethreading_compatible": True,
    # ...and in sub-interpreters with their own GIL (PEP 684). The slot that says so is
    # only emitted with module state on (CYTHON_USE_MODULE_STATE=1, in extensions());
    # typed memoryviews must stay out of cext/, their support code is process-global.
    "subinterpreters_compatible": "own_gil",
}

# Floating-point results must match Python's bit for bit: forbid fused multiply-add.
BASE_COMPILE_ARGS = ["-O3", "-ffp-contract=off"]

OPENMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return omp_get_max_threads() > 0 && n > 0 ? 0 : 1;
}
"""


def openmp_flags() -> list[str]:
    """Return the OpenMP flag if this compiler can compile *and* link it, else [].

    A missing flag would silently turn every prange into a serial loop, so the
    result is announced either way and recorded in the build (cext.build_info()).
    """
    if os.environ.get("GILLAB_NO_OPENMP") == "1":
        print("gil-lab: GILLAB_NO_OPENMP=1, building the serial fallback", file=sys.stderr)
        return []
    if sys.platform == "win32":
        return ["/openmp"]
    compiler = new_compiler()
    customize_compiler(compiler)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "probe.c")
        src.write_text(OPENMP_PROBE)
        try:
            objects = compiler.compile([str(src)], output_dir=tmp, extra_postargs=["-fopenmp"])
            compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=["-fopenmp"])
        except (CompileError, LinkError):
            print(
                "gil-lab: WARNING: the C compiler does not support OpenMP; building serially."
                " The *_prange kernels will run on one thread and `gil-lab env` will say so.",
                file=sys.stderr,
            )
            return []
    return ["-fopenmp"]


INTERP_BACKPORT = 'interpreters-pep-734>=0.5; python_version >= "3.13" and python_version < "3.14"'

# Optional peers, one extra each; a missing one shows as an "unavailable: pip install
# gil-lab[extra]" row, never as a crash.
EXTRAS = {
    "trace": ["py-spy>=0.4"],  # gil-lab trace: who holds the GIL (py-spy --gil)
    "peers": ["numba>=0.61"],  # numba / numba_gil rows
    "dask": ["distributed>=2025.1"],  # dask_threads / dask_procs executors
    # the interp executor on 3.13 (InterpreterPoolExecutor, PEP 734, backported); 3.14+ has
    # it in the standard library. The backport needs 3.13's _interpreters module: on 3.12 it
    # would install but not load, so it is not offered there (the interp rows say why).
    "interp": [INTERP_BACKPORT],
}
# The tests cover every optional peer that works on this build, so the test extra brings
# them all. A free-threaded build (3.13t) has no numba (llvmlite: no free-threaded wheel, and
# its sdist needs LLVM) and no gilknocker (no free-threaded wheel; its sdist needs Rust and
# crates), and py-spy installs but cannot read a free-threaded process: there the test extra
# leaves them out and their tests skip. No environment marker tells a free-threaded build
# from a GIL one, so this is decided here, by the Python that builds.
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
EXTRAS["test"] = [
    "gil-lab[dask]" if FREE_THREADED else "gil-lab[trace,peers,dask]",
    "pytest>=8",
    "hypothesis>=6.100",
    "pytest-timeout>=2.3",
    # a second, independent GIL-contention metric; the probe test checks both rank cells alike
    *([] if FREE_THREADED else ["gilknocker>=0.4"]),
    # drives Debian's chromium + chromium-driver in the HTML report's browser test
    "selenium>=4.20",
    # the interp executor's tests on 3.13 (and 3.13t: the backport runs there too)
    INTERP_BACKPORT,
]


def extensions() -> list[Extension]:
    omp = openmp_flags()
    return [
        Extension(
            f"cext.{pyx.stem}",
            [str(pyx.relative_to(HERE))],
            include_dirs=[numpy.get_include()],
            define_macros=[
                ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                # Module globals per interpreter (experimental in Cython): without it the
                # subinterpreters_compatible directive has no effect.
                ("CYTHON_USE_MODULE_STATE", "1"),
            ],
            extra_compile_args=BASE_COMPILE_ARGS + omp,
            extra_link_args=omp,
        )
        for pyx in sorted((HERE / "cext").glob("*.pyx"))
    ]


setup(
    extras_require=EXTRAS,
    ext_modules=cythonize(
        extensions(),
        compiler_directives=DIRECTIVES,
        annotate=os.environ.get("GILLAB_ANNOTATE") == "1",
    )
)
