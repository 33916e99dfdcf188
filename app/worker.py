"""Celery worker for OIP jobs, used when `REDIS_URL` is set.

Start one per machine (each loads TensorFlow itself, after any fork, in its only process):

    REDIS_URL=redis://HOST:6379/0 .venv/bin/celery -A app.worker worker --pool=solo --concurrency=1

Every worker must have the same trained model as the web processes (`models/cnn.keras` or
`CNN_LENS_MODEL`); a worker whose model differs refuses the job with a clear error.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from celery.signals import worker_ready

from app.celery_app import DEFAULT_REDIS, RUN_OIP, celery_app, redis_url
from app.jobs import RedisStore, model_id, run_job

__all__ = ["DEFAULT_REDIS", "celery_app", "engine", "redis_url", "run_oip"]

_lock = threading.Lock()
_engine: Any = None
_model_id: str | None = None


def engine() -> Any:
    """This worker's OIP engine (model loaded and graph traced once, on first use)."""
    global _engine, _model_id
    with _lock:
        if _engine is None:
            from cnn_core.model.trained import load_trained
            from cnn_core.oip import engine_for

            trained = load_trained()
            _engine, _model_id = engine_for(trained), model_id(trained.meta)
        return _engine


@worker_ready.connect
def _warm_up(**_: Any) -> None:
    engine()


@celery_app.task(name=RUN_OIP)
def run_oip(job_id: str, spec: dict[str, Any], cache_key: str, expected_model: str) -> None:
    store = RedisStore(redis_url())
    warm = engine()
    if expected_model != _model_id:
        store.put(
            job_id,
            {
                "id": job_id,
                "spec": spec,
                "status": "error",
                "step": 0,
                "steps": spec.get("steps", 0),
                "error": "this worker has a different trained model than the web server",
                "updated": time.time(),
            },
        )
        return
    run_job(job_id, spec, store, warm, cache_key)
