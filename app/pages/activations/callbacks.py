"""The explorer's callbacks: parse the controls, ask `app.digits`, draw with `render`."""

from __future__ import annotations

from typing import Any

import numpy as np
from dash import Input, Output, State, ctx, dcc, no_update

from app import digits, figures, ids
from app.components import colormap
from app.components.alerts import message
from app.components.digit_picker import DigitPickerIds
from app.components.registry import CallbackSet
from app.components.urlview import VIEW_ERRORS
from app.components.validate import InvalidValue, number, point_value, whole_number
from app.pages.activations import render
from app.pages.activations.view import (
    ExplorerView,
    check_input_colormap,
    check_per_row,
    check_top,
)
from app.services import check_layer, get_services
from app.urlsync import sync_code
from cnn_core import imaging
from cnn_core.data.preprocess import UploadError

PATH = "/activations"
CALLBACKS = CallbackSet()
colormap.remember(CALLBACKS, ids.ACT_CMAP, "activations")
ERRORS = (*VIEW_ERRORS, UploadError)
CHOICE = DigitPickerIds.choice(ids.ACT_PICKER)


@CALLBACKS.callback(
    output=dict(
        grid=Output(ids.ACT_GRID, "figure"),
        grid_info=Output(ids.ACT_GRID_INFO, "children"),
        digit=Output(ids.ACT_DIGIT, "figure"),
        proba=Output(ids.ACT_PROBA, "figure"),
        digit_info=Output(ids.ACT_DIGIT_INFO, "children"),
        source_info=Output(ids.ACT_SOURCE_INFO, "children"),
        query=Output(ids.ACT_QUERY, "data"),
        message=Output(ids.ACT_VIEW_MESSAGE, "children"),
        explain=Output(ids.ACT_EXPLAIN, "children"),
    ),
    inputs=dict(
        choice=Input(CHOICE, "data"),
        layer=Input(ids.ACT_LAYER, "value"),
        cmap=Input(ids.ACT_CMAP, "value"),
        scaling=Input(ids.ACT_SCALING, "value"),
        color_range=Input(ids.ACT_RANGE, "value"),
        per_row=Input(ids.ACT_PER_ROW, "value"),
        input_cmap=Input(ids.ACT_INPUT_CMAP, "value"),
        selected=Input(ids.ACT_SELECTED, "data"),
        last_split=State(DigitPickerIds.split(ids.ACT_PICKER), "value"),
        last_index=State(DigitPickerIds.index(ids.ACT_PICKER), "value"),
        top=Input(ids.ACT_TOP, "value"),
    ),
)
def draw(
    choice, layer, cmap, scaling, color_range, per_row, input_cmap="gray", selected=None,
    last_split=None, last_index=None, top=None,
) -> dict[str, Any]:  # fmt: skip
    """Draw the digit, its probabilities and the chosen layer's grid; keep the URL in step."""
    try:
        view = ExplorerView.from_controls(
            choice, layer, cmap, scaling, color_range, per_row, last_split, last_index, top
        )
        input_cmap = check_input_colormap(input_cmap)
        digit = digits.resolve(choice)
    except digits.NoPicture as err:  # a model served alone, before its first picture
        blank = figures.blank_figure()
        return {
            **_unchanged(),
            **dict(grid=figures.blank_figure(str(err)), digit=blank, proba=blank),
            "message": message(str(err), color="info"),
        }
    except ERRORS as err:
        return {**_unchanged(), "message": message(f"cannot draw this view: {err}")}
    values, proba = digits.layer_values(digit, view.layer)
    highlight = render.selected_cell(selected, view.layer)
    return render.explorer(digit, values, proba, view, input_cmap, highlight)


def _unchanged() -> dict[str, Any]:
    keys = ("grid", "grid_info", "digit", "proba", "digit_info", "source_info", "query", "explain")
    return dict.fromkeys(keys, no_update)


@CALLBACKS.callback(
    Output(ids.ACT_PER_ROW, "disabled"),
    Output(ids.ACT_TOP, "disabled"),
    Input(ids.ACT_LAYER, "value"),
)
def per_row_only_for_maps(layer):
    """Node layers have a fixed layout (100 -> 10x10, 10 -> a row): "maps per row" and "maps
    shown" are off."""
    nodes = layer in get_services().desc.node_layers
    return nodes, nodes


@CALLBACKS.callback(
    output=dict(
        selected=Output(ids.ACT_SELECTED, "data"),
        typed=Output(ids.ACT_CELL_INPUT, "value"),
        message=Output(ids.ACT_CELL_MESSAGE, "children"),
    ),
    inputs=dict(
        click=Input(ids.ACT_GRID, "clickData"),
        typed=Input(ids.ACT_CELL_INPUT, "value"),
        layer=State(ids.ACT_LAYER, "value"),
        per_row=State(ids.ACT_PER_ROW, "value"),
        choice=State(CHOICE, "data"),
        top=State(ids.ACT_TOP, "value"),
    ),
    prevent_initial_call=True,
)
def select_cell(click, typed, layer, per_row, choice=None, top=None) -> dict[str, Any]:
    """Remember which map of which layer was clicked, or typed in the field beside the grid
    (the keyboard's way); the field follows the clicks, a number out of range is named. A click
    on a grid of a large layer's most active maps names the map under it, not its place."""
    unchanged = {"selected": no_update, "typed": no_update, "message": no_update}
    try:
        layer, per_row = check_layer(layer), check_per_row(per_row)
    except ERRORS:
        return unchanged
    shape = get_services().acts.output_shapes()[layer]
    if ctx.triggered_id == ids.ACT_CELL_INPUT:
        if typed is None or typed == "":
            return unchanged
        try:  # true, 2.5, Infinity are no map number (float() made them 1, 2 and an error)
            whole = whole_number(typed, "cell")
        except InvalidValue:
            what = "map" if len(shape) == 3 else "node"
            return {**unchanged, "message": f"{typed!r} is not a {what} number"}
        cell, problem = render.typed_cell(whole, layer, shape)
        if problem:
            return {**unchanged, "message": problem}
        return {"selected": {"layer": layer, "cell": cell}, "typed": no_update, "message": None}
    try:
        x, y = (number(point_value(click, key), key) for key in ("x", "y"))
    except InvalidValue:
        return unchanged
    ids_ = None
    try:
        shown = ExplorerView(top=check_top(top)).shown_maps
    except ERRORS:
        shown = imaging.DEFAULT_TOP
    if len(shape) == 3:  # the grid's maps: the most active ones of a large layer, downsampled
        values = np.zeros(shape, np.float32)  # the layout alone, unless the ranking matters
        if shape[2] > shown:
            try:
                values, _ = digits.layer_values(digits.resolve(choice), layer)
            except ERRORS:
                return unchanged
        selection = imaging.select_maps(values, shown)
        ids_, shape = selection.ids, selection.maps.shape
    point = {"points": [{"x": x, "y": y}]}
    cell = render.clicked_cell(point, np.zeros(shape, np.float32), per_row)
    if cell is None:
        return unchanged
    cell = cell if ids_ is None else int(ids_[cell])
    return {"selected": {"layer": layer, "cell": cell}, "typed": cell, "message": None}


@CALLBACKS.callback(
    output=dict(
        figure=Output(ids.ACT_DETAIL, "figure"),
        style=Output(ids.ACT_DETAIL, "style"),
        hint=Output(ids.ACT_DETAIL_HINT, "children"),
    ),
    inputs=dict(
        selected=Input(ids.ACT_SELECTED, "data"),
        choice=Input(CHOICE, "data"),
        layer=Input(ids.ACT_LAYER, "value"),
        cmap=Input(ids.ACT_CMAP, "value"),
        scaling=Input(ids.ACT_SCALING, "value"),
        color_range=Input(ids.ACT_RANGE, "value"),
    ),
)
def enlarge(selected, choice, layer, cmap, scaling, color_range) -> dict[str, Any]:
    """The clicked map enlarged, coloured as in the grid, with its values written in."""
    hidden = {"figure": no_update, "style": {"display": "none"}, "hint": render.DETAIL_HINT}
    try:
        layer, cmap = check_layer(layer), imaging.check_colormap(cmap)
        scaling, color_range = imaging.check_scaling(scaling, color_range)
        cell = render.selected_cell(selected, layer)
        digit = digits.resolve(choice)
    except ERRORS:
        return hidden
    values = get_services().acts.layer(digit.x, layer)[0]
    fig = None if cell is None else render.detail_figure(
        values, cell, layer=layer, description=digit.description, cmap=cmap, scaling=scaling,
        color_range=color_range,
    )  # fmt: skip
    return hidden if fig is None else {"figure": fig, "style": {"display": "block"}, "hint": None}


@CALLBACKS.callback(
    output=dict(
        download=Output(ids.ACT_DOWNLOAD, "data"),
        message=Output(ids.ACT_VIEW_MESSAGE, "children", allow_duplicate=True),
    ),
    inputs=dict(
        n_clicks=Input(ids.ACT_DOWNLOAD_BUTTON, "n_clicks"),
        choice=State(CHOICE, "data"),
        layer=State(ids.ACT_LAYER, "value"),
        cmap=State(ids.ACT_CMAP, "value"),
        scaling=State(ids.ACT_SCALING, "value"),
        color_range=State(ids.ACT_RANGE, "value"),
        per_row=State(ids.ACT_PER_ROW, "value"),
        top=State(ids.ACT_TOP, "value"),
    ),
    prevent_initial_call=True,
)
def download_grid(
    n_clicks, choice, layer, cmap, scaling, color_range, per_row, top=None
) -> dict[str, Any]:
    """The current grid as a full-resolution PNG made on the server (Pillow, no browser)."""
    if not n_clicks:
        return {"download": no_update, "message": no_update}
    try:
        view = ExplorerView.from_controls(
            choice, layer, cmap, scaling, color_range, per_row, top=top
        )
        digit = digits.resolve(choice)
    except ERRORS as err:
        return {"download": no_update, "message": message(f"cannot export this grid: {err}")}
    values = get_services().acts.layer(digit.x, view.layer)[0]
    if np.ndim(values) == 3:  # the maps the grid shows, whole
        values = values[:, :, render.selection_for(values, view).ids]
    png = imaging.grid_png(
        values,
        per_row=view.per_row,
        colormap=view.cmap,
        scaling=view.scaling,
        color_range=view.range,
    )
    name = render.grid_png_name(view.layer, digit.description, view.cmap, view.scaling)
    return {"download": dcc.send_bytes(png, name), "message": no_update}


CALLBACKS.clientside(
    sync_code(PATH), Output(ids.ACT_URL_SINK, "data"), Input(ids.ACT_QUERY, "data")
)
