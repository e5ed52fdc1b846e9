"""Open a report in headless Chromium (Debian's ``chromium`` package): its rendered DOM, or a screenshot.

The browser runs once per call with a throwaway profile, no network of its own (the page is self-contained) and
a virtual-time budget: Chromium fast-forwards timers and waits for the page's scripts until the budget is spent,
so plotly has drawn every graph before the DOM is dumped or the screenshot taken, without a sleep.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

# Debian's package installs /usr/bin/chromium; CHROMIUM overrides it (another path, or a Chrome binary).
CHROMIUM_ENV: Final = "CHROMIUM"
_CANDIDATES: Final = ("chromium", "chromium-browser", "/usr/bin/chromium")
# Enough virtual time for plotly to lay out and draw seven graphs; rendering is not bound by it in wall time.
DEFAULT_BUDGET_MS: Final = 10_000
_TIMEOUT_S: Final = 120
# A fresh profile, nothing fetched in the background, no sandbox (CI runs as root, where Chromium's sandbox
# refuses to start), no GPU (none on a server).
_FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


class BrowserError(RuntimeError):
    """Chromium is missing, failed, or produced nothing."""


def find_chromium() -> str | None:
    """Return the Chromium executable to use (``$CHROMIUM``, else the first found on PATH), or ``None``."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return shutil.which(configured)
    for candidate in _CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def dump_dom(page: Path, *, budget_ms: int = DEFAULT_BUDGET_MS, window: tuple[int, int] = (1400, 2400)) -> str:
    """Return the DOM of ``page`` once its scripts have run (``--dump-dom``), as HTML text."""
    return _run(page, ["--dump-dom"], budget_ms=budget_ms, window=window)


def screenshot(
    page: Path,
    png: Path,
    *,
    budget_ms: int = DEFAULT_BUDGET_MS,
    window: tuple[int, int] = (1400, 1640),
) -> Path:
    """Write a PNG of ``page``'s top ``window`` (width, height in CSS pixels) to ``png``; return ``png``."""
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    _run(page, [f"--screenshot={png.resolve()}"], budget_ms=budget_ms, window=window)
    if not png.is_file() or png.stat().st_size == 0:
        raise BrowserError(f"chromium wrote no screenshot to {png}")
    return png


def _run(page: Path, extra: list[str], *, budget_ms: int, window: tuple[int, int]) -> str:
    executable = find_chromium()
    if executable is None:
        raise BrowserError(f"no chromium found (install Debian's 'chromium' package, or set {CHROMIUM_ENV})")
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        command = [
            executable,
            *_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}",
            f"--virtual-time-budget={budget_ms}",
            *extra,
            page.resolve().as_uri(),
        ]
        try:
            completed = subprocess.run(  # noqa: S603 - a fixed browser and flags, on a local file
                command, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise BrowserError(f"chromium did not finish within {_TIMEOUT_S} s") from error
    if completed.returncode != 0:
        raise BrowserError(f"chromium exited {completed.returncode}: {completed.stderr.strip()[-2000:]}")
    return completed.stdout
