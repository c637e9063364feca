"""Mortal constants on a free-threaded build: found where a module was compiled from source,
gone where the lab runs a free-threaded child from the bytecode it compiled for it."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import tempfile
from typing import Any

from labsrc.core import constants
from labsrc.interpreters.discover import child_env, probe
from labsrc.interpreters.lab import child_env_compiled

REPORT = ("import json; from labsrc.core.constants import mortal_constants; "
          "print(json.dumps(mortal_constants('labsrc.kernels.mandelbrot')))")


def _mortal_there(python: str, env: dict[str, str]) -> Any:
    done = subprocess.run([python, "-c", REPORT], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_gil_build_reports_nothing_to_contend_for() -> None:
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        assert isinstance(constants.mortal_kernel_constants(), list)
    else:
        assert constants.mortal_kernel_constants() is None


def test_mortal_numbers_are_named_by_function(monkeypatch: Any) -> None:
    # Whatever this build does, a constant that reads as mortal is reported under its function.
    monkeypatch.setattr(constants, "is_immortal", lambda obj: not isinstance(obj, float))
    found = constants.mortal_constants("labsrc.kernels.mandelbrot")
    assert "mandelbrot._escape_count: 0.0, 4.0, 2.0" in found
    assert not any(entry.startswith("mandelbrot.mandelbrot:") for entry in found)  # no float in it
    monkeypatch.setattr(constants, "is_immortal", lambda obj: True)
    assert constants.mortal_constants("labsrc.kernels.sha256") == []


def test_small_ints_and_none_are_immortal_from_3_12() -> None:
    assert not constants.is_immortal(object())
    assert constants.is_immortal(None) is (sys.version_info >= (3, 12))  # PEP 683
    assert constants.is_immortal(1) is (sys.version_info >= (3, 12))


def test_from_source_mortal_from_the_labs_bytecode_immortal(ft_python: str) -> None:
    interp = probe(ft_python)
    assert interp.facts.get("free_threaded_build")
    source = {**child_env(), "PYTHONDONTWRITEBYTECODE": "1"}
    source.pop("PYTHONPYCACHEPREFIX", None)
    assert "mandelbrot._escape_count: 0.0, 4.0, 2.0" in _mortal_there(ft_python, source)
    with tempfile.TemporaryDirectory() as tmp:
        compiled = child_env_compiled(interp, tmp)
        assert "PYTHONDONTWRITEBYTECODE" not in compiled
        assert _mortal_there(ft_python, compiled) == []
