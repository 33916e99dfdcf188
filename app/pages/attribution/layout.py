"""The attribution page: registered with Dash at `/attribution`, laid out from its URL view."""

# No `from __future__ import annotations`: Dash executes this module itself (once per app).

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app import figures, ids
from app.attributions import DELETION_EXPLANATION
from app.components import colormap
from app.components.alerts import url_problems_alert
from app.components.controls import colormap_radio, number_input, radio
from app.components.digit_picker import DigitPicker
from app.components.layer_picker import layer_dropdown
from app.digits import noun
from app.pages.attribution import callbacks, render
from app.pages.attribution.view import (
    BACKGROUNDS,
    OPACITY_RANGE,
    AttributionView,
    int_limits,
    max_window,
)
from app.services import get_services
from cnn_core.config import SMALL_MODEL_NODES
from cnn_core.explain.attribution import BASELINES, LIMITS

dash.register_page(
    __name__,
    path=callbacks.PATH,
    name="Attribution",
    title="cnn-lens: attribution",
    order=2.5,  # after Compare (2), before OIP (3)
)
# Dash runs this module once per app it builds: every app gets the callbacks.
callbacks.CALLBACKS.register()
DigitPicker.register_callbacks()


def _labelled(label: str, control, hidden: bool = False) -> dbc.Col:
    """A control with its visible label, tied to it (`for=` its id) when it is one input."""
    target = getattr(control, "id", None)
    tie = {"html_for": target} if isinstance(control, (dbc.Input, dbc.Select)) else {}
    return dbc.Col(
        [dbc.Label(label, className="small text-muted mb-0", **tie), control],
        width="auto",
        className="mb-2",
        style={"display": "none"} if hidden else None,
    )


def _classes(view: AttributionView) -> dbc.Card:
    """The class explained (default: the prediction) and the class it is contrasted with."""
    options = render.class_options()
    target = dcc.Dropdown(
        id=ids.ATTR_TARGET,
        options=options,
        value=view.target,
        placeholder="the prediction",
        clearable=True,
        searchable=False,
        style={"minWidth": "10em"},
    )
    contrast = dcc.Dropdown(
        id=ids.ATTR_CONTRAST,
        options=options,
        value=view.contrast,
        placeholder="none",
        clearable=True,
        searchable=False,
        style={"minWidth": "10em"},
    )
    return dbc.Card(
        dbc.CardBody(
            [
                html.H6("Question", className="card-title"),
                dbc.Row(
                    [_labelled("why class", target), _labelled("rather than", contrast)],
                    className="g-2",
                ),
                html.Div(
                    "With a contrast class the maps explain the difference of the two class "
                    "scores (logits): what makes the model say one rather than the other.",
                    className="small text-muted",
                ),
                html.Div(id=ids.ATTR_DIGIT_INFO, className="mt-2"),
            ]
        ),
        className="mb-2",
    )


def _drawing(view: AttributionView) -> dbc.Card:
    opacity = dcc.Slider(
        id=ids.ATTR_OPACITY,
        min=OPACITY_RANGE[0],
        max=OPACITY_RANGE[1],
        step=0.05,
        value=view.opacity,
        marks={0: "0", 0.5: "0.5", 1: "1"},
        tooltip={"placement": "bottom"},
    )
    colour = get_services().desc.input_shape[2] == 3
    return dbc.Card(
        dbc.CardBody(
            [
                dbc.Row(
                    [
                        _labelled("colormap", colormap_radio(ids.ATTR_CMAP, view.cmap)),
                        _labelled(
                            "under the maps",
                            radio(ids.ATTR_BACKGROUND, BACKGROUNDS, view.background),
                            hidden=not colour,
                        ),
                        dbc.Col(
                            [dbc.Label("opacity", className="small text-muted mb-0"), opacity],
                            style={"minWidth": "12em"},
                        ),
                    ],
                    className="g-3",
                ),
            ],
            className="py-2",
        ),
        className="mb-2",
    )


def _options(view: AttributionView) -> dbc.Card:
    """Each method's options, ranges from the core's `LIMITS`."""
    desc = get_services().desc
    map_layers = desc.map_layers
    layer = layer_dropdown(
        ids.ATTR_LAYER,
        desc,
        map_layers,
        view.layer or None,
        with_shape=False,
        min_width="10em" if len(map_layers) <= SMALL_MODEL_NODES else "22em",
        disabled=not map_layers,
    )
    window = max_window()
    row = dbc.Row(
        [
            _labelled("IG steps", number_input(ids.ATTR_STEPS, view.steps, *int_limits("steps"))),
            _labelled("IG baseline", radio(ids.ATTR_BASELINE, BASELINES, view.baseline)),
            _labelled(
                "SmoothGrad samples",
                number_input(ids.ATTR_SAMPLES, view.samples, *int_limits("samples")),
            ),
            _labelled(
                "SmoothGrad noise",
                number_input(ids.ATTR_NOISE, view.noise, *LIMITS["noise"], step="any"),
            ),
            _labelled("Grad-CAM layer", layer, hidden=not map_layers),
            _labelled("occlusion window", number_input(ids.ATTR_WINDOW, view.window, 1, window)),
            _labelled("occlusion stride", number_input(ids.ATTR_STRIDE, view.stride, 1, window)),
        ],
        className="g-3",
    )
    return dbc.Card(dbc.CardBody([row], className="py-2"), className="mb-2")


def _maps() -> list:
    download = dbc.Button(
        "Download PNG", id=ids.ATTR_DOWNLOAD_BUTTON, size="sm", outline=True, color="secondary"
    )
    graph = dcc.Loading(
        dcc.Graph(
            id=ids.ATTR_FIGURE,
            config=figures.graph_config(filename="attribution"),
            className="attr-figure",
        ),
        delay_show=300,
    )
    return [
        dbc.Row(
            [
                dbc.Col(html.P(DELETION_EXPLANATION, className="small text-muted mb-1")),
                dbc.Col(download, width="auto"),
            ],
            className="mb-1",
        ),
        graph,
        html.Div(  # wide on a phone: it scrolls in its own box (focusable, for the keyboard)
            id=ids.ATTR_TABLE,
            className="table-responsive",
            tabIndex=0,
            role="region",
            **{"aria-label": "deletion areas of the methods"},
        ),
    ]


def layout(**query: str) -> html.Div:
    view, problems = AttributionView.from_query(query)
    picker = DigitPicker(
        ids.ATTR_PICKER,
        split=view.split,
        index=view.index,
        drawn=view.drawn or None,
        explain_link=False,  # this is the attribution page
    )
    return html.Div(
        [
            html.H1("Attribution", className="h2"),
            html.P(
                "Which pixels made the model decide? Five ways of answering, side by side over "
                f"the {noun()}, each checked by deleting the pixels it points at.",
                className="text-muted",
            ),
            html.Div(url_problems_alert(problems), id=ids.ATTR_URL_MESSAGE),
            html.Div(id=ids.ATTR_VIEW_MESSAGE),
            dcc.Store(id=ids.ATTR_QUERY),
            colormap.keeper("attribution", "cmap" in query),
            dcc.Store(id=ids.ATTR_URL_SINK),
            dcc.Download(id=ids.ATTR_DOWNLOAD),
            dbc.Row(
                [
                    dbc.Col([picker, _classes(view)], lg=4, xl=3),
                    dbc.Col([_drawing(view), _options(view), *_maps()], lg=8, xl=9),
                ]
            ),
        ]
    )
