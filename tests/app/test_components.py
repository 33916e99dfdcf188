"""The shared parts of the pages: URL view, validators, digit picker, alert, links, pictures."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import dash
import numpy as np
import pytest
from PIL import Image

from app import digits, ids, main
from app.components import alerts, links, pictures, validate
from app.components.digit_picker import DigitPicker, DigitPickerIds, choose_digit, dom_id
from app.components.urlview import UrlView
from app.components.validate import InvalidValue


@pytest.fixture(scope="module")
def app(services):
    return main.create_app()


# ---- validators -------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [(3, 3), (3.0, 3), ("12", 12), (" -4 ", -4)])
def test_whole_numbers_are_read_from_numbers_and_text(raw, value):
    assert validate.whole_number(raw, "n") == value


@pytest.mark.parametrize("raw", [2.5, "1e3", "x", True, [3], "9" * 20, float("nan")])
def test_anything_else_is_not_a_whole_number(raw):
    with pytest.raises(InvalidValue, match="n .* is not a whole number"):
        validate.whole_number(raw, "n")


@pytest.mark.parametrize("raw", [None, ""])
def test_an_empty_field_is_told_its_range_never_none(raw):
    # a browser empties a number field whose value is outside its min..max
    with pytest.raises(InvalidValue) as err:
        validate.whole_number(raw, "maps per row", 1, 64)
    assert str(err.value) == "maps per row: type a whole number from 1 to 64"
    with pytest.raises(InvalidValue, match="threshold: type a number from 0 to 1"):
        validate.number(raw, "threshold", 0, 1)
    assert "None" not in str(err.value)


def test_ranges_name_the_bounds():
    with pytest.raises(InvalidValue, match="maps per row must be between 1 and 64, got 65"):
        validate.whole_number("65", "maps per row", 1, 64)
    assert validate.number("0.25", "threshold", 0, 1) == 0.25
    for raw in ("inf", "nan", [0.5], "half"):  # (None: see the empty-field test)
        with pytest.raises(InvalidValue, match="not a number"):
            validate.number(raw, "threshold", 0, 1)
    with pytest.raises(InvalidValue, match="threshold must be >= 0, got -1"):
        validate.number(-1, "threshold", lo=0)


def test_choices_and_text():
    assert validate.choice("jet", "colormap", ("jet", "gray")) == "jet"
    with pytest.raises(InvalidValue, match="unknown colormap 'hot'; choose jet, gray"):
        validate.choice("hot", "colormap", ("jet", "gray"))
    assert validate.text(None) == "" and validate.text(12) == "12" and validate.text("a") == "a"


# ---- the URL view base ------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoView(UrlView):
    split: str = "test"
    index: int = 0
    threshold: float = 0.1
    note: str = ""
    watch: bool = True

    PARSERS: ClassVar[dict[str, Any]] = {
        "split": lambda raw, _v: validate.choice(raw, "split", ("test", "train")),
        "index": lambda raw, v: validate.whole_number(
            raw, "index", 0, 9 if v.split == "test" else 99
        ),
        "threshold": lambda raw, _v: validate.number(raw, "threshold", 0, 1),
        "watch": lambda raw, _v: raw != "0",
    }
    EXTRA_PARAMS: ClassVar[tuple[str, ...]] = ("run",)


def test_a_view_round_trips_through_its_query():
    view = DemoView("train", 42, 0.15000000000000002, "a b&c", False)
    query = view.query()
    assert query == "?split=train&index=42&threshold=0.15&note=a+b%26c&watch=0"
    from urllib.parse import parse_qsl

    again, problems = DemoView.from_query(dict(parse_qsl(query[1:])))
    assert problems == [] and again == DemoView("train", 42, 0.15, "a b&c", False)


def test_missing_parameters_take_the_defaults_and_empty_ones_are_left_out():
    view, problems = DemoView.from_query({})
    assert view == DemoView() and problems == []
    assert "note" not in view.query() and view.query(run=1).endswith("&run=1")


def test_bad_and_unknown_parameters_are_named_and_fall_back():
    view, problems = DemoView.from_query(
        {"split": "train", "index": "50", "threshold": "7", "colour": "red", "run": "1"}
    )
    assert view.split == "train" and view.index == 50  # the index checked against its split
    assert view.threshold == 0.1  # the default
    assert problems == [
        "threshold: threshold must be between 0 and 1, got 7.0",
        "unknown parameter 'colour'",
    ]
    view, problems = DemoView.from_query({"index": "50"})  # test split: 0-9
    assert view.index == 0 and problems == ["index: index must be between 0 and 9, got 50"]


def test_the_url_alert_lists_every_problem():
    assert alerts.url_problems_alert([]) is None
    alert = json.dumps(
        alerts.url_problems_alert(["a: bad", "unknown parameter 'x'"]).to_plotly_json(), default=str
    )
    assert "a: bad" in alert and "unknown parameter" in alert and "not understood" in alert


# ---- links and pictures -----------------------------------------------------------------------


def test_explorer_links_name_split_index_layer_and_colormap():
    assert links.explorer_href(7) == "/activations?split=test&index=7"
    assert (
        links.explorer_href(np.int64(312), layer="Conv2D_3", cmap="jet")
        == "/activations?split=test&index=312&layer=Conv2D_3&cmap=jet"
    )


def test_attribution_links_name_the_digit_the_class_and_its_contrast():
    assert links.attribution_href(7) == "/attribution?split=test&index=7"
    assert (
        links.attribution_href(np.int64(12), "train", target=np.int64(4), contrast=9, cmap="jet")
        == "/attribution?split=train&index=12&target=4&contrast=9&cmap=jet"
    )
    assert links.page_href("/x") == "/x"


def test_pictures_are_png_data_uris_of_the_right_size():
    def decode(src):
        assert src.startswith("data:image/png;base64,")
        return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))

    grey = np.zeros((28, 28), np.uint8)
    assert decode(pictures.digit_src(grey, scale=3)).size == (84, 84)
    colour = np.zeros((32, 32, 3), np.uint8)
    colour[..., 0] = 255
    picture = decode(pictures.digit_src(colour, scale=2)).convert("RGB")
    assert picture.size == (64, 64) and picture.getpixel((5, 5)) == (255, 0, 0)
    assert decode(pictures.png_src(np.full((4, 6, 3), 9, np.uint8), fast=True)).size == (6, 4)


# ---- the digit picker -------------------------------------------------------------------------


def _tree(component) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda o: o.to_plotly_json())


def test_a_picker_lays_out_its_parts_under_its_own_ids(app):
    picker = DigitPicker("demo", split="train", index=77)
    tree = _tree(picker)
    for part in ("split", "index", "prev", "next", "class", "random", "misclassified", "upload"):
        assert json.dumps(DigitPickerIds.part(part, "demo"))[:-1] in tree.replace(", ", ", ")
    choice = DigitPickerIds.choice("demo")
    store = next(c for c in _walk(picker) if getattr(c, "id", None) == choice)
    assert store.data == {"kind": "dataset", "split": "train", "index": 77}
    assert dom_id(choice) == '{"aio_id":"demo","component":"DigitPicker","subcomponent":"choice"}'


def test_sources_not_offered_are_hidden_and_unknown_ones_refused(app):
    picker = DigitPicker("one", splits=("test",), sources=("dataset",))
    hidden = [
        c for c in _walk(picker) if (getattr(c, "style", None) or {}).get("display") == "none"
    ]
    # split switch, random, misclassified, upload, the drawing pad (and in it the one-colour
    # palette of grey data and the attribution link, shown once something is drawn)
    assert len(hidden) == 7
    with pytest.raises(ValueError, match="paint"):
        DigitPicker("x", sources=("dataset", "paint"))


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            yield from _walk(child)


def test_the_pickers_callbacks_are_registered_once_as_pattern_matching(app):
    client = app.server.test_client()
    assert client.get("/activations").status_code == 200
    deps = client.get("/_dash-dependencies").json
    picker = [d for d in deps if '"component":"DigitPicker"' in d["output"]]
    assert len(picker) == 2  # choose + the upload reset, shared by every picker on any page
    assert all('"aio_id":["MATCH"]' in d["output"] for d in picker)


def test_choosing_steps_the_index_and_emits_the_choice(app, services):
    out = choose_digit("next", "test", 312, None, "4", None, digits.dataset_choice("test", 312))
    assert out["index"] == 313 and out["index_max"] == 999 and out["message"] is None
    assert out["choice"] == {"kind": "dataset", "split": "test", "index": 313}
    assert out["upload"] is dash.no_update
    digit = digits.resolve(out["choice"])
    np.testing.assert_array_equal(digit.image, services.data.images("test")[313])
    np.testing.assert_array_equal(digit.x, services.x_std["test"][313:314])
    assert digit.label == int(services.data.labels("test")[313])


def test_an_upload_becomes_a_pixel_choice_and_the_file_input_is_emptied(app):
    image = Image.new("L", (100, 140), 255)
    from PIL import ImageDraw

    ImageDraw.Draw(image).line([(50, 10), (50, 130)], fill=0, width=10)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    contents = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    out = choose_digit("upload", "test", 3, contents, "4", "one.png", None)
    assert out["choice"]["kind"] == "upload" and out["choice"]["name"] == "one.png"
    assert out["upload"] is None and out["index"] is dash.no_update
    digit = digits.resolve(out["choice"])
    assert digit.label is None and digit.description == "uploaded: one.png"
    assert digit.x.shape == (1, 28, 28, 1) and digit.x.dtype == np.float32
    assert out["message"] is None  # a clean picture: nothing doubtful to say


def test_a_doubtful_photo_upload_says_so_beside_what_the_model_sees(app):
    paper = np.full((120, 100), 180.0)
    paper[10:110, 45:55] -= 45  # faint ink
    paper[:, :6] -= 40  # a shadow on the edge
    buffer = io.BytesIO()
    Image.fromarray(paper.astype(np.uint8)).save(buffer, format="PNG")
    contents = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    out = choose_digit("upload", "test", 3, contents, "4", "photo.png", None)
    assert out["choice"]["kind"] == "upload"
    text = str(out["message"].children)
    assert "hardly stands out" in text and "touches the picture's edge" in text


@pytest.mark.parametrize(
    ("part", "index", "klass", "fragment"),
    [
        ("index", 1000, "4", "outside the test split"),
        ("random", 3, "12", "not a class"),
        ("nonsense", 3, "4", "unknown step"),
    ],
)
def test_bad_picks_keep_the_digit_and_say_why(app, part, index, klass, fragment):
    out = choose_digit(part, "test", index, None, klass, None, None)
    assert out["choice"] is dash.no_update and out["index"] is dash.no_update
    assert "cannot show this digit" in _tree(out["message"]) and fragment in _tree(out["message"])


@pytest.mark.parametrize("choice", [None, "x", {"kind": "dataset", "split": "dev", "index": 1}])
def test_a_malformed_choice_is_refused(app, choice):
    with pytest.raises(InvalidValue):
        digits.resolve(choice)


def test_the_explorer_picker_ids_are_the_ones_tests_use():
    assert ids.ACT_PICKER == "explorer"


# ---- the layer picker ------------------------------------------------------------------------


def test_the_seed_lists_its_layers_plainly(services):
    from app.components.layer_picker import layer_options

    options = layer_options(services.desc, services.desc.names)
    assert [o["value"] for o in options] == list(services.desc.names)
    assert options[4]["label"] == "Conv2D_3 · 128 maps of 3×3"
    assert not any(o.get("disabled") for o in options)


def test_a_large_nested_model_lists_its_nodes_grouped_by_nested_model_and_stage():
    from app.components.layer_picker import GROUP_VALUE, layer_options, stage_of
    from cnn_core.model.anatomy import describe_model
    from tests.zoo import ZOO

    desc = describe_model(ZOO["transfer"]())  # a nested MobileNetV2 between Rescaling and GAP
    options = layer_options(desc, desc.names)
    values = [o["value"] for o in options if not o.get("disabled")]
    assert values == list(desc.names)  # every node once, in model order
    headers = [o for o in options if o.get("disabled")]
    assert all(h["value"].startswith(GROUP_VALUE) for h in headers)
    labels = [h["label"] for h in headers]
    base = desc.nested[0]
    assert f"── {base} ▸ block_3 ──" in labels  # the base's stages
    at = next(i for i, o in enumerate(options) if o["label"] == f"── {base} ▸ block_3 ──")
    assert options[at + 1]["value"] == f"{base}/block_3_expand"
    assert stage_of("conv3_block12_1_conv") == "conv3" and stage_of("expanded_conv") == ""
