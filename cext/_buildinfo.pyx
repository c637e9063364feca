"""What the C compiler actually saw when it built the kernels.

Read from preprocessor macros of this very translation unit, so the answer cannot drift
from the build: `_OPENMP` exists only when the compiler ran with OpenMP enabled, and
`CYTHON_HEX_VERSION` is written into every generated file by the Cython that made it.
"""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define GILLAB_OPENMP_VERSION _OPENMP
    static int gillab_omp_max_threads(void) { return omp_get_max_threads(); }
    #else
    #define GILLAB_OPENMP_VERSION 0
    static int gillab_omp_max_threads(void) { return 1; }
    #endif
    """
    int GILLAB_OPENMP_VERSION
    int CYTHON_HEX_VERSION
    int gillab_omp_max_threads()


def openmp_version() -> int:
    """The `_OPENMP` date code (e.g. 201511), or 0 for a serial build."""
    return GILLAB_OPENMP_VERSION


def openmp_max_threads() -> int:
    """How many threads an OpenMP region would use by default (1 when serial)."""
    return gillab_omp_max_threads()


def cython_version() -> str:
    """The Cython version that generated the C code, as 'major.minor.micro'."""
    cdef unsigned int v = <unsigned int>CYTHON_HEX_VERSION
    return f"{(v >> 24) & 0xFF}.{(v >> 16) & 0xFF}.{(v >> 8) & 0xFF}"
