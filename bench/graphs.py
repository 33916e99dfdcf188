"""Graphs and nested models: what one node costs on a big graph, OIPs on deep nodes, and the
OIPs of the trained residual example against tf-keras-vis on the same model.

Figures (JSON lines, each against a baseline measured in the same run):
- `graph_one_node`: one node's activations for one image, from its own traced function,
  against the all-nodes function that computes and copies every node (MobileNetV2 alpha 0.35 at
  96x96x3 and the residual example).
- `graph_oip`: 32 maps x 200 steps of a deep node as one batch (`engine_for(trained, node)`),
  against the seed's way (a sub-model and an eager GradientTape, one map at a time, timed on 2
  maps); the engine's build time apart.
- `graph_oip_quality`: the residual example's last residual stage: maps whose OIP beats the best
  test image.
- `graph_zoo_oip`: per architecture of `tests/zoo.py`, saved as `.keras` and loaded back
  (`safe_mode=True`, described as the model it was): 16 units of a deep node, OIPs that beat
  their random start, the load and engine build times.
- `graph_peer_tf_keras_vis`: tf-keras-vis 0.8.7 on the same residual model rebuilt flat in
  tf-keras (it cannot look inside a nested model), same maps and steps, in a separate venv
  (`CNN_LENS_PEER_PYTHON`, default `/tmp/peer/bin/python`; see `../shared/FACTS.md` for how to
  make it). Skipped with a line saying why when that Python is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from _common import comparison, emit, time_calls

from cnn_core import config
from cnn_core.data.sources import load_dataset
from cnn_core.explain.activations import ActivationModel
from cnn_core.model.trained import TrainedModel, load_trained
from cnn_core.oip import AscentOptions, MapMean, OipEngine, engine_for
from cnn_core.oip.init import starting_images

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.zoo import ZOO, keras_reference

STEPS = 200
MAPS = 32
SEED_WAY_MAPS = 2
PEER_SCRIPT = Path(__file__).with_name("_peer_tf_keras_vis.py")


def mobilenet() -> TrainedModel:
    model = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10
    )
    return TrainedModel(model)


def one_node(name: str, trained: TrainedModel, node: str, images: np.ndarray) -> None:
    acts = ActivationModel(trained)
    counter = iter(range(10**9))

    def image() -> np.ndarray:
        i = next(counter) % len(images)
        return images[i : i + 1]

    acts.activations(image())  # trace both before timing
    acts.layer(image(), node)
    baseline = time_calls(lambda: acts.activations(image()), 60, warmup=3)
    ours = time_calls(lambda: acts.layer(image(), node), 200, warmup=3)
    comparison(
        "graph_one_node",
        baseline,
        ours,
        model=name,
        node=node,
        nodes=len(trained.desc.layers),
        baseline_desc="the all-nodes traced function (every node computed and copied)",
    )


def seed_way_seconds_per_map(trained: TrainedModel, node: str, steps: int) -> float:
    """Eager gradient ascent of one map at a time on Keras's own sub-model of the node."""
    model = trained.model
    info = trained.desc.layer(node)
    times = []
    for unit in range(SEED_WAY_MAPS):
        x = tf.constant(starting_images([unit], "long_range", shape=trained.desc.input_shape))
        start = time.perf_counter()
        for _ in range(steps):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = keras_reference_tensor(model, info.output_layer, x)
                loss = tf.reduce_mean(out[..., unit])
            grads = tape.gradient(loss, x)
            grads /= tf.sqrt(tf.reduce_mean(tf.square(grads))) + 1e-5
            x = x + 0.2 * grads
        times.append(time.perf_counter() - start)
    return float(np.median(times))


_SUBMODELS: dict[tuple[int, str], keras.Model] = {}


def keras_reference_tensor(model: keras.Model, path: str, x: tf.Tensor) -> tf.Tensor:
    """Keras's own value of the layer at `path`, differentiable (sub-models built once)."""
    head, _, rest = path.partition("/")
    key = (id(model), path)
    if not rest:
        if key not in _SUBMODELS:
            _SUBMODELS[key] = _submodel(model, head, output=True)
        return _SUBMODELS[key](x, training=False)
    fed_key = (id(model), head + "/")
    if fed_key not in _SUBMODELS:
        _SUBMODELS[fed_key] = _submodel(model, head, output=False)
    inner = model.get_layer(head)
    return keras_reference_tensor(inner, rest, _SUBMODELS[fed_key](x, training=False))


def _submodel(model: keras.Model, name: str, output: bool) -> keras.Model:
    from tests.zoo import _own_node

    node = _own_node(model, name)
    return keras.Model(model.inputs[0], node.outputs[0] if output else node.input_tensors[0])


def oip_speed(name: str, trained: TrainedModel, node: str) -> tuple[object, float]:
    start = time.perf_counter()
    engine = engine_for(trained, node)
    build_s = time.perf_counter() - start
    objectives = [MapMean(node, u) for u in range(MAPS)]
    runs = []
    result = None
    for _ in range(2):
        start = time.perf_counter()
        result = engine.run(objectives, [0], AscentOptions(steps=STEPS))
        runs.append(time.perf_counter() - start)
    batched_s = min(runs)
    per_map = seed_way_seconds_per_map(trained, node, STEPS)
    emit(
        "graph_oip",
        model=name,
        node=node,
        maps=MAPS,
        steps=STEPS,
        engine_build_s=round(build_s, 2),
        batched_s=round(batched_s, 2),
        baseline_s=round(per_map * MAPS, 2),
        ratio=round(per_map * MAPS / batched_s, 1),
        precision=engine.precision,
        baseline_desc=f"Keras sub-model + eager GradientTape, one map at a time ({SEED_WAY_MAPS} "
        "maps timed, x32)",
    )
    return result, batched_s


def residual_figures() -> None:
    path = config.residual_model_path()
    trained = load_trained(path)
    data = load_dataset(path.with_suffix(".npz"))
    trained.set_pixel_stats(data.x_train)
    node = "residual_base/stage2_add"
    x_test = trained.standardize(data.x_test)
    one_node("residual example", trained, node, x_test[:64])
    result, batched_s = oip_speed("residual example", trained, node)
    best = ActivationModel(trained).layer(x_test, node).mean(axis=(1, 2)).max(axis=0)
    ratio = result.activations / best
    emit(
        "graph_oip_quality",
        model="residual example",
        node=node,
        maps=len(best),
        steps=STEPS,
        beats_best_test_image=round(float((ratio > 1).mean()), 4),
        median_ratio=round(float(np.median(ratio)), 3),
        min_ratio=round(float(ratio.min()), 3),
    )
    # the engine of that node alone (what a model of more than 40 nodes gets from engine_for)
    alone = OipEngine(trained, layers=[node])
    objectives = [MapMean(node, u) for u in range(MAPS)]
    alone_s = min(
        _seconds(lambda: alone.run(objectives, [0], AscentOptions(steps=STEPS))) for _ in range(2)
    )
    peer(trained, data, node, best, batched_s, alone_s)


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peer(
    trained: TrainedModel, data, node: str, best: np.ndarray, ours_s: float, alone_s: float
) -> None:
    python = Path(os.environ.get("CNN_LENS_PEER_PYTHON", "/tmp/peer/bin/python"))
    if not python.exists():
        emit("graph_peer_tf_keras_vis", skipped=f"no peer Python at {python} (FACTS.md: how)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        weights = {
            f"{layer.path}:{k}": w
            for layer in _flat_layers(trained.model)
            for k, w in enumerate(layer.layer.get_weights())
        }
        x_check = data.x_test[:8].astype(np.float32)
        np.savez(Path(tmp) / "weights.npz", **weights)
        np.savez(Path(tmp) / "check.npz", x=x_check, y=np.asarray(trained.model(x_check)))
        layer = trained.desc.layer(node).output_layer.split("/")[-1]
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        done = subprocess.run(
            [str(python), str(PEER_SCRIPT), tmp, layer, str(MAPS), str(STEPS)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            emit("graph_peer_tf_keras_vis", error=done.stderr.strip().splitlines()[-1][:300])
            return
        report = json.loads(done.stdout.strip().splitlines()[-1])
        images = np.load(Path(tmp) / "oips.npz")["images"]
    values = ActivationModel(trained).layer(images, node).mean(axis=(1, 2))
    peer_values = values[np.arange(MAPS), np.arange(MAPS)]
    emit(
        "graph_peer_tf_keras_vis",
        model="residual example (rebuilt flat in tf-keras for the peer)",
        node=node,
        maps=MAPS,
        steps=STEPS,
        peer_s=round(report["seconds"], 2),
        ours_s=round(ours_s, 2),
        ratio=round(report["seconds"] / ours_s, 1),
        ours_one_node_engine_s=round(alone_s, 2),
        ratio_one_node_engine=round(report["seconds"] / alone_s, 1),
        peer_beats_best_test_image=round(float((peer_values > best).mean()), 4),
        peer_max_abs_output_difference=report["output_difference"],
        peer="tf-keras-vis 0.8.7 ActivationMaximization, its defaults (Jitter, Rotate2D, TV, norm)",
    )


def _flat_layers(model: keras.Model):
    from cnn_core.model.graph import layer_graph

    return [op for op in layer_graph(model) if op.is_layer and op.layer.weights]


def zoo_figures() -> None:
    for name, build in ZOO.items():
        model = build()
        with tempfile.TemporaryDirectory() as tmp:  # as a user brings it: a saved file
            model.save(Path(tmp) / f"{name}.keras")
            start = time.perf_counter()
            trained = load_trained(Path(tmp) / f"{name}.keras")
            load_s = time.perf_counter() - start
        assert trained.desc.summary() == TrainedModel(model).desc.summary()
        maps = [i for i in trained.desc.layers if i.is_maps and i.units >= 8]
        info = maps[int(len(maps) * 0.75)]
        node, units = info.name, min(16, info.units)
        start = time.perf_counter()
        engine = engine_for(trained, node)
        build_s = time.perf_counter() - start
        objectives = [MapMean(node, u) for u in range(units)]
        result = engine.run(objectives, [0], AscentOptions(steps=100))
        x = np.random.default_rng(0).uniform(0, 255, (2, *trained.desc.input_shape))
        reference = keras_reference(trained.model, trained.desc.layer(node).output_layer, x)
        ours = ActivationModel(trained).layer(x.astype(np.float32), node)
        emit(
            "graph_zoo_oip",
            model=name,
            node=node,
            nodes=len(trained.desc.layers),
            load_s=round(load_s, 2),
            engine_build_s=round(build_s, 2),
            beats_random_start=int((result.activations > result.initial).sum()),
            of=units,
            steps=100,
            max_rel_difference_to_keras=float(
                np.abs(ours - reference).max() / (np.abs(reference).max() + 1e-6)
            ),
        )


def main() -> None:
    trained = mobilenet()
    x = np.random.default_rng(0).uniform(0, 255, (64, 96, 96, 3)).astype(np.float32)
    maps = trained.desc.map_layers
    one_node("MobileNetV2 alpha 0.35, 96x96x3", trained, maps[len(maps) // 2], x)
    deep = [n for n in maps if trained.desc.layer(n).units >= MAPS]
    oip_speed("MobileNetV2 alpha 0.35, 96x96x3", trained, deep[int(len(deep) * 0.75)])
    residual_figures()
    zoo_figures()


if __name__ == "__main__":
    main()
