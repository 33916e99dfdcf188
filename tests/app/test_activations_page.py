"""Activation explorer callbacks, called directly and through Dash's HTTP endpoint, on real data."""

import base64
import io
import json
import types

import dash
import numpy as np
import pytest
from PIL import Image, ImageDraw

from app import ids, main
from app.components.digit_picker import DigitPickerIds, dom_id
from cnn_core import imaging
from tests.app.dash_requests import post_callback
from tests.figures import as_figure


@pytest.fixture(scope="module")
def app(services):
    return main.create_app()


@pytest.fixture(scope="module")
def page(app):
    """The page's parts: view, callbacks, render, and the layout as Dash registered it."""
    from app import digits
    from app.components import digit_picker
    from app.pages.activations import callbacks, render, view

    entry = next(p for p in dash.page_registry.values() if p["path"] == "/activations")
    return types.SimpleNamespace(
        View=view.ExplorerView,
        parse_view=view.ExplorerView.from_query,
        default_view=view.ExplorerView.defaults,
        layout=entry["layout"],
        dataset_source=digits.dataset_choice,
        draw=callbacks.draw,
        choose_digit=digit_picker.choose_digit,
        enlarge=callbacks.enlarge,
        download_grid=callbacks.download_grid,
        clicked_cell=render.clicked_cell,
    )


#: The main callback's outputs, in the order these tests unpack them.
DRAWN = ("grid", "grid_info", "digit", "proba", "digit_info", "source_info", "query", "message")


@pytest.fixture(scope="module")
def client(app):
    client = app.server.test_client()
    assert client.get("/").status_code == 200  # the first request registers the callbacks
    return client


def _render(
    page, source=None, layer="Conv2D_3", cmap="jet", scaling="seed", rng="layer", per_row=8
):
    source = source or page.dataset_source("test", 312)
    out = page.draw(source, layer, cmap, scaling, rng, per_row, "gray")
    out["grid"] = as_figure(out["grid"])  # sent as a wired dict (figures.wire)
    return tuple(out[key] for key in DRAWN)


def _png_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _text(component) -> str:
    return json.dumps(component, cls=__import__("plotly").utils.PlotlyJSONEncoder)


# ---- URL -> view ------------------------------------------------------------------------------


def test_url_without_parameters_gives_the_defaults(page):
    view, problems = page.parse_view({})
    # viridis by default (colour-blind safe); jet only when chosen or named in the URL
    assert view == page.View("test", 0, "Conv2D_1", "viridis", "seed", "layer", 8)
    assert problems == []


def test_url_with_every_parameter_is_read_back(page):
    query = dict(split="train", index="3999", layer="Dense_1", cmap="magma", scaling="raw")
    query.update(range="map", per_row="16")
    view, problems = page.parse_view(query)
    assert problems == []
    assert view == page.View("train", 3999, "Dense_1", "magma", "raw", "map", 16)
    assert page.parse_view(dict(view.query()[1:].split("&") and _parse(view.query())))[0] == view


def _parse(query: str) -> dict[str, str]:
    return dict(part.split("=") for part in query.lstrip("?").split("&"))


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("index", "1000", "outside the test split (0 to 999)"),
        ("index", "abc", "not a whole number"),
        ("layer", "Conv2D_9", "unknown layer 'Conv2D_9'"),
        ("cmap", "rainbow", "unknown colormap 'rainbow'"),
        ("scaling", "log", "unknown scaling"),
        ("range", "pixel", "unknown colour range"),
        ("per_row", "0", "between 1 and 64"),
        ("split", "validation", "unknown split"),
    ],
)
def test_bad_url_values_fall_back_to_defaults_with_a_message(page, key, value, fragment):
    view, problems = page.parse_view({key: value})
    assert len(problems) == 1 and fragment in problems[0]
    assert getattr(view, key) == getattr(page.default_view(), key)
    shown = _text(page.layout(**{key: value}))
    assert fragment.replace("'", "\\u0027")[:12] in shown or fragment[:12] in shown


def test_url_layout_preselects_the_controls(page):
    tree = _text(page.layout(split="test", index="312", layer="Conv2D_3", cmap="viridis"))
    assert '"value": 312' in tree and '"value": "Conv2D_3"' in tree and '"viridis"' in tree


# ---- render -----------------------------------------------------------------------------------


def test_conv2d_3_draws_128_maps_of_the_real_digit(page, services):
    grid, info, digit, bars, digit_info, _source, query, message = _render(page)
    assert message is None
    assert grid.layout.meta["cells"] == 128
    heatmaps = [t for t in grid.data if t.type == "heatmap"]
    assert len(heatmaps) == 1 and heatmaps[0].z.shape == (16 * 3, 8 * 3)
    x = services.x_std["test"][312:313]
    expected = services.acts.activations(x)["Conv2D_3"][0]
    raw = np.asarray(heatmaps[0].text)
    np.testing.assert_allclose(raw[3:6, 3:6], expected[:, :, 9], rtol=1e-6)  # map 9: row 1, col 1
    assert "128" in _text(info)
    assert (
        query == "?split=test&index=312&layer=Conv2D_3&cmap=jet&scaling=seed&range=layer&per_row=8"
    )
    predicted = int(services.predicted("test")[312])
    assert np.argmax(bars.data[0].y) == predicted
    assert f"predicted {predicted}" in _text(digit_info)
    assert np.asarray(digit.data[0].z).shape == (28, 28)


@pytest.mark.parametrize(
    ("layer", "cells", "shape"),
    [
        ("Conv2D_1", 32, (4 * 26, 8 * 26)),
        ("Max_Pool_2", 64, (8 * 5, 8 * 5)),
        ("Flatten", 1152, (32, 36)),
        ("Dense_1", 100, (10, 10)),
        ("Dense_2", 10, (1, 10)),
    ],
)
def test_every_layer_draws_every_cell(page, layer, cells, shape):
    grid = _render(page, layer=layer)[0]
    assert grid.layout.meta["cells"] == cells
    assert grid.data[0].z.shape == shape


def test_dense_2_row_shows_the_probabilities_as_classes(page, services):
    grid = _render(page, layer="Dense_2", scaling="raw")[0]
    assert "class %{customdata[0]}" in grid.data[0].hovertemplate
    np.testing.assert_allclose(grid.data[0].text[0], services.proba["test"][312], rtol=1e-5)


def test_per_row_and_colormap_change_the_grid(page):
    grid = _render(page, per_row=16, cmap="gray")[0]
    assert grid.data[0].z.shape == (8 * 3, 16 * 3)
    assert grid.layout.coloraxis.colorscale[-1][1] == "rgb(255,255,255)"
    partial = _render(page, layer="Conv2D_1", per_row=5)[0]  # 32 maps: 6 full rows + 2 maps
    assert [t.z.shape for t in partial.data] == [(6 * 26, 5 * 26), (26, 2 * 26)]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        (dict(layer="Conv2D_9"), "unknown layer"),
        (dict(cmap="hot"), "unknown colormap"),
        (dict(scaling="log"), "unknown scaling"),
        (dict(rng="pixel"), "unknown colour range"),
        (dict(per_row=0), "between 1 and 64"),
        (dict(per_row="x"), "not a whole number"),
        (dict(per_row="9" * 5000), "not a whole number"),
        (dict(source={"kind": "dataset", "split": "test", "index": 5000}), "outside"),
        (dict(source={"kind": "upload", "digit": [[1, 2]]}), "28x28"),
        (dict(source="garbage"), "no digit"),
    ],
)
def test_bad_values_keep_the_view_and_say_why(page, changes, fragment):
    result = _render(page, **changes)
    assert all(part is dash.no_update for part in result[:-1])
    assert fragment in _text(result[-1])


def test_an_uploaded_digit_is_drawn_without_a_true_label(page):
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255  # a "1"
    source = {"kind": "upload", "digit": digit.tolist(), "name": "one.png"}
    grid, _info, _digit, _bars, digit_info, source_info, _query, message = _render(page, source)
    assert message is None
    assert "uploaded: one.png" in _text(source_info)
    assert "true" not in _text(digit_info)
    assert grid.layout.meta["cells"] == 128


# ---- picking digits ---------------------------------------------------------------------------


def _pick(page, part, index=312, split="test", contents=None, klass="4", source=None):
    """The digit picker after its part `part` ("next", "upload"...) changed:
    `(index, index max, chosen digit, message)`."""
    source = source or page.dataset_source(split, index)
    out = page.choose_digit(part, split, index, contents, klass, "digit.png", source)
    return out["index"], out["index_max"], out["choice"], out["message"]


def test_previous_and_next_step_and_wrap_around(page):
    assert _pick(page, "next")[0] == 313
    assert _pick(page, "prev")[0] == 311
    assert _pick(page, "prev", index=0)[0] == 999
    value, top, source, message = _pick(page, "next", index=999)
    assert (value, top, source, message) == (0, 999, page.dataset_source("test", 0), None)


def test_random_digit_has_the_chosen_class(page, services):
    labels = services.data.labels("test")
    for klass in ("0", "4", "9"):
        value = _pick(page, "random", klass=klass)[0]
        assert labels[value] == int(klass) and value != 312


def test_next_misclassified_is_the_next_digit_the_model_gets_wrong(page, services):
    wrong = np.flatnonzero(services.predicted("test") != services.data.labels("test"))
    assert len(wrong) > 1
    assert _pick(page, "misclassified", index=int(wrong[0]))[0] == wrong[1]
    assert _pick(page, "misclassified", index=int(wrong[-1]))[0] == wrong[0]  # wraps


def test_switching_split_keeps_the_index_when_it_fits(page):
    assert _pick(page, "split", index=3500, split="test")[:2] == (999, 999)
    assert _pick(page, "split", index=312, split="train")[:2] == (312, 3999)


@pytest.mark.parametrize("index", [1000, -1, None, "1e3", 2.5])
def test_a_bad_index_keeps_the_view_with_a_message(page, index):
    value, top, source, message = _pick(page, "index", index=index)
    assert value is top is source is dash.no_update
    assert "cannot show this digit" in _text(message)


def test_an_uploaded_png_becomes_the_digit_source(page):
    image = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(image).line([(60, 20), (60, 140)], fill=0, width=12)
    _value, _top, source, message = _pick(page, "upload", contents=_png_url(image))
    assert message is None
    assert source["kind"] == "upload" and np.asarray(source["digit"]).shape == (28, 28)


@pytest.mark.parametrize(
    ("contents", "fragment"),
    [
        ("data:image/png;base64," + base64.b64encode(b"GIF? no").decode(), "not an image"),
        ("data:image/png;base64," + "A" * (3 * 1024 * 1024), "limit is 2 MB"),
        (_png_url(Image.new("L", (5000, 8), 255)), "5000x8"),
        (_png_url(Image.new("L", (50, 50), 255)), "no digit"),
    ],
)
def test_a_bad_upload_keeps_the_view_with_a_message(page, contents, fragment):
    value, top, source, message = _pick(page, "upload", contents=contents)
    assert value is top is source is dash.no_update
    assert "cannot use this file" in _text(message) and fragment in _text(message)


# ---- click to enlarge, PNG download -----------------------------------------------------------


def test_clicked_position_maps_to_its_cell(page):
    maps = np.zeros((3, 3, 128))
    assert page.clicked_cell({"points": [{"x": 4, "y": 7}]}, maps, 8) == 2 * 8 + 1
    assert page.clicked_cell({"points": [{"x": 99, "y": 0}]}, maps, 8) is None
    assert page.clicked_cell({"points": []}, maps, 8) is None
    assert page.clicked_cell({"points": [{"x": "nan", "y": 0}]}, maps, 8) is None


def _enlarge(page, *args):
    out = page.enlarge(*args)
    return out["figure"], out["style"], out["hint"]


def test_a_clicked_map_is_enlarged_with_its_values(page, services):
    source = page.dataset_source("test", 312)
    fig, style, hint = _enlarge(
        page, {"layer": "Conv2D_1", "cell": 5}, source, "Conv2D_1", "jet", "seed", "layer"
    )
    assert style == {"display": "block"} and hint is None
    expected = services.acts.activations(services.x_std["test"][312:313])["Conv2D_1"][0][..., 5]
    np.testing.assert_allclose(np.asarray(fig.data[0].text), expected, rtol=1e-6)
    # 26 x 26 cells are too small to read written values: hover gives them
    assert fig.data[0].texttemplate is None and "%{text" in fig.data[0].hovertemplate
    assert "map 5" in fig.layout.title.text
    small, _, _ = _enlarge(
        page, {"layer": "Conv2D_2", "cell": 5}, source, "Conv2D_2", "jet", "seed", "layer"
    )
    assert small.data[0].texttemplate.startswith("%{text:")  # 11 x 11: every value written in


def test_a_clicked_node_shows_the_node_grid_with_values(page):
    source = page.dataset_source("test", 312)
    fig, style, _ = _enlarge(
        page, {"layer": "Dense_1", "cell": 42}, source, "Dense_1", "viridis", "raw", "layer"
    )
    assert style["display"] == "block"
    assert np.asarray(fig.data[0].text).shape == (10, 10) and fig.data[0].texttemplate
    assert "node 42" in fig.layout.title.text


def test_a_selection_from_another_layer_hides_the_detail(page):
    source = page.dataset_source("test", 312)
    _, style, hint = _enlarge(
        page, {"layer": "Conv2D_1", "cell": 5}, source, "Conv2D_3", "jet", "seed", "layer"
    )
    assert style == {"display": "none"} and "Click a map" in hint


def test_download_is_a_png_of_the_whole_grid(page):
    out = page.download_grid(
        1, page.dataset_source("test", 312), "Conv2D_3", "inferno", "seed", "map", 8
    )
    data, message = out["download"], out["message"]
    assert message is dash.no_update
    image = Image.open(io.BytesIO(base64.b64decode(data["content"])))
    assert image.format == "PNG" and data["filename"].endswith(".png")
    assert image.size == imaging.grid_image(np.zeros((3, 3, 128)), per_row=8).shape[1::-1]


# ---- through HTTP, as the browser sends it ----------------------------------------------------


def _post(client, app, output: str, inputs: list[tuple[str, str, object]], changed: str):
    values = {f"{i}.{p}": v for i, p, v in inputs}
    return post_callback(client, app, output, values, changed)


CHOICE = dom_id(DigitPickerIds.choice(ids.ACT_PICKER))


def _picker_pattern(part: str) -> str:
    """The id of a picker part in the pickers' MATCH callbacks, as the callback map writes it."""
    return dom_id(DigitPickerIds.part(part, ["MATCH"]))


def test_http_render_of_an_unknown_layer_is_a_200_with_a_message(app, client):
    response = _post(
        client,
        app,
        f"{ids.ACT_GRID}.figure",
        [
            (CHOICE, "data", {"kind": "dataset", "split": "test", "index": 312}),
            (ids.ACT_LAYER, "value", "<script>"),
            (ids.ACT_CMAP, "value", "jet"),
            (ids.ACT_SCALING, "value", "seed"),
            (ids.ACT_RANGE, "value", "layer"),
            (ids.ACT_PER_ROW, "value", 8),
            (ids.ACT_INPUT_CMAP, "value", "gray"),
        ],
        f"{ids.ACT_LAYER}.value",
    )
    assert response.status_code == 200
    body = json.loads(response.data)["response"]
    assert list(body) == [ids.ACT_VIEW_MESSAGE]  # everything else kept as it was
    assert "unknown layer" in json.dumps(body)


def test_http_index_out_of_range_is_a_200_with_a_message(app, client):
    index = _picker_pattern("index")
    response = _post(
        client,
        app,
        f"{_picker_pattern('choice')}.data",
        [(_picker_pattern("split"), "value", "test"), (index, "value", 10**9)],
        f"{dom_id(DigitPickerIds.index(ids.ACT_PICKER))}.value",
    )
    assert response.status_code == 200
    assert "outside the test split" in response.data.decode()


def test_the_page_is_in_the_navbar_and_served(client):
    assert client.get("/activations?layer=nope&index=-3").status_code == 200
    assert any(p["path"] == "/activations" for p in dash.page_registry.values())


# ---- the shared grid builder ------------------------------------------------------------------


def test_the_clicked_map_is_framed_in_the_grid(page):
    selected = {"layer": "Conv2D_3", "cell": 9}

    def grid(layer):
        source = page.dataset_source("test", 312)
        drawn = page.draw(source, layer, "jet", "seed", "layer", 8, "gray", selected)
        return as_figure(drawn["grid"])

    rects = [s for s in grid("Conv2D_3").layout.shapes if s.type == "rect"]
    assert rects and (rects[0].x0, rects[0].y0, rects[0].x1, rects[0].y1) == (2.5, 2.5, 5.5, 5.5)
    assert not [s for s in grid("Conv2D_1").layout.shapes if s.type == "rect"]


def test_grid_markers_are_open_shapes_on_a_dark_outline_at_their_cell_positions(services):
    from app.figures import MARKER_OUTLINE, GridMarker, activation_grid_figure

    values = services.acts.activations(services.x_std["test"][:1])["Conv2D_2"][0]
    markers = [
        GridMarker(9, 2, 3, "red", "common"),
        GridMarker(0, 0, 0, "yellow", symbol="diamond-open"),
    ]
    fig = activation_grid_figure(values, markers=markers)
    outline, scatter = [t for t in fig.data if t.type == "scatter"]
    # map 9 sits in grid row 1, column 1 of 11 x 11 maps
    assert list(scatter.x) == [11 + 3, 0] and list(scatter.y) == [11 + 2, 0]
    assert list(scatter.marker.color) == ["red", "yellow"]
    assert list(scatter.marker.symbol) == ["circle-open", "diamond-open"]
    # the same shapes, wider and dark, drawn first: they stand out on bright cells
    assert list(outline.x) == list(scatter.x) and list(outline.marker.symbol) == [
        "circle-open",
        "diamond-open",
    ]
    assert outline.marker.color == MARKER_OUTLINE
    assert outline.marker.line.width > scatter.marker.line.width
    with pytest.raises(imaging.GridLayoutError):
        activation_grid_figure(values, markers=[GridMarker(64, 0, 0, "red")])
    with pytest.raises(imaging.GridLayoutError):
        activation_grid_figure(values, markers=[GridMarker(0, 11, 0, "red")])


def test_grid_payload_of_128_maps_is_small(services):
    import plotly.io as pio

    from app.figures import activation_grid_figure

    values = services.acts.activations(services.x_std["test"][:1])["Conv2D_3"][0]
    assert len(pio.to_json(activation_grid_figure(values))) < 40_000
    values = services.acts.activations(services.x_std["test"][:1])["Conv2D_1"][0]
    assert len(pio.to_json(activation_grid_figure(values))) < 400 * 1024


def test_while_an_upload_is_shown_the_url_keeps_the_last_dataset_digit(page):
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255
    source = {"kind": "upload", "digit": digit.tolist(), "name": "one.png"}
    query = page.draw(source, "Dense_1", "jet", "raw", "layer", 8, "gray", None, "train", 77)[
        "query"
    ]
    assert query.startswith("?split=train&index=77&layer=Dense_1&cmap=jet&scaling=raw")
    query = page.draw(source, "Dense_1", "jet", "raw", "layer", 8, "gray", None, "x", 77)["query"]
    assert query.startswith("?split=test&index=0&")


def test_maps_shown_keeps_the_most_active_maps_and_a_click_names_the_map(
    page, services, app, client
):
    source = page.dataset_source("test", 312)
    out = page.draw(source, "Conv2D_3", "jet", "seed", "layer", 8, "gray", None, None, None, 16)
    assert "top=16" in out["query"]
    info = _text(out["grid_info"])
    assert "16" in info and "most active of 128 maps" in info
    values = services.acts.layer(services.x_std["test"][312:313], "Conv2D_3")[0]
    ranked = np.argsort(-values.mean(axis=(0, 1)), kind="stable")[:16]
    grid = as_figure(out["grid"])
    assert grid.layout.meta["cells"] == 16
    # the hover names each cell by its own map number, most active first
    first_row = np.asarray(grid.data[0].customdata)[0, ::3, 0]
    np.testing.assert_array_equal(first_row, ranked[:8])
    # a click on the second cell of the grid selects that map, not map 1
    values = {
        f"{ids.ACT_GRID}.clickData": {"points": [{"x": 4, "y": 1}]},
        f"{ids.ACT_LAYER}.value": "Conv2D_3",
        f"{ids.ACT_PER_ROW}.value": 8,
        f"{CHOICE}.data": source,
        f"{ids.ACT_TOP}.value": 16,
    }
    response = post_callback(
        client, app, f"{ids.ACT_SELECTED}.data", values, f"{ids.ACT_GRID}.clickData"
    )
    chosen = json.loads(response.data)["response"][ids.ACT_SELECTED]["data"]
    assert chosen == {"layer": "Conv2D_3", "cell": int(ranked[1])}
    # the default (128) is left out of the URL: the seed's addresses stay as they were
    default = page.draw(source, "Conv2D_3", "jet", "seed", "layer", 8, "gray")
    assert "top=" not in default["query"] and default["grid"]["layout"]["meta"]["cells"] == 128
