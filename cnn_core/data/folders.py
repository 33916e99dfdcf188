"""Folders of image files (`DIR/<class>/*.png`, or `DIR/train/<class>/` + `DIR/test/<class>/`)
read as an `ImageDataset`, resized to a model's input.

Layouts and labels follow Keras's `image_dataset_from_directory`: the class names are the
sub-folder names in plain `sorted()` order (label 0 is the first), and images in nested folders
inside a class folder belong to that class. Entries whose name starts with "." are ignored. With
one folder per class, each class is split deterministically into train and test
(`TEST_FRACTION`, see `split_counts`); with `train/` and `test/` both splits name the same
classes.

Resizing (`fit_image`) keeps the aspect ratio: the image is first cropped at its centre to the
target's aspect ratio (Keras's `crop_to_aspect_ratio=True`, with its crop box), then resized
bilinearly (Keras's default interpolation). Keras's own default stretches instead; we crop because
a face or a digit squeezed out of shape is not what the model saw when it was trained on
undistorted pictures, while a trimmed border usually is (padding would show the model bands it
never saw). Pillow's bilinear filter widens with the reduction, so a large picture is
anti-aliased where TensorFlow's plain bilinear would alias: pixels can differ slightly from
Keras's, by design. Transparent parts (alpha, a palette's transparent colour) are composited
on white paper, as on screen and in the upload page (`preprocess.load_grayscale`); Keras would
drop the alpha channel and show whatever colour lies under it. The EXIF orientation of a phone
photo is applied (upright as shown). Grey is Pillow's "L" (ITU-R 601-2 luma, as Keras's
`color_mode="grayscale"`), 16-bit grey is scaled to 8 bits, GIF and WebP give their first frame.

Hostile folders: symlinks that lead outside the folder are skipped (never opened), only regular
files are opened (`O_NOFOLLOW`), more than `MAX_FILES` entries are refused before anything is
decoded, and a picture of more than `MAX_PIXELS` pixels (a decompression bomb) counts as
unreadable. Unreadable files are skipped and reported in one log line; a class left without
images is refused.

Decoding runs in a thread pool (Pillow releases the GIL while it decodes and resizes; processes
are no option once TensorFlow is loaded). The result is cached as an `.npz` in
`config.cache_dir()`, keyed by every file's relative path, size and mtime, the target shape and
`READER_VERSION`, so that only the first of several server processes decodes (the others wait
for it on a file lock and read its result).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import stat
import struct
import tempfile
import time
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageOps

from cnn_core import config
from cnn_core.data.preprocess import FORMATS
from cnn_core.data.sources import (
    CHANNELS,
    NPZ_KEYS,
    DataError,
    ImageDataset,
    assemble_dataset,
    stratified_split,
)

try:  # POSIX: the cache's writer lock; elsewhere every process decodes for itself
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: File name suffixes read as images (compared in lower case); any other file is ignored.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
#: Entries (files and folders) scanned at most; a larger tree is refused before decoding.
MAX_FILES = 200_000
#: Pictures with more pixels than this are treated as unreadable (decompression bombs).
MAX_PIXELS = 50_000_000
#: Share of each class that goes to the test split in the one-folder layout.
TEST_FRACTION = 0.2
#: Bump when the decoded pixels change for the same files (invalidates every cache entry).
READER_VERSION = 1
#: The folder names of the two-split layout.
TRAIN_DIR, TEST_DIR = "train", "test"
#: Seconds between two progress lines while decoding.
PROGRESS_EVERY_S = 2.0
#: Unreadable file names quoted in the log line.
NAMES_SHOWN = 5
#: Decoding threads; more than the cores, since small files also wait on the disk.
MAX_WORKERS = 8
#: Pillow modes read as grey without a model (every other mode is read as RGB).
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"})
SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
#: What a damaged file can make Pillow raise while it is opened, decoded or converted.
DECODE_ERRORS = (
    OSError,  # includes PIL.UnidentifiedImageError
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


@dataclass(frozen=True)
class ImageEntry:
    """One image file found in the folder.

    Attributes:
        relpath: path below the folder, "/"-separated (`train/cat/001.png`); names the file.
        path: the real path opened (symlinks inside the folder resolved).
        split: "train", "test", or None in the one-folder layout.
        label: the class index, `0 .. len(class_names) - 1`.
        size: bytes.
        mtime_ns: modification time in nanoseconds.
    """

    relpath: str
    path: str
    split: str | None
    label: int
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class FolderListing:
    """What `list_image_folder` found, before any image is decoded.

    Attributes:
        root: the folder, resolved.
        split_layout: True for `train/` + `test/`, False for one folder per class.
        class_names: the class folder names, sorted; label `k` is `class_names[k]`.
        files: the image files, ordered by split, class and relative path.
        other_files: files that are not images (wrong suffix, not a regular file), ignored.
        outside_links: symlinks leading outside the folder, skipped.
    """

    root: Path
    split_layout: bool
    class_names: tuple[str, ...]
    files: tuple[ImageEntry, ...]
    other_files: int
    outside_links: int


def fit_image(image: Image.Image, image_shape: tuple[int, int, int]) -> np.ndarray:
    """One picture as a model input: upright, on white, centre-cropped, resized bilinearly.

    The module docstring gives the rules. A JPEG that is opened but not yet decoded is decoded
    at a reduced DCT scale when it is at least twice the size needed (never below the target).

    Args:
        image: any Pillow image (opened or loaded); it is not modified.
        image_shape: the model's `(H, W, C)`, C = 1 (grey) or 3 (RGB).

    Returns:
        `(H, W)` uint8 for C = 1 (like MNIST's rows), `(H, W, 3)` uint8 for C = 3; 0 = black.

    Raises:
        DataError: `image_shape` is not `(H, W, 1)` or `(H, W, 3)` with H, W > 0.
        OSError, ValueError, ...: the picture cannot be decoded (see `DECODE_ERRORS`).
    """
    height, width, channels = _checked_shape(image_shape)
    _draft(image, (width, height))
    image = _upright_on_white(image)
    image = _in_mode(image, "L" if channels == 1 else "RGB")
    box = crop_box(image.size, (width, height))
    if box != (0, 0, *image.size):
        # cropped first: `resize(box=...)` would let the filter reach the cut-off borders
        image = image.crop(box)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def crop_box(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int, int, int]:
    """The centred box of `size` with the aspect ratio of `target`, as Keras computes it.

    Args:
        size: `(width, height)` of the picture.
        target: `(width, height)` to resize to.

    Returns:
        `(left, upper, right, lower)` in pixels (Pillow's box).
    """
    width, height = size
    target_width, target_height = target
    crop_height = max(min(height, int(width * target_height / target_width)), 1)
    crop_width = max(min(width, int(height * target_width / target_height)), 1)
    top = int((height - crop_height) / 2)
    left = int((width - crop_width) / 2)
    return (left, top, left + crop_width, top + crop_height)


def split_counts(class_sizes: Sequence[int], fraction: float = TEST_FRACTION) -> list[int]:
    """Test images per class in the one-folder layout.

    `fraction` of each class, rounded half up; at least 1 when a class has 2 images or more,
    and always at least 1 left for training (a class of 1 image goes to train only).

    Args:
        class_sizes: images per class, by label.
        fraction: the share for the test split.

    Returns:
        Test images per class, by label.
    """
    counts = []
    for n in class_sizes:
        test = int(n * fraction + 0.5)
        counts.append(0 if n < 2 else min(max(test, 1), n - 1))
    return counts


def is_image_file(name: str) -> bool:
    """Whether `name` ends with one of `IMAGE_SUFFIXES`, in any case."""
    return name.lower().endswith(IMAGE_SUFFIXES)


def list_image_folder(folder: str | os.PathLike[str], max_files: int = MAX_FILES) -> FolderListing:
    """Find the classes and image files of `folder` without decoding anything.

    Args:
        folder: `DIR` with `DIR/<class>/...` or `DIR/train/<class>/...` + `DIR/test/<class>/...`.
        max_files: entries (files and folders) scanned at most.

    Returns:
        The listing; see `FolderListing`.

    Raises:
        DataError: not a folder, no class sub-folders, `train/` without `test/` (or the other
            way), the two splits name different classes, a class folder holds no image file,
            or more than `max_files` entries.
    """
    given = Path(folder).expanduser()
    if not given.is_dir():
        raise DataError(f"{given}: not a folder")
    scan = _Scan(given.resolve(), max_files)
    top = dict(scan.subfolders(str(scan.root)))
    split_layout = TRAIN_DIR in top or TEST_DIR in top
    if split_layout:
        for name, other in ((TRAIN_DIR, TEST_DIR), (TEST_DIR, TRAIN_DIR)):
            if name not in top:
                raise DataError(
                    f"{given}: has {other}/ but no {name}/ (expected {TRAIN_DIR}/<class>/ and "
                    f"{TEST_DIR}/<class>/, or one folder per class without {TRAIN_DIR}/ or "
                    f"{TEST_DIR}/)"
                )
        extra = sorted(set(top) - {TRAIN_DIR, TEST_DIR})
        if extra:
            log.info(
                "image folder %s: ignoring the folders %s beside train/ and test/", given, extra
            )
        splits = {split: dict(scan.subfolders(top[split])) for split in (TRAIN_DIR, TEST_DIR)}
        names = sorted(splits[TRAIN_DIR])
        for split, other in ((TEST_DIR, TRAIN_DIR), (TRAIN_DIR, TEST_DIR)):
            missing = sorted(set(splits[other]) - set(splits[split]))
            if missing:
                raise DataError(
                    f"{given}: the class folders {missing} of {other}/ are missing from {split}/ "
                    "(both splits need the same classes)"
                )
        groups = [(split, splits[split]) for split in (TRAIN_DIR, TEST_DIR)]
    else:
        names = sorted(top)
        groups = [(None, top)]
    if not names:
        raise DataError(
            f"{given}: no class sub-folders (expected {given}/<class>/<image>, or "
            f"{TRAIN_DIR}/<class>/ and {TEST_DIR}/<class>/, or the four MNIST IDX files)"
        )
    files: list[ImageEntry] = []
    for split, classes in groups:
        for label, name in enumerate(names):
            prefix = f"{split}/{name}" if split else name
            found = [
                ImageEntry(rel, real, split, label, info.st_size, info.st_mtime_ns)
                for rel, real, info in scan.files(classes[name], prefix)
            ]
            if not found:
                raise DataError(
                    f"{given / prefix}: no image file in this class folder "
                    f"({', '.join(IMAGE_SUFFIXES)})"
                )
            files.extend(found)
    return FolderListing(
        root=scan.root,
        split_layout=split_layout,
        class_names=tuple(names),
        files=tuple(files),
        other_files=scan.other_files,
        outside_links=scan.outside_links,
    )


def load_image_folder(
    folder: str | os.PathLike[str],
    image_shape: tuple[int, int, int] | None = None,
    *,
    cache: bool = True,
    max_files: int = MAX_FILES,
    workers: int | None = None,
) -> ImageDataset:
    """Read a folder of labelled images (layouts and rules in the module docstring).

    Args:
        folder: the folder.
        image_shape: the model's `(H, W, C)`, C = 1 or 3: every image is cropped and resized to
            it. None (no model known): every image keeps its size, which must then be the same
            for all; grey if every file is grey, else RGB.
        cache: read and write the decoded arrays in `config.cache_dir()`.
        max_files: entries scanned at most (see `list_image_folder`).
        workers: decoding threads; default up to `MAX_WORKERS`.

    Returns:
        The dataset: `(N, H, W)` uint8 images for C = 1 or `(N, H, W, 3)` uint8 for C = 3,
        int64 labels, the class folder names; `source` says where, how many and how resized.

    Raises:
        DataError: see `list_image_folder`; also a class without a readable image, images of
            different sizes without `image_shape`, or too few images for a test split.
    """
    shape = None if image_shape is None else _checked_shape(image_shape)
    started = time.perf_counter()
    listing = list_image_folder(folder, max_files)
    where = Path(folder).expanduser()
    key = _cache_key(listing, shape)
    cache_file = _cache_file(listing.root, shape, key) if cache else None
    cached = _read_cache(cache_file, key)
    if cached is None:
        lock = _writer_lock(cache_file) if cache_file else contextlib.nullcontext()
        with lock:
            cached = _read_cache(cache_file, key)  # another process may have written it
            if cached is None:
                arrays, unreadable = _decode_all(listing, shape, where, workers)
                if cache_file is not None:
                    _write_cache(cache_file, key, arrays, listing.class_names, unreadable)
    if cached is not None:
        arrays, unreadable = cached
    data = assemble_dataset(
        arrays,
        listing.class_names,
        source=_describe(where, arrays, len(listing.class_names), shape),
        where=str(where),
    )
    _log_summary(where, listing, data, unreadable, time.perf_counter() - started, cached)
    return data


class _Scan:
    """Walks the folder once: symlinks checked, entries counted against the limit."""

    def __init__(self, root: Path, max_files: int) -> None:
        self.root = root
        self.max_files = max_files
        self.entries = 0
        self.other_files = 0
        self.outside_links = 0

    def _entries(self, folder: str) -> Iterator[tuple[os.DirEntry[str], str, os.stat_result]]:
        """`(entry, real path, stat)` of the visible entries of `folder`, sorted by name.

        Every entry, hidden ones too, counts against the limit; symlinks leading outside the
        root and dangling ones are counted and left out.
        """
        visible = []
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    self.entries += 1
                    if self.entries > self.max_files:
                        raise DataError(
                            f"{self.root}: more than {self.max_files:,} files and folders; "
                            "refused before decoding (the limit is for untrusted folders)"
                        )
                    if not entry.name.startswith("."):
                        visible.append(entry)
        except OSError as exc:
            raise DataError(f"{folder}: cannot list the folder ({exc})") from exc
        for entry in sorted(visible, key=_name):
            try:
                if entry.is_symlink():
                    real = os.path.realpath(entry.path)
                    if not _inside(real, str(self.root)):
                        self.outside_links += 1
                        continue
                    info = os.stat(real)
                else:
                    real = entry.path
                    info = entry.stat(follow_symlinks=False)
            except OSError:  # dangling symlink, or gone since the listing
                self.other_files += 1
                continue
            yield entry, real, info

    def subfolders(self, folder: str) -> Iterator[tuple[str, str]]:
        """`(name, real path)` of the sub-folders of `folder`; its files count as others."""
        for entry, real, info in self._entries(folder):
            if stat.S_ISDIR(info.st_mode):
                yield entry.name, real
            else:
                self.other_files += 1

    def files(self, folder: str, prefix: str) -> Iterator[tuple[str, str, os.stat_result]]:
        """`(relative path, real path, stat)` of the image files below `folder`, recursively,
        in sorted order; each real folder is entered once (no symlink loops)."""
        visited = {os.path.realpath(folder)}
        stack = [(folder, prefix)]
        while stack:
            current, rel = stack.pop()
            below = []
            for entry, real, info in self._entries(current):
                name = f"{rel}/{entry.name}"
                if stat.S_ISDIR(info.st_mode):
                    resolved = os.path.realpath(real)
                    if resolved not in visited:
                        visited.add(resolved)
                        below.append((real, name))
                elif stat.S_ISREG(info.st_mode) and is_image_file(entry.name):
                    yield name, real, info
                else:
                    self.other_files += 1
            stack.extend(reversed(below))


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _checked_shape(image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    shape = tuple(image_shape)
    if (
        len(shape) != 3
        or not all(isinstance(d, int | np.integer) and d > 0 for d in shape)
        or shape[2] not in CHANNELS
    ):
        raise DataError(f"image shape {shape}: expected (H, W, C) with H, W > 0 and C = 1 or 3")
    return (int(shape[0]), int(shape[1]), int(shape[2]))


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))  # ExifTags.Base.Orientation
    except DECODE_ERRORS:
        return 1


def _draft(image: Image.Image, target: tuple[int, int]) -> None:
    """Let a not yet decoded JPEG decode at 1/2, 1/4 or 1/8 scale, never below `target`."""
    if image.format != "JPEG" or not getattr(image, "tile", None):
        return
    width, height = image.size
    shown = (height, width) if _orientation(image) in (5, 6, 7, 8) else (width, height)
    left, top, right, lower = crop_box(shown, target)
    scale = max(target[0] / (right - left), target[1] / (lower - top))  # same on both axes
    if scale <= 0.5:
        image.draft(image.mode, (int(np.ceil(width * scale)), int(np.ceil(height * scale))))


def _upright_on_white(image: Image.Image) -> Image.Image:
    """Decoded, EXIF orientation applied, transparency composited on white, 16-bit as 8-bit."""
    image.load()
    if _orientation(image) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode in SIXTEEN_BIT_MODES:
        wide = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        return Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), mode="L")
    if image.mode in ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        composed = Image.alpha_composite(paper, rgba).convert("RGB")
        return composed.convert("L") if image.mode in GREY_MODES else composed
    return image


def _in_mode(image: Image.Image, mode: str) -> Image.Image:
    """`image` as Pillow `mode` ("L" or "RGB"), through RGB from the rarer modes (CMYK, P)."""
    if image.mode == mode:
        return image
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return image if image.mode == mode else image.convert(mode)


def _native(image: Image.Image) -> np.ndarray:
    """`(h, w)` uint8 for a grey picture, `(h, w, 3)` uint8 otherwise, at the stored size."""
    image = _upright_on_white(image)
    return np.asarray(_in_mode(image, "L" if image.mode in GREY_MODES else "RGB"), np.uint8)


def read_image_file(
    path: str | os.PathLike[str], image_shape: tuple[int, int, int] | None
) -> np.ndarray:
    """Decode one image file as the folder reader does (`fit_image`, or as stored without shape).

    The file is opened without following a symlink in its last component and only if it is a
    regular file; the formats are those of `preprocess.FORMATS`.

    Args:
        path: the file.
        image_shape: the model's `(H, W, C)`, or None to keep the stored size.

    Returns:
        `(H, W)` or `(H, W, 3)` uint8.

    Raises:
        One of `DECODE_ERRORS`: not a readable image, or more than `MAX_PIXELS` pixels.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file")
        with Image.open(handle, formats=FORMATS) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise Image.DecompressionBombError(
                    f"{width}x{height} pixels, more than {MAX_PIXELS:,}"
                )
            return fit_image(image, image_shape) if image_shape else _native(image)


def _decode_all(
    listing: FolderListing,
    shape: tuple[int, int, int] | None,
    where: Path,
    workers: int | None,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Decode every listed file in a thread pool and split the readable ones.

    Returns:
        The four arrays of `NPZ_KEYS` and the relative paths of the unreadable files.
    """
    entries = listing.files
    total = len(entries)
    if shape is not None:
        height, width, channels = shape
        rows = np.empty((total, height, width) + ((3,) if channels == 3 else ()), np.uint8)
    natives: list[np.ndarray | None] = [None] * total

    def decode(i: int) -> str | None:
        try:
            image = read_image_file(entries[i].path, shape)
        except DECODE_ERRORS as exc:
            return f"{type(exc).__name__}: {exc}"
        if shape is not None:
            rows[i] = image
        else:
            natives[i] = image
        return None

    errors: list[str | None] = []
    threads = workers or min(MAX_WORKERS, 2 * (os.cpu_count() or 1))
    last = time.perf_counter()
    with (
        warnings.catch_warnings(),  # the pool's threads see it: filters are process-wide
        concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="decode") as pool,
    ):
        # Pillow warns above its own limit while it opens a file: a bomb, make it unreadable
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for done, error in enumerate(pool.map(decode, range(total)), start=1):
            errors.append(error)
            now = time.perf_counter()
            if now - last >= PROGRESS_EVERY_S and done < total:
                log.info("reading images: %s/%s", f"{done:,}", f"{total:,}")
                last = now
    readable = np.array([error is None for error in errors], dtype=bool)
    unreadable = [entries[i].relpath for i in np.flatnonzero(~readable)]
    if unreadable:
        first = next(error for error in errors if error is not None)
        log.debug("image folder %s: %s is unreadable (%s)", where, unreadable[0], first)
    labels = np.array([entry.label for entry in entries], dtype=np.int64)
    splits = np.array([entry.split or "" for entry in entries])
    _check_every_class_read(listing, labels, splits, readable, where)
    if shape is not None:
        images = rows[readable]
    else:
        images = _same_size(
            [natives[i] for i in np.flatnonzero(readable)],
            [entries[i].relpath for i in np.flatnonzero(readable)],
            where,
        )
    labels, splits = labels[readable], splits[readable]
    if listing.split_layout:
        parts = {}
        for split in (TRAIN_DIR, TEST_DIR):
            rows_of_split = np.flatnonzero(splits == split)
            order, _ = stratified_split(labels[rows_of_split], 0, config.SPLIT_SEED)
            parts[split] = rows_of_split[order]  # classes interleaved, as in the other sources
        train_idx, test_idx = parts[TRAIN_DIR], parts[TEST_DIR]
    else:
        sizes = np.bincount(labels, minlength=len(listing.class_names)).tolist()
        train_idx, test_idx = stratified_split(labels, split_counts(sizes), config.SPLIT_SEED)
        if not len(test_idx):
            raise DataError(
                f"{where}: too few images for a test split (every class has one readable "
                f"image; {TEST_FRACTION:.0%} of each class with 2 or more goes to test)"
            )
    arrays = {
        "x_train": images[train_idx],
        "y_train": labels[train_idx],
        "x_test": images[test_idx],
        "y_test": labels[test_idx],
    }
    return arrays, unreadable


def _check_every_class_read(
    listing: FolderListing,
    labels: np.ndarray,
    splits: np.ndarray,
    readable: np.ndarray,
    where: Path,
) -> None:
    """A DataError naming the first class folder none of whose images could be read."""
    for split in (TRAIN_DIR, TEST_DIR) if listing.split_layout else ("",):
        for label, name in enumerate(listing.class_names):
            mine = (labels == label) & (splits == split)
            if not readable[mine].any():
                folder = where / split / name if split else where / name
                raise DataError(
                    f"{folder}: none of its {int(mine.sum()):,} image files could be read "
                    "(damaged, too large, or not PNG/JPEG/BMP/GIF/WebP)"
                )


def _same_size(images: list[np.ndarray], names: list[str], where: Path) -> np.ndarray:
    """The images stacked, grey ones repeated into RGB if any is RGB; one size or a DataError."""
    sizes = {image.shape[:2] for image in images}
    if len(sizes) > 1:
        first = images[0].shape[:2]
        other = next(i for i, image in enumerate(images) if image.shape[:2] != first)
        raise DataError(
            f"{where}: images differ in size ({names[0]} is {first[1]}x{first[0]}, "
            f"{names[other]} is {images[other].shape[1]}x{images[other].shape[0]}); without "
            "a model they cannot be resized to its input: give the model (--model) too"
        )
    if any(image.ndim == 3 for image in images):
        images = [
            image if image.ndim == 3 else np.repeat(image[..., None], 3, 2) for image in images
        ]
    return np.stack(images)


def _describe(
    where: Path, arrays: dict[str, np.ndarray], classes: int, shape: tuple[int, int, int] | None
) -> str:
    n_train, n_test = len(arrays["x_train"]), len(arrays["x_test"])
    height, width = arrays["x_train"].shape[1:3]
    colour = "RGB" if arrays["x_train"].ndim == 4 else "grey"
    size = (
        f"resized to {width}x{height} {colour} (centre crop, bilinear)"
        if shape is not None
        else f"{width}x{height} {colour} as stored"
    )
    return (
        f"image folder {where}: {n_train + n_test:,} images, {classes} "
        f"class{'' if classes == 1 else 'es'} ({n_train:,} train / {n_test:,} test), {size}"
    )


def _log_summary(
    where: Path,
    listing: FolderListing,
    data: ImageDataset,
    unreadable: list[str],
    seconds: float,
    cached: object,
) -> None:
    """The one start-up line: what was read, from where, and what was skipped."""
    skipped = []
    if unreadable:
        more = ", ..." if len(unreadable) > NAMES_SHOWN else ""
        skipped.append(
            f"{len(unreadable):,} unreadable ({', '.join(unreadable[:NAMES_SHOWN])}{more})"
        )
    if listing.outside_links:
        skipped.append(f"{listing.outside_links:,} symlinks leading outside the folder")
    if listing.other_files:
        skipped.append(f"{listing.other_files:,} files that are not images")
    level = logging.WARNING if unreadable or listing.outside_links else logging.INFO
    log.log(
        level,
        "image folder %s: %s images of %s classes in %.1f s%s%s",
        where,
        f"{len(data.x_train) + len(data.x_test):,}",
        data.num_classes,
        seconds,
        " (from the cache)" if cached is not None else "",
        f"; skipped {', '.join(skipped)}" if skipped else "",
    )


def _cache_key(listing: FolderListing, shape: tuple[int, int, int] | None) -> str:
    """sha256 hex over the reader, the target shape, the split rule and every file's identity."""
    digest = hashlib.sha256()
    settings = {
        "reader": READER_VERSION,
        "pillow": PIL.__version__,
        "shape": shape,
        "test_fraction": TEST_FRACTION,
        "seed": config.SPLIT_SEED,
        "split_layout": listing.split_layout,
        "classes": listing.class_names,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode("utf-8", "surrogateescape"))
    for entry in listing.files:
        digest.update(
            f"\n{entry.relpath}\0{entry.size}\0{entry.mtime_ns}".encode("utf-8", "surrogateescape")
        )
    return digest.hexdigest()


def _cache_file(root: Path, shape: tuple[int, int, int] | None, key: str) -> Path:
    """`<cache>/folder-<folder and shape>-<key>.npz`: one entry per folder and shape."""
    place = hashlib.sha256(f"{root}\0{shape}".encode("utf-8", "surrogateescape")).hexdigest()
    return config.cache_dir() / f"folder-{place[:16]}-{key[:16]}.npz"


def _read_cache(path: Path | None, key: str) -> tuple[dict[str, np.ndarray], list[str]] | None:
    """The arrays and unreadable names a matching cache entry holds, else None."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["key"]) != key:
                return None
            arrays = {name: npz[name] for name in NPZ_KEYS}
            unreadable = [str(name) for name in npz["unreadable"].tolist()]
    except (OSError, EOFError, ValueError, KeyError, zlib.error) as exc:  # damaged: decode again
        log.debug("image folder cache %s unusable (%s)", path, exc)
        return None
    return arrays, unreadable


def _write_cache(
    path: Path,
    key: str,
    arrays: dict[str, np.ndarray],
    class_names: tuple[str, ...],
    unreadable: list[str],
) -> None:
    """Write a cache entry atomically and drop older entries of the same folder and shape; a
    cache that cannot be written is skipped (debug log)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        with open(fd, "wb") as handle:  # uncompressed: pixels barely compress, loading is fast
            np.savez(
                handle,
                **arrays,
                class_names=np.asarray(class_names, dtype=np.str_),
                unreadable=np.asarray(unreadable, dtype=np.str_),
                key=np.asarray(key),
            )
        os.replace(tmp, path)
        tmp = None
        place = path.stem.rsplit("-", 1)[0]
        for old in path.parent.glob(f"{place}-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("image folder cache not written to %s (%s)", path, exc)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


@contextlib.contextmanager
def _writer_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the cache entry `path` (no lock where none can be taken)."""
    handle = None
    if fcntl is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path.parent / f"{path.stem.rsplit('-', 1)[0]}.lock", "ab")  # noqa: SIM115
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError as exc:
            log.debug("image folder cache: no lock beside %s (%s)", path, exc)
            if handle is not None:
                handle.close()
            handle = None
    try:
        yield
    finally:
        if handle is not None:
            handle.close()  # closing releases the lock
