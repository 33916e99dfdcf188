"""OIP pictures: the seed's two-fold view and PNG export of one OIP or a gallery."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cnn_core import imaging
from cnn_core.oip import long_range_noise


@pytest.fixture(scope="module")
def oips() -> np.ndarray:
    """`(20, 28, 28)` float32 standardized images shaped like OIPs."""
    return np.stack([long_range_noise(s) for s in range(20)])


def test_two_fold_picture_is_plain_above_enhanced_below(oips):
    image = oips[0]
    two_fold = imaging.oip_picture(image, "two_fold", "viridis")
    assert two_fold.shape == (57, 28, 3) and two_fold.dtype == np.uint8
    np.testing.assert_array_equal(two_fold[:28], imaging.oip_picture(image, "plain", "viridis"))
    np.testing.assert_array_equal(two_fold[29:], imaging.oip_picture(image, "enhanced", "viridis"))
    assert np.all(two_fold[28] == 255)


def test_enhanced_view_pushes_more_pixels_to_the_ends_of_the_colour_range(oips):
    for image in oips[:5]:
        plain = imaging.oip_levels(image)
        enhanced = imaging.oip_levels(image, enhanced=True)
        extreme = lambda levels: np.mean((levels < 0.1) | (levels > 0.9))  # noqa: E731
        assert extreme(enhanced) > extreme(plain)
        assert plain.min() == 0 and plain.max() == 1


def test_oip_png_decodes_to_the_enlarged_two_fold_view(oips):
    png = imaging.oip_png(oips[3], scale=5)
    decoded = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert decoded.shape == (57 * 5, 28 * 5, 3)
    np.testing.assert_array_equal(decoded[::5, ::5], imaging.oip_picture(oips[3]))


def test_gallery_places_every_oip_row_by_row_and_leaves_empty_cells_blank(oips):
    gallery = imaging.oip_gallery_image(oips, per_row=8, scale=2, gap_px=3, colormap="magma")
    cell = 28 * 2
    assert gallery.shape == (3 * (cell + 3) - 3, 8 * (cell + 3) - 3, 3)
    top, left = 1 * (cell + 3), 2 * (cell + 3)  # OIP 10: row 1, column 2
    expected = imaging.oip_picture(oips[10], "plain", "magma").repeat(2, 0).repeat(2, 1)
    np.testing.assert_array_equal(gallery[top : top + cell, left : left + cell], expected)
    assert np.all(gallery[2 * (cell + 3) :, 4 * (cell + 3) :] == 255)  # 20 OIPs: 4 in row 2


def test_two_fold_gallery_separates_pairs_more_than_the_views_of_a_pair(oips):
    gallery = imaging.oip_gallery_image(oips[:4], view="two_fold", per_row=2, scale=2)
    assert gallery.shape == (2 * 57 * 2 + 6, 2 * 28 * 2 + 6, 3)
    png = imaging.oip_gallery_png(oips[:4], view="enhanced")
    assert Image.open(io.BytesIO(png)).size == (4 * 84 + 3 * 2, 84)


def test_a_colour_oip_is_shown_in_its_own_colours_with_one_stretch_for_all_channels():
    image = np.zeros((32, 32, 3), np.float32)
    image[:, :, 0] = 2.0  # red everywhere
    image[8:16, 8:16, 2] = 1.0  # half-bright blue in a square
    plain = imaging.oip_picture(image, "plain", "viridis")
    assert plain.shape == (32, 32, 3)
    assert plain[0, 0].tolist() == [255, 0, 0]
    assert plain[10, 10].tolist() == [255, 0, 128]  # blue at half the red: balance kept
    assert imaging.oip_picture(image, "two_fold").shape == (65, 32, 3)
    gallery = imaging.oip_gallery_image(np.stack([image, -image]), per_row=2, scale=1, gap_px=0)
    assert gallery.shape == (32, 64, 3)
    np.testing.assert_array_equal(gallery[:, :32], plain)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda o: imaging.oip_picture(o[0], "sepia"), imaging.ImagingError),
        (lambda o: imaging.oip_picture(o[0], "plain", "rainbow"), imaging.UnknownColormapError),
        (lambda o: imaging.oip_gallery_image(o[:0]), imaging.GridLayoutError),
        (lambda o: imaging.oip_gallery_image(o[0]), imaging.GridLayoutError),
        (lambda o: imaging.oip_gallery_image(o, scale=0), imaging.ImagingError),
        (lambda o: imaging.oip_levels(o), imaging.ImagingError),
    ],
)
def test_bad_views_colormaps_and_shapes_raise_imaging_errors(oips, call, error):
    with pytest.raises(error):
        call(oips)
