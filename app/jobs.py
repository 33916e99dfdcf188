"""Background OIP jobs: a thread pool in the web process by default, Celery + Redis when configured.

Why not Dash background callbacks: their `DiskcacheManager` forks a process per job, and a process
forked after TensorFlow is loaded hangs when it calls the model (FACTS.md). So:

- **local** (default): one worker thread inside the web process runs jobs one at a time (one job
  already uses both cores); progress lives in memory and the page polls it with `dcc.Interval`.
- **celery** (`REDIS_URL` set): the web process only queues work; Celery workers (`app.worker`,
  solo pool, TensorFlow loaded in the worker after any fork) run it and write progress to Redis,
  which every web process reads. Workers on several machines share one queue.

Job handles given to the browser are signed with the Flask secret key (itsdangerous) around a
random 128-bit id: they can be neither forged nor guessed. Cancellation is cooperative: the
optimizer's progress callback asks the store whether a cancel was requested and stops the loop.
This module imports no Dash, so a worker can import it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
from itsdangerous import BadSignature, URLSafeSerializer

from app import settings as app_settings
from app.jobspec import ENGINE_DEFAULTS, KINDS, JobSpec, JobSpecError, objective_layers
from cnn_core.model.anatomy import ModelDescription
from cnn_core.oip import OipProgress

__all__ = ["ENGINE_DEFAULTS", "KINDS", "JobSpec", "JobSpecError", "objective_layers"]

log = logging.getLogger(__name__)

ENV_REDIS = app_settings.ENV_REDIS
JOB_TTL_S = 15 * 60  # finished jobs are forgotten after this
RESULT_TTL_S = 24 * 3600  # cached results (same parameters: instant)
STALE_AFTER_S = 60.0  # default; a running job with no progress for this long is declared dead
FRAME_INTERVAL_S = 0.2  # at most 5 progress writes per second
TERMINAL = ("done", "cancelled", "error")


class JobNotFoundError(KeyError):
    """A handle that is forged, malformed, or names a job that no longer exists."""

    def __str__(self) -> str:
        return str(self.args[0])


class JobsUnavailableError(JobNotFoundError):
    """The job store (Redis) cannot be reached right now; jobs resume when it is back."""


# --------------------------------------------------------------------------- specs


def parse_spec(raw: dict[str, Any], desc: ModelDescription) -> dict[str, Any]:
    """`JobSpec.parse(raw, desc)` in its canonical dict form (what job states and Celery carry).

    Raises:
        JobSpecError: any field out of range or unknown.
    """
    return JobSpec.parse(raw, desc).to_dict()


def spec_key(spec: dict[str, Any], model_fingerprint: str) -> str:
    """Cache key of a result: the spec (without pace, which changes no pixel) and the model."""
    return JobSpec.from_dict(spec).cache_key(model_fingerprint)


def describe(spec: dict[str, Any]) -> str:
    """Human-readable objective of a spec, e.g. 'Conv2D_3 map 17' or 'logit 4 − logit 9'."""
    return JobSpec.from_dict(spec).describe()


def _request_id() -> str:
    """The current web request's id (X-Request-Id), to tie a job to the request that made it."""
    try:
        from flask import g, has_request_context
    except ImportError:  # a worker without Flask
        return "-"
    return g.get("request_id", "-") if has_request_context() else "-"


def stale_after_s() -> float:
    """Seconds of silence after which a running job is reported dead (`CNN_LENS_JOB_STALE_S`)."""
    return app_settings.load_settings().job_stale_s


def model_id(meta: dict[str, Any]) -> str:
    """Identity of a trained model: a hash of its metadata (data fingerprint, time, config...)."""
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- stores

Arrays = dict[str, np.ndarray]


class JobStore(Protocol):
    """Where job state, the latest frame and results live."""

    def put(self, job_id: str, state: dict[str, Any], arrays: Arrays | None = None) -> None: ...

    def get(self, job_id: str) -> tuple[dict[str, Any], Arrays] | None: ...

    def request_cancel(self, job_id: str) -> None: ...

    def cancel_requested(self, job_id: str) -> bool: ...

    def cache_get(self, key: str) -> tuple[dict[str, Any], Arrays] | None: ...

    def cache_put(self, key: str, state: dict[str, Any], arrays: Arrays) -> None: ...


class MemoryStore:
    """In-process store for the local runner; forgets finished jobs after `JOB_TTL_S`."""

    def __init__(self, max_cached: int = 64) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, tuple[dict[str, Any], Arrays]] = {}
        self._cancel: set[str] = set()
        self._cache: OrderedDict[str, tuple[dict[str, Any], Arrays]] = OrderedDict()
        self._max_cached = max_cached

    def put(self, job_id: str, state: dict[str, Any], arrays: Arrays | None = None) -> None:
        with self._lock:
            old_arrays = self._jobs.get(job_id, ({}, {}))[1]
            self._jobs[job_id] = (dict(state), {**old_arrays, **(arrays or {})})
            self._expire()

    def get(self, job_id: str) -> tuple[dict[str, Any], Arrays] | None:
        with self._lock:
            found = self._jobs.get(job_id)
            return (dict(found[0]), dict(found[1])) if found else None

    def request_cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancel.add(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancel

    def cache_get(self, key: str) -> tuple[dict[str, Any], Arrays] | None:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            return None

    def cache_put(self, key: str, state: dict[str, Any], arrays: Arrays) -> None:
        with self._lock:
            self._cache[key] = (dict(state), dict(arrays))
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)

    def cancel_all(self) -> None:
        """Ask every unfinished job to stop."""
        with self._lock:
            for job_id, (state, _) in self._jobs.items():
                if state.get("status") not in TERMINAL:
                    self._cancel.add(job_id)

    def _expire(self) -> None:
        now = time.time()
        for job_id, (state, _) in list(self._jobs.items()):
            if state.get("status") in TERMINAL and now - state.get("updated", now) > JOB_TTL_S:
                del self._jobs[job_id]
                self._cancel.discard(job_id)


def _pack(arrays: Arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _unpack(blob: bytes | None) -> Arrays:
    if not blob:
        return {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


class RedisStore:
    """Redis store shared by web processes and Celery workers; every key expires."""

    PREFIX = "cnn_lens:"

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        # short timeouts: a stopped Redis must give the page a message, not hang a request
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._errors = (redis.RedisError, OSError)

    def ping(self) -> bool:
        """Whether Redis answers now."""
        try:
            return bool(self._redis.ping())
        except self._errors:
            return False

    def unavailable(self, exc: BaseException) -> JobsUnavailableError:
        """The error a page shows while Redis is down (or full)."""
        import redis

        if isinstance(exc, redis.ConnectionError | redis.TimeoutError | OSError):
            what = f"cannot be reached ({type(exc).__name__})"
        elif isinstance(exc, redis.exceptions.OutOfMemoryError):
            what = "is full (out of memory)"
        else:  # answered, but refused: a read-only replica...
            what = f"refused the request ({str(exc).split('caused error: ')[-1][:80]})"
        return JobsUnavailableError(
            f"the job queue (Redis) {what}; OIP jobs resume when it is back, the other pages "
            "keep working"
        )

    def _key(self, *parts: str) -> str:
        return self.PREFIX + ":".join(parts)

    def put(self, job_id: str, state: dict[str, Any], arrays: Arrays | None = None) -> None:
        pipe = self._redis.pipeline()
        pipe.set(self._key("job", job_id), json.dumps(state), ex=JOB_TTL_S)
        for name, array in (arrays or {}).items():
            pipe.hset(self._key("arrays", job_id), name, _pack({name: array}))
        pipe.expire(self._key("arrays", job_id), JOB_TTL_S)
        pipe.execute()

    def get(self, job_id: str) -> tuple[dict[str, Any], Arrays] | None:
        raw = self._redis.get(self._key("job", job_id))
        if raw is None:
            return None
        arrays: Arrays = {}
        for blob in self._redis.hgetall(self._key("arrays", job_id)).values():
            arrays.update(_unpack(blob))
        return json.loads(raw), arrays

    def request_cancel(self, job_id: str) -> None:
        self._redis.set(self._key("cancel", job_id), b"1", ex=JOB_TTL_S)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self._redis.exists(self._key("cancel", job_id)))

    def cache_get(self, key: str) -> tuple[dict[str, Any], Arrays] | None:
        # one MGET (atomic, and allowed when Redis is full, unlike a MULTI block)
        state, blob = self._redis.mget(self._key("result", key), self._key("result_arrays", key))
        return (json.loads(state), _unpack(blob)) if state and blob else None

    def cache_put(self, key: str, state: dict[str, Any], arrays: Arrays) -> None:
        # one MULTI/EXEC transaction: both keys or neither, never a state without its arrays
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self._key("result", key), json.dumps(state), ex=RESULT_TTL_S)
        pipe.set(self._key("result_arrays", key), _pack(arrays), ex=RESULT_TTL_S)
        pipe.execute()


# --------------------------------------------------------------------------- the work


def run_job(
    job_id: str,
    spec: JobSpec | dict[str, Any],
    store: JobStore,
    engine: Any,
    cache_key: str | None = None,
) -> None:
    """Run one job to its end, writing progress, frames and the result to `store`.

    Never raises: a failure becomes `status="error"` with its message, so the page can show it.

    Args:
        job_id: the job's id.
        spec: a parsed `JobSpec` (or its `to_dict()`, as a job store or Celery carries it).
        store: where progress goes.
        engine: a warm `cnn_core.oip.OipEngine`.
        cache_key: where to cache a finished result (None: don't).
    """
    job = spec if isinstance(spec, JobSpec) else JobSpec.from_dict(spec)
    state: dict[str, Any] = {
        "id": job_id,
        "spec": job.to_dict(),
        "description": job.describe(),
        "status": "running",
        "step": 0,
        "steps": job.steps,
        "started": time.time(),
        "updated": time.time(),
        "error": None,
    }
    store.put(job_id, state)
    try:
        options, objectives, seeds, pace = job.options(), job.objectives(), job.seeds(), job.pace
        # Each progress callback is a sync point of the traced loop: watched runs take one every
        # few steps (frames), full-speed runs every ~10% (at most 25 steps: cancel stays quick).
        every = max(1, min(5, int(pace // 10))) if pace > 0 else min(25, max(5, job.steps // 10))
        last_write = 0.0
        started = time.perf_counter()
        curve_steps: list[int] = []
        curve_values: list[np.ndarray] = []

        def on_progress(progress: OipProgress) -> bool:
            nonlocal last_write
            if pace > 0:  # watching: hold the pace the user asked for, not the CPU's
                behind = progress.step / pace - (time.perf_counter() - started)
                if behind > 0:
                    time.sleep(behind)
            curve_steps.append(progress.step)
            curve_values.append(np.asarray(progress.values, dtype=np.float32))
            now = time.perf_counter()
            if now - last_write >= FRAME_INTERVAL_S or progress.step >= progress.steps:
                last_write = now
                state.update(step=progress.step, updated=time.time())
                frame = {
                    "images": np.asarray(progress.images, dtype=np.float32),
                    "curve_steps": np.asarray(curve_steps, dtype=np.int32),
                    "curve_values": np.stack(curve_values),
                }
                store.put(job_id, state, frame)
            return store.cancel_requested(job_id)

        result = engine.run(objectives, seeds, options, callback=on_progress, every=every)
        arrays = {
            "images": result.images,
            "history": result.history,
            "activations": result.activations,
            "probabilities": result.probabilities,
        }
        state.update(
            status="cancelled" if result.stopped else "done",
            step=int(result.history.shape[0]),
            updated=time.time(),
            finished=time.time(),
            seconds=round(time.perf_counter() - started, 3),
            descriptions=list(result.descriptions),
            seeds=list(result.seeds),
        )
        store.put(job_id, state, arrays)
        if not result.stopped and cache_key:
            try:
                store.cache_put(cache_key, state, arrays)
            except Exception as exc:  # a full cache costs the next run its shortcut, no more
                log.warning("job %s: result not cached (%s: %.120s)", job_id,
                            type(exc).__name__, exc)  # fmt: skip
        log.info("job %s %s: %s in %.2f s", job_id, state["description"], state["status"],
                 state["seconds"])  # fmt: skip
    except Exception as exc:  # a job that dies must say why on the page, not kill the app
        log.exception("job %s failed", job_id)
        state.update(status="error", error=f"{type(exc).__name__}: {exc}", updated=time.time())
        store.put(job_id, state)


# --------------------------------------------------------------------------- runners


class LocalRunner:
    """Runs jobs on one thread in this process (one job already uses both cores)."""

    name = "local"

    def __init__(self, store: MemoryStore, engine_factory: Callable[[str | None], Any]) -> None:
        self.store = store
        self._engine_factory = engine_factory
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oip-job")

    def submit(self, job_id: str, spec: dict[str, Any], cache_key: str) -> None:
        engine = self._engine_factory(spec.get("layer"))
        self._pool.submit(run_job, job_id, spec, self.store, engine, cache_key)

    def shutdown(self) -> None:
        """Cancel queued and running jobs, so that the process can exit at once."""
        self.store.cancel_all()
        self._pool.shutdown(wait=False, cancel_futures=True)


class CeleryRunner:
    """Queues jobs for Celery workers (`app.worker`); progress comes back through Redis."""

    name = "celery"

    def __init__(self, store: RedisStore, model: str) -> None:
        self.store = store
        self._model = model

    def submit(self, job_id: str, spec: dict[str, Any], cache_key: str) -> None:
        from app.celery_app import RUN_OIP, celery_app  # Celery loads only when it is used

        celery_app.send_task(RUN_OIP, args=[job_id, spec, cache_key, self._model])


# --------------------------------------------------------------------------- manager


class JobManager:
    """Submit, poll and cancel jobs through signed handles; the page talks only to this."""

    def __init__(
        self,
        secret_key: str,
        runner: LocalRunner | CeleryRunner,
        model_fingerprint: str,
        description: ModelDescription,
    ):
        self._signer = URLSafeSerializer(secret_key, salt="cnn-lens-oip-job")
        self.runner = runner
        self.store: JobStore = runner.store
        self._fingerprint = model_fingerprint
        self.description = description

    @property
    def backend(self) -> str:
        return self.runner.name

    def sign(self, job_id: str) -> str:
        return self._signer.dumps(job_id)

    def job_id(self, handle: Any) -> str:
        """The job id inside a signed handle; `JobNotFoundError` if forged or malformed."""
        if not isinstance(handle, str):
            raise JobNotFoundError("no job handle")
        try:
            job_id = self._signer.loads(handle)
        except BadSignature:
            raise JobNotFoundError("invalid job handle (not signed by this server)") from None
        if not isinstance(job_id, str):
            raise JobNotFoundError("invalid job handle")
        return job_id

    def store_reachable(self) -> bool:
        """Whether the job store answers (the in-process store always does)."""
        ping = getattr(self.store, "ping", None)
        return True if ping is None else ping()

    def _unavailable(self, exc: BaseException) -> JobsUnavailableError:
        make = getattr(self.store, "unavailable", None)
        if make is None:
            raise exc
        return make(exc)

    def _store_errors(self) -> tuple[type[BaseException], ...]:
        return getattr(self.store, "_errors", ())

    def submit(self, raw_spec: Any) -> str:
        """Validate, then start a job (or answer from the cache); returns its signed handle.

        Raises:
            JobSpecError: a bad request.
            JobsUnavailableError: the job store (Redis) or queue cannot be reached.
        """
        spec = JobSpec.parse(raw_spec, self.description)
        try:
            return self._submit(spec)
        except self._store_errors() as exc:
            raise self._unavailable(exc) from None
        except Exception as exc:
            # Celery's broker errors (kombu) when Redis is down are not Redis errors
            if type(exc).__module__.split(".")[0] in ("kombu", "celery", "redis"):
                raise self._unavailable(exc) from None
            raise

    def _submit(self, job: JobSpec) -> str:
        job_id = uuid.uuid4().hex
        key, spec = job.cache_key(self._fingerprint), job.to_dict()
        cached = self.store.cache_get(key)
        if cached is not None:
            state, arrays = cached
            now = time.time()
            self.store.put(job_id, {**state, "id": job_id, "cached": True, "updated": now}, arrays)
        else:
            queued = {
                "id": job_id,
                "spec": spec,
                "description": job.describe(),
                "status": "queued",
                "step": 0,
                "steps": job.steps,
                "updated": time.time(),
                "error": None,
            }
            self.store.put(job_id, queued)
            self.runner.submit(job_id, spec, key)
        log.info("job %s %s: %s (request %s)", job_id, job.describe(),
                 "cached" if cached is not None else f"queued on {self.backend}",
                 _request_id())  # fmt: skip
        return self.sign(job_id)

    def status(self, handle: Any) -> tuple[dict[str, Any], Arrays]:
        """State and arrays of a job; a running job silent for `STALE_AFTER_S` is reported dead."""
        job_id = self.job_id(handle)
        try:
            found = self.store.get(job_id)
        except self._store_errors() as exc:
            raise self._unavailable(exc) from None
        if found is None:
            raise JobNotFoundError("this job no longer exists (finished jobs are cleaned up)")
        state, arrays = found
        silent = time.time() - state.get("updated", time.time())
        if state["status"] in ("running", "queued") and silent > stale_after_s():
            where = "worker" if self.backend == "celery" else "job thread"
            state = {**state, "status": "error", "error": f"the {where} stopped reporting"}
            if state.get("step", 0) == 0 and self.backend == "celery":
                state["error"] += " (is a Celery worker running?)"
        return state, arrays

    def cancel(self, handle: Any) -> None:
        """Ask a job to stop; it stops at its next progress callback (a few steps)."""
        job_id = self.job_id(handle)
        try:
            self.store.request_cancel(job_id)
        except self._store_errors() as exc:
            raise self._unavailable(exc) from None

    def shutdown(self) -> None:
        """Stop this process's own jobs (local runner); Celery workers' jobs go on."""
        if isinstance(self.runner, LocalRunner):
            self.runner.shutdown()


_manager: JobManager | None = None
_manager_lock = threading.Lock()


def make_manager(
    secret_key: str,
    engine_factory: Callable[[str | None], Any],
    model: str,
    description: ModelDescription,
) -> JobManager:
    """A manager on Celery + Redis if `REDIS_URL` is set, else on the local thread runner.

    Args:
        secret_key: signs job handles (the Flask secret key; shared by all web processes).
        engine_factory: returns the process's warm `OipEngine` for a job's layer (None: a
            class objective), `engine_for(trained, layer)` (local runner only).
        model: `model_id` of the served model (cache key; workers check they have the same).
        description: the served model's description (job requests are checked against it).
    """
    url = app_settings.load_settings().redis_url
    runner: LocalRunner | CeleryRunner
    if url:
        runner = CeleryRunner(RedisStore(url), model)
    else:
        runner = LocalRunner(MemoryStore(), engine_factory)
    return JobManager(secret_key, runner, model, description)


def set_manager(manager: JobManager) -> None:
    global _manager
    with _manager_lock:
        _manager = manager


def get_manager() -> JobManager:
    if _manager is None:
        raise RuntimeError("job manager not configured: create the app with app.main.create_app()")
    return _manager
