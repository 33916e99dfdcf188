"""MNIST loaders: embedded subset, Keras npz, IDX folders; good and broken files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cnn_core import config
from cnn_core.data import DataError, load_embedded, load_mnist, stratified_split


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
