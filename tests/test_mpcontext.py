"""flags.mpcontext: the one choice of start method, its preload list, and the fork guard."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import subprocess
import sys
import threading
import tomllib
import types
import warnings
from collections import Counter
from pathlib import Path

import pytest

from flags import mpcontext, processpool
from flags.common import Config, Status, run_mode
from flags.countries import POP20_CC
from flags.gifs import flag_gif
from flags.mpcontext import process_context, record_fork_warnings, run_as_module_main, start_method
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


def test_the_labs_pools_preload_flags_workers_modules_too(monkeypatch):
    # `gil-lab compare` starts the one forkserver with the lab's CPU cells, before flags'
    # processpool asks for its preloads: the lab names them up front.
    from labsrc.executors.base import process_context as lab_process_context

    calls: list[list[str]] = []
    monkeypatch.setattr(mpcontext, "_preload", [])
    monkeypatch.setattr(multiprocessing.context.BaseContext, "set_forkserver_preload",
                        lambda self, names: calls.append(list(names)))
    assert lab_process_context().get_start_method() == start_method()
    if start_method() == "forkserver":
        assert calls == [["labsrc.core.worker", *processpool.PRELOAD]]


def test_run_as_module_main_gives_a_specless_main_the_packages_spec(monkeypatch):
    script = types.ModuleType("__main__")  # a console script's wrapper: no spec
    script.__spec__ = None
    script.__file__ = "/venv/bin/flags"
    monkeypatch.setitem(sys.modules, "__main__", script)
    run_as_module_main("flags.__main__")
    assert script.__spec__.name == "flags.__main__"
    assert script.__spec__.origin == str(ROOT / "flags" / "__main__.py")
    assert script.__name__ == "__main__" and script.__file__ == "/venv/bin/flags"
    run_as_module_main("labsrc.__main__")  # a main with a spec is left alone
    assert script.__spec__.name == "flags.__main__"


def test_run_as_module_main_leaves_a_python_m_main_alone():
    # pytest's own __main__ here (`python -m pytest`), or none at all (the pytest script)
    main = sys.modules.get("__main__")
    before = getattr(main, "__spec__", None)
    if before is not None:
        run_as_module_main("flags.__main__")
        assert main.__spec__ is before


@pytest.mark.parametrize(("name", "message"), [
    ("flags.cli", "not a package's __main__ module"),
    ("no_such_package.__main__", "no module named"),
])
def test_run_as_module_main_rejects_what_is_not_a_package_main(monkeypatch, name, message):
    script = types.ModuleType("__main__")
    script.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", script)
    with pytest.raises(ValueError, match=message):
        run_as_module_main(name)
    assert script.__spec__ is None


# A main script that notes each process running it, then runs a 2-worker pool of the
# given start method, having declared itself `python -m flags` or not.
MARKED_MAIN = '''
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from flags.mpcontext import run_as_module_main

with open(sys.argv[1], "a") as marker:
    marker.write(f"{os.getpid()}\\n")

if __name__ == "__main__":
    if sys.argv[3] == "declared":
        run_as_module_main("flags.__main__")
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(sys.argv[2])) as pool:
        # os.getpid lives in a module: nothing the pool ships needs __main__.
        futures = [pool.submit(os.getpid) for _ in range(4)]
        workers = {future.result(timeout=60) for future in futures}
    print(os.getpid(), *sorted(workers))
'''


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
@pytest.mark.parametrize("declared", [False, True])
def test_workers_skip_a_main_script_declared_a_package_main(tmp_path, method, declared):
    # multiprocessing re-runs a plain main script in every worker (so that what it defines
    # unpickles there); declared `python -m flags`, only the parent runs it.
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    script, marker = tmp_path / "marked_main", tmp_path / "ran.txt"
    script.write_text(MARKED_MAIN)
    out = subprocess.run([sys.executable, str(script), str(marker), method,
                          "declared" if declared else "plain"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    parent, *workers = out.stdout.split()
    assert workers and parent not in workers
    ran_main = marker.read_text().split()
    if declared:
        assert ran_main == [parent]
    else:  # every worker, including any that got no task
        assert ran_main[0] == parent and set(workers) <= set(ran_main[1:])


# What pip installs for a [project.scripts] entry (bin/<name>), reporting at exit what
# __main__ ended up declared as.
WRAPPER = '''
import atexit
import sys

atexit.register(lambda: print("main spec:", getattr(sys.modules["__main__"].__spec__, "name",
                                                    None), file=sys.stderr))
from {module} import {function}
if __name__ == "__main__":
    sys.argv[0] = sys.argv[0].removesuffix(".exe")
    sys.exit({function}())
'''


def test_the_console_scripts_run_as_their_packages_main(tmp_path):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"gil-lab", "flags"}
    for name, target in scripts.items():
        module, function = target.split(":")
        package = module.split(".")[0]
        assert (ROOT / package / "__main__.py").is_file()  # what `python -m` runs
        wrapper = tmp_path / name
        wrapper.write_text(WRAPPER.format(module=module, function=function))
        out = subprocess.run([sys.executable, str(wrapper), "--help"], capture_output=True,
                             text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert f"usage: {name}" in out.stdout
        assert out.stderr.strip().splitlines()[-1] == f"main spec: {package}.__main__", name


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
