"""gil-lab: study the GIL by running the same kernels under different concurrency models.

The few names most users need are re-exported here, lazily, so that importing
`labsrc.kernels` in a worker process does not drag in the harness (or matplotlib):

    from labsrc import GilProbe, run_matrix, plan, Options, list_kernels

(`list_kernels` and `make_findings` are `labsrc.kernels.catalog.kernels` and
`labsrc.report.findings.findings` under names that cannot collide with those modules.)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# name -> module, or (module, attribute) where the attribute's own name would shadow a module.
_EXPORTS: dict[str, str | tuple[str, str]] = {
    "GilProbe": "labsrc.core.probe",
    "ProbeStats": "labsrc.core.probe",
    "Options": "labsrc.harness.timing",
    "Cell": "labsrc.core.results",
    "Status": "labsrc.core.names",
    "ExecutorName": "labsrc.core.names",
    "Payload": "labsrc.core.names",
    "plan": "labsrc.harness.matrix",
    "run_matrix": "labsrc.harness.matrix",
    "make_executor": "labsrc.executors.registry",
    "TaskRef": "labsrc.core.worker",
    "IoRow": "labsrc.harness.iobench",
    "measure_io": "labsrc.harness.iobench",
    "make_findings": ("labsrc.report.findings", "findings"),
    "env_info": "labsrc.core.envinfo",
    "list_kernels": ("labsrc.kernels.catalog", "kernels"),
    "get_kernel": "labsrc.kernels.catalog",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        where = _EXPORTS[name]
        module, attr = where if isinstance(where, tuple) else (where, name)
        return getattr(import_module(module), attr)
    raise AttributeError(f"module 'labsrc' has no attribute {name!r}")
