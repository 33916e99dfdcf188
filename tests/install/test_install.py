"""cnn-lens as people install it: a wheel built from this checkout, `pip install`ed with its
pinned dependencies into a new virtual environment, then used from another folder: `cnn-lens
--help`, `--version`, `cnn-lens serve` with no model (the seed trained on first use into the
per-user cache, then served: `/readyz` 200, the explorer drawn in Chromium, the packaged assets
served), `cnn-lens describe` on that model, and `cnn-lens serve MODEL`. Nothing comes from the
checkout: `app` and `cnn_core` are imported from the new environment.

A real `pip install` of the wheel with its pinned dependencies, not a venv that borrows this
one's site-packages (`--system-site-packages`): that is what a user runs, and it is what checks
that the wheel's metadata names every dependency. Measured here with pip's cache warm: the wheel
5 s, the venv 5-8 s, `pip install` of the wheel and TensorFlow & co. 63-65 s, `cnn-lens serve`
from start to `/readyz` 200 with the seed's training 112 s (a fresh environment's first imports
included, with another test run on the same 2 cores); the whole test 3.8 minutes. It runs
always under CI=true; skip it locally with `CNN_LENS_SKIP_INSTALL=1` (or `pytest -m "not
install"`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.driver import find_browser, make_driver, wait_on
from tests.browser.pages import READY
from tests.processes import free_port, stop

pytestmark = [pytest.mark.install, pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
#: What is not copied from the checkout to build the wheel: local state, not the project.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "models", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
    ".ruff_cache", ".container", "docs", "out", "oips",
)  # fmt: skip


def require_install_test() -> None:
    ci = os.environ.get("CI") == "true"
    if os.environ.get("CNN_LENS_SKIP_INSTALL") == "1" and not ci:
        pytest.skip("CNN_LENS_SKIP_INSTALL=1")
    chromium, chromedriver = find_browser()
    if not (chromium and chromedriver):
        if ci:
            pytest.fail("CI=true but chromium/chromedriver are missing (scripts/system-deps.sh)")
        pytest.skip("chromium and chromium-driver not installed")


def run(command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A new venv with the wheel installed; its bin folder, a working folder away from the
    checkout, the environment to run `cnn-lens` in, and the seconds each step took."""
    require_install_test()
    tmp = tmp_path_factory.mktemp("install")
    seconds = {}
    started = time.monotonic()
    shutil.copytree(ROOT, tmp / "src", ignore=NOT_SOURCES)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"),
         str(tmp / "src")], timeout=300)  # fmt: skip
    (wheel,) = (tmp / "dist").glob("cnn_lens-*.whl")
    seconds["wheel"] = time.monotonic() - started
    started = time.monotonic()
    run([sys.executable, "-m", "venv", str(tmp / "venv")], timeout=300)
    seconds["venv"] = time.monotonic() - started
    started = time.monotonic()
    pip = [str(tmp / "venv" / "bin" / "python"), "-m", "pip"]
    run([*pip, "install", "-q", "--disable-pip-version-check", str(wheel)], timeout=900)
    seconds["pip_install"] = time.monotonic() - started
    work = tmp / "work"
    (work / "home").mkdir(parents=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not key.startswith("CNN_LENS")
    }
    env.update(
        PATH=f"{tmp / 'venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(work / "home"),  # no Keras cache of full MNIST: the embedded subset
        CNN_LENS_CACHE=str(work / "cache"),
        CNN_LENS_SECRET_KEY="install-test",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    print(f"install timings: {json.dumps({k: round(v, 1) for k, v in seconds.items()})}")
    return {"bin": tmp / "venv" / "bin", "venv": tmp / "venv", "work": work, "env": env}


def cnn_lens(installed: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [str(installed["bin"] / "cnn-lens"), *args]
    return run(command, timeout, cwd=installed["work"], env=installed["env"])


def test_the_installed_package_is_imported_from_the_new_environment(installed):
    code = (
        "import json, app, cnn_core, app.main; from cnn_core.data.sources import embedded_bytes;"
        "print(json.dumps([app.__file__, cnn_core.__file__, str(app.main.assets_folder()),"
        " len(embedded_bytes())]))"
    )
    python = str(installed["bin"] / "python")
    done = run([python, "-c", code], 120, cwd=installed["work"], env=installed["env"])
    app_file, core_file, assets, data_bytes = json.loads(done.stdout)
    venv = str(installed["venv"].resolve())
    assert app_file.startswith(venv) and core_file.startswith(venv), (app_file, core_file)
    assert assets.startswith(venv) and Path(assets, "vendor", "plotly-cartesian.min.js").is_file()
    assert data_bytes == 1_106_785  # the embedded MNIST subset, as package data


def test_help_and_version(installed):
    helped = cnn_lens(installed, "--help").stdout
    assert helped.startswith("usage: cnn-lens") and "describe" in helped
    assert cnn_lens(installed, "serve", "--help").stdout.startswith("usage: cnn-lens serve")
    assert cnn_lens(installed, "--version").stdout.strip() == "cnn-lens 0.1.0"


def start(installed: dict, *args: str) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log = installed["work"] / f"serve-{port}.log"
    proc = subprocess.Popen(
        [str(installed["bin"] / "cnn-lens"), "serve", *args, "--port", str(port)],
        cwd=installed["work"],
        env=installed["env"],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}", log


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=5) as ready:
                assert json.load(ready)["status"] == "ready"
                return
        except OSError:
            assert time.monotonic() < deadline, f"no /readyz 200: {log.read_text()[-3000:]}"
            time.sleep(0.5)


def test_serve_without_a_model_trains_the_seed_once_then_serves_the_explorer(installed):
    started = time.monotonic()
    proc, url, log = start(installed)
    try:
        wait_ready(proc, url, log, timeout=600)
        ready_after = time.monotonic() - started
        with urllib.request.urlopen(url + "/assets/draw.js", timeout=30) as asset:
            assert asset.status == 200 and b"pointer" in asset.read()  # the packaged assets
        driver = make_driver()
        try:
            driver.get(url + "/activations")
            wait_on(driver, 90).until(
                lambda d: d.find_elements("css selector", READY["/activations"])
            )
            assert "cnn-lens" in driver.title
            assert driver.find_elements("css selector", "#act-layer")  # the explorer's picker
        finally:
            driver.quit()
    finally:
        stop(proc)
    said = log.read_text()
    model = installed["work"] / "cache" / "models" / "cnn.keras"
    assert f"no trained seed CNN at {model}: training it now" in said
    assert "training" in said and "test accuracy" in said and model.is_file()
    assert model.with_suffix(".json").is_file() and (model.parent / "cnn_checkpoints").is_dir()
    assert "Traceback" not in said, said[-3000:]
    print(f"trained and ready after {ready_after:.1f} s")


def test_describe_and_serve_the_trained_model_by_path(installed):
    model = installed["work"] / "cache" / "models" / "cnn.keras"
    if not model.is_file():
        pytest.skip("the model of the serve test is missing (that test failed)")
    elsewhere = installed["work"] / "mine"
    elsewhere.mkdir(exist_ok=True)
    for file in (model, model.with_suffix(".json")):
        shutil.copy(file, elsewhere / file.name)
    done = cnn_lens(installed, "describe", str(elsewhere / "cnn.keras"), "--json")
    described = json.loads(done.stdout)
    assert next(row["layer"] for row in described["layers"]) == "Conv2D_1"
    assert described["parameters"] == 208_982
    proc, url, log = start(installed, str(elsewhere / "cnn.keras"))
    try:
        wait_ready(proc, url, log, timeout=180)
        with urllib.request.urlopen(url + "/activations", timeout=30) as page:
            assert page.status == 200 and b"<title>cnn-lens" in page.read()
    finally:
        stop(proc)
    assert "training it now" not in log.read_text()
