"""A real headless Chromium for the UI tests: Debian's chromium + chromedriver via Selenium.

The browser tests skip with a clear message when Chromium is not installed, unless
``SOUS_REQUIRE_BROWSER=1`` (set by .ci/run once scripts/install_chromium.sh succeeded):
then a missing browser fails the run instead of hiding the tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_support import ROOT, free_port, sous_cmd, wait_ready

CHROMIUM = os.environ.get("SOUS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SOUS_CHROMEDRIVER", "/usr/bin/chromedriver")
TOKEN = "ui-test-token-not-secret"
DOCS_IMG = Path(__file__).resolve().parents[3] / "docs" / "img"


def require_chromium() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if not missing:
        return
    message = (
        f"Chromium is not installed ({', '.join(missing)} missing): run "
        "scripts/install_chromium.sh (apt-get install chromium chromium-driver)"
    )
    if os.environ.get("SOUS_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def start_browser(profile_dir: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile_dir}",
        "--window-size=1400,1000",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def console_errors(driver: Any) -> list[str]:
    """Console messages at SEVERE level since the last call (the log is drained)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def wait_for(check: Callable[[], Any], timeout_s: float = 20.0, what: str = "condition") -> Any:
    """Until ``check()`` is truthy. An element not there yet, or gone with the page it was
    on, counts as not yet: after a click the browser may still be on the old page."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = check()
        except (NoSuchElementException, StaleElementReferenceException):
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def screenshot(driver: Any, out_dir: Path, name: str) -> Path:
    """A full-page PNG in ``out_dir`` (a test artifact); copied to docs/img when
    ``SOUS_UI_DOCS_SCREENSHOTS=1`` (how the docs' pictures are refreshed)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(int(height), 600), 4000))
    driver.execute_script("window.scrollTo(0, 0)")
    path = out_dir / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    if os.environ.get("SOUS_UI_DOCS_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_IMG / f"ui-{name}.png")
    return path


@dataclass(frozen=True)
class Home:
    path: Path
    env: dict[str, str]
    sweep_run: str
    quarantine_run: str
    multirun_runs: tuple[str, ...]


@dataclass(frozen=True)
class Server:
    url: str
    proc: subprocess.Popen[bytes]


def start_ui(env: dict[str, str]) -> Server:
    port = free_port()
    proc = subprocess.Popen(
        sous_cmd("ui", "--port", str(port)), env=env, cwd=ROOT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, timeout_s=30)
    except BaseException:
        stop(proc)
        raise
    return Server(url, proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """The server and anything it started (its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
