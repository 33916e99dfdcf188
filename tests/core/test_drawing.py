"""cnn_core.data.drawing: drawn pictures to model input, and the compact pixel code of URLs."""

from __future__ import annotations

import base64
import io
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnn_core.data import drawing
from cnn_core.data.drawing import DrawingError, decode_pixels, drawing_to_pixels, encode_pixels
from cnn_core.data.preprocess import center_of_mass

MNIST = (28, 28, 1)
COLOUR = (32, 32, 3)


def png_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def canvas(size=(112, 112), paper=(0, 0, 0), mode="RGB") -> tuple[Image.Image, ImageDraw.Draw]:
    image = Image.new(mode, size, paper)
    return image, ImageDraw.Draw(image)


def test_a_drawn_stroke_becomes_an_mnist_style_digit():
    image, pen = canvas()
    pen.line([(20, 10), (20, 60)], fill=(255, 255, 255), width=8)  # off-centre, top left
    digit = drawing_to_pixels(png_url(image), MNIST)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    rows = np.flatnonzero((digit > 50).any(axis=1))
    assert rows[-1] - rows[0] + 1 in (19, 20, 21)  # scaled to 20 px tall
    com = center_of_mass(digit)
    assert abs(com[0] - 13.5) < 1 and abs(com[1] - 13.5) < 1  # centred by its mass


def test_dark_ink_on_light_paper_gives_the_same_digit_as_light_on_dark():
    light, pen = canvas(paper=(255, 255, 255))
    pen.line([(56, 15), (56, 97)], fill=(0, 0, 0), width=9)
    dark, dpen = canvas(paper=(0, 0, 0))
    dpen.line([(56, 15), (56, 97)], fill=(255, 255, 255), width=9)
    a = drawing_to_pixels(png_url(light), MNIST)
    b = drawing_to_pixels(png_url(dark), MNIST)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 2


def test_a_colour_model_gets_the_picture_resized_not_the_mnist_pipeline():
    image, pen = canvas(size=(128, 128), paper=(22, 22, 23))
    pen.ellipse([8, 8, 40, 40], fill=(220, 20, 20))  # a red disc in the top-left corner
    pixels = drawing_to_pixels(png_url(image), COLOUR, background=(22, 22, 23))
    assert pixels.shape == (32, 32, 3) and pixels.dtype == np.uint8
    assert pixels[6, 6, 0] > 180 and pixels[6, 6, 1] < 60  # still red, still top left
    assert tuple(pixels[28, 28]) == (22, 22, 23)  # not cropped nor centred


def test_transparent_parts_of_a_colour_drawing_are_the_data_background():
    image, pen = canvas(size=(64, 64), paper=(0, 0, 0, 0), mode="RGBA")
    pen.rectangle([0, 0, 10, 10], fill=(0, 200, 0, 255))
    pixels = drawing_to_pixels(png_url(image), COLOUR, background=(40, 50, 60))
    assert tuple(pixels[-1, -1]) == (40, 50, 60)


def test_a_grey_model_of_another_size_gets_a_grey_resized_picture():
    image, pen = canvas(size=(64, 64))
    pen.rectangle([0, 0, 31, 63], fill=(255, 255, 255))
    pixels = drawing_to_pixels(png_url(image), (16, 16, 1))
    assert pixels.shape == (16, 16) and pixels[8, 2] > 250 and pixels[8, 13] < 5


@pytest.mark.parametrize(
    "contents, reason",
    [
        ("", "not a file"),
        ("data:image/png;base64,AAAA", "not an image"),
        ("data:image/png;base64," + "A" * 800_000, "limit"),
        (png_url(Image.new("RGB", (2000, 10))), "limit"),
        (png_url(Image.new("RGB", (50, 50))), "no digit"),
    ],
)
def test_broken_huge_or_empty_drawings_are_refused_with_a_reason(contents, reason):
    with pytest.raises(DrawingError, match=reason):
        drawing_to_pixels(contents, MNIST)


def test_a_huge_colour_drawing_is_refused():
    with pytest.raises(DrawingError, match="limit"):
        drawing_to_pixels(png_url(Image.new("RGB", (1500, 20))), COLOUR)


@pytest.mark.parametrize("shape", [MNIST, COLOUR, (16, 20, 1)])
def test_the_pixel_code_round_trips_exactly(shape):
    rng = np.random.default_rng(0)
    h, w, c = shape
    pixels = rng.integers(0, 256, size=(h, w) if c == 1 else (h, w, c), dtype=np.uint8)
    code = encode_pixels(pixels)
    assert code.startswith("z") and all(ch.isalnum() or ch in "-_" for ch in code)
    np.testing.assert_array_equal(decode_pixels(code, shape), pixels)


def test_a_drawn_digit_code_is_short():
    image, pen = canvas()
    pen.ellipse([30, 15, 82, 97], outline=(255, 255, 255), width=9)
    code = encode_pixels(drawing_to_pixels(png_url(image), MNIST))
    assert len(code) < 700  # 784 pixels, most of them black


def test_a_code_for_another_shape_or_a_damaged_code_is_refused():
    code = encode_pixels(np.zeros((28, 28), np.uint8))
    with pytest.raises(DrawingError, match="32x32x3"):
        decode_pixels(code, COLOUR)
    for bad in (None, 42, "", "x" + code[1:], code[:-5] + "!!!!!", "z" + "A" * 20_000):
        with pytest.raises(DrawingError):
            decode_pixels(bad, MNIST)


def test_a_zlib_bomb_is_cut_short():
    bomb = base64.urlsafe_b64encode(zlib.compress(b"\0" * 5_000_000, 9)).decode().rstrip("=")
    assert len(bomb) < drawing.MAX_CODE_CHARS
    with pytest.raises(DrawingError, match="not a 28x28x1 picture"):
        decode_pixels("z" + bomb, MNIST)


def test_background_and_ink_colours_come_from_the_data():
    images = np.full((10, 32, 32, 3), (22, 22, 23), np.uint8)
    images[:5, 8:20, 8:20] = (220, 20, 20)
    images[5:, 8:20, 8:20] = (20, 20, 220)
    assert drawing.background_colour(images) == (22, 22, 23)
    inks = drawing.ink_colours(images)
    assert set(inks) == {(220, 20, 20), (20, 20, 220)}
    grey = np.zeros((4, 28, 28), np.uint8)
    assert drawing.background_colour(grey) == (0,) and drawing.ink_colours(grey) == [(255,)]
