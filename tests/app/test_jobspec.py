"""The OIP job spec: parsed once, its limits shared by the page, the jobs and the engine."""

from __future__ import annotations

import pytest

from app.jobspec import LIMITS, JobSpec, JobSpecError, objective_layers
from cnn_core.oip import AscentOptions, OipError
from cnn_core.oip.ascent import LIMITS as ENGINE_LIMITS
from tests.imports import reachable


def test_a_request_parses_into_a_frozen_typed_spec(services):
    spec = JobSpec.parse(
        {"kind": "map", "layer": "Conv2D_3", "unit": "17", "steps": 50}, services.desc
    )
    assert (spec.kind, spec.layer, spec.unit, spec.steps) == ("map", "Conv2D_3", 17, 50)
    with pytest.raises(AttributeError):
        spec.steps = 60  # type: ignore[misc]
    assert spec.describe() == "Conv2D_3 map 17"
    assert spec.options().steps == 50 and len(spec.objectives()) == 1


def test_to_dict_and_back_is_the_same_spec(services):
    for raw in (
        {"kind": "gallery", "layer": "Conv2D_1", "units": [3, 1], "steps": 7},
        {"kind": "contrast", "a": 4, "b": 9, "n_seeds": 3, "seed": 5, "pace": 40},
        {"kind": "node", "layer": "Dense_1", "unit": 99},
    ):
        spec = JobSpec.parse(raw, services.desc)
        again = JobSpec.from_dict(spec.to_dict())
        assert again == spec and again.to_dict() == spec.to_dict()
        assert JobSpec.parse(spec.to_dict(), services.desc) == spec  # canonical form re-parses


def test_the_cache_key_ignores_the_pace_only(services):
    watched = JobSpec.parse({"kind": "class", "a": 3, "pace": 40}, services.desc)
    fast = JobSpec.parse({"kind": "class", "a": 3, "pace": 0}, services.desc)
    other = JobSpec.parse({"kind": "class", "a": 3, "seed": 1}, services.desc)
    assert watched.cache_key("m") == fast.cache_key("m") != other.cache_key("m")
    assert watched.cache_key("m") != watched.cache_key("another model")


def test_the_job_limits_are_the_engines():
    for name in ("steps", "step_size", "wavelength", "blur_sigma", "seed"):
        assert getattr(LIMITS, name) is getattr(ENGINE_LIMITS, name)


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("steps", LIMITS.steps.lo, LIMITS.steps.hi),
        ("step_size", LIMITS.step_size.lo, LIMITS.step_size.hi),
        ("blur_sigma", LIMITS.blur_sigma.lo, LIMITS.blur_sigma.hi),
    ],
)
def test_jobs_and_engine_accept_and_refuse_the_same_values(services, name, low, high):
    for value in (low, high):
        spec = JobSpec.parse({"kind": "class", "a": 1, name: value}, services.desc)
        assert getattr(spec.options(), name) == value  # the engine takes what a job takes
    above = high + 1
    with pytest.raises(JobSpecError, match=name):
        JobSpec.parse({"kind": "class", "a": 1, name: above}, services.desc)
    with pytest.raises(OipError, match=name):
        AscentOptions(**{name: above})


def test_seeds_and_wavelength_limits(services):
    with pytest.raises(JobSpecError, match="n_seeds"):
        JobSpec.parse({"kind": "class", "n_seeds": LIMITS.n_seeds.hi + 1}, services.desc)
    last = int(LIMITS.seed.hi)
    with pytest.raises(JobSpecError, match="seed"):  # seed + n_seeds - 1 stays in range
        JobSpec.parse({"kind": "class", "seed": last, "n_seeds": 2}, services.desc)
    assert JobSpec.parse({"kind": "class", "seed": last}, services.desc).seeds() == [last]
    assert LIMITS.wavelength_for(services.desc).hi == 28.0  # the image side, not 256


def test_the_oip_page_inputs_take_their_ranges_from_the_limits(services):
    import importlib
    import json

    from app import ids, main

    main.create_app()  # pages load once an app exists
    layout = importlib.import_module("app.pages.oip.layout").layout
    tree = json.loads(json.dumps(layout().to_plotly_json(), default=lambda o: o.to_plotly_json()))
    found = {}

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props", {})
            if isinstance(props, dict) and "id" in props and "max" in props:
                found[props["id"]] = (props["min"], props["max"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tree)
    assert found[ids.OIP_STEPS] == (LIMITS.steps.lo, LIMITS.steps.hi) == (1, 2000)
    assert found[ids.OIP_GALLERY_STEPS] == (LIMITS.steps.lo, LIMITS.steps.hi)
    assert found[ids.OIP_STEP_SIZE] == (LIMITS.step_size.lo, LIMITS.step_size.hi)
    assert found[ids.OIP_BLUR] == (LIMITS.blur_sigma.lo, LIMITS.blur_sigma.hi)
    assert found[ids.OIP_N_SEEDS] == (LIMITS.n_seeds.lo, LIMITS.n_seeds.hi)
    assert found[ids.OIP_WAVELENGTH] == (LIMITS.wavelength.lo, 28.0)


def test_jobs_and_worker_do_not_import_each_other():
    assert "app.jobs" in reachable("app.worker")  # the worker runs the jobs' code
    assert "app.jobspec" in reachable("app.jobs")  # (the reader sees imports: a real graph)
    assert "app.worker" not in reachable("app.jobs"), "app.jobs reaches app.worker"


def test_diverse_images_parse_into_the_engines_options_and_the_cache_key(services):
    raw = {"kind": "map", "layer": "Conv2D_3", "unit": 2, "images_per_unit": "4", "diversity": 0.3}
    spec = JobSpec.parse(raw, services.desc)
    assert (spec.options().images_per_unit, spec.options().diversity) == (4, 0.3)
    assert JobSpec.from_dict(spec.to_dict()) == spec == JobSpec.parse(spec.to_dict(), services.desc)
    plain = JobSpec.parse({**raw, "images_per_unit": 1, "diversity": 0}, services.desc)
    assert spec.cache_key("m") != plain.cache_key("m")
    # one image per seed keeps the form (and the cached results) of before
    assert "images_per_unit" not in plain.to_dict() and "diversity" not in plain.to_dict()
    for kind in ("node", "class", "contrast"):  # every single run: the seed's Conv2D_3 Grams
        diverse = {"kind": kind, "layer": "Dense_1", "images_per_unit": 2, "diversity": 1}
        assert JobSpec.parse(diverse, services.desc).options().diversity == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "class", "images_per_unit": LIMITS.images_per_unit.hi + 1}, r"1\.\.16"),
        ({"kind": "class", "images_per_unit": 0}, "images_per_unit must be an integer in"),
        ({"kind": "class", "images_per_unit": 2.5}, "images_per_unit must be an integer"),
        ({"kind": "class", "images_per_unit": 2, "diversity": -0.1}, r"diversity must be in 0"),
        ({"kind": "class", "images_per_unit": 2, "diversity": "nan"}, "diversity must be a"),
        ({"kind": "class", "diversity": 0.3}, "needs images_per_unit of 2 or more"),
        ({"kind": "gallery", "layer": "Conv2D_1", "images_per_unit": 2}, "one image per map"),
    ],
)
def test_bad_diverse_image_requests_are_refused_with_their_reason(services, raw, message):
    with pytest.raises(JobSpecError, match=message):
        JobSpec.parse(raw, services.desc)


def test_diversity_the_engine_would_refuse_is_refused_before_a_job_exists():
    from cnn_core.model.anatomy import describe_model
    from tests import zoo

    desc = describe_model(zoo.transfer_mobilenet())  # a large model: an engine per node
    diverse = {"images_per_unit": 2, "diversity": 0.3}
    with pytest.raises(JobSpecError, match="diversity needs a map layer"):
        JobSpec.parse({"kind": "class", **diverse}, desc)
    node = objective_layers("node", desc)[0]
    with pytest.raises(JobSpecError, match="maximize a map for diverse images"):
        JobSpec.parse({"kind": "node", "layer": node, **diverse}, desc)
    layer = desc.last_map_layer
    assert JobSpec.parse({"kind": "map", "layer": layer, **diverse}, desc).diversity == 0.3
    assert JobSpec.parse({"kind": "class", "images_per_unit": 3}, desc).images_per_unit == 3
