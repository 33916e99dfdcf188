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


def write_image_folder(npz: Path, folder: Path, per_class: int) -> tuple[str, ...]:
    """Write the first `per_class` images of each class of `npz`'s two splits as PNG files in
    `folder/train/<class name>/` and `folder/test/<class name>/`; returns the class names."""
    import numpy as np
    from PIL import Image

    with np.load(npz) as arrays:
        names = tuple(str(n) for n in arrays["class_names"])
        for split in ("train", "test"):
            x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
            for k, name in enumerate(names):
                (folder / split / name).mkdir(parents=True, exist_ok=True)
                for i in np.flatnonzero(y == k)[:per_class]:
                    Image.fromarray(x[i]).save(folder / split / name / f"{i:04d}.png")
    return names


@pytest.fixture(scope="session")
def folder_server(residual_path, tmp_path_factory):
    """Base URL of a dashboard serving the residual example (a nested residual base) from an
    image folder (`DIR/train/<class>/*.png`, `DIR/test/<class>/*.png`, 30 a class a split)
    written from its own data, and the folder's class names."""
    root = tmp_path_factory.mktemp("folder")
    names = write_image_folder(residual_path.with_suffix(".npz"), root / "images", 30)
    env = {
        "CNN_LENS_MODEL": str(residual_path),
        "CNN_LENS_DATA": str(root / "images"),
        "CNN_LENS_CACHE": str(root / "cache"),
    }
    proc, url = start_server(env_extra=env)
    yield url, names
    stop(proc)


@pytest.fixture(scope="session")
def alone_server(residual_path, tmp_path_factory):
    """Base URL of a dashboard serving a model alone: the residual example's `.keras` copied
    without its sidecar (so without a data source), as a plain `model.save()` file arrives."""
    import shutil

    model = tmp_path_factory.mktemp("alone") / "model.keras"
    shutil.copy(residual_path, model)
    proc, url = start_server(env_extra={"CNN_LENS_MODEL": str(model)})
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
