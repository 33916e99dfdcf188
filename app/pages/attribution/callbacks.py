"""The attribution page's callbacks: parse the controls, explain (`app.attributions`), draw
(`render`)."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, dcc, no_update

from app import digits, figures, ids
from app.attributions import explain
from app.components import colormap
from app.components.alerts import message
from app.components.digit_picker import DigitPickerIds
from app.components.registry import CallbackSet
from app.components.urlview import VIEW_ERRORS
from app.pages.attribution import render
from app.pages.attribution.view import AttributionView
from app.urlsync import sync_code
from cnn_core.data.preprocess import UploadError
from cnn_core.explain.attribution import AttributionError

PATH = "/attribution"
CALLBACKS = CallbackSet()
colormap.remember(CALLBACKS, ids.ATTR_CMAP, "attribution")
ERRORS = (*VIEW_ERRORS, AttributionError, UploadError)
CHOICE = DigitPickerIds.choice(ids.ATTR_PICKER)
#: The controls that define the view, by the names of `AttributionView`'s fields.
CONTROLS = dict(
    target=ids.ATTR_TARGET,
    contrast=ids.ATTR_CONTRAST,
    cmap=ids.ATTR_CMAP,
    opacity=ids.ATTR_OPACITY,
    background=ids.ATTR_BACKGROUND,
    steps=ids.ATTR_STEPS,
    baseline=ids.ATTR_BASELINE,
    samples=ids.ATTR_SAMPLES,
    noise=ids.ATTR_NOISE,
    layer=ids.ATTR_LAYER,
    window=ids.ATTR_WINDOW,
    stride=ids.ATTR_STRIDE,
)
PICKER_STATE = dict(
    last_split=State(DigitPickerIds.split(ids.ATTR_PICKER), "value"),
    last_index=State(DigitPickerIds.index(ids.ATTR_PICKER), "value"),
)
DRAWN = ("figure", "table", "digit_info", "query")


@CALLBACKS.callback(
    output=dict(
        figure=Output(ids.ATTR_FIGURE, "figure"),
        table=Output(ids.ATTR_TABLE, "children"),
        digit_info=Output(ids.ATTR_DIGIT_INFO, "children"),
        query=Output(ids.ATTR_QUERY, "data"),
        message=Output(ids.ATTR_VIEW_MESSAGE, "children"),
    ),
    inputs=dict(
        choice=Input(CHOICE, "data"),
        **{name: Input(id_, "value") for name, id_ in CONTROLS.items()},
        **PICKER_STATE,
    ),
)
def update(choice, last_split=None, last_index=None, **controls) -> dict[str, Any]:
    """Every method's map of the chosen digit and its deletion curve; the URL kept in step."""
    try:
        view = AttributionView.from_controls(choice, last_split, last_index, **controls)
        digit = digits.resolve(choice)
        result = explain(digit.x, view.target, view.contrast, view.options)
    except digits.NoPicture as err:  # a model served alone, before its first picture
        return {
            **dict.fromkeys(DRAWN, no_update),
            "figure": figures.blank_figure(str(err)),
            "message": message(str(err), color="info"),
        }
    except ERRORS as err:
        return {**dict.fromkeys(DRAWN, no_update), "message": message(f"cannot explain: {err}")}
    return render.outputs(digit, result, view)


@CALLBACKS.callback(
    output=dict(
        download=Output(ids.ATTR_DOWNLOAD, "data"),
        message=Output(ids.ATTR_VIEW_MESSAGE, "children", allow_duplicate=True),
    ),
    inputs=dict(
        clicks=Input(ids.ATTR_DOWNLOAD_BUTTON, "n_clicks"),
        choice=State(CHOICE, "data"),
        **{name: State(id_, "value") for name, id_ in CONTROLS.items()},
        **PICKER_STATE,
    ),
    prevent_initial_call=True,
)
def download_png(clicks, choice, last_split=None, last_index=None, **controls) -> dict[str, Any]:
    """The maps over the digit with their deletion areas as one PNG, made on the server."""
    if not clicks:
        return {"download": no_update, "message": no_update}
    try:
        view = AttributionView.from_controls(choice, last_split, last_index, **controls)
        digit = digits.resolve(choice)
        result = explain(digit.x, view.target, view.contrast, view.options)
    except ERRORS as err:
        return {"download": no_update, "message": message(f"cannot export: {err}")}
    png = render.png(digit, result, view)
    return {"download": dcc.send_bytes(png, render.png_name(digit, result)), "message": no_update}


CALLBACKS.clientside(
    sync_code(PATH), Output(ids.ATTR_URL_SINK, "data"), Input(ids.ATTR_QUERY, "data")
)
