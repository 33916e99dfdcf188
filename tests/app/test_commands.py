"""The `cnn-lens` command (`app.commands`), run as a real process: sub-command help, --version,
describe on saved models, serve / train / oip for real, and usage errors in one line (exit 2)
said before TensorFlow is imported."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from tests.processes import free_port, stop

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def cnn_lens(*args: str, timeout: float = 180, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`cnn-lens ARGS` (the entry point's own function, through this interpreter)."""
    return subprocess.run(
        [sys.executable, "-m", "app.commands", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def test_help_lists_every_sub_command():
    done = cnn_lens("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: cnn-lens")
    for command in ("serve", "train", "oip", "describe"):
        assert re.search(rf"^\s+{command}\s+\S", done.stdout, re.M), done.stdout


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("serve", "--checkpoints"),
        ("train", "--example"),
        ("oip", "--layer"),
        ("describe", "--json"),
    ],
)
def test_each_sub_command_has_its_own_help(command, option):
    done = cnn_lens(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: cnn-lens {command}") and option in done.stdout


def test_version_is_the_packages():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = cnn_lens("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"cnn-lens {version}")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["bogus"], "cnn-lens: error: argument COMMAND: invalid choice: 'bogus'"),
        ([], "cnn-lens: error: the following arguments are required: COMMAND"),
        (["serve", "--port", "x"], "cnn-lens serve: error: argument --port: 'x' is not a port"),
        (["serve", "--port", "70000"], "70000 is outside 1-65535"),
        (["serve", "a.keras", "--model", "b.keras"], "give the model once"),
        (["describe", "/no/such/model.keras"], "cnn-lens describe: error: no model file"),
        (["describe", "a", "b"], "cnn-lens: error: unrecognized arguments: b"),
        (["train", "--epochs", "x"], "cnn-lens train: error: argument --epochs: invalid int"),
        (["oip", "--units", "0-2"], "cnn-lens oip: error: the following arguments are required"),
        (["oip", "/no/such.keras", "--layer", "c", "--out", "o"], "no model file /no/such.keras"),
    ],
)
def test_a_usage_error_is_one_line_with_status_2_before_tensorflow_is_imported(args, said):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "app.commands", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    imported = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    lines = [line for line in done.stderr.splitlines() if line not in imported]
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1 and said in lines[0], lines
    assert not [line for line in imported if re.search(r"\| +(tensorflow|keras|dash)$", line)]


def test_describe_json_is_the_saved_models_description(trained):
    from cnn_core import config

    done = cnn_lens("describe", str(config.default_model_path()), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    described = json.loads(done.stdout)
    desc = trained.desc
    assert [row["layer"] for row in described["layers"]] == list(desc.names)
    assert described["parameters"] == desc.parameters == trained.model.count_params()
    assert described["input_shape"] == [28, 28, 1] and described["classes"] == list("0123456789")
    assert described["layers"][-1]["kind"] == "logits"
    assert [row["inputs"] for row in described["layers"]][:2] == [["<input>"], ["Conv2D_1"]]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A plain `model.save()` file, no sidecar: a Functional model with a residual merge."""
    import keras

    inputs = keras.Input((20, 20, 3))
    stem = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="stem")(inputs)
    branch = keras.layers.Conv2D(6, 3, padding="same", name="branch")(stem)
    merged = keras.layers.Add(name="merge")([stem, branch])
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(merged)
    outputs = keras.layers.Dense(4, activation="softmax", name="scores")(pooled)
    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    keras.Model(inputs, outputs, name="tiny_residual").save(path)
    return path


def test_describe_prints_a_table_of_a_plain_saved_model(tiny_model, tmp_path):
    done = cnn_lens("describe", str(tiny_model), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("model tiny_residual: input 20x20x3, 4 classes (0, 1, 2, 3)")
    header = next(line for line in lines if line.startswith("layer"))
    assert header.split() == ["layer", "type", "kind", "output", "units", "activation",
                              "params", "reads", "from"]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[lines.index(header) + 2 :] if line}
    assert list(rows) == ["stem", "branch", "merge", "gap", "scores"]
    assert rows["merge"].split()[1:4] == ["Add", "maps", "20x20x6"]
    assert rows["merge"].endswith("stem, branch")


@pytest.mark.slow
def test_serve_model_answers_readyz_and_serves_the_explorer(trained):
    from cnn_core import config

    port = free_port()
    model = str(config.default_model_path())
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.commands", "serve", model, "--port", str(port)],
        cwd=ROOT,
        env={**ENV, "CNN_LENS_SECRET_KEY": "test-secret"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=5) as ready:
                    assert json.load(ready)["status"] == "ready"
                    break
            except OSError:
                assert time.monotonic() < deadline, "no /readyz 200 within 120 s"
                time.sleep(0.5)
        with urllib.request.urlopen(url + "/activations", timeout=30) as page:
            assert page.status == 200 and b"<title>cnn-lens" in page.read()
    finally:
        stop(proc)
    assert f"cnn-lens: serving on http://127.0.0.1:{port}" in proc.stdout.read()


@pytest.mark.slow
def test_train_writes_a_model_with_the_trainers_options(tmp_path):
    out = tmp_path / "one_epoch.keras"
    done = cnn_lens("train", "--epochs", "1", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert "test accuracy" in done.stdout and "saved" in done.stdout
    assert json.loads(out.with_suffix(".json").read_text())["config"]["epochs"] == 1


@pytest.mark.slow
def test_oip_takes_the_model_first_and_writes_arrays_and_galleries(trained, tmp_path):
    from cnn_core import config

    model = str(config.default_model_path())
    args = ["--layer", "Conv2D_1", "--units", "0-2", "--steps", "5", "--out", str(tmp_path)]
    done = cnn_lens("oip", model, *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert {p.name for p in tmp_path.iterdir()} >= {
        "Conv2D_1.npz", "Conv2D_1.png", "Conv2D_1_enhanced.png",
    }  # fmt: skip
    assert "3 OIPs of Conv2D_1" in done.stdout
    # a layer this model lacks: one line under this command's name (checked once it is loaded)
    wrong = cnn_lens("oip", model, "--layer", "conv_9", "--out", str(tmp_path), cwd=tmp_path)
    assert wrong.returncode == 2 and "cnn-lens oip: error: argument --layer" in wrong.stderr
    assert "python -m cnn_core.oip" not in wrong.stderr and "Traceback" not in wrong.stderr
