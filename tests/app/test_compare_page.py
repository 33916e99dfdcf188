"""The Compare page through real Dash callback requests on the real model (Flask test client)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest

from app import ids
from cnn_core.explain.compare import common_points, pick_examples
from tests.app.dash_requests import call, callback_key

DEFAULT_VIEW = {
    f"{ids.COMPARE_CLASS_A}.value": 4,
    f"{ids.COMPARE_CLASS_B}.value": 9,
    f"{ids.COMPARE_N}.value": 3,
    f"{ids.COMPARE_KIND_A}.value": "clear",
    f"{ids.COMPARE_KIND_B}.value": "clear",
    f"{ids.COMPARE_INDICES_A}.value": "",
    f"{ids.COMPARE_INDICES_B}.value": "",
    f"{ids.COMPARE_LAYER}.value": "Conv2D_3",
    f"{ids.COMPARE_THRESHOLD}.value": 0.1,
    f"{ids.COMPARE_CMAP}.value": "jet",
}


def compare(app, client, **changes):
    values = dict(DEFAULT_VIEW)
    for short, value in changes.items():
        values[f"{getattr(ids, 'COMPARE_' + short.upper())}.value"] = value
    return call(app, client, f"{ids.COMPARE_PANEL_A}.children", values)


def _figures(tree) -> list[dict]:
    """Every figure inside a rendered component tree."""
    found = []

    def walk(node):
        if isinstance(node, dict) and "props" in node:
            props = node["props"]
            if isinstance(props.get("figure"), dict):
                found.append(props["figure"])
            walk(props.get("children"))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tree)
    return found


def _markers(figure: dict) -> dict[str, int]:
    """Markers per colour (the dark outline drawn under them, without hover, left out)."""
    counts: dict[str, int] = {}
    for trace in figure["data"]:
        if trace.get("type") == "scatter" and trace.get("hoverinfo") != "skip":
            for color in trace["marker"]["color"]:
                counts[color] = counts.get(color, 0) + 1
    return counts


def test_compare_page_is_served(client):
    response = client.get("/compare?a=4&b=9&layer=Conv2D_3")
    assert response.status_code == 200
    assert b"cnn-lens" in response.data


def test_four_vs_nine_draws_the_core_red_and_yellow_points(app, client, services):
    status, data = compare(app, client)
    assert status == 200
    resp = data["response"]
    panel_a = resp[ids.COMPARE_PANEL_A]["children"]
    panel_b = resp[ids.COMPARE_PANEL_B]["children"]
    # what the core says for the same digits
    labels, proba = services.data.y_test, services.proba["test"]
    ia = pick_examples(labels, proba, 4, 9, 3, "clear")
    ib = pick_examples(labels, proba, 9, 4, 3, "clear")
    acts_a = services.acts.layer(services.x_std["test"][ia], "Conv2D_3")
    acts_b = services.acts.layer(services.x_std["test"][ib], "Conv2D_3")
    red_a, yellow, _ = common_points(acts_a, acts_b, 0.1)
    red_b = common_points(acts_b, acts_a, 0.1).only_a
    assert red_a.sum() > 0 and red_b.sum() > 0 and yellow.sum() > 0
    figs_a, figs_b = _figures(panel_a), _figures(panel_b)
    assert len(figs_a) == 3 and len(figs_b) == 3
    for fig in figs_a:
        counts = _markers(fig)
        assert counts == {"#ff1a1a": red_a.sum(), "#ffe600": yellow.sum()}
    for fig in figs_b:
        assert _markers(fig) == {"#ff1a1a": red_b.sum(), "#ffe600": yellow.sum()}
    # the seed's probability captions and explorer links
    text = json.dumps(panel_a)
    for index in ia:
        for line in (f'{proba[index, 4]:.1%} "4"', f'{proba[index, 9]:.1%} "9"'):
            assert json.dumps(line) in text
    assert f"/activations?split=test&index={ia[0]}&layer=Conv2D_3&cmap=jet" in text
    # the URL holds the view
    search = resp[ids.COMPARE_QUERY]["data"]
    assert search.startswith("?a=4&b=9&n=3&kind=clear") and "threshold=0.1" in search
    assert resp[ids.COMPARE_SHOWN]["data"] == {"a": ia.tolist(), "b": ib.tolist()}


def test_dense_layer_marks_nodes(app, client):
    status, data = compare(app, client, layer="Dense_1", kind_a="unclear")
    assert status == 200
    figs = _figures(data["response"][ids.COMPARE_PANEL_A]["children"])
    assert len(figs) == 3 and all(fig["layout"]["meta"]["cells"] == 100 for fig in figs)


def test_typed_indices_replace_the_picked_examples(app, client, services):
    fours = np.flatnonzero(services.data.y_test == 4)[[5, 17]].tolist()
    status, data = compare(app, client, indices_a=f"{fours[0]}, {fours[1]}")
    assert status == 200
    assert data["response"][ids.COMPARE_SHOWN]["data"]["a"] == fours
    assert f"ia={fours[0]}%2C+{fours[1]}" in data["response"][ids.COMPARE_QUERY]["data"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"class_b": 4}, "both sides are class 4"),
        ({"class_a": 12}, "unknown class 12"),
        ({"class_a": "x"}, "unknown class 'x'"),
        ({"n": 11}, "1 to 10"),
        ({"n": None}, "how many examples"),
        ({"n": "abc"}, "whole number"),
        ({"kind_a": "blurry"}, "clear, unclear"),
        ({"indices_a": "12, x"}, "not a digit index"),
        ({"indices_a": "5000"}, "out of range"),
        ({"layer": "Conv2D_9"}, "unknown layer"),
        ({"threshold": 2}, "between 0 and 1"),
        ({"cmap": "rainbow"}, "unknown colormap"),
    ],
)
def test_bad_input_gets_a_message_and_keeps_the_view(app, client, changes, message):
    status, data = compare(app, client, **changes)
    assert status == 200
    resp = data["response"]
    assert message in resp[ids.COMPARE_MESSAGE]["children"]
    assert resp[ids.COMPARE_MESSAGE]["is_open"] is True
    assert ids.COMPARE_PANEL_A not in resp  # no_update: the previous view stays


def test_typed_digits_of_the_wrong_class_are_named(app, client, services):
    seven = int(np.flatnonzero(services.data.y_test == 7)[0])
    status, data = compare(app, client, indices_a=str(seven))
    assert status == 200
    assert f"test digit {seven} is a 7" in data["response"][ids.COMPARE_MESSAGE]["children"]


def test_statistics_show_difference_ranking_and_top_maps(app, client):
    values = {k: DEFAULT_VIEW[k] for k in DEFAULT_VIEW}
    status, data = call(app, client, f"{ids.COMPARE_DIFF}.figure", values)
    assert status == 200
    resp = data["response"]
    assert resp[ids.COMPARE_DIFF]["figure"]["layout"]["meta"]["cells"] == 128
    bars = resp[ids.COMPARE_RANKING]["figure"]["data"]
    assert [trace["name"] for trace in bars] == ['class "4"', 'class "9"']
    assert len(bars[0]["x"]) == 12 and bars[0]["x"][0].startswith("map ")
    assert resp[ids.COMPARE_TOP_MAPS]["figure"]["layout"]["meta"]["cells"] == 16


def test_statistics_of_the_same_class_twice_are_left_alone(app, client):
    values = {**DEFAULT_VIEW, f"{ids.COMPARE_CLASS_B}.value": 4}
    status, data = call(app, client, f"{ids.COMPARE_DIFF}.figure", values)
    assert status == 204 or ids.COMPARE_DIFF not in data.get("response", {})


def _cell(app, client, click, a=4, b=9):
    values = {
        f"{ids.COMPARE_CONFUSION}.clickData": click,
        f"{ids.COMPARE_CLASS_A}.value": a,
        f"{ids.COMPARE_CLASS_B}.value": b,
        f"{ids.COMPARE_LAYER}.value": "Conv2D_3",
        f"{ids.COMPARE_CMAP}.value": "jet",
    }
    status, data = call(app, client, f"{ids.COMPARE_CELL}.children", values)
    assert status == 200
    return json.dumps(data["response"][ids.COMPARE_CELL]["children"])


def test_confusion_cell_lists_its_digits_with_explorer_links(app, client, services):
    labels, predicted = services.data.y_test, services.predicted("test")
    count = int(((labels == 9) & (predicted == 4)).sum())
    text = _cell(app, client, {"points": [{"x": "4", "y": "9"}]})
    assert f"True 9, predicted 4: {count}" in text
    assert text.count("/activations?split=test&index=") == min(count, 48)
    diagonal = _cell(app, client, {"points": [{"x": "4", "y": "4"}]})
    assert diagonal.count("/activations?split=test&index=") == 48  # 48 shown of ~98
    other = _cell(app, client, {"points": [{"x": "2", "y": "7"}]})
    assert 'compare \\"7\\" with \\"2\\"' in other


def test_a_broken_click_is_a_message(app, client):
    text = _cell(app, client, {"points": [{"x": "11", "y": "4"}]})
    assert "cannot list this cell" in text


def test_adding_a_digit_appends_it_to_its_class(app, client, services):
    four = int(np.flatnonzero(services.data.y_test == 4)[40])
    add_id = json.dumps({"index": four, "type": ids.COMPARE_ADD}, sort_keys=True)
    key = callback_key(app, f"{ids.COMPARE_INDICES_A}.value", trigger=ids.COMPARE_ADD)
    spec = app.callback_map[key]
    body = {
        "output": key,
        "outputs": [
            {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1].split("@")[0]}
            for part in key.strip(".").split("...")
        ],
        "inputs": [
            [
                {
                    "id": {"type": ids.COMPARE_ADD, "index": four},
                    "property": "n_clicks",
                    "value": 1,
                }
            ]
        ],
        "state": [
            {"id": dep["id"], "property": dep["property"], "value": value}
            for dep, value in zip(
                spec["state"], [4, 9, "", "", {"a": [1, 7], "b": [2]}], strict=True
            )
        ],
        "changedPropIds": [f"{add_id}.n_clicks"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    resp = json.loads(response.data)["response"]
    assert resp[ids.COMPARE_INDICES_A]["value"] == f"1, 7, {four}"


def test_download_is_a_png_of_the_comparison(app, client):
    values = {**DEFAULT_VIEW, f"{ids.COMPARE_DOWNLOAD_BUTTON}.n_clicks": 1}
    status, data = call(
        app,
        client,
        f"{ids.COMPARE_DOWNLOAD}.data",
        values,
        changed=f"{ids.COMPARE_DOWNLOAD_BUTTON}.n_clicks",
    )
    assert status == 200
    download = data["response"][ids.COMPARE_DOWNLOAD]["data"]
    assert download["filename"] == "compare_4_vs_9_Conv2D_3.png"
    png = base64.b64decode(download["content"])
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width > 1000


def test_url_values_that_make_no_sense_are_reported(app):
    import dash

    page = next(p for p in dash.page_registry.values() if p["path"] == "/compare")
    tree = json.dumps(
        page["layout"](a="12", layer="Conv9", threshold="7", cmap="x").to_plotly_json(), default=str
    )
    assert "unknown class" in tree and "unknown layer" in tree and "not between 0 and 1" in tree


def test_compare_these_classes_switches_the_pair_and_clears_typed_digits(app, client):
    key = callback_key(app, f"{ids.COMPARE_CLASS_A}.value", trigger=ids.COMPARE_PAIR)
    pair_id = {"type": ids.COMPARE_PAIR, "a": 7, "b": 2}
    body = {
        "output": key,
        "outputs": [
            {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1].split("@")[0]}
            for part in key.strip(".").split("...")
        ],
        "inputs": [[{"id": pair_id, "property": "n_clicks", "value": 1}]],
        "state": [],
        "changedPropIds": [json.dumps(pair_id, sort_keys=True) + ".n_clicks"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    resp = json.loads(response.data)["response"]
    assert resp[ids.COMPARE_CLASS_A]["value"] == 7 and resp[ids.COMPARE_CLASS_B]["value"] == 2
    assert resp[ids.COMPARE_INDICES_A]["value"] == "" == resp[ids.COMPARE_INDICES_B]["value"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"indices_a": 12345}, "out of range"),
        ({"indices_a": ["1"]}, "not a digit index"),
        ({"n": [3]}, "whole number"),
        ({"threshold": "half"}, "between 0 and 1"),
        ({"class_a": {"x": 1}}, "unknown class"),
        ({"layer": ["Conv2D_3"]}, "unknown layer"),
    ],
)
def test_crafted_requests_get_a_message_not_a_500(app, client, changes, message):
    status, data = compare(app, client, **changes)
    assert status == 200
    assert message in data["response"][ids.COMPARE_MESSAGE]["children"]


def test_a_click_that_is_not_a_click_lists_the_default_cell(app, client):
    assert "True 4, predicted 9" in _cell(app, client, "not a click")


def test_a_cell_listing_with_broken_classes_is_a_message(app, client):
    assert "cannot list this cell" in _cell(app, client, None, a=[4], b=9)


def test_the_digit_pickers_test_digit_joins_its_class(app, client, services):
    from app.components.digit_picker import DigitPickerIds, dom_id

    four = int(np.flatnonzero(services.data.y_test == 4)[7])
    key = callback_key(app, f"{ids.COMPARE_INDICES_A}.value", trigger=ids.COMPARE_PICKER_ADD)
    spec = app.callback_map[key]
    choice = {"kind": "dataset", "split": "test", "index": four}
    values = {
        ids.COMPARE_PICKER_ADD: 1,
        dom_id(DigitPickerIds.choice(ids.COMPARE_PICKER)): choice,
        ids.COMPARE_CLASS_A: 4,
        ids.COMPARE_CLASS_B: 9,
        ids.COMPARE_INDICES_A: "",
        ids.COMPARE_INDICES_B: "",
        ids.COMPARE_SHOWN: {"a": [1, 7], "b": [2]},
    }

    def item(dep):
        dep_id = json.loads(dep["id"]) if dep["id"].startswith("{") else dep["id"]
        return {"id": dep_id, "property": dep["property"], "value": values.get(dep["id"])}

    body = {
        "output": key,
        "outputs": [
            {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1].split("@")[0]}
            for part in key.strip(".").split("...")
        ],
        "inputs": [item(dep) for dep in spec["inputs"]],
        "state": [item(dep) for dep in spec["state"]],
        "changedPropIds": [f"{ids.COMPARE_PICKER_ADD}.n_clicks"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    resp = json.loads(response.data)["response"]
    assert resp[ids.COMPARE_INDICES_A]["value"] == f"1, 7, {four}"
    assert ids.COMPARE_INDICES_B not in resp
    nine = int(np.flatnonzero(services.data.y_test == 9)[0])
    values[dom_id(DigitPickerIds.choice(ids.COMPARE_PICKER))] = {**choice, "index": nine}
    body["state"] = [item(dep) for dep in spec["state"]]
    resp = json.loads(client.post("/_dash-update-component", json=body).data)["response"]
    assert resp[ids.COMPARE_INDICES_B]["value"] == f"2, {nine}"
    seven = int(np.flatnonzero(services.data.y_test == 7)[0])
    values[dom_id(DigitPickerIds.choice(ids.COMPARE_PICKER))] = {**choice, "index": seven}
    body["state"] = [item(dep) for dep in spec["state"]]
    resp = json.loads(client.post("/_dash-update-component", json=body).data)["response"]
    assert 'is a "7"; choose class 7 first' in resp[ids.COMPARE_MESSAGE]["children"]


def test_the_page_lays_out_its_controls_picker_and_url_view(app):
    import dash

    page = next(p for p in dash.page_registry.values() if p["path"] == "/compare")
    tree = json.dumps(page["layout"](a="7", b="1", ia="3").to_plotly_json(), default=str)
    for part in (
        ids.COMPARE_CLASS_A,
        ids.COMPARE_PANEL_A,
        ids.COMPARE_CONFUSION,
        ids.COMPARE_PICKER_ADD,
    ):
        assert part in tree
    assert "One more digit (test split or drawn)" in tree and "Compare two classes" in tree
    assert "'value': 7" in tree and "'value': 1" in tree and "'value': '3'" in tree
