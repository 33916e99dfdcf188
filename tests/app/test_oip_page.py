"""OIP page logic on the real model: URL views, one job per tab, bad and crafted input."""

from __future__ import annotations

import importlib
import time

import pytest

from app import jobs, main


@pytest.fixture(scope="module")
def oip(services):
    main.create_app()  # pages register once an app exists; this also sets the local job manager
    return importlib.import_module("app.pages.oip")


def test_url_view_round_trips(oip):
    view = {**oip.default_view(), "kind": "contrast", "a": 3, "b": 8, "steps": 50, "cmap": "magma"}
    query = oip.query_string(view, "single")
    parsed = dict(pair.split("=") for pair in query[1:].split("&"))
    again, problems = oip.view_from_query(parsed)
    assert problems == []
    assert (again["kind"], again["a"], again["b"], again["steps"], again["cmap"]) == (
        "contrast", 3, 8, 50, "magma",
    )  # fmt: skip
    assert parsed["run"] == "1"


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"unit": "abc"}, "unit='abc' is not valid"),
        ({"layer": "Conv9"}, "Conv9"),
        ({"kind": "map", "layer": "Conv2D_1", "unit": "32"}, "0..31"),
        ({"cmap": "rainbow"}, "unknown colormap"),
        ({"gallery_layer": "Dense_1"}, "gallery"),
        ({"kind": "contrast", "a": "4", "b": "4"}, "two different classes"),
    ],
)
def test_bad_url_values_fall_back_to_defaults_with_a_message(oip, services, query, problem):
    view, problems = oip.view_from_query(query)
    assert any(problem in p for p in problems), problems
    assert oip.parse_spec(oip.spec_from_view(view), services.desc)  # what is left is valid


def test_starting_a_new_job_cancels_the_tabs_previous_one(oip):
    slow = {**oip.default_view(), "kind": "class", "a": 2, "steps": 2000, "watch": True, "seed": 11}
    first, disabled, *_ = oip._start(slow, None, "single")
    assert disabled is False
    manager = jobs.get_manager()
    deadline = time.monotonic() + 30
    while manager.status(first["handle"])[0]["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second, *_ = oip._start({**slow, "steps": 5, "seed": 12}, first, "single")
    deadline = time.monotonic() + 10
    while manager.status(first["handle"])[0]["status"] == "running":
        assert time.monotonic() < deadline, "the previous job kept running"
        time.sleep(0.05)
    assert manager.status(first["handle"])[0]["status"] == "cancelled"
    while manager.status(second["handle"])[0]["status"] not in jobs.TERMINAL:
        time.sleep(0.05)
    assert manager.status(second["handle"])[0]["status"] == "done"


def test_a_bad_start_request_gives_a_message_and_keeps_the_view(oip):
    outputs = oip._start({**oip.default_view(), "kind": "map", "unit": 999}, None, "single")
    job, _, message, color, search, *_ = outputs
    assert color == "danger" and "0..127" in message
    assert job is oip.no_update and search is oip.no_update


@pytest.mark.parametrize("job", ["forged", {"handle": "x.y"}, {"handle": 12}, [], None])
def test_crafted_job_stores_never_raise(oip, job):
    outputs = oip.on_poll(3, job, "jet")
    assert outputs[-1] is True  # polling stops
    assert oip.on_cancel(1, job) in (
        "Nothing is running.",
        "invalid job handle (not signed by this server)",
    )
    click = {"points": [{"curveNumber": 1, "z": 0}]}
    assert all(out is oip.no_update for out in oip.on_gallery_click(click, job))


def test_a_gallery_click_opens_that_map_as_a_single_run(oip):
    view = {**oip.default_view(), "gallery_layer": "Max_Pool_1", "gallery_steps": 5, "seed": 21}
    job, *_ = oip._start(view, None, "gallery")
    manager = jobs.get_manager()
    while manager.status(job["handle"])[0]["status"] not in jobs.TERMINAL:
        time.sleep(0.05)
    kind, layer, unit, n_seeds, autostart = oip.on_gallery_click(
        {"points": [{"curveNumber": 1, "z": 17, "x": 10, "y": 10}]}, job
    )
    assert (kind, layer, unit, n_seeds) == ("map", "Max_Pool_1", 17, 1)
    assert autostart["run"] == "single"


def test_other_pages_keep_working_while_a_job_runs(oip):
    client = main.create_app().server.test_client()
    view = {**oip.default_view(), "kind": "class", "a": 6, "steps": 2000, "watch": True, "seed": 31}
    job, *_ = oip._start(view, None, "single")
    manager = jobs.get_manager()
    while manager.status(job["handle"])[0]["status"] != "running":
        time.sleep(0.05)
    for path in ("/", "/activations", "/compare", "/_dash-layout"):
        assert client.get(path).status_code == 200
    assert manager.status(job["handle"])[0]["status"] == "running"
    manager.cancel(job["handle"])
    while manager.status(job["handle"])[0]["status"] == "running":
        time.sleep(0.05)
