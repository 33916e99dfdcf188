"""The Model page's graph (`app.model_graph`): elements from the description, boxes, folding,
the stage rule, and what a tap or a fold button does."""

from __future__ import annotations

import pytest

from app.model_graph import (
    EVERY_STAGE,
    NESTED,
    STAGE,
    STAGE_BOXES_ABOVE,
    ModelGraph,
    canvas_height,
    explorer_href,
    model_graph,
    ranks,
    stage_of,
)
from cnn_core.model.anatomy import INPUT_NODE, describe_model
from tests import zoo


def nodes(elements):
    return [e for e in elements if "source" not in e["data"]]


def edges(elements):
    return [(e["data"]["source"], e["data"]["target"]) for e in elements if "source" in e["data"]]


def node(elements, node_id):
    return next(e for e in elements if e["data"]["id"] == node_id)


@pytest.fixture(scope="module")
def seed(trained):
    return model_graph(trained.desc)


@pytest.fixture(scope="module")
def residual(residual_path):
    from cnn_core.model.trained import load_trained

    return model_graph(load_trained(residual_path).desc)


@pytest.fixture(scope="module")
def transfer():
    """A nested MobileNetV2 base in a transfer-learning model: more than 60 shown nodes."""
    return ModelGraph(describe_model(zoo.transfer_mobilenet()))


# the seed: a chain ----------------------------------------------------------------------------


def test_the_seed_is_a_chain_of_nine_nodes_from_the_input(seed, trained):
    elements = seed.elements(seed.initially_folded)
    names = trained.desc.names
    assert [n["data"]["id"] for n in nodes(elements)] == [INPUT_NODE, *names]
    assert edges(elements) == list(zip([INPUT_NODE, *names[:-1]], names, strict=True))
    assert ranks(elements) == 9
    assert seed.boxes == {} and seed.controls == () and seed.initially_folded == frozenset()


def test_a_seed_node_says_what_it_is_and_links_to_the_explorer(seed, trained):
    elements = seed.elements()
    first = trained.desc.layers[0]
    data = node(elements, first.name)["data"]
    assert data["href"] == explorer_href(first.name) == f"/activations?layer={first.name}"
    assert first.class_name in data["label"] and "26 x 26 x 32" in data["label"]
    assert "output 26 x 26 x 32" in data["detail"]
    assert f"{first.params:,} parameters" in data["detail"]
    assert node(elements, trained.desc.logits_layer)["classes"] == "layer nodes logits"
    assert node(elements, INPUT_NODE)["classes"] == "input"


def test_the_elements_are_built_once_per_description_and_fold_state(seed, trained):
    assert model_graph(trained.desc) is seed
    assert seed.elements() == seed.elements()
    assert seed.elements()[0] is seed.elements()[0]  # cached, not rebuilt


# the residual example: merges and a nested model ------------------------------------------------


def test_the_residual_merges_are_marked_and_read_from_two_nodes(residual):
    elements = residual.elements()
    merges = [n for n in nodes(elements) if "merge" in n["classes"].split()]
    assert len(merges) == 2
    for merge in merges:
        info = residual.layers[merge["data"]["id"]]
        assert info.is_merge and "⊕ merge: Add" in merge["data"]["label"]
        assert [s for s, t in edges(elements) if t == info.name] == list(info.inputs)
        assert len(info.inputs) == 2


def test_the_nested_base_is_a_box_around_its_members(residual):
    (box,) = residual.boxes.values()
    assert box.kind == NESTED and box.parent is None
    members = [i.name for i in residual.desc.layers if i.scope]
    assert box.members == tuple(members) and len(members) == 8
    elements = residual.elements()
    drawn = node(elements, box.id)
    assert drawn["data"]["label"].startswith(f"▾ {box.name}") and "folded" not in drawn["classes"]
    children = [n["data"]["id"] for n in nodes(elements) if n["data"].get("parent") == box.id]
    assert children == members
    assert [c.key for c in residual.controls] == [box.id]
    assert residual.initially_folded == frozenset()  # a nested model opens unfolded


def test_folding_the_base_reroutes_the_edges_to_its_box(residual):
    (box,) = residual.boxes
    folded = residual.toggle(frozenset(), [box])
    elements = residual.elements(folded)
    top = [i.name for i in residual.desc.layers if not i.scope]
    assert [n["data"]["id"] for n in nodes(elements)] == [box, INPUT_NODE, *top]
    assert edges(elements) == [(INPUT_NODE, box), (box, top[0]), (top[0], top[1])]
    assert "folded" in node(elements, box)["classes"]
    assert "8 nodes" in node(elements, box)["data"]["label"]
    assert residual.toggle(folded, [box]) == frozenset()


def test_a_tap_on_a_node_opens_the_explorer_and_on_the_box_folds_it(residual):
    (box,) = residual.boxes
    merge = next(i.name for i in residual.desc.layers if i.is_merge)
    opened = residual.tap({"id": merge}, [])
    assert opened.href == explorer_href(merge) and opened.folded is None
    assert "layer=residual_base%2Fstage1_add" in opened.href  # the path, encoded
    assert residual.tap({"id": box}, []).folded == {box}
    assert residual.tap({"id": box}, [box]).folded == frozenset()
    assert residual.press(box, []).folded == {box}


@pytest.mark.parametrize(
    "tapped, folded",
    [
        (None, None),
        ("Conv", []),
        ({"id": 3}, []),
        ({"id": "no such node"}, ["x"]),
        ({"id": INPUT_NODE}, [None, 7]),
        ([{"id": "x"}], {"a": 1}),
    ],
)
def test_a_tap_on_anything_else_does_nothing(residual, tapped, folded):
    action = residual.tap(tapped, folded)
    assert action.href is None and action.folded is None


def test_a_fold_state_from_the_browser_keeps_only_known_boxes(residual):
    (box,) = residual.boxes
    assert residual.check_folded([box, "/nested/forged", 3, None]) == {box}
    assert residual.press("no such control", [box]).folded is None
    assert residual.press(box, "not a list").folded == {box}


# a branched model from the zoo --------------------------------------------------------------------


def test_the_inception_branches_meet_in_one_concatenate():
    graph = ModelGraph(describe_model(zoo.inception_block()))
    elements = graph.elements()
    assert {t for s, t in edges(elements) if s == INPUT_NODE} == {"a1x1", "b3x3", "c_pool"}
    assert [s for s, t in edges(elements) if t == "c1x1"] == ["c_pool"]
    assert [s for s, t in edges(elements) if t == "mix"] == ["a1x1", "b3x3", "c1x1"]
    assert "merge" in node(elements, "mix")["classes"]
    assert "⊕ merge: Concatenate" in node(elements, "mix")["data"]["label"]
    assert ranks(elements) == 7  # input, c_pool, c1x1, mix, pool, flat, dense
    assert graph.boxes == {}


# a large model: stages folded inside the nested base ---------------------------------------------


def test_a_large_model_draws_its_stages_folded_inside_the_nested_base(transfer):
    assert len(transfer.desc.layers) > STAGE_BOXES_ABOVE
    (base,) = [b for b in transfer.boxes.values() if b.kind == NESTED]
    stages = [b for b in transfer.boxes.values() if b.kind == STAGE]
    assert len(stages) == 16 and all(b.parent == base.id for b in stages)
    assert {b.label for b in stages} == {f"block_{k}" for k in range(1, 17)}
    assert transfer.initially_folded == {b.id for b in stages}
    elements = transfer.elements(transfer.initially_folded)
    shown = {n["data"]["id"] for n in nodes(elements)}
    assert not shown & {m for b in stages for m in b.members}  # members hidden in their box
    assert {b.id for b in stages} <= shown
    # the folded chain: every edge between drawn elements, each pair once
    assert all(s in shown and t in shown for s, t in edges(elements))
    assert len(edges(elements)) == len(set(edges(elements)))
    assert [c.key for c in transfer.controls] == [base.id, EVERY_STAGE]


def test_folding_the_base_hides_its_stages_and_unfolding_every_stage_shows_all(transfer):
    (base,) = [b.id for b in transfer.boxes.values() if b.kind == NESTED]
    folded = transfer.press(base, sorted(transfer.initially_folded)).folded
    elements = transfer.elements(folded)
    assert nodes(elements)[0]["data"]["id"] == base
    assert not any(n["data"]["id"].startswith(f"/{STAGE}/") for n in nodes(elements))
    every = transfer.press(EVERY_STAGE, sorted(transfer.initially_folded)).folded
    assert every == frozenset()
    layers = [n for n in nodes(transfer.elements(every)) if n["classes"].startswith("layer")]
    assert len(layers) == len(transfer.desc.layers)
    assert len(edges(transfer.elements(every))) == len(transfer.edges)


def test_a_long_graph_gets_a_taller_canvas_within_limits(seed, transfer):
    assert 360 <= canvas_height(seed.elements()) < canvas_height(transfer.elements()) <= 900


# the stage rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, class_name, stage",
    [
        ("block_3_expand", "Conv2D", "block_3"),  # MobileNetV2
        ("base/block_16_project", "Conv2D", "block_16"),  # nested: the last part counts
        ("conv2_block1_1_conv", "Conv2D", "conv2_block1"),  # DenseNet, ResNet
        ("conv4_block24_concat", "Concatenate", "conv4_block24"),
        ("pool2_conv", "Conv2D", "pool2"),
        ("stage3_unit1_conv1", "Conv2D", "stage3_unit1"),
        ("block1a_dwconv", "DepthwiseConv2D", "block1a"),  # EfficientNet
        ("block1_conv1", "Conv2D", "block1"),  # VGG, Xception
        ("expanded_conv_1_expand", "Conv2D", "expanded_conv_1"),  # MobileNetV3
        ("residual_base/stage1_add", "Add", "stage1"),
        ("Conv1", "Conv2D", None),  # its own stage: none
        ("Conv_1", "Conv2D", None),
        ("stem_conv", "Conv2D", None),  # no number
        ("predictions", "Dense", None),
        ("conv2d_3", "Conv2D", None),  # named by Keras itself
        ("max_pooling2d", "MaxPooling2D", None),
        ("separable_conv2d_2", "SeparableConv2D", None),
        ("dense_1", "Dense", None),
    ],
)
def test_the_stage_of_a_layer_comes_from_its_name(name, class_name, stage):
    assert stage_of(name, class_name) == stage
