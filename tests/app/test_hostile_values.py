"""Numbers and job stores as a crafted request sends them: refused with the page's message,
never coerced into another answer, never an exception (real app, real jobs)."""

from __future__ import annotations

import importlib
import json
import math
import time

import pytest
from dash import no_update

from app import jobs, main
from app.components import validate
from app.components.validate import InvalidValue
from tests.app.dash_requests import call


@pytest.fixture(scope="module")
def app(services):
    dash_app = main.create_app()  # also the local job manager the OIP callbacks use
    dash_app.server.test_client().get("/_dash-layout")
    return dash_app


@pytest.fixture(scope="module")
def oip(app):
    return importlib.import_module("app.pages.oip.callbacks")


def finished(handle: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while (state := jobs.get_manager().status(handle)[0])["status"] not in jobs.TERMINAL:
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    return state


@pytest.fixture(scope="module")
def gallery(oip):
    """A real, finished gallery job (32 maps of Max_Pool_1, 5 steps) as the page stores it."""
    handle = jobs.get_manager().submit(
        {"kind": "gallery", "layer": "Max_Pool_1", "units": "all", "steps": 5, "seed": 3}
    )
    assert finished(handle)["status"] == "done"
    return {"handle": handle, "what": "gallery"}


@pytest.fixture(scope="module")
def single(oip):
    """A real, finished single run (two seeds of Conv2D_3 map 5, 5 steps)."""
    spec = {"kind": "map", "layer": "Conv2D_3", "unit": 5, "steps": 5, "n_seeds": 2, "seed": 4}
    handle = jobs.get_manager().submit(spec)
    assert finished(handle)["status"] == "done"
    return {"handle": handle, "what": "single"}


# ---- one way to read a number -----------------------------------------------------------------


@pytest.mark.parametrize("raw", [2.5, math.inf, -math.inf, math.nan, True, False, "٣", "--5"])
def test_fractions_non_finite_numbers_booleans_and_foreign_digits_are_no_whole_number(raw):
    with pytest.raises(InvalidValue, match="is not a whole number"):
        validate.whole_number(raw, "map")


def test_an_integral_float_is_a_whole_number_and_numbers_beyond_floats_are_no_number():
    assert validate.whole_number(2.0, "map") == 2
    for raw in (10**400, True, "Infinity", math.inf):
        with pytest.raises(InvalidValue, match="is not a number"):
            validate.number(raw, "x")


def test_a_click_point_is_read_from_the_first_point_that_has_the_key():
    click = {"points": [{"x": 1}, {"curveNumber": 1, "z": 7}]}
    assert validate.point_value(click, "z") == 7
    for forged in (None, {"points": "x"}, {"points": [3, None]}, {"points": [{"x": 1}]}):
        with pytest.raises(InvalidValue, match="names no point"):
            validate.point_value(forged, "z")


def test_job_requests_refuse_booleans_and_fractions_where_an_integer_is_meant(services):
    for raw in (True, 2.5, math.inf, "2.0"):
        with pytest.raises(jobs.JobSpecError, match="unit must be an integer"):
            jobs.parse_spec({"kind": "map", "layer": "Conv2D_3", "unit": raw}, services.desc)
    with pytest.raises(jobs.JobSpecError, match="step_size must be a number"):
        jobs.parse_spec({"kind": "class", "a": 1, "step_size": True}, services.desc)


# ---- the OIP gallery: a map by click or by number ---------------------------------------------


@pytest.mark.parametrize(
    ("click", "typed", "message"),
    [
        ({"points": [{"curveNumber": 1, "z": math.inf}]}, None, "is not a whole number"),
        ({"points": [{"curveNumber": 1, "z": -1}]}, None, "between 0 and 31, got -1"),
        ({"points": [{"curveNumber": 1, "z": 2.5}]}, None, "is not a whole number"),
        ({"points": [{"curveNumber": 1, "z": True}]}, None, "is not a whole number"),
        ({"points": [{"curveNumber": 1, "z": 32}]}, None, "between 0 and 31, got 32"),
        ({"points": [{"curveNumber": 0}]}, None, "names no point"),
        (None, math.inf, "is not a whole number"),
        (None, "Infinity", "is not a whole number"),
        (None, 2.5, "is not a whole number"),
        (None, True, "is not a whole number"),
        (None, -1, "map -1 is not one of them"),
    ],
)
def test_a_gallery_map_that_is_not_one_of_its_maps_is_named_not_opened(
    oip, gallery, click, typed, message
):
    outputs = oip.on_gallery_click(click, gallery, typed)
    assert outputs["kind"] is no_update and outputs["autostart"] is no_update
    assert message in outputs["status"] and outputs["color"] == "warning"


def test_a_whole_gallery_map_opens_by_click_and_by_number(oip, gallery):
    by_click = oip.on_gallery_click({"points": [{"curveNumber": 1, "z": 3.0}]}, gallery)
    by_number = oip.on_gallery_click(None, gallery, "31")
    assert (by_click["layer"], by_click["unit"], by_number["unit"]) == ("Max_Pool_1", 3, 31)


def test_a_single_runs_handle_in_the_gallerys_store_opens_nothing(oip, single):
    outputs = oip.on_gallery_click({"points": [{"z": 0}]}, {**single, "what": "gallery"})
    assert outputs["kind"] is no_update and "no longer available" in outputs["status"]


# ---- what a job is comes from the server's record, not the tab's store ------------------------


def test_a_single_runs_handle_sent_as_a_gallery_shows_the_single_result(oip, single):
    forged = {**single, "what": "gallery"}
    shown = oip.show_result({"handle": single["handle"], "status": "done"}, forged, "jet")
    assert shown["result"] is not no_update and shown["result"] is not None
    assert shown["gallery"] is no_update  # no gallery drawn from a single run's arrays


def test_a_gallerys_handle_sent_as_a_single_run_shows_the_gallery(oip, gallery):
    forged = {**gallery, "what": "single"}
    shown = oip.show_result({"handle": gallery["handle"], "status": "done"}, forged, "jet")
    assert shown["gallery"] is not no_update and shown["result"] is None
    assert shown["curve"] is not no_update  # the mean curve of the gallery, not 32 seeds


def test_the_tabs_job_store_holds_the_handle_only(oip):
    view = importlib.import_module("app.pages.oip.view").OipView.defaults()
    started = oip.start_job(view.__class__(**{**vars(view), "steps": 5}), None, "single")
    assert set(started["job"]) == {"handle", "what"}
    finished(started["job"]["handle"])


# ---- the explorer's typed map number ----------------------------------------------------------


@pytest.mark.parametrize("typed", [True, 2.5, "Infinity", -1])
def test_the_explorers_typed_map_number_refuses_what_is_no_map(app, typed):
    client = app.server.test_client()
    values = {"act-cell-input.value": typed, "act-layer.value": "Conv2D_1", "act-per-row.value": 8}
    status, body = call(app, client, "act-cell-message.children", values, "act-cell-input.value")
    assert status == 200, body
    shown = body["response"]
    assert "act-selected" not in shown  # nothing selected: no map 1 for true, no map 2 for 2.5
    assert "map number" in str(shown["act-cell-message"]) or "0 to 31" in str(shown)


@pytest.mark.parametrize(
    ("x", "selected"), [(4, {"layer": "Conv2D_1", "cell": 0}), (True, None), (math.inf, None)]
)
def test_the_explorers_grid_click_reads_finite_coordinates_only(app, x, selected):
    client = app.server.test_client()
    values = {"act-grid.clickData": {"points": [{"x": x, "y": 7}]}, "act-layer.value": "Conv2D_1",
              "act-per-row.value": 8}  # fmt: skip
    status, body = call(app, client, "act-cell-message.children", values, "act-grid.clickData")
    assert status in (200, 204), body
    assert (body.get("response") or {}).get("act-selected", {}).get("data") == selected


# ---- node paths in addresses ------------------------------------------------------------------

#: (The timeline's are fuzzed on the served app: its page starts loading every checkpoint.)
LAYER_PARAMETERS = [
    ("/activations", "layer"), ("/compare", "layer"), ("/attribution", "layer"), ("/oip", "layer"),
    ("/oip", "gallery_layer"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "key"), LAYER_PARAMETERS)
def test_a_node_path_that_names_no_node_is_named_on_the_page(app, path, key):
    client = app.server.test_client()
    for value in ("../../x", "base/nope", "x" * 10_000):
        values = {"_pages_location.pathname": path, "_pages_location.search": f"?{key}={value}"}
        status, body = call(app, client, "_pages_content.children", values,
                            "_pages_location.pathname")  # fmt: skip
        assert status == 200, (path, key, value[:20])
        assert "Some URL parameters were not understood" in json.dumps(body), (path, value[:20])
