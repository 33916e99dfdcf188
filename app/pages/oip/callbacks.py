"""The OIP page's callbacks: read the controls as a view, hand jobs to `app.jobs`, draw with
`render`. Polling is split: `track` (progress and status), `draw_live` (frames while running),
`show_result` (once, when a job has finished)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from dash import Input, Output, State, ctx, no_update
from dash.exceptions import MissingCallbackContextException

from app import ids
from app.components import colormap
from app.components.layer_picker import layer_options
from app.components.registry import CallbackSet
from app.components.validate import InvalidValue, point_value, whole_number
from app.jobs import (
    JobNotFoundError,
    JobRefusedError,
    JobSpecError,
    JobsUnavailableError,
    client_id,
    get_manager,
    parse_spec,
)
from app.jobspec import LIMITS, objective_layers
from app.pages.oip import render
from app.pages.oip.view import OipView
from app.services import get_services
from app.urlsync import sync_code
from cnn_core import imaging

PATH = "/oip"
CALLBACKS = CallbackSet()
colormap.remember(CALLBACKS, ids.OIP_CMAP, "oip")
POLL_MS = 250
GALLERY_POLL_MS = 500  # a gallery's frames are large and it runs at full speed
#: A waiting job has no frames: a class's tabs poll less meanwhile, the further back the less
#: (a tenth of the wait, 1 to 5 s), so that 50 waiting tabs leave the cores to the jobs.
QUEUED_POLL_MS = (1000, 5000)
#: The controls that make a view, by `OipView` field.
CONTROLS = dict(
    kind=ids.OIP_KIND,
    layer=ids.OIP_LAYER,
    unit=ids.OIP_UNIT,
    a=ids.OIP_CLASS_A,
    b=ids.OIP_CLASS_B,
    steps=ids.OIP_STEPS,
    step_size=ids.OIP_STEP_SIZE,
    wavelength=ids.OIP_WAVELENGTH,
    blur_sigma=ids.OIP_BLUR,
    method=ids.OIP_METHOD,
    transforms=ids.OIP_TRANSFORMS,
    seed=ids.OIP_SEED,
    n_seeds=ids.OIP_N_SEEDS,
    images_per_unit=ids.OIP_IMAGES_PER_UNIT,
    diversity=ids.OIP_DIVERSITY,
    cmap=ids.OIP_CMAP,
    gallery_layer=ids.OIP_GALLERY_LAYER,
    gallery_steps=ids.OIP_GALLERY_STEPS,
    watch=ids.OIP_PACE,
)
START_KEYS = (
    "job",
    "poll_disabled",
    "status",
    "color",
    "query",
    "n_intervals",
    "interval",
    "frames",
    "result",
    "gallery",
    "curve_style",
    "gallery_job",
)
#: The curve's style once a run has started (before: hidden, no empty chart).
CURVE_STYLE = {"height": "260px"}


def job_handle(job: Any) -> str | None:
    """The signed handle in the page's job store, or None (empty or crafted store)."""
    if isinstance(job, dict) and isinstance(job.get("handle"), str):
        return job["handle"]
    return None


def is_gallery(state: dict[str, Any]) -> bool:
    """Whether a job is a gallery, from the server's record of it (`JobManager.status`): the
    tab's store says so too, but a crafted store could say anything."""
    spec = state.get("spec")
    return isinstance(spec, dict) and spec.get("kind") == "gallery"


def _colormap(cmap: Any) -> str:
    return cmap if cmap in imaging.COLORMAPS else imaging.DEFAULT_COLORMAP


@CALLBACKS.callback(
    output=dict(
        options=Output(ids.OIP_LAYER, "options"),
        layer=Output(ids.OIP_LAYER, "value"),
        unit_row=Output("oip-unit-row", "style"),
        class_row=Output("oip-class-row", "style"),
        class_b=Output("oip-class-b-box", "style"),
    ),
    inputs=dict(kind=Input(ids.OIP_KIND, "value"), layer=State(ids.OIP_LAYER, "value")),
)
def on_kind(kind: str, layer: str) -> dict[str, Any]:
    """A unit's kind shows the layers it can target; a class hides the unit row."""
    hidden, shown = {"display": "none"}, {}
    class_b = shown if kind == "contrast" else hidden  # "a class" has no class b
    if kind in ("class", "contrast"):
        return dict(
            options=no_update, layer=no_update, unit_row=hidden, class_row=shown, class_b=class_b
        )
    desc = get_services().desc
    layers = objective_layers("node" if kind == "node" else "map", desc)
    value = layer if layer in layers else (layers[0] if layers else None)
    options = layer_options(desc, layers, with_shape=False)
    return dict(options=options, layer=value, unit_row=shown, class_row=hidden, class_b=class_b)


@CALLBACKS.callback(
    Output(ids.OIP_UNIT_HINT, "children"),
    Input(ids.OIP_LAYER, "value"),
    Input(ids.OIP_KIND, "value"),
)
def on_layer(layer: str, kind: str) -> str:
    """How many units the chosen layer has."""
    desc = get_services().desc
    if kind in ("class", "contrast") or not isinstance(layer, str) or layer not in desc.names:
        return ""
    what = "maps" if kind == "map" else "nodes"
    return f"{layer} has {desc.units(layer)} {what}: unit 0-{desc.units(layer) - 1}"


#: The number fields of a run and what they are called on the page.
NUMBER_FIELDS = {
    "steps": "steps", "step_size": "step size", "wavelength": "noise wavelength",
    "blur_sigma": "high-frequency suppression", "seed": "random seed", "n_seeds": "seeds",
    "images_per_unit": "images per seed", "diversity": "diversity λ",
}  # fmt: skip


@CALLBACKS.callback(Output(ids.OIP_DIVERSITY, "disabled"), Input(ids.OIP_IMAGES_PER_UNIT, "value"))
def on_images_per_unit(images_per_unit: Any) -> bool:
    """Diversity is among a seed's images: its input is off with one image per seed."""
    try:
        return whole_number(images_per_unit, "images per seed") <= 1
    except InvalidValue:  # emptied (out of range) or crafted: the Start message says so
        return True


def _empty_number_fields(view: OipView, what: str) -> list[str]:
    """One message per number field of the run left empty (a browser empties a number field
    whose value is outside its min..max): its range, so the user can type a valid one."""
    unit = ("unit",) if view.kind in ("map", "node") else ()
    names = ("gallery_steps",) if what == "gallery" else (*NUMBER_FIELDS, *unit)
    if view.images_per_unit == 1:  # its input is disabled: nothing to type into
        names = tuple(name for name in names if name != "diversity")
    out = []
    for name in names:
        if getattr(view, name, 0) is None:
            limit = getattr(LIMITS, "steps" if name == "gallery_steps" else name, None)
            label = NUMBER_FIELDS.get(name, name.replace("_", " "))
            span = f" from {_num(limit.lo)} to {_num(limit.hi)}" if limit is not None else ""
            out.append(f"{label}: type a number{span}")
    return out


def _num(value: float) -> str:
    """2000 -> "2,000", 0.0001 -> "0.0001" (whole numbers in full, never in e-notation)."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def start_job(view: OipView, job: Any, what: str) -> dict[str, Any]:
    """Cancel this tab's running job (one per tab), submit the new one, start polling.

    Returns the outputs of `on_start` by name (`START_KEYS`).
    """
    unchanged = dict.fromkeys(START_KEYS, no_update)
    if empty := _empty_number_fields(view, what):  # out of range: the browser emptied them
        return {**unchanged, "status": "; ".join(empty), "color": "warning"}
    manager = get_manager()
    try:
        spec = parse_spec(view.job_spec(what), get_services().desc)
    except JobSpecError as exc:
        return {**unchanged, "status": str(exc), "color": "danger"}
    if job_handle(job):
        with contextlib.suppress(JobNotFoundError):  # already finished and cleaned up
            manager.cancel(job_handle(job))
    try:
        handle = manager.submit(spec, owner=client_id())
    except (JobsUnavailableError, JobRefusedError) as exc:  # Redis down; busy; over its share
        return {**unchanged, "status": str(exc), "color": "warning"}
    # A new run clears the previous run's frames and result; a single run (a gallery map
    # opened) keeps the gallery, a new gallery replaces it.
    return dict(
        # only the signed handle: what the job is, whose and with what parameters, the server
        # reads from its own record of it ("what" only names it for a person reading the store)
        job={"handle": handle, "what": what},
        poll_disabled=False,
        status=f"Started: {what}…",
        color="info",
        query=view.run_query(what),
        n_intervals=0,
        interval=GALLERY_POLL_MS if what == "gallery" else POLL_MS,
        frames=[],
        result=None,
        gallery=None if what == "gallery" else no_update,
        curve_style=CURVE_STYLE,
        # the gallery's own job, kept while maps opened from it run: every click reads it
        gallery_job={"handle": handle, "what": what} if what == "gallery" else no_update,
    )


@CALLBACKS.callback(
    output=dict(
        job=Output(ids.OIP_JOB, "data"),
        poll_disabled=Output(ids.OIP_POLL, "disabled"),
        status=Output(ids.OIP_STATUS, "children"),
        color=Output(ids.OIP_STATUS, "color"),
        query=Output(ids.OIP_QUERY, "data"),
        n_intervals=Output(ids.OIP_POLL, "n_intervals"),
        interval=Output(ids.OIP_POLL, "interval"),
        frames=Output(ids.OIP_FRAMES, "children", allow_duplicate=True),
        result=Output(ids.OIP_RESULT, "children", allow_duplicate=True),
        gallery=Output(ids.OIP_GALLERY, "children", allow_duplicate=True),
        curve_style=Output(ids.OIP_CURVE, "style"),
        gallery_job=Output(ids.OIP_GALLERY_JOB, "data"),
    ),
    inputs=dict(
        start=Input(ids.OIP_START, "n_clicks"),
        gallery=Input(ids.OIP_GALLERY_START, "n_clicks"),
        autostart=Input(ids.OIP_AUTOSTART, "data"),
        controls={name: State(id_, "value") for name, id_ in CONTROLS.items()},
        job=State(ids.OIP_JOB, "data"),
    ),
    # a link with run=1 starts (or re-opens) its job; "initial_duplicate": it runs on load too
    prevent_initial_call="initial_duplicate",
)
def on_start(start, gallery, autostart, controls, job) -> dict[str, Any]:
    """Start, Run gallery, or an address / gallery click asking for a run (`autostart`)."""
    view = OipView.from_controls(**controls)
    trigger = ctx.triggered_id
    if trigger in (None, ids.OIP_AUTOSTART):  # page load (?run=...) or a gallery click
        run = autostart.get("run") if isinstance(autostart, dict) else autostart
        if run not in ("single", "gallery"):
            return dict.fromkeys(START_KEYS, no_update)
        out = start_job(view, job, run)
        accepted = out["job"] is not no_update  # else its status says why not: keep that
        if accepted and isinstance(autostart, dict) and autostart.get("from_gallery") is True:
            out["status"] = (
                f"{view.layer} map {view.unit}: opened from the gallery with one random seed "
                f"({view.seed}), as the gallery shows it (set 'seeds side by side' for more). "
                "The gallery stays below."
            )
        return out
    return start_job(view, job, "gallery" if trigger == ids.OIP_GALLERY_START else "single")


@CALLBACKS.callback(
    Output(ids.OIP_STATUS, "children", allow_duplicate=True),
    Input(ids.OIP_CANCEL, "n_clicks"),
    State(ids.OIP_JOB, "data"),
    prevent_initial_call=True,
)
def on_cancel(_clicks, job) -> str:
    if not job_handle(job):
        return "Nothing is running."
    try:
        get_manager().cancel(job_handle(job))
    except JobNotFoundError as exc:
        return str(exc)
    return "Cancelling…"


@CALLBACKS.callback(
    output=dict(
        value=Output(ids.OIP_PROGRESS, "value"),
        label=Output(ids.OIP_PROGRESS, "label"),
        status=Output(ids.OIP_STATUS, "children", allow_duplicate=True),
        color=Output(ids.OIP_STATUS, "color", allow_duplicate=True),
        poll_disabled=Output(ids.OIP_POLL, "disabled", allow_duplicate=True),
        finished=Output(ids.OIP_FINISHED, "data"),
        interval=Output(ids.OIP_POLL, "interval", allow_duplicate=True),
    ),
    inputs=dict(_n=Input(ids.OIP_POLL, "n_intervals"), job=State(ids.OIP_JOB, "data")),
    prevent_initial_call=True,
)
def track(_n, job) -> dict[str, Any]:
    """Progress and status of the tab's job (a waiting one: its place in the queue and when it
    should start); polling stops (and `finished` is set) at its end."""
    unchanged = dict(value=no_update, label=no_update, finished=no_update, interval=no_update)
    if not job_handle(job):
        return {**unchanged, "status": no_update, "color": no_update, "poll_disabled": True}
    try:
        state, _ = get_manager().status(job_handle(job))
    except JobsUnavailableError as exc:  # Redis down: say so, keep polling until it is back
        return {**unchanged, "status": str(exc), "color": "warning", "poll_disabled": False}
    except JobNotFoundError as exc:
        return {**unchanged, "status": str(exc), "color": "warning", "poll_disabled": True}
    value, label = render.progress(state)
    status, color = render.status_message(state)
    running = state["status"] in ("queued", "running")
    if state["status"] == "done":
        value = 100
    if "place" in state:  # waiting: where it stands
        status = queue_message(state)
    interval = (
        queued_poll_ms(state) if state["status"] == "queued"
        else GALLERY_POLL_MS if is_gallery(state) else POLL_MS
    )  # fmt: skip
    finished = no_update if running else {"handle": job_handle(job), "status": state["status"]}
    return dict(
        value=value, label=label, status=status, color=color, poll_disabled=not running,
        finished=finished, interval=interval,
    )  # fmt: skip


def queued_poll_ms(state: dict[str, Any]) -> int:
    """How often a waiting tab polls: a tenth of its estimated wait, within `QUEUED_POLL_MS`."""
    low, high = QUEUED_POLL_MS
    return int(min(high, max(low, 100 * float(state.get("wait_s") or 0))))


def queue_message(state: dict[str, Any]) -> str:
    """ "Conv2D_3: 128 maps: waiting, 4 jobs ahead; it should start in about 20 s." """
    ahead, wait = int(state.get("place", 0)), float(state.get("wait_s", 0.0))
    line = "next in line" if ahead == 0 else f"{ahead} job{'s' if ahead > 1 else ''} ahead"
    when = f"about {round(wait)} s" if wait < 90 else f"about {round(wait / 60)} min"
    return f"{state.get('description', 'the job')}: waiting, {line}; it should start in {when}."


@CALLBACKS.callback(
    output=dict(
        frames=Output(ids.OIP_FRAMES, "children"),
        curve=Output(ids.OIP_CURVE, "figure"),
        gallery=Output(ids.OIP_GALLERY, "children"),
    ),
    inputs=dict(
        _n=Input(ids.OIP_POLL, "n_intervals"),
        job=State(ids.OIP_JOB, "data"),
        cmap=State(ids.OIP_CMAP, "value"),
    ),
    prevent_initial_call=True,
)
def draw_live(_n, job, cmap) -> dict[str, Any]:
    """The running job's images (a gallery: one small picture) and its curve so far.

    A gallery runs at full speed on both cores: redrawing a Plotly figure in the browser twice
    a second took a third of its time, so its curve is drawn once, at the end.
    """
    out: dict[str, Any] = dict(frames=no_update, curve=no_update, gallery=no_update)
    try:
        state, arrays = get_manager().status(job_handle(job))
    except JobNotFoundError:  # also JobsUnavailableError and no handle: `track` says so
        return out
    images, cmap = arrays.get("images"), _colormap(cmap)
    if state["status"] not in ("queued", "running") or images is None:
        return out
    if is_gallery(state):
        return {**out, "gallery": render.live_gallery(images, cmap)}
    what = f"OIP of {state['description']}"
    images = render.per_image(images, state)  # (n, k, ...) with k images per seed
    out["frames"] = render.frames(images, cmap, render.image_titles(state), what)
    if "curve_steps" in arrays:
        out["curve"] = render.live_curve(state, arrays)
    return out


@CALLBACKS.callback(
    output=dict(
        frames=Output(ids.OIP_FRAMES, "children", allow_duplicate=True),
        curve=Output(ids.OIP_CURVE, "figure", allow_duplicate=True),
        result=Output(ids.OIP_RESULT, "children"),
        gallery=Output(ids.OIP_GALLERY, "children", allow_duplicate=True),
    ),
    inputs=dict(
        finished=Input(ids.OIP_FINISHED, "data"),
        job=State(ids.OIP_JOB, "data"),
        cmap=State(ids.OIP_CMAP, "value"),
    ),
    prevent_initial_call=True,
)
def show_result(finished, job, cmap) -> dict[str, Any]:
    """A finished job's full curve and result: the single run's two-fold view, prediction and
    top digits, or the clickable gallery. A cancelled run keeps its last frames."""
    out: dict[str, Any] = dict.fromkeys(("frames", "curve", "result", "gallery"), no_update)
    handle = job_handle(job)
    if not handle or not isinstance(finished, dict) or finished.get("handle") != handle:
        return out
    try:
        state, arrays = get_manager().status(handle)
    except JobNotFoundError:
        return out
    gallery, cmap = is_gallery(state), _colormap(cmap)  # the server's record, not the tab's
    if "history" in arrays:
        out["curve"] = render.final_curve(state, arrays, gallery)
    if state["status"] == "error" or arrays.get("images") is None:
        return out
    if gallery:
        return {**out, "result": None, "gallery": render.gallery_result(state, arrays, cmap)}
    if "probabilities" in arrays:
        out.update(result=render.single_result(state, arrays, cmap), frames=[])
    return out


def _trigger() -> Any:
    """The id that fired the running callback (None when called outside one, as in tests)."""
    try:
        return ctx.triggered_id
    except MissingCallbackContextException:
        return None


@CALLBACKS.callback(
    output=dict(
        kind=Output(ids.OIP_KIND, "value"),
        layer=Output(ids.OIP_LAYER, "value", allow_duplicate=True),
        unit=Output(ids.OIP_UNIT, "value"),
        n_seeds=Output(ids.OIP_N_SEEDS, "value"),
        autostart=Output(ids.OIP_AUTOSTART, "data"),
        status=Output(ids.OIP_STATUS, "children", allow_duplicate=True),
        color=Output(ids.OIP_STATUS, "color", allow_duplicate=True),
    ),
    inputs=dict(
        click=Input(ids.OIP_GALLERY_GRAPH, "clickData"),
        typed=Input(ids.OIP_GALLERY_MAP, "value"),
        job=State(ids.OIP_GALLERY_JOB, "data"),
    ),
    prevent_initial_call=True,
)
def on_gallery_click(click, job, typed=None) -> dict[str, Any]:
    """A click on a gallery OIP, or its map number typed beside the gallery (the keyboard's
    way), opens that map as a single run (same parameters, one seed). A number that is not one
    of the gallery's maps (fractional, negative, not finite, not a number) is named instead."""
    keys = ("kind", "layer", "unit", "n_seeds", "autostart", "status", "color")
    nothing = dict.fromkeys(keys, no_update)
    by_number = typed is not None and (not click or _trigger() == ids.OIP_GALLERY_MAP)
    if not (typed is not None if by_number else click) or not job_handle(job):
        return nothing
    try:
        state = get_manager().status(job_handle(job))[0]  # the server's record, not the tab's
    except JobsUnavailableError as exc:
        return {**nothing, "status": str(exc), "color": "warning"}
    except JobNotFoundError:  # forgotten (finished jobs are kept 15 minutes) or forged
        state = {}
    spec = state.get("spec") if is_gallery(state) else None
    units = spec.get("units") if spec else None
    if not units:  # gone, or a handle of another kind of job in the gallery's store: forged
        gone = "This gallery is no longer available: run it again to open its maps."
        return {**nothing, "status": gone, "color": "warning"}
    try:
        if by_number:
            unit = whole_number(typed, "map")
            if unit not in units:
                raise InvalidValue(
                    f"the gallery has maps {units[0]}-{units[-1]} of {spec['layer']}; "
                    f"map {unit} is not one of them"
                )
        else:
            cell = whole_number(point_value(click, "z"), "clicked map", 0, len(units) - 1)
            unit = units[cell]
    except InvalidValue as exc:
        return {**nothing, "status": str(exc), "color": "warning"}
    # the controls take the map; a new autostart value starts it (as ?run=1 does on load)
    autostart = {"run": "single", "click": time.time(), "from_gallery": True}
    return dict(
        kind="map", layer=spec["layer"], unit=unit, n_seeds=1, autostart=autostart,
        status=no_update, color=no_update,
    )  # fmt: skip


CALLBACKS.clientside(
    sync_code(PATH), Output(ids.OIP_URL_SINK, "data"), Input(ids.OIP_QUERY, "data")
)

# On a phone the result column sits below the controls: after Start, bring the status into
# view, and again when the run's first frames arrive if the page moved it out of view meanwhile
# (once per run: a user who scrolls away while it runs is left there). On a wide screen they
# are beside the controls already.
CALLBACKS.clientside(
    """
    function(job, frames) {
        const status = document.getElementById("STATUS_ID");
        if (!job || !status || window.innerWidth >= 992) { return null; }
        const handle = JSON.stringify(job);
        const trigger = (dash_clientside.callback_context.triggered[0] || {}).prop_id || "";
        const box = status.getBoundingClientRect();
        const inView = box.bottom > 0 && box.top < window.innerHeight;
        if (trigger.startsWith("JOB_ID.")) {
            window.cnnLensOipFramesSeen = null;
            status.scrollIntoView({block: "start"});
        } else if (frames && frames.length !== 0 && window.cnnLensOipFramesSeen !== handle) {
            window.cnnLensOipFramesSeen = handle;
            if (!inView) { status.scrollIntoView({block: "start"}); }
        }
        return null;
    }
    """.replace("STATUS_ID", ids.OIP_STATUS).replace("JOB_ID", ids.OIP_JOB),
    Output(ids.OIP_SCROLL_SINK, "data"),
    Input(ids.OIP_JOB, "data"),
    Input(ids.OIP_FRAMES, "children"),
    prevent_initial_call=True,
)
