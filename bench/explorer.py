"""Activation explorer: the server side of one update (new digit, new layer), time and payload.

Ours: the page's `render` callback called directly (activations of all layers, the one-mosaic
grid figure, digit and probability figures), then the whole update serialized with
`plotly.io.to_json`, as Dash does before sending it. Baseline, in the same run: the same
activations drawn the way a direct translation of the seed's per-map `imshow` loop would,
one heatmap subplot per map with `make_subplots`, serialized the same way.
Goals (issue #3, 2 cores): p95 <= 150 ms and payload <= 400 KB per update. Measured on the seed
model: the layer names below are its own.
"""

from __future__ import annotations

import itertools

import plotly.graph_objects as go
import plotly.io as pio
from _common import comparison, emit, time_calls
from plotly.io.json import to_json_plotly
from plotly.subplots import make_subplots

from app.main import create_app
from cnn_core import imaging

GOAL_P95_MS = 150
GOAL_PAYLOAD_KB = 400


def naive_grid(values, per_row: int = 8) -> go.Figure:
    """One subplot per map, seed-scaled, jet: the seed's loop translated to Plotly."""
    n = values.shape[2]
    rows = -(-n // per_row)
    fig = make_subplots(rows=rows, cols=per_row, horizontal_spacing=0.004, vertical_spacing=0.004)
    for k in range(n):
        fig.add_trace(
            go.Heatmap(
                z=imaging.seed_scale(values[:, :, k]),
                colorscale="Jet",
                zmin=0,
                zmax=255,
                showscale=False,
                hovertemplate=f"map {k}: row %{{y}}, col %{{x}}, %{{z}}<extra></extra>",
            ),
            row=k // per_row + 1,
            col=k % per_row + 1,
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_layout(height=120 * rows, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def main() -> None:
    create_app()  # loads data and model once, registers the page
    from app.digits import dataset_choice as dataset_source
    from app.pages.activations.callbacks import draw as render
    from app.services import get_services

    services = get_services()
    digits = itertools.cycle(range(200))

    for layer in ("Conv2D_1", "Conv2D_3"):
        sizes: list[int] = []
        grid_sizes: list[int] = []

        def ours_new_digit(layer=layer, sizes=sizes):
            out = render(
                dataset_source("test", next(digits)), layer, "jet", "seed", "layer", 8, "gray"
            )
            sizes.append(len(to_json_plotly(list(out.values()))))  # the whole update, as sent

        base_sizes: list[int] = []

        def baseline_new_digit(layer=layer, base_sizes=base_sizes):
            i = next(digits)
            values = services.acts.activations(services.x_std["test"][i : i + 1])[layer][0]
            base_sizes.append(len(pio.to_json(naive_grid(values), validate=False)))

        ours = time_calls(ours_new_digit, repeats=100, warmup=30)
        for i in range(20):  # the grid figure alone, outside the timing
            out = render(dataset_source("test", i), layer, "jet", "seed", "layer", 8, "gray")
            grid_sizes.append(len(pio.to_json(out["grid"], validate=False)))
        baseline = time_calls(baseline_new_digit, repeats=8 if layer == "Conv2D_1" else 4)
        comparison(
            f"explorer_update_new_digit_{layer}",
            baseline,
            ours,
            payload_kb=round(max(sizes) / 1024, 1),
            grid_payload_kb=round(max(grid_sizes) / 1024, 1),
            baseline_payload_kb=round(max(base_sizes) / 1024, 1),
            goal_p95_ms=GOAL_P95_MS,
            goal_payload_kb=GOAL_PAYLOAD_KB,
            desc="render callback (activations + one-mosaic grid + digit + bars) + to_json",
            baseline_desc="same activations, one heatmap subplot per map (make_subplots) + to_json",
        )

    # a new layer for the same digit, cycling through every layer
    layers = itertools.cycle(("Conv2D_1", "Max_Pool_1", "Conv2D_2", "Conv2D_3", "Dense_1"))
    layer_sizes: list[int] = []

    def ours_new_layer():
        out = render(dataset_source("test", 312), next(layers), "viridis", "raw", "map", 8, "gray")
        layer_sizes.append(len(to_json_plotly(list(out.values()))))

    ms = time_calls(ours_new_layer, repeats=100, warmup=5)
    ordered = sorted(ms)
    emit(
        "explorer_update_new_layer_mixed",
        p50_ms=round(ordered[len(ordered) // 2], 3),
        p95_ms=round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        payload_kb_max=round(max(layer_sizes) / 1024, 1),
        n=len(ms),
        desc="render for Conv2D_1, Max_Pool_1, Conv2D_2, Conv2D_3, Dense_1 in turn (raw, per map)",
    )

    values = services.acts.activations(services.x_std["test"][312:313])["Conv2D_1"][0]
    png_ms = time_calls(lambda: imaging.grid_png(values), repeats=30, warmup=2)
    emit(
        "explorer_grid_png_Conv2D_1",
        p50_ms=round(sorted(png_ms)[15], 2),
        png_kb=round(len(imaging.grid_png(values)) / 1024, 1),
        desc="server-side PNG download of the 32-map grid (Pillow)",
    )


if __name__ == "__main__":
    main()
