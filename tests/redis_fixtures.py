"""A real redis-server, a real Celery worker process and a real gunicorn on them, started and
stopped by the tests (session fixtures, registered for every test in tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import free_port, stop

ROOT = Path(__file__).resolve().parent.parent


def require_redis() -> str:
    path = shutil.which("redis-server")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but redis-server is missing (run scripts/system-deps.sh)")
    pytest.skip("redis-server not installed (apt-get install redis-server)")


def start_redis(port: int, workdir: Path) -> subprocess.Popen:
    """A redis-server on `127.0.0.1:port` (no persistence, files in `workdir`), once it answers
    a ping (20 s at most)."""
    import redis

    proc = subprocess.Popen(
        [require_redis(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            assert time.monotonic() < deadline and proc.poll() is None, "redis did not start"
            time.sleep(0.1)


def start_celery_worker(
    redis_url: str, name: str, wait: bool = True
) -> tuple[subprocess.Popen, Path]:
    """A real `celery -A app.worker worker --pool=solo` named `name` on `redis_url`, and its log
    (one per test process). With `wait`, returns once the log says it is ready (120 s at most);
    without, at once: `wait_until_ready` then (several start side by side)."""
    log_path = ROOT / ".pytest_cache" / f"celery-{name}-{os.getpid()}.log"
    log_path.parent.mkdir(exist_ok=True)
    env = {**os.environ, "REDIS_URL": redis_url, "CNN_LENS_SECRET_KEY": "test-secret",
           "TF_CPP_MIN_LOG_LEVEL": "2"}  # fmt: skip
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "app.worker", "worker", "--pool=solo",
             "--concurrency=1", "--loglevel=INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-n", f"{name}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    if wait:
        wait_until_ready(proc, log_path)
    return proc, log_path


def wait_until_ready(proc: subprocess.Popen, log_path: Path, timeout: float = 120) -> None:
    """Wait until a worker's log says "ready." (it warmed its OIP engine); fail with the log's
    tail if it exits or takes longer than `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while "ready." not in log_path.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
        time.sleep(0.3)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """URL of a throw-away redis-server on a free loopback port (no persistence)."""
    port = free_port()
    proc = start_redis(port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    stop(*_ENDING)  # the worker and gunicorn that used it end side by side, then Redis
    stop(proc)


#: Session processes on the test Redis that were told to stop: `redis_url`'s teardown, which
#: comes after theirs, waits for them (side by side instead of a second or more each).
_ENDING: list[subprocess.Popen] = []


def _end_later(proc: subprocess.Popen) -> None:
    proc.terminate()
    _ENDING.append(proc)


@pytest.fixture(scope="session")
def celery_worker(redis_url, trained):
    """A real Celery worker process on the test Redis (`start_celery_worker`)."""
    import redis

    proc, _log = start_celery_worker(redis_url, "worker")
    redis.Redis.from_url(redis_url).ping()
    yield proc
    _end_later(proc)


#: The secret of the shared gunicorn: tests check that it never reaches a log or a page.
SHARED_SECRET = "never-log-me-7f3a9c"


@pytest.fixture(scope="session")
def gunicorn_server(redis_url, trained):
    """One real `gunicorn --config gunicorn.conf.py` for the tests that need a served app and
    do not stop or break it: two workers, four threads each, jobs on Celery through the test
    Redis, a shared secret (the setting a class would be served with). Its log is shared too,
    so a test that looks for errors in it also checks the modules that ran before."""
    from tests.gunicorn_server import start_gunicorn

    server = start_gunicorn(
        {
            "REDIS_URL": redis_url,
            "CNN_LENS_WORKERS": "2",
            "CNN_LENS_THREADS": "4",
            "CNN_LENS_SECRET_KEY": SHARED_SECRET,
        },
        name="gunicorn-shared",
    )
    yield server
    _end_later(server.proc)
