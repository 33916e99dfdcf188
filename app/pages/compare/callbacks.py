"""The compare page's callbacks: parse the controls, compute (`app.comparison`), draw (`render`)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, no_update

from app import digits, ids
from app.comparison import (
    DRAWN_SEPARATOR,
    add_drawing,
    add_to_side,
    check_drawn,
    class_name,
    compute_comparison,
    num_classes,
    statistics_cache,
)
from app.components import colormap
from app.components.digit_picker import DigitPickerIds
from app.components.registry import CallbackSet
from app.components.validate import InvalidValue, point_value, text
from app.pages.compare import drawn, render
from app.pages.compare.view import CompareView
from app.services import check_layer
from app.urlsync import sync_code
from cnn_core import imaging
from cnn_core.explain.compare import CompareError, check_class, check_pair
from cnn_core.model.anatomy import UnknownLayerError

PATH = "/compare"
CALLBACKS = CallbackSet()
colormap.remember(CALLBACKS, ids.COMPARE_CMAP, "compare")
ERRORS = (CompareError, UnknownLayerError, imaging.ImagingError)
#: The controls that define a comparison, by the names `compute_comparison` takes.
CONTROLS = dict(
    a=ids.COMPARE_CLASS_A,
    b=ids.COMPARE_CLASS_B,
    n=ids.COMPARE_N,
    kind_a=ids.COMPARE_KIND_A,
    kind_b=ids.COMPARE_KIND_B,
    typed_a=ids.COMPARE_INDICES_A,
    typed_b=ids.COMPARE_INDICES_B,
    layer=ids.COMPARE_LAYER,
    threshold=ids.COMPARE_THRESHOLD,
)
SHOWN = ("panel_a", "panel_b", "legend", "shown", "query")
#: The drawn digits of each side (lists of codes), by the names `compute_comparison` takes.
DRAWN = dict(drawn_a=ids.COMPARE_DRAWN_A, drawn_b=ids.COMPARE_DRAWN_B)


def _message(text_: str | None) -> dict[str, Any]:
    return {"message": text_, "message_open": text_ is not None}


@CALLBACKS.callback(
    output=dict(
        panel_a=Output(ids.COMPARE_PANEL_A, "children"),
        panel_b=Output(ids.COMPARE_PANEL_B, "children"),
        legend=Output(ids.COMPARE_LEGEND, "children"),
        shown=Output(ids.COMPARE_SHOWN, "data"),
        query=Output(ids.COMPARE_QUERY, "data"),
        message=Output(ids.COMPARE_MESSAGE, "children"),
        message_open=Output(ids.COMPARE_MESSAGE, "is_open"),
    ),
    inputs=dict(
        **{name: Input(id_, "value") for name, id_ in CONTROLS.items()},
        **{name: Input(id_, "data") for name, id_ in DRAWN.items()},
        cmap=Input(ids.COMPARE_CMAP, "value"),
    ),
)
def update_comparison(cmap, **controls) -> dict[str, Any]:
    """Digits, grids and circles for the chosen classes; a message (and the old view) on error."""
    try:
        cmap = imaging.check_colormap(cmap)
        comp = compute_comparison(**controls)
        panels = [
            render.side_panel(comp, s, controls[f"kind_{s}"], cmap) + drawn.rows(comp, s, cmap)
            for s in ("a", "b")
        ]
    except ERRORS as err:
        return {**dict.fromkeys(SHOWN, no_update), **_message(str(err))}
    view = CompareView(
        comp.a, comp.b, controls["n"], controls["kind_a"], controls["kind_b"], comp.layer,
        comp.threshold, cmap, text(controls["typed_a"]).strip(), text(controls["typed_b"]).strip(),
        DRAWN_SEPARATOR.join(comp.drawn_a), DRAWN_SEPARATOR.join(comp.drawn_b),
    )  # fmt: skip
    shown = {"a": comp.indices_a, "b": comp.indices_b}
    return dict(
        panel_a=panels[0], panel_b=panels[1], legend=render.legend(comp), shown=shown,
        query=view.query(), **_message(None),
    )  # fmt: skip


@CALLBACKS.callback(
    output=dict(
        diff=Output(ids.COMPARE_DIFF, "figure"),
        ranking=Output(ids.COMPARE_RANKING, "figure"),
        top_maps=Output(ids.COMPARE_TOP_MAPS, "figure"),
        top_maps_style=Output(ids.COMPARE_TOP_MAPS, "style"),
    ),
    inputs=dict(
        a=Input(ids.COMPARE_CLASS_A, "value"),
        b=Input(ids.COMPARE_CLASS_B, "value"),
        layer=Input(ids.COMPARE_LAYER, "value"),
        cmap=Input(ids.COMPARE_CMAP, "value"),
    ),
)
def update_statistics(a, b, layer, cmap) -> dict[str, Any]:
    """Class-mean difference and the best-separating maps over the whole test split."""
    try:
        ca, cb = check_pair(a, b, num_classes())
        cmap = imaging.check_colormap(cmap)
        stats = statistics_cache().get(layer)
        return render.statistics(stats, ca, cb, check_layer(layer), cmap)
    except ERRORS:  # the comparison callback shows the message
        return dict.fromkeys(("diff", "ranking", "top_maps", "top_maps_style"), no_update)


@CALLBACKS.callback(
    output=dict(
        cell=Output(ids.COMPARE_CELL, "children"),
        confusion=Output(ids.COMPARE_CONFUSION, "figure"),
        true_choice=Output(ids.COMPARE_CELL_TRUE, "value"),
        predicted_choice=Output(ids.COMPARE_CELL_PREDICTED, "value"),
    ),
    inputs=dict(
        click=Input(ids.COMPARE_CONFUSION, "clickData"),
        true_choice=Input(ids.COMPARE_CELL_TRUE, "value"),
        predicted_choice=Input(ids.COMPARE_CELL_PREDICTED, "value"),
        a=Input(ids.COMPARE_CLASS_A, "value"),
        b=Input(ids.COMPARE_CLASS_B, "value"),
        layer=Input(ids.COMPARE_LAYER, "value"),
        cmap=Input(ids.COMPARE_CMAP, "value"),
    ),
)
def list_cell(click, a, b, layer, cmap, true_choice=None, predicted_choice=None) -> dict[str, Any]:
    """The digits of the clicked confusion-matrix cell, or of the cell chosen in the two selects
    beside it (the keyboard's way); by default true A, predicted B. The selects follow."""
    n = num_classes()
    trigger = ctx.triggered_id
    try:
        clicked = isinstance(click, dict) and click.get("points")
        if clicked and trigger in (ids.COMPARE_CONFUSION, None):
            true_class = check_class(point_value(click, "y", "confusion click"), n)
            predicted = check_class(point_value(click, "x", "confusion click"), n)
        elif trigger in (ids.COMPARE_CLASS_A, ids.COMPARE_CLASS_B) or true_choice is None:
            true_class, predicted = check_class(a, n), check_class(b, n)
        else:  # the selects: chosen there, or following the last click (a new layer, colormap)
            true_class = check_class(true_choice, n)
            predicted = check_class(predicted_choice, n)
        a, b = check_class(a, n), check_class(b, n)
        layer, cmap = check_layer(layer), imaging.check_colormap(cmap)
    except (*ERRORS, InvalidValue) as err:
        alert = dbc.Alert(f"cannot list this cell: {err}", color="warning")
        unchanged = dict.fromkeys(("confusion", "true_choice", "predicted_choice"), no_update)
        return {"cell": alert, **unchanged}
    listing = render.cell_listing(true_class, predicted, a, b, layer, cmap)
    return {
        "cell": listing,
        "confusion": render.cell_outline(true_class, predicted),
        "true_choice": str(true_class),
        "predicted_choice": str(predicted),
    }


ADDED = dict(
    typed_a=Output(ids.COMPARE_INDICES_A, "value"),
    typed_b=Output(ids.COMPARE_INDICES_B, "value"),
    message=Output(ids.COMPARE_MESSAGE, "children", allow_duplicate=True),
    message_open=Output(ids.COMPARE_MESSAGE, "is_open", allow_duplicate=True),
    done=Output(ids.COMPARE_ADDED, "children", allow_duplicate=True),
)
#: The same outputs for the picker's "add" button (Dash: a second writer must say so).
ADDED_TOO = {
    name: Output(out.component_id, out.component_property, allow_duplicate=True)
    for name, out in ADDED.items()
}
SIDES = dict(
    a=State(ids.COMPARE_CLASS_A, "value"),
    b=State(ids.COMPARE_CLASS_B, "value"),
    typed_a=State(ids.COMPARE_INDICES_A, "value"),
    typed_b=State(ids.COMPARE_INDICES_B, "value"),
    shown=State(ids.COMPARE_SHOWN, "data"),
)


def added(index: object, a, b, typed_a, typed_b, shown) -> dict[str, Any]:
    """The outputs after asking to add test digit `index` to the comparison."""
    try:
        side, typed = add_to_side(index, a, b, typed_a, typed_b, shown)
    except CompareError as err:
        return {"typed_a": no_update, "typed_b": no_update, "done": None, **_message(str(err))}
    other = "typed_b" if side == "a" else "typed_a"
    done = f'test {digits.noun()} {index} added to class "{class_name(a if side == "a" else b)}"'
    return {f"typed_{side}": typed, other: no_update, "done": done, **_message(None)}


@CALLBACKS.callback(
    output=ADDED,
    inputs=dict(clicks=Input({"type": ids.COMPARE_ADD, "index": ALL}, "n_clicks"), **SIDES),
    prevent_initial_call=True,
)
def add_digit(clicks, a, b, typed_a, typed_b, shown) -> dict[str, Any]:
    """Add a digit clicked in the confusion listing to its class's side (as typed indices)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not isinstance(clicks, list) or not any(clicks):
        return dict.fromkeys(ADDED, no_update)  # the listing was re-rendered (or forged)
    return added(trigger.get("index"), a, b, typed_a, typed_b, shown)


@CALLBACKS.callback(
    output=dict(
        **ADDED_TOO,
        drawn_a=Output(ids.COMPARE_DRAWN_A, "data"),
        drawn_b=Output(ids.COMPARE_DRAWN_B, "data"),
    ),
    inputs=dict(
        clicks=Input(ids.COMPARE_PICKER_ADD, "n_clicks"),
        choice=State(DigitPickerIds.choice(ids.COMPARE_PICKER), "data"),
        side=State(ids.COMPARE_PICKER_SIDE, "value"),
        **{name: State(id_, "data") for name, id_ in DRAWN.items()},
        **SIDES,
    ),
    prevent_initial_call=True,
)
def add_picked_digit(
    clicks, choice, side, drawn_a, drawn_b, a, b, typed_a, typed_b, shown
) -> dict[str, Any]:
    """Add the digit picker's digit: a test digit to its class's side (as typed indices), a
    drawn digit to the chosen side (its code in that side's drawn digits)."""
    unchanged = dict.fromkeys((*ADDED, *DRAWN), no_update)
    if not clicks:
        return unchanged
    if isinstance(choice, dict) and choice.get("kind") == digits.DRAWN:
        try:
            side, codes = add_drawing(choice.get("code"), side, drawn_a, drawn_b)
        except CompareError as err:
            return {**unchanged, "done": None, **_message(str(err))}
        done = f"the drawing added to side {side.upper()}"
        return {**unchanged, f"drawn_{side}": codes, "done": done, **_message(None)}
    index = choice.get("index") if isinstance(choice, dict) else None
    return {**unchanged, **added(index, a, b, typed_a, typed_b, shown)}


@CALLBACKS.callback(
    output={name: Output(id_, "data", allow_duplicate=True) for name, id_ in DRAWN.items()},
    inputs=dict(
        clicks=Input({"type": ids.COMPARE_DRAWN_REMOVE, "side": ALL, "pos": ALL}, "n_clicks"),
        **{name: State(id_, "data") for name, id_ in DRAWN.items()},
    ),
    prevent_initial_call=True,
)
def remove_drawn(clicks, drawn_a, drawn_b) -> dict[str, Any]:
    """Take a drawn digit out of its side (its "remove" button)."""
    unchanged = dict.fromkeys(DRAWN, no_update)
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not isinstance(clicks, list) or not any(clicks):
        return unchanged  # the panels were re-rendered (or the request forged)
    side, pos = trigger.get("side"), trigger.get("pos")
    if side not in ("a", "b") or isinstance(pos, bool) or not isinstance(pos, int):
        return unchanged
    try:
        codes = check_drawn(drawn_a if side == "a" else drawn_b)
    except CompareError:
        return unchanged
    if not 0 <= pos < len(codes):
        return unchanged
    return {**unchanged, f"drawn_{side}": codes[:pos] + codes[pos + 1 :]}


@CALLBACKS.callback(
    output=dict(
        a=Output(ids.COMPARE_CLASS_A, "value"),
        b=Output(ids.COMPARE_CLASS_B, "value"),
        typed_a=Output(ids.COMPARE_INDICES_A, "value", allow_duplicate=True),
        typed_b=Output(ids.COMPARE_INDICES_B, "value", allow_duplicate=True),
    ),
    inputs=dict(clicks=Input({"type": ids.COMPARE_PAIR, "a": ALL, "b": ALL}, "n_clicks")),
    prevent_initial_call=True,
)
def compare_pair(clicks) -> dict[str, Any]:
    """Switch the comparison to the clicked confusion cell's two classes."""
    trigger = ctx.triggered_id
    unchanged = dict.fromkeys(("a", "b", "typed_a", "typed_b"), no_update)
    if not isinstance(trigger, dict) or not isinstance(clicks, list) or not any(clicks):
        return unchanged
    try:
        a, b = check_pair(trigger.get("a"), trigger.get("b"), num_classes())
    except CompareError:
        return unchanged
    return {"a": a, "b": b, "typed_a": "", "typed_b": ""}


@CALLBACKS.callback(
    output=dict(
        download=Output(ids.COMPARE_DOWNLOAD, "data"),
        message=Output(ids.COMPARE_MESSAGE, "children", allow_duplicate=True),
        message_open=Output(ids.COMPARE_MESSAGE, "is_open", allow_duplicate=True),
    ),
    inputs=dict(
        clicks=Input(ids.COMPARE_DOWNLOAD_BUTTON, "n_clicks"),
        **{name: State(id_, "value") for name, id_ in CONTROLS.items()},
        **{name: State(id_, "data") for name, id_ in DRAWN.items()},
        cmap=State(ids.COMPARE_CMAP, "value"),
    ),
    prevent_initial_call=True,
)
def download_png(clicks, cmap, **controls) -> dict[str, Any]:
    """The comparison as one PNG: digits with probabilities, grids, red and yellow circles."""
    try:
        cmap = imaging.check_colormap(cmap)
        comp = compute_comparison(**controls)
        png = render.comparison_picture(comp, cmap)
    except ERRORS as err:
        return {"download": no_update, **_message(str(err))}
    name = f"compare_{comp.a}_vs_{comp.b}_{comp.layer}.png"
    return {"download": dcc.send_bytes(png, name), "message": no_update, "message_open": no_update}


CALLBACKS.clientside(
    sync_code(PATH), Output(ids.COMPARE_URL_SINK, "data"), Input(ids.COMPARE_QUERY, "data")
)
