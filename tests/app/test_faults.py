"""Faults survived, each with real processes: a Celery worker killed mid-job, Redis stopped.

(A missing or corrupt model at start-up is in test_gunicorn.py; a read-only file system in the
container test.) Each test has its own redis-server and workers, so killing them harms no other
test. `CNN_LENS_JOB_STALE_S=4` keeps the dead-worker test short; the default is 60 s.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.dash_http import dependencies, find, oip_controls, render_explorer_grid, request, update
from tests.gunicorn_server import start_gunicorn
from tests.processes import free_port, stop
from tests.redis_fixtures import start_celery_worker, start_redis, wait_until_ready

pytestmark = [pytest.mark.redis, pytest.mark.slow]

STALE_S = 4  # a running job reports every 0.1-0.5 s


class Page:
    """The OIP page's callbacks over HTTP, as the browser calls them."""

    def __init__(self, url: str) -> None:
        self.url = url
        deps = dependencies(url)
        self.start_cb = find(deps, "oip-job.data")
        self.poll_cb = find(deps, "oip-progress.value")

    def start(self, **spec) -> tuple[dict | None, str]:
        values = oip_controls(
            steps=spec.get("steps", 30),
            seed=spec.get("seed", 0),
            pace=["watch"] if spec.get("pace") else [],
        )
        status, payload = update(self.url, self.start_cb, values, "oip-start.n_clicks")
        assert status == 200, payload
        response = payload["response"]
        job = response.get("oip-job", {}).get("data")
        return job, json.dumps(response.get("oip-status", {}))

    def poll(self, job: dict) -> str:
        values = {"oip-job.data": job, "oip-cmap.value": "gray", "oip-poll.n_intervals": 1}
        status, payload = update(self.url, self.poll_cb, values, "oip-poll.n_intervals")
        assert status == 200, payload
        response = payload["response"]
        return json.dumps(response.get("oip-status", {})) + json.dumps(
            response.get("oip-progress", {})
        )

    def wait_for(self, job: dict, *words: str, timeout: float = 90) -> tuple[str, float]:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            message = self.poll(job)
            if any(word in message for word in words):
                return message, time.monotonic() - started
            time.sleep(0.3)
        raise AssertionError(f"none of {words} within {timeout} s; last: {message}")


def received(log: Path) -> int:
    """How many OIP tasks a worker has received (its log says so once per task)."""
    return log.read_text().count("] received")


def fresh_seed() -> int:
    return int(time.time() * 1000) % 1_000_000  # never in the result cache


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, trained):
    """A private redis-server, two Celery workers and a gunicorn on them, for this module.

    Started once (about 30 s): the killed-worker test leaves one worker alive, which is all
    the Redis test needs.
    """
    tmp_path = tmp_path_factory.mktemp("faults")
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    procs = {"redis": start_redis(port, tmp_path)}
    logs = {}
    for name in ("w1", "w2"):  # the workers and gunicorn start side by side
        procs[name], logs[name] = start_celery_worker(redis_url, name, wait=False)
    server = start_gunicorn(
        {"REDIS_URL": redis_url, "CNN_LENS_JOB_STALE_S": str(STALE_S)}, name="faults"
    )
    for name in ("w1", "w2"):
        wait_until_ready(procs[name], logs[name])
    yield {"url": server.url, "server": server, "procs": procs, "logs": logs, "port": port,
           "redis_url": redis_url, "dir": tmp_path}  # fmt: skip
    stop(server.proc, *(proc for name, proc in procs.items() if name != "redis"))  # together
    stop(procs["redis"])  # then the Redis they were talking to


def test_a_worker_killed_mid_job_is_reported_and_the_next_job_runs_on_another(cluster):
    page = Page(cluster["url"])
    before = {n: received(cluster["logs"][n]) for n in ("w1", "w2")}
    job, _ = page.start(steps=600, pace=True, seed=fresh_seed())  # 15 s when watched
    page.wait_for(job, "running")
    time.sleep(1.0)
    running = [n for n in ("w1", "w2") if received(cluster["logs"][n]) > before[n]]
    assert len(running) == 1, running
    victim, survivor = running[0], ({"w1", "w2"} - set(running)).pop()
    before_next = received(cluster["logs"][survivor])
    cluster["procs"][victim].send_signal(signal.SIGKILL)
    message, seconds = page.wait_for(job, "stopped reporting", timeout=60)
    assert "The job failed" in message
    assert seconds < 60
    # the next job goes to the worker that is still alive and finishes
    job, _ = page.start(steps=30, seed=fresh_seed())
    message, _ = page.wait_for(job, "done in", "failed", timeout=90)
    assert "done in" in message, message
    assert received(cluster["logs"][survivor]) == before_next + 1
    assert "Traceback" not in cluster["server"].log()


def test_redis_stopped_gives_a_message_other_pages_work_and_jobs_resume(cluster):
    page = Page(cluster["url"])
    url = cluster["url"]
    stop(cluster["procs"].pop("redis"))
    # readiness reports it; the web still serves
    status, body = request(url, "GET", "/readyz")
    assert status == 200 and json.loads(body)["redis"] == "unreachable"
    # a page that needs no job answers as usual
    status, payload = render_explorer_grid(url, 3, "Conv2D_2")
    assert status == 200 and "64" in json.dumps(payload["response"]["act-grid-info"])
    # Start says why nothing starts
    job, message = page.start(steps=30, seed=fresh_seed())
    assert job is None and "cannot be reached" in message
    # Redis back on the same port: the workers reconnect and jobs run again
    cluster["procs"]["redis"] = start_redis(cluster["port"], cluster["dir"])
    deadline = time.monotonic() + 90
    while True:
        job, message = page.start(steps=30, seed=fresh_seed())
        if job is not None:
            break
        assert time.monotonic() < deadline, message
        time.sleep(1)
    message, _ = page.wait_for(job, "done in", "failed", timeout=120)
    assert "done in" in message, message
    assert json.loads(request(url, "GET", "/readyz")[1])["redis"] == "up"
    assert "Traceback" not in cluster["server"].log()


def test_a_full_redis_leaves_no_half_written_result_and_says_so(tmp_path, monkeypatch, services):
    import numpy as np
    import redis

    from app import jobs
    from app.jobs import RedisStore

    port = free_port()
    proc = start_redis(port, tmp_path)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        store = RedisStore(url)
        state, arrays = {"status": "done"}, {"images": np.ones((1, 28, 28), np.float32)}
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory", str(used // 2))  # already over: every write is refused
        with pytest.raises(redis.ResponseError, match="maxmemory"):
            store.cache_put("k", state, arrays)
        assert client.exists("cnn_lens:result:k", "cnn_lens:result_arrays:k") == 0
        assert store.cache_get("k") is None  # nothing half-written to serve later
        monkeypatch.setenv("REDIS_URL", url)
        manager = jobs.make_manager("secret", services.oip_engine, "m", services.desc)
        with pytest.raises(jobs.JobsUnavailableError, match=r"\(Redis\) is full"):
            manager.submit({"kind": "class", "a": 3, "steps": 5})
        client.config_set("maxmemory", "0")  # room again: the same write works whole
        store.cache_put("k", state, arrays)
        cached = store.cache_get("k")
        assert cached is not None and cached[1]["images"].shape == (1, 28, 28)
    finally:
        stop(proc)
