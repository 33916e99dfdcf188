"""Image folders as a data source: layouts, class order, formats, resizing, skips, cache."""

from __future__ import annotations

import io
import logging
import os
import time

import numpy as np
import pytest
from PIL import Image

from cnn_core.data import folders
from cnn_core.data.folders import (
    crop_box,
    fit_image,
    list_image_folder,
    load_image_folder,
    read_image_file,
    split_counts,
)
from cnn_core.data.sources import DataError, load_for_model, load_path
from tests.core.test_data import fake_mnist, write_idx_folder

LOGGER = "cnn_core.data.folders"
RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 200, 30)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test caches into its own folder, never into the user's ~/.cache."""
    monkeypatch.setenv("CNN_LENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CNN_LENS_DATA", raising=False)
    return tmp_path / "cache"


def save(path, image: Image.Image, **params) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **params)


def uniform(value, size=(6, 6), mode="RGB") -> Image.Image:
    return Image.new(mode, size, value)


def write_classes(root, counts: dict[str, int], size=(6, 6)) -> None:
    """`counts[name]` PNGs per class, each a uniform grey of its own value (1, 2, 3, ...)."""
    value = 0
    for name, count in counts.items():
        for i in range(count):
            value += 1
            save(root / name / f"{i:03d}.png", uniform(value, size, "L"))


def test_one_folder_per_class_is_split_stratified_and_deterministic(tmp_path):
    write_classes(tmp_path / "d", {"a": 10, "b": 5, "c": 2, "d": 1})
    data = load_image_folder(tmp_path / "d", (6, 6, 1), cache=False)
    assert data.class_names == ("a", "b", "c", "d")
    assert np.bincount(data.y_test, minlength=4).tolist() == [2, 1, 1, 0]
    assert np.bincount(data.y_train, minlength=4).tolist() == [8, 4, 1, 1]
    values = np.concatenate([data.x_train[:, 0, 0], data.x_test[:, 0, 0]])
    assert sorted(values.tolist()) == list(range(1, 19))  # every image once, train or test
    again = load_image_folder(tmp_path / "d", (6, 6, 1), cache=False)
    assert again.fingerprint == data.fingerprint
    assert data.x_train.shape == (14, 6, 6) and data.x_train.dtype == np.uint8
    assert "18 images, 4 classes (14 train / 4 test), resized to 6x6 grey" in data.source


def test_split_counts_take_a_fifth_at_least_one_and_never_the_last():
    assert split_counts([10, 5, 2, 1, 0, 100, 7]) == [2, 1, 1, 0, 0, 20, 1]


def test_train_and_test_folders_keep_their_split(tmp_path):
    write_classes(tmp_path / "d" / "train", {"cat": 3, "dog": 4})
    write_classes(tmp_path / "d" / "test", {"cat": 1, "dog": 2})
    data = load_image_folder(tmp_path / "d", (6, 6, 3), cache=False)
    assert data.class_names == ("cat", "dog")
    assert np.bincount(data.y_train).tolist() == [3, 4]
    assert np.bincount(data.y_test).tolist() == [1, 2]
    assert data.x_test.shape == (3, 6, 6, 3)


def test_a_class_missing_from_test_is_named(tmp_path):
    write_classes(tmp_path / "d" / "train", {"cat": 2, "dog": 2, "eel": 2})
    write_classes(tmp_path / "d" / "test", {"cat": 1, "dog": 1})
    with pytest.raises(DataError, match=r"\['eel'\] of train/ are missing from test/"):
        load_image_folder(tmp_path / "d", (6, 6, 1), cache=False)


def test_train_without_test_is_refused(tmp_path):
    write_classes(tmp_path / "d" / "train", {"cat": 2})
    with pytest.raises(DataError, match="has train/ but no test/"):
        list_image_folder(tmp_path / "d")


def test_class_names_sort_like_keras_and_hidden_entries_are_ignored(tmp_path):
    write_classes(tmp_path / "d", {"Cat": 2, "dog": 2, "10": 2, "9": 2, ".thumbs": 2})
    save(tmp_path / "d" / "dog" / ".hidden.png", uniform(0, mode="L"))
    listing = list_image_folder(tmp_path / "d")
    assert listing.class_names == ("10", "9", "Cat", "dog")  # plain sorted(), labels 0..3
    assert len(listing.files) == 8
    labels = {entry.relpath: entry.label for entry in listing.files}
    assert labels["Cat/000.png"] == 2 and labels["10/001.png"] == 0


@pytest.mark.parametrize(
    ("suffix", "params", "tolerance"),
    [
        (".png", {}, 0),
        (".jpg", {"quality": 95}, 6),
        (".JPEG", {"format": "JPEG", "quality": 95}, 6),
        (".bmp", {}, 0),
        (".gif", {}, 0),
        (".webp", {"lossless": True}, 0),
    ],
)
def test_every_format_is_read(tmp_path, suffix, params, tolerance):
    path = tmp_path / f"image{suffix}"
    save(path, uniform(RED, (12, 9)), **params)
    pixels = read_image_file(path, (4, 4, 3))
    assert pixels.shape == (4, 4, 3) and pixels.dtype == np.uint8
    assert np.abs(pixels.astype(int) - RED).max() <= tolerance


def test_a_gif_gives_its_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [uniform(RED), uniform(BLUE)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    assert read_image_file(path, (3, 3, 3))[0, 0].tolist() == list(RED)


def test_grey_becomes_rgb_and_rgb_becomes_luma():
    grey = fit_image(uniform(100, mode="L"), (4, 4, 3))
    assert grey.shape == (4, 4, 3) and (grey == 100).all()
    luma = fit_image(uniform((255, 0, 0)), (4, 4, 1))
    assert luma.shape == (4, 4) and (luma == 76).all()  # 0.299 * 255, ITU-R 601-2 as Keras


def test_transparent_pixels_are_white_paper():
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    assert (fit_image(rgba, (4, 4, 3)) == 255).all()
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    palette.info["transparency"] = 1
    assert (fit_image(palette, (4, 4, 1)) == 255).all()
    half = Image.new("LA", (4, 4), (0, 128))  # black at half opacity over white
    assert np.abs(fit_image(half, (4, 4, 1)).astype(int) - 127).max() <= 1


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.array([[65535, 32768], [0, 1000]], dtype=np.uint16)).save(path)
    assert read_image_file(path, (2, 2, 1)).tolist() == [[255, 128], [0, 4]]


def test_the_centre_crop_drops_the_borders_of_a_wide_and_a_tall_image():
    wide = Image.new("RGB", (30, 10), RED)
    wide.paste(BLUE, (10, 0, 20, 10))  # red borders left and right, blue centre
    assert (fit_image(wide, (8, 8, 3)) == BLUE).all()
    tall = Image.new("RGB", (10, 40), GREEN)
    tall.paste(BLUE, (0, 15, 10, 25))
    assert (fit_image(tall, (4, 4, 3)) == BLUE).all()
    assert crop_box((30, 10), (8, 8)) == (10, 0, 20, 10)
    assert crop_box((10, 40), (20, 10)) == (0, 17, 10, 22)  # as Keras: int() of the centre


def test_an_image_smaller_than_the_model_is_enlarged(tmp_path):
    pixels = fit_image(uniform(GREEN, (3, 3)), (12, 12, 3))
    assert pixels.shape == (12, 12, 3) and (pixels == GREEN).all()


def test_a_large_jpeg_decodes_at_reduced_scale_to_the_same_picture(tmp_path):
    path = tmp_path / "big.jpg"
    big = Image.new("RGB", (800, 600), RED)
    big.paste(BLUE, (400, 0, 800, 600))
    save(path, big, quality=95)
    pixels = read_image_file(path, (16, 16, 3)).astype(int)
    assert np.abs(pixels[:, :6] - RED).max() <= 8 and np.abs(pixels[:, -6:] - BLUE).max() <= 8


def test_the_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "phone.png"
    image = Image.new("RGB", (20, 10), RED)
    image.paste(BLUE, (10, 0, 20, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: the left half goes on top
    image.save(path, exif=exif)
    pixels = read_image_file(path, (20, 10, 3))
    assert (pixels[:10] == RED).all() and (pixels[10:] == BLUE).all()


def test_an_unreadable_file_is_skipped_and_named_in_one_log_line(tmp_path, caplog):
    write_classes(tmp_path / "d", {"cat": 3, "dog": 3})
    (tmp_path / "d" / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "d" / "dog" / "notes.txt").write_text("not an image")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        data = load_image_folder(tmp_path / "d", (6, 6, 1), cache=False)
    assert len(data.x_train) + len(data.x_test) == 6
    (record,) = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "1 unreadable (cat/broken.png)" in message
    assert "1 files that are not images" in message  # the stray text file: ignored, counted


def test_a_class_without_image_files_is_refused(tmp_path):
    write_classes(tmp_path / "d", {"cat": 3})
    (tmp_path / "d" / "dog").mkdir()
    (tmp_path / "d" / "dog" / "readme.txt").write_text("empty class")
    with pytest.raises(DataError, match=r"d/dog: no image file in this class folder"):
        load_image_folder(tmp_path / "d", (6, 6, 1), cache=False)


def test_a_class_whose_images_are_all_unreadable_is_refused(tmp_path):
    write_classes(tmp_path / "d", {"cat": 3})
    (tmp_path / "d" / "dog").mkdir()
    (tmp_path / "d" / "dog" / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"d/dog: none of its 1 image files could be read"):
        load_image_folder(tmp_path / "d", (6, 6, 1), cache=False)


def test_a_folder_of_loose_images_is_refused_clearly(tmp_path):
    save(tmp_path / "d" / "one.png", uniform(RED))
    with pytest.raises(DataError, match="no class sub-folders"):
        load_image_folder(tmp_path / "d", (6, 6, 3))
    with pytest.raises(DataError, match="no class sub-folders"):
        load_path(tmp_path / "d", (6, 6, 3))


def test_symlinks_leading_outside_are_skipped_and_counted(tmp_path, caplog):
    outside = tmp_path / "outside"
    write_classes(outside, {"secret": 2})
    write_classes(tmp_path / "d", {"cat": 2, "dog": 2})
    (tmp_path / "d" / "cat" / "leak.png").symlink_to(outside / "secret" / "000.png")
    (tmp_path / "d" / "stolen").symlink_to(outside / "secret", target_is_directory=True)
    (tmp_path / "d" / "dog" / "inside.png").symlink_to(tmp_path / "d" / "cat" / "000.png")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        data = load_image_folder(tmp_path / "d", (6, 6, 1), cache=False)
    assert data.class_names == ("cat", "dog")
    assert len(data.x_train) + len(data.x_test) == 5  # the link inside the folder is read
    assert any("2 symlinks leading outside the folder" in r.getMessage() for r in caplog.records)


def test_more_files_than_the_limit_are_refused_before_decoding(tmp_path):
    write_classes(tmp_path / "d", {"cat": 4, "dog": 4})
    with pytest.raises(DataError, match="more than 5 files and folders"):
        load_image_folder(tmp_path / "d", (6, 6, 1), max_files=5)


def test_too_many_pixels_count_as_unreadable_not_as_a_crash(tmp_path, monkeypatch, caplog):
    write_classes(tmp_path / "d", {"cat": 2, "dog": 2})
    save(tmp_path / "d" / "cat" / "bomb.png", uniform(0, (40, 40), "L"))
    save(tmp_path / "d" / "dog" / "bomb.png", uniform(0, (30, 30), "L"))
    monkeypatch.setattr(folders, "MAX_PIXELS", 1000)  # ours: 40x40 is over it
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # Pillow's warning: 30x30 is over it
    with caplog.at_level(logging.INFO, logger=LOGGER):
        data = load_image_folder(tmp_path / "d", (6, 6, 1), cache=False)
    assert len(data.x_train) + len(data.x_test) == 4
    messages = [record.getMessage() for record in caplog.records]
    assert any("2 unreadable (cat/bomb.png, dog/bomb.png)" in message for message in messages)


def test_the_cache_is_written_read_back_and_invalidated_by_a_changed_image(
    tmp_path, private_cache, caplog
):
    write_classes(tmp_path / "d", {"cat": 3, "dog": 3})
    first = load_image_folder(tmp_path / "d", (6, 6, 1))
    (entry,) = private_cache.glob("folder-*.npz")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        second = load_image_folder(tmp_path / "d", (6, 6, 1))
    assert "(from the cache)" in caplog.records[-1].getMessage()
    assert second.fingerprint == first.fingerprint and second.source == first.source
    changed = tmp_path / "d" / "cat" / "000.png"
    save(changed, uniform(250, mode="L"))
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        third = load_image_folder(tmp_path / "d", (6, 6, 1))
    assert "(from the cache)" not in caplog.records[-1].getMessage()
    assert third.fingerprint != first.fingerprint
    assert [p.name for p in private_cache.glob("folder-*.npz")] != [entry.name]  # replaced
    assert len(list(private_cache.glob("folder-*.npz"))) == 1


def test_another_target_shape_is_another_cache_entry(tmp_path, private_cache):
    write_classes(tmp_path / "d", {"cat": 2, "dog": 2})
    assert load_image_folder(tmp_path / "d", (6, 6, 1)).image_shape == (6, 6, 1)
    assert load_image_folder(tmp_path / "d", (4, 4, 3)).image_shape == (4, 4, 3)
    assert len(list(private_cache.glob("folder-*.npz"))) == 2


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path, monkeypatch):
    (tmp_path / "not-a-folder").write_text("a file where the cache folder would be")
    monkeypatch.setenv("CNN_LENS_CACHE", str(tmp_path / "not-a-folder" / "cache"))
    write_classes(tmp_path / "d", {"cat": 2, "dog": 2})
    assert len(load_image_folder(tmp_path / "d", (6, 6, 1)).x_test) == 2


def test_without_a_model_the_stored_size_is_kept_if_it_is_one(tmp_path):
    write_classes(tmp_path / "d", {"cat": 2, "dog": 2}, size=(7, 5))
    data = load_image_folder(tmp_path / "d")
    assert data.image_shape == (5, 7, 1) and "7x5 grey as stored" in data.source
    save(tmp_path / "d" / "dog" / "other.png", uniform(RED, (8, 8)))
    with pytest.raises(DataError, match="images differ in size.*give the model"):
        load_image_folder(tmp_path / "d")


def test_load_for_model_reads_an_image_folder_at_the_models_input(tmp_path):
    write_classes(tmp_path / "d", {"cat": 3, "dog": 3}, size=(20, 10))
    data = load_for_model(str(tmp_path / "d"), tmp_path / "m.keras", {}, input_shape=(8, 8, 3))
    assert data.image_shape == (8, 8, 3) and data.class_names == ("cat", "dog")
    assert data.source.startswith(f"image folder {tmp_path / 'd'}: 6 images")


def test_a_folder_is_relabelled_to_the_class_order_of_the_models_sidecar(tmp_path):
    write_classes(tmp_path / "d", {"cat": 3, "dog": 3})  # cat: values 1-3, dog: 4-6
    sidecar = {"class_names": ["dog", "cat"]}
    data = load_for_model(str(tmp_path / "d"), tmp_path / "m.keras", sidecar, input_shape=(6, 6, 1))
    assert data.class_names == ("dog", "cat")
    images = np.concatenate([data.x_train, data.x_test])[:, 0, 0]
    labels = np.concatenate([data.y_train, data.y_test])
    assert set(labels[images <= 3].tolist()) == {1} and set(labels[images > 3].tolist()) == {0}
    other = load_for_model(str(tmp_path / "d"), tmp_path / "m.keras", {"class_names": ["a", "b"]})
    assert other.class_names == ("cat", "dog")  # other names: the folder's own order is kept


def test_an_idx_folder_still_loads_as_idx(tmp_path):
    write_idx_folder(tmp_path / "idx", fake_mnist())
    data = load_for_model(str(tmp_path / "idx"), tmp_path / "m.keras", {}, input_shape=(28, 28, 1))
    assert data.source.startswith("IDX files in") and data.x_train.shape == (30, 28, 28)


def test_two_thousand_images_load_and_print_their_time(tmp_path):
    ramp = np.linspace(0, 255, 32, dtype=np.uint8)
    encoded = []
    for shift in range(40):  # 40 different PNGs, each written 50 times (writing is not the test)
        buffer = io.BytesIO()
        Image.fromarray(np.stack([np.roll(ramp, shift)[None, :].repeat(32, 0)] * 3, -1)).save(
            buffer, format="PNG"
        )
        encoded.append(buffer.getvalue())
    for i in range(2000):
        (tmp_path / "d" / f"class{i % 4}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "d" / f"class{i % 4}" / f"{i:04d}.png").write_bytes(encoded[i % 40])
    started = time.perf_counter()
    data = load_image_folder(tmp_path / "d", (24, 24, 3))
    decoded = time.perf_counter() - started
    started = time.perf_counter()
    load_image_folder(tmp_path / "d", (24, 24, 3))
    cached = time.perf_counter() - started
    print(f"2,000 PNGs of 32x32 -> 24x24: {decoded:.2f} s decoded, {cached:.2f} s from the cache")
    assert len(data.x_train) == 1600 and len(data.x_test) == 400
