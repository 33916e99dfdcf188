"""Activation explorer on a large colour model: one update's time and payload.

The model: the usual transfer-learning build, a nested MobileNetV2 (alpha 0.35) base on 96x96
colour images between Rescaling and GAP (weights untrained: the time and size of an update do
not depend on them), shown with the residual example's shapes upscaled to 96 px. Ours: the
explorer's `draw` callback (the node's activations, the grid of its most active maps
downsampled to the cell budget, picture and probabilities) serialized as Dash sends it. Baseline
in the same run: the same activations drawn whole, every map at full size, the way the seed's
grid draws its 9-layer model (`figures.activation_grid_figure` on all maps).

Goals (the dashboard issue, 2 cores): an update <= 300 KB and p95 <= 250 ms at a 48x48 node and
at the 1,280-map node; the first visit of a node is reported apart (it traces the node once).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
from _common import comparison, emit, time_calls
from plotly.io.json import to_json_plotly

from app import figures
from app.main import create_app
from app.services import Services
from cnn_core import config
from cnn_core.data.sources import load_dataset

GOAL_P95_MS = 250
GOAL_PAYLOAD_KB = 300
SIZE = 96


def build(folder: Path) -> tuple[Path, Path]:
    """The model file (a plain `model.save`) and its data (.npz) in `folder`."""
    data = load_dataset(config.residual_model_path().with_suffix(".npz"))
    scale = SIZE // data.x_train.shape[1]

    def up(x: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(x, scale, axis=1), scale, axis=2)

    npz = folder / "data.npz"
    np.savez(
        npz,
        x_train=up(data.x_train[:300]),
        y_train=data.y_train[:300],
        x_test=up(data.x_test[:200]),
        y_test=data.y_test[:200],
        class_names=np.array(data.class_names),
    )
    base = keras.applications.MobileNetV2(
        input_shape=(SIZE, SIZE, 3), alpha=0.35, include_top=False, weights=None
    )
    inputs = keras.Input((SIZE, SIZE, 3))
    x = base(keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs))
    outputs = keras.layers.Dense(data.num_classes, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(x)
    )
    path = folder / "transfer_mobilenet.keras"
    keras.Model(inputs, outputs, name="transfer_mobilenet").save(path)
    return path, npz


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model, npz = build(Path(tmp))
        services = Services.load(data_source=str(npz), model_path=str(model))
        create_app(services=services)
    from app.digits import dataset_choice
    from app.pages.activations.callbacks import draw

    desc = services.desc
    wide = max(
        (info for info in desc.layers if info.kind == "maps" and info.shape[:2] == (48, 48)),
        key=lambda info: info.units,
    )
    many = max(desc.layers, key=lambda info: info.units if info.kind == "maps" else 0)
    images = itertools.cycle(range(len(services.data.y_test)))
    for info in (wide, many):
        first = time.perf_counter()
        draw(dataset_choice("test", 0), info.name, "viridis", "seed", "layer", 8, "gray")
        first_ms = (time.perf_counter() - first) * 1e3
        sizes: list[int] = []

        def ours(name=info.name, sizes=sizes):
            out = draw(dataset_choice("test", next(images)), name, "viridis", "seed", "layer", 8)
            sizes.append(len(to_json_plotly(list(out.values()))))

        base_sizes: list[int] = []

        def baseline(name=info.name, base_sizes=base_sizes):
            i = next(images)
            values = services.acts.layer(services.x_std["test"][i : i + 1], name)[0]
            fig = figures.activation_grid_figure(values, per_row=8, colormap="viridis")
            base_sizes.append(len(to_json_plotly(fig)))

        mine = time_calls(ours, repeats=60, warmup=5)
        theirs = time_calls(baseline, repeats=10, warmup=1)
        comparison(
            f"explorer_large_update_{info.name.split('/')[-1]}",
            theirs,
            mine,
            node=info.name,
            maps=f"{info.units} of {info.shape[0]}x{info.shape[1]}",
            payload_kb=round(max(sizes) / 1024, 1),
            baseline_payload_kb=round(max(base_sizes) / 1024, 1),
            first_visit_ms=round(first_ms, 1),
            goal_p95_ms=GOAL_P95_MS,
            goal_payload_kb=GOAL_PAYLOAD_KB,
            desc="draw callback (the node only, most active maps, downsampled) + to_json",
            baseline_desc="the same node's activations, every map whole in one grid + to_json",
        )
    emit("explorer_large_model", nodes=len(desc.layers), nested=list(desc.nested))


if __name__ == "__main__":
    main()
