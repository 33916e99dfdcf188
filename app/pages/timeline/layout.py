"""The timeline's page: registered with Dash at `/timeline`, laid out from its URL view."""

# No `from __future__ import annotations`: Dash executes this module itself (once per app).

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app import figures, ids
from app.components import colormap
from app.components.alerts import url_problems_alert
from app.components.controls import colormap_radio, number_input
from app.components.digit_picker import DigitPicker
from app.components.layer_picker import layer_dropdown, needs_groups
from app.digits import noun
from app.pages.timeline import callbacks, render
from app.pages.timeline.view import TimelineView, timeline_epochs
from app.services import get_services
from app.timeline_runs import MAX_STEPS

#: The page of a model served alone.
NO_DATA = (
    "The timeline replays the model's checkpoints on test images: this model is served without "
    "a data set. Start it with --data (an image folder or an .npz) and --checkpoints DIR."
)

dash.register_page(
    __name__,
    path=callbacks.PATH,
    name="Timeline",
    title="cnn-lens: training timeline",
    order=5,
)
callbacks.CALLBACKS.register()
DigitPicker.register_callbacks()

INTRO = (
    "How what the network computes changes while it learns: the same {noun}'s activations, the "
    "accuracy and the confusions at every saved epoch (0 = before the first training step), "
    "and the optimal input patterns of a few units at every epoch, computed in one batched run."
)


def _labelled(label: str, control) -> dbc.Col:
    """A control with its visible label, tied to it (`for=` its id) for screen readers."""
    target = getattr(control, "id", None)
    tie = {"html_for": target} if isinstance(target, str) else {}
    return dbc.Col(
        [dbc.Label(label, className="small text-muted mb-0", **tie), control],
        width="auto",
        className="mb-2",
    )


def _select(id_: str, options, value, width: str = "12em") -> dbc.Select:
    return dbc.Select(
        id=id_,
        options=[{"label": label, "value": str(v)} for v, label in options],
        value=str(value),
        size="sm",
        style={"minWidth": width},
    )


def _layer_select(id_: str, desc, names, value):
    """A native select for a few layers (the seed), the searchable picker for many."""
    if needs_groups(desc, names):
        return layer_dropdown(id_, desc, names, value, with_shape=False, min_width="22em")
    return _select(id_, [(n, n) for n in names], value)


def _controls(view: TimelineView, epochs: list[int]) -> dbc.Card:
    desc = get_services().desc
    slider = dcc.Slider(
        id=ids.TL_EPOCH,
        min=epochs[0],
        max=epochs[-1],
        step=None,
        marks=render.epoch_marks(epochs),
        value=view.epoch,
        updatemode="drag",
        tooltip={"placement": "bottom", "always_visible": False},
    )
    classes = list(enumerate(desc.class_names))
    return dbc.Card(
        dbc.CardBody(
            [
                dbc.Row(
                    [
                        _labelled(
                            "layer", _layer_select(ids.TL_LAYER, desc, desc.names, view.layer)
                        ),
                        _labelled(
                            "colormap",
                            colormap_radio(ids.TL_CMAP, view.cmap),
                        ),
                        _labelled("class a", _select(ids.TL_PAIR_A, classes, view.a, "8em")),
                        _labelled("class b", _select(ids.TL_PAIR_B, classes, view.b, "8em")),
                    ],
                    className="g-3",
                ),
                dbc.Row(
                    [
                        dbc.Col(
                            dbc.Button("▶ play", id=ids.TL_PLAY, size="sm", n_clicks=0),
                            width="auto",
                        ),
                        dbc.Col(
                            [
                                dbc.Label(
                                    "epoch",
                                    html_for=ids.TL_EPOCH,
                                    className="small text-muted mb-0",
                                ),
                                slider,
                            ]
                        ),
                    ],
                    className="g-3 align-items-end",
                ),
                dcc.Interval(id=ids.TL_TICK, interval=900, disabled=True),
            ],
            className="py-2",
        ),
        className="mb-2",
    )


def _oip_section(view: TimelineView) -> dbc.Card:
    desc = get_services().desc
    start = dbc.Button("Compute OIPs over all epochs", id=ids.TL_OIP_START, size="sm", n_clicks=0)
    return dbc.Card(
        dbc.CardBody(
            [
                html.H5("Optimal input patterns, epoch by epoch"),
                html.P(
                    "The same units' OIPs (gradient ascent on the input, as on the OIP page) at "
                    "every checkpoint, all from the same starting noise; move the epoch slider to "
                    "see them at that epoch.",
                    className="small text-muted",
                ),
                dbc.Row(
                    [
                        _labelled(
                            "layer",
                            _layer_select(ids.TL_OIP_LAYER, desc, desc.map_layers, view.oip_layer),
                        ),
                        _labelled(
                            "maps (e.g. 0-7 or 3, 9, 12)",
                            dbc.Input(
                                id=ids.TL_OIP_UNITS,
                                value=view.units,
                                size="sm",
                                debounce=True,
                                style={"maxWidth": "12em"},
                            ),
                        ),
                        _labelled(
                            "steps",
                            number_input(
                                ids.TL_OIP_STEPS, view.steps, 10, MAX_STEPS, step=10, width="7em"
                            ),
                        ),
                        dbc.Col(start, width="auto", className="mb-2"),
                    ],
                    className="g-3 align-items-end",
                ),
                html.Div(id=ids.TL_OIP_STATUS, className="small mb-1"),
                dbc.Progress(
                    id=ids.TL_OIP_PROGRESS, value=0, className="mb-2", style={"height": "6px"}
                ),
                html.Div(id=ids.TL_OIP_IMAGES),
                dcc.Graph(
                    id=ids.TL_SETTLED, config=figures.GRAPH_CONFIG, style={"display": "none"}
                ),
                html.P(render.SETTLED_TEXT, className="small text-muted"),
                dcc.Store(id=ids.TL_OIP_RUN),
                dcc.Interval(id=ids.TL_OIP_POLL, interval=700, disabled=True),
            ]
        ),
        className="mb-3",
    )


def layout(**query: str) -> html.Div:
    head = [
        html.H1("Training timeline", className="h2"),
        html.P(INTRO.format(noun=noun()), className="text-muted"),
    ]
    if not get_services().has_data:
        return html.Div([*head, dbc.Alert(NO_DATA, color="info", id=ids.TL_VIEW_MESSAGE)])
    epochs = timeline_epochs()
    if not epochs:
        try:
            get_services().timeline()
            reason = callbacks.NO_TIMELINE
        except ValueError as err:
            reason = f"The checkpoints cannot be used: {err}"
        return html.Div([*head, dbc.Alert(reason, color="info", id=ids.TL_VIEW_MESSAGE)])
    view, problems = TimelineView.from_query(query)
    graph = dict(config=figures.graph_config(small=True))  # the mode bar would cover titles
    return html.Div(
        [
            *head,
            html.Div(url_problems_alert(problems), id=ids.TL_URL_MESSAGE),
            html.Div(id=ids.TL_VIEW_MESSAGE),
            dcc.Store(id=ids.TL_QUERY),
            colormap.keeper("timeline", "cmap" in query),
            dcc.Store(id=ids.TL_URL_SINK),
            dbc.Row(
                [
                    dbc.Col(
                        DigitPicker(ids.TL_PICKER, split=view.split, index=view.index), lg=4, xl=3
                    ),
                    dbc.Col(
                        [
                            _controls(view, epochs),
                            html.Div(id=ids.TL_GRID_INFO, className="small"),
                            dbc.Row(
                                [
                                    dbc.Col(
                                        # a new digit or layer can take a moment: say so
                                        dcc.Loading(
                                            dcc.Graph(id=ids.TL_GRID, **graph), delay_show=300
                                        ),
                                        xl=7,
                                    ),
                                    dbc.Col(dcc.Graph(id=ids.TL_ACCURACY, **graph), xl=5),
                                ]
                            ),
                            dbc.Row(
                                [
                                    dbc.Col(dcc.Graph(id=ids.TL_CONFUSION, **graph), xl=6),
                                    dbc.Col(dcc.Graph(id=ids.TL_PAIR, **graph), xl=6),
                                ]
                            ),
                            _oip_section(view),
                        ],
                        lg=8,
                        xl=9,
                    ),
                ]
            ),
        ]
    )
