"""The picker's drawing source without a browser: a canvas picture becomes the drawn digit,
its code is the explorer's `drawn=` URL parameter, and bad pictures get a message."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app import digits, ids, main
from app.components.digit_picker import (
    DRAW_CANVAS,
    DigitPicker,
    DigitPickerIds,
    choose_drawing,
    dom_id,
)
from app.pages.activations.view import ExplorerView
from cnn_core.data import drawing


@pytest.fixture(scope="module")
def app(services):
    return main.create_app()


def picture(shape: str) -> dict:
    image = Image.new("RGB", (112, 112), (0, 0, 0))
    pen = ImageDraw.Draw(image)
    if shape == "1":
        pen.line([(56, 15), (56, 97)], fill=(255, 255, 255), width=9)
    else:
        pen.ellipse([30, 15, 82, 97], outline=(255, 255, 255), width=9)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return {
        "png": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(),
        "seq": 3,
    }


@pytest.mark.parametrize("label", ["1", "0"])
def test_a_drawn_picture_becomes_the_drawn_digit_the_model_reads(app, services, label):
    out = choose_drawing(picture(label))
    choice = out["choice"]
    assert choice["kind"] == "drawn" and out["message"] is None
    digit = digits.resolve(choice)
    assert digit.image.shape == (28, 28) and digit.label is None
    assert digit.description == "drawn digit"
    proba = services.acts.predict_proba(digit.x)[0]
    assert int(proba.argmax()) == int(label)
    assert out["seen"].startswith("data:image/png;base64,")
    assert out["explain"] == f"/attribution?drawn={choice['code']}"


@pytest.mark.parametrize(
    "bad",
    [None, "x", 7, [], {}, {"png": 5}, {"png": "data:image/png;base64,!!!"},
     {"png": "data:image/png;base64," + "A" * 1_000_000}, {"png": "data:text/plain,hi"}],
)  # fmt: skip
def test_a_broken_or_huge_picture_keeps_the_digit_and_says_why(app, bad):
    out = choose_drawing(bad)
    assert "cannot use this drawing" in str(out["message"])
    assert all(out[k] is not None for k in ("choice", "seen", "explain"))  # no_update


def test_an_empty_canvas_says_there_is_no_digit(app):
    blank = Image.new("RGB", (112, 112))
    buffer = io.BytesIO()
    blank.save(buffer, "PNG")
    out = choose_drawing(
        {"png": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}
    )
    assert "no digit found" in str(out["message"])


def test_the_explorer_url_keeps_a_drawn_digit_and_reopens_it(app, services):
    choice = choose_drawing(picture("0"))["choice"]
    view = ExplorerView.from_controls(choice, "Conv2D_1", "jet", "seed", "layer", 8, "test", 5)
    query = view.query()
    assert f"drawn={choice['code']}" in query and "index=5" in query
    reopened, problems = ExplorerView.from_query({"index": "5", "drawn": choice["code"]})
    assert problems == [] and reopened.drawn == choice["code"]
    picker = DigitPicker(ids.ACT_PICKER, drawn=reopened.drawn, canvas_id=DRAW_CANVAS)
    store = _find(picker, DigitPickerIds.choice(ids.ACT_PICKER))
    assert store.data == choice
    canvas = _find(picker, DRAW_CANVAS)
    assert canvas.to_plotly_json()["props"]["data-initial"].startswith("data:image/png")
    assert _find(picker, DigitPickerIds.explain(ids.ACT_PICKER)).href.endswith(choice["code"])


def test_a_bad_drawn_parameter_is_named_and_the_dataset_digit_kept(app):
    view, problems = ExplorerView.from_query({"index": "7", "drawn": "zAAAA"})
    assert view.drawn == "" and view.index == 7
    assert problems and problems[0].startswith("drawn:")
    wrong_size = drawing.encode_pixels(np.zeros((32, 32, 3), np.uint8))
    assert ExplorerView.from_query({"drawn": wrong_size})[1]


def test_every_picker_gets_its_own_canvas_id(app):
    canvas = _find(DigitPicker("side-a"), f"{DRAW_CANVAS}-side-a")
    assert canvas.to_plotly_json()["props"]["data-store"] == dom_id(
        DigitPickerIds.drawing("side-a")
    )


def _find(component, id_):
    if getattr(component, "id", None) == id_:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            found = _find(child, id_)
            if found is not None:
                return found
    return None
