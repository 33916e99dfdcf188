"""OIP page logic on the real model: URL views, one job per tab, bad and crafted input."""

from __future__ import annotations

import dataclasses
import importlib
import json
import time
from urllib.parse import parse_qsl

import pytest
from dash import no_update
from plotly.utils import PlotlyJSONEncoder

from app import jobs, main
from app.jobspec import JobSpec


@pytest.fixture(scope="module")
def oip(services):
    main.create_app()  # pages register once an app exists; this also sets the local job manager
    return importlib.import_module("app.pages.oip.callbacks")


@pytest.fixture(scope="module")
def OipView(oip):
    return importlib.import_module("app.pages.oip.view").OipView


def view_of(OipView, **changes):
    return dataclasses.replace(OipView.defaults(), **changes)


def page_text(component) -> str:
    """A component tree as JSON text (every nested component, all its props)."""
    return json.dumps(component, cls=PlotlyJSONEncoder)


def wait_for(manager, job, *statuses, timeout=60.0):
    deadline = time.monotonic() + timeout
    while manager.status(job["handle"])[0]["status"] not in statuses:
        assert time.monotonic() < deadline, f"the job never reached {statuses}"
        time.sleep(0.05)


def test_url_view_round_trips(OipView):
    view = view_of(OipView, kind="contrast", a=3, b=8, steps=50, cmap="magma", watch=False)
    query = dict(parse_qsl(view.run_query("single")[1:]))
    again, problems = OipView.from_query(query)
    assert problems == []
    assert again == view
    assert query["run"] == "1" and query["watch"] == "0"
    assert dict(parse_qsl(view.run_query("gallery")[1:]))["run"] == "gallery"
    assert "run" not in view.run_query(None)


def test_the_seed_keeps_pixels_by_default_and_a_method_is_kept_in_the_url(OipView):
    seed = OipView.defaults()
    assert (seed.method, seed.transforms) == ("pixel", False)  # the seed's figures stay
    assert JobSpec.parse(seed.spec(), _desc()).options().parameterization == "pixel"
    view, problems = OipView.from_query({"method": "maco", "transforms": "1"})
    assert problems == [] and (view.method, view.transforms) == ("maco", True)
    options = JobSpec.parse(view.spec(), _desc()).options()
    assert (options.parameterization, options.transforms) == ("maco", "standard")
    view, problems = OipView.from_query({"method": "wavelets"})
    assert view.method == "pixel" and problems and "method" in problems[0]


def _desc():
    from app.services import get_services

    return get_services().desc


def test_the_address_starts_a_run_only_when_every_parameter_was_understood(oip):
    autostart = importlib.import_module("app.pages.oip.view").autostart
    assert autostart({"run": "1"}, []) == "single"
    assert autostart({"run": "gallery"}, []) == "gallery"
    assert autostart({"run": "1"}, ["unit: bad"]) is None
    assert autostart({"run": "now"}, []) is None and autostart({}, []) is None


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"unit": "abc"}, "unit 'abc' is not a whole number"),
        ({"layer": "Conv9"}, "Conv9"),
        ({"kind": "map", "layer": "Conv2D_1", "unit": "32"}, "0..31"),
        ({"cmap": "rainbow"}, "rainbow"),
        ({"gallery_layer": "Dense_1"}, "gallery"),
        ({"kind": "contrast", "a": "4", "b": "4"}, "two different classes"),
        ({"kind": "everything"}, "unknown kind"),
        ({"colour": "red"}, "unknown parameter 'colour'"),
        ({"images_per_unit": "17"}, r"images_per_unit must be an integer in 1..16"),
        ({"images_per_unit": "2.5"}, "images_per_unit '2.5' is not a whole number"),
        ({"images_per_unit": "2", "diversity": "-1"}, "diversity must be between 0.0 and 10.0"),
        ({"diversity": "lots"}, "diversity 'lots' is not a number"),
    ],
)
def test_bad_url_values_fall_back_to_defaults_with_a_message(OipView, services, query, problem):
    view, problems = OipView.from_query(query)
    assert any(problem in p for p in problems), problems
    assert JobSpec.parse(view.spec(), services.desc)  # what is left is valid
    assert JobSpec.parse(view.gallery_spec(), services.desc)


def test_several_images_per_seed_get_diversity_1_and_only_they_reach_the_url(OipView):
    plain = OipView.defaults()
    assert "images_per_unit" not in plain.query() and "diversity" not in plain.query()
    assert "images_per_unit" not in plain.spec() or plain.spec()["diversity"] == 0.0
    assert "images_per_unit" not in JobSpec.parse(plain.spec(), _desc()).to_dict()  # as before
    view, problems = OipView.from_query({"images_per_unit": "4"})
    assert problems == [] and view.images_per_unit == 4
    options = JobSpec.parse(view.spec(), _desc()).options()
    assert (options.images_per_unit, options.diversity) == (4, 1.0)  # the page's default λ
    query = dict(parse_qsl(view.query()[1:]))
    assert (query["images_per_unit"], query["diversity"]) == ("4", "1")
    assert OipView.from_query(query) == (view, [])
    gallery = JobSpec.parse(view.gallery_spec(), _desc())  # the gallery keeps one per map
    assert (gallery.images_per_unit, gallery.diversity) == (1, 0.0)


def test_the_page_shows_bad_url_parameters_in_one_alert(oip):
    layout = importlib.import_module("app.pages.oip.layout").layout
    text = page_text(layout(unit="abc", run="1"))
    assert "Some URL parameters were not understood" in text and "abc" in text
    assert "Some URL parameters" not in page_text(layout(unit="3", run="1"))


def test_starting_a_new_job_cancels_the_tabs_previous_one(oip, OipView):
    slow = view_of(OipView, kind="class", a=2, steps=2000, watch=True, seed=11)
    first = oip.start_job(slow, None, "single")
    assert first["poll_disabled"] is False and first["interval"] == oip.POLL_MS
    manager = jobs.get_manager()
    wait_for(manager, first["job"], "running", timeout=30)
    second = oip.start_job(dataclasses.replace(slow, steps=5, seed=12), first["job"], "single")
    wait_for(manager, first["job"], *jobs.TERMINAL, timeout=10)
    assert manager.status(first["job"]["handle"])[0]["status"] == "cancelled"
    wait_for(manager, second["job"], *jobs.TERMINAL)
    assert manager.status(second["job"]["handle"])[0]["status"] == "done"


def test_a_bad_start_request_gives_a_message_and_keeps_the_view(oip, OipView):
    outputs = oip.start_job(view_of(OipView, kind="map", unit=999), None, "single")
    assert outputs["color"] == "danger" and "0..127" in outputs["status"]
    assert outputs["job"] is no_update and outputs["query"] is no_update


def test_an_emptied_number_field_is_named_with_its_range_and_nothing_starts(oip, OipView):
    # the browser empties a number field whose value is outside its min..max
    outputs = oip.start_job(view_of(OipView, kind="map", steps=None, seed=None), None, "single")
    assert outputs["status"] == (
        "steps: type a number from 1 to 2,000; random seed: type a number from 0 to 2,147,483,646"
    )
    assert outputs["job"] is no_update and "None" not in outputs["status"]


def test_an_emptied_images_per_seed_field_is_named_and_diversity_only_when_it_is_used(oip, OipView):
    outputs = oip.start_job(view_of(OipView, images_per_unit=None), None, "single")
    assert outputs["status"] == "images per seed: type a number from 1 to 16"
    assert oip.start_job(view_of(OipView, images_per_unit=2, diversity=None), None, "single")[
        "status"
    ] == ("diversity λ: type a number from 0 to 10")
    assert oip.on_images_per_unit(1) is True and oip.on_images_per_unit(None) is True
    assert oip.on_images_per_unit(3) is False and oip.on_images_per_unit([2]) is True


@pytest.mark.parametrize("job", ["forged", {"handle": "x.y"}, {"handle": 12}, [], None])
def test_crafted_job_stores_never_raise(oip, job):
    assert oip.track(3, job)["poll_disabled"] is True  # polling stops
    assert all(value is no_update for value in oip.draw_live(3, job, "jet").values())
    finished = {"handle": "x.y", "status": "done"}
    assert all(value is no_update for value in oip.show_result(finished, job, "jet").values())
    assert oip.on_cancel(1, job) in (
        "Nothing is running.",
        "invalid job handle (not signed by this server)",
    )
    click = {"points": [{"curveNumber": 1, "z": 0}]}
    opened = oip.on_gallery_click(click, job)
    assert opened["kind"] is no_update and opened["autostart"] is no_update  # nothing opens
    assert opened["status"] is no_update or "no longer available" in opened["status"]


def test_polling_follows_a_run_to_its_result(oip, OipView):
    view = view_of(OipView, kind="map", layer="Conv2D_3", unit=5, steps=20, n_seeds=2, seed=41)
    job = oip.start_job(dataclasses.replace(view, watch=False), None, "single")["job"]
    wait_for(jobs.get_manager(), job, *jobs.TERMINAL)
    tracked = oip.track(1, job)
    assert tracked["poll_disabled"] is True and tracked["value"] == 100
    assert tracked["color"] == "success" and "Conv2D_3 map 5: done in" in tracked["status"]
    assert tracked["finished"]["handle"] == job["handle"]
    assert all(value is no_update for value in oip.draw_live(2, job, "jet").values())
    shown = oip.show_result(tracked["finished"], job, "jet")
    text = page_text(shown["result"])
    assert "the OIP's own prediction" in text and "x the best test digit" in text
    assert text.count("oip-result") == 4  # two seeds, plain + enhanced
    assert text.count("trust check: ") == 2  # a badge per seed, with its checks
    assert "beats the best image" in text and ("robust" in text or "fragile" in text)
    assert shown["frames"] == [] and shown["curve"] is not no_update
    assert shown["gallery"] is no_update  # a gallery shown before stays


def test_a_run_of_two_images_per_seed_shows_each_captioned_side_by_side(oip, OipView):
    query = {"kind": "map", "layer": "Conv2D_3", "unit": "5", "steps": "10", "n_seeds": "2",
             "seed": "41", "watch": "0", "images_per_unit": "2", "diversity": "0"}  # fmt: skip
    view, problems = OipView.from_query(query)
    assert problems == []
    job = oip.start_job(view, None, "single")["job"]
    wait_for(jobs.get_manager(), job, *jobs.TERMINAL)
    shown = oip.show_result(oip.track(1, job)["finished"], job, "jet")
    text = json.dumps(shown["result"], cls=PlotlyJSONEncoder, ensure_ascii=False)
    for seed in (41, 42):
        for image in (1, 2):
            assert f"seed {seed} · image {image} of 2: mean activation" in text
    assert text.count("oip-result") == 8  # 2 seeds x 2 images, plain + enhanced
    assert text.count("trust check: ") == 4  # a badge per image
    assert '"md": 6' in text  # a seed's two images side by side
    curve = json.loads(json.dumps(shown["curve"], cls=PlotlyJSONEncoder))
    assert [trace["name"] for trace in curve["data"]][-1] == "seed 42 · image 2 of 2"


def test_a_gallery_click_opens_that_map_as_a_single_run(oip, OipView):
    view = view_of(OipView, gallery_layer="Max_Pool_1", gallery_steps=5, seed=21)
    job = oip.start_job(view, None, "gallery")["job"]
    assert oip.start_job(view, None, "gallery")["interval"] == oip.GALLERY_POLL_MS
    wait_for(jobs.get_manager(), job, *jobs.TERMINAL)
    shown = oip.show_result(oip.track(1, job)["finished"], job, "jet")
    assert "of 32 OIPs activate their map" in page_text(shown["gallery"])
    assert "OIPs pass every check" in page_text(shown["gallery"])
    outputs = oip.on_gallery_click({"points": [{"curveNumber": 1, "z": 17, "x": 10, "y": 10}]}, job)
    assert (outputs["kind"], outputs["layer"], outputs["unit"], outputs["n_seeds"]) == (
        "map", "Max_Pool_1", 17, 1,
    )  # fmt: skip
    assert outputs["autostart"]["run"] == "single"


def test_other_pages_keep_working_while_a_job_runs(oip, OipView):
    client = main.create_app().server.test_client()
    view = view_of(OipView, kind="class", a=6, steps=2000, watch=True, seed=31)
    job = oip.start_job(view, None, "single")["job"]
    manager = jobs.get_manager()
    wait_for(manager, job, "running")
    for path in ("/", "/activations", "/compare", "/_dash-layout"):
        assert client.get(path).status_code == 200
    assert manager.status(job["handle"])[0]["status"] == "running"
    manager.cancel(job["handle"])
    wait_for(manager, job, *jobs.TERMINAL)
