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


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """URL of a throw-away redis-server on a free loopback port (no persistence)."""
    import redis

    binary = require_redis()
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.1)
    yield url
    stop(proc)


@pytest.fixture(scope="session")
def celery_worker(redis_url, trained):
    """A real `celery -A app.worker worker --pool=solo` process on the test Redis."""
    import redis

    log_path = ROOT / ".pytest_cache" / f"celery-worker-{os.getpid()}.log"  # one per test process
    log_path.parent.mkdir(exist_ok=True)
    log = open(log_path, "w")  # noqa: SIM115 - closed after the process ends
    env = {**os.environ, "REDIS_URL": redis_url, "CNN_LENS_SECRET_KEY": "test-secret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "app.worker", "worker", "--pool=solo",
         "--concurrency=1", "--loglevel=INFO", "--without-gossip", "--without-mingle",
         "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while "ready." not in log_path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"celery worker did not start; see {log_path}")
        time.sleep(0.3)
    redis.Redis.from_url(redis_url).ping()
    yield proc
    stop(proc)
    log.close()


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
    server.stop()
