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
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


class JobRefusedError(Exception):
    """A valid job that is not queued now; the message says why and what to do."""


class QueueFullError(JobRefusedError):
    """As many jobs wait as `CNN_LENS_JOB_QUEUE` allows: the server is busy."""


class ClientShareError(JobRefusedError):
    """This browser has as many jobs waiting or running as `CNN_LENS_JOBS_PER_CLIENT` allows."""


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


#: The key of the browser's id in Flask's signed session cookie.
CLIENT_KEY = "cnn_lens_client"
_CLIENT_ID = re.compile(r"[0-9a-f]{32}")


def client_id() -> str | None:
    """The id of the browser making this request: a random id kept in Flask's signed session
    cookie, made on its first job. None outside a request (tests, scripts: no one to share with).

    A client that drops its cookies gets a new id each time: the per-client share then does not
    hold it back, the queue's cap still does.
    """
    try:
        from flask import has_request_context, session
    except ImportError:  # a worker without Flask
        return None
    if not has_request_context():
        return None
    client = session.get(CLIENT_KEY)
    if not isinstance(client, str) or not _CLIENT_ID.fullmatch(client):
        client = uuid.uuid4().hex
        session[CLIENT_KEY] = client
    return client


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

    def touch(self, job_id: str) -> None: ...

    def delete(self, job_id: str) -> None: ...


class MemoryStore:
    """In-process store for the local runner; forgets finished jobs after `JOB_TTL_S`, and the
    oldest finished ones beyond `max_finished` (a class's galleries, ~1 MB each, stay bounded:
    unfinished jobs are bounded by the queue)."""

    def __init__(self, max_cached: int = 64, max_finished: int = 64) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, tuple[dict[str, Any], Arrays]] = {}
        self._cancel: set[str] = set()
        self._cache: OrderedDict[str, tuple[dict[str, Any], Arrays]] = OrderedDict()
        self._max_cached = max_cached
        self._max_finished = max_finished

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

    def touch(self, job_id: str) -> None:
        """(Unfinished jobs never expire here.)"""

    def delete(self, job_id: str) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._forget(job_id)

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
        finished = []
        for job_id, (state, _) in list(self._jobs.items()):
            if state.get("status") in TERMINAL:
                if now - state.get("updated", now) > JOB_TTL_S:
                    self._forget(job_id)
                else:
                    finished.append((state.get("updated", now), job_id))
        if len(finished) > self._max_finished:
            for _, job_id in sorted(finished)[: len(finished) - self._max_finished]:
                self._forget(job_id)

    def _forget(self, job_id: str) -> None:
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

    def touch(self, job_id: str) -> None:
        """Keep a waiting job's record `JOB_TTL_S` longer: a tab still watches it (one left
        waiting unwatched expires, and its place with it)."""
        self._redis.expire(self._key("job", job_id), JOB_TTL_S)

    def delete(self, job_id: str) -> None:
        self._redis.delete(self._key("job", job_id), self._key("arrays", job_id))

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


# --------------------------------------------------------------------------- the queue

#: Seconds per ascent step of a job at full speed before any has finished (a Conv2D_3 gallery,
#: 128 maps: ~3 s for 200 steps on 2 cores; a single run of a few images: ~1 s); then learned.
DEFAULT_STEP_S = {"gallery": 0.02, "single": 0.005}
#: Weight of the newest finished job in the learned seconds per step.
STEP_S_WEIGHT = 0.3


def _images(spec: dict[str, Any]) -> int:
    """The images a single run optimizes as one batch: seeds x images per seed."""
    return int(spec.get("n_seeds") or 1) * int(spec.get("images_per_unit") or 1)


def _group(spec: dict[str, Any]) -> str:
    """What a job's cost is learned by: galleries of each layer, and single runs of each layer
    and batch size (8 seeds x 16 diverse images cost far more per step than 3 seeds)."""
    if spec.get("kind") == "gallery":
        return f"gallery:{spec.get('layer') or '-'}"
    return f"single:{spec.get('layer') or '-'}:{_images(spec)}"


def _default_step_s(spec: dict[str, Any]) -> float:
    """Seconds per step before any job of the group finished: a gallery's, or a single run's,
    growing with its images as a gallery's 128 maps do once the batch is large."""
    if spec.get("kind") == "gallery":
        return DEFAULT_STEP_S["gallery"]
    return max(DEFAULT_STEP_S["single"], DEFAULT_STEP_S["gallery"] * _images(spec) / 128)


def estimate_s(spec: dict[str, Any], step_s: dict[str, float]) -> float:
    """Seconds a job will take: its steps at the learned full-speed rate of its group (`step_s`,
    else `_default_step_s`), or at its pace when watched, whichever is slower."""
    steps = float(spec.get("steps") or 0)
    compute = steps * step_s.get(_group(spec), _default_step_s(spec))
    pace = float(spec.get("pace") or 0)
    return max(compute, steps / pace if pace > 0 else 0.0)


@dataclass(frozen=True)
class Place:
    """Where a waiting job stands: `ahead` jobs wait before it, it starts in about `wait_s`."""

    ahead: int
    wait_s: float


@dataclass
class _Entry:
    owner: str | None
    estimate: float
    started: float | None = None
    cancelled: bool = False


def _ahead_wait(running: list[_Entry], ahead: list[_Entry], now: float) -> float:
    """Seconds until the job behind `ahead` starts: what the running jobs have left plus the
    jobs ahead, shared by the workers (while jobs wait, every worker runs one)."""
    left = sum(max(0.1 * e.estimate, e.estimate - (now - (e.started or now))) for e in running)
    return (left + sum(e.estimate for e in ahead)) / max(1, len(running))


def _busy(waiting: int) -> QueueFullError:
    return QueueFullError(
        f"The server is busy: {waiting} OIP jobs are waiting already, the most it queues. "
        "Try again in a minute."
    )


def _over_share(share: int) -> ClientShareError:
    return ClientShareError(
        f"You already have {share} OIP job{'s' if share > 1 else ''} waiting or running, the "
        "most one browser may have: wait for one to finish, or cancel it."
    )


class MemoryQueue:
    """The local runner's queue: who waits, in which order, who runs; bounded (`cap` waiting,
    `share` waiting or running per client)."""

    def __init__(self, cap: int, share: int) -> None:
        self.cap, self.share = cap, share
        self._lock = threading.Lock()
        self._waiting: OrderedDict[str, _Entry] = OrderedDict()
        self._running: dict[str, _Entry] = {}
        self._step_s: dict[str, float] = {}
        self._pulse = 0.0

    def admit(self, job_id: str, owner: str | None, spec: dict[str, Any]) -> None:
        """Put a job at the end of the queue, or refuse it (`JobRefusedError`)."""
        with self._lock:
            entries = [*self._waiting.values(), *self._running.values()]
            if len(self._waiting) >= self.cap:
                raise _busy(len(self._waiting))
            mine = sum(1 for e in entries if e.owner == owner and not e.cancelled)
            if owner is not None and mine >= self.share:
                raise _over_share(self.share)
            self._waiting[job_id] = _Entry(owner, estimate_s(spec, self._step_s))

    def start(self, job_id: str) -> bool:
        """A runner takes the job; False if it no longer waits (cancelled meanwhile)."""
        with self._lock:
            entry = self._waiting.pop(job_id, None)
            if entry is None:
                return False
            entry.started = self._pulse = time.time()
            self._running[job_id] = entry
            return True

    def beat(self) -> None:
        """A runner is alive (it wrote progress)."""
        self._pulse = time.time()

    def finish(self, job_id: str, spec: dict[str, Any], seconds: float | None) -> None:
        """The job ended; a full-speed run that finished teaches its group's seconds per step."""
        with self._lock:
            self._running.pop(job_id, None)
            self._waiting.pop(job_id, None)
            self._pulse = time.time()
            _learn(self._step_s, spec, seconds)

    def withdraw(self, job_id: str) -> bool:
        """Cancel: a waiting job leaves the queue at once (True); a running one no longer counts
        against its client's share while it stops."""
        with self._lock:
            if self._waiting.pop(job_id, None) is not None:
                return True
            if job_id in self._running:
                self._running[job_id].cancelled = True
            return False

    def place(self, job_id: str) -> Place | None:
        """Where a waiting job stands, or None if it does not wait."""
        with self._lock:
            order = list(self._waiting)
            if job_id not in self._waiting:
                return None
            ahead = order.index(job_id)
            wait = _ahead_wait(
                list(self._running.values()),
                [self._waiting[i] for i in order[:ahead]],
                time.time(),
            )
            return Place(ahead, wait)

    def pulse(self) -> float:
        """When a runner last showed it is alive (0: never)."""
        return self._pulse

    def forget(self, job_id: str) -> None:
        """Drop a job reported dead (its runner stopped reporting) from the queue."""
        with self._lock:
            self._waiting.pop(job_id, None)
            self._running.pop(job_id, None)


def _learn(step_s: dict[str, float], spec: dict[str, Any], seconds: float | None) -> None:
    steps = spec.get("steps") or 0
    if seconds is None or steps <= 0 or (spec.get("pace") or 0) > 0:
        return
    group, measured = _group(spec), seconds / steps
    old = step_s.get(group)
    step_s[group] = measured if old is None else old + STEP_S_WEIGHT * (measured - old)


# Admission in one step on Redis, so that web processes side by side never pass the cap
# together. KEYS: waiting (sorted set), entries (hash job -> JSON entry). ARGV: cap, share,
# job id, owner ("" for none), entry JSON, score. Returns 0 (queued), -1 (full), -2 (share).
_ADMIT_LUA = """
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end
if ARGV[4] ~= '' then
  local mine = 0
  for _, raw in ipairs(redis.call('HVALS', KEYS[2])) do
    local entry = cjson.decode(raw)
    if entry.owner == ARGV[4] and not entry.cancelled then mine = mine + 1 end
  end
  if mine >= tonumber(ARGV[2]) then return -2 end
end
redis.call('ZADD', KEYS[1], ARGV[6], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[5])
return 0
"""


class RedisQueue:
    """The same queue in Redis, shared by every web process and Celery worker.

    Celery's own queue holds the work; this holds who waits and in which order (a sorted set by
    arrival) and who runs (`entries`), so that a page can say where its job stands, a cancelled
    job frees its place at once (its Celery message is skipped when a worker reaches it), and
    the cap and shares hold across web processes. Entries of jobs a dead worker left behind are
    dropped when the job is reported dead.
    """

    PREFIX = RedisStore.PREFIX + "queue:"

    def __init__(self, store: RedisStore, cap: int, share: int) -> None:
        self.cap, self.share = cap, share
        self._store = store
        self._redis = store._redis
        self._waiting, self._entries = self.PREFIX + "waiting", self.PREFIX + "entries"
        self._step_key, self._pulse_key = self.PREFIX + "step_s", self.PREFIX + "pulse"
        self._admit = self._redis.register_script(_ADMIT_LUA)

    def _step_s(self) -> dict[str, float]:
        return {k.decode(): float(v) for k, v in self._redis.hgetall(self._step_key).items()}

    def admit(self, job_id: str, owner: str | None, spec: dict[str, Any]) -> None:
        self._prune()
        entry = {"owner": owner, "estimate": estimate_s(spec, self._step_s()), "started": None,
                 "cancelled": False}  # fmt: skip
        args = [self.cap, self.share, job_id, owner or "", json.dumps(entry), time.time()]
        answer = self._admit(keys=[self._waiting, self._entries], args=args)
        if answer == -1:
            raise _busy(self.cap)
        if answer == -2:
            raise _over_share(self.share)

    def start(self, job_id: str) -> bool:
        if not self._redis.zrem(self._waiting, job_id):
            return False
        raw = self._redis.hget(self._entries, job_id)
        entry = json.loads(raw) if raw else {"owner": None, "estimate": 0.0}
        entry["started"] = time.time()
        pipe = self._redis.pipeline()
        pipe.hset(self._entries, job_id, json.dumps(entry))
        pipe.set(self._pulse_key, time.time(), ex=JOB_TTL_S)
        pipe.execute()
        return True

    def beat(self) -> None:
        self._redis.set(self._pulse_key, time.time(), ex=JOB_TTL_S)

    def finish(self, job_id: str, spec: dict[str, Any], seconds: float | None) -> None:
        pipe = self._redis.pipeline()
        pipe.zrem(self._waiting, job_id)
        pipe.hdel(self._entries, job_id)
        pipe.set(self._pulse_key, time.time(), ex=JOB_TTL_S)
        pipe.execute()
        step_s = self._step_s()
        before = dict(step_s)
        _learn(step_s, spec, seconds)
        if step_s != before:
            group = _group(spec)
            self._redis.hset(self._step_key, group, step_s[group])

    def withdraw(self, job_id: str) -> bool:
        if self._redis.zrem(self._waiting, job_id):
            self._redis.hdel(self._entries, job_id)
            return True
        raw = self._redis.hget(self._entries, job_id)
        if raw:
            self._redis.hset(self._entries, job_id, json.dumps({**json.loads(raw),
                                                                "cancelled": True}))  # fmt: skip
        return False

    def place(self, job_id: str) -> Place | None:
        rank = self._redis.zrank(self._waiting, job_id)
        if rank is None:
            return None
        ahead_ids = self._redis.zrange(self._waiting, 0, rank - 1) if rank else []
        entries = {k.decode(): json.loads(v) for k, v in self._redis.hgetall(self._entries).items()}
        running = [_Entry(**e) for e in entries.values() if e.get("started")]
        ahead = [_Entry(**entries[i.decode()]) for i in ahead_ids if i.decode() in entries]
        return Place(int(rank), _ahead_wait(running, ahead, time.time()))

    def pulse(self) -> float:
        raw = self._redis.get(self._pulse_key)
        return float(raw) if raw else 0.0

    def forget(self, job_id: str) -> None:
        """Drop a job reported dead (its worker stopped reporting) from the queue."""
        pipe = self._redis.pipeline()
        pipe.zrem(self._waiting, job_id)
        pipe.hdel(self._entries, job_id)
        pipe.execute()

    def _prune(self) -> None:
        """Drop entries whose job is gone (expired), over, or running but silent for longer than
        `stale_after_s`: their worker died before saying so."""
        ids = [k.decode() for k in self._redis.hkeys(self._entries)]
        if not ids:
            return
        states = self._redis.mget([self._store._key("job", i) for i in ids])
        now, stale = time.time(), stale_after_s()
        gone = []
        for job_id, raw in zip(ids, states, strict=True):
            state = json.loads(raw) if raw else {}
            silent = now - state.get("updated", now)
            if (
                not state
                or state.get("status") in TERMINAL
                or (state.get("status") == "running" and silent > stale)
            ):
                gone.append(job_id)
        if gone:
            self._redis.zrem(self._waiting, *gone)
            self._redis.hdel(self._entries, *gone)


JobQueue = MemoryQueue | RedisQueue


# --------------------------------------------------------------------------- the work


def run_job(
    job_id: str,
    spec: JobSpec | dict[str, Any],
    store: JobStore,
    engine: Any,
    cache_key: str | None = None,
    queue: JobQueue | None = None,
    owner: str | None = None,
    reference: Callable[[], np.ndarray | None] | None = None,
) -> None:
    """Run one job to its end, writing progress, frames and the result to `store`.

    Never raises: a failure becomes `status="error"` with its message, so the page can show it.

    Args:
        job_id: the job's id.
        spec: a parsed `JobSpec` (or its `to_dict()`, as a job store or Celery carries it).
        store: where progress goes.
        engine: a warm `cnn_core.oip.OipEngine`.
        cache_key: where to cache a finished result (None: don't).
        queue: the queue the job waited in: it is taken from there first (a job cancelled
            while it waited is not run), and told when it ends.
        owner: the client that asked for it (kept in its state).
        reference: returns the real images the trust check compares the OIPs with (pixel
            units, `(N, H, W[, C])`; the test split), None without data.
    """
    job = spec if isinstance(spec, JobSpec) else JobSpec.from_dict(spec)
    if queue is not None and not _take(queue, job_id):
        log.info("job %s %s: cancelled while it waited", job_id, job.describe())
        return
    state: dict[str, Any] = {
        "id": job_id,
        "spec": job.to_dict(),
        "description": job.describe(),
        "owner": owner,
        "status": "running",
        "step": 0,
        "steps": job.steps,
        "started": time.time(),
        "updated": time.time(),
        "error": None,
    }
    try:
        if not (cache_key and _answer_from_cache(job_id, state, store, cache_key)):
            _run(job_id, job, state, store, engine, cache_key, queue, reference)
    finally:
        if queue is not None:
            computed = state["status"] == "done" and not state.get("cached")
            seconds = state.get("seconds") if computed else None
            try:
                queue.finish(job_id, job.to_dict(), seconds)
            except Exception as exc:  # Redis gone: the entry is pruned once the job is over
                log.warning("job %s: not taken off the queue (%s)", job_id, type(exc).__name__)


def _answer_from_cache(job_id: str, state: dict[str, Any], store: JobStore, key: str) -> bool:
    """Answer a job that waited from the cache if the same job finished meanwhile (a class
    pressing Start on the same parameters computes them once); False if it has to run."""
    try:
        cached = store.cache_get(key)
    except Exception:  # no cache now: compute it
        return False
    if cached is None:
        return False
    result, arrays = cached
    state.update({**result, "id": job_id, "owner": state["owner"], "cached": True,
                  "updated": time.time()})  # fmt: skip
    store.put(job_id, state, arrays)
    log.info("job %s %s: done from the cache", job_id, state["description"])
    return True


def _take(queue: JobQueue, job_id: str) -> bool:
    try:
        return queue.start(job_id)
    except Exception as exc:  # the queue's Redis is down: better run it than lose it
        log.warning("job %s: queue not reachable (%s); running it", job_id, type(exc).__name__)
        return True


def _run(
    job_id: str,
    job: JobSpec,
    state: dict[str, Any],
    store: JobStore,
    engine: Any,
    cache_key: str | None,
    queue: JobQueue | None,
    reference: Callable[[], np.ndarray | None] | None = None,
) -> None:
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
                if queue is not None:
                    queue.beat()
            return store.cancel_requested(job_id)

        result = engine.run(objectives, seeds, options, callback=on_progress, every=every)
        arrays = {
            "images": result.images,
            "history": result.history,
            "activations": result.activations,
            "probabilities": result.probabilities,
        }
        if not result.stopped:
            arrays.update(_trust(job_id, engine, result, reference))
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


#: The trust check's unseen transforms per OIP (`cnn_core.oip.trust`), fewer (at least
#: `TRUST_MIN_DRAWS`) in a gallery of more than `TRUST_BUDGET / TRUST_DRAWS` maps, so that the
#: check costs at most about `TRUST_BUDGET` forward passes besides the data's.
TRUST_DRAWS, TRUST_MIN_DRAWS, TRUST_BUDGET = 32, 8, 4096
#: The result's arrays of the trust check: its measures (`trust.verdicts` reads them).
TRUST_KEYS = ("ratio", "robustness", "high_frequency", "path_top", "path_random")


def _trust(
    job_id: str,
    engine: Any,
    result: Any,
    reference: Callable[[], np.ndarray | None] | None,
) -> Arrays:
    """The trust check of a finished run as result arrays (`trust_<measure>`, and the data's
    high-frequency share as `trust_data_high_frequency`, one value); none if it fails, which
    costs the page its badges, not the run."""
    from cnn_core.oip.trust import trust_report

    try:
        data = reference() if reference is not None else None
        n = int(np.prod(result.activations.shape))
        draws = max(TRUST_MIN_DRAWS, min(TRUST_DRAWS, TRUST_BUDGET // max(n, 1)))
        report = trust_report(engine, result, data, draws=draws)
    except Exception as exc:
        log.warning("job %s: no trust check (%s: %.200s)", job_id, type(exc).__name__, exc)
        return {}
    out = {f"trust_{key}": np.asarray(getattr(report, key), np.float32) for key in TRUST_KEYS}
    out["trust_data_high_frequency"] = np.asarray([report.data_high_frequency], np.float32)
    return out


# --------------------------------------------------------------------------- runners


class LocalRunner:
    """Runs jobs on one thread in this process (one job already uses both cores)."""

    name = "local"

    def __init__(
        self,
        store: MemoryStore,
        engine_factory: Callable[[str | None], Any],
        queue: MemoryQueue | None = None,
        reference: Callable[[], np.ndarray | None] | None = None,
    ) -> None:
        self.store = store
        self.queue = queue or MemoryQueue(32, 2)
        self._engine_factory = engine_factory
        self._reference = reference
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oip-job")

    def submit(self, job_id: str, spec: dict[str, Any], cache_key: str, owner: str | None) -> None:
        self._pool.submit(self._run, job_id, spec, cache_key, owner)

    def _run(self, job_id: str, spec: dict[str, Any], cache_key: str, owner: str | None) -> None:
        # the engine is fetched here, on the job thread: a layer's first job builds its engine
        # (seconds on a large model) without holding up the request that queued it
        try:
            engine = self._engine_factory(spec.get("layer"))
        except Exception as exc:  # the job says why on the page (run_job does the same)
            log.exception("job %s: no engine", job_id)
            engine = _FailingEngine(exc)
        run_job(job_id, spec, self.store, engine, cache_key, self.queue, owner, self._reference)

    def shutdown(self) -> None:
        """Cancel queued and running jobs, so that the process can exit at once."""
        self.store.cancel_all()
        self._pool.shutdown(wait=False, cancel_futures=True)


class CeleryRunner:
    """Queues jobs for Celery workers (`app.worker`); progress comes back through Redis."""

    name = "celery"

    def __init__(self, store: RedisStore, model: str, queue: RedisQueue | None = None) -> None:
        self.store = store
        self.queue = queue or RedisQueue(store, 32, 2)
        self._model = model

    def submit(self, job_id: str, spec: dict[str, Any], cache_key: str, owner: str | None) -> None:
        from app.celery_app import RUN_OIP, celery_app  # Celery loads only when it is used

        celery_app.send_task(RUN_OIP, args=[job_id, spec, cache_key, self._model, owner])


class _FailingEngine:
    """Stands in for an engine that could not be built: the job fails with its reason."""

    def __init__(self, exc: Exception) -> None:
        self._exc = exc

    def run(self, *args: Any, **kwargs: Any) -> Any:
        raise self._exc


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

    def submit(self, raw_spec: Any, owner: str | None = None) -> str:
        """Validate, then queue a job (or answer from the cache); returns its signed handle.

        Args:
            raw_spec: the job request (checked by `JobSpec.parse`).
            owner: the client asking (`client_id()`): it may have `jobs_per_client` jobs
                waiting or running at once. None (no web request): no share to keep.

        Raises:
            JobSpecError: a bad request.
            JobRefusedError: the queue is full, or the client has its share already.
            JobsUnavailableError: the job store (Redis) or queue cannot be reached.
        """
        spec = JobSpec.parse(raw_spec, self.description)
        try:
            return self._submit(spec, owner)
        except self._store_errors() as exc:
            raise self._unavailable(exc) from None
        except Exception as exc:
            # Celery's broker errors (kombu) when Redis is down are not Redis errors
            if type(exc).__module__.split(".")[0] in ("kombu", "celery", "redis"):
                raise self._unavailable(exc) from None
            raise

    def _submit(self, job: JobSpec, owner: str | None) -> str:
        job_id = uuid.uuid4().hex
        key, spec = job.cache_key(self._fingerprint), job.to_dict()
        cached = self.store.cache_get(key)
        if cached is not None:
            state, arrays = cached
            answer = {**state, "id": job_id, "owner": owner, "cached": True, "updated": time.time()}
            self.store.put(job_id, answer, arrays)
        else:
            queued = {
                "id": job_id,
                "spec": spec,
                "description": job.describe(),
                "owner": owner,
                "status": "queued",
                "step": 0,
                "steps": job.steps,
                "updated": time.time(),
                "error": None,
            }
            # the record first: another web process's admission drops queue entries whose
            # record it cannot find (a dead worker's)
            self.store.put(job_id, queued)
            try:
                self.runner.queue.admit(job_id, owner, spec)
            except JobRefusedError:
                self.store.delete(job_id)  # never handed out
                raise
            try:
                self.runner.submit(job_id, spec, key, owner)
            except BaseException:
                self.runner.queue.withdraw(job_id)  # its place is not held by a lost job
                raise
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
        try:
            return self._with_place(job_id, state), arrays
        except self._store_errors() as exc:
            raise self._unavailable(exc) from None

    def _with_place(self, job_id: str, state: dict[str, Any]) -> dict[str, Any]:
        """The state with, while it waits, its place in the queue (`place`: jobs ahead,
        `wait_s`: seconds until it starts, estimated); a job silent for `stale_after_s` is
        reported dead (a waiting one: when no runner has shown it is alive for that long)."""
        now, queue = time.time(), self.runner.queue
        last = state.get("updated", now)
        if state["status"] == "queued":
            place = queue.place(job_id)
            if place is not None:
                state = {**state, "place": place.ahead, "wait_s": round(place.wait_s, 1)}
                self.store.touch(job_id)  # watched: it waits on, however long the queue
            last = max(last, queue.pulse())
        if state["status"] in ("running", "queued") and now - last > stale_after_s():
            where = "worker" if self.backend == "celery" else "job thread"
            state = {**state, "status": "error", "error": f"the {where} stopped reporting"}
            if state.get("step", 0) == 0 and self.backend == "celery":
                state["error"] += " (is a Celery worker running?)"
            queue.forget(job_id)  # its place (and its client's share) is free again
        return state

    def cancel(self, handle: Any) -> None:
        """Ask a job to stop: a waiting job leaves the queue at once (its place is free), a
        running one stops at its next progress callback (a few steps)."""
        job_id = self.job_id(handle)
        try:
            self.store.request_cancel(job_id)
            if self.runner.queue.withdraw(job_id):
                found = self.store.get(job_id)
                if found is not None and found[0].get("status") == "queued":
                    now = time.time()
                    cancelled = {**found[0], "status": "cancelled", "updated": now}
                    self.store.put(job_id, cancelled)
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
    reference: Callable[[], np.ndarray | None] | None = None,
) -> JobManager:
    """A manager on Celery + Redis if `REDIS_URL` is set, else on the local thread runner.

    Args:
        secret_key: signs job handles (the Flask secret key; shared by all web processes).
        engine_factory: returns the process's warm `OipEngine` for a job's layer (None: a
            class objective), `engine_for(trained, layer)` (local runner only).
        model: `model_id` of the served model (cache key; workers check they have the same).
        description: the served model's description (job requests are checked against it).
        reference: the real images of the OIPs' trust check (local runner only; a Celery
            worker loads its own).
    """
    settings = app_settings.load_settings()
    cap, share = settings.job_queue, settings.jobs_per_client
    runner: LocalRunner | CeleryRunner
    if settings.redis_url:
        store = RedisStore(settings.redis_url)
        runner = CeleryRunner(store, model, RedisQueue(store, cap, share))
    else:
        runner = LocalRunner(MemoryStore(), engine_factory, MemoryQueue(cap, share), reference)
    return JobManager(secret_key, runner, model, description)


def set_manager(manager: JobManager) -> None:
    global _manager
    with _manager_lock:
        _manager = manager


def get_manager() -> JobManager:
    if _manager is None:
        raise RuntimeError("job manager not configured: create the app with app.main.create_app()")
    return _manager
