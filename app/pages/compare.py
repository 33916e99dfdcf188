"""Compare page: two classes side by side, common points circled, discriminative maps, confusion."""

import base64
import threading
from dataclasses import dataclass, field
from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import ALL, Input, Output, State, callback, ctx, dcc, html

from app import figures, ids
from app.services import check_layer, get_services
from app.urlsync import keep_address_in_step
from cnn_core import imaging
from cnn_core.anatomy import UnknownLayerError
from cnn_core.compare import (
    DEFAULT_THRESHOLD,
    EXAMPLE_KINDS,
    RED_RGB,
    YELLOW_RGB,
    CompareError,
    StatisticsCache,
    check_class,
    check_pair,
    common_points,
    comparison_png,
    confused_digits,
    confusion_matrix,
    default_pair,
    parse_indices,
    pick_examples,
    rank_units,
)

dash.register_page(
    __name__, path="/compare", name="Compare", title="cnn-lens: compare classes", order=3
)

SPLIT = "test"
#: Defaults of the view that do not depend on the model (classes and layer do: `View.default`).
DEFAULTS = {
    "n": 3,
    "kind": "clear",
    "kind_b": "clear",
    "threshold": DEFAULT_THRESHOLD,
    "cmap": "jet",
}
MAX_EXAMPLES = 10
TOP_UNITS = 12
TOP_MAPS_SHOWN = 8
CELL_LISTING_LIMIT = 48
RED = "#{:02x}{:02x}{:02x}".format(*RED_RGB)  # the same circles as in the PNG download
YELLOW = "#{:02x}{:02x}{:02x}".format(*YELLOW_RGB)
GRAPH_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
EXPLORER_PATH = "/activations"

# --------------------------------------------------------------------------------------------
# per-process statistics (depend only on the model and the test digits)
# --------------------------------------------------------------------------------------------

_stats_lock = threading.Lock()
_stats_cache: tuple[object, StatisticsCache] | None = None


def statistics_cache() -> StatisticsCache:
    """The process's class statistics of the test split, one entry per layer, built lazily.

    Kept per `Services` instance, so installing other services (tests) never mixes models.
    """
    global _stats_cache
    services = get_services()
    with _stats_lock:
        if _stats_cache is None or _stats_cache[0] is not services:
            cache = StatisticsCache(
                services.acts, services.x_std[SPLIT], services.data.labels(SPLIT)
            )
            _stats_cache = (services, cache)
        return _stats_cache[1]


# --------------------------------------------------------------------------------------------
# the view held in the URL
# --------------------------------------------------------------------------------------------


@dataclass
class View:
    """What the page shows, as read from the URL (invalid values replaced by defaults).

    Classes and layer depend on the loaded model: start from `View.default()`.
    """

    a: int = 0
    b: int = 1
    n: object = DEFAULTS["n"]
    kind: str = DEFAULTS["kind"]
    kind_b: str = DEFAULTS["kind_b"]
    layer: str = ""
    threshold: float = DEFAULTS["threshold"]
    cmap: str = DEFAULTS["cmap"]
    ia: str = ""
    ib: str = ""
    problems: list[str] = field(default_factory=list)

    @classmethod
    def default(cls) -> "View":
        """Classes 4 and 9 (the first two for a model with fewer than 10) at the model's last
        map layer (its last layer if it has none)."""
        desc = get_services().desc
        a, b = default_pair(desc.num_classes)
        return cls(a=a, b=b, layer=desc.last_map_layer or desc.logits_layer)

    @classmethod
    def from_query(cls, query: dict[str, str]) -> "View":
        view = cls.default()
        n_classes = num_classes()
        for key in ("a", "b"):
            if key in query:
                try:
                    setattr(view, key, check_class(query[key], n_classes))
                except CompareError as err:
                    view.problems.append(f"{key}: {err}")
        if "n" in query:
            try:
                view.n = int(query["n"])
            except ValueError:
                view.problems.append(f"n: {query['n']!r} is not a whole number")
        for key in ("kind", "kind_b"):
            if key in query:
                if query[key] in EXAMPLE_KINDS:
                    setattr(view, key, query[key])
                else:
                    view.problems.append(f"{key}: choose one of {', '.join(EXAMPLE_KINDS)}")
        if "layer" in query:
            try:
                view.layer = check_layer(query["layer"])
            except UnknownLayerError as err:
                view.problems.append(str(err))
        if "threshold" in query:
            try:
                value = float(query["threshold"])
                if not 0.0 <= value <= 1.0:
                    raise ValueError
                view.threshold = value
            except ValueError:
                view.problems.append(f"threshold: {query['threshold']!r} is not between 0 and 1")
        if "cmap" in query:
            try:
                view.cmap = imaging.check_colormap(query["cmap"])
            except imaging.UnknownColormapError as err:
                view.problems.append(str(err))
        view.ia = str(query.get("ia", ""))
        view.ib = str(query.get("ib", ""))
        return view


def num_classes() -> int:
    return get_services().desc.num_classes


def query_string(**values: object) -> str:
    """`?a=4&b=9&...` for the current view; empty typed indices are left out."""
    return "?" + urlencode({k: v for k, v in values.items() if v not in (None, "")})


def explorer_href(index: int, layer: str, cmap: str) -> str:
    """Link to one test digit in the activation explorer."""
    return EXPLORER_PATH + query_string(split=SPLIT, index=index, layer=layer, cmap=cmap)


# --------------------------------------------------------------------------------------------
# small pieces
# --------------------------------------------------------------------------------------------


def _digit_src(index: int) -> str:
    image = get_services().data.images(SPLIT)[index]
    png = imaging.digit_png(image, "gray", scale=3)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def probability_lines(proba: np.ndarray, a: int, b: int) -> list[str]:
    """The seed's reading of one prediction: `93.5% "4"`, `6.2% "9"` (+ the winner if neither)."""
    lines = [f'{proba[a]:.1%} "{a}"', f'{proba[b]:.1%} "{b}"']
    top = int(proba.argmax())
    if top not in (a, b):
        lines.append(f'predicted "{top}" ({proba[top]:.1%})')
    return lines


def probability_caption(proba: np.ndarray, a: int, b: int) -> str:
    """`probability_lines` on one line: `93.5% "4", 6.2% "9"`."""
    first, second, *rest = probability_lines(proba, a, b)
    return "; ".join([f"{first}, {second}", *rest])


def _unit_name(layer: str) -> str:
    return "map" if layer in get_services().desc.map_layers else "node"


def _per_row(layer: str) -> int:
    desc = get_services().desc
    return 16 if layer in desc.map_layers and desc.units(layer) > 64 else 8


def markers_for(only: np.ndarray, both: np.ndarray) -> list[figures.GridMarker]:
    """Red circles for `only`, yellow for `both`; masks `(H, W, C)` or `(units,)` bool."""
    out = []
    for mask, color, label in ((only, RED, "only this class"), (both, YELLOW, "both classes")):
        m = mask.reshape(1, 1, -1) if mask.ndim == 1 else mask
        for row, col, cell in zip(*np.nonzero(m), strict=True):
            out.append(figures.GridMarker(int(cell), int(row), int(col), color, label))
    return out


@dataclass
class Comparison:
    """Everything computed for one view of the page."""

    a: int
    b: int
    layer: str
    indices_a: list[int]
    indices_b: list[int]
    acts_a: np.ndarray
    acts_b: np.ndarray
    proba_a: np.ndarray
    proba_b: np.ndarray
    red_a: np.ndarray
    red_b: np.ndarray
    yellow: np.ndarray
    cutoff: float


def _side_indices(cls: int, other: int, n: object, kind: str, typed: str | None) -> list[int]:
    services = get_services()
    labels = services.data.labels(SPLIT)
    if typed and typed.strip():
        chosen = parse_indices(typed, len(labels))
        wrong = [i for i in chosen if labels[i] != cls]
        if wrong:
            listed = ", ".join(f"{i} is a {labels[i]}" for i in wrong[:5])
            raise CompareError(f"typed digits for class {cls} must be {cls}s: test digit {listed}")
        if len(chosen) > MAX_EXAMPLES:
            raise CompareError(f"at most {MAX_EXAMPLES} digits per class, got {len(chosen)}")
        return chosen
    if kind not in EXAMPLE_KINDS:
        raise CompareError(f"choose the kind of examples: {', '.join(EXAMPLE_KINDS)}")
    if n is None or isinstance(n, bool):
        raise CompareError(f"enter how many examples per class (1 to {MAX_EXAMPLES})")
    try:
        count = int(n)
        if count != float(n):
            raise ValueError
    except (TypeError, ValueError):
        raise CompareError(f"examples per class must be a whole number, got {n!r}") from None
    if not 1 <= count <= MAX_EXAMPLES:
        raise CompareError(f"examples per class must be 1 to {MAX_EXAMPLES}, got {count}")
    proba = services.proba[SPLIT]
    return pick_examples(labels, proba, cls, other, count, kind).tolist()  # type: ignore[arg-type]


def compute_comparison(
    a: object,
    b: object,
    n: object,
    kind_a: str,
    kind_b: str,
    typed_a: str | None,
    typed_b: str | None,
    layer: str,
    threshold: object,
) -> Comparison:
    """Validate the controls and compute the comparison (raises `CompareError` & co.)."""
    ca, cb = check_pair(a, b, num_classes())
    check_layer(layer)
    try:
        t = float(threshold)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise CompareError(
            f"threshold must be a number between 0 and 1, got {threshold!r}"
        ) from None
    if not 0.0 <= t <= 1.0:
        raise CompareError(f"threshold must be between 0 and 1, got {t}")
    idx_a = _side_indices(ca, cb, n, kind_a, typed_a)
    idx_b = _side_indices(cb, ca, n, kind_b, typed_b)
    services = get_services()
    x = services.x_std[SPLIT][idx_a + idx_b]
    acts = services.acts.layer(x, layer)
    acts_a, acts_b = acts[: len(idx_a)], acts[len(idx_a) :]
    red_a, yellow, cutoff = common_points(acts_a, acts_b, t)
    red_b = common_points(acts_b, acts_a, t).only_a
    proba = services.proba[SPLIT]
    return Comparison(
        ca,
        cb,
        layer,
        idx_a,
        idx_b,
        acts_a,
        acts_b,
        proba[idx_a],
        proba[idx_b],
        red_a,
        red_b,
        yellow,
        cutoff,
    )


def _side_panel(comp: Comparison, side: str, kind: str, typed: bool, cmap: str) -> list:
    cls = comp.a if side == "a" else comp.b
    other = comp.b if side == "a" else comp.a
    indices = comp.indices_a if side == "a" else comp.indices_b
    acts = comp.acts_a if side == "a" else comp.acts_b
    probas = comp.proba_a if side == "a" else comp.proba_b
    red = comp.red_a if side == "a" else comp.red_b
    markers = markers_for(red, comp.yellow)
    how = "typed digits" if typed else f"{kind} examples"
    header = html.H4(
        [f'Class "{cls}" ', html.Small(f"({how})", className="text-muted")],
        className="mt-2",
    )
    rows = [header]
    for pos, (index, values, proba) in enumerate(zip(indices, acts, probas, strict=True)):
        caption = html.Div(
            [
                html.Img(
                    src=_digit_src(index),
                    className="compare-digit border",
                    width=84,
                    height=84,
                    alt=f"test digit {index}",
                ),
                html.Div(
                    html.A(
                        f"test #{index}",
                        href=explorer_href(index, comp.layer, cmap),
                        title="open in the activation explorer",
                    ),
                    className="small",
                ),
                html.Div(
                    [html.Div(line) for line in probability_lines(proba, comp.a, comp.b)],
                    className="small compare-proba",
                ),
            ],
            style={"width": "130px"},
            className="text-center",
        )
        fig = figures.activation_grid_figure(
            values,
            per_row=_per_row(comp.layer),
            colormap=cmap,
            markers=markers,
            title=f'{comp.layer}, test #{index} ("{cls}")',
        )
        graph = dcc.Graph(
            id={"type": "compare-grid", "side": side, "pos": pos},
            figure=fig,
            config={
                **GRAPH_CONFIG,
                "toImageButtonOptions": {
                    "format": "png",
                    "scale": 2,
                    "filename": f"compare_{cls}_vs_{other}_{index}",
                },
            },
            className=f"compare-grid compare-grid-{side}",
        )
        rows.append(
            html.Div(
                [caption, html.Div(graph, style={"flex": "1", "minWidth": 0})],
                className="d-flex align-items-start gap-2 mb-2",
            )
        )
    return rows


def _legend(comp: Comparison) -> list:
    n_red_a, n_red_b, n_yellow = (int(m.sum()) for m in (comp.red_a, comp.red_b, comp.yellow))
    what = "points" if _unit_name(comp.layer) == "map" else "nodes"
    return [
        html.Span("● ", style={"color": RED}),
        f'red {what}: active in every "{comp.a}" and in no "{comp.b}" on the left ({n_red_a}), '
        f"and the other way round on the right ({n_red_b}); ",
        html.Span("● ", style={"color": YELLOW, "textShadow": "0 0 1px #555"}),
        f"yellow: active in every digit of both classes ({n_yellow}). ",
        "Active = above threshold × the layer's maximum over the compared digits "
        f"(cutoff {comp.cutoff:.3g}).",
    ]


# --------------------------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------------------------


def _class_options() -> list[dict]:
    return [{"label": name, "value": k} for k, name in enumerate(get_services().desc.class_names)]


def _controls(view: View) -> dbc.Card:
    layer_names = get_services().desc.names
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
                md=1,
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
                md=1,
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
                    dbc.Label("A examples"),
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
                    dbc.Label("B examples"),
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
                    dbc.Label("Colormap", html_for=ids.COMPARE_CMAP),
                    dcc.Dropdown(
                        id=ids.COMPARE_CMAP,
                        options=list(imaging.COLORMAPS),
                        value=view.cmap,
                        clearable=False,
                    ),
                ],
                md=1,
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
                    dbc.Label("Layer"),
                    dbc.RadioItems(
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
    return dbc.Card(dbc.CardBody([row1, row2]), className="mb-3")


def layout(**query: str) -> html.Div:
    view = View.from_query(query)
    url_problem = dbc.Alert(
        [
            "Some URL parameters were not understood and defaults are shown: ",
            "; ".join(view.problems),
        ],
        color="warning",
        id=ids.COMPARE_URL_MESSAGE,
        is_open=bool(view.problems),
        dismissable=True,
    )
    return html.Div(
        [
            html.H2("Compare two classes"),
            html.P(
                "As in article VI of the seed: the activations of a few digits of two classes "
                "at one layer, with the points that all digits of one class share and the other "
                "class lacks circled in red, and the points both classes share in yellow. Below, "
                "the class means over the whole test split, the maps that separate the classes "
                "best, and the confusion matrix.",
                className="text-muted",
            ),
            url_problem,
            _controls(view),
            dbc.Alert(id=ids.COMPARE_MESSAGE, is_open=False, color="danger"),
            html.P(id=ids.COMPARE_LEGEND, className="small"),
            dcc.Store(id=ids.COMPARE_QUERY),
            dcc.Store(id=ids.COMPARE_URL_SINK),
            dcc.Store(id=ids.COMPARE_SHOWN),
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
                    dbc.Col(dcc.Graph(id=ids.COMPARE_DIFF, config=GRAPH_CONFIG), lg=6),
                    dbc.Col(dcc.Graph(id=ids.COMPARE_RANKING, config=GRAPH_CONFIG), lg=6),
                ]
            ),
            html.P(
                "Left: the difference of the two class means, map by map (raw values). Right: "
                "each map's (node's) mean activation for both classes; the number above the bars "
                "is the difference of the means over their pooled standard deviation, the "
                "ranking criterion (positive: stronger for A).",
                className="small text-muted",
            ),
            dbc.Row(dbc.Col(dcc.Graph(id=ids.COMPARE_TOP_MAPS, config=GRAPH_CONFIG), lg=12)),
            html.H3("Where the model confuses classes", className="mt-4"),
            dbc.Row(
                [
                    dbc.Col(
                        dcc.Graph(
                            id=ids.COMPARE_CONFUSION,
                            figure=_confusion_figure(),
                            config=GRAPH_CONFIG,
                        ),
                        lg=5,
                    ),
                    dbc.Col(
                        [
                            html.P(
                                "Click a cell of the matrix to list its digits.",
                                className="small text-muted mb-0",
                            ),
                            html.Div(id=ids.COMPARE_CELL),
                        ],
                        lg=7,
                    ),
                ]
            ),
        ]
    )


def _confusion_figure():
    services = get_services()
    cm = confusion_matrix(
        services.data.labels(SPLIT), services.predicted(SPLIT), services.desc.num_classes
    )
    fig = figures.confusion_matrix_figure(cm, title="Confusion matrix (test split)")
    fig.update_layout(clickmode="event")
    return fig


# --------------------------------------------------------------------------------------------
# callbacks
# --------------------------------------------------------------------------------------------

_ERRORS = (CompareError, UnknownLayerError, imaging.ImagingError)


def _text(value: object) -> str:
    """A text box's value as text (a crafted request may send a number, a list or null)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


@callback(
    Output(ids.COMPARE_PANEL_A, "children"),
    Output(ids.COMPARE_PANEL_B, "children"),
    Output(ids.COMPARE_LEGEND, "children"),
    Output(ids.COMPARE_SHOWN, "data"),
    Output(ids.COMPARE_QUERY, "data"),
    Output(ids.COMPARE_MESSAGE, "children"),
    Output(ids.COMPARE_MESSAGE, "is_open"),
    Input(ids.COMPARE_CLASS_A, "value"),
    Input(ids.COMPARE_CLASS_B, "value"),
    Input(ids.COMPARE_N, "value"),
    Input(ids.COMPARE_KIND_A, "value"),
    Input(ids.COMPARE_KIND_B, "value"),
    Input(ids.COMPARE_INDICES_A, "value"),
    Input(ids.COMPARE_INDICES_B, "value"),
    Input(ids.COMPARE_LAYER, "value"),
    Input(ids.COMPARE_THRESHOLD, "value"),
    Input(ids.COMPARE_CMAP, "value"),
)
def update_comparison(a, b, n, kind_a, kind_b, typed_a, typed_b, layer, threshold, cmap):
    """Digits, grids and circles for the chosen classes; a message (and the old view) on error."""
    no = dash.no_update
    typed_a, typed_b = _text(typed_a), _text(typed_b)
    try:
        cmap = imaging.check_colormap(cmap)
        comp = compute_comparison(a, b, n, kind_a, kind_b, typed_a, typed_b, layer, threshold)
        panel_a = _side_panel(comp, "a", kind_a, bool(typed_a and typed_a.strip()), cmap)
        panel_b = _side_panel(comp, "b", kind_b, bool(typed_b and typed_b.strip()), cmap)
    except _ERRORS as err:
        return no, no, no, no, no, str(err), True
    search = query_string(
        a=comp.a,
        b=comp.b,
        n=n,
        kind=kind_a,
        kind_b=kind_b,
        layer=layer,
        threshold=f"{float(threshold):g}",
        cmap=cmap,
        ia=(typed_a or "").strip(),
        ib=(typed_b or "").strip(),
    )
    shown = {"a": comp.indices_a, "b": comp.indices_b}
    return panel_a, panel_b, _legend(comp), shown, search, None, False


@callback(
    Output(ids.COMPARE_DIFF, "figure"),
    Output(ids.COMPARE_RANKING, "figure"),
    Output(ids.COMPARE_TOP_MAPS, "figure"),
    Output(ids.COMPARE_TOP_MAPS, "style"),
    Input(ids.COMPARE_CLASS_A, "value"),
    Input(ids.COMPARE_CLASS_B, "value"),
    Input(ids.COMPARE_LAYER, "value"),
    Input(ids.COMPARE_CMAP, "value"),
)
def update_statistics(a, b, layer, cmap):
    """Class-mean difference and the best-separating maps over the whole test split."""
    no = dash.no_update
    try:
        ca, cb = check_pair(a, b, num_classes())
        cmap = imaging.check_colormap(cmap)
        stats = statistics_cache().get(layer)
        ranking = rank_units(stats, ca, cb)
    except _ERRORS:
        return no, no, no, no  # the comparison callback shows the message
    unit = _unit_name(layer)
    diff = figures.activation_grid_figure(
        stats.difference(ca, cb),
        per_row=_per_row(layer),
        colormap=cmap,
        scaling="raw",
        title=f'{layer}: mean "{ca}" minus mean "{cb}" (test split, {int(stats.count[ca])} and '
        f"{int(stats.count[cb])} digits)",
    )
    top = ranking.top(TOP_UNITS)
    bars = figures.unit_means_figure(
        top.units,
        top.mean_a,
        top.mean_b,
        top.score,
        class_a=ca,
        class_b=cb,
        unit_name=unit,
        title=f'The {TOP_UNITS} {unit}s that separate "{ca}" from "{cb}" best',
    )
    if unit != "map":
        return diff, bars, {}, {"display": "none"}
    best = ranking.units[:TOP_MAPS_SHOWN]
    stacked = np.concatenate(
        [stats.mean_map[ca][..., best], stats.mean_map[cb][..., best]], axis=-1
    )
    top_maps = figures.activation_grid_figure(
        stacked,
        per_row=len(best),
        colormap=cmap,
        scaling="raw",
        height=280,
        cell_name="panel",  # panels are not map numbers: the title names the maps
        title=f"Class-mean maps of the {len(best)} best-separating maps, left to right "
        f'{", ".join(str(u) for u in best)}: top row mean "{ca}", bottom row mean "{cb}"',
    )
    return diff, bars, top_maps, {}


keep_address_in_step(ids.COMPARE_QUERY, ids.COMPARE_URL_SINK, "/compare")


@callback(
    Output(ids.COMPARE_CELL, "children"),
    Output(ids.COMPARE_CONFUSION, "figure"),
    Input(ids.COMPARE_CONFUSION, "clickData"),
    Input(ids.COMPARE_CLASS_A, "value"),
    Input(ids.COMPARE_CLASS_B, "value"),
    Input(ids.COMPARE_LAYER, "value"),
    Input(ids.COMPARE_CMAP, "value"),
)
def list_cell(click, a, b, layer, cmap):
    """The digits of the clicked confusion-matrix cell (by default: true A, predicted B)."""
    n = num_classes()
    try:
        if isinstance(click, dict) and click.get("points"):
            point = click["points"][0]
            true_class, predicted = check_class(point["y"], n), check_class(point["x"], n)
        else:
            true_class, predicted = check_class(a, n), check_class(b, n)
        a, b = check_class(a, n), check_class(b, n)
        layer = check_layer(layer)
        cmap = imaging.check_colormap(cmap)
    except (*_ERRORS, KeyError, TypeError, IndexError) as err:
        return dbc.Alert(f"cannot list this cell: {err}", color="warning"), dash.no_update
    return _cell_listing(true_class, predicted, a, b, layer, cmap), _cell_outline(
        true_class, predicted
    )


def _cell_outline(true_class: int, predicted: int) -> dash.Patch:
    """Outline the listed cell on the confusion matrix (a patch: the heatmap is not resent)."""
    patch = dash.Patch()
    patch["layout"]["shapes"] = [
        dict(
            type="rect",
            xref="x",
            yref="y",
            x0=predicted - 0.5,
            x1=predicted + 0.5,
            y0=true_class - 0.5,
            y1=true_class + 0.5,
            line=dict(color="#d62728", width=3),
        )
    ]
    return patch


def _cell_listing(true_class: int, predicted: int, a, b, layer: str, cmap: str) -> list:
    services = get_services()
    labels, proba = services.data.labels(SPLIT), services.proba[SPLIT]
    cell = confused_digits(labels, proba, true_class, predicted)
    what = (
        f'{len(cell)} "{true_class}"s classified correctly'
        if true_class == predicted
        else f'{len(cell)} "{true_class}"s classified as "{predicted}"'
    )
    order = "least confident first" if true_class == predicted else "most confident first"
    header = [
        html.H5(f"True {true_class}, predicted {predicted}: {what}", className="mt-2"),
        html.P(
            f"{order}. Click a digit to open it in the activation explorer; "
            "+ add puts it into the comparison (as typed indices).",
            className="small text-muted",
        ),
    ]
    if true_class != predicted and {true_class, predicted} != {a, b}:
        header.append(
            dbc.Button(
                f'compare "{true_class}" with "{predicted}"',
                id={"type": ids.COMPARE_PAIR, "a": true_class, "b": predicted},
                size="sm",
                color="primary",
                outline=True,
                className="mb-2",
            )
        )
    if len(cell) == 0:
        return [*header, html.P("No digits in this cell.", className="compare-cell-empty")]
    tiles = []
    for index in cell[:CELL_LISTING_LIMIT].tolist():
        p = proba[index]
        addable = true_class in (a, b)
        tiles.append(
            html.Div(
                [
                    html.A(
                        html.Img(
                            src=_digit_src(index),
                            width=56,
                            height=56,
                            alt=f"test digit {index}",
                            className="border",
                        ),
                        href=explorer_href(index, layer, cmap),
                        title=f"test #{index}: open in the activation explorer",
                        className="compare-cell-digit",
                    ),
                    html.Div(f"#{index}", className="small"),
                    html.Div(f'{p[predicted]:.0%} "{predicted}"', className="small text-muted"),
                    dbc.Button(
                        "+ add",
                        id={"type": ids.COMPARE_ADD, "index": index},
                        size="sm",
                        color="primary",
                        outline=True,
                        className="py-0 px-1 compare-add",
                        disabled=not addable,
                        title="add to the comparison"
                        if addable
                        else f'a "{true_class}": choose class {true_class} as A or B to add it',
                    ),
                ],
                className="text-center",
                style={"width": "72px"},
            )
        )
    more = []
    if len(cell) > CELL_LISTING_LIMIT:
        more = [html.P(f"showing {CELL_LISTING_LIMIT} of {len(cell)}", className="small")]
    return [*header, html.Div(tiles, className="d-flex flex-wrap gap-1"), *more]


@callback(
    Output(ids.COMPARE_INDICES_A, "value"),
    Output(ids.COMPARE_INDICES_B, "value"),
    Output(ids.COMPARE_MESSAGE, "children", allow_duplicate=True),
    Output(ids.COMPARE_MESSAGE, "is_open", allow_duplicate=True),
    Input({"type": ids.COMPARE_ADD, "index": ALL}, "n_clicks"),
    State(ids.COMPARE_CLASS_A, "value"),
    State(ids.COMPARE_CLASS_B, "value"),
    State(ids.COMPARE_INDICES_A, "value"),
    State(ids.COMPARE_INDICES_B, "value"),
    State(ids.COMPARE_SHOWN, "data"),
    prevent_initial_call=True,
)
def add_digit(clicks, a, b, typed_a, typed_b, shown):
    """Add a clicked digit to its class's side, as typed indices (the shown ones kept)."""
    no = dash.no_update
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not isinstance(clicks, list) or not any(clicks):
        return no, no, no, no  # the listing was re-rendered, nothing was clicked (or forged)
    index = trigger.get("index")
    labels = get_services().data.labels(SPLIT)
    if not isinstance(index, int) or not 0 <= index < len(labels):
        return no, no, f"unknown test digit {index!r}", True
    label = int(labels[index])
    if label not in (a, b):
        return no, no, f'test digit {index} is a "{label}"; choose class {label} first', True
    side = "a" if label == a else "b"
    typed = _text(typed_a if side == "a" else typed_b)
    try:
        current = parse_indices(typed or "", len(labels))
    except CompareError:
        current = []
    if not current:
        current = list((shown or {}).get(side, []))
    if index in current:
        return no, no, f"test digit {index} is already in the comparison", True
    if len(current) >= MAX_EXAMPLES:
        return no, no, f"at most {MAX_EXAMPLES} digits per class: remove one first", True
    text = ", ".join(str(i) for i in [*current, index])
    return (text, no, None, False) if side == "a" else (no, text, None, False)


@callback(
    Output(ids.COMPARE_CLASS_A, "value"),
    Output(ids.COMPARE_CLASS_B, "value"),
    Output(ids.COMPARE_INDICES_A, "value", allow_duplicate=True),
    Output(ids.COMPARE_INDICES_B, "value", allow_duplicate=True),
    Input({"type": ids.COMPARE_PAIR, "a": ALL, "b": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def compare_pair(clicks):
    """Switch the comparison to the clicked confusion cell's two classes."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not isinstance(clicks, list) or not any(clicks):
        return (dash.no_update,) * 4
    try:
        a, b = check_pair(trigger.get("a"), trigger.get("b"), num_classes())
    except CompareError:
        return (dash.no_update,) * 4
    return a, b, "", ""


@callback(
    Output(ids.COMPARE_DOWNLOAD, "data"),
    Output(ids.COMPARE_MESSAGE, "children", allow_duplicate=True),
    Output(ids.COMPARE_MESSAGE, "is_open", allow_duplicate=True),
    Input(ids.COMPARE_DOWNLOAD_BUTTON, "n_clicks"),
    State(ids.COMPARE_CLASS_A, "value"),
    State(ids.COMPARE_CLASS_B, "value"),
    State(ids.COMPARE_N, "value"),
    State(ids.COMPARE_KIND_A, "value"),
    State(ids.COMPARE_KIND_B, "value"),
    State(ids.COMPARE_INDICES_A, "value"),
    State(ids.COMPARE_INDICES_B, "value"),
    State(ids.COMPARE_LAYER, "value"),
    State(ids.COMPARE_THRESHOLD, "value"),
    State(ids.COMPARE_CMAP, "value"),
    prevent_initial_call=True,
)
def download_png(_clicks, a, b, n, kind_a, kind_b, typed_a, typed_b, layer, threshold, cmap):
    """The comparison as one PNG: digits with probabilities, grids, red and yellow circles."""
    no = dash.no_update
    typed_a, typed_b = _text(typed_a), _text(typed_b)
    try:
        cmap = imaging.check_colormap(cmap)
        comp = compute_comparison(a, b, n, kind_a, kind_b, typed_a, typed_b, layer, threshold)
        images = get_services().data.images(SPLIT)
        png = comparison_png(
            images[comp.indices_a],
            images[comp.indices_b],
            comp.acts_a,
            comp.acts_b,
            red_a=comp.red_a,
            red_b=comp.red_b,
            both=comp.yellow,
            captions_a=[
                f"#{i}: {probability_caption(p, comp.a, comp.b)}"
                for i, p in zip(comp.indices_a, comp.proba_a, strict=True)
            ],
            captions_b=[
                f"#{i}: {probability_caption(p, comp.a, comp.b)}"
                for i, p in zip(comp.indices_b, comp.proba_b, strict=True)
            ],
            title=f'{comp.layer}: "{comp.a}" (left) vs "{comp.b}" (right), threshold '
            f"{float(threshold):g} of the layer's maximum (cutoff {comp.cutoff:.3g})\n"
            "red circles: active in every digit of this side and in none of the other side; "
            "yellow circles: active in every digit of both sides",
            per_row=_per_row(comp.layer),
            colormap=cmap,
        )
    except _ERRORS as err:
        return no, str(err), True
    name = f"compare_{comp.a}_vs_{comp.b}_{comp.layer}.png"
    return dcc.send_bytes(png, name), no, no
