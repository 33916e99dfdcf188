"""The compare page: registered with Dash at `/compare`, laid out from its URL view."""

# No `from __future__ import annotations`: Dash executes this module itself (once per app).

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app import figures, ids
from app.comparison import DRAWN_SEPARATOR, MAX_EXAMPLES
from app.components import colormap
from app.components.alerts import url_problems_alert
from app.components.controls import colormap_radio
from app.components.digit_picker import DigitPicker
from app.components.layer_picker import layer_dropdown, needs_groups
from app.digits import noun
from app.pages.compare import callbacks, drawn, render
from app.pages.compare.view import CompareView
from app.services import get_services
from cnn_core.explain.compare import EXAMPLE_KINDS

#: The page of a model served alone.
NO_DATA = (
    "Comparing two classes needs images of each: this model is served without a data set. "
    "Start it with --data DIR (a folder with one sub-folder of images per class) or --data "
    "FILE.npz to compare its classes."
)

dash.register_page(
    __name__, path=callbacks.PATH, name="Compare", title="cnn-lens: compare classes", order=2
)
# Dash runs this module once per app it builds: every app gets the callbacks.
callbacks.CALLBACKS.register()
DigitPicker.register_callbacks()


def _class_width() -> int:
    """Grid columns of a class dropdown: one for digits, two for names ("blue triangle")."""
    return 1 if max(len(name) for name in get_services().desc.class_names) <= 3 else 2


def _class_options() -> list[dict]:
    return [{"label": name, "value": k} for k, name in enumerate(get_services().desc.class_names)]


def _controls(view: CompareView) -> dbc.Card:
    desc = get_services().desc
    layer_names = desc.names
    grouped = needs_groups(desc, layer_names)
    kind_options = [{"label": k, "value": k} for k in EXAMPLE_KINDS]
    row1 = dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("Class A", html_for=ids.COMPARE_CLASS_A),
                    dcc.Dropdown(
                        id=ids.COMPARE_CLASS_A,
                        options=_class_options(),
                        value=view.a,
                        clearable=False,
                    ),
                ],
                md=_class_width(),
            ),
            dbc.Col(
                [
                    dbc.Label("Class B", html_for=ids.COMPARE_CLASS_B),
                    dcc.Dropdown(
                        id=ids.COMPARE_CLASS_B,
                        options=_class_options(),
                        value=view.b,
                        clearable=False,
                    ),
                ],
                md=_class_width(),
            ),
            dbc.Col(
                [
                    dbc.Label("N each", html_for=ids.COMPARE_N),
                    dbc.Input(
                        id=ids.COMPARE_N,
                        type="number",
                        min=1,
                        max=MAX_EXAMPLES,
                        step=1,
                        value=view.n,
                        debounce=True,
                    ),
                ],
                md=1,
            ),
            dbc.Col(
                [
                    dbc.Label("A examples", html_for=ids.COMPARE_INDICES_A),
                    dbc.RadioItems(
                        id=ids.COMPARE_KIND_A, options=kind_options, value=view.kind, inline=True
                    ),
                    dbc.Input(
                        id=ids.COMPARE_INDICES_A,
                        placeholder="or test indices: 12, 40, 77",
                        value=view.ia,
                        debounce=True,
                        size="sm",
                    ),
                ],
                md=3,
            ),
            dbc.Col(
                [
                    dbc.Label("B examples", html_for=ids.COMPARE_INDICES_B),
                    dbc.RadioItems(
                        id=ids.COMPARE_KIND_B, options=kind_options, value=view.kind_b, inline=True
                    ),
                    dbc.Input(
                        id=ids.COMPARE_INDICES_B,
                        placeholder="or test indices",
                        value=view.ib,
                        debounce=True,
                        size="sm",
                    ),
                ],
                md=3,
            ),
            dbc.Col(
                [
                    dbc.Label("\u00a0"),
                    dbc.Button(
                        "Download PNG",
                        id=ids.COMPARE_DOWNLOAD_BUTTON,
                        color="secondary",
                        className="d-block",
                    ),
                    dcc.Download(id=ids.COMPARE_DOWNLOAD),
                ],
                md=2,
            ),
        ],
        className="g-2",
    )
    row2 = dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("Layer", html_for=ids.COMPARE_LAYER if grouped else None),
                    layer_dropdown(ids.COMPARE_LAYER, desc, layer_names, view.layer)
                    if grouped  # a button per node is a wall of buttons past a few dozen
                    else dbc.RadioItems(
                        id=ids.COMPARE_LAYER,
                        options=[{"label": name, "value": name} for name in layer_names],
                        value=view.layer,
                        className="btn-group flex-wrap",
                        inputClassName="btn-check",
                        labelClassName="btn btn-outline-primary btn-sm",
                        labelCheckedClassName="active",
                    ),
                ],
                md=7,
            ),
            dbc.Col(
                [
                    dbc.Label("Threshold (fraction of the layer's maximum)"),
                    dcc.Slider(
                        id=ids.COMPARE_THRESHOLD,
                        min=0,
                        max=1,
                        step=0.05,
                        value=view.threshold,
                        marks={v / 10: f"{v / 10:g}" for v in range(0, 11, 2)},
                        tooltip={"placement": "bottom"},
                        updatemode="mouseup",
                    ),
                ],
                md=5,
            ),
        ],
        className="g-2 mt-1",
    )
    colormaps = dbc.Row(  # radio buttons: every colormap (jet too) one click away
        dbc.Col(
            [
                dbc.Label("Colormap", className="me-2 mb-0"),
                colormap_radio(ids.COMPARE_CMAP, view.cmap, className="d-inline-block"),
            ]
        ),
        className="g-2 mt-1",
    )
    return dbc.Card(dbc.CardBody([row1, row2, colormaps]), className="mb-3")


def layout(**query: str) -> html.Div:
    if not get_services().has_data:
        return html.Div(
            [
                html.H1("Compare two classes", className="h2"),
                dbc.Alert(NO_DATA, color="info", id=ids.COMPARE_MESSAGE),
            ]
        )
    view, problems = CompareView.from_query(query)
    url_problem = html.Div(url_problems_alert(problems), id=ids.COMPARE_URL_MESSAGE)
    return html.Div(
        [
            html.H1("Compare two classes", className="h2"),
            html.P(
                f"As in article VI of the seed: the activations of a few {noun()}s of two "
                f"classes at one layer, with the points that all {noun()}s of one class share and "
                "the other class lacks circled in red, and the points both classes share marked "
                "with yellow diamonds. Below, "
                "the class means over the whole test split, the maps that separate the classes "
                "best, and the confusion matrix.",
                className="text-muted",
            ),
            url_problem,
            dbc.Row(
                [dbc.Col(_controls(view), xl=9), dbc.Col(_extra_digit(view), xl=3)],
                className="g-2",
            ),
            dbc.Alert(id=ids.COMPARE_MESSAGE, is_open=False, color="danger"),
            html.P(id=ids.COMPARE_LEGEND, className="small"),
            dcc.Store(id=ids.COMPARE_QUERY),
            colormap.keeper("compare", "cmap" in query),
            dcc.Store(id=ids.COMPARE_URL_SINK),
            dcc.Store(id=ids.COMPARE_SHOWN),
            dcc.Store(id=ids.COMPARE_DRAWN_A, data=_codes(view.da)),
            dcc.Store(id=ids.COMPARE_DRAWN_B, data=_codes(view.db)),
            dcc.Loading(
                dbc.Row(
                    [
                        dbc.Col(html.Div(id=ids.COMPARE_PANEL_A), lg=6),
                        dbc.Col(html.Div(id=ids.COMPARE_PANEL_B), lg=6),
                    ]
                ),
                delay_show=400,
            ),
            html.H3("Over the whole test split", className="mt-4"),
            dbc.Row(
                [
                    dbc.Col(dcc.Graph(id=ids.COMPARE_DIFF, config=figures.GRAPH_CONFIG), lg=6),
                    dbc.Col(dcc.Graph(id=ids.COMPARE_RANKING, config=figures.GRAPH_CONFIG), lg=6),
                ]
            ),
            html.P(
                "Left: the difference of the two class means, map by map (raw values). Right: "
                "each map's (node's) mean activation for both classes; the number above the bars "
                "is the difference of the means over their pooled standard deviation, the "
                "ranking criterion (positive: stronger for A).",
                className="small text-muted",
            ),
            dbc.Row(
                dbc.Col(dcc.Graph(id=ids.COMPARE_TOP_MAPS, config=figures.GRAPH_CONFIG), lg=12)
            ),
            html.H3("Where the model confuses classes", className="mt-4"),
            dbc.Row(
                [
                    dbc.Col(
                        dcc.Graph(
                            id=ids.COMPARE_CONFUSION,
                            figure=render.confusion_figure(),
                            config=figures.GRAPH_CONFIG,
                        ),
                        lg=5,
                    ),
                    dbc.Col(
                        [
                            html.P(
                                "Click a cell of the matrix, or choose its classes here, to "
                                f"list its {noun()}s.",
                                className="small text-muted mb-0",
                            ),
                            _cell_choice(view),
                            html.Div(id=ids.COMPARE_CELL),
                        ],
                        lg=7,
                    ),
                ]
            ),
        ]
    )


def _cell_choice(view: CompareView) -> dbc.Row:
    """The confusion cell as two selects (true, predicted): the matrix without a mouse."""

    def select(id_: str, label: str, value: int) -> dbc.Col:
        options = [{"label": o["label"], "value": str(o["value"])} for o in _class_options()]
        return dbc.Col(
            [
                dbc.Label(label, html_for=id_, className="small mb-0"),
                dbc.Select(id=id_, options=options, value=str(value), size="sm"),
            ],
            width="auto",
        )

    return dbc.Row(
        [
            select(ids.COMPARE_CELL_TRUE, "true class", view.a),
            select(ids.COMPARE_CELL_PREDICTED, "predicted class", view.b),
        ],
        className="g-2 mb-2",
    )


def _codes(joined: str) -> list[str]:
    """A side's drawn digits (the view's checked `da` / `db`) as the store's list of codes."""
    return joined.split(DRAWN_SEPARATOR) if joined else []


def _extra_digit(view: CompareView) -> html.Div:
    """A digit picker on the test split or its canvas: a test digit joins its class's side
    (typed indices), a drawing the chosen side (its drawn digits)."""
    add = dbc.Button(
        f"add this {noun()} to the comparison",
        id=ids.COMPARE_PICKER_ADD,
        size="sm",
        color="primary",
        outline=True,
        className="w-100",
    )
    picker = DigitPicker(
        ids.COMPARE_PICKER,
        splits=("test",),
        sources=("dataset", "random", "misclassified", "draw"),
        title=f"One more {noun()} (test split or drawn)",
        explain_link=False,
    )
    done = html.Div(id=ids.COMPARE_ADDED, className="small text-success mt-1", role="status")
    return html.Div([picker, drawn.side_choice(), add, done], className="mb-3")
