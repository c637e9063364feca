"""gil-lab: study the GIL by running the same kernels under different concurrency models.

The few names most users need are re-exported here, lazily, so that importing
`labsrc.kernels` in a worker process does not drag in the harness (or matplotlib):

    from labsrc import GilProbe, run_matrix, plan, Options, kernels
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "GilProbe": "labsrc.probe",
    "ProbeStats": "labsrc.probe",
    "Options": "labsrc.measure",
    "Cell": "labsrc.measure",
    "plan": "labsrc.measure",
    "run_matrix": "labsrc.measure",
    "make_executor": "labsrc.executors",
    "TaskRef": "labsrc.executors",
    "findings": "labsrc.findings",
    "env_info": "labsrc.envinfo",
    "kernels": "labsrc.kernels.catalog",
    "get_kernel": "labsrc.kernels.catalog",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'labsrc' has no attribute {name!r}")
