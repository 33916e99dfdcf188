"""A class at once: N browser sessions press "Run gallery" within a few seconds.

Starts the real server and replays what each tab of the OIP page sends: Run gallery (the page's
own callback, each session with its own cookie jar and connection), then the page's polls (its
progress and live-frame callbacks, at the interval the server gives) until the job finishes, is
refused or fails. Backends: `local` (gunicorn, one worker, the job thread in it) and `celery`
(a throw-away redis-server, two Celery workers, gunicorn with two workers on Redis). Besides the
N sessions: one browser with three tabs (its third Start is refused: its share), and a few
sessions that cancel while they wait (their places are freed).

One JSON line per backend: sessions, finished, refused (by reason), errors; seconds from the
press to the tab's first live frame (p50, p95) and to its result; the queue positions shown;
the web processes' peak RSS (sum over gunicorn's workers) and its growth.

    .venv/bin/python bench/class_at_once.py                  # 50 sessions, local and celery
    .venv/bin/python bench/class_at_once.py --sessions 10 --backends local --steps 50
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from _common import emit, percentile

from tests.dash_http import callback_body, dependencies, find, oip_controls
from tests.gunicorn_server import Gunicorn, start_gunicorn
from tests.processes import free_port, stop
from tests.redis_fixtures import start_celery_worker, start_redis, wait_until_ready

POLL_DEFAULT_S = 0.5
SESSION_LIMIT_S = 1800  # a tab that has not seen its job end by then counts as an error
GALLERY_POLL_S = 0.5  # the page's first interval for a gallery (then the server's)


class Tab:
    """One browser tab of the OIP page: its own connection; its browser's cookie jar."""

    def __init__(self, url: str, cookies: dict[str, str] | None = None) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.cookies = cookies if cookies is not None else {}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def post(self, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            try:
                self.conn.request("POST", "/_dash-update-component", json.dumps(body), headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt == 2:
                    raise
        for name, value in re.findall(r"(\w+)=([^;,\s]+)", response.getheader("Set-Cookie") or ""):
            if name == "session":
                self.cookies[name] = value
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {payload[:200]!r}")
        return json.loads(payload)["response"]


def text_of(component: object) -> str:
    return json.dumps(component)


def session(
    url: str,
    deps,
    seed: int,
    start_at: float,
    cancel_after_s: float | None,
    steps: int,
    results: list,
    lock: threading.Lock,
) -> None:
    """One student: press Run gallery at `start_at`, watch it to its end (or cancel it after
    `cancel_after_s` of waiting)."""
    track = find(deps, "oip-progress.value")
    live = next(  # draw_live: the frames of the running job, on each poll
        dep for dep in deps
        if ("oip-poll", "n_intervals") in dep.inputs and "oip-frames.children" in dep.output
        and "oip-progress" not in dep.output
    )  # fmt: skip
    tab = Tab(url)
    time.sleep(max(0.0, start_at - time.monotonic()))
    pressed = time.monotonic()
    record: dict = {"seed": seed, "outcome": "error", "places": []}
    try:
        job, status = press_gallery(tab, deps, steps, seed)
        if not job:
            reason = "busy" if "busy" in status else "share" if "most one" in status else status
            record.update(outcome="refused", reason=reason)
            return
        interval = GALLERY_POLL_S
        poll = {"oip-job.data": job, "oip-cmap.value": "gray", "oip-poll.n_intervals": 1}
        record["reason"] = "timed out"  # (unless it ends before SESSION_LIMIT_S)
        while time.monotonic() - pressed < SESSION_LIMIT_S:
            time.sleep(interval)
            shown = tab.post(callback_body(track, poll, "oip-poll.n_intervals"))
            status = text_of(shown.get("oip-status"))
            interval = (shown.get("oip-poll") or {}).get("interval", interval * 1000) / 1000
            if place := re.search(r"waiting, (next in line|(\d+) jobs? ahead)", status):
                record["places"].append(int(place.group(2) or 0))
                if "estimate_s" not in record and (
                    eta := re.search(r"about (\d+) (s|min)", status)
                ):
                    record["estimate_s"] = int(eta.group(1)) * (60 if eta.group(2) == "min" else 1)
                    record["estimated_at"] = time.monotonic() - pressed
            elif "running" in status and "started_s" not in record:
                record["started_s"] = time.monotonic() - pressed
                waited = time.monotonic() - pressed
                if cancel_after_s is not None and waited > cancel_after_s:
                    tab.post(cancel_body(deps, job))
                    cancel_after_s = None
                    record["cancel_sent"] = time.monotonic() - pressed
            frames = tab.post(callback_body(live, poll, "oip-poll.n_intervals"))
            if "first_frame_s" not in record and "oip-gallery-live" in text_of(frames):
                record["first_frame_s"] = time.monotonic() - pressed
            disabled = (shown.get("oip-poll") or {}).get("disabled")
            if "done in" in status:  # (the result is a frame too: the first, if it was quick)
                now = time.monotonic() - pressed
                record.update(outcome="done", result_s=now, cached="cached result" in status)
                record.setdefault("first_frame_s", now)
                return
            if "Cancelled" in status:
                record.update(outcome="cancelled", reason=None)
                return
            if "failed" in status or disabled is True:
                record.update(outcome="error", reason=status[:200])
                return
    except Exception as exc:  # a bench reports every failure as an error
        record.update(outcome="error", reason=f"{type(exc).__name__}: {exc}"[:200])
    finally:
        tab.conn.close()
        with lock:
            results.append(record)


def cancel_body(deps, job: dict) -> dict:
    """The Cancel button's request for the tab's `job`."""
    cancel = next(dep for dep in deps if ("oip-cancel", "n_clicks") in dep.inputs)
    return callback_body(cancel, {"oip-cancel.n_clicks": 1, "oip-job.data": job},
                         "oip-cancel.n_clicks")  # fmt: skip


def press_gallery(tab: Tab, deps, steps: int, seed: int) -> tuple[dict | None, str]:
    """Run gallery in `tab`: the job store (None if refused) and the status shown."""
    values = oip_controls(gallery_layer="Conv2D_3", gallery_steps=steps, seed=seed)
    answer = tab.post(callback_body(find(deps, "oip-job.data"), values,
                                    "oip-gallery-start.n_clicks"))  # fmt: skip
    return (answer.get("oip-job") or {}).get("data"), text_of(answer.get("oip-status"))


def run_to_end(tab: Tab, deps, job: dict, timeout: float = 300) -> str:
    """Poll the tab's job as the page does until it ends; its last status."""
    track = find(deps, "oip-progress.value")
    poll = {"oip-job.data": job, "oip-cmap.value": "gray", "oip-poll.n_intervals": 1}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = tab.post(callback_body(track, poll, "oip-poll.n_intervals"))
        if (shown.get("oip-poll") or {}).get("disabled") is True:
            return text_of(shown.get("oip-status"))
        time.sleep(POLL_DEFAULT_S)
    return "timed out"


def share_check(url: str, deps, steps: int) -> list[str]:
    """One browser, three tabs pressing Run gallery: what each tab is told (its jobs are then
    cancelled, which frees their places)."""
    jar: dict[str, str] = {}
    told, started = [], []
    for seed in (900, 901, 902):
        tab = Tab(url, jar)
        job, status = press_gallery(tab, deps, steps, seed)
        told.append("started" if job else "refused: " + re.sub(r"[^\w ,.:']", "", status)[:90])
        if job:
            started.append((tab, job))
    for tab, job in started:
        tab.post(cancel_body(deps, job))
        run_to_end(tab, deps, job)
        tab.conn.close()
    return told


def rss_mb(server: Gunicorn) -> float:
    """The gunicorn workers' resident memory, summed (MB)."""
    pid = server.proc.pid
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    total = 0
    for child in children:
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(found.group(1)) if found else 0
    return total / 1024


def run_class(server: Gunicorn, args, backend: str) -> dict:
    deps = dependencies(server.url)
    warm = Tab(server.url)  # one gallery first: the engine traced, the estimate learned
    job, _ = press_gallery(warm, deps, args.steps, 10_000)
    alone = run_to_end(warm, deps, job)
    assert "done in" in alone, f"the warm-up gallery failed: {alone}"
    alone_s = float(re.search(r"done in ([0-9.]+) s", alone).group(1))
    share = share_check(server.url, deps, args.steps)  # (before the class: the queue is empty)
    rss_start = rss_mb(server)
    peak = [rss_start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            peak[0] = max(peak[0], rss_mb(server))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results: list = []
    lock = threading.Lock()
    rnd = random.Random(7)
    t0 = time.monotonic() + 1.0
    threads = []
    cancellers = set(rnd.sample(range(args.sessions), min(args.cancel, args.sessions)))
    for i in range(args.sessions):
        at = t0 + rnd.uniform(0, args.spread)
        seed = i if args.seeds == "distinct" else 0
        cancel = 3.0 if i in cancellers else None
        threads.append(threading.Thread(
            target=session,
            args=(server.url, deps, seed, at, cancel, args.steps, results, lock),
        ))  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    sampler.join()
    outcomes: dict[str, int] = {}
    refused: dict[str, int] = {}
    for record in results:
        outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
        if record["outcome"] == "refused":
            refused[record.get("reason", "?")] = refused.get(record.get("reason", "?"), 0) + 1
    first = [r["first_frame_s"] for r in results if "first_frame_s" in r]
    result = [r["result_s"] for r in results if r["outcome"] == "done"]
    errors = [r.get("reason") for r in results if r["outcome"] == "error"]
    places = [max(r["places"]) for r in results if r["places"]]
    # how the first estimate a waiting tab showed compares with when its job did start
    ratios = [(r["started_s"] - r["estimated_at"]) / r["estimate_s"] for r in results
              if "started_s" in r and r.get("estimate_s")]  # fmt: skip
    return {
        "backend": backend,
        "sessions": args.sessions,
        "spread_s": args.spread,
        "gallery": f"Conv2D_3 x {args.steps} steps",
        "one_gallery_alone_s": alone_s,
        "seeds": args.seeds,
        "queue_cap": args.queue,
        "finished": outcomes.get("done", 0),
        "finished_from_cache": sum(1 for r in results if r.get("cached")),
        "refused": refused,
        "cancelled": outcomes.get("cancelled", 0),
        "errors": len(errors),
        "error_reasons": errors[:3],
        "first_frame_p50_s": round(percentile(first, 50), 2) if first else None,
        "first_frame_p95_s": round(percentile(first, 95), 2) if first else None,
        "result_p50_s": round(percentile(result, 50), 2) if result else None,
        "result_p95_s": round(percentile(result, 95), 2) if result else None,
        "sessions_shown_a_place": len(places),
        "largest_place_shown": max(places) if places else None,
        "start_vs_estimate_p50": round(percentile(ratios, 50), 2) if ratios else None,
        "start_vs_estimate_p95": round(percentile(ratios, 95), 2) if ratios else None,
        "one_browser_three_tabs": share,
        "web_rss_start_mb": round(rss_start, 1),
        "web_rss_peak_mb": round(peak[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--spread", type=float, default=5.0, help="seconds over which they press")
    parser.add_argument("--steps", type=int, default=200, help="gallery steps (page default 200)")
    parser.add_argument(
        "--seeds", choices=("distinct", "same"), default="distinct",
        help="each session its own random seed, or all on the page's defaults",
    )  # fmt: skip
    parser.add_argument("--cancel", type=int, default=5, help="sessions that cancel while waiting")
    parser.add_argument("--queue", type=int, default=32, help="CNN_LENS_JOB_QUEUE")
    parser.add_argument("--backends", default="local,celery")
    args = parser.parse_args()
    env = {"CNN_LENS_LOG_LEVEL": "warning", "CNN_LENS_JOB_QUEUE": str(args.queue)}
    for backend in args.backends.split(","):
        if backend == "local":
            server = start_gunicorn({**env, "CNN_LENS_WORKERS": "1"}, name="bench-class-local")
            try:
                emit("class_at_once", **run_class(server, args, backend))
            finally:
                server.stop()
            continue
        port = free_port()
        redis = start_redis(port, Path(tempfile.mkdtemp(prefix="bench-redis-")))
        url = f"redis://127.0.0.1:{port}/0"
        workers = [start_celery_worker(url, f"bench{i}", wait=False) for i in (1, 2)]
        server = None
        try:
            for proc, log in workers:
                wait_until_ready(proc, log)
            server = start_gunicorn(
                {**env, "REDIS_URL": url, "CNN_LENS_WORKERS": "2",
                 "CNN_LENS_SECRET_KEY": "bench-secret"},
                name="bench-class-celery",
            )  # fmt: skip
            emit("class_at_once", **run_class(server, args, backend), celery_workers=2)
        finally:
            if server is not None:
                server.stop()
            stop(*(proc for proc, _ in workers))
            stop(redis)


if __name__ == "__main__":
    main()
