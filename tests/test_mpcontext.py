"""flags.mpcontext: the one choice of start method, its preload list, and the fork guard."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import subprocess
import sys
import threading
import warnings
from collections import Counter
from pathlib import Path

import pytest

from flags import mpcontext, processpool
from flags.common import Config, Status, run_mode
from flags.countries import POP20_CC
from flags.gifs import flag_gif
from flags.mpcontext import process_context, record_fork_warnings, start_method
from flags.server import ServerConfig, ServerThread

ROOT = Path(__file__).resolve().parents[1]
FORK_MESSAGE = ("This process (pid=123) is multi-threaded, use of fork() may lead to "
                "deadlocks in the child.")


def test_start_method_prefers_forkserver_then_spawn_never_fork(monkeypatch):
    assert start_method() in ("forkserver", "spawn")
    if sys.platform.startswith("linux"):
        assert start_method() == "forkserver"
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn", "fork"])
    assert start_method() == "spawn"
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["fork"])
    with pytest.raises(RuntimeError, match="neither forkserver nor spawn"):
        start_method()


def test_process_context_uses_the_chosen_method():
    assert process_context().get_start_method() == start_method()
    # flags' processpool mode builds its pool from the same place
    assert processpool._context().get_start_method() == start_method()


@pytest.mark.parametrize(("preload", "error", "message"), [
    ("flags.processpool", TypeError, "not the string"),
    ([b"flags"], TypeError, "must be str, not bytes"),
    ([None], TypeError, "must be str, not NoneType"),
    (["flags..common"], ValueError, "not a dotted module name"),
    (["1flags"], ValueError, "not a dotted module name"),
    (["flags.no_such_module"], ValueError, "no module named 'flags.no_such_module'"),
    (["no_such_package.module"], ValueError, "no module named 'no_such_package.module'"),
])
def test_bad_preload_is_a_clear_error(preload, error, message):
    with pytest.raises(error, match=message):
        process_context(preload)


@pytest.mark.skipif(start_method() != "forkserver", reason="preload is a forkserver feature")
def test_preloads_accumulate_without_repeats(monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(mpcontext, "_preload", [])
    # The forkserver is shared by the whole process: record instead of changing it.
    monkeypatch.setattr(multiprocessing.context.BaseContext, "set_forkserver_preload",
                        lambda self, names: calls.append(list(names)))
    process_context(["flags.processpool"])
    process_context(["flags.common", "flags.processpool"])
    process_context(["flags.common"])  # nothing new: the list is not set again
    process_context()
    assert calls == [["flags.processpool"], ["flags.processpool", "flags.common"]]


def test_the_guard_records_the_fork_warning_even_under_an_error_filter():
    # Warned from Python here, so the test also runs on 3.11 (which never warns on fork).
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # what `pytest -W error` would install
        with record_fork_warnings() as forks:
            warnings.warn(FORK_MESSAGE, DeprecationWarning)
    assert [str(w.message) for w in forks] == [FORK_MESSAGE]


def test_the_guard_passes_other_warnings_on():
    # pytest.warns passes what it does not match on to the enclosing one.
    with pytest.warns(DeprecationWarning, match="not the hazard"):
        with pytest.warns(UserWarning, match="unrelated"):
            with record_fork_warnings() as forks:
                warnings.warn("unrelated", UserWarning)
                warnings.warn("fork() mentioned but not the hazard", DeprecationWarning)
    assert forks == []


def test_the_guard_fills_its_list_when_the_block_raises():
    with pytest.raises(RuntimeError, match="boom"):
        with record_fork_warnings() as forks:
            warnings.warn(FORK_MESSAGE, DeprecationWarning)
            raise RuntimeError("boom")
    assert len(forks) == 1


def _child() -> None:
    """A process target that does nothing: only the way it is started matters."""


@pytest.mark.skipif(sys.version_info < (3, 12), reason="CPython warns on fork() in threads from 3.12")
@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_the_guard_catches_a_real_fork_in_a_threaded_process():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with record_fork_warnings() as forks:
            proc = multiprocessing.get_context("fork").Process(target=_child)
            proc.start()
            proc.join(10)
    finally:
        stop.set()
        thread.join()
    assert proc.exitcode == 0
    assert len(forks) == 1 and f"pid={os.getpid()}" in str(forks[0].message)


def test_processpool_in_a_threaded_process_never_forks_it(tmp_path):
    # The in-process server runs in threads of this process: exactly the parent that
    # fork() must not copy. Identical files and exact counts, and no fork warning.
    codes = sorted(POP20_CC)[:6] + ["XA"]
    with ServerThread(ServerConfig()) as srv:
        assert threading.active_count() > 1
        config = Config(base_url=srv.url, dest=tmp_path, workers=3)
        with record_fork_warnings() as forks:
            result = run_mode("processpool", codes, config, progress=False)
    assert forks == []
    assert result.counter == Counter({Status.OK: 6, Status.NOT_FOUND: 1})
    saved = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert saved == {f"{cc.lower()}.gif": flag_gif(cc) for cc in codes[:6]}


FORKING_TEST = '''
import multiprocessing
import threading


def _nothing():
    pass


def test_forks_beside_a_thread():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    proc = multiprocessing.get_context("fork").Process(target=_nothing)
    proc.start()
    proc.join(10)
    stop.set()
    thread.join()
    assert proc.exitcode == 0
'''


@pytest.mark.skipif(sys.version_info < (3, 12), reason="CPython warns on fork() in threads from 3.12")
@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_the_projects_pytest_settings_always_show_the_fork_warning(tmp_path):
    # Run pytest with this project's settings on a test that forks beside a thread, under
    # PYTHONWARNINGS=error (with which an unguarded fork warning would simply vanish).
    (tmp_path / "test_forking.py").write_text(FORKING_TEST)
    env = dict(os.environ, PYTHONWARNINGS="error::DeprecationWarning")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
                          str(tmp_path / "test_forking.py")],
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "use of fork() may lead to deadlocks in the child" in out.stdout, out.stdout
