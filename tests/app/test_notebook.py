"""`from app import show` in a real Jupyter kernel (nbclient, headless): a model built in the
notebook is shown inline, its explorer answers, a second `show()` takes the first one's port,
`.stop()` frees it. Plus `show()` outside a notebook (a thread server), and its argument errors.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.dash_http import render_explorer_grid
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]

#: The notebook's cells: each prints one JSON line the test reads back.
SETUP = """
import json, os, sys, threading, urllib.request
sys.path.insert(0, {root!r})
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
from app import show
print(json.dumps({{"tensorflow_after_import": "tensorflow" in sys.modules}}))
"""
BUILD_AND_SHOW = """
import keras
import numpy as np

model = keras.Sequential([
    keras.Input((16, 16, 1)),
    keras.layers.Rescaling(1 / 255),
    keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
    keras.layers.MaxPooling2D(name="pool"),
    keras.layers.Flatten(),
    keras.layers.Dense(3, activation="softmax", name="classes"),
])
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (60, 16, 16), dtype=np.uint8)
labels = rng.integers(0, 3, 60)
handle = show(model, x=images, y=labels, class_names=["ring", "bar", "dot"], port={port})
"""
FETCH = """
with urllib.request.urlopen(handle.url + "activations", timeout=30) as page:
    html = page.read().decode()
with urllib.request.urlopen(handle.url + "_dash-layout", timeout=30) as layout:
    shell = layout.read().decode()
print(json.dumps({"url": handle.url, "status": page.status, "title": "<title>cnn-lens" in html,
                  "navbar": "navbar" in shell, "frame": page.headers.get("X-Frame-Options")}))
"""
SHOW_AGAIN = """
server_threads = lambda: sorted(t.name for t in threading.enumerate() if t.name.endswith("(run)"))
before = server_threads()
first = handle
handle = show(model, x=images, y=labels, port={port})
print(json.dumps({"same_url": handle.url == first.url, "first_stopped": first.stopped,
                  "servers_before": before, "servers_after": server_threads()}))
"""
STOP = """
handle.stop()
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    refused = False
except OSError:
    refused = True
print(json.dumps({"refused": refused, "servers": server_threads()}))
"""


def last_json(cell) -> dict:
    """The JSON line a cell printed last."""
    lines = [
        line
        for output in cell.outputs
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
        for line in output["text"].splitlines()
        if line.startswith("{")
    ]
    assert lines, cell.outputs
    return json.loads(lines[-1])


def html_outputs(cell) -> str:
    return "\n".join(
        output.get("data", {}).get("text/html", "")
        for output in cell.outputs
        if output.get("output_type") == "display_data"
    )


@pytest.mark.slow
def test_show_in_a_notebook_serves_the_explorer_then_a_second_show_takes_its_port():
    import nbformat
    from nbclient import NotebookClient

    port = free_port()
    sources = [
        SETUP.format(root=str(ROOT)),
        BUILD_AND_SHOW.format(port=port),
        FETCH,
        SHOW_AGAIN.replace("{port}", str(port)),
        STOP.replace("{port}", str(port)),
    ]
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(textwrap.dedent(s).strip()) for s in sources]
    )
    client = NotebookClient(notebook, timeout=300, kernel_name="python3")
    started = time.monotonic()
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells[:3]):
            client.execute_cell(cell, index)
        setup, shown, fetched = notebook.cells[:3]
        assert last_json(setup) == {"tensorflow_after_import": False}  # `app` stays light
        url = f"http://127.0.0.1:{port}/"
        frame = html_outputs(shown)
        assert "<iframe" in frame and url in frame  # Dash's jupyter_mode="inline"
        assert "Open cnn-lens in a new tab" in frame and f'href="{url}"' in frame
        assert last_json(fetched) == {
            "url": url, "status": 200, "title": True, "navbar": True, "frame": None,
        }  # fmt: skip
        # the explorer's own callback, as the page sends it: the grid of one of the arrays
        status, payload = render_explorer_grid(url.rstrip("/"), 7, "conv", "viridis")
        assert status == 200, payload
        assert "act-grid" in payload["response"]
        for index, cell in enumerate(notebook.cells[3:], start=3):
            client.execute_cell(cell, index)
        again, stopped = notebook.cells[3:]
    seconds = time.monotonic() - started
    replaced = last_json(again)
    assert replaced["same_url"] and replaced["first_stopped"]
    assert len(replaced["servers_before"]) == 1 and len(replaced["servers_after"]) == 1
    assert last_json(stopped) == {"refused": True, "servers": []}
    print(f"notebook: {seconds:.1f} s")


# --------------------------------------------------------------------------------------------
# show() in a plain Python process
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grey_model():
    import keras

    return keras.Sequential(
        [keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
         keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax", name="out")]
    )  # fmt: skip


def wait_ready(url: str, timeout: float = 120.0) -> dict:
    """`/readyz`'s answer once it is 200 (the app's warm-up done)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "readyz", timeout=10) as ready:
                return json.load(ready)
        except OSError:
            assert time.monotonic() < deadline, "no /readyz 200"
            time.sleep(0.3)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


@pytest.mark.slow
def test_show_outside_a_notebook_serves_the_model_alone_in_a_thread_and_stops(grey_model):
    from app import show

    port = free_port()
    handle = show(grey_model, port=port)  # no data: the model alone
    try:
        assert handle.url == f"http://127.0.0.1:{port}/"
        assert not handle.services.has_data
        assert handle.services.checkpoint_folder() is None  # no file, so no checkpoints
        with urllib.request.urlopen(handle.url + "timeline", timeout=30) as page:
            assert page.status == 200
        assert wait_ready(handle.url)["jobs"] == "local"  # warmed up, jobs in this process
    finally:
        handle.stop()
    assert refused(port)
    assert not [t for t in threading.enumerate() if t.name == "cnn-lens-show"]


@pytest.mark.slow
def test_show_takes_uint8_and_float_channel_last_arrays_and_one_hot_labels(grey_model):
    from app.notebook import in_memory_services

    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (20, 12, 12), dtype=np.uint8)
    labels = rng.integers(0, 3, 20)
    services = in_memory_services(grey_model, grey, labels, ["a", "b", "c"])
    assert services.has_data and services.desc.class_names == ("a", "b", "c")
    assert services.trained.pixel_range == (0.0, 255.0)
    floats = (grey[..., None] / 255).astype(np.float32)  # (n, H, W, 1) in 0-1
    services = in_memory_services(grey_model, floats, np.eye(3)[labels], None)
    assert services.data.y_test.tolist() == labels.tolist()
    assert services.trained.pixel_range == (0.0, 1.0)
    assert len(services.proba["test"]) == 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": np.zeros((4, 12, 12), np.uint8)}, "give x and y together"),
        ({"x": np.zeros((4, 9, 9), np.uint8), "y": np.zeros(4, int)}, "the model takes"),
        ({"x": np.zeros((4, 12), np.uint8), "y": np.zeros(4, int)}, "expected (N, H, W)"),
        ({"mode": "popup"}, "mode='popup'"),
    ],
)
def test_show_refuses_arrays_and_modes_it_cannot_use_in_one_line(grey_model, kwargs, message):
    from app import show

    with pytest.raises(ValueError, match=None) as err:
        show(grey_model, port=free_port(), **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_importing_app_imports_neither_tensorflow_nor_dash():
    import subprocess

    code = "import sys, app; print('tensorflow' in sys.modules, 'dash' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["False", "False"], done.stderr


# --------------------------------------------------------------------------------------------
# The README's notebook example, as written
# --------------------------------------------------------------------------------------------


def readme_notebook_cells() -> list[str]:
    """The ```python blocks of the README's "In a notebook" section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### In a notebook", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]


@pytest.mark.slow
def test_the_readmes_notebook_example_runs_as_written():
    import nbformat
    from nbclient import NotebookClient

    cells = readme_notebook_cells()
    assert len(cells) == 2 and "show(model, x=digits.x_test" in cells[0]
    if not refused(8050):  # the example serves on show()'s default port
        if os.environ.get("CI") == "true":
            pytest.fail("port 8050 is taken: the README's example serves there")
        pytest.skip("port 8050 is taken (a dashboard running here?)")
    # the kernel finds this checkout's packages (as after `pip install .`); then the README's cells
    setup = f"import sys; sys.path.insert(0, {str(ROOT)!r})"
    check = (
        "import json, urllib.request\n"
        "status = urllib.request.urlopen(board.url + 'activations', timeout=30).status\n"
        "print(json.dumps({'status': status, 'accuracy': board.services.test_accuracy}))"
    )
    sources = [setup, cells[0], check, cells[1]]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    shown = html_outputs(notebook.cells[1])
    assert "<iframe" in shown and "http://127.0.0.1:8050/" in shown
    checked = last_json(notebook.cells[2])
    assert checked["status"] == 200 and checked["accuracy"] > 0.8  # two epochs of Adam
    printed = "".join(o.get("text", "") for o in notebook.cells[3].outputs)
    assert printed.strip() == "http://127.0.0.1:8050/"
    assert refused(8050)


def test_show_feeds_the_model_through_the_given_normalization(grey_model):
    from app.notebook import in_memory_services

    grey = np.arange(20 * 144, dtype=np.int64).reshape(20, 12, 12) % 256
    labels = np.arange(20) % 3
    norm = {"mean": np.float32(127.5), "std": 64}  # NumPy values are fine too
    services = in_memory_services(grey_model, grey.astype(np.uint8), labels, None, None, None, norm)
    expected = ((grey[:2, ..., None] - 127.5) / 64).astype(np.float32)
    np.testing.assert_allclose(services.trained.standardize(grey[:2].astype(np.uint8)), expected)
    assert services.trained.meta["normalization"] == {"mean": 127.5, "std": 64}
