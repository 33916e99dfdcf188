"""Background OIP jobs on the local runner: real engine, real model, signed handles."""

from __future__ import annotations

import time

import numpy as np
import pytest

from app import jobs


@pytest.fixture(scope="module")
def manager(services):
    return jobs.make_manager(
        "test-secret", services.oip_engine, jobs.model_id(services.trained.meta), services.desc
    )


def wait_for(manager, handle, statuses=jobs.TERMINAL, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state, arrays = manager.status(handle)
        if state["status"] in statuses:
            return state, arrays
        time.sleep(0.05)
    raise AssertionError(f"job still {state['status']} after {timeout} s")


def test_a_map_job_runs_to_the_end_and_beats_its_start(manager):
    handle = manager.submit({"kind": "map", "layer": "Conv2D_3", "unit": 3, "steps": 40})
    state, arrays = wait_for(manager, handle)
    assert state["status"] == "done" and state["step"] == 40
    assert arrays["images"].shape == (1, 28, 28)
    assert arrays["history"].shape == (40, 1)
    assert arrays["history"][-1, 0] > arrays["history"][0, 0]
    np.testing.assert_allclose(arrays["probabilities"].sum(axis=1), 1, atol=1e-5)
    # the trust check, measured on the finished image (no reference images here: no ratio)
    assert np.isnan(arrays["trust_ratio"]).all() and np.isnan(arrays["trust_path_top"]).all()
    assert 0 < arrays["trust_robustness"][0] < 2
    assert 0 < arrays["trust_high_frequency"][0] < 1 and arrays["trust_data_high_frequency"] > 0


def test_a_finished_job_carries_the_trust_check_against_the_test_digits(services):
    manager = jobs.make_manager(
        "test-secret",
        services.oip_engine,
        jobs.model_id(services.trained.meta),
        services.desc,
        lambda: services.data.images("test"),
    )
    handle = manager.submit({"kind": "map", "layer": "Conv2D_3", "unit": 3, "steps": 60})
    state, arrays = wait_for(manager, handle)
    assert state["status"] == "done"
    best = services.unit_table("test", "Conv2D_3")[:, 3].max()
    np.testing.assert_allclose(arrays["trust_ratio"], arrays["activations"] / best, rtol=1e-3)
    assert arrays["trust_ratio"][0] > 1  # the seed's engine beats the best digit
    assert np.isfinite(arrays["trust_path_top"]).all()  # Conv2D_2 lies before it
    manager.shutdown()


def test_progress_frames_arrive_while_running(manager):
    handle = manager.submit({"kind": "class", "a": 7, "steps": 60, "pace": 60, "n_seeds": 2})
    seen_steps = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state, arrays = manager.status(handle)
        if state["status"] == "running" and "images" in arrays:
            seen_steps.add(state["step"])
            assert arrays["images"].shape == (2, 28, 28)
        if state["status"] in jobs.TERMINAL:
            break
        time.sleep(0.05)
    assert len(seen_steps) >= 2, seen_steps
    assert state["status"] == "done"


def test_cancel_stops_the_job_early(manager):
    handle = manager.submit({"kind": "contrast", "a": 4, "b": 9, "steps": 2000, "pace": 50})
    wait_for(manager, handle, statuses=("running",))
    time.sleep(0.3)
    manager.cancel(handle)
    state, _ = wait_for(manager, handle, timeout=10)
    assert state["status"] == "cancelled"
    assert state["step"] < 2000


def test_same_parameters_are_answered_from_the_cache(manager):
    spec = {"kind": "node", "layer": "Dense_1", "unit": 11, "steps": 20, "seed": 5}
    first, first_arrays = wait_for(manager, manager.submit(spec))
    second, second_arrays = wait_for(manager, manager.submit({**spec, "pace": 40}))
    assert second.get("cached") and not first.get("cached")
    np.testing.assert_array_equal(first_arrays["images"], second_arrays["images"])


def test_forged_and_unknown_handles_are_refused(manager, services):
    handle = manager.submit({"kind": "class", "a": 1, "steps": 5})
    with pytest.raises(jobs.JobNotFoundError, match="not signed"):
        manager.status(handle[:-2] + "xx")
    other = jobs.make_manager("another-secret", None, "m", services.desc)
    with pytest.raises(jobs.JobNotFoundError, match="not signed"):
        other.status(handle)
    with pytest.raises(jobs.JobNotFoundError, match="no job handle"):
        manager.status(None)
    unknown = manager.sign("0" * 32)
    with pytest.raises(jobs.JobNotFoundError, match="no longer exists"):
        manager.status(unknown)


def test_a_failing_job_reports_its_error_and_the_runner_survives(manager, services):
    store = jobs.MemoryStore()
    spec = jobs.parse_spec(
        {"kind": "map", "layer": "Conv2D_3", "unit": 0, "steps": 5}, services.desc
    )
    spec["layer"] = "Conv9"  # bypasses validation: the engine itself refuses it
    jobs.run_job("job1", spec, store, services.oip_engine())
    state, _ = store.get("job1")
    assert state["status"] == "error" and "Conv9" in state["error"]
    handle = manager.submit({"kind": "class", "a": 2, "steps": 5})
    assert wait_for(manager, handle)[0]["status"] == "done"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "blob"}, "unknown objective kind"),
        ({"kind": "map", "layer": "Dense_1"}, "has no maps"),
        ({"kind": "map", "layer": "Conv2D_3", "unit": 128}, r"unit must be an integer in 0\.\.127"),
        ({"kind": "node", "layer": "Dense_1", "unit": "x"}, "unit must be an integer"),
        ({"kind": "contrast", "a": 4, "b": 4}, "two different classes"),
        ({"kind": "class", "a": 3, "steps": 0}, "steps"),
        ({"kind": "class", "a": 3, "n_seeds": 99}, "n_seeds"),
        ({"kind": "gallery", "layer": "Conv2D_1", "units": []}, "units"),
        ("not a dict", "must be an object"),
    ],
)
def test_bad_job_requests_are_refused_clearly(manager, raw, message):
    with pytest.raises(jobs.JobSpecError, match=message):
        manager.submit(raw)


def test_finished_jobs_are_cleaned_up():
    store = jobs.MemoryStore()
    store.put("old", {"status": "done", "updated": time.time() - jobs.JOB_TTL_S - 1})
    store.put("running", {"status": "running", "updated": time.time() - jobs.JOB_TTL_S - 1})
    store.put("new", {"status": "done", "updated": time.time()})
    assert store.get("old") is None
    assert store.get("running") is not None and store.get("new") is not None


def test_shutdown_stops_running_jobs(services):
    manager = jobs.make_manager(
        "s", services.oip_engine, jobs.model_id(services.trained.meta), services.desc
    )
    handle = manager.submit({"kind": "class", "a": 3, "steps": 2000, "pace": 50, "seed": 77})
    wait_for(manager, handle, statuses=("running",))
    manager.shutdown()
    state, _ = wait_for(manager, handle, timeout=10)
    assert state["status"] == "cancelled"


def test_a_job_that_stops_reporting_is_shown_as_dead(services):
    manager = jobs.make_manager("s", services.oip_engine, "m", services.desc)
    handle = manager.sign("dead-job")
    silent_for = jobs.STALE_AFTER_S + 5
    state = {"id": "dead-job", "status": "running", "step": 3, "steps": 9, "spec": {}}
    manager.store.put("dead-job", {**state, "updated": time.time() - silent_for})
    reported, _ = manager.status(handle)
    assert reported["status"] == "error" and "stopped reporting" in reported["error"]


def test_job_requests_are_checked_against_the_loaded_models_description(shapes_path):
    from cnn_core.model.trained import load_trained

    desc = load_trained(shapes_path).desc  # 32x32x3, six classes, layers conv1..class
    spec = jobs.parse_spec({"kind": "map", "layer": "conv3", "unit": 0}, desc)
    assert spec["layer"] == "conv3" and spec["wavelength"] == jobs.ENGINE_DEFAULTS.wavelength
    assert (spec["method"], spec["transforms"]) == ("fourier", True)  # a colour model's default
    with pytest.raises(jobs.JobSpecError, match="method must be one of pixel, fourier, maco"):
        jobs.parse_spec({"kind": "map", "layer": "conv3", "method": "dct"}, desc)
    with pytest.raises(jobs.JobSpecError, match="transforms must be true or false"):
        jobs.parse_spec({"kind": "map", "layer": "conv3", "transforms": 1}, desc)
    assert jobs.parse_spec({"kind": "node", "layer": "dense", "unit": 0}, desc)["layer"] == "dense"
    assert jobs.objective_layers("node", desc) == ("dense", "gap")  # from the output back
    contrast = jobs.parse_spec({"kind": "contrast"}, desc)
    assert (contrast["a"], contrast["b"]) == (0, 1)  # the first two: fewer than 10 classes
    assert jobs.parse_spec({"kind": "class", "a": 5, "wavelength": 32}, desc)["a"] == 5
    for raw, message in [
        ({"kind": "map", "layer": "Conv2D_3"}, "choose conv1, pool1, conv2, conv3"),
        ({"kind": "node", "layer": "class"}, "has no nodes"),  # the logits: a class objective
        ({"kind": "class", "a": 6}, r"a must be an integer in 0\.\.5"),
        ({"kind": "class", "a": 1, "wavelength": 33}, r"wavelength must be in 1\.0\.\.32\.0"),
    ]:
        with pytest.raises(jobs.JobSpecError, match=message):
            jobs.parse_spec(raw, desc)


def test_a_job_of_diverse_images_keeps_k_images_per_seed_each_trust_checked(
    shapes_path, shapes_data
):
    from app.services import trust_images
    from cnn_core.model.trained import load_trained
    from cnn_core.oip import engine_for

    trained = load_trained(shapes_path)  # the colour example: 32x32x3, Fourier, transforms
    manager = jobs.make_manager(
        "test-secret",
        lambda layer: engine_for(trained, layer or trained.desc.logits_layer),
        jobs.model_id(trained.meta),
        trained.desc,
        lambda: trust_images(shapes_data),
    )
    spec = {"kind": "map", "layer": "conv3", "unit": 1, "steps": 20, "seed": 3}
    handle = manager.submit({**spec, "images_per_unit": 2, "diversity": 0.3})
    state, arrays = wait_for(manager, handle)
    assert state["status"] == "done", state.get("error")
    assert state["spec"]["images_per_unit"] == 2 and state["spec"]["diversity"] == 0.3
    assert arrays["images"].shape == (1, 2, 32, 32, 3)  # (seeds, images per seed, H, W, C)
    assert arrays["history"].shape == (20, 1, 2) and arrays["activations"].shape == (1, 2)
    assert arrays["probabilities"].shape == (1, 2, 6)
    assert arrays["curve_values"].shape[1:] == (1, 2)  # the progress frames had both images
    assert not np.allclose(arrays["images"][0, 0], arrays["images"][0, 1])
    for key in jobs.TRUST_KEYS:  # the trust check, per image
        assert arrays[f"trust_{key}"].shape == (1, 2), key
    assert (
        np.isfinite(arrays["trust_ratio"]).all() and np.isfinite(arrays["trust_robustness"]).all()
    )
    manager.shutdown()
