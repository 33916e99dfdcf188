"""Load: real gunicorn on 127.0.0.1, N simulated users replaying real callback requests.

Each user keeps one HTTP connection (as a browser tab does) and sends, back to back, what the
explorer, compare and (attribution-style) detail views send: a grid render for a random digit
and layer, the enlarged map of a clicked cell, the digit picker, the compare panels and the
class statistics for a random pair. 20 users for 60 s, then 50 users for 60 s; one JSON line per
stage: users, requests, errors, p50_ms, p95_ms, p99_ms, rps. Goals: 0 errors; p95 <= 300 ms at 20
users, <= 1,000 ms at 50. Loopback only, bounded in time; the load generator shares the
machine's cores with the server (2 here), which the figures include.

    .venv/bin/python bench/load.py                      # 20 users x 60 s, 50 users x 60 s
    .venv/bin/python bench/load.py --stages 5:10        # a quick look
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import threading
import time
from urllib.parse import urlsplit

from _common import emit, percentile

from app.components.digit_picker import EXPLORER_CHOICE
from tests.dash_http import Dependency, callback_body, dependencies, find, layout_values
from tests.gunicorn_server import start_gunicorn

PAGES = ("/activations", "/compare")
EXPLORER_PICKER = "explorer"  # the explorer's digit picker (an all-in-one component)


def _concrete(dep_id: str, aio_id: str) -> dict:
    return {k: (aio_id if v == ["MATCH"] else v) for k, v in json.loads(dep_id).items()}


def _dom_id(concrete: dict) -> str:
    return json.dumps(concrete, sort_keys=True, separators=(",", ":"))


def picker_body(dep: Dependency, aio_id: str, values: dict, changed: str) -> dict:
    """A request to a digit picker's MATCH callback, as the renderer sends it for the picker
    `aio_id`: `values` and `changed` name props as "subcomponent.prop" ("upload.contents")."""

    def items(pairs):
        out = []
        for dep_id, prop in pairs:
            concrete = _concrete(dep_id, aio_id)
            value = values.get(f"{concrete.get('subcomponent')}.{prop}")
            out.append({"id": concrete, "property": prop, "value": value})
        return out

    outputs = []
    for part in dep.output.strip(".").split("..."):
        dep_id, prop = part.rsplit(".", 1)
        outputs.append({"id": _concrete(dep_id, aio_id), "property": prop.split("@")[0]})
    subcomponent, prop = changed.split(".")
    changed_id = next(
        _dom_id(_concrete(dep_id, aio_id))
        for dep_id, p in dep.inputs
        if p == prop and _concrete(dep_id, aio_id).get("subcomponent") == subcomponent
    )
    return {
        "output": dep.output,
        "outputs": outputs,
        "inputs": items(dep.inputs),
        "state": items(dep.state),
        "changedPropIds": [f"{changed_id}.{prop}"],
    }


def first(values: dict, key: tuple[str, str], default=None):
    found = values.get(key) or []
    return found[0] if found else default


class Workload:
    """Builds realistic callback bodies from the server's own dependencies and layouts."""

    def __init__(self, url: str) -> None:
        deps = dependencies(url)
        self.layout = layout_values(url, deps, PAGES)
        self.render = find(deps, "act-grid.figure")
        self.detail = find(deps, "act-detail.figure")
        self.choose = find(deps, '"subcomponent":"choice"}.data')
        self.panels = find(deps, "compare-panel-a.children")
        self.stats = find(deps, "compare-diff.figure")
        self.layers = [v for v in self.layout.get(("act-layer", "value"), []) if v]
        self.classes = [
            v for v in self.layout.get(("compare-class-a", "value"), []) if v is not None
        ]
        self.compare_layers = [v for v in self.layout.get(("compare-layer", "value"), []) if v]

    def explorer_values(self, rnd: random.Random) -> dict:
        return {
            EXPLORER_CHOICE: {"kind": "dataset", "split": "test", "index": rnd.randrange(1000)},
            "act-layer.value": rnd.choice(self.layers),
            "act-cmap.value": rnd.choice(["jet", "viridis", "gray"]),
            "act-scaling.value": "seed",
            "act-range.value": rnd.choice(["layer", "map"]),
            "act-per-row.value": 8,
            "act-input-cmap.value": "gray",
        }

    def compare_values(self, rnd: random.Random) -> dict:
        a, b = rnd.sample(self.classes, 2)
        get = self.layout.get
        return {
            "compare-class-a.value": a,
            "compare-class-b.value": b,
            "compare-n.value": first(self.layout, ("compare-n", "value"), 3),
            "compare-kind-a.value": first(self.layout, ("compare-kind-a", "value"), "clear"),
            "compare-kind-b.value": first(self.layout, ("compare-kind-b", "value"), "clear"),
            "compare-indices-a.value": "",
            "compare-indices-b.value": "",
            "compare-layer.value": rnd.choice(self.compare_layers or [None]),
            "compare-threshold.value": first(self.layout, ("compare-threshold", "value"), 0.1),
            "compare-cmap.value": (get(("compare-cmap", "value")) or ["jet"])[0],
        }

    def next_request(self, rnd: random.Random) -> tuple[str, dict]:
        kind = rnd.choices(["render", "detail", "choose", "panels", "stats"], [4, 2, 1, 2, 1])[0]
        if kind == "render":
            values = self.explorer_values(rnd)
            return kind, callback_body(self.render, values, "act-layer.value")
        if kind == "detail":
            values = self.explorer_values(rnd)
            values["act-selected.data"] = {
                "layer": values["act-layer.value"],
                "cell": rnd.randrange(8),
            }
            return kind, callback_body(self.detail, values, "act-selected.data")
        if kind == "choose":
            values = {
                "split.value": "test",
                "index.value": 0,
                "random.n_clicks": 1,
                "class.value": rnd.randrange(10),
                "choice.data": {"kind": "dataset", "split": "test", "index": 0},
            }
            return kind, picker_body(self.choose, EXPLORER_PICKER, values, "random.n_clicks")
        values = self.compare_values(rnd)
        dep = self.panels if kind == "panels" else self.stats
        return kind, callback_body(dep, values, "compare-class-a.value")


def user(
    url: str,
    work: Workload,
    seed: int,
    stop_at: float,
    think_s: float,
    results: list,
    lock: threading.Lock,
) -> None:
    rnd = random.Random(seed)
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    local: list[tuple[float, bool, str]] = []
    while time.monotonic() < stop_at:
        kind, body = work.next_request(rnd)
        data = json.dumps(body).encode()
        start = time.perf_counter()
        try:
            conn.request(
                "POST", "/_dash-update-component", data, {"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            payload = response.read()
            ok = response.status == 200 and b"Traceback" not in payload
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        local.append(((time.perf_counter() - start) * 1000, ok, kind))
        if think_s > 0:  # a person looks at the answer before the next click
            pause = rnd.uniform(0.5, 1.5) * think_s
            time.sleep(min(pause, max(0.0, stop_at - time.monotonic())))
    conn.close()
    with lock:
        results.extend(local)


def run_stage(url: str, work: Workload, users: int, seconds: float, think_s: float) -> dict:
    results: list[tuple[float, bool, str]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(target=user, args=(url, work, 1000 + i, stop_at, think_s, results, lock))
        for i in range(users)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    times = [ms for ms, _, _ in results]
    kinds = sorted({kind for _, _, kind in results})
    by_kind = {
        kind: round(percentile([ms for ms, _, k in results if k == kind], 95), 1) for kind in kinds
    }
    return {
        "users": users,
        "think_s": think_s,
        "seconds": round(elapsed, 1),
        "requests": len(results),
        "errors": sum(1 for _, ok, _ in results if not ok),
        "p50_ms": round(percentile(times, 50), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "p99_ms": round(percentile(times, 99), 1),
        "rps": round(len(results) / elapsed, 1),
        "p95_ms_by_request": by_kind,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stages", default="20:60,50:60", help="users:seconds,... (default 20:60,50:60)"
    )
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="mean seconds a user waits between requests (0: back to back, saturation)",
    )
    parser.add_argument("--workers", default="1", help="gunicorn workers (more need REDIS_URL)")
    parser.add_argument("--threads", default="8", help="threads per gunicorn worker")
    args = parser.parse_args()
    server = start_gunicorn(
        {
            "CNN_LENS_WORKERS": args.workers,
            "CNN_LENS_THREADS": args.threads,
            "CNN_LENS_LOG_LEVEL": "warning",
        },
        name="bench-load",
    )
    try:
        work = Workload(server.url)
        run_stage(server.url, work, 4, 5, 0.0)  # warm-up: first figures, caches
        for stage in args.stages.split(","):
            users, seconds = (int(x) for x in stage.split(":"))
            emit(
                "load",
                **run_stage(server.url, work, users, seconds, args.think),
                gunicorn_threads=int(args.threads),
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
