"""Pure-Python kernels (twins of `cext.*`) and the catalog the harness runs them through."""

from labsrc.kernels.catalog import (
    Impl,
    ImplUnavailable,
    Kernel,
    VerificationError,
    get_kernel,
    kernels,
    resolve,
)

__all__ = ["Impl", "ImplUnavailable", "Kernel", "VerificationError", "get_kernel", "kernels", "resolve"]
