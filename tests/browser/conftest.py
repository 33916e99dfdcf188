"""Browser fixtures: a live `python -m app` server process and a headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.driver import console_errors, find_browser, make_driver
from tests.processes import free_port, stop

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(config, items):
    chromium, chromedriver = find_browser()
    if chromium and chromedriver:
        return
    if os.environ.get("CI") == "true":
        # Browser tests must run in CI: a missing browser is a failure, not a skip.
        raise pytest.UsageError(
            "CI=true but chromium/chromedriver are missing (run scripts/system-deps.sh)"
        )
    skip = pytest.mark.skip(reason="chromium and chromium-driver not installed")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def start_server(env_extra: dict[str, str] | None = None, timeout: float = 90.0):
    """Start `python -m app` on a free port; returns `(process, base_url)` once it answers."""
    port = free_port()
    env = {**os.environ, "CNN_LENS_SECRET_KEY": "test-secret", **(env_extra or {})}
    env.pop("CNN_LENS_DEBUG", None)
    log = open(ROOT / f".pytest_cache/server-{port}.log", "w")  # noqa: SIM115 - closed with process
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early; see {log.name}")
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server did not answer within {timeout} s; see {log.name}")


@pytest.fixture(scope="session")
def live_server(trained):
    """Base URL of a real dashboard process serving the real trained model."""
    (ROOT / ".pytest_cache").mkdir(exist_ok=True)
    proc, url = start_server()
    yield url
    stop(proc)


@pytest.fixture(scope="session")
def colour_server(shapes_path):
    """Base URL of a second dashboard process serving the colour example (`models/shapes.keras`:
    32x32x3, six classes such as "red disc") with its own data."""
    (ROOT / ".pytest_cache").mkdir(exist_ok=True)
    proc, url = start_server(env_extra={"CNN_LENS_MODEL": str(shapes_path)})
    yield url
    stop(proc)


@pytest.fixture(scope="session")
def browser_session():
    driver = make_driver()
    yield driver
    driver.quit()


@pytest.fixture
def browser(browser_session):
    """The shared Chromium, its console log drained before the test."""
    console_errors(browser_session)
    return browser_session


SCREENSHOT_DIR = ROOT / ".pytest_cache" / "screenshots"


def screenshot(driver, name: str) -> Path:
    """Save a screenshot under .pytest_cache/screenshots/ for a person to look at."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
