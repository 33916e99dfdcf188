"""MNIST loaders: embedded subset, Keras npz, IDX folders; good and broken files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cnn_core import config
from cnn_core.data.sources import (
    NPZ_KEYS,
    DataError,
    ImageDataset,
    MnistData,
    load_dataset,
    load_embedded,
    load_mnist,
    save_dataset,
    stratified_split,
)


def fake_mnist(n_train: int = 30, n_test: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.uint8),
    }


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return magic.to_bytes(4, "big") + dims + array.astype(np.uint8).tobytes()


def write_idx_folder(folder, arrays, gz: bool = False) -> None:
    names = {
        "x_train": ("train-images-idx3-ubyte", 2051),
        "y_train": ("train-labels-idx1-ubyte", 2049),
        "x_test": ("t10k-images-idx3-ubyte", 2051),
        "y_test": ("t10k-labels-idx1-ubyte", 2049),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, (name, magic) in names.items():
        raw = idx_bytes(arrays[key], magic)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)


def test_embedded_subset_is_4000_train_1000_test_stratified(data):
    assert data.x_train.shape == (4000, 28, 28) and data.x_train.dtype == np.uint8
    assert data.x_test.shape == (1000, 28, 28)
    assert data.y_train.dtype == np.int64
    assert np.bincount(data.y_train).tolist() == [400] * 10
    assert np.bincount(data.y_test).tolist() == [100] * 10
    assert "embedded" in data.source


def test_embedded_split_is_deterministic_and_interleaved(data):
    again = load_embedded()
    assert again.fingerprint == data.fingerprint
    np.testing.assert_array_equal(again.x_test[312], data.x_test[312])
    # the source file is sorted by label: the split must not be
    assert len(set(data.y_test[:20].tolist())) > 3


def test_stratified_split_partitions_rows():
    labels = np.repeat(np.arange(10), 7)
    train, test = stratified_split(labels, 2, seed=1)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(70))
    assert np.bincount(labels[test]).tolist() == [2] * 10
    other_train, _ = stratified_split(labels, 2, seed=2)
    assert train.tolist() != other_train.tolist()


def test_reads_keras_npz(tmp_path):
    arrays = fake_mnist()
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    loaded = load_mnist(path)
    np.testing.assert_array_equal(loaded.x_train, arrays["x_train"])
    np.testing.assert_array_equal(loaded.y_test, arrays["y_test"].astype(np.int64))
    assert loaded.y_test.dtype == np.int64
    assert str(path) in loaded.source
    assert len(loaded.fingerprint) == 64


@pytest.mark.parametrize("gz", [False, True])
def test_reads_idx_folder(tmp_path, gz):
    arrays = fake_mnist(seed=3)
    write_idx_folder(tmp_path / "idx", arrays, gz=gz)
    loaded = load_mnist(tmp_path / "idx")
    np.testing.assert_array_equal(loaded.x_test, arrays["x_test"])
    np.testing.assert_array_equal(loaded.y_train, arrays["y_train"])
    assert "IDX" in loaded.source


def test_npz_and_idx_of_same_digits_have_same_fingerprint(tmp_path):
    arrays = fake_mnist(seed=4)
    np.savez(tmp_path / "mnist.npz", **arrays)
    write_idx_folder(tmp_path / "idx", arrays)
    assert (
        load_mnist(tmp_path / "mnist.npz").fingerprint == load_mnist(tmp_path / "idx").fingerprint
    )


def test_env_var_names_the_source(tmp_path, monkeypatch):
    np.savez(tmp_path / "mnist.npz", **fake_mnist())
    monkeypatch.setenv(config.ENV_DATA, str(tmp_path / "mnist.npz"))
    assert load_mnist().x_train.shape == (30, 28, 28)


def test_keras_cache_is_used_when_present(tmp_path, monkeypatch):
    monkeypatch.delenv(config.ENV_DATA, raising=False)
    cache = tmp_path / "mnist.npz"
    np.savez(cache, **fake_mnist(n_train=12))
    monkeypatch.setattr(config, "KERAS_CACHE", cache)
    assert load_mnist().x_train.shape == (12, 28, 28)
    monkeypatch.setattr(config, "KERAS_CACHE", tmp_path / "absent.npz")
    assert load_mnist().x_train.shape == (4000, 28, 28)


def test_missing_explicit_path_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_mnist(tmp_path / "nope.npz")


def test_not_an_npz_names_the_file(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(DataError, match=r"mnist\.npz.*not a"):
        load_mnist(path)


def test_npz_missing_key(tmp_path):
    arrays = fake_mnist()
    del arrays["y_test"]
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(DataError, match="y_test"):
        load_mnist(tmp_path / "m.npz")


def test_npz_wrong_shape(tmp_path):
    arrays = fake_mnist()
    arrays["x_train"] = np.zeros((30, 32, 32), np.uint8)
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(DataError, match=r"x_train has shape \(30, 32, 32\)"):
        load_mnist(tmp_path / "m.npz")


def test_npz_label_count_mismatch(tmp_path):
    arrays = fake_mnist()
    arrays["y_train"] = arrays["y_train"][:-1]
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(DataError, match="30 images and 29 labels"):
        load_mnist(tmp_path / "m.npz")


def test_npz_labels_out_of_range(tmp_path):
    arrays = fake_mnist()
    arrays["y_test"][0] = 12
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(DataError, match="labels outside 0-9"):
        load_mnist(tmp_path / "m.npz")


def test_idx_wrong_magic(tmp_path):
    arrays = fake_mnist()
    write_idx_folder(tmp_path, arrays)
    bad = tmp_path / "t10k-labels-idx1-ubyte"
    bad.write_bytes(idx_bytes(arrays["y_test"], 2051))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: wrong magic number 2051"):
        load_mnist(tmp_path)


def test_idx_truncated(tmp_path):
    arrays = fake_mnist()
    write_idx_folder(tmp_path, arrays)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte: truncated"):
        load_mnist(tmp_path)


def test_idx_wrong_image_size(tmp_path):
    arrays = fake_mnist()
    write_idx_folder(tmp_path, arrays)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((10, 20, 20)), 2051))
    with pytest.raises(DataError, match="expected 28x28"):
        load_mnist(tmp_path)


def test_idx_folder_missing_file(tmp_path):
    write_idx_folder(tmp_path, fake_mnist())
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match="missing t10k-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_broken_gzip(tmp_path):
    write_idx_folder(tmp_path, fake_mnist(), gz=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: cannot read"):
        load_mnist(tmp_path)


# --- any image .npz: load_dataset / save_dataset --------------------------------------------


def image_arrays(
    shape: tuple[int, ...] = (12, 10),
    dtype: type = np.uint8,
    n_train: int = 9,
    n_test: int = 6,
    classes: int = 3,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Small labelled images `(n, *shape)`; uint8 0-255 or floats 0-1; every class present."""
    rng = np.random.default_rng(seed)

    def images(n: int) -> np.ndarray:
        if np.issubdtype(dtype, np.integer):
            return rng.integers(0, 256, (n, *shape)).astype(dtype)
        return rng.random((n, *shape)).astype(dtype)

    return {
        "x_train": images(n_train),
        "y_train": np.arange(n_train) % classes,
        "x_test": images(n_test),
        "y_test": np.arange(n_test) % classes,
    }


def write_npz(path, arrays, **extra) -> None:
    np.savez(path, **arrays, **extra)


def test_mnist_data_is_an_image_dataset_with_numbered_classes(data):
    assert MnistData is ImageDataset
    assert data.image_shape == (28, 28, 1) and data.channels == 1
    assert data.num_classes == 10 and data.class_names == tuple("0123456789")
    assert data.pixel_range == (0.0, 255.0)


def test_dataset_without_class_names_numbers_classes_up_to_the_largest_label():
    arrays = image_arrays(classes=4)
    dataset = ImageDataset(**arrays, source="made here", fingerprint="f")
    assert dataset.class_names == ("0", "1", "2", "3")


def test_grey_images_of_any_size_with_numbered_classes(tmp_path):
    arrays = image_arrays(shape=(20, 24), classes=3)
    write_npz(tmp_path / "grey.npz", arrays)
    loaded = load_dataset(tmp_path / "grey.npz")
    np.testing.assert_array_equal(loaded.x_train, arrays["x_train"])
    assert loaded.x_train.dtype == np.uint8 and loaded.y_train.dtype == np.int64
    assert loaded.image_shape == (20, 24, 1) and loaded.channels == 1
    assert loaded.class_names == ("0", "1", "2") and loaded.num_classes == 3
    assert loaded.pixel_range == (0.0, 255.0)
    assert "grey.npz" in loaded.source
    np.testing.assert_array_equal(loaded.images("test"), arrays["x_test"])


def test_rgb_float_images_with_class_names(tmp_path):
    arrays = image_arrays(shape=(16, 16, 3), dtype=np.float64, classes=3)
    write_npz(tmp_path / "rgb.npz", arrays, class_names=np.array(["cat", "dog", "bird"]))
    loaded = load_dataset(tmp_path / "rgb.npz")
    assert loaded.x_test.dtype == np.float32 and loaded.x_test.shape == (6, 16, 16, 3)
    np.testing.assert_allclose(loaded.x_test, arrays["x_test"], rtol=1e-6)
    assert loaded.image_shape == (16, 16, 3) and loaded.channels == 3
    assert loaded.class_names == ("cat", "dog", "bird") and loaded.num_classes == 3
    assert loaded.pixel_range == (0.0, 1.0)


def test_float_images_outside_0_1_report_their_observed_range(tmp_path):
    arrays = image_arrays(shape=(8, 8, 1), dtype=np.float32)
    arrays["x_train"] = arrays["x_train"] * 4 - 2
    arrays["x_train"][0, 0, 0, 0], arrays["x_test"][0, 0, 0, 0] = -2.5, 3.0
    write_npz(tmp_path / "std.npz", arrays)
    loaded = load_dataset(tmp_path / "std.npz")
    assert loaded.image_shape == (8, 8, 1) and loaded.x_train.ndim == 4
    assert loaded.pixel_range == (-2.5, 3.0)


def test_whole_float_labels_and_small_integer_images_are_accepted(tmp_path):
    arrays = image_arrays(dtype=np.int16)
    arrays["y_train"] = arrays["y_train"].astype(np.float32)
    write_npz(tmp_path / "m.npz", arrays)
    loaded = load_dataset(tmp_path / "m.npz")
    assert loaded.x_train.dtype == np.uint8 and loaded.y_train.dtype == np.int64
    np.testing.assert_array_equal(loaded.y_train, np.arange(9) % 3)


def test_mnist_npz_through_load_dataset_is_the_same_data_as_load_mnist(tmp_path, data):
    np.savez(tmp_path / "mnist.npz", **{key: getattr(data, key) for key in NPZ_KEYS})
    loaded = load_dataset(tmp_path / "mnist.npz")
    assert loaded.fingerprint == data.fingerprint == load_mnist(tmp_path / "mnist.npz").fingerprint
    assert loaded.class_names == data.class_names


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_save_dataset_round_trip_keeps_arrays_and_class_names(tmp_path, dtype):
    arrays = image_arrays(shape=(5, 7, 3), dtype=dtype)
    dataset = ImageDataset(
        **arrays, source="made here", fingerprint="f", class_names=("a", "b", "c")
    )
    path = save_dataset(dataset, tmp_path / "sub" / "round.npz")
    assert [p.name for p in path.parent.iterdir()] == ["round.npz"]  # no temporary file left
    loaded = load_dataset(path)
    for key in NPZ_KEYS:
        np.testing.assert_array_equal(getattr(loaded, key), arrays[key])
    assert loaded.x_train.dtype == dtype
    assert loaded.class_names == ("a", "b", "c")


def broken(arrays: dict[str, np.ndarray], **changes: np.ndarray | None) -> dict[str, np.ndarray]:
    """`arrays` with some replaced; a None value drops that key."""
    result = {**arrays, **changes}
    return {key: value for key, value in result.items() if value is not None}


BASE = image_arrays()
RGB = image_arrays(shape=(12, 10, 3), dtype=np.float32)
NAN = RGB["x_test"].copy()
NAN[1, 2, 3, 0] = np.nan
INF = RGB["x_train"].astype(np.float64)
INF[0, 0, 0, 0] = 1e300  # finite in float64, infinite in float32
BROKEN_CONTENTS = {
    "missing key": (broken(BASE, y_test=None), r"lacks \['y_test'\]"),
    "flat images": (
        broken(BASE, x_train=np.zeros((9, 120), np.uint8)),
        r"x_train has shape \(9, 120\) \(2-D\)",
    ),
    "5-D images": (
        broken(BASE, x_test=np.zeros((6, 12, 10, 3, 1), np.uint8)),
        r"x_test has shape .*\(5-D\)",
    ),
    "two channels": (
        broken(BASE, x_train=np.zeros((9, 12, 10, 2), np.uint8)),
        "x_train has 2 channels",
    ),
    "train and test sizes differ": (
        broken(BASE, x_test=np.zeros((6, 10, 12), np.uint8)),
        r"x_train images are \(12, 10\) but x_test images are \(10, 12\)",
    ),
    "uint8 train, float test": (
        broken(BASE, x_test=np.zeros((6, 12, 10), np.float32)),
        "x_train is uint8 but x_test is float32",
    ),
    "label count": (broken(BASE, y_train=np.zeros(8, np.int64)), "train has 9 images and 8 labels"),
    "empty split": (
        broken(BASE, x_test=np.zeros((0, 12, 10), np.uint8), y_test=np.zeros(0, np.int64)),
        "test has 0 images and 0 labels",
    ),
    "one-hot labels": (
        broken(BASE, y_test=np.eye(3)[np.arange(6) % 3]),
        r"y_test has shape \(6, 3\); expected \(N,\)",
    ),
    "fractional labels": (broken(BASE, y_train=np.full(9, 1.5)), "y_train has non-integer labels"),
    "NaN labels": (broken(BASE, y_train=np.full(9, np.nan)), "y_train has non-integer labels"),
    "negative labels": (broken(BASE, y_test=np.full(6, -1)), "y_test has negative labels"),
    "string labels": (
        broken(BASE, y_test=np.array(["a"] * 6)),
        "y_test has dtype <U1; expected integer labels",
    ),
    "labels beyond class names": (
        broken(BASE, y_test=np.full(6, 3), class_names=np.array(["a", "b", "c"])),
        r"y_test has labels outside 0-2 \(found 3",
    ),
    "duplicate class names": (
        broken(BASE, class_names=np.array(["a", "b", "a"])),
        "class_names must be unique",
    ),
    "numeric class names": (
        broken(BASE, class_names=np.arange(3)),
        r"class_names has shape \(3,\) and dtype int64; expected \(K,\) strings",
    ),
    "NaN pixels": (broken(RGB, x_test=NAN), "x_test has 1 non-finite values"),
    "overflowing pixels": (broken(RGB, x_train=INF), "x_train has 1 non-finite values"),
    "wide integer pixels": (
        broken(BASE, x_train=np.full((9, 12, 10), 300, np.int16)),
        "x_train is int16 with values outside 0-255",
    ),
    "complex pixels": (
        broken(BASE, x_train=np.zeros((9, 12, 10), np.complex64)),
        "x_train has dtype complex64",
    ),
}


@pytest.mark.parametrize("case", BROKEN_CONTENTS)
def test_broken_npz_contents_raise_data_error_naming_file_and_problem(tmp_path, case):
    arrays, problem = BROKEN_CONTENTS[case]
    path = tmp_path / "broken.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=problem) as info:
        load_dataset(path)
    assert str(path) in str(info.value)


def test_pickled_object_array_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, **BASE, class_names=np.array(["a", None, "c"], dtype=object))
    with pytest.raises(DataError, match=r"objects\.npz: not a readable npz file"):
        load_dataset(path)


def test_truncated_npz_is_a_data_error(tmp_path):
    path = tmp_path / "cut.npz"
    np.savez_compressed(path, **image_arrays(shape=(32, 32, 3), n_train=50))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"cut\.npz: not a readable npz file, or truncated"):
        load_dataset(path)


def test_text_file_is_not_an_npz(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("x_train, y_train, x_test, y_test\n")
    with pytest.raises(DataError, match=r"notes\.npz: not a readable npz file"):
        load_dataset(path)


def test_single_npy_array_is_not_an_npz(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, BASE["x_train"])
    with pytest.raises(DataError, match=r"images\.npy: a single \.npy array"):
        load_dataset(path)


def test_missing_dataset_file(tmp_path):
    with pytest.raises(DataError, match=r"absent\.npz: no such file"):
        load_dataset(tmp_path / "absent.npz")


def test_damaged_member_inside_an_intact_archive_is_a_data_error(tmp_path):
    path = tmp_path / "damaged.npz"
    np.savez_compressed(path, **image_arrays(shape=(32, 32, 3), n_train=50))
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 3
    raw[middle : middle + 64] = bytes(64)  # zeroed bytes inside the first compressed array
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"damaged\.npz: not a readable npz file"):
        load_dataset(path)
