"""The image: built with podman from the Dockerfile, started, healthy on /readyz, serving, stopped;
and compose.yaml run by podman-compose (web, Redis, a Celery worker) with a job going through it.

Slow (a few minutes: the image installs TensorFlow and trains the model at build time). It runs
whenever podman is there and always under CI=true; skip it locally with
`CNN_LENS_SKIP_CONTAINER=1` (or `pytest -m "not container"`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.dash_http import render_explorer_grid, request, run_oip_job
from tests.processes import free_port

# a cold build (base image, TensorFlow wheels, training) can take longer than the default 600 s
pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = "localhost/cnn-lens:test"
PODMAN = ["podman", "--runtime", "runc"]  # crun fails here: "cgroups in hybrid mode"


def require_podman() -> None:
    if os.environ.get("CNN_LENS_SKIP_CONTAINER") == "1":
        pytest.skip("CNN_LENS_SKIP_CONTAINER=1")
    missing = [tool for tool in ("podman", "runc", "debootstrap") if not shutil.which(tool)]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {', '.join(missing)} missing (run scripts/system-deps.sh)")
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install podman runc debootstrap)")


def podman(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=check
    )


@pytest.fixture(scope="module")
def image() -> str:
    require_podman()
    built = subprocess.run(
        ["bash", "scripts/container.sh", IMAGE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return IMAGE


def test_image_runs_as_a_non_root_user_with_a_readyz_healthcheck(image):
    data = json.loads(podman("image", "inspect", image).stdout)[0]
    config = data["Config"]
    assert config["User"] not in ("", "root", "0")
    healthcheck = data.get("Healthcheck") or config.get("Healthcheck")  # podman: top level
    assert "app.healthcheck" in " ".join(healthcheck["Test"])
    assert config["Cmd"][0] == "gunicorn"


def test_container_starts_healthy_serves_a_page_runs_a_job_read_only_and_stops(image):
    # --read-only: nothing in the image can be written (no cache dir, no bytecode, no Keras
    # config, no model); the server and an OIP job must not care.
    port = free_port()
    name = f"cnn-lens-test-{uuid.uuid4().hex[:8]}"
    podman(
        "run", "--detach", "--name", name, "--network", "host",
        "--health-interval", "disable",  # no systemd here: the test runs the check itself
        "--read-only",  # the image read-only; /tmp a small tmpfs (TensorFlow's import needs one)
        "--env", "CNN_LENS_HOST=127.0.0.1", "--env", f"CNN_LENS_PORT={port}",
        "--env", "CNN_LENS_SECRET_KEY=container-test", image,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while podman("healthcheck", "run", name, check=False).returncode != 0:
            state = podman("inspect", name, "--format", "{{.State.Status}}").stdout.strip()
            assert state == "running", podman("logs", name, check=False).stdout[-3000:]
            assert time.monotonic() < deadline, "no healthy /readyz within 180 s"
            time.sleep(2)
        url = f"http://127.0.0.1:{port}"
        status, body = request(url, "GET", "/activations")
        assert status == 200 and b"cnn-lens" in body
        status, payload = render_explorer_grid(url, 7, "Conv2D_1")  # a page's real callback
        assert status == 200 and "act-grid" in payload["response"]
        message = run_oip_job(url, timeout=60, class_a=7, steps=40, seed=1)[-1]
        assert "done in" in message, message
        uid = podman("exec", name, "id", "-u").stdout.strip()
        assert uid != "0"
    finally:
        podman("stop", "--time", "20", name, check=False, timeout=60)
        logs = podman("logs", name, check=False).stdout + podman("logs", name, check=False).stderr
        podman("rm", "--force", name, check=False)
    assert "Traceback" not in logs, logs[-3000:]
    assert "Shutting down: Master" in logs  # a clean gunicorn stop on SIGTERM


REDIS_IMAGE = "localhost/cnn-lens-redis:bookworm"


def compose(project: str, env: dict[str, str], *args: str, timeout: float = 240):
    """podman-compose on compose.yaml (runc: crun fails here)."""
    command = [sys.executable, "-m", "podman_compose", "--podman-args=--runtime runc",
               "-p", project, "-f", "compose.yaml", *args]  # fmt: skip
    return subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def test_compose_runs_web_redis_and_a_worker_that_takes_the_oip_jobs(image):
    built = subprocess.run(
        ["bash", "scripts/container-redis.sh", REDIS_IMAGE],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    port = free_port()
    project = f"cnnlens{uuid.uuid4().hex[:6]}"
    env = {
        "CNN_LENS_SECRET_KEY": uuid.uuid4().hex,
        "CNN_LENS_IMAGE": image,
        "CNN_LENS_REDIS_IMAGE": REDIS_IMAGE,
        "CNN_LENS_PUBLISH": str(port),
    }
    up = compose(project, env, "up", "-d", "--no-build")
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        url = f"http://127.0.0.1:{port}"
        deadline, ready = time.monotonic() + 180, {}
        while time.monotonic() < deadline:
            try:
                status, body = request(url, "GET", "/readyz", timeout=5)
            except OSError:
                status, body = 0, b""
            if status == 200:
                ready = json.loads(body)
                break
            time.sleep(2)
        assert ready.get("jobs") == "celery" and ready.get("redis") == "up", ready
        message = run_oip_job(url, timeout=90, class_a=4, steps=30, seed=int(time.time()) % 1000)[
            -1
        ]
        assert "done in" in message, message
        worker = podman("logs", f"{project}_worker_1", check=False)
        assert "succeeded" in worker.stdout + worker.stderr  # the worker ran it, not the web
    finally:
        down = compose(project, env, "down")
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
