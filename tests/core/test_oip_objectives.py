"""Objectives compose into readable linear combinations and reject bad layers and units."""

from __future__ import annotations

import pytest

from cnn_core.oip import ClassLogit, MapMean, Node, Objective, OipError, engine_for
from cnn_core.oip.ascent import objectives_for


def test_difference_of_logits_reads_as_a_contrast():
    objective = ClassLogit(4) - ClassLogit(9)
    assert isinstance(objective, Objective)
    assert str(objective) == "logit 4 − logit 9"
    assert [coef for coef, _ in objective.terms] == [1.0, -1.0]


def test_scaled_and_summed_objectives_keep_their_coefficients():
    objective = 0.5 * MapMean("Conv2D_3", 17) + Node("Dense_1", 3) * 2
    assert str(objective) == "0.5 × Conv2D_3 map 17 + 2 × Dense_1 node 3"
    assert -MapMean("Conv2D_1", 0) == MapMean("Conv2D_1", 0) * -1


def test_equal_terms_merge_and_cancelling_terms_are_an_error():
    doubled = MapMean("Max_Pool_2", 1) + MapMean("Max_Pool_2", 1)
    assert str(doubled) == "2 × Max_Pool_2 map 1"
    with pytest.raises(OipError, match="empty"):
        MapMean("Max_Pool_2", 1) - MapMean("Max_Pool_2", 1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MapMean("Conv2D_3", -1), ">= 0"),
        (lambda: Node("Dense_1", 1.5), "integer"),
        (lambda: ClassLogit(True), "integer"),
        (lambda: MapMean("", 0), "layer name"),
    ],
)
def test_bad_units_raise_a_clear_oip_error_at_once(make, message):
    with pytest.raises(OipError, match=message):
        make()


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        (MapMean("Dense_1", 0), "map layer of this model .*Conv2D_1.*got 'Dense_1'"),
        (MapMean("Conv2D_9", 0), "map layer"),
        (Node("Conv2D_3", 0), "node layer of this model \\(Flatten, Dense_1\\)"),
        (Node("Dense_2", 3), "ClassLogit"),
        (ClassLogit(10), "class 10 does not exist: choose 0-9"),
        (MapMean("Conv2D_3", 128), "Conv2D_3 map 128 does not exist: choose 0-127"),
    ],
)
def test_layers_and_units_the_model_lacks_are_refused_by_its_engine(trained, objective, message):
    with pytest.raises(OipError, match=message):
        engine_for(trained).weights_for([objective])


def test_objectives_do_not_combine_with_plain_numbers():
    with pytest.raises(TypeError):
        MapMean("Conv2D_3", 0) + 1.0  # type: ignore[operator]


@pytest.mark.parametrize(
    ("layer", "units", "message"),
    [
        ("Dense_1", [3, 100], "Dense_1 node 100 does not exist: choose 0-99"),
        ("Conv2D_1", [32], "Conv2D_1 map 32 does not exist: choose 0-31"),
        ("Dense_2", [10], "class 10 does not exist: choose 0-9"),
        ("Conv2D_9", [0], "unknown layer 'Conv2D_9'"),
        ("Dense_1", [], "no units given"),
        ("Dense_1", "some", "a list of integers or 'all'"),
    ],
)
def test_objectives_for_a_layer_are_checked_against_the_description_alone(
    trained, layer, units, message
):
    with pytest.raises(OipError, match=message):
        objectives_for(layer, units, trained.desc)


def test_all_units_of_a_layer_are_one_objective_each(trained):
    assert objectives_for("Conv2D_1", "all", trained.desc) == [
        MapMean("Conv2D_1", u) for u in range(32)
    ]
    assert objectives_for("Dense_2", [4, 9], trained.desc) == [ClassLogit(4), ClassLogit(9)]
