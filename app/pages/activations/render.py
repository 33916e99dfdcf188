"""What the explorer draws for a digit and a view: grid, digit, probabilities, captions, details."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import html

from app import figures, ids
from app.components.links import attribution_href
from app.digits import DRAWN_DESCRIPTION, Digit, noun
from app.pages.activations.view import ExplorerView
from app.services import get_services
from cnn_core import imaging

#: Enlarged maps up to this many cells a side get their values written in (larger ones, e.g.
#: Conv2D_1's 26 x 26, would be a blur of digits: hover gives every value).
MAX_WRITTEN_SIDE = 13
DETAIL_HINT = (
    "Click a map (or node) in the grid, or type its number above, to enlarge it with its values."
)


def digit_info(digit: Digit, proba: np.ndarray) -> list:
    """Badges: the true class (when known), the prediction, whether it is wrong."""
    predicted = int(proba.argmax())
    names = get_services().desc.class_names
    badges = []
    if digit.label is not None:
        badges.append(dbc.Badge(f"true {names[digit.label]}", color="secondary", className="me-1"))
    right = digit.label is None or digit.label == predicted
    badges.append(
        dbc.Badge(
            f"predicted {names[predicted]} ({proba[predicted]:.1%})",
            color="success" if right else "danger",
            className="me-1",
        )
    )
    if not right:
        badges.append(html.Span("misclassified", className="small text-danger"))
    return badges


def grid_info(layer: str, values: np.ndarray, per_row: int, selection=None) -> list:
    """`Conv2D_3: 128 maps of 3×3, 8 per row` (the count in its own element, for tests); for a
    selection (`imaging.select_maps`) of a large layer, which maps and at what size."""
    if np.ndim(values) == 1:
        layout = imaging.layout_for(values, per_row)
        what, shape = "nodes", f"as {layout.rows}×{layout.cols}"
        count = html.Span(str(layout.n_cells), id=ids.ACT_CELL_COUNT)
        return [html.Strong(layer), ": ", count, f" {what} {shape}"]
    height, width = np.shape(values)[:2]
    layout = imaging.layout_for(selection.maps if selection else values, per_row)
    count = html.Span(str(layout.n_cells), id=ids.ACT_CELL_COUNT)
    info: list = [html.Strong(layer), ": "]
    if selection is not None and selection.ranked:
        info += ["the ", count, f" most active of {selection.total:,} maps (most active first)"]
    else:
        info += [count, " maps"]
    info.append(f" of {height}×{width}, {layout.cols} per row")
    if selection is not None and selection.factor > 1:
        info.append(
            f"; shown at 1/{selection.factor} size (means of {selection.factor}×"
            f"{selection.factor}): click a map to see it whole"
        )
    return info


def selection_for(values: np.ndarray, view: ExplorerView) -> imaging.GridSelection:
    """The maps the grid of `view` shows for one image's `values`."""
    return imaging.select_maps(values, view.shown_maps)


def source_info(digit: Digit) -> list:
    info: list = [html.Strong(digit.description)]
    if digit.label is None and get_services().has_data:
        left = "drawing" if digit.description == DRAWN_DESCRIPTION else "upload"
        hint = f" (pick a dataset digit to leave the {left})"
        info.append(html.Span(hint, className="text-muted"))
    return info


def explorer(
    digit: Digit,
    values: np.ndarray,
    proba: np.ndarray,
    view: ExplorerView,
    input_cmap: str,
    highlight: int | None,
) -> dict[str, Any]:
    """Every output of the explorer's main callback for one digit and view."""
    logits_layer = get_services().desc.logits_layer
    selection = selection_for(values, view)
    maps = np.ndim(values) == 3
    grid = figures.wire_grid(
        selection.maps if maps else values,
        cell_ids=selection.ids if selection.ranked else None,
        cell_scale=selection.factor,
        per_row=view.per_row,
        colormap=view.cmap,
        scaling=view.scaling,
        color_range=view.range,
        title=f"{view.layer} · {digit.description}",
        cell_name="class" if view.layer == logits_layer else None,
        cell_labels=get_services().desc.class_names if view.layer == logits_layer else None,
        highlight=None if highlight is None else selection.position.get(highlight),
    )
    return dict(
        grid=grid,
        grid_info=grid_info(view.layer, values, view.per_row, selection if maps else None),
        digit=figures.digit_figure(digit.image, colormap=input_cmap, title="what the model sees"),
        proba=figures.probabilities_figure(
            proba,
            true_label=digit.label,
            title="probabilities",
            class_names=get_services().desc.class_names,
        ),
        digit_info=digit_info(digit, proba),
        source_info=source_info(digit),
        query=view.query(),
        message=None,
        explain=explain_link(digit, view.cmap),
    )


def explain_link(digit: Digit, cmap: str) -> html.A | None:
    """The "explain this digit" link to the attribution page (None for an upload)."""
    if digit.split is None or digit.index is None:
        return None
    href = attribution_href(digit.index, digit.split, cmap=cmap)
    return html.A(f"Explain this {noun()} →", href=href, title="which pixels drove the decision")


def detail_figure(
    values: np.ndarray,
    cell: int,
    *,
    layer: str,
    description: str,
    cmap: str,
    scaling: str,
    color_range: str,
) -> Any:
    """One map enlarged with every value written in, or for a node the whole node grid with
    the node outlined (a node alone says little). None if `cell` is not in the layer."""
    levels = imaging.display_levels(values, scaling, color_range)
    raw = imaging.as_maps(values)
    if not 0 <= cell < raw.shape[2]:
        return None
    if np.ndim(values) == 1:
        layout = imaging.layout_for(values)
        raw2d = imaging.mosaic(raw, layout, fill=np.nan)
        lev2d = imaging.mosaic(levels, layout, fill=np.nan)
        title = f"{layer} · {description}<br>node {cell} = {raw[0, 0, cell]:.4g}"
        fig = figures.map_detail_figure(
            raw2d, lev2d, colormap=cmap, title=title, show_values=layout.n_cells <= 100
        )
        row, col = divmod(cell, layout.cols)
        box = dict(x0=col - 0.5, x1=col + 0.5, y0=row - 0.5, y1=row + 0.5)
        fig.add_shape(type="rect", line=dict(color="black", width=3), **box)
        return fig
    m = raw[:, :, cell]
    stats = f"min {m.min():.3g}, max {m.max():.3g}, mean {m.mean():.3g}"
    if not m.any():
        stats = "all zero: this map does not respond to this digit"
    title = f"{layer} map {cell} · {description}<br>{stats}"
    readable = max(m.shape) <= MAX_WRITTEN_SIDE  # larger maps: the values on hover only
    return figures.map_detail_figure(
        m, levels[:, :, cell], colormap=cmap, title=title, show_values=readable
    )


def selected_cell(selected: object, layer: str) -> int | None:
    """The clicked cell of `layer` from the `ACT_SELECTED` store, or None (validated)."""
    if isinstance(selected, dict) and selected.get("layer") == layer:
        cell = selected.get("cell")
        if isinstance(cell, int) and not isinstance(cell, bool) and cell >= 0:
            return cell
    return None


def typed_cell(typed: object, layer: str, shape: tuple[int, ...]) -> tuple[int | None, str | None]:
    """The map (node) number typed beside the grid, or None and why it cannot be shown."""
    units = int(shape[-1])
    what = "map" if len(shape) == 3 else "node"
    try:
        cell = float(typed)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None, f"{typed!r} is not a {what} number"
    if not cell.is_integer() or not 0 <= cell < units:
        return None, f"{layer} has {units} {what}s: type a number from 0 to {units - 1}"
    return int(cell), None


def clicked_cell(click: object, values: np.ndarray, per_row: int) -> int | None:
    """The map (node) index under a grid click, from its mosaic coordinates, or None."""
    try:
        point = click["points"][0]  # type: ignore[index]
        x, y = round(float(point["x"])), round(float(point["y"]))
    except (KeyError, IndexError, TypeError, ValueError, OverflowError):
        return None
    layout = imaging.layout_for(values, per_row)
    if not (0 <= x < layout.width and 0 <= y < layout.height):
        return None
    cell = (y // layout.cell_h) * layout.cols + x // layout.cell_w
    return cell if cell < layout.n_cells else None


def grid_png_name(layer: str, description: str, cmap: str, scaling: str) -> str:
    stem = description.replace(":", "").replace(" ", "-")
    return f"{layer}_{stem}_{cmap}_{scaling}.png"
