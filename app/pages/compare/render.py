"""What the compare page draws: the two sides with their circles, the legend, the statistics,
the confusion matrix and the digits of one of its cells."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html

from app import figures, ids
from app.comparison import (
    SPLIT,
    Comparison,
    class_name,
    probability_caption,
    probability_lines,
)
from app.components.links import attribution_href, explorer_href
from app.components.pictures import digit_src
from app.digits import a_noun, noun
from app.services import get_services
from cnn_core.explain.compare import (
    RED_RGB,
    YELLOW_RGB,
    comparison_png,
    confused_digits,
    rank_units,
)

TOP_UNITS = 12
TOP_MAPS_SHOWN = 8
CELL_LISTING_LIMIT = 48
RED = "#{:02x}{:02x}{:02x}".format(*RED_RGB)  # the same circles as in the PNG download
YELLOW = "#{:02x}{:02x}{:02x}".format(*YELLOW_RGB)


def unit_name(layer: str) -> str:
    return "map" if layer in get_services().desc.map_layers else "node"


def per_row(layer: str) -> int:
    desc = get_services().desc
    return 16 if layer in desc.map_layers and desc.units(layer) > 64 else 8


def test_digit_src(index: int, scale: int = 3) -> str:
    return digit_src(get_services().data.images(SPLIT)[index], scale=scale)


def markers_for(only: np.ndarray, both: np.ndarray) -> list[figures.GridMarker]:
    """Red circles for `only`, yellow diamonds for `both` (shape tells them apart without
    colour); masks `(H, W, C)` or `(units,)` bool."""
    out = []
    kinds = (
        (only, RED, "only this class", "circle-open"),
        (both, YELLOW, "both classes", "diamond-open"),
    )
    for mask, color, label, symbol in kinds:
        m = mask.reshape(1, 1, -1) if mask.ndim == 1 else mask
        for row, col, cell in zip(*np.nonzero(m), strict=True):
            out.append(figures.GridMarker(int(cell), int(row), int(col), color, label, symbol))
    return out


def side_panel(comp: Comparison, side: str, kind: str, cmap: str) -> list:
    """One side: each digit with its probabilities and its grid, circles on top."""
    cls, other = (comp.a, comp.b) if side == "a" else (comp.b, comp.a)
    indices, acts, probas, red, typed = (
        (comp.indices_a, comp.acts_a, comp.proba_a, comp.red_a, comp.typed_a)
        if side == "a"
        else (comp.indices_b, comp.acts_b, comp.proba_b, comp.red_b, comp.typed_b)
    )
    markers = markers_for(red, comp.yellow)
    name, other_name = class_name(cls), class_name(other)
    how = f"typed {noun()}s" if typed else f"{kind} examples"
    rows: list = [
        html.H4(
            [f'Class "{name}" ', html.Small(f"({how})", className="text-muted")], className="mt-2"
        )
    ]
    for pos, (index, values, proba) in enumerate(zip(indices, acts, probas, strict=True)):
        caption = html.Div(
            [
                html.Img(
                    src=test_digit_src(index),
                    className="compare-digit border",
                    width=84,
                    height=84,
                    alt=f"test {noun()} {index}",
                ),
                html.Div(
                    html.A(
                        f"test #{index}",
                        href=explorer_href(index, SPLIT, comp.layer, cmap),
                        title="open in the activation explorer",
                    ),
                    className="small",
                ),
                html.Div(
                    html.A(
                        f"explain this {noun()}",
                        href=attribution_href(index, SPLIT, cls, other, cmap),
                        title=f'why "{name}" rather than "{other_name}": the attribution page',
                        className=ids.COMPARE_EXPLAIN,
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
        rows.append(
            example_row(
                caption, values, comp, cmap, markers,
                title=f'{comp.layer}, test #{index} ("{name}")',
                graph_id={"type": "compare-grid", "side": side, "pos": pos},
                filename=f"compare_{cls}_vs_{other}_{index}",
                side=side,
            )
        )  # fmt: skip
    return rows


def legend(comp: Comparison) -> list:
    n_red_a, n_red_b, n_yellow = (int(m.sum()) for m in (comp.red_a, comp.red_b, comp.yellow))
    name_a, name_b = class_name(comp.a), class_name(comp.b)
    what = "points" if unit_name(comp.layer) == "map" else "nodes"
    return [
        html.Span("○ ", style={"color": RED, "textShadow": "0 0 1px #000"}),
        f'red circles, {what} active in every "{name_a}" and in no "{name_b}" on the left '
        f"({n_red_a}), and the other way round on the right ({n_red_b}); ",
        html.Span("◇ ", style={"color": YELLOW, "textShadow": "0 0 1px #000"}),
        f"yellow diamonds, active in every {noun()} of both classes ({n_yellow}). ",
        f"Active = above threshold × the layer's maximum over the compared {noun()}s "
        f"(cutoff {comp.cutoff:.3g}).",
    ]


def statistics(stats: Any, ca: int, cb: int, layer: str, cmap: str) -> dict[str, Any]:
    """Class-mean difference, the best-separating units, their class-mean maps (map layers)."""
    ranking = rank_units(stats, ca, cb)
    unit = unit_name(layer)
    na, nb = class_name(ca), class_name(cb)
    diff = figures.wire_grid(
        stats.difference(ca, cb),
        per_row=per_row(layer),
        colormap=cmap,
        scaling="raw",
        title=f'{layer}: mean "{na}" minus mean "{nb}" (test split, {int(stats.count[ca])} and '
        f"{int(stats.count[cb])} {noun()}s)",
    )
    top = ranking.top(TOP_UNITS)
    bars = figures.unit_means_figure(
        top.units,
        top.mean_a,
        top.mean_b,
        top.score,
        class_a=na,
        class_b=nb,
        unit_name=unit,
        title=f'The {TOP_UNITS} {unit}s that separate "{na}" from "{nb}" best',
    )
    if unit != "map":
        return dict(diff=diff, ranking=bars, top_maps={}, top_maps_style={"display": "none"})
    best = ranking.units[:TOP_MAPS_SHOWN]
    stacked = np.concatenate(
        [stats.mean_map[ca][..., best], stats.mean_map[cb][..., best]], axis=-1
    )
    top_maps = figures.wire_grid(
        stacked,
        per_row=len(best),
        colormap=cmap,
        scaling="raw",
        height=280,
        cell_name="panel",  # panels are not map numbers: the title names the maps
        title=f"Class-mean maps of the {len(best)} best-separating maps, left to right "
        f'{", ".join(str(u) for u in best)}: top row mean "{na}", bottom row mean "{nb}"',
    )
    return dict(diff=diff, ranking=bars, top_maps=top_maps, top_maps_style={})


def confusion_figure() -> Any:
    cm = get_services().confusion
    fig = figures.confusion_matrix_figure(
        cm, title="Confusion matrix (test split)", class_names=get_services().desc.class_names
    )
    fig.update_layout(clickmode="event")
    return fig


def cell_outline(true_class: int, predicted: int) -> dash.Patch:
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


def cell_listing(true_class: int, predicted: int, a: int, b: int, layer: str, cmap: str) -> list:
    """The digits of one confusion cell: explorer links, "+ add" to the comparison."""
    services = get_services()
    labels, proba = services.data.labels(SPLIT), services.proba[SPLIT]
    cell = confused_digits(labels, proba, true_class, predicted)
    true_name, predicted_name = class_name(true_class), class_name(predicted)
    what = (
        f'{len(cell)} "{true_name}"s classified correctly'
        if true_class == predicted
        else f'{len(cell)} "{true_name}"s classified as "{predicted_name}"'
    )
    order = "least confident first" if true_class == predicted else "most confident first"
    header: list = [
        html.H5(f"True {true_name}, predicted {predicted_name}: {what}", className="mt-2"),
        html.P(
            f"{order}. Click {a_noun()} to open it in the activation explorer; "
            "+ add puts it into the comparison (as typed indices).",
            className="small text-muted",
        ),
    ]
    if true_class != predicted and {true_class, predicted} != {a, b}:
        header.append(
            dbc.Button(
                f'compare "{true_name}" with "{predicted_name}"',
                id={"type": ids.COMPARE_PAIR, "a": true_class, "b": predicted},
                size="sm",
                color="primary",
                outline=True,
                className="mb-2",
            )
        )
    if len(cell) == 0:
        return [*header, html.P(f"No {noun()}s in this cell.", className="compare-cell-empty")]
    addable = true_class in (a, b)
    tiles = [
        _tile(index, proba[index][predicted], predicted, true_class, addable, layer, cmap)
        for index in cell[:CELL_LISTING_LIMIT].tolist()
    ]
    more = []
    if len(cell) > CELL_LISTING_LIMIT:
        more = [html.P(f"showing {CELL_LISTING_LIMIT} of {len(cell)}", className="small")]
    return [*header, html.Div(tiles, className="d-flex flex-wrap gap-1"), *more]


def _tile(index, p, predicted, true_class, addable, layer, cmap) -> html.Div:
    return html.Div(
        [
            html.A(
                html.Img(
                    src=test_digit_src(index),
                    width=56,
                    height=56,
                    alt=f"test {noun()} {index}",
                    className="border",
                ),
                href=explorer_href(index, SPLIT, layer, cmap),
                title=f"test #{index}: open in the activation explorer",
                className="compare-cell-digit",
            ),
            html.Div(f"#{index}", className="small"),
            html.Div(f'{p:.0%} "{class_name(predicted)}"', className="small text-muted"),
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
                else f'a "{class_name(true_class)}": choose it as class A or B to add it',
            ),
        ],
        className="text-center",
        style={"width": "72px"},
    )


def comparison_picture(comp: Comparison, cmap: str) -> bytes:
    """The comparison as one PNG: digits (drawn ones too) with probabilities, grids, red and
    yellow circles."""
    (images_a, acts_a, proba_a, names_a), (images_b, acts_b, proba_b, names_b) = (
        comp.every_digit(side) for side in ("a", "b")
    )

    def captions(names, probas):
        return [
            f"{name}: {probability_caption(p, comp.a, comp.b)}"
            for name, p in zip(names, probas, strict=True)
        ]

    return comparison_png(
        images_a,
        images_b,
        acts_a,
        acts_b,
        red_a=comp.red_a,
        red_b=comp.red_b,
        both=comp.yellow,
        captions_a=captions(names_a, proba_a),
        captions_b=captions(names_b, proba_b),
        title=f'{comp.layer}: "{class_name(comp.a)}" (left) vs "{class_name(comp.b)}" (right), '
        f"threshold {comp.threshold:g} of the layer's maximum (cutoff {comp.cutoff:.3g})\n"
        f"red circles: active in every {noun()} of this side and in none of the other side; "
        f"yellow diamonds: active in every {noun()} of both sides",
        per_row=per_row(comp.layer),
        colormap=cmap,
    )


def example_row(
    caption, values, comp, cmap: str, markers, *, title: str, graph_id: dict, filename: str,
    side: str, row_class: str = "",
) -> html.Div:  # fmt: skip
    """One compared digit: its caption beside its activation grid (with the common points)."""
    fig = figures.wire_grid(
        values, per_row=per_row(comp.layer), colormap=cmap, markers=markers, title=title
    )
    graph = dcc.Graph(
        id=graph_id,
        figure=fig,
        config=figures.graph_config(filename=filename),
        className=f"compare-grid compare-grid-{side}",
    )
    return html.Div(
        [caption, html.Div(graph, style={"flex": "1", "minWidth": 0})],
        className=f"d-flex align-items-start gap-2 mb-2 {row_class}".rstrip(),
    )
