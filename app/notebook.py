"""`show(model, x=..., y=...)`: the dashboard for a Keras model in memory, inline in Jupyter.

The model object and arrays are served as they are, no file written: `Services.from_trained`
builds the dashboard's services from them, `create_app(services=...)` the app, and Dash's
`jupyter_mode` shows it in the output cell (an iframe, or a link with `mode="external"`). One
dashboard per kernel: a second `show()` stops the first (its server, its job runner, its
threads) and takes its port. Outside IPython the server runs in a thread and its address is
printed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("cnn_lens")

#: Jupyter shows the dashboard in an iframe of another origin (the notebook's), which the
#: served pages forbid (`frame-ancestors 'none'`, `X-Frame-Options: DENY`): a dashboard shown
#: from a notebook may be framed by any page instead. It listens on the loopback by default.
FRAME_ANCESTORS = "frame-ancestors *"
SHOW_MODES = ("inline", "external", "tab", "jupyterlab")
#: Where an in-memory model's data comes from, as the pages say it.
ARRAYS_SOURCE = "arrays given to show()"

_lock = threading.Lock()
_current: Dashboard | None = None


@dataclass
class Dashboard:
    """A running dashboard of `show()`.

    Attributes:
        url: its address, e.g. `http://127.0.0.1:8050/`.
        app: the Dash app.
        services: its model and data (`app.services.Services`).
    """

    url: str
    app: Any
    services: Any
    _server: Any = field(repr=False)
    _threads: list[threading.Thread] = field(repr=False)
    _manager: Any = field(repr=False)
    _key: tuple[str, int] = field(repr=False)
    stopped: bool = False

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving: the port is free and the server's threads are gone when it returns;
        running OIP jobs are cancelled. Calling it again does nothing."""
        global _current
        if self.stopped:
            return
        self.stopped = True
        self._manager.shutdown()
        self._server.shutdown()  # ends serve_forever
        self._server.server_close()  # frees the port
        from dash import jupyter_dash

        if jupyter_dash._servers.get(self._key) is self._server:
            del jupyter_dash._servers[self._key]
        deadline = time.monotonic() + timeout
        jobs = [t for t in threading.enumerate() if t.name.startswith("oip-job")]
        for thread in [*self._threads, *jobs]:
            thread.join(max(0.0, deadline - time.monotonic()))
        with _lock:
            if _current is self:
                _current = None

    def __repr__(self) -> str:
        state = "stopped" if self.stopped else "serving"
        return f"<cnn-lens dashboard {state} at {self.url}>"


def show(
    model: Any,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    class_names: list[str] | tuple[str, ...] | None = None,
    *,
    x_train: np.ndarray | None = None,
    y_train: np.ndarray | None = None,
    normalization: dict[str, Any] | None = None,
    checkpoints: str | Path | None = None,
    mode: str = "inline",
    host: str = "127.0.0.1",
    port: int = 8050,
    height: int = 760,
) -> Dashboard:
    """Show the dashboard for `model` (a Keras image classifier object) in the notebook.

    Args:
        model: a Keras model in memory, input `(N, H, W, C)` (C = 1 or 3), output the class
            probabilities or scores.
        x: `(n, H, W)` or `(n, H, W, C)` images, uint8 (0-255) or float, as the model is fed
            them (after `normalization`): the test split, whose accuracy and confusion the
            pages show; also the train split unless `x_train` is given. None: the model
            alone (pages work on uploaded and drawn pictures).
        y: `(n,)` integer labels of `x` (or `(n, classes)` one-hot); needed with `x`.
        class_names: one name per class (default: numbers).
        x_train, y_train: other images for the train split (the picker's train digits, the
            statistics OIPs are optimized in).
        normalization: pixels -> model input outside the model, as a sidecar writes it:
            `{"mean": m, "std": s}` or `{"scale": k, "offset": o}` (default: the model takes
            pixels as they are, e.g. it has its own `Rescaling`).
        checkpoints: a folder of the model's epoch checkpoints for the timeline (default:
            none; the timeline page then says so).
        mode: "inline" (in the output cell, with a link to open it in a tab), "external"
            (the link only), "tab" or "jupyterlab" (Dash's `jupyter_mode`).
        host, port: where to serve (the loopback by default).
        height: the inline view's height in pixels.

    Returns:
        The running `Dashboard`: `.url`, `.stop()`. A later `show()` stops it first.

    Raises:
        ValueError: arrays or a mode that cannot be used (one line naming the argument).
    """
    global _current
    if mode not in SHOW_MODES:
        raise ValueError(f"mode={mode!r}: choose one of {', '.join(SHOW_MODES)}")
    with _lock:
        previous, _current = _current, None
    if previous is not None:
        previous.stop()
    services = in_memory_services(
        model, x, y, class_names, x_train, y_train, normalization, checkpoints
    )
    dashboard = _serve(services, mode, host, port, height)
    with _lock:
        _current = dashboard
    return dashboard


def current() -> Dashboard | None:
    """The dashboard `show()` started last, unless it was stopped."""
    return _current


# --------------------------------------------------------------------------------------------
# The model and data in memory -> Services
# --------------------------------------------------------------------------------------------


def in_memory_services(
    model: Any,
    x: np.ndarray | None,
    y: np.ndarray | None,
    class_names: list[str] | tuple[str, ...] | None,
    x_train: np.ndarray | None = None,
    y_train: np.ndarray | None = None,
    normalization: dict[str, Any] | None = None,
    checkpoints: str | Path | None = None,
) -> Any:
    """The dashboard's `Services` for a model object and arrays (see `show`)."""
    from app.services import Services
    from cnn_core.data.sources import DataError, assemble_dataset, no_data
    from cnn_core.model.anatomy import UnsupportedModelError
    from cnn_core.model.trained import TrainedModel

    if (x is None) != (y is None):
        raise ValueError("show(): give x and y together (images and their labels), or neither")
    if (x_train is None) != (y_train is None):
        raise ValueError("show(): give x_train and y_train together, or neither")
    if x is None and x_train is not None:
        raise ValueError("show(): x_train needs x and y (the test split) too")
    data = None
    if x is not None:
        arrays = {
            "x_test": np.asarray(x),
            "y_test": _labels(y, "y"),
            "x_train": np.asarray(x if x_train is None else x_train),
            "y_train": _labels(y if y_train is None else y_train, "y_train"),
        }
        try:
            names = tuple(str(name) for name in class_names) if class_names else None
            data = assemble_dataset(arrays, names, ARRAYS_SOURCE, "show()")
        except DataError as exc:
            raise ValueError(str(exc)) from None
    meta: dict[str, Any] = {"in_memory": {"name": model.name, "weights": weights_digest(model)}}
    if class_names:
        meta["class_names"] = [str(name) for name in class_names]
    if normalization is not None:  # plain JSON values, as a sidecar holds them
        meta["normalization"] = {key: np.asarray(v).tolist() for key, v in normalization.items()}
    if data is not None:
        meta["pixel_range"] = list(data.pixel_range)
    try:
        trained = TrainedModel(model, meta)
    except UnsupportedModelError as exc:
        raise ValueError(f"show(): {exc}") from None
    if data is None:
        data = no_data(trained.desc.input_shape, trained.desc.num_classes)
    try:
        services = Services.from_trained(trained, data)
    except DataError as exc:
        raise ValueError(f"show(): {exc}") from None
    return _with_checkpoints(services, checkpoints)


def _labels(y: Any, name: str) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim == 2:  # one-hot
        labels = labels.argmax(axis=1)
    if labels.ndim != 1:
        raise ValueError(f"show(): {name} has shape {labels.shape}; expected (n,) or (n, classes)")
    return labels


def weights_digest(model: Any) -> str:
    """sha256 of the model's weights: the model's identity for the job cache."""
    digest = hashlib.sha256()
    for weight in model.weights:
        value = np.asarray(weight.numpy())
        digest.update(f"{weight.path}{value.shape}{value.dtype}".encode())
        digest.update(np.ascontiguousarray(value).data)
    return digest.hexdigest()


def _with_checkpoints(services: Any, checkpoints: str | Path | None) -> Any:
    """`services` whose timeline reads `checkpoints` (None: no timeline), whatever
    `$CNN_LENS_CHECKPOINTS` says: the model in memory has no folder beside it."""
    folder = Path(checkpoints).expanduser() if checkpoints is not None else None
    if folder is not None and not folder.is_dir():
        raise ValueError(f"show(): checkpoints={str(folder)!r} is not a folder")
    services.checkpoint_folder = lambda: folder  # an instance attribute, read by timeline()
    return services


# --------------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------------


class _Frameable:
    """WSGI middleware: the served pages may be framed (by the notebook's page)."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = []
            for name, value in headers:
                if name.lower() == "x-frame-options":
                    continue
                if name.lower() == "content-security-policy":
                    value = value.replace("frame-ancestors 'none'", FRAME_ANCESTORS)
                kept.append((name, value))
            return start_response(status, kept, exc_info)

        return self.wsgi_app(environ, start)


def _serve(services: Any, mode: str, host: str, port: int, height: int) -> Dashboard:
    from dash import jupyter_dash
    from werkzeug.serving import make_server

    from app import jobs
    from app.main import create_app
    from app.settings import load_settings

    # one random key for this dashboard: its job handles need no other process to accept them
    settings = dataclasses.replace(load_settings(), secret_key=secrets.token_hex(32))
    app = create_app(services=services, settings=settings)
    manager = jobs.get_manager()
    app.server.wsgi_app = _Frameable(app.server.wsgi_app)
    url = f"http://{host}:{port}/"
    before = set(threading.enumerate())
    if jupyter_dash.active:  # in a Jupyter kernel: Dash serves it and shows it in the cell
        app.run(jupyter_mode=mode, jupyter_height=height, host=host, port=port, use_reloader=False)
        server = jupyter_dash._servers[(host, port)]
        _link(url)
    else:  # a plain Python process: the same server in a thread
        server = make_server(host, port, app.server, threaded=True)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        threading.Thread(target=server.serve_forever, name="cnn-lens-show", daemon=True).start()
        print(f"cnn-lens: dashboard at {url}", flush=True)
    threads = [t for t in threading.enumerate() if t not in before]
    threads += [t for t in before if t.name.endswith("warm-up")]  # create_app's, if still on
    return Dashboard(url, app, services, server, threads, manager, (host, port))


def _link(url: str) -> None:
    """A link under the inline view, to open the dashboard in a browser tab."""
    from IPython.display import HTML, display

    href = html.escape(url, quote=True)
    display(HTML(f'<a href="{href}" target="_blank" rel="noopener">Open cnn-lens in a new tab: '
                 f"{html.escape(url)}</a>"))  # fmt: skip
