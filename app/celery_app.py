"""The Celery application OIP jobs travel through when `REDIS_URL` is set.

Web processes send jobs to it (`app.jobs.CeleryRunner`), workers run them (`app.worker`).
It imports neither, so the two never import each other.
"""

from __future__ import annotations

from celery import Celery

from app.settings import load_settings

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
#: The task's name, shared by sender and worker.
RUN_OIP = "cnn_lens.run_oip"


def redis_url() -> str:
    return load_settings().redis_url or DEFAULT_REDIS


celery_app = Celery("cnn_lens", broker=redis_url())
celery_app.conf.update(
    task_ignore_result=True,  # progress and results go to RedisStore, not Celery's backend
    worker_prefetch_multiplier=1,  # one OIP job at a time per worker: fair across machines
    # acknowledged when done: a busy worker holds no second job back while another is idle (a
    # job redelivered after its worker died is skipped: app.jobs' queue has let it go by then)
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
