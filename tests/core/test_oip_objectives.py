"""Objectives compose into readable linear combinations and reject bad layers and units."""

from __future__ import annotations

import pytest

from cnn_core.oip import ClassLogit, MapMean, Node, Objective, OipError


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
        (lambda: MapMean("Dense_1", 0), "map layer"),
        (lambda: MapMean("Conv2D_9", 0), "map layer"),
        (lambda: Node("Conv2D_3", 0), "node layer"),
        (lambda: Node("Dense_2", 3), "ClassLogit"),
        (lambda: ClassLogit(10), "0-9"),
        (lambda: MapMean("Conv2D_3", -1), ">= 0"),
        (lambda: Node("Dense_1", 1.5), "integer"),
        (lambda: ClassLogit(True), "integer"),
    ],
)
def test_bad_layers_and_units_raise_a_clear_oip_error(make, message):
    with pytest.raises(OipError, match=message):
        make()


def test_objectives_do_not_combine_with_plain_numbers():
    with pytest.raises(TypeError):
        MapMean("Conv2D_3", 0) + 1.0  # type: ignore[operator]
