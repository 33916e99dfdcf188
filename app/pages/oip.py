"""OIP page: watch gradient ascent build a unit's optimal input pattern; whole-layer galleries."""

from __future__ import annotations

import base64
import contextlib
import time
from typing import Any
from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from app import figures, ids
from app.jobs import (
    ENGINE_DEFAULTS,
    JobNotFoundError,
    JobSpecError,
    JobsUnavailableError,
    get_manager,
    objective_layers,
    parse_spec,
)
from app.jobspec import LIMITS
from app.services import get_services
from app.urlsync import keep_address_in_step
from cnn_core import imaging
from cnn_core.compare import default_pair
from cnn_core.oip.ascent import Range

dash.register_page(
    __name__, path="/oip", name="OIP", title="cnn-lens: optimal input patterns", order=3
)

KIND_OPTIONS = [
    {"label": "a map", "value": "map"},
    {"label": "a dense node", "value": "node"},
    {"label": "a class", "value": "class"},
    {"label": "class a − class b", "value": "contrast"},
]
POLL_MS = 250
GALLERY_POLL_MS = 500
WATCH_PACE = 40.0  # steps per second when watching: 200 steps in 5 s
TOP_DIGITS = 9
RUN_FLAGS = {"1": "single", "gallery": "gallery"}  # ?run=... starts a job when the page opens
#: Defaults of the view that do not depend on the model (layers and classes do: `default_view`).
DEFAULTS: dict[str, Any] = {
    "kind": "map",
    "unit": 0,
    "steps": ENGINE_DEFAULTS.steps,
    "step_size": ENGINE_DEFAULTS.step_size,
    "wavelength": ENGINE_DEFAULTS.wavelength,
    "blur_sigma": ENGINE_DEFAULTS.blur_sigma,
    "seed": 0,
    "n_seeds": 3,
    "cmap": "jet",
    "watch": True,
    "gallery_steps": 200,
}
#: The job parameters a view holds, with their types in a URL.
SPEC_FIELDS: dict[str, type] = {
    "kind": str,
    "layer": str,
    "unit": int,
    "a": int,
    "b": int,
    "steps": int,
    "step_size": float,
    "wavelength": float,
    "blur_sigma": float,
    "seed": int,
    "n_seeds": int,
}
#: Everything the URL holds (besides `watch` and `run`).
VIEW_FIELDS: dict[str, type] = {
    **SPEC_FIELDS,
    "cmap": str,
    "gallery_layer": str,
    "gallery_steps": int,
}
GRAPH_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


# --------------------------------------------------------------------------- view <-> URL


def default_view() -> dict[str, Any]:
    """The controls of an address without parameters: map 0 of the model's last map layer
    (its gallery too), classes 4 and 9 (the first two for a model with fewer than 10)."""
    desc = get_services().desc
    layer = desc.last_map_layer
    a, b = default_pair(desc.num_classes)
    kind = "map" if layer else "class"
    return {**DEFAULTS, "kind": kind, "layer": layer, "gallery_layer": layer, "a": a, "b": b}


def class_options() -> list[dict[str, Any]]:
    return [{"label": name, "value": k} for k, name in enumerate(get_services().desc.class_names)]


def view_from_query(query: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The page's controls from URL parameters; bad ones fall back to defaults, with a note."""
    defaults = default_view()
    desc = get_services().desc
    view = dict(defaults)
    problems = []
    for key, convert in VIEW_FIELDS.items():
        if key in query:
            try:
                view[key] = convert(query[key])
            except ValueError:
                problems.append(f"{key}={query[key]!r} is not valid")
    view["watch"] = query.get("watch", "1") != "0"
    if view["cmap"] not in imaging.COLORMAPS:
        problems.append(f"unknown colormap {view['cmap']!r}")
        view["cmap"] = defaults["cmap"]
    try:
        parse_spec(gallery_spec(view), desc)
    except JobSpecError as exc:
        problems.append(f"gallery: {exc}")
        view["gallery_layer"], view["gallery_steps"] = (
            defaults["gallery_layer"],
            defaults["gallery_steps"],
        )
    try:
        parse_spec(spec_from_view(view), desc)
    except JobSpecError as exc:
        problems.append(str(exc))
        view = {**defaults, "cmap": view["cmap"]}
    return view, problems


def spec_from_view(view: dict[str, Any]) -> dict[str, Any]:
    """The job request for the controls' values (validated later by `parse_spec`)."""
    spec = {key: view.get(key) for key in SPEC_FIELDS}
    spec["pace"] = WATCH_PACE if view.get("watch") else 0.0
    return {key: value for key, value in spec.items() if value is not None}


def gallery_spec(view: dict[str, Any]) -> dict[str, Any]:
    """The job request for the gallery controls: every map of a layer, one seed, full speed."""
    return {
        **spec_from_view(view),
        "kind": "gallery",
        "layer": view.get("gallery_layer"),
        "units": "all",
        "steps": view.get("gallery_steps"),
        "n_seeds": 1,
        "pace": 0.0,
    }


def query_string(view: dict[str, Any], run: str | None) -> str:
    """The URL query of a view; `run` ("single" / "gallery") starts that job when opened."""
    keep = {key: view[key] for key in VIEW_FIELDS if view.get(key) is not None}
    keep["watch"] = "1" if view.get("watch") else "0"
    if run:
        keep["run"] = "1" if run == "single" else run
    return "?" + urlencode(keep)


# --------------------------------------------------------------------------- pictures


def png_src(rgb: np.ndarray, fast: bool = False) -> str:
    """A PNG data URI (`fast`: light compression, for live frames)."""
    png = imaging.png_bytes(rgb, fast=fast)
    return "data:image/png;base64," + base64.b64encode(png).decode()


def oip_rgb(image: np.ndarray, cmap: str, enhanced: bool = False, scale: int = 6) -> np.ndarray:
    """One OIP `(H, W)` float32 as an enlarged RGB picture (see `imaging.oip_picture`)."""
    rgb = imaging.oip_picture(image, "enhanced" if enhanced else "plain", cmap)
    return rgb.repeat(scale, axis=0).repeat(scale, axis=1)


def frame_images(images: np.ndarray, cmap: str, titles: list[str]) -> list[html.Figure]:
    return [
        html.Figure(
            [
                html.Img(src=png_src(oip_rgb(img, cmap), fast=True), className="oip-frame"),
                html.Figcaption(title, className="small text-muted"),
            ],
            className="d-inline-block me-2 mb-0 text-center",
        )
        for img, title in zip(images, titles, strict=True)
    ]


GALLERY_PER_ROW = 16
GALLERY_CELL_PX = 2
GALLERY_GAP_PX = 2


def gallery_picture(
    images: np.ndarray, cmap: str, cell_px: int = GALLERY_CELL_PX
) -> tuple[str, imaging.GridLayout]:
    """All OIPs as one PNG grid (each stretched to its own range) and the grid's layout."""
    maps = np.moveaxis(np.asarray(images, dtype=np.float32), 0, -1)  # (H, W, n)
    rgb = imaging.grid_image(
        maps,
        per_row=GALLERY_PER_ROW,
        colormap=cmap,
        scaling="raw",
        color_range="map",
        cell_px=cell_px,
        gap_px=GALLERY_GAP_PX,
        gap_rgb=(255, 255, 255),
    )
    return png_src(rgb, fast=True), imaging.layout_for(maps, GALLERY_PER_ROW)


# --------------------------------------------------------------------------- layout


def _number(id_: str, value: Any, label: str, **kwargs: Any) -> dbc.Col:
    return dbc.Col(
        [
            dbc.Label(label, html_for=id_, className="small mb-0"),
            dbc.Input(id=id_, type="number", value=value, size="sm", debounce=True, **kwargs),
        ],
        width=6,
        className="mb-2",
    )


def _bounds(allowed: Range) -> dict[str, float]:
    """An input's min and max: the job spec's limits (`app.jobspec.LIMITS`)."""
    return {"min": allowed.lo, "max": allowed.hi}


def _dropdown(id_: str, options: list, value: Any, label: str, width: int) -> dbc.Col:
    return dbc.Col(
        [
            dbc.Label(label, className="small mb-0"),
            dcc.Dropdown(id=id_, options=options, value=value, clearable=False),
        ],
        width=width,
    )


def _controls(view: dict[str, Any]) -> dbc.Card:
    kind = view["kind"]
    desc = get_services().desc
    layers = objective_layers("node" if kind == "node" else "map", desc)
    classes = class_options()
    return dbc.Card(
        dbc.CardBody(
            [
                dbc.Label("Maximize", className="fw-bold"),
                dbc.RadioItems(
                    id=ids.OIP_KIND, options=KIND_OPTIONS, value=kind, inline=True, className="mb-2"
                ),
                dbc.Row(
                    [
                        _dropdown(ids.OIP_LAYER, list(layers), view["layer"], "layer", width=7),
                        _number(ids.OIP_UNIT, view["unit"], "unit", min=0, step=1),
                    ],
                    id="oip-unit-row",
                    className="g-2",
                ),
                html.Div(id=ids.OIP_UNIT_HINT, className="small text-muted mb-2"),
                dbc.Row(
                    [
                        _dropdown(ids.OIP_CLASS_A, classes, view["a"], "class a", width=6),
                        _dropdown(ids.OIP_CLASS_B, classes, view["b"], "class b", width=6),
                    ],
                    id="oip-class-row",
                    className="g-2 mb-2",
                ),
                html.Hr(className="my-2"),
                dbc.Row(
                    [
                        _number(
                            ids.OIP_STEPS, view["steps"], "steps", step=1, **_bounds(LIMITS.steps)
                        ),
                        _number(
                            ids.OIP_STEP_SIZE,
                            view["step_size"],
                            "step size",
                            step=0.01,
                            **_bounds(LIMITS.step_size),
                        ),
                        _number(
                            ids.OIP_WAVELENGTH,
                            view["wavelength"],
                            "noise wavelength (px)",
                            step=1,
                            **_bounds(LIMITS.wavelength_for(desc)),
                        ),
                        _number(
                            ids.OIP_BLUR,
                            view["blur_sigma"],
                            "high-freq. suppression (σ px)",
                            step=0.1,
                            **_bounds(LIMITS.blur_sigma),
                        ),
                        _number(ids.OIP_SEED, view["seed"], "seed", step=1, **_bounds(LIMITS.seed)),
                        _number(
                            ids.OIP_N_SEEDS,
                            view["n_seeds"],
                            "seeds side by side",
                            step=1,
                            **_bounds(LIMITS.n_seeds),
                        ),
                    ],
                    className="g-2",
                ),
                dbc.Row(
                    [
                        _dropdown(
                            ids.OIP_CMAP, list(imaging.COLORMAPS), view["cmap"], "colormap", width=6
                        ),
                        dbc.Col(
                            dbc.Checklist(
                                id=ids.OIP_PACE,
                                options=[{"label": "watch it (40 steps/s)", "value": "watch"}],
                                value=["watch"] if view["watch"] else [],
                                switch=True,
                                className="mt-4 small",
                            ),
                            width=6,
                        ),
                    ],
                    className="g-2 mb-3",
                ),
                dbc.ButtonGroup(
                    [
                        dbc.Button("Start", id=ids.OIP_START, color="primary"),
                        dbc.Button("Cancel", id=ids.OIP_CANCEL, color="secondary", outline=True),
                    ],
                    className="w-100",
                ),
                html.Hr(),
                dbc.Label("Gallery: every map of a layer, one batched run", className="fw-bold"),
                dbc.Row(
                    [
                        _dropdown(
                            ids.OIP_GALLERY_LAYER,
                            list(desc.map_layers),
                            view["gallery_layer"],
                            "layer",
                            width=6,
                        ),
                        _number(
                            ids.OIP_GALLERY_STEPS,
                            view["gallery_steps"],
                            "steps",
                            step=1,
                            **_bounds(LIMITS.steps),
                        ),
                    ],
                    className="g-2",
                ),
                dbc.Button(
                    "Run gallery",
                    id=ids.OIP_GALLERY_START,
                    color="primary",
                    outline=True,
                    className="w-100",
                ),
                html.Div(id=ids.OIP_BACKEND, className="small text-muted mt-2"),
            ]
        )
    )


def layout(**query: str) -> html.Div:
    view, problems = view_from_query(query)
    backend = get_manager().backend
    return html.Div(
        [
            dcc.Store(id=ids.OIP_QUERY),  # the view as "?...", written to the address bar
            dcc.Store(id=ids.OIP_URL_SINK),
            dcc.Store(id=ids.OIP_JOB, storage_type="memory"),
            dcc.Store(
                id=ids.OIP_AUTOSTART, data=None if problems else RUN_FLAGS.get(query.get("run"))
            ),
            dcc.Interval(id=ids.OIP_POLL, interval=POLL_MS, disabled=True),
            html.H2("Optimal input patterns"),
            html.P(
                "Gradient ascent on the input image (article VII): start from noise with "
                "long-range correlations, follow the normalized gradient of the unit's mean "
                "activation, re-standardize after every step and blur away high frequencies. "
                "Different seeds find different patterns.",
                className="text-muted",
            ),
            dbc.Row(
                [
                    dbc.Col(_controls(view), lg=4, className="mb-3"),
                    dbc.Col(
                        [
                            dbc.Alert(
                                "; ".join(problems) or "Choose a unit and press Start.",
                                id=ids.OIP_STATUS,
                                color="warning" if problems else "light",
                                className="py-2",
                            ),
                            dbc.Progress(
                                id=ids.OIP_PROGRESS,
                                value=0,
                                className="mb-2",
                                style={"height": "18px"},
                            ),
                            html.Div(id=ids.OIP_FRAMES, className="mb-2"),
                            dcc.Graph(
                                id=ids.OIP_CURVE,
                                figure=figures.oip_curve_figure(np.zeros(0), np.zeros((0, 0)), []),
                                config=GRAPH_CONFIG,
                                style={"height": "260px"},
                            ),
                            html.Div(id=ids.OIP_RESULT),
                            html.Div(id=ids.OIP_GALLERY),
                        ],
                        lg=8,
                    ),
                ]
            ),
            html.Span(f"jobs: {backend}", className="d-none", id="oip-backend-name"),
        ]
    )


# --------------------------------------------------------------------------- callbacks


@callback(
    Output(ids.OIP_LAYER, "options"),
    Output(ids.OIP_LAYER, "value"),
    Output("oip-unit-row", "style"),
    Output("oip-class-row", "style"),
    Input(ids.OIP_KIND, "value"),
    State(ids.OIP_LAYER, "value"),
)
def on_kind(kind: str, layer: str):
    hidden, shown = {"display": "none"}, {}
    if kind in ("class", "contrast"):
        return no_update, no_update, hidden, shown
    layers = list(objective_layers("node" if kind == "node" else "map", get_services().desc))
    value = layer if layer in layers else (layers[0] if layers else None)
    return layers, value, shown, hidden


@callback(
    Output(ids.OIP_UNIT_HINT, "children"),
    Input(ids.OIP_LAYER, "value"),
    Input(ids.OIP_KIND, "value"),
)
def on_layer(layer: str, kind: str):
    if kind in ("class", "contrast") or not isinstance(layer, str):
        return ""
    desc = get_services().desc
    if layer not in desc.names:
        return ""
    what = "maps" if kind == "map" else "nodes"
    return f"{layer} has {desc.units(layer)} {what}: unit 0-{desc.units(layer) - 1}"


def _handle(job: Any) -> str | None:
    """The signed handle in the page's job store, or None (empty or crafted store)."""
    if isinstance(job, dict) and isinstance(job.get("handle"), str):
        return job["handle"]
    return None


def _start(view: dict[str, Any], job: dict | None, what: str):
    """Cancel this tab's running job (one per tab), submit the new one, start polling.

    Returns the outputs of `on_start`: job store, poll disabled, status text and colour, URL
    query, poll counter, poll interval.
    """
    manager = get_manager()
    try:
        spec = parse_spec(
            gallery_spec(view) if what == "gallery" else spec_from_view(view), get_services().desc
        )
    except JobSpecError as exc:
        return no_update, no_update, str(exc), "danger", no_update, no_update, no_update
    if _handle(job):
        with contextlib.suppress(JobNotFoundError):  # already finished and cleaned up
            manager.cancel(_handle(job))
    try:
        handle = manager.submit(spec)
    except JobsUnavailableError as exc:
        return no_update, no_update, str(exc), "warning", no_update, no_update, no_update
    new_job = {"handle": handle, "what": what, "cmap": view.get("cmap"), "spec": spec}
    # a gallery's frames are large and it runs at full speed: poll it less often
    interval = GALLERY_POLL_MS if what == "gallery" else POLL_MS
    return new_job, False, f"Started: {what}…", "info", query_string(view, what), 0, interval


@callback(
    Output(ids.OIP_JOB, "data"),
    Output(ids.OIP_POLL, "disabled"),
    Output(ids.OIP_STATUS, "children"),
    Output(ids.OIP_STATUS, "color"),
    Output(ids.OIP_QUERY, "data"),
    Output(ids.OIP_POLL, "n_intervals"),
    Output(ids.OIP_POLL, "interval"),
    Input(ids.OIP_START, "n_clicks"),
    Input(ids.OIP_GALLERY_START, "n_clicks"),
    Input(ids.OIP_AUTOSTART, "data"),
    State(ids.OIP_KIND, "value"),
    State(ids.OIP_LAYER, "value"),
    State(ids.OIP_UNIT, "value"),
    State(ids.OIP_CLASS_A, "value"),
    State(ids.OIP_CLASS_B, "value"),
    State(ids.OIP_STEPS, "value"),
    State(ids.OIP_STEP_SIZE, "value"),
    State(ids.OIP_WAVELENGTH, "value"),
    State(ids.OIP_BLUR, "value"),
    State(ids.OIP_SEED, "value"),
    State(ids.OIP_N_SEEDS, "value"),
    State(ids.OIP_PACE, "value"),
    State(ids.OIP_CMAP, "value"),
    State(ids.OIP_GALLERY_LAYER, "value"),
    State(ids.OIP_GALLERY_STEPS, "value"),
    State(ids.OIP_JOB, "data"),
    prevent_initial_call=False,  # a link with run=1 starts (or re-opens) its job
)
def on_start(
    _start_clicks,
    _gallery_clicks,
    autostart,
    kind,
    layer,
    unit,
    a,
    b,
    steps,
    step_size,
    wavelength,
    blur,
    seed,
    n_seeds,
    pace,
    cmap,
    gallery_layer,
    gallery_steps,
    job,
):
    view = {
        "kind": kind,
        "layer": layer,
        "unit": unit,
        "a": a,
        "b": b,
        "steps": steps,
        "step_size": step_size,
        "wavelength": wavelength,
        "blur_sigma": blur,
        "seed": seed,
        "n_seeds": n_seeds,
        "watch": bool(pace),
        "cmap": cmap,
        "gallery_layer": gallery_layer,
        "gallery_steps": gallery_steps,
    }
    trigger = ctx.triggered_id
    if trigger in (None, ids.OIP_AUTOSTART):  # page load (?run=...) or a gallery click
        run = autostart.get("run") if isinstance(autostart, dict) else autostart
        if run not in ("single", "gallery"):
            return (no_update,) * 7
        return _start(view, job, run)
    return _start(view, job, "gallery" if trigger == ids.OIP_GALLERY_START else "single")


@callback(
    Output(ids.OIP_STATUS, "children", allow_duplicate=True),
    Input(ids.OIP_CANCEL, "n_clicks"),
    State(ids.OIP_JOB, "data"),
    prevent_initial_call=True,
)
def on_cancel(_clicks, job):
    if not _handle(job):
        return "Nothing is running."
    try:
        get_manager().cancel(_handle(job))
    except JobNotFoundError as exc:
        return str(exc)
    return "Cancelling…"


@callback(
    Output(ids.OIP_PROGRESS, "value"),
    Output(ids.OIP_PROGRESS, "label"),
    Output(ids.OIP_FRAMES, "children"),
    Output(ids.OIP_CURVE, "figure"),
    Output(ids.OIP_RESULT, "children"),
    Output(ids.OIP_GALLERY, "children"),
    Output(ids.OIP_STATUS, "children", allow_duplicate=True),
    Output(ids.OIP_STATUS, "color", allow_duplicate=True),
    Output(ids.OIP_POLL, "disabled", allow_duplicate=True),
    Input(ids.OIP_POLL, "n_intervals"),
    State(ids.OIP_JOB, "data"),
    State(ids.OIP_CMAP, "value"),
    prevent_initial_call=True,
)
def on_poll(_n, job, cmap):
    if not _handle(job):
        return (no_update,) * 8 + (True,)
    cmap = cmap if cmap in imaging.COLORMAPS else "jet"
    try:
        state, arrays = get_manager().status(_handle(job))
    except JobsUnavailableError as exc:  # Redis down: say so, keep polling until it is back
        return (no_update,) * 6 + (str(exc), "warning", False)
    except JobNotFoundError as exc:
        return (no_update,) * 6 + (str(exc), "warning", True)
    status = state["status"]
    step, steps = int(state.get("step", 0)), int(state.get("steps", 1))
    percent = round(100 * step / max(steps, 1))
    label = f"{step}/{steps}"
    if status == "error":
        return (
            percent,
            label,
            no_update,
            no_update,
            no_update,
            no_update,
            f"The job failed: {state.get('error')}",
            "danger",
            True,
        )
    gallery = job.get("what") == "gallery"
    images = arrays.get("images")
    titles = [f"seed {state['spec']['seed'] + i}" for i in range(state["spec"].get("n_seeds", 1))]
    frames = no_update
    if images is not None and not gallery:
        frames = frame_images(images, cmap, titles[: len(images)])
    curve = no_update
    # A gallery runs at full speed on both cores: redrawing a Plotly figure in the browser
    # twice a second took a third of its time, so its curve is drawn once, at the end.
    if "curve_steps" in arrays and not gallery:
        curve = figures.oip_curve_figure(arrays["curve_steps"], arrays["curve_values"], titles)
    gallery_view = no_update
    if gallery and images is not None:
        live = gallery_picture(images, cmap, cell_px=1)[0]
        gallery_view = html.Img(src=live, className="oip-gallery-live")
    if status in ("queued", "running"):
        message = f"{state['description']}: {'queued' if status == 'queued' else 'running'}…"
        return percent, label, frames, curve, no_update, gallery_view, message, "info", False
    # finished: done or cancelled
    if status == "cancelled":
        message = f"Cancelled after {step} steps."
        color = "secondary"
    else:
        cached = " (cached result)" if state.get("cached") else ""
        message = f"{state['description']}: done in {state.get('seconds', 0):.1f} s{cached}."
        color = "success"
    if "history" in arrays:
        curve = figures.oip_curve_figure(
            np.arange(1, len(arrays["history"]) + 1),
            arrays["history"],
            ["mean of all maps"] if gallery else titles,
            mean_only=gallery,
        )
    result = no_update
    if gallery:
        gallery_view = gallery_result(state, arrays, cmap)
        result = None
    elif images is not None and "probabilities" in arrays:
        result = single_result(state, arrays, cmap)
        frames = []  # the result below shows the final images
    return (
        100 if status == "done" else percent,
        label,
        frames,
        curve,
        result,
        gallery_view,
        message,
        color,
        True,
    )


keep_address_in_step(ids.OIP_QUERY, ids.OIP_URL_SINK, "/oip")


# --------------------------------------------------------------------------- results


def single_result(state: dict[str, Any], arrays: dict[str, np.ndarray], cmap: str) -> html.Div:
    """Two-fold view per seed, the OIP's own prediction, and the unit's top test digits."""
    spec = state["spec"]
    images, probs = arrays["images"], arrays["probabilities"]
    services = get_services()
    scores = services.unit_scores("test", spec)  # (N,) the objective for every test digit
    top = np.argsort(-scores, kind="stable")[:TOP_DIGITS]
    oip_scores = arrays["activations"]  # the same quantity, measured by the engine
    cards = []
    for i, img in enumerate(images):
        best = scores[top[0]]
        ratio = f" ({oip_scores[i] / best:.1f}x the best test digit)" if best > 0 else ""
        predicted = int(np.argmax(probs[i]))
        cards.append(
            dbc.Col(
                dbc.Card(
                    [
                        dbc.CardHeader(
                            f"seed {spec['seed'] + i}: {oip_scores[i]:.3g}{ratio}",
                            className="small",
                        ),
                        html.Div(
                            [
                                html.Img(src=png_src(oip_rgb(img, cmap)), className="oip-result"),
                                html.Img(
                                    src=png_src(oip_rgb(img, cmap, enhanced=True)),
                                    className="oip-result",
                                ),
                            ],
                            className="text-center pt-2",
                        ),
                        html.Div(
                            f"the OIP's own prediction: {predicted} ({probs[i][predicted]:.1%})",
                            className="small text-center mt-2",
                        ),
                        dcc.Graph(
                            figure=figures.probabilities_figure(probs[i]),
                            config={**GRAPH_CONFIG, "displayModeBar": False},
                            style={"height": "180px"},
                        ),
                    ],
                    className="h-100",
                ),
                md=12 // min(len(images), 3) if len(images) > 1 else 6,
                className="mb-2",
            )
        )
    digits = []
    for rank, index in enumerate(top):
        href = f"/activations?split=test&index={int(index)}&layer=" + (
            spec.get("layer") or services.desc.logits_layer
        )
        digits.append(
            html.A(
                html.Figure(
                    [
                        html.Img(
                            src=png_src(
                                imaging.colorize(services.data.x_test[index] / 255.0, "gray")
                                .repeat(3, 0)
                                .repeat(3, 1)
                            ),
                            className="oip-digit",
                        ),
                        html.Figcaption(
                            f"#{rank + 1} test {int(index)}: {scores[index]:.3g}", className="small"
                        ),
                    ],
                    className="d-inline-block me-2 text-center",
                ),
                href=href,
            )
        )
    compare = figures.oip_vs_digits_figure(
        oip_scores,
        [f"seed {spec['seed'] + i}" for i in range(len(images))],
        scores[top],
        [f"test {int(i)}" for i in top],
    )
    return html.Div(
        [
            html.H5("Result: plain (left) and contrast-enhanced (right), the seed's two-fold view"),
            dbc.Row(cards),
            html.H5("What the unit looks for in real digits", className="mt-3"),
            html.P(
                f"The {TOP_DIGITS} test digits that activate {state['description']} most "
                "(click one to open it in the explorer):",
                className="small text-muted",
            ),
            html.Div(digits, id="oip-top-digits"),
            dcc.Graph(figure=compare, config=GRAPH_CONFIG, style={"height": "300px"}),
        ]
    )


def gallery_result(state: dict[str, Any], arrays: dict[str, np.ndarray], cmap: str) -> html.Div:
    """The finished gallery as one clickable grid (click a map to open it as a single run)."""
    spec = state["spec"]
    images = arrays["images"]
    src, layout = gallery_picture(images, cmap)
    fig = figures.picture_grid_figure(
        src,
        layout,
        cell_px=GALLERY_CELL_PX,
        gap_px=GALLERY_GAP_PX,
        values=arrays["activations"],
        cell_name=f"OIP of {spec['layer']} map",
        title=f"OIPs of {len(images)} maps of {spec['layer']} (click one to open it)",
    )
    best = beats_best_digit(spec["layer"], spec["units"], arrays["activations"])
    return html.Div(
        [
            dcc.Graph(id=ids.OIP_GALLERY_GRAPH, figure=fig, config=GRAPH_CONFIG),
            html.P(best, className="small text-muted"),
        ]
    )


def beats_best_digit(layer: str, units: list[int], activations: np.ndarray) -> str:
    """One line: how many OIPs beat the best test digit on their own map."""
    services = get_services()
    table = services.unit_tables("test")[layer][:, units]  # (N, n)
    best = table.max(axis=0)
    ratio = activations / np.maximum(best, 1e-9)
    beats = int((ratio > 1).sum())
    return (
        f"{beats} of {len(units)} OIPs activate their map more than the best of the "
        f"{len(table):,} test digits (median ratio {np.median(ratio):.2f}x)."
    )


@callback(
    Output(ids.OIP_KIND, "value"),
    Output(ids.OIP_LAYER, "value", allow_duplicate=True),
    Output(ids.OIP_UNIT, "value"),
    Output(ids.OIP_N_SEEDS, "value"),
    Output(ids.OIP_AUTOSTART, "data"),
    Input(ids.OIP_GALLERY_GRAPH, "clickData"),
    State(ids.OIP_JOB, "data"),
    prevent_initial_call=True,
)
def on_gallery_click(click, job):
    """A click on a gallery OIP opens that map as a single run (same parameters, one seed)."""
    nothing = (no_update,) * 5
    if not click or not _handle(job):
        return nothing
    try:
        spec = get_manager().status(_handle(job))[0]["spec"]  # the server's copy, not the tab's
        cell = int(next(p["z"] for p in click["points"] if "z" in p))
        unit = spec["units"][cell]
    except (JobNotFoundError, KeyError, IndexError, TypeError, ValueError, StopIteration):
        return nothing
    # the controls take the map; a new autostart value starts it (as ?run=1 does on load)
    return "map", spec["layer"], unit, 1, {"run": "single", "click": time.time()}
