"""The timeline page's parts without a browser: unit parsing, URL view, background OIP runs."""

from __future__ import annotations

import time

import numpy as np
import pytest

from app.components.validate import InvalidValue
from app.pages.timeline.view import TimelineView, parse_units, units_text
from app.timeline_runs import RunKey, TimelineRuns
from cnn_core import config
from cnn_core.explain.timeline import Timeline, checkpoint_dir_for


def test_units_are_typed_as_lists_and_ranges_and_checked_against_the_layer(services):
    assert parse_units("0-3, 7 9-10", "Conv2D_3") == (0, 1, 2, 3, 7, 9, 10)
    assert units_text((0, 1, 2, 3, 7, 9, 10)) == "0-3 7 9-10"
    with pytest.raises(InvalidValue, match="Conv2D_1 has units 0-31"):
        parse_units("30-33", "Conv2D_1")
    with pytest.raises(InvalidValue, match="at most 16"):
        parse_units("0-20", "Conv2D_3")
    with pytest.raises(InvalidValue, match="not a number"):
        parse_units("a-b", "Conv2D_3")


def test_the_url_view_defaults_to_the_last_epoch_and_names_bad_values(services):
    view, problems = TimelineView.from_query({"epoch": "99", "units": "0-200", "zoom": "2"})
    assert view.epoch == 20 and view.a == 4 and view.b == 9 and view.oip_layer == "Conv2D_3"
    assert view.units == "0-7"
    assert any(p.startswith("epoch: no checkpoint of epoch 99") for p in problems)
    assert any(p.startswith("units:") for p in problems)
    assert "unknown parameter 'zoom'" in problems
    again, none = TimelineView.from_query(dict(p.split("=") for p in view.query()[1:].split("&")))
    assert again == view and none == []


def test_a_background_run_computes_every_epoch_once_and_is_answered_from_its_name(trained):
    full = Timeline.load(checkpoint_dir_for(config.default_model_path()), trained)
    timeline = Timeline(trained, full.checkpoints[::10], full.models[::10])  # epochs 0, 10, 20
    runs = TimelineRuns(timeline)
    key = RunKey("Conv2D_3", (1, 2), 20, 0)
    state = runs.request(key)
    deadline = time.monotonic() + 120
    while state.status not in ("done", "error") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state.status == "done", state.error
    assert state.images.shape == (3, 2, 28, 28) and state.values.shape == (3, 2)
    assert state.settled.shape == (2, 3)
    np.testing.assert_allclose(state.settled[:, -1], 1.0, atol=1e-6)
    assert runs.request(RunKey("Conv2D_3", (1, 2), 20, 0)) is state  # the same run, not again
    assert timeline.oip_engine().tracing_count() == 1
