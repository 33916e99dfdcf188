"""Drawn digits on the compare page, through Dash requests against the real model: the picker's
drawing joins the chosen side, is compared with its test digits (red and yellow points counted
with it), stays in the URL (`da=` / `db=`) and can be removed; bad values get a message."""

from __future__ import annotations

import base64
import io
import json

import dash
import numpy as np
import pytest
from PIL import Image

from app import digits, ids
from app.comparison import MAX_DRAWN, compute_comparison
from app.components.digit_picker import DigitPickerIds, dom_id
from app.pages.activations.render import source_info
from app.pages.compare.view import CompareView
from cnn_core.data import drawing
from cnn_core.explain.compare import common_points, pick_examples
from tests.app.dash_requests import callback_key, post_callback
from tests.app.test_compare_page import DEFAULT_VIEW, _figures, _markers


def code_of(services, label: int, k: int = 0) -> str:
    """A drawn digit's code: the pixels of the k-th test digit of `label` (a digit the model
    reads as `label`, as a drawing would arrive)."""
    index = int(np.flatnonzero(services.data.y_test == label)[k])
    return drawing.encode_pixels(services.data.images("test")[index])


def compare(app, client, drawn_a=None, drawn_b=None, **values):
    body = {**DEFAULT_VIEW, **values}
    body[f"{ids.COMPARE_DRAWN_A}.data"] = drawn_a
    body[f"{ids.COMPARE_DRAWN_B}.data"] = drawn_b
    response = post_callback(client, app, f"{ids.COMPARE_PANEL_A}.children", body)
    assert response.status_code == 200
    return json.loads(response.data)["response"]


def test_a_drawn_digit_is_compared_with_its_sides_test_digits(app, client, services):
    four = code_of(services, 4, 30)
    resp = compare(app, client, drawn_a=[four])
    panel_a = resp[ids.COMPARE_PANEL_A]["children"]
    figs_a, figs_b = _figures(panel_a), _figures(resp[ids.COMPARE_PANEL_B]["children"])
    assert len(figs_a) == 4 and len(figs_b) == 3  # three clear "4"s and the drawing
    # the red and yellow points are those of the core with the drawing among the "4"s
    labels, proba = services.data.y_test, services.proba["test"]
    ia = pick_examples(labels, proba, 4, 9, 3, "clear")
    ib = pick_examples(labels, proba, 9, 4, 3, "clear")
    pixels = drawing.decode_pixels(four, services.desc.input_shape)
    x_a = np.concatenate([services.x_std["test"][ia], services.trained.standardize(pixels[None])])
    acts_a = services.acts.layer(x_a, "Conv2D_3")
    acts_b = services.acts.layer(services.x_std["test"][ib], "Conv2D_3")
    red_a, yellow, _ = common_points(acts_a, acts_b, 0.1)
    red_b = common_points(acts_b, acts_a, 0.1).only_a
    for fig in figs_a:
        assert _markers(fig) == {"#ff1a1a": red_a.sum(), "#ffe600": yellow.sum()}
    for fig in figs_b:
        assert _markers(fig) == {"#ff1a1a": red_b.sum(), "#ffe600": yellow.sum()}
    # its row: the picture, the model's reading of it, a remove button, an explain link
    text = json.dumps(panel_a)
    drawn_proba = services.acts.predict_proba(services.trained.standardize(pixels[None]))[0]
    assert "drawn #1" in text and json.dumps(f'{drawn_proba[4]:.1%} "4"') in text
    assert ids.COMPARE_DRAWN_REMOVE in text
    assert f"/attribution?drawn={four}&target=4&contrast=9" in text
    # the URL keeps it; the test digits shown are still the test digits
    assert f"&da={four}" in resp[ids.COMPARE_QUERY]["data"]
    assert "db=" not in resp[ids.COMPARE_QUERY]["data"]
    assert resp[ids.COMPARE_SHOWN]["data"] == {"a": ia.tolist(), "b": ib.tolist()}


def test_two_drawings_on_side_b_with_typed_digits(app, client, services):
    nines = [code_of(services, 9, 3), code_of(services, 9, 4)]
    fours = np.flatnonzero(services.data.y_test == 4)[[5, 17]].tolist()
    resp = compare(
        app, client, drawn_b=nines, **{f"{ids.COMPARE_INDICES_A}.value": f"{fours[0]}, {fours[1]}"}
    )
    assert len(_figures(resp[ids.COMPARE_PANEL_A]["children"])) == 2
    assert len(_figures(resp[ids.COMPARE_PANEL_B]["children"])) == 5
    assert f"&db={nines[0]}.{nines[1]}" in resp[ids.COMPARE_QUERY]["data"]
    comp = compute_comparison(4, 9, 3, "clear", "clear", "", "", "Conv2D_3", 0.1, None, nines)
    codes, acts, proba = comp.drawn("b")
    assert codes == nines and acts.shape == (2, 3, 3, 128) and proba.shape == (2, 10)
    assert comp.drawn("a")[0] == []


@pytest.mark.parametrize(
    ("drawn_a", "message"),
    [
        ("zAAAA", "drawn digit 1: the drawn digit's code is damaged"),
        ([5], "must be a list of drawn-digit codes"),
        ({"code": "z"}, "must be a list of drawn-digit codes"),
        (["zAAAA"], "drawn digit 1"),
        (["z" + "A" * 40_000], "longer than"),
        (["x"] * (MAX_DRAWN + 1), f"at most {MAX_DRAWN} drawn digits per side"),
    ],
)
def test_forged_drawn_digits_get_a_message_and_keep_the_view(app, client, drawn_a, message):
    resp = compare(app, client, drawn_a=drawn_a)
    assert message in resp[ids.COMPARE_MESSAGE]["children"]
    assert ids.COMPARE_PANEL_A not in resp  # the old view stays


def _post(app, client, output: str, trigger: str, values: dict, changed: str, inputs=None):
    """POST the callback writing `output` and listening to `trigger`; values by id text."""
    key = callback_key(app, output, trigger=trigger)
    spec = app.callback_map[key]

    def item(dep):
        dep_id = json.loads(dep["id"]) if dep["id"].startswith("{") else dep["id"]
        return {"id": dep_id, "property": dep["property"], "value": values.get(dep["id"])}

    body = {
        "output": key,
        "outputs": [
            {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1].split("@")[0]}
            for part in key.strip(".").split("...")
        ],
        "inputs": inputs if inputs is not None else [item(dep) for dep in spec["inputs"]],
        "state": [item(dep) for dep in spec["state"]],
        "changedPropIds": [changed],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    return json.loads(response.data)["response"] if response.data else {}


def _add(app, client, choice, side="a", drawn_a=None, drawn_b=None):
    values = {
        ids.COMPARE_PICKER_ADD: 1,
        dom_id(DigitPickerIds.choice(ids.COMPARE_PICKER)): choice,
        ids.COMPARE_PICKER_SIDE: side,
        ids.COMPARE_DRAWN_A: drawn_a,
        ids.COMPARE_DRAWN_B: drawn_b,
        ids.COMPARE_CLASS_A: 4,
        ids.COMPARE_CLASS_B: 9,
        ids.COMPARE_INDICES_A: "",
        ids.COMPARE_INDICES_B: "",
        ids.COMPARE_SHOWN: {"a": [1, 7], "b": [2]},
    }
    return _post(
        app,
        client,
        f"{ids.COMPARE_DRAWN_A}.data",
        ids.COMPARE_PICKER_ADD,
        values,
        f"{ids.COMPARE_PICKER_ADD}.n_clicks",
    )


def test_the_pickers_drawing_joins_the_chosen_side(app, client, services):
    one, seven = code_of(services, 1), code_of(services, 7)
    resp = _add(app, client, digits.drawn_choice(one), side="a")
    assert resp[ids.COMPARE_DRAWN_A]["data"] == [one] and ids.COMPARE_DRAWN_B not in resp
    assert ids.COMPARE_INDICES_A not in resp and resp[ids.COMPARE_MESSAGE]["is_open"] is False
    resp = _add(app, client, digits.drawn_choice(seven), side="b", drawn_a=[one], drawn_b=[one])
    assert resp[ids.COMPARE_DRAWN_B]["data"] == [one, seven]
    # the same drawing twice, a full side, no side, no drawing: a message, nothing added
    for choice, side, drawn_a, message in [
        (digits.drawn_choice(one), "a", [one], "already on side A"),
        (digits.drawn_choice(seven), "a", [one] * MAX_DRAWN, f"at most {MAX_DRAWN} drawn"),
        (digits.drawn_choice(seven), "c", None, "choose side A or B"),
        (digits.drawn_choice(seven), None, None, "choose side A or B"),
        ({"kind": "drawn", "code": "zAAAA"}, "a", None, "draw a digit on the canvas first"),
        ({"kind": "drawn", "code": ["z"]}, "a", None, "draw a digit on the canvas first"),
    ]:
        resp = _add(app, client, choice, side=side, drawn_a=drawn_a)
        assert message in resp[ids.COMPARE_MESSAGE]["children"], message
        assert ids.COMPARE_DRAWN_A not in resp and ids.COMPARE_DRAWN_B not in resp
    # a test digit still joins its class's side as a typed index
    four = int(np.flatnonzero(services.data.y_test == 4)[7])
    resp = _add(app, client, digits.dataset_choice("test", four), side="b")
    assert resp[ids.COMPARE_INDICES_A]["value"] == f"1, 7, {four}"
    assert ids.COMPARE_DRAWN_B not in resp


def test_a_side_of_long_codes_that_would_overflow_the_url_is_refused(app, client, services):
    rng = np.random.default_rng(0)  # noise compresses badly: ~1,000-character codes
    noisy = [
        drawing.encode_pixels(rng.integers(0, 256, (28, 28), dtype=np.uint8)) for _ in range(6)
    ]
    resp = _add(app, client, digits.drawn_choice(noisy[5]), "b", noisy[:3], noisy[3:5])
    assert "link too long" in resp[ids.COMPARE_MESSAGE]["children"]


def _remove(app, client, side, pos, drawn_a, drawn_b, clicks=1):
    button = {"type": ids.COMPARE_DRAWN_REMOVE, "side": side, "pos": pos}
    values = {ids.COMPARE_DRAWN_A: drawn_a, ids.COMPARE_DRAWN_B: drawn_b}
    inputs = [[{"id": button, "property": "n_clicks", "value": clicks}]]
    return _post(
        app,
        client,
        f"{ids.COMPARE_DRAWN_A}.data",
        ids.COMPARE_DRAWN_REMOVE,
        values,
        f"{dom_id(button)}.n_clicks",
        inputs=inputs,
    )


def test_remove_takes_one_drawing_out_of_its_side(app, client, services):
    one, seven = code_of(services, 1), code_of(services, 7)
    resp = _remove(app, client, "b", 0, [one], [one, seven])
    assert resp[ids.COMPARE_DRAWN_B]["data"] == [seven] and ids.COMPARE_DRAWN_A not in resp
    for side, pos, clicks in [("b", 5, 1), ("c", 0, 1), ("a", True, 1), ("a", 0, None)]:
        assert _remove(app, client, side, pos, [one], [seven], clicks) == {}


def test_the_compare_url_reopens_its_drawn_digits(app, services):
    one, seven = code_of(services, 1), code_of(services, 7)
    view, problems = CompareView.from_query({"a": "4", "b": "9", "da": f"{one}.{seven}"})
    assert problems == [] and view.da == f"{one}.{seven}" and view.db == ""
    assert view.query().endswith(f"&da={one}.{seven}")
    page = next(p for p in dash.page_registry.values() if p["path"] == "/compare")
    layout = page["layout"](a="4", b="9", da=f"{one}.{seven}")
    parts = {str(getattr(part, "id", "")): part for part in layout._traverse()}
    assert parts[ids.COMPARE_DRAWN_A].data == [one, seven]
    assert parts[ids.COMPARE_DRAWN_B].data == []
    assert parts[ids.COMPARE_PICKER_SIDE].value == "a" and "draw-canvas-compare" in parts
    for bad, message in [("zAAAA", "damaged"), (".".join([one] * 4), "at most 3 drawn")]:
        view, problems = CompareView.from_query({"db": bad})
        assert view.db == "" and len(problems) == 1 and message in problems[0]


def test_the_explorer_says_a_drawn_digit_is_a_drawing(app, services):
    digit = digits.resolve(digits.drawn_choice(code_of(services, 1)))
    text = json.dumps([part.to_plotly_json() for part in source_info(digit)], default=str)
    assert "drawn digit" in text and "leave the drawing" in text and "upload" not in text


def test_the_downloaded_png_shows_the_drawn_digits_too(app, client, services):
    def download(drawn_b):
        values = {
            **DEFAULT_VIEW,
            f"{ids.COMPARE_DOWNLOAD_BUTTON}.n_clicks": 1,
            f"{ids.COMPARE_DRAWN_B}.data": drawn_b,
        }
        response = post_callback(
            client,
            app,
            f"{ids.COMPARE_DOWNLOAD}.data",
            values,
            changed=f"{ids.COMPARE_DOWNLOAD_BUTTON}.n_clicks",
        )
        content = json.loads(response.data)["response"][ids.COMPARE_DOWNLOAD]["data"]["content"]
        return Image.open(io.BytesIO(base64.b64decode(content)))

    plain = download(None)
    with_drawings = download([code_of(services, 9, 3), code_of(services, 9, 4)])
    assert with_drawings.format == "PNG" and with_drawings.height > plain.height
