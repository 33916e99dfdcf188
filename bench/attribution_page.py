"""Attribution page: one page update as Dash serves it, time and payload.

Each update is a real `/_dash-update-component` request through the Flask test client of the
real app (Dash's dispatch, the page's `update` callback: the view parsed and checked, all five
methods and their deletion curves through `app.attributions`, the figure, the table, the JSON
answer). Workloads: a new digit every time (nothing cached), a new contrast class for the same
digit, new IG steps (the page's cache of maps emptied before each of these), and a new
colormap / opacity (the maps come from the page's cache, only the drawing is redone).
Goal (issue #11, 2 cores): p95 <= 250 ms per update.

`python bench/attribution_page.py [--model models/shapes.keras]` (default: the seed model).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os

from _common import emit, percentile, time_calls

GOAL_P95_MS = 250


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="a .keras model (default: the seed)")
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args()
    if args.model:
        os.environ["CNN_LENS_MODEL"] = args.model

    from app import ids
    from app.attributions import clear_cache
    from app.components.digit_picker import choice_key
    from app.main import create_app
    from app.services import get_services
    from tests.app.dash_requests import post_callback

    app = create_app()
    client = app.server.test_client()
    client.get("/_dash-layout")  # the first request hands the pages' callbacks to the app
    desc = get_services().desc
    n_classes = desc.num_classes
    controls = {
        ids.ATTR_TARGET: None,
        ids.ATTR_CONTRAST: None,
        ids.ATTR_CMAP: "jet",
        ids.ATTR_OPACITY: 0.5,
        ids.ATTR_BACKGROUND: "image",
        ids.ATTR_STEPS: 32,
        ids.ATTR_BASELINE: "black",
        ids.ATTR_SAMPLES: 16,
        ids.ATTR_NOISE: 0.15,
        ids.ATTR_LAYER: desc.last_map_layer,
        ids.ATTR_WINDOW: 4,
        ids.ATTR_STRIDE: 2,
    }
    sizes: list[int] = []

    def request(index: int, cached: bool = False, **changes) -> None:
        if not cached:
            clear_cache()  # every method runs again, as for a digit never seen
        values = {f"{k}.value": v for k, v in {**controls, **changes}.items()}
        values[choice_key(ids.ATTR_PICKER)] = {"kind": "dataset", "split": "test", "index": index}
        response = post_callback(client, app, f"{ids.ATTR_FIGURE}.figure", values)
        assert response.status_code == 200, response.data[:300]
        body = json.loads(response.data)["response"]
        assert ids.ATTR_FIGURE in body, body  # the maps were drawn, not a message
        sizes.append(len(response.data))

    digits = itertools.count(0)
    contrasts = itertools.cycle(range(1, n_classes))
    steps = itertools.cycle((16, 24, 32, 48, 64))
    styles = itertools.cycle(
        [(cmap, opacity) for cmap in ("jet", "viridis", "magma") for opacity in (0.3, 0.6)]
    )
    workloads = {
        "new_digit": lambda: request(next(digits)),
        "new_contrast": lambda: request(
            500, **{ids.ATTR_TARGET: 0, ids.ATTR_CONTRAST: next(contrasts)}
        ),
        "new_ig_steps": lambda: request(next(digits), **{ids.ATTR_STEPS: next(steps)}),
        "new_colormap_or_opacity": lambda: request(
            7,
            cached=True,
            **dict(zip((ids.ATTR_CMAP, ids.ATTR_OPACITY), next(styles), strict=True)),
        ),
    }
    request(0)  # traces the five methods (about 3 s, once per process)
    for name, work in workloads.items():
        sizes.clear()
        ms = time_calls(work, repeats=args.repeats, warmup=3)
        emit(
            f"attribution_page_update_{name}",
            model=desc.name,
            p50_ms=round(percentile(ms, 50), 2),
            p95_ms=round(percentile(ms, 95), 2),
            max_ms=round(max(ms), 2),
            payload_kb=round(max(sizes) / 1024, 1),
            n=len(ms),
            goal_p95_ms=GOAL_P95_MS,
            load_avg_1min=round(os.getloadavg()[0], 2),
            desc="POST /_dash-update-component of the page's update callback (Flask test "
            "client): view checked, five methods + deletion curves, figure, table, JSON",
        )


if __name__ == "__main__":
    main()
