"""Imaging: colormap tables, the seed's value scaling, grid layout, mosaic and PNG export."""

import io

import numpy as np
import pytest
from PIL import Image

from cnn_core import imaging


def _hex(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)])


@pytest.mark.parametrize("name", imaging.COLORMAPS)
def test_every_colormap_is_a_256_by_3_uint8_table(name):
    lut = imaging.colormap_lut(name)
    assert lut.shape == (256, 3)
    assert lut.dtype == np.uint8


@pytest.mark.parametrize(
    ("name", "index", "expected"),
    [
        # matplotlib's tables at 0, 1/4, 1/2, 3/4, 1 (the published five-colour versions)
        ("viridis", 0, "#440154"),
        ("viridis", 64, "#3b528b"),
        ("viridis", 128, "#21918c"),
        ("viridis", 191, "#5ec962"),
        ("viridis", 255, "#fde725"),
        ("inferno", 64, "#56106e"),
        ("inferno", 191, "#f98e09"),
        ("magma", 128, "#b73779"),
        ("magma", 255, "#fcfdbf"),
        # matplotlib's jet: dark blue, blue, cyan-ish green, yellow-red, dark red
        ("jet", 0, "#000080"),
        ("jet", 255, "#800000"),
        ("gray", 0, "#000000"),
        ("gray", 255, "#ffffff"),
    ],
)
def test_colormaps_match_matplotlib_reference_colours(name, index, expected):
    lut = imaging.colormap_lut(name)
    assert np.abs(lut[index].astype(int) - _hex(expected)).max() <= 3


def test_jet_passes_through_pure_blue_cyan_yellow_red_in_order():
    lut = imaging.colormap_lut("jet").astype(int)
    blue, cyan_green, red = lut[int(0.23 * 255)], lut[int(0.5 * 255)], lut[int(0.88 * 255)]
    assert blue[2] == 255 and blue[0] == 0
    assert cyan_green[1] == 255
    assert red[0] == 255 and red[2] == 0


def test_perceptual_colormaps_grow_in_lightness():
    for name in ("viridis", "inferno", "magma", "gray"):
        luma = imaging.colormap_lut(name).astype(float) @ [0.299, 0.587, 0.114]
        assert np.all(np.diff(luma) > -1.0), name


def test_unknown_colormap_is_a_precise_error():
    with pytest.raises(imaging.UnknownColormapError, match="choose one of jet"):
        imaging.colormap_lut("rainbow")


def test_unknown_scaling_and_range_are_precise_errors():
    with pytest.raises(imaging.UnknownScalingError, match="scaling"):
        imaging.display_levels(np.ones((3, 3, 2)), scaling="log")
    with pytest.raises(imaging.UnknownScalingError, match="colour range"):
        imaging.display_levels(np.ones((3, 3, 2)), color_range="pixel")


def _seed_reference(img: np.ndarray) -> np.ndarray:
    """The seed's loop body, verbatim in spirit (`img_grid_of_layer_activation`)."""
    present_img = img.astype(np.float64).copy()
    present_img -= present_img.mean()
    if present_img.std() != 0.0:
        present_img /= present_img.std()
        present_img *= 64
        present_img += 128
    return np.clip(present_img, 0, 255).astype("uint8")


def test_seed_scale_standardizes_times_64_plus_128_and_clips():
    values = np.array([[0.0, 1.0], [2.0, 3.0]])
    # mean 1.5, std sqrt(1.25): (x - 1.5) / 1.118 * 64 + 128
    expected = np.clip((values - 1.5) / np.sqrt(1.25) * 64 + 128, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(imaging.seed_scale(values), expected)
    outlier = np.zeros((10, 10))
    outlier[0, 0] = 100.0  # about 10 standard deviations: clipped at 255
    assert imaging.seed_scale(outlier)[0, 0] == 255


def test_seed_scale_of_a_constant_map_is_zero_like_the_seed():
    np.testing.assert_array_equal(imaging.seed_scale(np.full((3, 3), 7.0)), np.zeros((3, 3)))


def test_seed_scale_maps_equals_the_seed_loop_on_real_activations(acts, trained, data):
    x = trained.standardize(data.images("test")[:1])
    maps = acts.layer(x, "Conv2D_2")[0]
    scaled = imaging.seed_scale_maps(maps)
    for k in range(maps.shape[2]):
        np.testing.assert_array_equal(scaled[:, :, k], _seed_reference(maps[:, :, k]))


def test_layer_range_shares_one_scale_and_map_range_stretches_each_map():
    maps = np.stack([np.arange(9.0).reshape(3, 3), 10 * np.arange(9.0).reshape(3, 3)], axis=2)
    layer = imaging.display_levels(maps, "raw", "layer")
    per_map = imaging.display_levels(maps, "raw", "map")
    assert layer[:, :, 0].max() == pytest.approx(8 / 80)
    assert layer[:, :, 1].max() == pytest.approx(1.0)
    assert per_map[:, :, 0].max() == pytest.approx(1.0)
    assert per_map[:, :, 1].min() == pytest.approx(0.0)


def test_seed_scaling_of_nodes_standardizes_over_the_whole_vector():
    nodes = np.array([0.0, 1.0, 2.0, 3.0])
    levels = imaging.display_levels(nodes, "seed", "layer")
    assert levels.shape == (1, 1, 4)
    np.testing.assert_allclose(levels[0, 0] * 255, imaging.seed_scale(nodes).astype(float))
    assert len(np.unique(levels)) == 4  # per-node standardization would make all of them 0


@pytest.mark.parametrize(
    ("n", "per_row", "expected"),
    [(32, 8, (4, 8)), (64, 8, (8, 8)), (128, 8, (16, 8)), (128, 16, (8, 16)), (100, 8, (13, 8))],
)
def test_map_grid_shape_keeps_every_map(n, per_row, expected):
    rows, cols = imaging.grid_shape(n, per_row)
    assert (rows, cols) == expected
    assert rows * cols >= n


@pytest.mark.parametrize(
    ("n", "expected"), [(10, (1, 10)), (100, (10, 10)), (1152, (32, 36)), (101, (10, 11))]
)
def test_node_grid_shape_is_a_row_or_near_square_without_dropping_nodes(n, expected):
    rows, cols = imaging.node_grid_shape(n)
    assert (rows, cols) == expected
    assert rows * cols >= n


def test_grid_shape_rejects_nonsense():
    with pytest.raises(imaging.GridLayoutError):
        imaging.grid_shape(0, 8)
    with pytest.raises(imaging.GridLayoutError):
        imaging.grid_shape(32, 0)


def test_mosaic_places_map_k_at_row_k_div_cols_and_column_k_mod_cols():
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(26, 26, 32)).astype(np.float32)
    layout = imaging.layout_for(maps, per_row=8)
    grid = imaging.mosaic(maps, layout)
    assert grid.shape == (4 * 26, 8 * 26)
    for k in (0, 7, 8, 11, 31):
        top, left = layout.cell_origin(k)
        assert (top, left) == ((k // 8) * 26, (k % 8) * 26)
        np.testing.assert_array_equal(grid[top : top + 26, left : left + 26], maps[:, :, k])


def test_mosaic_of_a_partial_last_row_fills_the_rest_with_nan():
    maps = np.ones((3, 3, 10), np.float32)
    layout = imaging.layout_for(maps, per_row=4)
    grid = imaging.mosaic(maps, layout)
    assert grid.shape == (9, 12)
    assert np.isnan(grid[6:, 6:]).all()
    assert not np.isnan(grid[6:, :6]).any()


def test_mosaic_positions_give_map_row_and_column_of_every_value():
    layout = imaging.layout_for(np.zeros((3, 3, 128)), per_row=8)
    pos = imaging.mosaic_positions(layout)
    assert pos.shape == (48, 24, 3)
    assert pos.dtype == np.uint8
    assert pos[4, 10].tolist() == [1 * 8 + 3, 1, 1]
    assert imaging.mosaic_positions(imaging.layout_for(np.zeros(1152))).dtype == np.uint16


def test_grid_png_is_a_real_png_with_every_map_and_separators(acts, trained, data):
    x = trained.standardize(data.images("test")[:1])
    maps = acts.layer(x, "Conv2D_3")[0]
    png = imaging.grid_png(maps, per_row=8, colormap="viridis", cell_px=10)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    # 16 rows x 8 cols of 3x3 maps at 10 px, 1 px separators
    assert image.size == (8 * 30 + 7, 16 * 30 + 15)
    rgb = np.asarray(image.convert("RGB"))
    assert (rgb[30, :] == (221, 221, 221)).all()  # a separator row


def test_digit_png_enlarges_a_digit(data):
    png = imaging.digit_png(data.images("test")[0], colormap="jet", scale=4)
    assert Image.open(io.BytesIO(png)).size == (112, 112)


# ---- which maps a grid shows ------------------------------------------------------------------


def test_a_layer_with_few_maps_is_shown_whole_and_in_order():
    values = np.random.default_rng(0).random((26, 26, 32)).astype(np.float32)
    shown = imaging.select_maps(values)  # the seed's Conv2D_1: 21,632 cells, under the budget
    assert not shown.ranked and shown.factor == 1 and shown.total == 32
    np.testing.assert_array_equal(shown.ids, np.arange(32))
    np.testing.assert_array_equal(shown.maps, values)


def test_a_layer_with_many_maps_shows_its_most_active_first():
    rng = np.random.default_rng(1)
    values = rng.random((2, 2, 1280)).astype(np.float32)
    values[:, :, 700] += 5  # the most active map
    values[:, :, 3] += 4
    shown = imaging.select_maps(values, top=128)
    assert shown.ranked and shown.total == 1280 and len(shown.ids) == 128
    assert list(shown.ids[:2]) == [700, 3]
    means = values.mean(axis=(0, 1))
    assert np.all(np.diff(means[shown.ids]) <= 0)  # most active first
    assert means[shown.ids].min() >= np.sort(means)[-128]  # and none left out is more active
    np.testing.assert_array_equal(shown.maps, values[:, :, shown.ids])
    assert shown.position[700] == 0 and shown.position[3] == 1


def test_large_maps_are_block_averaged_to_fit_the_cell_budget():
    values = np.arange(48 * 48 * 96, dtype=np.float32).reshape(48, 48, 96)  # MobileNetV2 block_1
    shown = imaging.select_maps(values)
    assert shown.factor == 3 and shown.maps.shape == (16, 16, 96)
    assert shown.maps.size <= imaging.GRID_CELL_BUDGET
    np.testing.assert_allclose(shown.maps[0, 0, 5], values[:3, :3, 5].mean())
    # a side that the factor does not divide: the last block averages what it has
    odd = imaging.downsample(np.ones((5, 5, 1), np.float32) * np.arange(5)[None, :, None], 2)
    assert odd.shape == (3, 3, 1) and odd[0, 2, 0] == 4 and odd[0, 0, 0] == 0.5


def test_nodes_are_always_shown_whole():
    shown = imaging.select_maps(np.arange(1280, dtype=np.float32), top=8)
    assert not shown.ranked and shown.factor == 1 and len(shown.ids) == 1280
