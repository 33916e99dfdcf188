"""Celery worker for OIP jobs, used when `REDIS_URL` is set.

Start one per machine (each loads TensorFlow itself, after any fork, in its only process):

    REDIS_URL=redis://HOST:6379/0 .venv/bin/celery -A app.worker worker --pool=solo --concurrency=1

Every worker must have the same trained model as the web processes (`models/cnn.keras` or
`CNN_LENS_MODEL`); a worker whose model differs refuses the job with a clear error. It loads the
same data as they do (`CNN_LENS_DATA`, else the model's own, else MNIST for an MNIST model):
the trust check compares each OIP with the real test images, and MACO keeps the training
images' amplitude spectrum. Without data (a model alone) both do without.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery.signals import worker_ready

from app.celery_app import DEFAULT_REDIS, RUN_OIP, celery_app, redis_url
from app.jobs import RedisQueue, RedisStore, model_id, run_job
from app.settings import load_settings

__all__ = ["DEFAULT_REDIS", "celery_app", "engine", "redis_url", "run_oip"]

log = logging.getLogger(__name__)
_lock = threading.Lock()
_trained: Any = None
_model_id: str | None = None
_data: Any = None  # the worker's ImageDataset, loaded on first use (`_dataset`)


def _loaded() -> Any:
    """This worker's model, loaded on first use."""
    global _trained, _model_id
    with _lock:
        if _trained is None:
            from cnn_core.model.trained import load_trained

            _trained = load_trained()
            _model_id = model_id(_trained.meta)
    return _trained


def _dataset() -> Any:
    """The data the web processes show this model with (`sources.load_for_model`, as
    `Services.load` reads it), loaded once; `sources.no_data()` if it cannot be read (logged:
    the jobs still run, their trust check without the data's measures)."""
    global _data
    trained = _loaded()
    with _lock:
        if _data is None:
            from cnn_core.data.sources import DataError, load_for_model, no_data

            desc = trained.desc
            settings = load_settings()
            try:
                _data = load_for_model(
                    None, settings.model, trained.meta, desc.input_shape, desc.num_classes
                )
            except DataError as exc:
                log.warning("no data for the trust check and MACO: %s", exc)
                _data = no_data(desc.input_shape, desc.num_classes)
    return _data


def _reference() -> Any:
    """The real images of the trust check, as the web's runner has them (`trust_images`)."""
    from app.services import trust_images

    return trust_images(_dataset())


def _spectrum() -> Any:
    """MACO's training images, as the web's engines have them (`spectrum_images`)."""
    from app.services import spectrum_images

    return spectrum_images(_dataset())


def engine(layer: str | None = None) -> Any:
    """This worker's OIP engine for objectives on `layer` (None: class scores), traced on first
    use (`engine_for`: one for every node of a small model, one per node of a large one)."""
    from cnn_core.oip import engine_for

    trained = _loaded()
    return engine_for(trained, layer or trained.desc.logits_layer, _spectrum)


@worker_ready.connect
def _warm_up(**_: Any) -> None:
    engine(_loaded().desc.last_map_layer)  # the OIP page's default layer
    _dataset()  # the first job's trust check must not wait for it


@celery_app.task(name=RUN_OIP)
def run_oip(
    job_id: str,
    spec: dict[str, Any],
    cache_key: str,
    expected_model: str,
    owner: str | None = None,
) -> None:
    store = RedisStore(redis_url())
    settings = load_settings()
    queue = RedisQueue(store, settings.job_queue, settings.jobs_per_client)
    warm = engine(spec.get("layer"))
    if expected_model != _model_id:
        queue.forget(job_id)
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
    run_job(job_id, spec, store, warm, cache_key, queue, owner, _reference)
