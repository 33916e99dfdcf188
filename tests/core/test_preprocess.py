"""Uploads: MNIST-style preprocessing of real picture files, and clear errors for bad ones."""

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnn_core.data import preprocess


def _data_url(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    mime = "jpeg" if fmt == "JPEG" else fmt.lower()
    return f"data:image/{mime};base64," + base64.b64encode(buffer.getvalue()).decode()


def _off_centre_seven(background: str = "white", ink: str = "black") -> Image.Image:
    """A '7' drawn with Pillow in the top-left corner of a large light canvas."""
    image = Image.new("RGB", (400, 300), background)
    draw = ImageDraw.Draw(image)
    draw.line([(30, 30), (130, 30)], fill=ink, width=14)
    draw.line([(130, 30), (70, 190)], fill=ink, width=14)
    return image


def test_off_centre_dark_on_white_digit_ends_up_centred_on_black():
    digit = preprocess.digit_from_upload(_data_url(_off_centre_seven()))
    assert digit.shape == (28, 28)
    assert digit.dtype == np.uint8
    border = np.concatenate([digit[0], digit[-1], digit[:, 0], digit[:, -1]])
    assert border.max() == 0  # dark background
    assert digit.max() == 255  # bright ink
    row, col = preprocess.center_of_mass(digit)
    assert abs(row - 13.5) <= 1.0 and abs(col - 13.5) <= 1.0
    ink = digit > 64
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert max(height, width) in (19, 20, 21)  # longer side fitted to 20 px
    assert height > width  # aspect ratio kept (the 7 is taller than wide)


def test_light_on_dark_and_jpeg_give_the_same_kind_of_digit():
    light = preprocess.digit_from_upload(_data_url(_off_centre_seven(), "PNG"))
    dark = preprocess.digit_from_upload(
        _data_url(_off_centre_seven(background="black", ink="white"), "JPEG")
    )
    assert dark[0].max() < 30
    overlap = ((light > 128) & (dark > 128)).sum() / max(1, (light > 128).sum())
    assert overlap > 0.8


def test_transparent_png_drawing_counts_transparency_as_paper():
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse([50, 40, 130, 170], outline=(0, 0, 0, 255), width=12)
    digit = preprocess.digit_from_upload(_data_url(image))
    assert digit[0].max() == 0 and digit.max() == 255


def test_the_model_reads_an_uploaded_seven_as_a_seven(trained, acts):
    digit = preprocess.digit_from_upload(_data_url(_off_centre_seven()))
    proba = acts.predict_proba(trained.standardize(digit[None]))[0]
    assert proba.argmax() == 7


def test_not_an_image_is_refused_clearly():
    url = "data:image/png;base64," + base64.b64encode(b"this is not a picture").decode()
    with pytest.raises(preprocess.NotAnImageError, match="not an image"):
        preprocess.digit_from_upload(url)
    with pytest.raises(preprocess.NotAnImageError):
        preprocess.digit_from_upload("hello")
    with pytest.raises(preprocess.NotAnImageError, match="base64"):
        preprocess.digit_from_upload("data:image/png;base64,@@@@")


def test_a_file_over_2_mb_is_refused_before_decoding():
    url = "data:image/png;base64," + "A" * (3 * 1024 * 1024)
    with pytest.raises(preprocess.ImageTooLargeError, match="limit is 2 MB"):
        preprocess.digit_from_upload(url)


def test_an_image_over_4096_pixels_is_refused():
    url = _data_url(Image.new("L", (4097, 20), 255))
    with pytest.raises(preprocess.ImageTooLargeError, match="4097x20"):
        preprocess.digit_from_upload(url)


def test_a_blank_picture_has_no_digit():
    with pytest.raises(preprocess.NoInkError):
        preprocess.digit_from_upload(_data_url(Image.new("RGB", (60, 60), "white")))


def test_stored_digit_is_validated_on_its_way_back():
    good = np.arange(784).reshape(28, 28) % 256
    np.testing.assert_array_equal(preprocess.digit_from_list(good.tolist()), good)
    for bad in (None, "x", [[1, 2], [3, 4]], (np.ones((28, 28)) * 300).tolist(), [[0.5] * 28] * 28):
        with pytest.raises(preprocess.UploadError):
            preprocess.digit_from_list(bad)


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_a_decompression_bomb_gets_the_size_message():
    # 20000 x 20000 white pixels compress to a few hundred KB: Pillow's bomb check fires
    raw = _png_bytes(Image.new("L", (20000, 20000), 255))
    assert len(raw) < preprocess.MAX_UPLOAD_BYTES
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    with pytest.raises(preprocess.ImageTooLargeError, match="4096x4096"):
        preprocess.digit_from_upload(url)


def test_formats_outside_the_list_are_refused_as_not_an_image():
    buffer = io.BytesIO()
    _off_centre_seven().save(buffer, format="TIFF")
    url = "data:image/tiff;base64," + base64.b64encode(buffer.getvalue()).decode()
    with pytest.raises(preprocess.NotAnImageError, match="PNG"):
        preprocess.digit_from_upload(url)


def test_the_largest_accepted_picture_gives_the_digit_its_small_copy_gives():
    # 4096 x 4096 RGBA, transparent paper: reduced after decoding, the digit must not change
    def seven(size: int) -> Image.Image:
        image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        k = size / 400
        draw.line([(100 * k, 80 * k), (300 * k, 80 * k)], fill=(0, 0, 0, 255), width=round(28 * k))
        draw.line([(300 * k, 80 * k), (160 * k, 330 * k)], fill=(0, 0, 0, 255), width=round(28 * k))
        return image

    large = preprocess.digit_from_upload(_data_url(seven(4096)))
    small = preprocess.digit_from_upload(_data_url(seven(1024)))
    assert large.shape == (28, 28)
    assert np.abs(large.astype(int) - small.astype(int)).mean() < 4  # of 255


def test_a_clean_digit_has_no_conversion_doubts():
    _, doubts = preprocess.digit_and_doubts_from_upload(_data_url(_off_centre_seven()))
    assert doubts == []


def test_a_faint_photo_with_ink_at_its_edge_is_called_doubtful():
    rng = np.random.default_rng(0)
    paper = np.clip(rng.normal(180, 4, (120, 100)), 0, 255)  # grey, slightly textured paper
    paper[10:110, 45:55] -= 45  # a faint stroke (contrast ~0.2)
    paper[:, :6] -= 40  # a shadow along the left edge
    image = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))
    digit, doubts = preprocess.digit_and_doubts_from_upload(_data_url(image))
    assert digit.shape == (28, 28)
    assert any("hardly stands out" in d for d in doubts)
    assert any("touches the picture's edge" in d for d in doubts)
