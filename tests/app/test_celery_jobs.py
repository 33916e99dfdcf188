"""OIP jobs through Celery + Redis: a real redis-server, a real worker process, the page's code."""

from __future__ import annotations

import dataclasses
import importlib
import time

import numpy as np
import pytest

from app import jobs, main

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def oip(services):
    """The OIP page module (Dash pages register only once an app exists)."""
    main.create_app()
    return importlib.import_module("app.pages.oip.callbacks")


@pytest.fixture
def celery_manager(services, redis_url, celery_worker, monkeypatch):
    monkeypatch.setenv(jobs.ENV_REDIS, redis_url)
    manager = jobs.make_manager(
        "test-secret", services.oip_engine, jobs.model_id(services.trained.meta), services.desc
    )
    assert manager.backend == "celery"
    previous = jobs._manager
    jobs.set_manager(manager)
    yield manager
    jobs.set_manager(previous)


def poll_page(oip, job, timeout=120.0):
    """Call the page's progress callback until it stops polling; returns its last outputs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outputs = oip.track(1, job)
        if outputs["poll_disabled"] is True:  # the interval is disabled: finished
            return outputs
        time.sleep(0.1)
    raise AssertionError("the page never saw the job finish")


def test_a_short_oip_job_runs_on_a_celery_worker_end_to_end(celery_manager, oip):
    view = dataclasses.replace(
        importlib.import_module("app.pages.oip.view").OipView.defaults(),
        kind="map", layer="Conv2D_2", unit=7, steps=30, n_seeds=2, seed=3, watch=False,
        cmap="viridis",
    )  # fmt: skip
    started = oip.start_job(view, None, "single")
    job, search = started["job"], started["query"]
    assert started["interval"] == oip.POLL_MS
    assert "layer=Conv2D_2" in search and "unit=7" in search and "run=1" in search
    assert started["poll_disabled"] is False and started["color"] == "info", started["status"]
    outputs = poll_page(oip, job)
    assert outputs["color"] == "success", outputs["status"]
    shown = oip.show_result(outputs["finished"], job, "viridis")
    assert shown["result"] is not None and shown["frames"] == []
    state, arrays = celery_manager.status(job["handle"])
    assert state["status"] == "done" and state["step"] == 30
    assert arrays["images"].shape == (2, 28, 28)
    assert arrays["history"][-1].min() > arrays["history"][0].min()
    # the worker's trust check compared the OIPs with its own copy of the real test digits
    assert np.isfinite(arrays["trust_ratio"]).all() and (arrays["trust_ratio"] > 0).all()
    assert np.isfinite(arrays["trust_path_top"]).all()
    assert 0 < arrays["trust_data_high_frequency"][0] < 1
    # the worker computed it, not this process: the result lives in Redis
    assert celery_manager.store.get(celery_manager.job_id(job["handle"])) is not None


def test_cancel_reaches_the_worker(celery_manager):
    handle = celery_manager.submit({"kind": "class", "a": 4, "steps": 2000, "pace": 50})
    deadline = time.monotonic() + 60
    while celery_manager.status(handle)[0]["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    celery_manager.cancel(handle)
    deadline = time.monotonic() + 5
    while celery_manager.status(handle)[0]["status"] == "running":
        assert time.monotonic() < deadline, "worker did not stop"
        time.sleep(0.05)
    state, arrays = celery_manager.status(handle)
    assert state["status"] == "cancelled" and state["step"] < 2000
    assert np.isfinite(arrays["images"]).all()
