"""app/figures.py: the Plotly figures every page draws, built from small known arrays."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest
from dash._utils import to_json
from plotly.basedatatypes import BaseFigure

from app import figures
from cnn_core import imaging


def test_graph_config_is_one_shared_config():
    assert figures.GRAPH_CONFIG["displaylogo"] is False
    assert figures.GRAPH_CONFIG["toImageButtonOptions"] == {"format": "png", "scale": 2}
    named = figures.graph_config(filename="compare_4_vs_9_12")
    assert named["toImageButtonOptions"]["filename"] == "compare_4_vs_9_12"
    assert "filename" not in figures.GRAPH_CONFIG["toImageButtonOptions"]  # not mutated
    assert figures.graph_config(small=True)["modeBarButtons"] == [["toImage"]]
    assert figures.graph_config(mode_bar=False)["displayModeBar"] is False


def test_an_activation_grid_is_one_mosaic_with_raw_values_and_positions():
    values = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)  # 5 maps of 2x3
    fig = figures.activation_grid_figure(values, per_row=3, scaling="raw", title="t")
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert [h.z.shape for h in heatmaps] == [(2, 9), (2, 6)]  # a full row, then 2 maps
    assert fig.layout.meta == {"cells": 5, "rows": 2, "cols": 3}
    np.testing.assert_array_equal(np.asarray(heatmaps[0].text)[:, 3:6], values[:, :, 1])
    assert heatmaps[0].z.dtype == np.uint8 and heatmaps[0].z.max() <= 255
    assert tuple(heatmaps[1].customdata[0, 0]) == (3, 0, 0)  # map 3 starts the second row
    assert fig.layout.title.text == "t"


def test_node_layers_draw_one_cell_per_node_with_gaps():
    fig = figures.activation_grid_figure(np.linspace(0, 1, 10, dtype=np.float32))
    assert fig.data[0].z.shape == (1, 10) and fig.data[0].xgap == 1
    assert "node %{customdata[0]}" in fig.data[0].hovertemplate
    assert not [s for s in fig.layout.shapes if s.type == "path"]  # no separators for nodes


def test_grid_highlight_and_bad_input():
    values = np.ones((2, 2, 4), np.float32)
    rects = [
        s
        for s in figures.activation_grid_figure(values, highlight=3).layout.shapes
        if s.type == "rect"
    ]
    assert len(rects) == 2 and (rects[0].x0, rects[0].y0) == (5.5, -0.5)
    with pytest.raises(imaging.ImagingError):
        figures.activation_grid_figure(values, colormap="rainbow")
    with pytest.raises(imaging.ImagingError):
        figures.activation_grid_figure(values, markers=[figures.GridMarker(9, 0, 0, "red")])


def test_colorscales_follow_the_png_colormaps():
    scale = figures.plotly_colorscale("gray", stops=3)
    assert scale == [[0.0, "rgb(0,0,0)"], [0.502, "rgb(128,128,128)"], [1.0, "rgb(255,255,255)"]]


def test_probabilities_colour_the_prediction_and_a_missed_true_class():
    fig = figures.probabilities_figure([0.1, 0.7, 0.2], true_label=2)
    colors = list(fig.data[0].marker.color)
    assert colors[1] == "#2c7be5" and colors[2] == "#e63757" and colors[0] == "#adb5bd"
    assert list(fig.data[0].x) == ["0", "1", "2"] and fig.data[0].text[1] == "70.0%"


def test_confusion_matrix_writes_counts_and_colours_row_shares():
    cm = np.array([[8, 2], [1, 9]])
    fig = figures.confusion_matrix_figure(cm)
    np.testing.assert_array_equal(fig.data[0].text, cm)
    np.testing.assert_allclose(fig.data[0].z, np.sqrt(cm / cm.sum(axis=1, keepdims=True)))
    np.testing.assert_allclose(fig.data[0].customdata[0], [80.0, 20.0])


def test_class_names_label_the_axes_while_clicks_still_give_indices():
    names = ["red disc", "blue triangle"]
    cm = figures.confusion_matrix_figure(np.array([[8, 2], [1, 9]]), class_names=names)
    assert list(cm.data[0].x) == ["0", "1"] and list(cm.data[0].y) == ["0", "1"]
    assert list(cm.layout.xaxis.ticktext) == names and list(cm.layout.xaxis.tickvals) == ["0", "1"]
    assert list(cm.layout.yaxis.ticktext) == names
    assert cm.data[0].hovertext[0][1] == "true red disc, predicted blue triangle"
    bars = figures.probabilities_figure([0.3, 0.7], class_names=names)
    assert list(bars.data[0].x) == ["0", "1"] and list(bars.layout.xaxis.ticktext) == names
    seed = figures.confusion_matrix_figure(np.eye(3, dtype=int))  # no names: the indices
    assert list(seed.layout.xaxis.ticktext) == ["0", "1", "2"]


def test_digit_and_map_detail_figures():
    image = np.zeros((28, 28), np.uint8)
    image[5, 7] = 255
    digit = figures.digit_figure(image, title="what the model sees")
    assert np.asarray(digit.data[0].z)[5, 7] == 255 and digit.layout.yaxis.autorange == "reversed"
    raw = np.arange(9, dtype=np.float32).reshape(3, 3)
    detail = figures.map_detail_figure(raw, raw / 8, title="map 1<br>stats")
    assert detail.data[0].texttemplate and detail.layout.margin.t == 56


def test_unit_means_and_oip_figures():
    bars = figures.unit_means_figure(
        [3, 1], [1.0, 0.5], [0.2, 0.4], [2.5, 0.3], class_a=4, class_b=9
    )
    assert [t.name for t in bars.data] == ['class "4"', 'class "9"']
    assert list(bars.data[0].x) == ["map 3", "map 1"]
    assert [a.text for a in bars.layout.annotations] == ["+2.5", "+0.3"]
    curve = figures.oip_curve_figure(np.array([1, 2, 3]), np.ones((3, 2)), ["seed 0", "seed 1"])
    assert [t.name for t in curve.data] == ["seed 0", "seed 1"]
    band = figures.oip_curve_figure(np.array([1, 2]), np.ones((2, 5)), ["mean"], mean_only=True)
    assert len(band.data) == 3 and band.data[-1].name == "mean"
    versus = figures.oip_vs_digits_figure([5.0], ["seed 0"], [2.0, 1.0], ["test 1", "test 2"])
    assert list(versus.data[0].marker.color) == [figures.OIP_COLOR] + [figures.DIGIT_COLOR] * 2


def test_a_picture_grid_is_one_image_with_an_invisible_clickable_heatmap():
    layout = imaging.layout_for(np.zeros((4, 4, 5), np.float32), 3)
    fig = figures.picture_grid_figure(
        "data:image/png;base64,AAAA", layout, cell_px=2, gap_px=1, values=[1, 2, 3, 4, 5]
    )
    image, heat = fig.data
    assert image.type == "image" and heat.opacity == 0
    assert np.isnan(heat.z[1, 2]) and heat.z[1, 1] == 4  # 5 cells in a 2x3 grid
    assert "objective %{customdata:.4g}" in heat.hovertemplate
    marked = figures.picture_grid_figure(
        "data:image/png;base64,AAAA", layout, cell_px=2, gap_px=1, values=[1, 2, 3, 4, 5],
        notes=[f"note {i}" for i in range(5)], marks=["✓", "✗", "✓", "✓", "✗"],
    )  # fmt: skip
    image, heat, marks = marked.data
    assert heat.type == "heatmap" and marks.hoverinfo == "skip"  # clicks still reach trace 1
    assert list(marks.text) == ["✓", "✗", "✓", "✓", "✗"]
    assert list(marks.x) == [1, 10, 19, 1, 10] and list(marks.y) == [1, 1, 1, 10, 10]
    assert heat.text[1, 1] == "<br>note 4" and heat.text[1, 2] == ""


def test_attribution_maps_lie_over_their_image_each_above_its_deletion_curve():
    background = np.full((4, 5, 3), 200, np.uint8)
    values = np.stack([np.arange(20, dtype=np.float32).reshape(4, 5), -np.ones((4, 5))])
    levels = np.clip(values / 19, 0, 1)
    fig = figures.attribution_figure(
        background, levels, values, ["A", "B"], [0.0, 0.5, 1.0],
        np.array([[1.0, 0.2, 0.0], [1.0, 0.9, 0.5]]), np.full((2, 3), 0.8),
        [0.3, 0.8], [0.8, 0.8], colormap="viridis", opacity=0.3, followed='P("7")',
    )  # fmt: skip
    images = [t for t in fig.data if t.type == "image"]
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    curves = [t for t in fig.data if t.type == "scatter"]
    assert len(images) == 2 and len(heatmaps) == 2 and len(curves) == 4
    for k, heat in enumerate(heatmaps):  # over its own image, on its own axes
        assert (heat.xaxis, heat.yaxis) == (images[k].xaxis, images[k].yaxis)
        assert heat.opacity == 0.3 and heat.name == "AB"[k]
    assert heatmaps[0].xaxis != heatmaps[1].xaxis
    np.testing.assert_array_equal(heatmaps[0].customdata, values[0])  # hover: the raw values
    assert [list(stop) for stop in heatmaps[0].colorscale] == figures.plotly_colorscale("viridis")
    assert list(curves[0].x) == [0.0, 50.0, 100.0] and list(curves[1].y) == [0.8] * 3
    assert {c.xaxis for c in curves[:2]} == {"x3"} and {c.xaxis for c in curves[2:]} == {"x4"}
    assert [c.showlegend for c in curves] == [True, True, False, False]
    texts = [a.text for a in fig.layout.annotations]
    assert "<b>A</b>" in texts and "area <b>0.30</b> · random 0.80" in texts
    assert fig.layout.meta == {"methods": 2, "areas": [0.3, 0.8]}
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.yaxis3.range == (0, 1.05)


def test_attribution_figure_refuses_maps_that_do_not_match():
    with pytest.raises(imaging.ImagingError):
        figures.attribution_figure(
            np.zeros((4, 4, 3), np.uint8), np.zeros((2, 4, 4)), np.zeros((2, 4, 5)), ["A", "B"],
            [0.0, 1.0], np.ones((2, 2)), np.ones((2, 2)), [0.5, 0.5], [0.5, 0.5],
        )  # fmt: skip


def test_a_single_row_of_nodes_is_labelled_with_its_cell_names():
    names = [f"class {k}" for k in range(10)]
    fig = figures.activation_grid_figure(np.arange(10, dtype=np.float32), cell_labels=names)
    assert fig.layout.xaxis.showticklabels
    assert list(fig.layout.xaxis.ticktext) == names and list(fig.layout.xaxis.tickvals) == [
        *range(10)
    ]
    # maps (and several rows of nodes) keep their bare axes
    maps = figures.activation_grid_figure(np.ones((3, 3, 4), np.float32), cell_labels=names)
    assert not maps.layout.xaxis.showticklabels


def _validated(fig):
    """`fig` rebuilt by Plotly's validating constructor: raises ValueError on any property
    Plotly does not know or a value it refuses (what `figures.fast_figure` skips)."""
    return go.Figure(fig.to_plotly_json())


@pytest.mark.parametrize(
    "case",
    [
        dict(values=np.random.default_rng(0).random((5, 5, 12), np.float32), title="a title"),
        dict(
            values=np.random.default_rng(1).random((4, 4, 9), np.float32),
            markers=[
                figures.GridMarker(2, 1, 3, "red", "common", "diamond-open"),
                figures.GridMarker(8, 0, 0, "yellow"),
            ],
            highlight=4,
            color_range="map",
            colormap="viridis",
            cell_ids=np.arange(100, 109),
            cell_scale=2,
            show_scale=False,
        ),
        dict(values=np.linspace(-1, 1, 100, dtype=np.float32), scaling="raw"),
        dict(values=np.arange(10, dtype=np.float32), cell_labels=[f"c{i}" for i in range(10)]),
    ],
    ids=["maps", "markers-and-selection", "nodes", "named-nodes"],
)
def test_activation_grids_built_without_validation_are_valid_plotly(case):
    fig = figures.activation_grid_figure(**case)
    again = _validated(fig)  # raises on anything invalid
    assert again.layout.meta == fig.layout.meta
    assert [t.type for t in again.data] == [t.type for t in fig.data]
    # what a callback sends (figures.wire) is, once on the wire, what the go.Figure sends
    sent = json.loads(to_json(figures.wire(figures.activation_grid_spec(**case))))
    assert sent == json.loads(to_json(BaseFigure.to_dict(fig))) == json.loads(to_json(fig))


def test_class_statistics_bars_built_without_validation_are_valid_plotly():
    fig = figures.unit_means_figure(
        [7, 3, 11], [0.5, 0.25, 0.1], [0.1, 0.3, 0.0], [2.0, -0.5, 1.25],
        class_a="cat", class_b=9, title="4 vs 9",
    )  # fmt: skip
    again = _validated(fig)
    assert [a.text for a in again.layout.annotations] == ["+2.0", "-0.5", "+1.2"]
    assert [t.name for t in again.data] == ['class "cat"', 'class "9"']
    assert list(again.data[0].x) == ["map 7", "map 3", "map 11"]


def _changed_after(fig):
    """A figure changed after it was built, as pages do (an outline, a click mode)."""
    fig.add_shape(type="rect", x0=0, x1=1, y0=0, y1=1, line=dict(color="black", width=3))
    fig.update_layout(clickmode="event")
    return fig


@pytest.mark.parametrize(
    "make",
    [
        lambda: figures.digit_figure(np.arange(784, dtype=np.uint8).reshape(28, 28), title="t"),
        lambda: figures.digit_figure(np.zeros((8, 8, 3), np.uint8), colormap="viridis"),
        lambda: figures.digit_figure(np.zeros((96, 96, 3), np.uint8)),
        lambda: figures.probabilities_figure(np.full(10, 0.1), true_label=3, title="p"),
        lambda: figures.probabilities_figure([0.7, 0.2, 0.1], class_names=["a", "b", "c"]),
        lambda: figures.map_detail_figure(np.eye(5), np.eye(5) / 2, title="map 3<br>stats"),
        lambda: figures.map_detail_figure(np.ones((20, 20)), np.ones((20, 20)), show_values=False),
        lambda: _changed_after(figures.map_detail_figure(np.eye(3), np.eye(3))),
        lambda: _changed_after(figures.activation_grid_figure(np.ones((4, 4, 3), np.float32))),
    ],
    ids=[
        "grey",
        "colour",
        "large-colour",
        "probabilities",
        "named-classes",
        "map-detail",
        "large-map-detail",
        "changed-detail",
        "changed-grid",
    ],
)
def test_picture_and_probability_figures_built_without_validation_are_valid_plotly(make):
    fig = make()
    # validated, the figure sends exactly what it sends unvalidated
    assert json.loads(to_json(_validated(fig))) == json.loads(to_json(fig))
    # and its JSON without deep copies is Plotly's own (deepcopy, then typed arrays)
    assert json.loads(to_json(fig.to_dict())) == json.loads(to_json(BaseFigure.to_dict(fig)))
