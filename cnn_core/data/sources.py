"""Image data sources: MNIST (npz/IDX path, Keras cache, embedded subset), any image .npz, and
folders of image files (`folders`)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from cnn_core import config

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension
#: The MNIST format (its sources only; any other data gives its own size and classes).
MNIST_SIDE = 28
MNIST_CLASSES = 10
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
CLASS_NAMES_KEY = "class_names"
SPLITS = ("train", "test")
#: Channels an image may have: grey (1) or RGB (3).
CHANNELS = (1, 3)
#: File stems of the four IDX files; "-" and "." variants both occur in the wild.
IDX_STEMS = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
#: The errors NumPy and zipfile raise for a damaged or foreign file.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError)


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent; the message names the file."""


@dataclass(frozen=True)
class ImageDataset:
    """Labelled images split into train and test.

    Attributes:
        x_train: `(N_train, H, W)` or `(N_train, H, W, C)` images, C = 1 or 3; uint8 pixel
            values 0-255 (0 = dark) or float32.
        y_train: `(N_train,)` int64 labels `0 .. num_classes - 1`.
        x_test: `(N_test, ...)` images shaped and typed like `x_train`.
        y_test: `(N_test,)` int64 labels.
        source: human-readable description of where the images came from.
        fingerprint: sha256 hex digest over the four arrays (identifies the data set).
        class_names: one name per class, label `k` is `class_names[k]`; empty (the default)
            numbers the classes "0", "1", ... up to the largest label.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    fingerprint: str
    class_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.class_names:
            top = max((int(y.max()) for y in (self.y_train, self.y_test) if y.size), default=-1)
            object.__setattr__(self, "class_names", numbered_classes(top + 1))
        else:
            object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))

    @classmethod
    def of(
        cls,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_test: np.ndarray,
        y_test: np.ndarray,
        source: str,
        class_names: tuple[str, ...] = (),
    ) -> ImageDataset:
        """The data set of these arrays, its fingerprint computed (`fingerprint_arrays`)."""
        fingerprint = fingerprint_arrays(x_train, y_train, x_test, y_test)
        return cls(x_train, y_train, x_test, y_test, source, fingerprint, tuple(class_names))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """`(H, W, C)` of one image, channels explicit (1 for `(N, H, W)` grey images)."""
        height, width = self.x_train.shape[1:3]
        return (int(height), int(width), self.channels)

    @property
    def channels(self) -> int:
        """Channels per pixel: 1 (grey, stored `(N, H, W)` or `(N, H, W, 1)`) or 3 (RGB)."""
        return int(self.x_train.shape[3]) if self.x_train.ndim == 4 else 1

    @property
    def num_classes(self) -> int:
        """Number of classes, `len(class_names)`."""
        return len(self.class_names)

    @property
    def has_images(self) -> bool:
        """Whether there is any image (False for a model served alone, `no_data`)."""
        return len(self.y_train) + len(self.y_test) > 0

    @property
    def pixel_range(self) -> tuple[float, float]:
        """`(low, high)` of the raw pixel values: `(0, 255)` for uint8.

        Float images within 0-1 give `(0, 1)`; other float images give the smallest and
        largest value found in either split.
        """
        if self.x_train.dtype == np.uint8:
            return (0.0, 255.0)
        low = float(min(self.x_train.min(), self.x_test.min()))
        high = float(max(self.x_train.max(), self.x_test.max()))
        if low >= 0.0 and high <= 1.0:
            return (0.0, 1.0)
        return (low, high)

    def images(self, split: str) -> np.ndarray:
        """Images of `split` ("train" or "test"), shaped and typed like `x_train`."""
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


#: The MNIST loaders' name for an `ImageDataset` of `(N, 28, 28)` uint8 digits, classes "0".."9".
MnistData = ImageDataset


def numbered_classes(n: int) -> tuple[str, ...]:
    """Class names "0", "1", ..., `str(n - 1)`."""
    return tuple(str(k) for k in range(n))


def fingerprint_arrays(*arrays: np.ndarray) -> str:
    """sha256 hex digest over the shapes, dtypes and bytes of `arrays`, in order."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(np.ascontiguousarray(array).data)  # the buffer itself: no 2nd copy
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


def load_path(path: Path, image_shape: tuple[int, int, int] | None = None) -> ImageDataset:
    """Load a Keras `mnist.npz` file, a folder of IDX files, or a folder of image files.

    A folder holding any of the IDX files is read as IDX (and must hold all four); any other
    folder as image files (`folders.load_image_folder`, resized to `image_shape` if given).
    """
    if path.is_dir():
        if has_idx_files(path):
            return _assemble(read_idx_folder(path), f"IDX files in {path}")
        from cnn_core.data.folders import load_image_folder  # it imports this module

        return load_image_folder(path, image_shape)
    if path.is_file():
        return _assemble(read_npz(path), f"npz file {path}")
    raise DataError(
        f"{path}: no such file or folder (expected mnist.npz, a folder of IDX files or a folder "
        "of images)"
    )


def has_idx_files(folder: Path) -> bool:
    """Whether `folder` holds any of the four MNIST IDX files (plain or `.gz`)."""
    return any(
        (folder / f"{stem}{ext}").is_file()
        for stems in IDX_STEMS.values()
        for stem in stems
        for ext in ("", ".gz")
    )


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
    if images and dims[1:] != (MNIST_SIDE, MNIST_SIDE):
        raise DataError(f"{path}: images are {dims[1:]}, expected 28x28")
    count = int(np.prod(dims))
    if len(raw) - header != count:
        raise DataError(f"{path}: truncated or padded: {len(raw) - header} data bytes for {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def embedded_bytes() -> bytes:
    """The gzipped CSV of the embedded subset, read from the installed `cnn_core` package.

    Raises:
        DataError: the file is missing (a broken install or checkout).
    """
    file = resources.files(config.EMBEDDED_PACKAGE) / config.EMBEDDED_FILE
    try:
        return file.read_bytes()
    except OSError as exc:
        raise DataError(
            f"embedded MNIST subset missing ({config.EMBEDDED_PACKAGE}/{config.EMBEDDED_FILE}): "
            "reinstall cnn-lens, or pass a mnist.npz / IDX folder with --data"
        ) from exc


def load_embedded() -> MnistData:
    """The embedded subset: 5,000 digits split 4,000 / 1,000, stratified and deterministic."""
    where = f"{config.EMBEDDED_PACKAGE}/{config.EMBEDDED_FILE}"
    table = np.loadtxt(io.BytesIO(gzip.decompress(embedded_bytes())), delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != MNIST_SIDE * MNIST_SIDE + 1:
        raise DataError(f"{where}: expected 785 columns (784 pixels + label), got {table.shape}")
    images = table[:, :-1].astype(np.uint8).reshape(-1, MNIST_SIDE, MNIST_SIDE)
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
        f"embedded subset: 5,000 MNIST digits from {config.EMBEDDED_ORIGIN}"
        f" ({len(train_idx):,} train / {len(test_idx):,} test)"
    )
    return _assemble(arrays, source)


def stratified_split(
    labels: np.ndarray, test_per_class: int | Sequence[int], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split of row indices into train and test.

    Rows are ordered by a keyed hash of their index (blake2b), which, unlike a NumPy random
    stream, cannot change between library versions: "test digit 312" stays the same image.

    Args:
        labels: `(N,)` integer class labels.
        test_per_class: rows of each class that go to the test split; one number for every
            class, or one per class indexed by label.
        seed: key of the hash.

    Returns:
        `(train_idx, test_idx)`, int64 index arrays, each in hash order (classes interleaved).
    """
    key = seed.to_bytes(8, "little")
    order = sorted(
        range(len(labels)),
        key=lambda i: hashlib.blake2b(i.to_bytes(8, "little"), key=key, digest_size=8).digest(),
    )
    quotas = None if isinstance(test_per_class, int | np.integer) else list(test_per_class)
    seen: dict[int, int] = {}
    train, test = [], []
    for i in order:
        label = int(labels[i])
        seen[label] = seen.get(label, 0) + 1
        quota = test_per_class if quotas is None else quotas[label]
        (test if seen[label] <= quota else train).append(i)
    return np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)


def _assemble(arrays: dict[str, np.ndarray], source: str) -> MnistData:
    checked = {}
    for key in NPZ_KEYS:
        array = np.asarray(arrays[key])
        if key.startswith("x_"):
            if array.ndim != 3 or array.shape[1:] != (MNIST_SIDE, MNIST_SIDE):
                raise DataError(f"{source}: {key} has shape {array.shape}, expected (N, 28, 28)")
            if array.dtype != np.uint8:
                if array.size and (array.min() < 0 or array.max() > 255):
                    raise DataError(f"{source}: {key} values outside 0-255")
                array = array.astype(np.uint8)
        else:
            if array.ndim != 1:
                raise DataError(f"{source}: {key} has shape {array.shape}, expected (N,)")
            array = array.astype(np.int64)
            if array.size and (array.min() < 0 or array.max() >= MNIST_CLASSES):
                raise DataError(f"{source}: {key} has labels outside 0-9")
        checked[key] = np.ascontiguousarray(array)
    for split in SPLITS:
        n_x, n_y = len(checked[f"x_{split}"]), len(checked[f"y_{split}"])
        if n_x != n_y or n_x == 0:
            raise DataError(f"{source}: {split} has {n_x} images and {n_y} labels")
    return MnistData(
        **checked,
        source=source,
        fingerprint=fingerprint_arrays(*(checked[k] for k in NPZ_KEYS)),
        class_names=numbered_classes(MNIST_CLASSES),
    )


def load_dataset(path: str | os.PathLike[str]) -> ImageDataset:
    """Load labelled images of any size from an `.npz` file.

    The file holds `x_train`, `y_train`, `x_test`, `y_test` and optionally `class_names`:

    - `x_*`: `(n, H, W)` or `(n, H, W, C)` with C = 1 or 3; uint8 (0-255), other integers
      within 0-255 (stored as uint8), or finite floats (stored as float32). Both splits have the
      same `(H, W[, C])` and the same kind (integer or float).
    - `y_*`: `(n,)` integer labels `>= 0` (floats with whole values are accepted).
    - `class_names`: `(K,)` strings, unique, more than the largest label; without it, classes
      are numbered "0", "1", ...

    Args:
        path: the `.npz` file (`np.savez` / `np.savez_compressed`, no pickled objects).

    Returns:
        The dataset; `source` names the file, `fingerprint` hashes the four checked arrays (an
        MNIST npz gives the same fingerprint as `load_mnist`).

    Raises:
        DataError: the file is missing, not an npz, truncated, or its arrays are missing or
            inconsistent; the message names the file and what is wrong.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(
            f"{path}: no such file (expected an .npz with {', '.join(NPZ_KEYS)} "
            f"and optionally {CLASS_NAMES_KEY})"
        )
    arrays, class_names = _read_image_npz(path)
    return assemble_dataset(arrays, class_names, source=f"npz file {path}", where=str(path))


def save_dataset(data: ImageDataset, path: str | os.PathLike[str]) -> Path:
    """Write `data` as a compressed `.npz` that `load_dataset` reads back, atomically.

    Args:
        data: the dataset; its four arrays and `class_names` are written.
        path: the target file, conventionally ending in `.npz`.

    Returns:
        `path`, once the complete file is in place (a reader never sees half a file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:  # a file object: np.savez would append ".npz" to a name
        np.savez_compressed(
            handle,
            **{key: getattr(data, key) for key in NPZ_KEYS},
            **{CLASS_NAMES_KEY: np.asarray(data.class_names, dtype=np.str_)},
        )
    os.replace(tmp, path)
    return path


def assemble_dataset(
    arrays: dict[str, np.ndarray],
    class_names: np.ndarray | tuple[str, ...] | None,
    source: str,
    where: str | None = None,
) -> ImageDataset:
    """Check arrays of labelled images and wrap them in an `ImageDataset`.

    Args:
        arrays: `x_train`, `y_train`, `x_test`, `y_test` as described in `load_dataset`.
        class_names: `(K,)` strings, or None / empty to number the classes.
        source: the dataset's description.
        where: prefix of error messages (the file name); default `source`.

    Returns:
        The dataset, images uint8 or float32 and labels int64, C-contiguous.

    Raises:
        DataError: an array is missing, shaped or typed wrongly, non-finite or out of range.
    """
    where = where or source
    missing = [key for key in NPZ_KEYS if key not in arrays]
    if missing:
        raise DataError(f"{where}: lacks {missing}; has {sorted(arrays)}")
    checked = {}
    for key in NPZ_KEYS:
        check = _check_images if key.startswith("x_") else _check_labels
        checked[key] = np.ascontiguousarray(check(np.asarray(arrays[key]), key, where))
    x_train, x_test = checked["x_train"], checked["x_test"]
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"{where}: x_train images are {x_train.shape[1:]} but x_test images are "
            f"{x_test.shape[1:]}"
        )
    if x_train.dtype != x_test.dtype:
        raise DataError(f"{where}: x_train is {x_train.dtype} but x_test is {x_test.dtype}")
    for split in SPLITS:
        n_x, n_y = len(checked[f"x_{split}"]), len(checked[f"y_{split}"])
        if n_x != n_y or n_x == 0:
            raise DataError(f"{where}: {split} has {n_x} images and {n_y} labels")
    names = _check_class_names(class_names, where)
    if names:
        for key in ("y_train", "y_test"):
            top = int(checked[key].max())
            if top >= len(names):
                raise DataError(
                    f"{where}: {key} has labels outside 0-{len(names) - 1} (found {top}; "
                    f"{CLASS_NAMES_KEY} names {len(names)} classes)"
                )
    return ImageDataset(
        **checked,
        source=source,
        fingerprint=fingerprint_arrays(*(checked[key] for key in NPZ_KEYS)),
        class_names=names,
    )


def _read_image_npz(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: a single .npy array, not an npz archive of named arrays")
        with loaded as npz:
            missing = [key for key in NPZ_KEYS if key not in npz.files]
            if missing:
                raise DataError(f"{path}: npz lacks {missing}; has {sorted(npz.files)}")
            arrays = {key: npz[key] for key in NPZ_KEYS}
            names = npz[CLASS_NAMES_KEY] if CLASS_NAMES_KEY in npz.files else None
    except DataError:
        raise
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: not a readable npz file, or truncated ({exc})") from exc
    return arrays, names


def _check_images(array: np.ndarray, key: str, where: str) -> np.ndarray:
    """`(n, H, W)` / `(n, H, W, C)` images as uint8 or float32, or a DataError."""
    if array.ndim not in (3, 4) or 0 in array.shape[1:]:
        raise DataError(
            f"{where}: {key} has shape {array.shape} ({array.ndim}-D); "
            "expected (N, H, W) or (N, H, W, C)"
        )
    if array.ndim == 4 and array.shape[3] not in CHANNELS:
        raise DataError(
            f"{where}: {key} has {array.shape[3]} channels (shape {array.shape}); "
            "expected 1 (grey) or 3 (RGB)"
        )
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < 0 or array.max() > 255):
            raise DataError(f"{where}: {key} is {array.dtype} with values outside 0-255")
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        with np.errstate(over="ignore"):  # too large for float32: reported just below
            floats = array.astype(np.float32)
        bad = int(np.count_nonzero(~np.isfinite(floats)))
        if bad:
            raise DataError(
                f"{where}: {key} has {bad:,} non-finite values (NaN or infinity in float32)"
            )
        return floats
    raise DataError(f"{where}: {key} has dtype {array.dtype}; expected uint8 or float images")


def _check_labels(array: np.ndarray, key: str, where: str) -> np.ndarray:
    """`(n,)` int64 labels >= 0, or a DataError."""
    if array.ndim != 1:
        raise DataError(
            f"{where}: {key} has shape {array.shape}; expected (N,) integer labels (not one-hot)"
        )
    if np.issubdtype(array.dtype, np.floating):
        whole = np.isfinite(array) & (array == np.round(array))
        if not whole.all():
            example = array[~whole][0]
            raise DataError(f"{where}: {key} has non-integer labels (e.g. {example})")
    elif not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{where}: {key} has dtype {array.dtype}; expected integer labels")
    if array.size and array.min() < 0:
        raise DataError(f"{where}: {key} has negative labels (found {array.min()})")
    return array.astype(np.int64)


def _check_class_names(names: np.ndarray | tuple[str, ...] | None, where: str) -> tuple[str, ...]:
    """Class names as a tuple of str (empty for None), or a DataError."""
    if names is None:
        return ()
    array = np.asarray(names)
    if array.ndim != 1 or array.dtype.kind not in "US":
        raise DataError(
            f"{where}: {CLASS_NAMES_KEY} has shape {array.shape} and dtype {array.dtype}; "
            "expected (K,) strings"
        )
    result = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in array.tolist())
    if len(set(result)) != len(result) or not all(result):
        raise DataError(f"{where}: {CLASS_NAMES_KEY} must be unique and non-empty: {result}")
    return result


def load_for_model(
    source: str | os.PathLike[str] | None,
    model_path: str | os.PathLike[str],
    sidecar: dict | None = None,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
) -> ImageDataset:
    """The data to show a model with: the first that exists of

    1. `source` (argument), then `$CNN_LENS_DATA`: an `.npz` of any images (`load_dataset`;
       a Keras `mnist.npz` is one), a folder of MNIST IDX files, or a folder of image files
       (`folders.load_image_folder`, cropped and resized to `input_shape`);
    2. the file the model's sidecar names (`data.file`, beside the model), e.g. the colour
       example's `shapes.npz`;
    3. MNIST from the Keras cache or the embedded subset (`load_mnist`), for a model MNIST
       fits (28x28 grey, 10 classes; also when `input_shape` is not given);
    4. no data (`no_data`): a model alone, shown on the pictures a user uploads or draws.

    `input_shape` is the model's `(H, W, C)` and `num_classes` its number of classes; without
    `input_shape` an image folder keeps the images' own size (which must then be one for all).
    Data of the first kind whose class names are the sidecar's `class_names` in another order
    (an image folder's are sorted) is relabelled to the model's order (`in_class_order`).

    Raises:
        DataError: the chosen source is missing or malformed.
    """
    explicit = source if source is not None else os.environ.get(config.ENV_DATA) or None
    if explicit is not None:
        path = Path(explicit).expanduser()
        if path.is_file() and path.suffix == ".npz":
            data = load_dataset(path)
        else:
            data = load_path(path, input_shape)
        names = (sidecar or {}).get("class_names")
        return in_class_order(data, names) if isinstance(names, list | tuple) else data
    named = (sidecar or {}).get("data", {})
    file = named.get("file") if isinstance(named, dict) else None
    if isinstance(file, str) and file:
        path = Path(model_path).expanduser().parent / Path(file).name
        if path.is_file():
            return load_dataset(path)
    mnist_fits = input_shape is None or (
        tuple(input_shape) == (MNIST_SIDE, MNIST_SIDE, 1) and num_classes in (None, MNIST_CLASSES)
    )
    if mnist_fits:
        return load_mnist(None)
    return no_data(input_shape, num_classes or 0)


#: `ImageDataset.source` of a model served alone (`no_data`).
NO_DATA = "no data set"


def no_data(input_shape: tuple[int, int, int], num_classes: int) -> ImageDataset:
    """The data of a model served alone: no images in either split, shaped for the model.

    Args:
        input_shape: the model's `(H, W, C)`.
        num_classes: the model's number of classes (the class names are numbers).

    Returns:
        an `ImageDataset` with `(0, H, W)` (grey) or `(0, H, W, 3)` uint8 images and `(0,)`
        labels; `has_images` is False.
    """
    height, width, channels = (int(v) for v in input_shape)
    shape = (0, height, width) if channels == 1 else (0, height, width, channels)
    empty, labels = np.zeros(shape, np.uint8), np.zeros(0, np.int64)
    return ImageDataset.of(empty, labels, empty, labels, NO_DATA, numbered_classes(num_classes))


def in_class_order(data: ImageDataset, class_names: Sequence[str]) -> ImageDataset:
    """`data` relabelled so that label `k` is `class_names[k]`, if its classes are exactly those
    names in another order; otherwise `data` itself.

    Args:
        data: the images, labels `0 .. K - 1` naming `data.class_names`.
        class_names: `(K,)` the model's class names, in the model's order.

    Returns:
        The same images with int64 labels mapped to the model's order, `class_names` the
        model's and the fingerprint recomputed; or `data` unchanged.
    """
    names = tuple(str(name) for name in class_names)
    if names == data.class_names or sorted(names) != sorted(data.class_names):
        return data
    if len(set(names)) != len(names):
        return data
    to_model = np.array([names.index(name) for name in data.class_names], dtype=np.int64)
    y_train, y_test = to_model[data.y_train], to_model[data.y_test]
    return ImageDataset(
        x_train=data.x_train,
        y_train=y_train,
        x_test=data.x_test,
        y_test=y_test,
        source=f"{data.source}; labels in the model's class order",
        fingerprint=fingerprint_arrays(data.x_train, y_train, data.x_test, y_test),
        class_names=names,
    )


def check_fits(data: ImageDataset, input_shape: tuple[int, int, int], classes: int) -> None:
    """Raise `DataError` (one line) unless `data`'s images and labels fit a model.

    Args:
        data: the images.
        input_shape: the model's `(H, W, C)`.
        classes: the model's number of classes.
    """
    if data.image_shape != tuple(input_shape):
        raise DataError(
            f"{data.source}: images are {data.image_shape} (H, W, C) but the model takes "
            f"{tuple(input_shape)}; give the model's own data with --data"
        )
    largest = int(max(data.y_train.max(initial=0), data.y_test.max(initial=0)))
    if largest >= classes:
        raise DataError(
            f"{data.source}: label {largest} but the model has {classes} classes (0-{classes - 1})"
        )
