"""Test configuration shared by every suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from flags.mpcontext import record_fork_warnings

# The machines are 2 shared cores: no deadlines, modest example counts, reproducible runs.
settings.register_profile(
    "lab",
    deadline=None,
    max_examples=60,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lab"))


@pytest.fixture(autouse=True)
def no_fork_in_a_threaded_process() -> Iterator[None]:
    """Fail any test whose process pool forked this (threaded) process: a child forked while
    another thread holds a lock can hang forever (Python 3.12+ warns about it).

    An "error" warnings filter cannot do it: os.fork() discards the exception it would raise
    (see flags.mpcontext.record_fork_warnings), so the warning is recorded and judged here.
    """
    with record_fork_warnings() as forks:
        yield
    if forks:
        pytest.fail(f"fork() in a multi-threaded process: {forks[0].message} "
                    f"({forks[0].filename}:{forks[0].lineno})")


def _free_threaded_python() -> str | None:
    """A free-threaded CPython to run other interpreters' suites against: $GILLAB_FT_PYTHON,
    else pyenv's newest X.Y.Zt (what `bash .ci/get-python` builds), else None."""
    given = os.environ.get("GILLAB_FT_PYTHON")
    if given:
        return given
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted((p for p in root.glob("3.*t") if (p / "bin" / "python").exists()),
                   key=lambda p: [int(n) for n in p.name[:-1].split(".")], reverse=True) if root.is_dir() else []
    return str(found[0] / "bin" / "python") if found else None


@pytest.fixture(scope="session")
def ft_python() -> str:
    """The path of a free-threaded CPython. CI builds one (.ci/get-python) and sets
    GILLAB_REQUIRE_FT=1, so that a missing one fails there instead of skipping."""
    found = _free_threaded_python()
    if found is None:
        if os.environ.get("GILLAB_REQUIRE_FT"):
            pytest.fail("no free-threaded Python (GILLAB_REQUIRE_FT=1): run bash .ci/get-python")
        pytest.skip("no free-threaded Python here (bash .ci/get-python 3.13.5t builds one)")
    return found


@pytest.fixture(scope="session")
def ft_python_with_cext(ft_python: str) -> str:
    """ft_python where the lab's extensions are built for it too. CI's free-threaded session
    builds them before its tests run, so there this never skips; a session on a GIL build
    skips (saying so) until `pip install -e .` has run with that free-threaded interpreter."""
    import subprocess
    import sysconfig

    from labsrc.interpreters.discover import child_env

    probe = subprocess.run([ft_python, "-c", "import cext.primes"], env=child_env(), capture_output=True,
                           text=True, timeout=60)
    if probe.returncode == 0:
        return ft_python
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        pytest.fail(f"the extensions are not built for {ft_python}: {probe.stderr.strip()[-300:]}")
    pytest.skip(f"the extensions are not built for {ft_python} yet (`{ft_python} -m pip install -e .` builds "
                "them; CI's free-threaded session runs this test)")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On a free-threaded build, the whole session must end with the GIL still off: an
    extension imported without the free-threading declaration turns it on for the whole
    process (silently, but for a RuntimeWarning), and every "without the GIL" figure after
    that would be a GIL figure. The suite then fails, naming what to look for."""
    import sysconfig
    import sys

    if sysconfig.get_config_var("Py_GIL_DISABLED") and sys._is_gil_enabled():
        if os.environ.get("PYTHON_GIL") == "1":
            return  # asked for on purpose
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nFAILED: this free-threaded Python ended the test session with the GIL enabled: "
              "a module imported without the free-threading declaration turned it on "
              "(look for 'RuntimeWarning: The global interpreter lock (GIL) has been enabled').",
              file=sys.stderr)
