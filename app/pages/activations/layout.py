"""The explorer's page: registered with Dash at `/activations`, laid out from its URL view."""

# No `from __future__ import annotations`: Dash executes this module itself (once per app).

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app import figures, ids
from app.components import colormap
from app.components.alerts import url_problems_alert
from app.components.controls import colormap_radio, number_input, radio
from app.components.digit_picker import DRAW_CANVAS, DigitPicker
from app.components.layer_picker import layer_dropdown
from app.digits import a_noun
from app.pages.activations import callbacks, render
from app.pages.activations.view import INPUT_COLORMAPS, MAX_PER_ROW, MAX_TOP, ExplorerView
from app.services import get_services
from cnn_core import imaging

dash.register_page(
    __name__,
    path=callbacks.PATH,
    name="Activations",
    title="cnn-lens: activation explorer",
    order=1,
)
# Dash runs this module once per app it builds: every app gets the callbacks.
callbacks.CALLBACKS.register()
DigitPicker.register_callbacks()


def _labelled(label: str, control) -> dbc.Col:
    """A control with its visible label, tied to it (`for=` its id) when it is one input."""
    target = getattr(control, "id", None)
    tie = {"html_for": target} if isinstance(control, (dbc.Input, dbc.Select)) else {}
    return dbc.Col(
        [dbc.Label(label, className="small text-muted mb-0", **tie), control],
        width="auto",
        className="mb-2",
    )


def _view_controls(view: ExplorerView) -> dbc.Card:
    """Layer, colours and layout: a compact bar above the grid."""
    desc = get_services().desc
    layer = layer_dropdown(ids.ACT_LAYER, desc, desc.names, view.layer)
    per_row = number_input(ids.ACT_PER_ROW, view.per_row, 1, MAX_PER_ROW, width="5.5em")
    top = number_input(ids.ACT_TOP, view.shown_maps, 1, MAX_TOP)
    return dbc.Card(
        dbc.CardBody(
            [
                dbc.Row(
                    [
                        _labelled("layer", layer),
                        _labelled("colormap", colormap_radio(ids.ACT_CMAP, view.cmap)),
                    ],
                    className="g-3",
                ),
                dbc.Row(
                    [
                        _labelled(
                            "scaling", radio(ids.ACT_SCALING, imaging.SCALINGS, view.scaling)
                        ),
                        _labelled(
                            "colour range",
                            radio(ids.ACT_RANGE, imaging.COLOR_RANGES, view.range),
                        ),
                        _labelled("maps per row", per_row),
                        _labelled("maps shown", top),
                        _labelled(
                            "input image", radio(ids.ACT_INPUT_CMAP, INPUT_COLORMAPS, "gray")
                        ),
                    ],
                    className="g-3",
                ),
                html.Div(
                    "seed: each map standardized, ×64 + 128, clipped to 0-255 (as in the "
                    "articles); raw: the activations as computed. Colour range: one for the "
                    "whole layer, or each map stretched to its own min..max.",
                    className="small text-muted",
                ),
            ],
            className="py-2",
        ),
        className="mb-2",
    )


def _digit_column(view: ExplorerView) -> list:
    small = figures.graph_config(small=True)
    shown = dbc.Card(
        dbc.CardBody(
            [
                html.Div(id=ids.ACT_SOURCE_INFO, className="small"),
                html.Div(id=ids.ACT_DIGIT_INFO, className="mb-1"),
                html.Div(id=ids.ACT_EXPLAIN, className="small mb-1"),
                dcc.Graph(id=ids.ACT_DIGIT, config=small),
                dcc.Graph(id=ids.ACT_PROBA, config=small),
            ]
        ),
        className="mb-2",
    )
    picker = DigitPicker(
        ids.ACT_PICKER,
        split=view.split,
        index=view.index,
        drawn=view.drawn or None,
        canvas_id=DRAW_CANVAS,
    )
    return [picker, shown]


def _grid_column(view: ExplorerView) -> list:
    download = dbc.Button(
        "Download grid PNG", id=ids.ACT_DOWNLOAD_BUTTON, size="sm", outline=True, color="secondary"
    )
    grid = dcc.Loading(dcc.Graph(id=ids.ACT_GRID, config=figures.GRAPH_CONFIG), delay_show=300)
    enlarge = dbc.Row(  # the keyboard's way to enlarge a map: its number
        [
            dbc.Col(
                dbc.Label(
                    "map (node) to enlarge", html_for=ids.ACT_CELL_INPUT, className="small mb-0"
                ),
                width="auto",
            ),
            dbc.Col(
                dbc.Input(
                    id=ids.ACT_CELL_INPUT,
                    type="number",
                    min=0,
                    step=1,
                    debounce=True,
                    size="sm",
                    style={"maxWidth": "6em"},
                ),
                width="auto",
            ),
            dbc.Col(html.Div(id=ids.ACT_CELL_MESSAGE, className="small text-danger"), width="auto"),
        ],
        className="g-2 align-items-center pt-1",
    )
    detail = [
        enlarge,
        html.Div(render.DETAIL_HINT, id=ids.ACT_DETAIL_HINT, className="small text-muted pt-1"),
        dcc.Graph(
            id=ids.ACT_DETAIL,
            config=figures.graph_config(small=True),
            style={"display": "none"},
        ),
    ]
    return [
        _view_controls(view),
        dbc.Row(
            [
                dbc.Col(html.Div(id=ids.ACT_GRID_INFO), className="pt-1"),
                dbc.Col(download, width="auto"),
            ],
            className="mb-1",
        ),
        dbc.Row([dbc.Col(grid, xl=7), dbc.Col(detail, xl=5)]),
    ]


def layout(**query: str) -> html.Div:
    view, problems = ExplorerView.from_query(query)
    return html.Div(
        [
            html.H1("Activation explorer", className="h2"),
            html.P(
                f"Pick {a_noun()} and a layer and see what "
                "every map (or node) of that layer makes of it. Hover a cell for its map, "
                "position and value; click a map to enlarge it.",
                className="text-muted",
            ),
            html.Div(url_problems_alert(problems), id=ids.ACT_URL_MESSAGE),
            html.Div(id=ids.ACT_VIEW_MESSAGE),
            dcc.Store(id=ids.ACT_SELECTED),
            colormap.keeper("activations", "cmap" in query),
            dcc.Store(id=ids.ACT_QUERY),
            dcc.Store(id=ids.ACT_URL_SINK),
            dcc.Download(id=ids.ACT_DOWNLOAD),
            dbc.Row(
                [
                    dbc.Col(_digit_column(view), lg=4, xl=3),
                    dbc.Col(_grid_column(view), lg=8, xl=9),
                ]
            ),
        ]
    )
