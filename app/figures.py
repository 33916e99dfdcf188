"""Plotly figures built from `cnn_core` arrays. One builder per kind of figure, shared by pages."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from _plotly_utils.basevalidators import is_homogeneous_array
from _plotly_utils.utils import (  # what go.Figure's own JSON uses
    is_skipped_key,
    to_typed_array_spec,
)

from app.components.pictures import png_src
from cnn_core import imaging

MARGIN = dict(l=40, r=10, t=40, b=40)


def fast_figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain trace and layout dicts without Plotly's per-property validation.

    For the figures drawn on every request (activation grids, class statistics): validation
    took 4-5x the rest of building them (12 ms of 14 for a 32-map grid). The dicts must be
    valid Plotly: `tests/app/test_figures.py` rebuilds each such figure with validation on.
    Layout keys whose value is None are left out (Plotly's own constructor ignores them too).
    """
    return _LeanFigure(data=data, layout=_set_only(layout), _validate=False)


def _set_only(layout: dict) -> dict:
    """`layout` without its top-level entries that are None (not set)."""
    return {key: value for key, value in layout.items() if value is not None}


class _LeanFigure(go.Figure):
    """A `go.Figure` whose JSON is made without `copy.deepcopy` of every trace and of the
    layout: Plotly's `to_dict` deep-copies both only so that turning arrays into typed arrays
    does not touch the figure; this copies the containers on the way and converts the arrays
    with the same rules (`convert_to_base64`), so the JSON is the same, in a third of the time.
    """

    def to_dict(self) -> dict[str, Any]:
        return {"data": [_sent(trace) for trace in self._data], "layout": _sent(self._layout)}


def _sent(value: Any) -> Any:
    """`value` with fresh dicts and lists, and NumPy arrays under dict keys as Plotly's typed
    arrays: what `deepcopy` then `_plotly_utils.utils.convert_to_base64` give."""
    if isinstance(value, dict):
        return {
            key: item
            if is_skipped_key(key)
            else to_typed_array_spec(item)
            if is_homogeneous_array(item)
            else _sent(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_sent(item) for item in value]
    return value


#: Every `dcc.Graph`'s config: no Plotly logo, the PNG button saves at twice the size.
GRAPH_CONFIG: dict = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def graph_config(
    *, filename: str | None = None, small: bool = False, mode_bar: bool = True
) -> dict:
    """A `dcc.Graph` config: `GRAPH_CONFIG`, the PNG's file name, and for small figures only
    the PNG button (so that the mode bar does not cover their titles) or no mode bar at all."""
    config = dict(GRAPH_CONFIG)
    if filename:
        png = GRAPH_CONFIG["toImageButtonOptions"]
        config["toImageButtonOptions"] = {**png, "filename": filename}
    if small:
        config["modeBarButtons"] = [["toImage"]]
    if not mode_bar:
        config["displayModeBar"] = False
    return config


def class_labels(n: int) -> list[str]:
    """Category labels of `n` classes on figure axes: their indices ("0", "1", ...), which is
    what a click on the figure gives back."""
    return [str(k) for k in range(n)]


def class_axis(n: int, class_names: Sequence[str] | None = None) -> dict:
    """A category axis of `n` classes whose values stay the indices (`class_labels`, what a
    click gives back) and whose tick labels are the class names ("red disc"), if given."""
    labels = class_labels(n)
    names = [str(name) for name in class_names] if class_names is not None else labels
    return dict(type="category", tickmode="array", tickvals=labels, ticktext=names, automargin=True)


def confusion_matrix_figure(
    cm: np.ndarray,
    title: str = "Confusion matrix (test split)",
    class_names: Sequence[str] | None = None,
) -> go.Figure:
    """Heatmap of a `(classes, classes)` int confusion matrix, rows = true class, counts
    written in cells. The axes' values are class indices (a click gives them back); their
    tick labels and the hover text are `class_names` when given.

    Colours are row-normalized (share of each true class), so errors stand out next to the
    large diagonal; hover shows both the count and the share.
    """
    cm = np.asarray(cm, dtype=np.int64)
    totals = np.maximum(cm.sum(axis=1, keepdims=True), 1)
    share = cm / totals
    labels = class_labels(len(cm))
    axis = class_axis(len(cm), class_names)
    names = axis["ticktext"]
    cells = [[f"true {t}, predicted {p}" for p in names] for t in names]
    fig = go.Figure(
        go.Heatmap(
            z=np.sqrt(share),  # sqrt spreads the small off-diagonal shares over more colours
            x=labels,
            y=labels,
            text=cm,
            texttemplate="%{text}",
            customdata=share * 100,
            hovertext=cells,
            hovertemplate="%{hovertext}: %{text} digits (%{customdata:.1f}%)<extra></extra>",
            colorscale="Blues",
            showscale=False,
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        title=title,
        margin=MARGIN,
        xaxis=dict(title="predicted class", side="bottom", **axis),
        yaxis=dict(title="true class", autorange="reversed", scaleanchor="x", **axis),
        plot_bgcolor="white",
    )
    return fig


def training_curves_figure(history: dict[str, Sequence[float]]) -> go.Figure:
    """Loss and accuracy per epoch, train and test, as two panels side by side."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    epochs = list(history["epoch"])
    colors = {"train": "#2c7be5", "test": "#f5803e"}
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for split, dash in (("train", "solid"), ("test", "dot")):
            key = metric if split == "train" else f"test_{metric}"
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=list(history[key]),
                    name=f"{split} split",
                    legendgroup=split,
                    showlegend=col == 1,
                    mode="lines+markers",
                    line=dict(dash=dash, color=colors[split]),
                    marker=dict(size=4),
                    hovertemplate=f"epoch %{{x}}: {split} {metric} %{{y:.4f}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title="Training curves", margin=MARGIN, legend=dict(orientation="h", y=-0.25))
    return fig


# --- Compare page (issue #4) -------------------------------------------------------------------

CLASS_A_COLOR = "#1f77b4"
CLASS_B_COLOR = "#ff7f0e"


def unit_means_figure(
    units: Sequence[int],
    mean_a: Sequence[float],
    mean_b: Sequence[float],
    score: Sequence[float],
    *,
    class_a: int | str,
    class_b: int | str,
    unit_name: str = "map",
    title: str | None = None,
) -> go.Figure:
    """Grouped bars: the mean activation of class A and of class B for each ranked map or node.

    Args:
        units: map/node indices, best separating first (drawn left to right).
        mean_a, mean_b: class means of each unit over the test split, same order.
        score: separation `(mean_a - mean_b) / pooled std` of each unit, same order.
        class_a, class_b: the two classes (their names, or indices).
        unit_name: "map" or "node", for labels.
        title: figure title.
    """
    labels = [f"{unit_name} {u}" for u in units]
    scores = np.asarray(score, dtype=np.float64)
    bars = [
        dict(
            type="bar",
            x=labels,
            y=np.asarray(means, dtype=np.float64),
            name=f'class "{cls}"',
            marker=dict(color=color),
            customdata=scores,
            hovertemplate=f'%{{x}}: mean %{{y:.3f}} for "{cls}"'
            "<br>separation %{customdata:+.2f}<extra></extra>",
        )
        for cls, means, color in (
            (class_a, mean_a, CLASS_A_COLOR),
            (class_b, mean_b, CLASS_B_COLOR),
        )
    ]
    tops = np.maximum(np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64))
    notes = [
        dict(x=label, y=float(top), text=f"{s:+.1f}", showarrow=False, yshift=10)
        for label, s, top in zip(labels, scores, tops, strict=True)
    ]
    # one call, not one add_annotation per unit (128 of them took 80 ms, each copying the layout)
    return fast_figure(
        bars,
        dict(
            title=title,
            barmode="group",
            margin=dict(MARGIN, t=80),
            xaxis=dict(type="category", tickangle=-45),
            yaxis=dict(
                title=dict(text="mean activation (test split)"),
                rangemode="tozero",
                gridcolor="#eee",
            ),
            legend=dict(orientation="h", y=1.02, x=0, xanchor="left", yanchor="bottom"),
            plot_bgcolor="white",
            annotations=notes,
        ),
    )


# --------------------------------------------------------------------------------------------
# Activation grids (issue #3): one builder for every page that draws a layer's maps or nodes.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridMarker:
    """An open shape drawn on top of one position of one cell of an activation grid, with a
    dark outline so that it stands out on every colormap.

    Attributes:
        cell: map (or node) index.
        row, col: position inside the map (0, 0 for node layers).
        color: any CSS colour, e.g. "red".
        label: shown on hover.
        symbol: a Plotly open symbol ("circle-open", "diamond-open"): two kinds of marker are
            told apart by shape, not by colour alone.
    """

    cell: int
    row: int
    col: int
    color: str
    label: str = ""
    symbol: str = "circle-open"


def plotly_colorscale(colormap: str, stops: int = 33) -> list[list]:
    """A Plotly colorscale sampled from `imaging.colormap_lut` (same colours as the PNGs)."""
    lut = imaging.colormap_lut(colormap)
    index = np.rint(np.linspace(0, 255, stops)).astype(int)
    return [
        [round(float(i) / 255, 4), f"rgb({r},{g},{b})"]
        for i, (r, g, b) in zip(index, lut[index].tolist(), strict=True)
    ]


def _colorbar(
    values: np.ndarray,
    scaling: str,
    color_range: str,
    nodes: bool,
    top: float,
    compact: bool = False,
) -> dict:
    """Colour-bar ticks that say what the colours mean in each scaling mode (z in 0..top).

    `compact` (a short figure, e.g. one row of 10 nodes): three ticks over the full height.
    """
    size = dict(len=1.0 if compact else 0.6, thickness=12)
    if color_range == "map" and not nodes:
        return dict(tickvals=[0, top], ticktext=["map min", "map max"], **size)
    if scaling == "seed":
        # seed scaling: mean -> 128, one standard deviation -> 64 levels, clipped to 0-255
        text = ["≤ −2σ (0)", "−1σ (64)", "mean (128)", "+1σ (192)", "≥ +2σ (255)"]
        ticks = np.linspace(0, 1, 5)
        if compact:
            text, ticks = text[::2], ticks[::2]
        return dict(tickvals=(ticks * top).tolist(), ticktext=text, **size)
    lo, hi = float(np.min(values)), float(np.max(values))
    ticks = np.linspace(0, 1, 3 if compact else 5)
    return dict(
        tickvals=(ticks * top).tolist(),
        ticktext=[f"{lo + t * (hi - lo):.3g}" for t in ticks],
        **size,
    )


def _separators(layout: imaging.GridLayout) -> list[dict]:
    """One path shape with the lines between maps (the seed's grid lines), not one per line."""
    parts = []
    for k in range(1, layout.cols):
        x = k * layout.cell_w - 0.5
        parts.append(f"M{x},-0.5V{layout.height - 0.5}")
    for k in range(1, layout.rows):
        y = k * layout.cell_h - 0.5
        parts.append(f"M-0.5,{y}H{layout.width - 0.5}")
    if not parts:
        return []
    return [
        dict(
            type="path",
            path="".join(parts),
            line=dict(color="rgba(255,255,255,0.8)", width=1),
            layer="above",
        )
    ]


def _frame(layout: imaging.GridLayout, cell: int | None) -> list[dict]:
    """A black-and-white rectangle around one cell (readable on every colormap)."""
    if cell is None or not 0 <= cell < layout.n_cells:
        return []
    top, left = layout.cell_origin(cell)
    box = dict(
        type="rect",
        x0=left - 0.5,
        x1=left + layout.cell_w - 0.5,
        y0=top - 0.5,
        y1=top + layout.cell_h - 0.5,
        layer="above",
    )
    return [
        {**box, "line": dict(color="white", width=4)},
        {**box, "line": dict(color="black", width=2)},
    ]


def blank_figure(text: str = "", height: int = 240) -> go.Figure:
    """A figure with nothing but `text` in its middle (no axes): a graph waiting for input."""
    return go.Figure(
        layout=dict(
            height=height,
            xaxis=dict(visible=False),
            yaxis=dict(visible=False),
            plot_bgcolor="white",
            margin=dict(l=10, r=10, t=10, b=10),
            annotations=[dict(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)]
            if text
            else [],
        )
    )


def activation_grid_spec(
    values: np.ndarray,
    *,
    per_row: int = 8,
    colormap: str = "jet",
    scaling: str = "seed",
    color_range: str = "layer",
    markers: Sequence[GridMarker] = (),
    title: str | None = None,
    cell_name: str | None = None,
    cell_labels: Sequence[str] | None = None,
    height: int | None = None,
    show_scale: bool = True,
    highlight: int | None = None,
    cell_ids: np.ndarray | None = None,
    cell_scale: int = 1,
) -> dict[str, Any]:
    """All maps (or nodes) of one digit's layer output as ONE heatmap mosaic, as the plain
    `{"data": [...], "layout": {...}}` dicts of a Plotly figure (arrays as NumPy arrays):
    `activation_grid_figure` makes it a `go.Figure`, `wire` the dict a callback sends.

    One `Heatmap` trace carries the grid (a second one only for a partial last row, so no empty
    cells are sent): the display levels as `z` (uint8, 256 levels, on a shared colour axis),
    map index and position as `customdata` (small unsigned ints) and the raw activation as
    `text`, all sent as binary arrays, so 128 maps stay small and fast (no per-cell
    annotations). Thin separator lines between maps are one path shape (the seed's grid
    lines); node layers get 1-pixel gaps instead. `layout.meta` holds cells, rows and cols.

    Args:
        values: one digit's layer output without the batch axis: `(H, W, C)` float maps of a
            conv/pool layer, or `(units,)` nodes of a dense layer (100 -> 10 x 10, 10 -> a row).
        per_row: maps per row (map layers only).
        colormap: one of `imaging.COLORMAPS`.
        scaling: "seed" (per-map standardize, x64 + 128, clip) or "raw".
        color_range: "layer" (one range for all maps) or "map" (each map its own range).
        markers: open circles drawn over given cell positions (row = col = 0 for nodes).
        title: figure title.
        cell_name: what a cell is called on hover; default "map" or "node".
        cell_labels: a name per cell written under a single row of nodes (Dense_2's class
            names); ignored for maps and several rows.
        height: figure height in pixels; default from the grid's aspect ratio.
        show_scale: draw the colour bar.
        highlight: a cell (grid position) to frame, e.g. the one shown enlarged.
        cell_ids: `(C,)` the layer's map index of each map in `values` (a selection,
            `imaging.select_maps`), shown on hover; default 0, 1, ...
        cell_scale: the maps are block means of `cell_scale` x `cell_scale` pixels: hover
            gives the block's first row and column in the whole map.

    Raises:
        imaging.ImagingError: unknown colormap/scaling/colour range, bad shape, or a marker
            outside the grid.
    """
    nodes = np.ndim(values) == 1
    raw = imaging.as_maps(values)
    layout = imaging.layout_for(values, per_row)
    levels = imaging.display_levels(values, scaling, color_range)
    imaging.check_colormap(colormap)
    # 256 levels as uint8 (what any colormap resolves anyway): 1 byte a value on the wire
    z = np.rint(imaging.mosaic(levels, layout, fill=0.0) * 255).astype(np.uint8)
    text = imaging.mosaic(raw, layout, fill=0.0).astype(np.float32)
    positions = imaging.mosaic_positions(layout)
    if cell_ids is not None or cell_scale > 1:
        positions = _relabel(positions, cell_ids, cell_scale)
    name = cell_name or ("node" if nodes else "map")
    where = "" if nodes else " · row %{customdata[1]}, col %{customdata[2]}"
    if cell_scale > 1:
        where += f" (mean of {cell_scale}×{cell_scale})"
    hovertemplate = f"{name} %{{customdata[0]}}{where}<br>value %{{text:.4~g}}<extra></extra>"
    gap = 1 if nodes else 0
    # full rows as one trace; a partial last row as a second one, so no empty cells are sent
    full_rows, tail = divmod(layout.n_cells, layout.cols)
    split = full_rows * layout.cell_h
    blocks = [(slice(0, split), slice(None), 0)] if full_rows else []
    if tail:
        blocks.append((slice(split, None), slice(0, tail * layout.cell_w), split))
    traces: list = [
        dict(
            type="heatmap",
            z=z[rows, cols],
            text=text[rows, cols],
            customdata=positions[rows, cols],
            x0=0,
            dx=1,
            y0=y0,
            dy=1,
            hovertemplate=hovertemplate,
            coloraxis="coloraxis",
            xgap=gap,
            ygap=gap,
        )
        for rows, cols, y0 in blocks
    ]
    if markers:
        traces.extend(_marker_traces(markers, layout))
    if height is None:
        aspect = layout.height / layout.width
        height = int(min(1100, max(160, 560 * aspect + 30)))
    ticks = _cell_ticks(layout, nodes, cell_labels)
    return dict(
        data=traces,
        layout=dict(
            coloraxis=dict(
                colorscale=plotly_colorscale(colormap),
                cmin=0,
                cmax=255,
                showscale=show_scale,
                colorbar=_colorbar(raw, scaling, color_range, nodes, 255.0, height < 300),
            ),
            title=dict(text=title, x=0.01, font=dict(size=14)) if title else None,
            height=height,
            margin=dict(l=10, r=10, t=36 if title else 10, b=30 if ticks["showticklabels"] else 10),
            shapes=([] if nodes else _separators(layout)) + _frame(layout, highlight),
            plot_bgcolor="white",
            showlegend=False,
            xaxis=dict(
                range=[-0.5, layout.width - 0.5],
                **ticks,
                showgrid=False,
                zeroline=False,
                constrain="domain",
            ),
            yaxis=dict(
                range=[layout.height - 0.5, -0.5],
                showticklabels=False,
                showgrid=False,
                zeroline=False,
                scaleanchor="x",
                constrain="domain",
            ),
            meta=dict(cells=layout.n_cells, rows=layout.rows, cols=layout.cols),
        ),
    )


def activation_grid_figure(values: np.ndarray, **options: Any) -> go.Figure:
    """`activation_grid_spec` as a `go.Figure` (same arguments, same errors)."""
    return fast_figure(**activation_grid_spec(values, **options))


def wire_grid(values: np.ndarray, **options: Any) -> dict[str, Any]:
    """`activation_grid_spec` as the dict a callback sends (`wire`): the pages' hot path."""
    return wire(activation_grid_spec(values, **options))


def wire(spec: dict[str, Any]) -> dict[str, Any]:
    """A figure spec (`activation_grid_spec`) as the dict a callback returns to a `dcc.Graph`:
    NumPy arrays as Plotly's typed arrays (`{"dtype", "bdata", "shape"}`, by `_sent`, the rules
    of a `fast_figure`'s JSON), layout entries that are None left out.

    A 32-map grid costs 2.3 ms this way against 5.5 ms as a `go.Figure` (built, copied and
    walked again by Plotly's JSON encoder), on every explorer and compare request.
    """
    layout = _sent(_set_only(spec["layout"]))
    return {"data": _sent(spec["data"]), "layout": {"template": _default_template(), **layout}}


@functools.cache
def _default_template() -> dict[str, Any]:
    """The template a `go.Figure` carries by default (Plotly's "plotly"), as a dict: fonts,
    colours, hover mode. A wired figure looks exactly as the `go.Figure` would."""
    return go.Figure().to_plotly_json()["layout"]["template"]


def _relabel(positions: np.ndarray, ids: np.ndarray | None, scale: int) -> np.ndarray:
    """`imaging.mosaic_positions` with each cell's own map index and whole-map coordinates."""
    cell = positions[..., 0].astype(np.int64)
    if ids is not None:
        cell = np.append(np.asarray(ids, np.int64), int(np.max(ids, initial=0)) + 1)[cell]
    rows = positions[..., 1].astype(np.int64) * scale
    cols = positions[..., 2].astype(np.int64) * scale
    top = max(int(cell.max(initial=0)), int(rows.max(initial=0)), int(cols.max(initial=0)))
    dtype = np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32
    return np.stack([cell, rows, cols], axis=-1).astype(dtype)


#: The outline drawn under every marker: dark on bright cells, the marker's colour on dark ones.
MARKER_OUTLINE = "#000000"


def _cell_ticks(layout: imaging.GridLayout, nodes: bool, cell_labels: Sequence[str] | None) -> dict:
    """The x axis's tick labels: the cells' names under a single row of nodes, else none."""
    if not (nodes and layout.rows == 1 and cell_labels is not None):
        return dict(showticklabels=False)
    labels = [str(name) for name in cell_labels][: layout.n_cells]
    return dict(
        showticklabels=True,
        tickmode="array",
        tickvals=list(range(len(labels))),
        ticktext=labels,
        ticks="",
    )


def _marker_traces(markers: Sequence[GridMarker], layout: imaging.GridLayout) -> list[dict]:
    """Two traces: a wide dark outline (no hover), then the markers in their colours."""
    xs, ys = [], []
    for m in markers:
        if not (0 <= m.row < layout.cell_h and 0 <= m.col < layout.cell_w):
            raise imaging.GridLayoutError(
                f"marker position ({m.row}, {m.col}) outside a {layout.cell_h}x{layout.cell_w} map"
            )
        top, left = layout.cell_origin(m.cell)
        xs.append(left + m.col)
        ys.append(top + m.row)
    # about one cell wide on a ~720 px wide grid, readable on both 26x26 and 1x1 cells
    size = float(np.clip(720 / layout.width * 1.1, 9, 36))
    symbols = [m.symbol for m in markers]
    outline = dict(
        type="scatter",
        x=xs,
        y=ys,
        mode="markers",
        marker=dict(symbol=symbols, size=size, color=MARKER_OUTLINE, line=dict(width=5.5)),
        hoverinfo="skip",
        showlegend=False,
    )
    shapes = dict(
        type="scatter",
        x=xs,
        y=ys,
        mode="markers",
        marker=dict(
            symbol=symbols,
            size=size,
            color=[m.color for m in markers],
            line=dict(width=2.5),
        ),
        text=[m.label or f"cell {m.cell} ({m.row}, {m.col})" for m in markers],
        hovertemplate="%{text}<extra></extra>",
        showlegend=False,
    )
    return [outline, shapes]


def map_detail_figure(
    raw: np.ndarray,
    levels: np.ndarray,
    *,
    colormap: str = "jet",
    title: str | None = None,
    show_values: bool = True,
) -> go.Figure:
    """One map enlarged, coloured as in the grid, every value written in its cell.

    Args:
        raw: `(H, W)` float activations of the map.
        levels: `(H, W)` float display levels in `[0, 1]` (from `imaging.display_levels`).
        colormap: one of `imaging.COLORMAPS`.
        title: figure title.
        show_values: write the values into the cells.
    """
    raw = np.asarray(raw, dtype=np.float32)
    h, w = raw.shape
    font = 13 if h <= 5 else 10 if h <= 13 else 7
    # "~": no trailing zeros, so 0 is just "0"; fixed point for small values (probabilities)
    digits = ".2~f" if h > 13 else ".3~f" if np.abs(raw).max() <= 1 else ".3~g"
    written = dict(texttemplate=f"%{{text:{digits}}}") if show_values else {}
    return fast_figure(
        [
            dict(
                type="heatmap",
                z=np.asarray(levels, dtype=np.float32),
                text=raw,
                # values drawn by Plotly in the cells, text colour contrasting with each cell
                **written,
                textfont=dict(size=font),
                hovertemplate="row %{y}, col %{x}<br>value %{text:.4~g}<extra></extra>",
                colorscale=plotly_colorscale(colormap),
                zmin=0.0,
                zmax=1.0,
                showscale=False,
                xgap=1 if h <= 13 else 0,
                ygap=1 if h <= 13 else 0,
            )
        ],
        dict(
            title=dict(text=title, x=0.01, font=dict(size=14)) if title else None,
            margin=dict(l=30, r=10, t=(56 if "<br>" in title else 36) if title else 10, b=30),
            height=int(np.clip(90 + 480 * h / w, 180, 600)),
            xaxis=dict(
                showgrid=False, zeroline=False, constrain="domain", dtick=1 if w <= 13 else 5
            ),
            yaxis=dict(
                autorange="reversed",
                showgrid=False,
                zeroline=False,
                scaleanchor="x",
                constrain="domain",
                dtick=1 if h <= 13 else 5,
            ),
            plot_bgcolor="white",
        ),
    )


#: Colour pictures up to this side are sent as values (hover gives each pixel's RGB), larger
#: ones as a PNG (a 96x96 picture: ~12 KB instead of ~110 KB).
MAX_IMAGE_Z_SIDE = 64


def digit_figure(image: np.ndarray, *, colormap: str = "gray", title: str | None = None):
    """An `(H, W)` uint8 grey image as the model sees it (0 = black, in `colormap`), or an
    `(H, W, 3)` uint8 colour image as it is; hover gives pixel values."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and max(image.shape[:2]) > MAX_IMAGE_Z_SIDE:
        # a large colour picture as one PNG: 224x224x3 values as JSON would be ~600 KB
        trace = dict(type="image", source=png_src(image), hovertemplate="row %{y}, col %{x}")
    elif image.ndim == 3:
        trace = dict(
            type="image",
            z=image,
            hovertemplate="row %{y}, col %{x}: RGB %{z}<extra></extra>",
        )
    else:
        trace = dict(
            type="heatmap",
            z=image,
            colorscale=plotly_colorscale(colormap),
            zmin=0,
            zmax=255,
            showscale=False,
            hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>",
        )
    return fast_figure(
        [trace],
        dict(
            title=dict(text=title, x=0.01, font=dict(size=14)) if title else None,
            height=260,
            margin=dict(l=10, r=10, t=32 if title else 10, b=10),
            xaxis=dict(visible=False, constrain="domain"),
            yaxis=dict(visible=False, autorange="reversed", scaleanchor="x", constrain="domain"),
        ),
    )


def probabilities_figure(
    proba: Sequence[float],
    *,
    true_label: int | None = None,
    title: str | None = None,
    class_names: Sequence[str] | None = None,
) -> go.Figure:
    """`(classes,)` class probabilities as bars: predicted class blue, a missed true class red;
    bars named by `class_names` when given (their x values stay the indices)."""
    p = np.asarray(proba, dtype=np.float64)
    predicted = int(p.argmax())
    colors = ["#2c7be5" if k == predicted else "#adb5bd" for k in range(len(p))]
    if true_label is not None and true_label != predicted:
        colors[true_label] = "#e63757"
    return fast_figure(
        [
            dict(
                type="bar",
                x=class_labels(len(p)),
                y=p,
                marker=dict(color=colors),
                text=[f"{v:.1%}" if v >= 0.005 else "" for v in p],
                textposition="outside",
                cliponaxis=False,
                hovertext=class_axis(len(p), class_names)["ticktext"],
                hovertemplate="class %{hovertext}: %{y:.4%}<extra></extra>",
            )
        ],
        dict(
            title=dict(text=title, x=0.01, font=dict(size=14)) if title else None,
            height=260,
            margin=dict(l=40, r=10, t=36 if title else 16, b=30),
            yaxis=dict(range=[0, 1.12], tickformat=".0%"),
            xaxis=dict(title=dict(text="class"), **class_axis(len(p), class_names)),
            plot_bgcolor="white",
            showlegend=False,
        ),
    )


# --------------------------------------------------------------------------------------------
# OIP page (issue #6)
# --------------------------------------------------------------------------------------------

OIP_COLOR = "#e63757"
DIGIT_COLOR = "#adb5bd"


def oip_curve_figure(
    steps: np.ndarray, values: np.ndarray, names: Sequence[str], *, mean_only: bool = False
) -> go.Figure:
    """The objective during gradient ascent: one line per image, or their mean (galleries).

    Args:
        steps: `(k,)` step numbers.
        values: `(k, n)` objective of each of the `n` images at those steps.
        names: `n` legend names (one name if `mean_only`).
        mean_only: draw the mean over the images with a min-max band instead of `n` lines.
    """
    steps = np.asarray(steps)
    values = np.asarray(values, dtype=np.float64)
    values = values.reshape(len(steps), -1) if len(steps) else np.zeros((0, len(names)))
    fig = go.Figure()
    if mean_only and values.size:
        for bound in (values.max(axis=1), values.min(axis=1)):
            fig.add_trace(
                go.Scatter(
                    x=steps,
                    y=bound,
                    mode="lines",
                    line=dict(width=0),
                    fill="tonexty" if len(fig.data) else None,
                    fillcolor="rgba(44,123,229,0.15)",
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
        fig.add_trace(go.Scatter(x=steps, y=values.mean(axis=1), mode="lines", name=names[0]))
    else:
        for i in range(values.shape[1]):
            fig.add_trace(go.Scatter(x=steps, y=values[:, i], mode="lines", name=names[i]))
    fig.update_layout(
        title=dict(text="objective during the ascent", x=0.01, font=dict(size=14)),
        margin=dict(l=50, r=10, t=36, b=40),
        xaxis=dict(title="step", rangemode="tozero"),
        yaxis=dict(title="objective"),
        legend=dict(orientation="h", y=-0.3, x=0, yanchor="top"),
        plot_bgcolor="white",
    )
    fig.update_yaxes(gridcolor="#eee")
    return fig


def oip_vs_digits_figure(
    oip_scores: Sequence[float],
    oip_names: Sequence[str],
    digit_scores: Sequence[float],
    digit_names: Sequence[str],
    noun: str = "digit",
) -> go.Figure:
    """Bars: the unit's activation by each OIP (red) beside its top test digits (grey);
    `noun` is what the data's pictures are called ("digit", "image")."""
    fig = go.Figure(
        go.Bar(
            x=[*oip_names, *digit_names],
            y=[*map(float, oip_scores), *map(float, digit_scores)],
            marker_color=[OIP_COLOR] * len(oip_names) + [DIGIT_COLOR] * len(digit_names),
            hovertemplate="%{x}: %{y:.4g}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(
            text=f"activation: OIPs against the most exciting test {noun}s",
            x=0.01,
            font=dict(size=14),
        ),
        margin=dict(l=50, r=10, t=36, b=60),
        xaxis=dict(type="category", tickangle=-45),
        yaxis=dict(title="objective", rangemode="tozero"),
        plot_bgcolor="white",
        showlegend=False,
    )
    fig.update_yaxes(gridcolor="#eee")
    return fig


def picture_grid_figure(
    src: str,
    layout: imaging.GridLayout,
    *,
    cell_px: int,
    gap_px: int,
    values: Sequence[float],
    cell_name: str = "map",
    title: str | None = None,
    notes: Sequence[str] | None = None,
    marks: Sequence[str] | None = None,
) -> go.Figure:
    """A grid already drawn as a picture (`imaging.grid_image`), made hoverable and clickable.

    The picture travels as one PNG; an invisible heatmap with one cell per grid cell lies on
    top, so hover names the cell and its value and a click reports the cell's index as `z`.
    Far lighter than a heatmap of every pixel (128 OIPs: ~60 KB instead of ~1 MB).

    Args:
        src: the PNG as a data URI.
        layout: the grid's layout (`imaging.layout_for`).
        cell_px, gap_px: as given to `grid_image`.
        values: one value per cell, shown on hover.
        cell_name: what a cell is called on hover.
        title: figure title.
        notes: one line per cell added to its hover (e.g. its trust check).
        marks: one short symbol per cell drawn in its top-left corner ("" for none); shapes,
            not colours, tell them apart (colour-safe). They take no hover or click.
    """
    stride_y = layout.cell_h * cell_px + gap_px
    stride_x = layout.cell_w * cell_px + gap_px
    height_px = layout.rows * stride_y - gap_px
    width_px = layout.cols * stride_x - gap_px
    index = np.full(layout.rows * layout.cols, np.nan)
    index[: layout.n_cells] = np.arange(layout.n_cells)
    shown = np.full(layout.rows * layout.cols, np.nan)
    shown[: layout.n_cells] = np.asarray(values, dtype=np.float64)[: layout.n_cells]
    lines = [""] * (layout.rows * layout.cols)
    if notes is not None:
        lines[: layout.n_cells] = [f"<br>{note}" for note in list(notes)[: layout.n_cells]]
    traces: list[Any] = []  # drawn over the click layer, which stays trace 1
    if marks is not None:
        cells = np.arange(min(layout.n_cells, len(marks)))
        traces.append(
            go.Scatter(
                x=(cells % layout.cols) * stride_x + 1,
                y=(cells // layout.cols) * stride_y + 1,
                text=list(marks)[: len(cells)],
                mode="text",
                textposition="bottom right",
                textfont=dict(size=14, color="white", shadow="0 0 3px black"),
                hoverinfo="skip",
                showlegend=False,
            )
        )
    fig = go.Figure(
        [
            go.Image(source=src, hoverinfo="skip"),
            go.Heatmap(
                z=index.reshape(layout.rows, layout.cols),
                customdata=shown.reshape(layout.rows, layout.cols),
                text=np.asarray(lines, dtype=object).reshape(layout.rows, layout.cols),
                x0=(stride_x - gap_px) / 2 - 0.5,
                dx=stride_x,
                y0=(stride_y - gap_px) / 2 - 0.5,
                dy=stride_y,
                opacity=0,
                showscale=False,
                hovertemplate=(
                    f"{cell_name} %{{z}}<br>objective %{{customdata:.4g}}%{{text}}<extra></extra>"
                ),
            ),
            *traces,
        ],
        layout=dict(
            title=dict(text=title, x=0.01, font=dict(size=14)) if title else None,
            margin=dict(l=10, r=10, t=36 if title else 10, b=10),
            height=int(min(900, 60 + 900 * height_px / width_px)),
            xaxis=dict(visible=False, range=[-0.5, width_px - 0.5], constrain="domain"),
            yaxis=dict(visible=False, range=[height_px - 0.5, -0.5], scaleanchor="x"),
            plot_bgcolor="white",
        ),
    )
    return fig


# --------------------------------------------------------------------------------------------
# Attribution page (issue #11)
# --------------------------------------------------------------------------------------------

MAP_ORDER_COLOR = "#e63757"
RANDOM_ORDER_COLOR = "#868e96"


def attribution_figure(
    background: np.ndarray,
    levels: np.ndarray,
    values: np.ndarray,
    names: Sequence[str],
    fractions: Sequence[float],
    probabilities: np.ndarray,
    random_probabilities: np.ndarray,
    areas: Sequence[float],
    random_areas: Sequence[float],
    *,
    colormap: str = "jet",
    opacity: float = 0.5,
    title: str | None = None,
    followed: str = "probability",
) -> go.Figure:
    """Attribution maps over their image side by side, each above its deletion curve.

    Args:
        background: `(H, W, 3)` uint8, the picture under every map.
        levels: `(M, H, W)` float in 0..1, the maps' colours (`colormap`).
        values: `(M, H, W)` the maps' values, shown on hover.
        names: `M` panel titles.
        fractions: `(F,)` fractions of the pixels deleted, rising in 0..1.
        probabilities: `(M, F)` the followed probability, each map's most important pixels
            deleted first.
        random_probabilities: `(M, F)` the same in a random order.
        areas, random_areas: `M` areas under those curves (written above each curve).
        colormap: one of `imaging.COLORMAPS`.
        opacity: the maps' opacity over the picture, 0..1.
        title: figure title.
        followed: what the curves' y axis follows, e.g. `P("7")`.

    Returns:
        One figure: row 1 the `M` overlays (axes 1..M), row 2 the curves (axes M+1..2M);
        `layout.meta` = `{"methods": M, "areas": [...]}`.
    """
    levels = np.asarray(levels, dtype=np.float32)
    values = np.asarray(values, dtype=np.float32)
    m = len(names)
    if levels.shape != values.shape or levels.ndim != 3 or len(levels) != m:
        raise imaging.ImagingError(
            f"expected {m} maps as levels and values of one shape, got {levels.shape} and "
            f"{values.shape}"
        )
    scale = plotly_colorscale(colormap)
    percent = (np.asarray(fractions, dtype=np.float64) * 100).tolist()
    gap, width = 0.04, (1.0 - 0.04 * (m - 1)) / m
    data: list[dict] = []
    layout: dict = dict(
        title=dict(text=title, x=0.01, font=dict(size=15)) if title else None,
        height=500,
        margin=dict(l=40, r=20, t=70 if title else 40, b=50),
        plot_bgcolor="white",
        showlegend=True,
        legend=dict(orientation="h", x=0, y=-0.12, yanchor="top"),
        meta={"methods": m, "areas": [float(a) for a in areas]},
        annotations=[],
    )
    for k, name in enumerate(names):
        left = k * (width + gap)
        image_axis, curve_axis = k + 1, m + k + 1
        xa, ya = (f"x{image_axis}", f"y{image_axis}")
        xc, yc = (f"x{curve_axis}", f"y{curve_axis}")
        data.append(dict(type="image", z=background, xaxis=xa, yaxis=ya, hoverinfo="skip"))
        data.append(
            dict(
                type="heatmap",
                z=levels[k],
                customdata=values[k],
                zmin=0.0,
                zmax=1.0,
                colorscale=scale,
                opacity=opacity,
                showscale=k == m - 1,
                colorbar=dict(
                    tickvals=[0, 1],
                    ticktext=["0", "map max"],
                    len=0.5,
                    y=1,
                    yanchor="top",
                    thickness=10,
                    x=1.0,
                    xpad=4,
                ),
                xaxis=xa,
                yaxis=ya,
                name=name,
                hovertemplate="row %{y}, col %{x}: %{customdata:.3g}<extra>" + name + "</extra>",
            )
        )
        for order, curve, color, dash in (
            ("most important first", probabilities, MAP_ORDER_COLOR, "solid"),
            ("random order", random_probabilities, RANDOM_ORDER_COLOR, "dash"),
        ):
            data.append(
                dict(
                    type="scatter",
                    x=percent,
                    y=np.asarray(curve[k], dtype=np.float64).tolist(),
                    mode="lines+markers" if dash == "solid" else "lines",
                    marker=dict(size=4),
                    line=dict(color=color, dash=dash, width=2),
                    name=order,
                    legendgroup=order,
                    showlegend=k == 0,
                    xaxis=xc,
                    yaxis=yc,
                    hovertemplate=f"{name}, {order}: %{{x:.0f}}% deleted, "
                    f"{followed} %{{y:.3f}}<extra></extra>",
                )
            )
        domain = [left, left + width]
        suffix = lambda i: "" if i == 1 else str(i)  # noqa: E731 - layout keys: xaxis, xaxis2
        layout[f"xaxis{suffix(image_axis)}"] = dict(
            domain=domain, visible=False, constrain="domain", anchor=ya
        )
        layout[f"yaxis{suffix(image_axis)}"] = dict(
            domain=[0.44, 1.0],
            visible=False,
            autorange="reversed",
            scaleanchor=xa,
            constrain="domain",
            anchor=xa,
        )
        layout[f"xaxis{suffix(curve_axis)}"] = dict(
            domain=domain,
            anchor=yc,
            range=[0, 100],
            tickvals=[0, 50, 100],
            gridcolor="#eee",
            title=dict(text="% of pixels deleted", font=dict(size=11)),
        )
        layout[f"yaxis{suffix(curve_axis)}"] = dict(
            domain=[0.0, 0.33],
            anchor=xc,
            range=[0, 1.05],
            gridcolor="#eee",
            showticklabels=k == 0,
            title=dict(text=followed, font=dict(size=11)) if k == 0 else None,
        )
        layout["annotations"].append(
            dict(
                text=f"<b>{name}</b>",
                x=left + width / 2,
                y=1.0,
                xref="paper",
                yref="paper",
                xanchor="center",
                yanchor="bottom",
                showarrow=False,
                font=dict(size=13),
            )
        )
        better = areas[k] < random_areas[k]
        layout["annotations"].append(
            dict(
                text=f"area <b>{areas[k]:.2f}</b> · random {random_areas[k]:.2f}",
                x=left + width / 2,
                y=0.36,
                xref="paper",
                yref="paper",
                xanchor="center",
                yanchor="bottom",
                showarrow=False,
                font=dict(size=12, color="#1a7f37" if better else "#b02a37"),
            )
        )
    return go.Figure(data=data, layout=layout)
