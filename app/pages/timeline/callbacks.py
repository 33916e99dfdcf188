"""The timeline's callbacks: parse the controls, ask the timeline (cnn_core), draw with `render`."""

from __future__ import annotations

from dash import Input, Output, State, ctx, no_update

from app import digits, figures, ids
from app.components import colormap
from app.components.alerts import message
from app.components.digit_picker import DigitPickerIds
from app.components.registry import CallbackSet
from app.components.urlview import VIEW_ERRORS
from app.components.validate import whole_number
from app.pages.timeline import render
from app.pages.timeline.view import (
    TimelineView,
    check_epoch,
    check_map_layer,
    parse_units,
    units_text,
)
from app.services import check_layer, get_services
from app.timeline_runs import MAX_STEPS, RunKey, runs_for
from app.urlsync import sync_code
from cnn_core import imaging
from cnn_core.data.preprocess import UploadError
from cnn_core.explain.compare import check_pair
from cnn_core.explain.timeline import TimelineError

PATH = "/timeline"
CALLBACKS = CallbackSet()
colormap.remember(CALLBACKS, ids.TL_CMAP, "timeline")
ERRORS = (*VIEW_ERRORS, UploadError, TimelineError)
CHOICE = DigitPickerIds.choice(ids.TL_PICKER)
NO_TIMELINE = (
    "This model has no checkpoints: train it with `cnn-lens train` (which keeps one per epoch), "
    "or serve a folder of Keras ModelCheckpoint files with `cnn-lens serve MODEL --checkpoints "
    "DIR` (in a notebook: a ModelCheckpoint callback while fitting, then that folder)."
)


def _timeline():
    timeline = get_services().timeline()
    if timeline is None:
        raise TimelineError(NO_TIMELINE)
    return timeline


@CALLBACKS.callback(
    output=dict(
        grid=Output(ids.TL_GRID, "figure"),
        grid_info=Output(ids.TL_GRID_INFO, "children"),
        accuracy=Output(ids.TL_ACCURACY, "figure"),
        confusion=Output(ids.TL_CONFUSION, "figure"),
        pair=Output(ids.TL_PAIR, "figure"),
        query=Output(ids.TL_QUERY, "data"),
        message=Output(ids.TL_VIEW_MESSAGE, "children"),
    ),
    inputs=dict(
        choice=Input(CHOICE, "data"),
        epoch=Input(ids.TL_EPOCH, "value"),
        layer=Input(ids.TL_LAYER, "value"),
        cmap=Input(ids.TL_CMAP, "value"),
        a=Input(ids.TL_PAIR_A, "value"),
        b=Input(ids.TL_PAIR_B, "value"),
        oip_layer=State(ids.TL_OIP_LAYER, "value"),
        units=State(ids.TL_OIP_UNITS, "value"),
        steps=State(ids.TL_OIP_STEPS, "value"),
    ),
)
def draw(choice, epoch, layer, cmap, a, b, oip_layer=None, units=None, steps=None):
    """The digit's grid at the chosen epoch, the accuracy curve, the confusion matrix then and
    the chosen pair's confusions over all epochs; the URL in step."""
    services = get_services()
    try:
        timeline = _timeline()
        epoch, layer = check_epoch(epoch), check_layer(layer)
        cmap = imaging.check_colormap(cmap)
        a, b = check_pair(a, b, services.desc.num_classes)
        digit = digits.resolve(choice)
    except ERRORS as err:
        keys = ("grid", "grid_info", "accuracy", "confusion", "pair", "query")
        return {**dict.fromkeys(keys, no_update), "message": message(f"cannot draw: {err}")}
    i = timeline.index_of(epoch)
    x, labels = services.x_std["test"], services.data.y_test
    acts = timeline.activation_model(i)
    outputs = acts.activations(digit.x)
    values = outputs[layer][0]
    info = services.desc.layer(layer)
    grid = figures.activation_grid_figure(
        values, colormap=cmap, title=f"{layer} at epoch {epoch} · {digit.description}",
        cell_name="class" if info.is_logits else None,
    )  # fmt: skip
    cms = timeline.confusions(x, labels)
    names = services.desc.class_names
    return {
        "grid": grid,
        "grid_info": f"{digit.description} · predicted at epoch {epoch}: "
        f"{names[int(values.argmax())] if info.is_logits else _predicted(acts, outputs)}",
        "accuracy": render.accuracy_figure(
            timeline.epochs, timeline.accuracy_curve(x, labels), epoch
        ),
        "confusion": figures.confusion_matrix_figure(
            cms[i], title=f"Confusion matrix at epoch {epoch} (test split)"
        ),
        "pair": render.pair_figure(
            timeline.epochs, cms[:, a, b], cms[:, b, a], (names[a], names[b]), epoch
        ),
        "query": _view(choice, epoch, layer, cmap, a, b, oip_layer, units, steps).query(),
        "message": None,
    }


def _predicted(acts, outputs: dict) -> str:
    """The most probable class as "name (p%)", from an epoch's `activations` of the digit."""
    proba = acts.probabilities(outputs)[0]
    return f"{get_services().desc.class_names[int(proba.argmax())]} ({proba.max():.1%})"


def _view(choice, epoch, layer, cmap, a, b, oip_layer, units, steps) -> TimelineView:
    """The controls as a view; OIP fields that do not parse keep their defaults."""
    base = TimelineView.defaults()
    split, index = base.split, base.index
    if isinstance(choice, dict) and choice.get("kind") == "dataset":
        split, index = choice.get("split", split), choice.get("index", index)
    try:
        oip_layer = check_map_layer(oip_layer)
        units = units_text(parse_units(units, oip_layer))
        steps = whole_number(steps, "steps", 10, MAX_STEPS)
    except ERRORS:
        oip_layer, units, steps = base.oip_layer, base.units, base.steps
    return TimelineView(split, index, layer, epoch, cmap, a, b, oip_layer, units, steps)


@CALLBACKS.callback(
    output=dict(
        disabled=Output(ids.TL_TICK, "disabled"),
        label=Output(ids.TL_PLAY, "children"),
        epoch=Output(ids.TL_EPOCH, "value"),
    ),
    inputs=dict(
        play=Input(ids.TL_PLAY, "n_clicks"),
        tick=Input(ids.TL_TICK, "n_intervals"),
        epoch=State(ids.TL_EPOCH, "value"),
        stopped=State(ids.TL_TICK, "disabled"),
    ),
    prevent_initial_call=True,
)
def play(play, tick, epoch, stopped):
    """Play/pause: each tick moves to the next epoch; at the last one it stops."""
    try:
        epochs = _timeline().epochs
        position = epochs.index(check_epoch(epoch))
    except (*ERRORS, ValueError):
        return {"disabled": True, "label": "▶ play", "epoch": no_update}
    if ctx.triggered_id == ids.TL_PLAY:
        if stopped:  # start, from the beginning if at the end
            start = epochs[0] if position == len(epochs) - 1 else no_update
            return {"disabled": False, "label": "⏸ pause", "epoch": start}
        return {"disabled": True, "label": "▶ play", "epoch": no_update}
    if position + 1 >= len(epochs):
        return {"disabled": True, "label": "▶ play", "epoch": no_update}
    last = position + 2 >= len(epochs)
    return {
        "disabled": last,
        "label": "▶ play" if last else "⏸ pause",
        "epoch": epochs[position + 1],
    }


@CALLBACKS.callback(
    output=dict(
        run=Output(ids.TL_OIP_RUN, "data"),
        poll=Output(ids.TL_OIP_POLL, "disabled", allow_duplicate=True),
        message=Output(ids.TL_OIP_STATUS, "children", allow_duplicate=True),
    ),
    inputs=dict(
        n_clicks=Input(ids.TL_OIP_START, "n_clicks"),
        layer=State(ids.TL_OIP_LAYER, "value"),
        units=State(ids.TL_OIP_UNITS, "value"),
        steps=State(ids.TL_OIP_STEPS, "value"),
    ),
    prevent_initial_call=True,
)
def start(n_clicks, layer, units, steps):
    """Ask for the OIPs of the units at every epoch (one batched background run)."""
    try:
        _timeline()
        layer = check_map_layer(layer)
        key = RunKey(
            layer, parse_units(units, layer), whole_number(steps, "steps", 10, MAX_STEPS), 0
        )
    except ERRORS as err:
        return {"run": no_update, "poll": True, "message": message(str(err))}
    return {"run": {"layer": key.layer, "units": list(key.units), "steps": key.steps},
            "poll": False, "message": f"{key.text()}: starting…"}  # fmt: skip


@CALLBACKS.callback(
    output=dict(
        status=Output(ids.TL_OIP_STATUS, "children"),
        progress=Output(ids.TL_OIP_PROGRESS, "value"),
        images=Output(ids.TL_OIP_IMAGES, "children"),
        settled=Output(ids.TL_SETTLED, "figure"),
        settled_style=Output(ids.TL_SETTLED, "style"),
        poll=Output(ids.TL_OIP_POLL, "disabled"),
    ),
    inputs=dict(
        tick=Input(ids.TL_OIP_POLL, "n_intervals"),
        run=Input(ids.TL_OIP_RUN, "data"),
        epoch=Input(ids.TL_EPOCH, "value"),
        cmap=Input(ids.TL_CMAP, "value"),
    ),
    prevent_initial_call=True,
)
def poll(tick, run, epoch, cmap):
    """The run's progress; when done, the OIPs at the chosen epoch and the settling figure."""
    idle = {"status": no_update, "progress": no_update, "images": no_update,
            "settled": no_update, "settled_style": no_update, "poll": True}  # fmt: skip
    if not isinstance(run, dict):
        return idle
    try:
        timeline = _timeline()
        layer = check_map_layer(run.get("layer"))
        key = RunKey(layer, parse_units(" ".join(map(str, run.get("units") or [])), layer),
                     whole_number(run.get("steps"), "steps", 10, MAX_STEPS), 0)  # fmt: skip
        i = timeline.index_of(check_epoch(epoch))
        cmap = imaging.check_colormap(cmap)
    except ERRORS as err:
        return {**idle, "status": message(str(err))}
    state = runs_for(timeline).request(key)
    percent = round(100 * state.done / max(state.total, 1))
    if state.status == "error":
        return {**idle, "status": message(f"{key.text()}: {state.error}", "danger")}
    if state.status != "done":
        wait = " (the first run builds one engine over every checkpoint: ~20 s)"
        text = f"{key.text()}: {state.status}, {state.done}/{state.total} steps"
        text += wait if state.done == 0 else ""
        return {**idle, "status": text, "progress": percent, "poll": False}
    epoch_value = timeline.epochs[i]
    return {
        "status": f"{key.text()}: done in {state.seconds:.1f} s, "
        f"{len(timeline.epochs)} epochs x {len(key.units)} units in one batched run.",
        "progress": 100,
        "images": render.oip_strip(
            state.images[i], state.values[i], key.units, key.layer, epoch_value, cmap
        ),
        "settled": render.settled_figure(state.settled, timeline.epochs, key.units),
        "settled_style": {"display": "block"},
        "poll": True,
    }


CALLBACKS.clientside(sync_code(PATH), Output(ids.TL_URL_SINK, "data"), Input(ids.TL_QUERY, "data"))
