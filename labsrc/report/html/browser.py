"""Headless Chromium for the report: a PNG of its first screen (`--screenshot`).

Chromium runs with a throw-away profile (so it never meets a running browser's lock), in
a session of its own (so a timeout or Ctrl-C ends its helper processes too), and without
its sandbox when we are root (Chromium refuses to start as root otherwise). The PNG is
written to a temporary name and moved into place, like every other output.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FIRST_SCREEN = (1280, 900)  # width, height of the screenshot: a laptop's first screen
TIMEOUT_S = 90.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ScreenshotError(RuntimeError):
    """Chromium did not produce the screenshot (the message says why)."""


def find_chromium() -> Optional[str]:
    """The path of a Chromium (or Chrome) binary on PATH, None when there is none."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_flags() -> list[str]:
    """The flags every headless run here needs (also used by the browser test)."""
    flags = ["--headless", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium will not start as root with its sandbox
    return flags


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End Chromium and its helpers (its own process group), then reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def screenshot(html: str | os.PathLike[str], png: str | os.PathLike[str],
               size: tuple[int, int] = FIRST_SCREEN, timeout_s: float = TIMEOUT_S,
               chromium: Optional[str] = None) -> Path:
    """A PNG of the first `size` pixels of `html` at `png`; ScreenshotError on failure."""
    binary = chromium or find_chromium()
    if binary is None:
        raise ScreenshotError(f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)}): "
                              "install it, e.g. apt-get install chromium")
    target = Path(png)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".png", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with tempfile.TemporaryDirectory(prefix="gil-lab-chromium-") as profile:
            command = [binary, *chromium_flags(), f"--user-data-dir={profile}",
                       f"--window-size={size[0]},{size[1]}", f"--screenshot={tmp}",
                       Path(html).resolve().as_uri()]
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, start_new_session=True)
            try:
                _, err = process.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _stop(process)
                raise ScreenshotError(f"Chromium did not finish the screenshot within {timeout_s:g} s") from None
            except BaseException:  # Ctrl-C: leave no browser behind
                _stop(process)
                raise
            _stop(process)  # helpers that outlive the main process
        if process.returncode != 0 or not tmp.read_bytes().startswith(PNG_SIGNATURE):
            last = [line for line in err.decode(errors="replace").splitlines() if "dbus" not in line][-3:]
            raise ScreenshotError(f"Chromium exited with status {process.returncode} without a screenshot"
                                  + (": " + " | ".join(last) if last else ""))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
