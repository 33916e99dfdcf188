"""Activation explorer: any digit (dataset or upload), any layer, every map as one heatmap grid."""

# No `from __future__ import annotations` here: Dash can execute a page module outside
# `sys.modules` (it does unless the app is named after its package), and `dataclasses` then
# cannot resolve string annotations.

from dataclasses import asdict, dataclass, replace
from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from app import figures, ids
from app.services import check_layer, get_services
from app.urlsync import keep_address_in_step
from cnn_core import imaging
from cnn_core.anatomy import UnknownLayerError
from cnn_core.compare import default_pair
from cnn_core.preprocess import FIELD, UploadError, digit_from_list, digit_from_upload

dash.register_page(
    __name__,
    path="/activations",
    name="Activations",
    title="cnn-lens: activation explorer",
    order=1,
)

GRAPH_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
# small figures: only the PNG download button, so the mode bar does not cover their titles
SMALL_GRAPH_CONFIG = {
    **GRAPH_CONFIG,
    "modeBarButtons": [["toImage"]],
}
SPLITS = ("test", "train")
MAX_PER_ROW = 64
INPUT_COLORMAPS = ("gray", "jet")


class ViewError(ValueError):
    """A view parameter (from the URL or a control) that cannot be shown."""


@dataclass(frozen=True)
class View:
    """Everything the URL holds: which digit, which layer, how it is drawn.

    `layer` has no default here: it is the loaded model's first layer (`default_view`).
    """

    split: str = "test"
    index: int = 0
    layer: str = ""
    cmap: str = "jet"
    scaling: str = "seed"
    range: str = "layer"
    per_row: int = 8

    def query(self) -> str:
        """The URL query string of this view, e.g. `?split=test&index=312&...`."""
        return "?" + urlencode(asdict(self))


def default_view() -> View:
    """The view of an address without parameters: test image 0 at the model's first layer."""
    return View(layer=get_services().desc.names[0])


def whole_number(value: object, what: str) -> int:
    """`value` (int, integral float, or digits in a string) as an int, else `ViewError`."""
    if isinstance(value, bool):
        raise ViewError(f"{what} {value!r} is not a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdecimal() and len(value) < 12:
        return int(value.strip())
    raise ViewError(f"{what} {value!r} is not a whole number")


def check_split(split: object) -> str:
    """`split` if it is "test" or "train", else `ViewError`."""
    if split not in SPLITS:
        raise ViewError(f"unknown split {split!r}; choose test or train")
    return str(split)


def check_index(index: object, split: str) -> int:
    """An integer index of a digit in `split`, else `ViewError` saying the valid range."""
    n = len(get_services().data.labels(split))
    value = whole_number(index, "index")
    if not 0 <= value < n:
        raise ViewError(f"index {value} is outside the {split} split (0 to {n - 1})")
    return value


def check_per_row(per_row: object) -> int:
    """Maps per row as an int in 1..`MAX_PER_ROW`, else `ViewError`."""
    value = whole_number(per_row, "maps per row")
    if not 1 <= value <= MAX_PER_ROW:
        raise ViewError(f"maps per row must be between 1 and {MAX_PER_ROW}, got {value}")
    return value


def parse_view(query: dict[str, str]) -> tuple[View, list[str]]:
    """A `View` from URL query parameters: defaults for missing ones, messages for bad ones.

    Every bad parameter falls back to its default, and a message says what was wrong; unknown
    parameter names are ignored.
    """
    view, problems = default_view(), []
    checks = (
        ("split", check_split),
        ("layer", check_layer),
        ("cmap", imaging.check_colormap),
        ("scaling", lambda v: imaging.check_scaling(v)[0]),
        ("range", lambda v: imaging.check_scaling("seed", v)[1]),
        ("per_row", check_per_row),
    )
    for key, check in checks:
        if key in query:
            try:
                view = replace(view, **{key: check(query[key])})
            except (ViewError, UnknownLayerError, imaging.ImagingError) as err:
                problems.append(str(err))
    if "index" in query:
        try:
            view = replace(view, index=check_index(query["index"], view.split))
        except ViewError as err:
            problems.append(str(err))
    return view, problems


# --------------------------------------------------------------------------------------------
# The digit being shown
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Digit:
    """A digit ready to show: picture, standardized input, label when known, a description."""

    image: np.ndarray  # (H, W) uint8
    x_std: np.ndarray  # (1, H, W, C) float32 model input
    label: int | None
    description: str


def check_upload_fits() -> None:
    """`UploadError` unless the model takes what an upload becomes: a `(FIELD, FIELD)` grey
    MNIST-style digit."""
    shape = get_services().desc.input_shape
    if shape != (FIELD, FIELD, 1):
        raise UploadError(
            f"an upload becomes a {FIELD}x{FIELD} grey digit (MNIST style); this model takes "
            f"{shape[0]}x{shape[1]} images with {shape[2]} channel(s)"
        )


def dataset_source(split: str, index: int) -> dict:
    return {"kind": "dataset", "split": split, "index": index}


def load_digit(source: dict) -> Digit:
    """The digit a `ACT_SOURCE` store describes (validated: it came from the browser)."""
    services = get_services()
    if not isinstance(source, dict) or source.get("kind") not in ("dataset", "upload"):
        raise ViewError("no digit selected")
    if source["kind"] == "upload":
        check_upload_fits()
        image = digit_from_list(source.get("digit"))
        x_std = services.trained.standardize(image[None])
        name = str(source.get("name") or "upload")[:80]
        return Digit(image, x_std, None, f"uploaded: {name}")
    split = check_split(source.get("split"))
    index = check_index(source.get("index"), split)
    image = services.data.images(split)[index]
    label = int(services.data.labels(split)[index])
    x_std = services.x_std[split][index : index + 1]
    return Digit(image, x_std, label, f"{split} digit {index}")


def layer_options() -> list[dict]:
    shapes = get_services().acts.output_shapes()
    options = []
    for name in get_services().desc.names:
        shape = shapes[name]
        if len(shape) == 3:
            label = f"{name} · {shape[2]} maps of {shape[0]}×{shape[1]}"
        else:
            label = f"{name} · {shape[0]} nodes"
        options.append({"label": label, "value": name})
    return options


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


def _labelled(label: str, control, width: int | None = None) -> dbc.Col:
    return dbc.Col(
        [dbc.Label(label, className="small text-muted mb-0"), control],
        width=width or "auto",
        className="mb-2",
    )


def _digit_controls(view: View) -> dbc.Card:
    n_max = len(get_services().data.labels(view.split)) - 1
    desc = get_services().desc
    return dbc.Card(
        dbc.CardBody(
            [
                html.H6("Digit", className="card-title"),
                dbc.Row(
                    [
                        _labelled(
                            "split",
                            dbc.RadioItems(
                                id=ids.ACT_SPLIT,
                                options=[{"label": s, "value": s} for s in SPLITS],
                                value=view.split,
                                inline=True,
                            ),
                        ),
                        _labelled(
                            "index",
                            dbc.InputGroup(
                                [
                                    dbc.Button("◀", id=ids.ACT_PREV, outline=True, n_clicks=0),
                                    dbc.Input(
                                        id=ids.ACT_INDEX,
                                        type="number",
                                        value=view.index,
                                        min=0,
                                        max=n_max,
                                        step=1,
                                        debounce=True,
                                        style={"maxWidth": "7em"},
                                    ),
                                    dbc.Button("▶", id=ids.ACT_NEXT, outline=True, n_clicks=0),
                                ],
                                size="sm",
                            ),
                        ),
                    ],
                    className="g-2",
                ),
                dbc.Row(
                    [
                        _labelled(
                            "random digit of class",
                            dbc.InputGroup(
                                [
                                    dbc.Select(
                                        id=ids.ACT_CLASS,
                                        options=[
                                            {"label": name, "value": str(k)}
                                            for k, name in enumerate(desc.class_names)
                                        ],
                                        value=str(default_pair(desc.num_classes)[0]),
                                        style={"maxWidth": "5em"},
                                    ),
                                    dbc.Button("random", id=ids.ACT_RANDOM, n_clicks=0),
                                ],
                                size="sm",
                            ),
                        ),
                        _labelled(
                            "errors",
                            dbc.Button(
                                "next misclassified",
                                id=ids.ACT_MISCLASSIFIED,
                                n_clicks=0,
                                size="sm",
                                color="danger",
                                outline=True,
                            ),
                        ),
                    ],
                    className="g-2",
                ),
                dcc.Upload(
                    id=ids.ACT_UPLOAD,
                    children=html.Div(
                        ["Drop or ", html.A("choose a PNG/JPEG"), " of a handwritten digit"]
                    ),
                    accept="image/png,image/jpeg,image/*",
                    max_size=-1,  # checked on the server, with a clear message
                    multiple=False,
                    className="act-upload small text-center p-2 mt-1",
                    style={
                        "border": "1px dashed #adb5bd",
                        "borderRadius": "6px",
                        "cursor": "pointer",
                    },
                ),
            ]
        ),
        className="mb-2",
    )


def _view_controls(view: View) -> dbc.Card:
    """Layer, colours and layout: a compact bar above the grid."""

    def radio(id_, values, value):
        return dbc.RadioItems(
            id=id_, options=[{"label": v, "value": v} for v in values], value=value, inline=True
        )

    return dbc.Card(
        dbc.CardBody(
            [
                dbc.Row(
                    [
                        _labelled(
                            "layer",
                            dcc.Dropdown(
                                id=ids.ACT_LAYER,
                                options=layer_options(),
                                value=view.layer,
                                clearable=False,
                                searchable=False,
                                style={"minWidth": "17em"},
                            ),
                        ),
                        _labelled("colormap", radio(ids.ACT_CMAP, imaging.COLORMAPS, view.cmap)),
                    ],
                    className="g-3",
                ),
                dbc.Row(
                    [
                        _labelled(
                            "scaling", radio(ids.ACT_SCALING, imaging.SCALINGS, view.scaling)
                        ),
                        _labelled(
                            "colour range", radio(ids.ACT_RANGE, imaging.COLOR_RANGES, view.range)
                        ),
                        _labelled(
                            "maps per row",
                            dbc.Input(
                                id=ids.ACT_PER_ROW,
                                type="number",
                                value=view.per_row,
                                min=1,
                                max=MAX_PER_ROW,
                                step=1,
                                debounce=True,
                                size="sm",
                                style={"maxWidth": "5.5em"},
                            ),
                        ),
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


def layout(**query: str) -> html.Div:
    view, problems = parse_view(query)
    url_message = (
        dbc.Alert(
            [html.Strong("Some URL parameters were not understood: ")]
            + [html.Div(p) for p in problems]
            + [html.Div("Showing the defaults for those instead.", className="small")],
            color="warning",
            dismissable=True,
        )
        if problems
        else None
    )
    return html.Div(
        [
            html.H2("Activation explorer"),
            html.P(
                "Pick a digit and a layer and see what every map (or node) of that layer makes "
                "of it. Hover a cell for its map, position and value; click a map to enlarge it.",
                className="text-muted",
            ),
            html.Div(url_message, id=ids.ACT_URL_MESSAGE),
            html.Div(id=ids.ACT_MESSAGE),
            html.Div(id=ids.ACT_VIEW_MESSAGE),
            dcc.Store(id=ids.ACT_SOURCE, data=dataset_source(view.split, view.index)),
            dcc.Store(id=ids.ACT_SELECTED),
            dcc.Store(id=ids.ACT_QUERY),
            dcc.Store(id=ids.ACT_URL_SINK),
            dcc.Store(id=ids.ACT_UPLOAD_SINK),
            dcc.Download(id=ids.ACT_DOWNLOAD),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            _digit_controls(view),
                            dbc.Card(
                                dbc.CardBody(
                                    [
                                        html.Div(id=ids.ACT_SOURCE_INFO, className="small"),
                                        html.Div(id=ids.ACT_DIGIT_INFO, className="mb-1"),
                                        dcc.Graph(id=ids.ACT_DIGIT, config=SMALL_GRAPH_CONFIG),
                                        dcc.Graph(id=ids.ACT_PROBA, config=SMALL_GRAPH_CONFIG),
                                    ]
                                ),
                                className="mb-2",
                            ),
                        ],
                        lg=4,
                        xl=3,
                    ),
                    dbc.Col(
                        [
                            _view_controls(view),
                            dbc.Row(
                                [
                                    dbc.Col(html.Div(id=ids.ACT_GRID_INFO), className="pt-1"),
                                    dbc.Col(
                                        dbc.Button(
                                            "Download grid PNG",
                                            id=ids.ACT_DOWNLOAD_BUTTON,
                                            size="sm",
                                            outline=True,
                                            color="secondary",
                                        ),
                                        width="auto",
                                    ),
                                ],
                                className="mb-1",
                            ),
                            dbc.Row(
                                [
                                    dbc.Col(
                                        dcc.Loading(
                                            dcc.Graph(id=ids.ACT_GRID, config=GRAPH_CONFIG),
                                            delay_show=300,
                                        ),
                                        xl=7,
                                    ),
                                    dbc.Col(
                                        [
                                            html.Div(
                                                "Click a map (or node) in the grid to enlarge "
                                                "it with its values.",
                                                id=ids.ACT_DETAIL_HINT,
                                                className="small text-muted pt-1",
                                            ),
                                            dcc.Graph(
                                                id=ids.ACT_DETAIL,
                                                config=SMALL_GRAPH_CONFIG,
                                                style={"display": "none"},
                                            ),
                                        ],
                                        xl=5,
                                    ),
                                ]
                            ),
                        ],
                        lg=8,
                        xl=9,
                    ),
                ]
            ),
        ]
    )


# --------------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------------


def _alert(text: str, color: str = "warning") -> dbc.Alert:
    return dbc.Alert(text, color=color, dismissable=True, className="py-2")


@callback(
    Output(ids.ACT_INDEX, "value"),
    Output(ids.ACT_INDEX, "max"),
    Output(ids.ACT_SOURCE, "data"),
    Output(ids.ACT_MESSAGE, "children"),
    Output(ids.ACT_UPLOAD, "contents"),
    Input(ids.ACT_SPLIT, "value"),
    Input(ids.ACT_INDEX, "value"),
    Input(ids.ACT_PREV, "n_clicks"),
    Input(ids.ACT_NEXT, "n_clicks"),
    Input(ids.ACT_RANDOM, "n_clicks"),
    Input(ids.ACT_MISCLASSIFIED, "n_clicks"),
    Input(ids.ACT_UPLOAD, "contents"),
    State(ids.ACT_CLASS, "value"),
    State(ids.ACT_UPLOAD, "filename"),
    State(ids.ACT_SOURCE, "data"),
    prevent_initial_call=True,
)
def choose_digit(split, index, _prev, _next, _random, _miss, contents, klass, filename, source):
    """Every way of picking a digit ends here: it sets the index and the digit source.

    The upload's contents are cleared once read, so choosing the same file again works.
    """
    trigger = ctx.triggered_id
    result = pick_digit(trigger, split, index, contents, klass, filename, source)
    return *result, (None if trigger == ids.ACT_UPLOAD and contents else no_update)


def pick_digit(trigger, split, index, contents, klass, filename, source) -> tuple:
    """`(index, index max, digit source, message)` after the control `trigger` changed.

    Bad input (an index out of range, a broken upload) leaves the view as it was and says why.
    """
    try:
        if trigger == ids.ACT_UPLOAD:
            if not contents:
                return no_update, no_update, no_update, no_update
            check_upload_fits()
            digit = digit_from_upload(contents)
            name = str(filename or "upload")[:80]
            upload = {"kind": "upload", "digit": digit.tolist(), "name": name}
            return no_update, no_update, upload, None
        split = check_split(split)
        n = len(get_services().data.labels(split))
        if trigger == ids.ACT_SPLIT:
            # the same index in the other split, clamped to its size (train has more digits)
            try:
                value = min(check_index(index, "train" if split == "test" else "test"), n - 1)
            except ViewError:
                value = 0
        elif trigger == ids.ACT_INDEX:
            if index is None:
                raise ViewError(f"enter a whole number from 0 to {n - 1}")
            value = check_index(index, split)
        else:
            value = step_digit(trigger, split, index, klass, source)
        return value, n - 1, dataset_source(split, value), None
    except (ViewError, UploadError) as err:
        what = "cannot use this file" if trigger == ids.ACT_UPLOAD else "cannot show this digit"
        return no_update, no_update, no_update, _alert(f"{what}: {err}")


def step_digit(trigger: str, split: str, index: object, klass: object, source: object) -> int:
    """The next index after a previous/next/random/misclassified button press."""
    services = get_services()
    n = len(services.data.labels(split))
    try:
        current = check_index(index, split)
    except ViewError:
        current = source.get("index", 0) if isinstance(source, dict) else 0
        current = current if isinstance(current, int) and 0 <= current < n else 0
    if trigger == ids.ACT_PREV:
        return (current - 1) % n
    if trigger == ids.ACT_NEXT:
        return (current + 1) % n
    if trigger == ids.ACT_RANDOM:
        n_classes = services.desc.num_classes
        try:
            k = int(str(klass))
        except ValueError:
            raise ViewError(f"class {klass!r} is not a class 0-{n_classes - 1}") from None
        if not 0 <= k < n_classes:
            raise ViewError(f"class {k} is not a class 0-{n_classes - 1}")
        candidates = np.flatnonzero(services.data.labels(split) == k)
        candidates = candidates[candidates != current]
        if len(candidates) == 0:
            raise ViewError(f"no other digit of class {k} in the {split} split")
        return int(np.random.default_rng().choice(candidates))
    if trigger == ids.ACT_MISCLASSIFIED:
        wrong = np.flatnonzero(services.predicted(split) != services.data.labels(split))
        if len(wrong) == 0:
            raise ViewError(f"the model classifies every {split} digit correctly")
        after = wrong[wrong > current]
        return int(after[0] if len(after) else wrong[0])  # wrap around
    raise ViewError(f"unexpected trigger {trigger!r}")


def _digit_info(digit: Digit, proba: np.ndarray) -> list:
    predicted = int(proba.argmax())
    badges = []
    if digit.label is not None:
        badges.append(dbc.Badge(f"true {digit.label}", color="secondary", className="me-1"))
    right = digit.label is None or digit.label == predicted
    badges.append(
        dbc.Badge(
            f"predicted {predicted} ({proba[predicted]:.1%})",
            color="success" if right else "danger",
            className="me-1",
        )
    )
    if not right:
        badges.append(html.Span("misclassified", className="small text-danger"))
    return badges


def _grid_info(layer: str, values: np.ndarray, view: View) -> list:
    layout = imaging.layout_for(values, view.per_row)
    if np.ndim(values) == 1:
        what = "nodes"
        shape = f"as {layout.rows}×{layout.cols}"
    else:
        what = "maps"
        shape = f"of {layout.cell_h}×{layout.cell_w}, {layout.cols} per row"
    return [
        html.Strong(layer),
        ": ",
        html.Span(str(layout.n_cells), id=ids.ACT_CELL_COUNT),
        f" {what} {shape}",
    ]


def current_view(
    source: dict, layer, cmap, scaling, color_range, per_row, last_split=None, last_index=None
) -> View:
    """Validate the controls into a `View` (raises `ViewError`/`UnknownLayerError`/...).

    While an upload is shown, the URL keeps the dataset digit of the split and index controls
    (`last_split`, `last_index`), which is what the page returns to.
    """
    if isinstance(source, dict) and source.get("kind") == "dataset":
        split = check_split(source.get("split"))
        index = check_index(source.get("index"), split)
    else:
        try:
            split = check_split(last_split)
            index = check_index(last_index, split)
        except ViewError:
            split, index = View.split, View.index
    scaling, color_range = imaging.check_scaling(scaling, color_range)
    return View(
        split=split,
        index=index,
        layer=check_layer(layer),
        cmap=imaging.check_colormap(cmap),
        scaling=scaling,
        range=color_range,
        per_row=check_per_row(per_row),
    )


VIEW_ERRORS = (ViewError, UploadError, UnknownLayerError, imaging.ImagingError)


@callback(
    Output(ids.ACT_GRID, "figure"),
    Output(ids.ACT_GRID_INFO, "children"),
    Output(ids.ACT_DIGIT, "figure"),
    Output(ids.ACT_PROBA, "figure"),
    Output(ids.ACT_DIGIT_INFO, "children"),
    Output(ids.ACT_SOURCE_INFO, "children"),
    Output(ids.ACT_QUERY, "data"),
    Output(ids.ACT_VIEW_MESSAGE, "children"),
    Input(ids.ACT_SOURCE, "data"),
    Input(ids.ACT_LAYER, "value"),
    Input(ids.ACT_CMAP, "value"),
    Input(ids.ACT_SCALING, "value"),
    Input(ids.ACT_RANGE, "value"),
    Input(ids.ACT_PER_ROW, "value"),
    Input(ids.ACT_INPUT_CMAP, "value"),
    Input(ids.ACT_SELECTED, "data"),
    State(ids.ACT_SPLIT, "value"),
    State(ids.ACT_INDEX, "value"),
)
def render(
    source,
    layer,
    cmap,
    scaling,
    color_range,
    per_row,
    input_cmap,
    selected=None,
    last_split=None,
    last_index=None,
):
    """Draw the digit, its probabilities and the chosen layer's grid; keep the URL in step."""
    try:
        view = current_view(
            source, layer, cmap, scaling, color_range, per_row, last_split, last_index
        )
        if input_cmap not in INPUT_COLORMAPS:
            raise ViewError(f"unknown input colormap {input_cmap!r}")
        digit = load_digit(source)
    except VIEW_ERRORS as err:
        return *(no_update,) * 7, _alert(f"cannot draw this view: {err}")
    services = get_services()
    desc = services.desc
    activations = services.acts.activations(digit.x_std)
    values = activations[view.layer][0]
    # the logits layer shows what the model outputs: probabilities, unless it has no softmax
    proba = (
        services.acts.predict_proba(digit.x_std)[0]
        if desc.output_is_logits
        else activations[desc.logits_layer][0]
    )
    grid = figures.activation_grid_figure(
        values,
        per_row=view.per_row,
        colormap=view.cmap,
        scaling=view.scaling,
        color_range=view.range,
        title=f"{view.layer} · {digit.description}",
        cell_name="class" if view.layer == desc.logits_layer else None,
        highlight=selected_cell(selected, view.layer),
    )
    image = figures.digit_figure(digit.image, colormap=input_cmap, title="what the model sees")
    bars = figures.probabilities_figure(proba, true_label=digit.label, title="probabilities")
    source_info = [html.Strong(digit.description)]
    if digit.label is None:
        source_info.append(
            html.Span(" (pick a dataset digit to leave the upload)", className="text-muted")
        )
    return (
        grid,
        _grid_info(view.layer, values, view),
        image,
        bars,
        _digit_info(digit, proba),
        source_info,
        view.query(),
        None,
    )


@callback(Output(ids.ACT_PER_ROW, "disabled"), Input(ids.ACT_LAYER, "value"))
def per_row_only_for_maps(layer):
    """Node layers have a fixed layout (100 -> 10x10, 10 -> a row): "maps per row" is off."""
    return layer in get_services().desc.node_layers


keep_address_in_step(ids.ACT_QUERY, ids.ACT_URL_SINK, "/activations")


# A file input fires no change event when the same file is chosen again: empty it after each
# upload (its contents are cleared on the server side too), so re-uploading a file works.
clientside_callback(
    f"""
    function(contents) {{
        var input = document.querySelector("#{ids.ACT_UPLOAD} input[type=file]");
        if (input) {{ input.value = ""; }}
        return null;
    }}
    """,
    Output(ids.ACT_UPLOAD_SINK, "data"),
    Input(ids.ACT_UPLOAD, "contents"),
    prevent_initial_call=True,
)


def selected_cell(selected: object, layer: str) -> int | None:
    """The clicked cell of `layer` from the `ACT_SELECTED` store, or None (validated)."""
    if isinstance(selected, dict) and selected.get("layer") == layer:
        cell = selected.get("cell")
        if isinstance(cell, int) and not isinstance(cell, bool) and cell >= 0:
            return cell
    return None


def clicked_cell(click: object, values: np.ndarray, per_row: int) -> int | None:
    """The map (node) index under a grid click, from its mosaic coordinates, or None."""
    try:
        point = click["points"][0]
        x, y = round(float(point["x"])), round(float(point["y"]))
    except (KeyError, IndexError, TypeError, ValueError, OverflowError):
        return None
    layout = imaging.layout_for(values, per_row)
    if not (0 <= x < layout.width and 0 <= y < layout.height):
        return None
    cell = (y // layout.cell_h) * layout.cols + x // layout.cell_w
    return cell if cell < layout.n_cells else None


@callback(
    Output(ids.ACT_SELECTED, "data"),
    Input(ids.ACT_GRID, "clickData"),
    State(ids.ACT_SOURCE, "data"),
    State(ids.ACT_LAYER, "value"),
    State(ids.ACT_PER_ROW, "value"),
    prevent_initial_call=True,
)
def select_cell(click, source, layer, per_row):
    """Remember which map of which layer was clicked."""
    try:
        layer = check_layer(layer)
        per_row = check_per_row(per_row)
        shape = get_services().acts.output_shapes()[layer]
    except (ViewError, UnknownLayerError):
        return no_update
    cell = clicked_cell(click, np.zeros(shape, np.float32), per_row)
    if cell is None:
        return no_update
    return {"layer": layer, "cell": cell}


@callback(
    Output(ids.ACT_DETAIL, "figure"),
    Output(ids.ACT_DETAIL, "style"),
    Output(ids.ACT_DETAIL_HINT, "children"),
    Input(ids.ACT_SELECTED, "data"),
    Input(ids.ACT_SOURCE, "data"),
    Input(ids.ACT_LAYER, "value"),
    Input(ids.ACT_CMAP, "value"),
    Input(ids.ACT_SCALING, "value"),
    Input(ids.ACT_RANGE, "value"),
)
def enlarge(selected, source, layer, cmap, scaling, color_range):
    """The clicked map enlarged, coloured as in the grid, with its values written in."""
    hint = "Click a map (or node) in the grid to enlarge it with its values."
    hidden = {"display": "none"}
    try:
        layer = check_layer(layer)
        cmap = imaging.check_colormap(cmap)
        scaling, color_range = imaging.check_scaling(scaling, color_range)
        if not isinstance(selected, dict) or selected.get("layer") != layer:
            return no_update, hidden, hint
        digit = load_digit(source)
    except VIEW_ERRORS:
        return no_update, hidden, hint
    values = get_services().acts.activations(digit.x_std)[layer][0]
    levels = imaging.display_levels(values, scaling, color_range)
    raw = imaging.as_maps(values)
    cell = selected.get("cell")
    if not isinstance(cell, int) or not 0 <= cell < raw.shape[2]:
        return no_update, hidden, hint
    if np.ndim(values) == 1:
        # a node alone says little: show the whole node grid with every value, node outlined
        layout = imaging.layout_for(values)
        raw2d = imaging.mosaic(raw, layout, fill=np.nan)
        lev2d = imaging.mosaic(levels, layout, fill=np.nan)
        title = f"{layer} · {digit.description}<br>node {cell} = {raw[0, 0, cell]:.4g}"
        fig = figures.map_detail_figure(
            raw2d, lev2d, colormap=cmap, title=title, show_values=layout.n_cells <= 100
        )
        row, col = divmod(cell, layout.cols)
        fig.add_shape(
            type="rect",
            x0=col - 0.5,
            x1=col + 0.5,
            y0=row - 0.5,
            y1=row + 0.5,
            line=dict(color="black", width=3),
        )
    else:
        m = raw[:, :, cell]
        stats = f"min {m.min():.3g}, max {m.max():.3g}, mean {m.mean():.3g}"
        if not m.any():
            stats = "all zero: this map does not respond to this digit"
        title = f"{layer} map {cell} · {digit.description}<br>{stats}"
        fig = figures.map_detail_figure(m, levels[:, :, cell], colormap=cmap, title=title)
    return fig, {"display": "block"}, None


@callback(
    Output(ids.ACT_DOWNLOAD, "data"),
    Output(ids.ACT_VIEW_MESSAGE, "children", allow_duplicate=True),
    Input(ids.ACT_DOWNLOAD_BUTTON, "n_clicks"),
    State(ids.ACT_SOURCE, "data"),
    State(ids.ACT_LAYER, "value"),
    State(ids.ACT_CMAP, "value"),
    State(ids.ACT_SCALING, "value"),
    State(ids.ACT_RANGE, "value"),
    State(ids.ACT_PER_ROW, "value"),
    prevent_initial_call=True,
)
def download_grid(n_clicks, source, layer, cmap, scaling, color_range, per_row):
    """The current grid as a full-resolution PNG made on the server (Pillow, no browser)."""
    if not n_clicks:
        return no_update, no_update
    try:
        view = current_view(source, layer, cmap, scaling, color_range, per_row)
        digit = load_digit(source)
    except VIEW_ERRORS as err:
        return no_update, _alert(f"cannot export this grid: {err}")
    values = get_services().acts.activations(digit.x_std)[view.layer][0]
    png = imaging.grid_png(
        values,
        per_row=view.per_row,
        colormap=view.cmap,
        scaling=view.scaling,
        color_range=view.range,
    )
    stem = digit.description.replace(":", "").replace(" ", "-")
    name = f"{view.layer}_{stem}_{view.cmap}_{view.scaling}.png"
    return dcc.send_bytes(png, name), no_update
