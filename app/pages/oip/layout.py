"""The OIP page: registered with Dash at `/oip`, laid out from its URL view."""

# No `from __future__ import annotations`: Dash executes this module itself (once per app).

from typing import Any

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html

from app import figures, ids
from app.components import colormap
from app.components.alerts import url_problems_alert
from app.components.controls import colormap_radio
from app.components.layer_picker import layer_options
from app.jobs import get_manager
from app.jobspec import LIMITS, objective_layers
from app.pages.oip import callbacks
from app.pages.oip.view import DIVERSITY, OipView, autostart
from app.services import get_services
from cnn_core.oip.ascent import CLASS_METHOD_OPTIONS, METHOD_OPTIONS, Range

dash.register_page(
    __name__, path=callbacks.PATH, name="OIP", title="cnn-lens: optimal input patterns", order=3
)
# Dash runs this module once per app it builds: every app gets the callbacks.
callbacks.CALLBACKS.register()

CLASS_B_BOX = "oip-class-b-box"
KIND_OPTIONS = [
    {"label": "a map", "value": "map"},
    {"label": "a dense node", "value": "node"},
    {"label": "a class", "value": "class"},
    {"label": "class a − class b", "value": "contrast"},
]


#: The image's parameterizations (`cnn_core.oip.ascent.METHOD_OPTIONS`).
def _scale(options: dict) -> str:
    power = float(options.get("decay_power", 1.0))
    superscript = {1.0: "", 2.0: "²", 3.0: "³"}
    return f"1/f{superscript[power]}" if power in superscript else f"1/f^{power:g}"


def fourier_scale_label() -> str:
    """The Fourier choice's spectrum scale as it is set (`METHOD_OPTIONS`, and for classes
    `CLASS_METHOD_OPTIONS`): "1/f³; classes 1/f²"."""
    units = _scale(METHOD_OPTIONS["fourier"])
    classes = _scale({**METHOD_OPTIONS["fourier"], **CLASS_METHOD_OPTIONS.get("fourier", {})})
    return units if classes == units else f"{units}; classes {classes}"


METHOD_LABELS = {
    "pixel": "pixels",
    "fourier": f"Fourier ({fourier_scale_label()})",
    "maco": "MACO (phase only)",
}
#: One choice per parameterization the core knows, in its order.
METHOD_CHOICES = [{"label": METHOD_LABELS[name], "value": name} for name in METHOD_OPTIONS]


def _number(id_: str, value: Any, label: str, **kwargs: Any) -> dbc.Col:
    return dbc.Col(
        [
            dbc.Label(label, html_for=id_, className="small mb-0"),
            dbc.Input(id=id_, type="number", value=value, size="sm", debounce=True, **kwargs),
        ],
        width=6,
        className="mb-2",
    )


def _bounded(
    id_: str, value: Any, label: str, allowed: Range, step: float | str, **kwargs: Any
) -> dbc.Col:
    """A number input whose min and max are the job spec's limits (`app.jobspec.LIMITS`).

    `step`: 1 for whole numbers, "any" for real ones (a browser counts steps from `min`, so
    with min 0.0001 and step 0.01 it would call 0.2 invalid and hand Dash no value)."""
    return _number(id_, value, label, step=step, min=allowed.lo, max=allowed.hi, **kwargs)


#: What the diversity input is for, beside it.
DIVERSITY_HELP = (
    f"Several images per seed are optimized together; diversity λ pushes them apart (Lucid's "
    f"term: Gram matrices of a map layer). λ {DIVERSITY:g} (the default) makes them differ "
    "while most keep their activation (colour example, 4 images: 86-100% keep 70% of a plain "
    "run's); larger λ keep less. Used with 2 or more images."
)


def _diverse_images(view: OipView) -> list:
    """Images per seed and the diversity among them (a single run; the gallery has one)."""
    return [
        dbc.Row(
            [
                _bounded(
                    ids.OIP_IMAGES_PER_UNIT,
                    view.images_per_unit,
                    "images per seed",
                    LIMITS.images_per_unit,
                    1,
                ),
                _bounded(
                    ids.OIP_DIVERSITY,
                    view.diversity,
                    "diversity λ",
                    LIMITS.diversity,
                    "any",
                    disabled=view.images_per_unit == 1,
                ),
            ],
            className="g-2",
        ),
        html.Div(DIVERSITY_HELP, id="oip-diversity-help", className="small text-muted mb-2"),
    ]


def _dropdown(id_: str, options: list, value: Any, label: str, width: int) -> dbc.Col:
    return dbc.Col(
        [
            dbc.Label(label, className="small mb-0"),
            dcc.Dropdown(id=id_, options=options, value=value, clearable=False, maxHeight=360),
        ],
        width=width,
    )


def _objective(view: OipView) -> list:
    """What to maximize: a map, a node, a class or a contrast of two classes."""
    desc = get_services().desc
    layers = objective_layers("node" if view.kind == "node" else "map", desc)
    classes = [{"label": name, "value": k} for k, name in enumerate(desc.class_names)]
    return [
        dbc.Label("Maximize", className="fw-bold"),
        dbc.RadioItems(
            id=ids.OIP_KIND, options=KIND_OPTIONS, value=view.kind, inline=True, className="mb-2"
        ),
        dbc.Row(
            [
                _dropdown(
                    ids.OIP_LAYER,
                    layer_options(desc, layers, with_shape=False),
                    view.layer,
                    "layer",
                    width=7,
                ),
                _number(ids.OIP_UNIT, view.unit, "unit", min=0, step=1),
            ],
            id="oip-unit-row",
            className="g-2",
        ),
        html.Div(id=ids.OIP_UNIT_HINT, className="small text-muted mb-2"),
        dbc.Row(
            [
                _dropdown(ids.OIP_CLASS_A, classes, view.a, "class a", width=6),
                html.Div(  # hidden for "a class": only a contrast has a class b
                    _dropdown(ids.OIP_CLASS_B, classes, view.b, "class b", width=12),
                    id=CLASS_B_BOX,
                    className="col-6",
                    style={"display": "none"} if view.kind == "class" else None,
                ),
            ],
            id="oip-class-row",
            className="g-2 mb-2",
        ),
    ]


def _ascent(view: OipView) -> list:
    """The ascent's parameters, colours, watching, Start and Cancel."""
    wavelengths = LIMITS.wavelength_for(get_services().desc)
    return [
        dbc.Row(
            [
                _bounded(ids.OIP_STEPS, view.steps, "steps", LIMITS.steps, 1),
                _bounded(ids.OIP_STEP_SIZE, view.step_size, "step size", LIMITS.step_size, "any"),
                _bounded(
                    ids.OIP_WAVELENGTH, view.wavelength, "noise wavelength (px)", wavelengths, "any"
                ),
                _bounded(
                    ids.OIP_BLUR,
                    view.blur_sigma,
                    "high-freq. suppression (σ px)",
                    LIMITS.blur_sigma,
                    "any",
                ),
                _bounded(ids.OIP_SEED, view.seed, "random seed", LIMITS.seed, 1),
                _bounded(
                    ids.OIP_N_SEEDS, view.n_seeds, "random seeds side by side", LIMITS.n_seeds, 1
                ),
            ],
            className="g-2",
        ),
        *_diverse_images(view),
        dbc.Row(
            [
                dbc.Col(
                    [
                        dbc.Label("image made of", html_for=ids.OIP_METHOD, className="small mb-0"),
                        dbc.RadioItems(
                            id=ids.OIP_METHOD,
                            options=METHOD_CHOICES,
                            value=view.method,
                            inline=True,
                            className="small",
                        ),
                    ],
                    width=12,
                ),
                dbc.Col(
                    dbc.Checklist(
                        id=ids.OIP_TRANSFORMS,
                        options=[
                            {
                                "label": "transformation robustness (each step sees it shifted, "
                                "scaled and rotated at random)",
                                "value": "transforms",
                            }
                        ],
                        value=["transforms"] if view.transforms else [],
                        switch=True,
                        className="small",
                    ),
                    width=12,
                ),
            ],
            className="g-2 mb-2",
        ),
        dbc.Row(
            [
                dbc.Col(  # radio buttons: every colormap (jet too) one click away
                    [
                        dbc.Label("colormap", className="small mb-0"),
                        colormap_radio(ids.OIP_CMAP, view.cmap, className="small"),
                    ],
                    width=12,
                ),
                dbc.Col(
                    dbc.Checklist(
                        id=ids.OIP_PACE,
                        options=[{"label": "watch it (40 steps/s)", "value": "watch"}],
                        value=["watch"] if view.watch else [],
                        switch=True,
                        className="small",
                    ),
                    width=12,
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
    ]


def _gallery(view: OipView) -> list:
    """Every map of a layer in one batched run."""
    desc = get_services().desc
    return [
        dbc.Label("Gallery: every map of a layer, one batched run", className="fw-bold"),
        dbc.Row(
            [
                _dropdown(
                    ids.OIP_GALLERY_LAYER,
                    layer_options(desc, desc.map_layers, with_shape=True),
                    view.gallery_layer,
                    "layer",
                    width=6,
                ),
                _bounded(ids.OIP_GALLERY_STEPS, view.gallery_steps, "steps", LIMITS.steps, 1),
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
        html.Div(  # the keyboard's way to open a gallery map (a click on it does the same)
            [
                dbc.Label(
                    "open a map of the finished gallery (its number)",
                    html_for=ids.OIP_GALLERY_MAP,
                    className="small mb-0",
                ),
                dbc.Input(
                    id=ids.OIP_GALLERY_MAP, type="number", min=0, step=1, debounce=True, size="sm"
                ),
            ],
            className="mt-2",
        ),
        html.Div(id=ids.OIP_BACKEND, className="small text-muted mt-2"),
    ]


def _output() -> list:
    """Status, progress, live frames, the curve, the result and the gallery."""
    return [
        dbc.Alert(
            "Choose a unit and press Start.", id=ids.OIP_STATUS, color="light", className="py-2"
        ),
        dbc.Progress(id=ids.OIP_PROGRESS, value=0, className="mb-2", style={"height": "18px"}),
        html.Div(id=ids.OIP_FRAMES, className="mb-2"),
        dcc.Graph(
            id=ids.OIP_CURVE,
            figure=figures.oip_curve_figure(np.zeros(0), np.zeros((0, 0)), []),
            config=figures.GRAPH_CONFIG,
            style={**callbacks.CURVE_STYLE, "display": "none"},  # no empty chart before Start
        ),
        html.Div(id=ids.OIP_RESULT),
        html.Div(id=ids.OIP_GALLERY),
    ]


def layout(**query: str) -> html.Div:
    view, problems = OipView.from_query(query)
    controls = [*_objective(view), html.Hr(className="my-2"), *_ascent(view), html.Hr()]
    return html.Div(
        [
            dcc.Store(id=ids.OIP_QUERY),  # the view as "?...", written to the address bar
            colormap.keeper("oip", "cmap" in query),
            dcc.Store(id=ids.OIP_URL_SINK),
            dcc.Store(id=ids.OIP_JOB, storage_type="memory"),
            dcc.Store(id=ids.OIP_GALLERY_JOB, storage_type="memory"),
            dcc.Store(id=ids.OIP_SCROLL_SINK),
            dcc.Store(id=ids.OIP_AUTOSTART, data=autostart(query, problems)),
            dcc.Store(id=ids.OIP_FINISHED),
            dcc.Interval(id=ids.OIP_POLL, interval=callbacks.POLL_MS, disabled=True),
            html.H1("Optimal input patterns", className="h2"),
            html.P(
                "An optimal input pattern (OIP) is a picture made so that one "
                "unit of the network (a map, a node or a class) responds to it as strongly as "
                "possible: it shows what that unit looks for. Beside each result, its mean "
                "activation of the unit and how many times that is the best real image's.",
            ),
            html.P(
                "How: gradient ascent on the input image (article VII): start from noise with "
                "long-range correlations, follow the normalized gradient of the unit's mean "
                "activation, re-standardize after every step and blur away high frequencies. "
                "Different seeds find different patterns. Colour and larger models start in "
                f"Fourier space (scaled {fourier_scale_label()}, colours decorrelated) with random "
                "shifts, scales and rotations at every step, which keeps the noise out "
                "(README: OIP quality).",
                className="text-muted",
            ),
            html.P(
                "Each result carries a trust check: does it beat the best real image, does it "
                "survive moves it never saw, is its spectrum like real images', and does it "
                "reach the unit through the same earlier maps as the images that excite it "
                "most? ✓ passed, ✗ failed.",
                className="small text-muted",
            ),
            html.Div(url_problems_alert(problems), id=ids.OIP_URL_MESSAGE),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Card(dbc.CardBody([*controls, *_gallery(view)])), lg=4, className="mb-3"
                    ),
                    dbc.Col(_output(), lg=8),
                ]
            ),
            html.Span(f"jobs: {get_manager().backend}", className="d-none", id="oip-backend-name"),
        ]
    )
