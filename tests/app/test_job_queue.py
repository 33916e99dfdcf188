"""A class at once: the OIP queue is bounded, shared fairly, says where a job stands, and a
cancel frees a place (local runner with the real engine; the Redis queue on a real Redis)."""

from __future__ import annotations

import importlib
import json
import time

import pytest

from app import jobs, main
from tests.app.dash_requests import call
from tests.dash_http import oip_controls

#: A job that keeps the one job thread busy while it sleeps most of the time (watched: 50
#: steps a second), so that the jobs behind it wait.
BLOCKER = {"kind": "class", "a": 3, "steps": 2000, "pace": 50}


def wait_for(manager, handle, *statuses, timeout=60.0):
    deadline = time.monotonic() + timeout
    while (state := manager.status(handle)[0])["status"] not in statuses:
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    return state


@pytest.fixture
def local(services, request):
    """A local runner whose queue holds 2 waiting jobs (or the test's `indirect` parameter),
    2 per client."""
    queue = jobs.MemoryQueue(getattr(request, "param", 2), 2)
    runner = jobs.LocalRunner(jobs.MemoryStore(), services.oip_engine, queue)
    manager = jobs.JobManager("s", runner, jobs.model_id(services.trained.meta), services.desc)
    yield manager
    manager.shutdown()


def test_waiting_jobs_know_their_place_and_a_full_queue_says_busy(local):
    running = local.submit({**BLOCKER, "seed": 1})
    wait_for(local, running, "running")
    first = local.submit({"kind": "class", "a": 1, "steps": 20, "seed": 2})
    second = local.submit({"kind": "class", "a": 1, "steps": 20, "seed": 3})
    places = [local.status(handle)[0] for handle in (first, second)]
    assert [state["place"] for state in places] == [0, 1]
    assert 0 < places[0]["wait_s"] < places[1]["wait_s"]  # the blocker's ~40 s, then one more
    with pytest.raises(jobs.QueueFullError, match="busy: 2 OIP jobs are waiting"):
        local.submit({"kind": "class", "a": 1, "steps": 20, "seed": 4})
    local.cancel(first)  # a waiting job leaves at once: its place is free
    assert local.status(first)[0]["status"] == "cancelled"
    assert local.status(second)[0]["place"] == 0
    third = local.submit({"kind": "class", "a": 1, "steps": 20, "seed": 5})
    local.cancel(running)
    assert wait_for(local, third, *jobs.TERMINAL)["status"] == "done"
    assert wait_for(local, second, *jobs.TERMINAL)["status"] == "done"
    state, arrays = local.status(first)
    assert state["status"] == "cancelled" and state["step"] == 0 and not arrays  # never ran


@pytest.mark.parametrize("local", [8], indirect=True)
def test_one_client_cannot_queue_more_than_its_share(local):
    running = local.submit({**BLOCKER, "seed": 6}, owner="a" * 32)
    wait_for(local, running, "running")
    local.submit({"kind": "class", "a": 2, "steps": 20, "seed": 7}, owner="a" * 32)
    with pytest.raises(jobs.ClientShareError, match="already have 2 OIP jobs"):
        local.submit({"kind": "class", "a": 2, "steps": 20, "seed": 8}, owner="a" * 32)
    other = local.submit({"kind": "class", "a": 2, "steps": 20, "seed": 9}, owner="b" * 32)
    local.cancel(running)  # stopping: it no longer counts, a new Start of the tab is taken
    local.submit({"kind": "class", "a": 2, "steps": 20, "seed": 10}, owner="a" * 32)
    assert wait_for(local, other, *jobs.TERMINAL)["status"] == "done"


@pytest.mark.parametrize("local", [8], indirect=True)
def test_the_same_job_queued_twice_is_computed_once(local):
    running = local.submit({**BLOCKER, "seed": 11})
    wait_for(local, running, "running")
    same = {"kind": "node", "layer": "Dense_1", "unit": 3, "steps": 20, "seed": 12}
    first, second = local.submit(same), local.submit({**same, "pace": 0.0})
    local.cancel(running)
    assert not wait_for(local, first, *jobs.TERMINAL).get("cached")
    assert wait_for(local, second, *jobs.TERMINAL).get("cached") is True  # answered when it began


def test_the_estimate_follows_the_pace_and_learns_from_finished_jobs():
    spec = {"kind": "gallery", "layer": "Conv2D_3", "steps": 200, "pace": 0}
    assert jobs.estimate_s(spec, {}) == pytest.approx(200 * jobs.DEFAULT_STEP_S["gallery"])
    assert jobs.estimate_s({**spec, "kind": "map", "pace": 40}, {}) == 5.0  # watched: 200 / 40
    learned: dict[str, float] = {}
    jobs._learn(learned, spec, 2.0)
    jobs._learn(learned, {**spec, "pace": 40}, 50.0)  # a watched run says nothing of the CPU
    assert jobs.estimate_s(spec, learned) == pytest.approx(2.0)


def test_a_single_run_of_many_images_is_estimated_and_learned_apart_from_a_few():
    few = {"kind": "map", "layer": "conv3", "unit": 0, "steps": 200, "n_seeds": 3}
    many = {**few, "n_seeds": 8, "images_per_unit": 16}  # 128 images, as a gallery of 128 maps
    assert jobs.estimate_s(few, {}) == pytest.approx(200 * jobs.DEFAULT_STEP_S["single"])
    assert jobs.estimate_s(many, {}) == pytest.approx(200 * jobs.DEFAULT_STEP_S["gallery"])
    learned: dict[str, float] = {}
    jobs._learn(learned, many, 8.0)
    assert jobs.estimate_s(many, learned) == pytest.approx(8.0)
    assert jobs.estimate_s(few, learned) == jobs.estimate_s(few, {})  # not learned from many


def test_finished_jobs_kept_in_memory_are_bounded():
    store = jobs.MemoryStore(max_finished=3)
    for n in range(6):
        store.put(f"done{n}", {"status": "done", "updated": time.time() + n})
    store.put("running", {"status": "running", "updated": time.time()})
    assert [store.get(f"done{n}") is not None for n in range(6)] == [False] * 3 + [True] * 3
    assert store.get("running") is not None


def test_a_browser_is_one_client_by_its_session_cookie(services):
    app = main.create_app()
    app.server.test_client().get("/_dash-layout")  # the first request registers the callbacks
    manager = jobs.get_manager()
    manager.runner.queue.share = 1  # one job per browser, for this test
    start = "oip-job.data"
    values = oip_controls(kind="class", steps=2000, pace=["watch"], seed=40)
    tab = app.server.test_client()  # keeps its cookies, as a browser does
    status, body = call(app, tab, start, values, "oip-start.n_clicks")
    assert status == 200 and "Started" in str(body["response"]["oip-status"]), body
    first = body["response"]["oip-job"]["data"]
    again = call(app, tab, start, {**values, "oip-seed.value": 41}, "oip-start.n_clicks")[1]
    assert "the most one browser may have" in str(again["response"]["oip-status"])
    other = app.server.test_client()  # another browser
    status, body = call(app, other, start, {**values, "oip-seed.value": 42}, "oip-start.n_clicks")
    assert "Started" in str(body["response"]["oip-status"]), body
    second = body["response"]["oip-job"]["data"]
    tracked = importlib.import_module("app.pages.oip.callbacks").track(1, second)
    assert "waiting, next in line" in tracked["status"]
    assert 1000 <= tracked["interval"] <= 5000  # a tenth of its wait: it polls less meanwhile
    for job in (first, second):
        manager.cancel(job["handle"])
    assert wait_for(manager, first["handle"], *jobs.TERMINAL)["status"] == "cancelled"
    assert wait_for(manager, second["handle"], *jobs.TERMINAL)["status"] == "cancelled"


# ---- the same queue in Redis, shared by web processes and workers ------------------------------


def fresh_queue(store: jobs.RedisStore, cap: int, share: int) -> jobs.RedisQueue:
    """The Redis queue of this test process's Redis, emptied of other tests' jobs."""
    store._redis.delete(jobs.RedisQueue.PREFIX + "waiting", jobs.RedisQueue.PREFIX + "entries")
    return jobs.RedisQueue(store, cap, share)


@pytest.mark.redis
def test_the_redis_queue_keeps_order_cap_shares_and_frees_a_cancelled_place(redis_url, services):
    store = jobs.RedisStore(redis_url)
    queue = fresh_queue(store, cap=3, share=1)
    spec = {"kind": "gallery", "layer": "Conv2D_3", "steps": 200, "pace": 0}
    for job_id, owner in (("j1", "a"), ("j2", "b"), ("j3", "c")):
        store.put(job_id, {"status": "queued", "updated": time.time()})
        if job_id == "j3":
            with pytest.raises(jobs.ClientShareError):
                queue.admit(job_id, "a", spec)
        queue.admit(job_id, owner, spec)
    with pytest.raises(jobs.QueueFullError, match="busy: 3 OIP jobs"):
        queue.admit("j9", "d", spec)
    assert queue.place("j2").ahead == 1 and queue.place("j2").wait_s > queue.place("j1").wait_s
    assert queue.withdraw("j1") and queue.place("j2").ahead == 0
    assert not queue.start("j1")  # a worker reaching a cancelled job skips it
    assert queue.start("j2") and queue.place("j2") is None  # running: no longer waiting
    store.put("j2", {"status": "done", "updated": time.time()})  # its worker died saying so
    queue.admit("j4", "b", spec)  # b's share is free again: the entry of a job over is pruned


@pytest.mark.redis
def test_a_job_cancelled_while_it_waited_is_never_run_by_a_worker(redis_url, services):
    store = jobs.RedisStore(redis_url)
    queue = fresh_queue(store, cap=8, share=8)
    spec = jobs.parse_spec({"kind": "class", "a": 1, "steps": 5}, services.desc)
    store.put("w1", {"status": "cancelled", "spec": spec, "updated": time.time()})
    queue.admit("w1", None, spec)
    queue.withdraw("w1")
    jobs.run_job("w1", spec, store, services.oip_engine(), None, queue)
    assert store.get("w1")[0]["status"] == "cancelled"
    queue.admit("w2", None, spec)
    jobs.run_job("w2", spec, store, services.oip_engine(), None, queue)
    assert store.get("w2")[0]["status"] == "done" and queue.place("w2") is None


@pytest.mark.redis
def test_a_waiting_job_that_a_tab_watches_outlives_the_records_ttl(redis_url, services):
    store = jobs.RedisStore(redis_url)
    runner = jobs.CeleryRunner(store, "m", fresh_queue(store, cap=8, share=8))
    manager = jobs.JobManager("s", runner, "m", services.desc)
    spec = jobs.parse_spec({"kind": "class", "a": 1, "steps": 5}, services.desc)
    store.put("t1", {"status": "queued", "spec": spec, "updated": time.time()})
    runner.queue.admit("t1", None, spec)
    store._redis.expire(store._key("job", "t1"), 5)  # about to be forgotten
    assert manager.status(manager.sign("t1"))[0]["place"] == 0
    assert store._redis.ttl(store._key("job", "t1")) > jobs.JOB_TTL_S - 60
    runner.queue.withdraw("t1")


@pytest.mark.redis
def test_a_job_is_on_record_before_its_admission_and_a_refused_one_is_not(redis_url, services):
    store = jobs.RedisStore(redis_url)
    queue = fresh_queue(store, cap=1, share=8)
    seen = []
    admit = queue.admit

    def admit_and_look(job_id, owner, spec):
        # another web process's admission now would drop an entry without a record
        seen.append(store.get(job_id) is not None)
        admit(job_id, owner, spec)

    queue.admit = admit_and_look
    runner = jobs.CeleryRunner(store, "m", queue)
    runner.submit = lambda *args: None  # no Celery here: the job only waits
    manager = jobs.JobManager("s", runner, "m", services.desc)
    manager.submit({"kind": "class", "a": 1, "steps": 5, "seed": 1})
    with pytest.raises(jobs.QueueFullError):
        manager.submit({"kind": "class", "a": 1, "steps": 5, "seed": 2})
    assert seen == [True, True]
    waiting = [k for k in store._redis.scan_iter(store._key("job", "*"))
               if json.loads(store._redis.get(k)).get("spec", {}).get("seed") == 2]  # fmt: skip
    assert waiting == []  # the refused job left no record
