"""Class comparisons: common active points, example picking, class means and discriminative units.

The seed (article VI) compares three clear "4"s with three clear "9"s at `Conv2D_3` and marks by
hand the points all "4"s share and the "9"s lack (red) and the points both share (yellow). This
module does that for any pair of classes, picks the examples from the model's predictions, and
ranks the maps or nodes whose mean activation over the whole test set separates the two classes.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from cnn_core import imaging
from cnn_core.explain.activations import ActivationModel

ExampleKind = Literal["clear", "unclear"]
EXAMPLE_KINDS: tuple[str, ...] = ("clear", "unclear")
#: Default "active" threshold, a fraction of the layer's maximum over the compared examples.
DEFAULT_THRESHOLD = 0.1
#: Guards the pooled standard deviation of units that are (almost) never active.
STD_EPSILON = 1e-6


class CompareError(ValueError):
    """A comparison that cannot be made as asked (the message says why, for the user)."""


class UnknownClassError(CompareError):
    """A class index that is not one of the model's classes."""


class SameClassError(CompareError):
    """Both sides of a comparison are the same class."""


class NotEnoughExamplesError(CompareError):
    """Fewer digits of a class (or of the asked kind) than the comparison needs."""


def check_class(value: object, num_classes: int = 10) -> int:
    """Return `value` as a class index 0 to `num_classes - 1`, or raise `UnknownClassError`.

    Accepts ints and strings of digits (from URLs and dropdowns); `True`/`False` are rejected.
    """
    message = f"unknown class {value!r}; choose a class 0-{num_classes - 1}"
    if isinstance(value, bool):
        raise UnknownClassError(message)
    try:
        cls = int(str(value).strip())
    except (TypeError, ValueError):
        raise UnknownClassError(message) from None
    if not 0 <= cls < num_classes or str(value).strip() != str(cls):
        raise UnknownClassError(message)
    return cls


#: The pair the seed's articles compare (article VI): the seed CNN's default comparison.
ARTICLES_PAIR = (4, 9)


def most_confused_pair(cm: np.ndarray) -> tuple[int, int]:
    """The two classes a model mixes up most: the largest `cm[a, b] + cm[b, a]`, `a < b`.

    Args:
        cm: `(n, n)` int confusion matrix, rows = true class (n >= 2).

    Returns:
        `(a, b)`; ties go to the smaller indices; `(0, 1)` when nothing is confused.
    """
    cm = np.asarray(cm, dtype=np.int64)
    mixed = cm + cm.T
    pairs = [(a, b) for a in range(len(cm)) for b in range(a + 1, len(cm))]
    a, b = max(pairs, key=lambda pair: (mixed[pair], -pair[0], -pair[1]))
    return (a, b) if mixed[a, b] > 0 else (0, 1)


def comparison_pair(sidecar: dict, model_name: str, cm: np.ndarray) -> tuple[int, int]:
    """The classes the compare page opens with.

    The sidecar's `compare_pair` if valid; else 4 and 9 for the seed CNN (the articles' pair;
    its own most confused pair may differ); else the pair the model confuses most on the data.

    Args:
        sidecar: the model's metadata (may be empty).
        model_name: the Keras model's name ("seed_cnn" for the seed).
        cm: `(n, n)` confusion matrix on the test split.
    """
    n = len(cm)
    pair = sidecar.get("compare_pair")
    if (
        isinstance(pair, list | tuple)
        and len(pair) == 2
        and all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < n for k in pair)
        and pair[0] != pair[1]
    ):
        return int(pair[0]), int(pair[1])
    if model_name == "seed_cnn" and n >= 10:
        return ARTICLES_PAIR
    return most_confused_pair(cm)


def implied_class_order(
    cm: np.ndarray, class_names: Sequence[str], share: float = 0.8
) -> tuple[str, ...] | None:
    """The class names in the order of the model's outputs, when its predictions are a
    relabelling of the data's classes: each true class goes mostly to an output of its own and
    those cells hold at least `share` of all images (a model trained with its classes numbered
    otherwise). None when they are not (or already in order).

    Args:
        cm: `(n, n)` confusion matrix, rows true classes, columns outputs.
        class_names: the data's name of each true class.
    """
    cm = np.asarray(cm)
    to = cm.argmax(axis=1)
    n = len(to)
    if cm.sum() == 0 or len(set(to.tolist())) != n or (to == np.arange(n)).all():
        return None
    if cm[np.arange(n), to].sum() < share * cm.sum():
        return None
    order = [""] * n
    for true, output in enumerate(to):
        order[output] = str(class_names[true])
    return tuple(order)


def default_pair(num_classes: int) -> tuple[int, int]:
    """The classes compared by default: 4 and 9 (the seed's articles' pair) when the model has
    them, else the first two."""
    return (4, 9) if num_classes >= 10 else (0, 1)


def check_pair(a: object, b: object, num_classes: int = 10) -> tuple[int, int]:
    """Validate a pair of classes: both valid and different (`SameClassError` otherwise)."""
    ca, cb = check_class(a, num_classes), check_class(b, num_classes)
    if ca == cb:
        raise SameClassError(f"both sides are class {ca}; choose two different classes")
    return ca, cb


class CommonPoints(NamedTuple):
    """Two boolean masks of one layer's output shape (no batch axis).

    Attributes:
        only_a: active in every example of A and in no example of B (the seed's red circles).
        both: active in every example of A and in every example of B (the seed's yellow circles).
        cutoff: the activation value above which a point counts as active.
    """

    only_a: np.ndarray
    both: np.ndarray
    cutoff: float


def common_points(acts_a: np.ndarray, acts_b: np.ndarray, threshold: float) -> CommonPoints:
    """Points (map pixels or nodes) that all examples of A share, alone or with all of B.

    A point is *active* in an example when its activation is strictly above
    `threshold * m`, where `m` is the layer's maximum over all compared examples (A and B
    together, every map or node). One cutoff for the whole layer keeps the seed's reading
    "this point lights up", independent of how strong other maps are in other digits.
    With `m == 0` (nothing fires) no point is active.

    Args:
        acts_a: `(n_a, *shape)` float activations of one layer for the examples of A, `n_a >= 1`.
        acts_b: `(n_b, *shape)` float activations of the same layer for the examples of B,
            `n_b >= 1`.
        threshold: fraction of the maximum, in `[0, 1]`.

    Returns:
        `CommonPoints(only_a, both, cutoff)`; the masks are `shape` bool and disjoint.

    Raises:
        ValueError: empty inputs, different shapes, or a threshold outside `[0, 1]`.
    """
    a = np.asarray(acts_a, dtype=np.float64)
    b = np.asarray(acts_b, dtype=np.float64)
    if a.ndim < 2 or b.ndim < 2 or len(a) == 0 or len(b) == 0:
        raise ValueError(
            f"expected (n, *shape) activations with n >= 1 on both sides, got {a.shape}, {b.shape}"
        )
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"activations of different shapes: {a.shape[1:]} vs {b.shape[1:]}")
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    peak = max(float(a.max()), float(b.max()))
    cutoff = threshold * peak
    if peak <= 0.0:
        empty = np.zeros(a.shape[1:], dtype=bool)
        return CommonPoints(empty, empty.copy(), cutoff)
    all_a = (a > cutoff).all(axis=0)
    active_b = b > cutoff
    return CommonPoints(all_a & ~active_b.any(axis=0), all_a & active_b.all(axis=0), cutoff)


def pick_examples(
    labels: np.ndarray,
    proba: np.ndarray,
    cls: int,
    other: int,
    n: int,
    kind: ExampleKind = "clear",
) -> np.ndarray:
    """Deterministically pick `n` digits of class `cls` from the model's predictions.

    - `"clear"`: digits of `cls` predicted as `cls`, highest probability of `cls` first.
    - `"unclear"`: digits of `cls` predicted as `cls` or as `other`, ordered by the margin
      `p[cls] - max(p[k], k != cls)`, smallest first. Digits misclassified as `other` have a
      negative margin and come first (most confidently wrong first), then correct digits the
      model was least sure about.

    Ties go to the smaller index, so the same model and data always give the same digits.

    Args:
        labels: `(N,)` int true classes.
        proba: `(N, classes)` float class probabilities.
        cls: the class to pick from.
        other: the class it is compared with (used by `"unclear"`).
        n: how many digits, `>= 1`.
        kind: `"clear"` or `"unclear"`.

    Returns:
        `(n,)` int64 indices into `labels`.

    Raises:
        NotEnoughExamplesError: fewer than `n` digits qualify (the message says how many do).
        ValueError: an unknown kind, `n < 1`, or mismatched shapes.
    """
    labels = np.asarray(labels)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or len(proba) != len(labels):
        raise ValueError(
            f"expected labels (N,) and proba (N, C), got {labels.shape}, {proba.shape}"
        )
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    predicted = proba.argmax(axis=1)
    if kind == "clear":
        candidates = np.flatnonzero((labels == cls) & (predicted == cls))
        key = -proba[candidates, cls]
        described = f"correctly classified {cls}s"
    elif kind == "unclear":
        candidates = np.flatnonzero((labels == cls) & ((predicted == cls) | (predicted == other)))
        rivals = np.delete(proba[candidates], cls, axis=1).max(axis=1)
        key = proba[candidates, cls] - rivals
        described = f"{cls}s classified as {cls} or {other}"
    else:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(EXAMPLE_KINDS)}")
    if len(candidates) < n:
        raise NotEnoughExamplesError(
            f"asked for {n} {kind} examples of class {cls}, but only {len(candidates)} "
            f"{described} exist"
        )
    order = np.lexsort((candidates, key))  # by key, then by index
    return candidates[order[:n]].astype(np.int64)


def unit_values(layer_acts: np.ndarray) -> np.ndarray:
    """One value per map or node and digit: the spatial mean of each map, or the node itself.

    Args:
        layer_acts: `(N, H, W, C)` maps or `(N, units)` nodes.

    Returns:
        `(N, C)` or `(N, units)` float64.
    """
    x = np.asarray(layer_acts, dtype=np.float64)
    if x.ndim == 4:
        return x.mean(axis=(1, 2))
    if x.ndim == 2:
        return x
    raise ValueError(f"expected (N, H, W, C) or (N, units) activations, got {x.shape}")


@dataclass(frozen=True)
class ClassStatistics:
    """Per-class statistics of one layer over a set of digits.

    Attributes:
        mean_map: `(num_classes, *shape)` float64 mean activation per class, full resolution
            (`(num_classes, H, W, C)` for maps, `(num_classes, units)` for nodes).
        unit_mean: `(num_classes, U)` float64 mean per class of `unit_values`.
        unit_std: `(num_classes, U)` float64 standard deviation per class of `unit_values`.
        count: `(num_classes,)` int64 digits per class.
    """

    mean_map: np.ndarray
    unit_mean: np.ndarray
    unit_std: np.ndarray
    count: np.ndarray

    @classmethod
    def from_batches(
        cls, batches: Iterable[tuple[np.ndarray, np.ndarray]], num_classes: int = 10
    ) -> ClassStatistics:
        """Accumulate over `(layer activations (B, *shape), labels (B,))` batches.

        Memory stays bounded by one batch: only per-class sums are kept.
        """
        sums = sq_unit = sum_unit = None
        count = np.zeros(num_classes, dtype=np.int64)
        for acts, labels in batches:
            acts = np.asarray(acts, dtype=np.float64)
            labels = np.asarray(labels, dtype=np.int64)
            units = unit_values(acts)
            if sums is None:
                sums = np.zeros((num_classes, *acts.shape[1:]))
                sum_unit = np.zeros((num_classes, units.shape[1]))
                sq_unit = np.zeros_like(sum_unit)
            one_hot = np.eye(num_classes)[labels]  # (B, classes)
            sums += np.tensordot(one_hot, acts, axes=(0, 0))
            sum_unit += one_hot.T @ units
            sq_unit += one_hot.T @ units**2
            count += one_hot.sum(axis=0).astype(np.int64)
        if sums is None:
            raise ValueError("no batches: statistics need at least one digit")
        denom = np.maximum(count, 1)
        mean_map = sums / denom.reshape(-1, *([1] * (sums.ndim - 1)))
        unit_mean = sum_unit / denom[:, None]
        unit_var = np.maximum(sq_unit / denom[:, None] - unit_mean**2, 0.0)
        return cls(mean_map, unit_mean, np.sqrt(unit_var), count)

    def difference(self, a: int, b: int) -> np.ndarray:
        """`mean_map[a] - mean_map[b]`: the class-mean difference, layer shape, float64."""
        return self.mean_map[a] - self.mean_map[b]


@dataclass(frozen=True)
class Ranking:
    """Maps or nodes ordered by how well their mean activation separates class A from B.

    Attributes:
        units: `(U,)` int64 map/node indices, best separating first.
        score: `(U,)` float64 separation `(mean_a - mean_b) / pooled std`, in `units` order;
            positive means stronger for A.
        mean_a: `(U,)` float64 class-A mean of each unit, in `units` order.
        mean_b: `(U,)` float64 class-B mean of each unit, in `units` order.
    """

    units: np.ndarray
    score: np.ndarray
    mean_a: np.ndarray
    mean_b: np.ndarray

    def top(self, k: int) -> Ranking:
        """The first `k` entries."""
        return Ranking(self.units[:k], self.score[:k], self.mean_a[:k], self.mean_b[:k])


def separation_scores(stats: ClassStatistics, a: int, b: int) -> np.ndarray:
    """`(U,)` float64 `(mean_a - mean_b) / sqrt((std_a² + std_b²) / 2)` per map or node.

    A unit that is silent for both classes scores 0, not NaN.
    """
    diff = stats.unit_mean[a] - stats.unit_mean[b]
    pooled = np.sqrt((stats.unit_std[a] ** 2 + stats.unit_std[b] ** 2) / 2.0)
    return diff / np.maximum(pooled, STD_EPSILON)


def rank_units(stats: ClassStatistics, a: int, b: int) -> Ranking:
    """Rank every map or node by `|separation_scores|`, largest first (ties: smaller index).

    Raises:
        NotEnoughExamplesError: a class has no digits in the statistics.
    """
    for cls in (a, b):
        if stats.count[cls] == 0:
            raise NotEnoughExamplesError(f"no digits of class {cls} to compute statistics from")
    score = separation_scores(stats, a, b)
    units = np.lexsort((np.arange(len(score)), -np.abs(score))).astype(np.int64)
    return Ranking(units, score[units], stats.unit_mean[a][units], stats.unit_mean[b][units])


def layer_statistics(
    acts: ActivationModel,
    x_std: np.ndarray,
    labels: np.ndarray,
    layer: str,
    batch_size: int = 250,
) -> ClassStatistics:
    """`ClassStatistics` of `layer` over many digits, computed in batches.

    Args:
        acts: the activation model.
        x_std: `(N, H, W, C)` float32 model input.
        labels: `(N,)` int true classes.
        layer: a layer name (`UnknownLayerError` otherwise).
        batch_size: images per forward pass (the seed's Conv2D_1 of 250 digits is about 22 MB).
    """
    acts.description.layer(layer)
    batches = (
        (acts.layer(x_std[i : i + batch_size], layer), labels[i : i + batch_size])
        for i in range(0, len(x_std), batch_size)
    )
    return ClassStatistics.from_batches(batches, acts.description.num_classes)


class StatisticsCache:
    """`ClassStatistics` per layer for one fixed set of digits, computed lazily, once.

    They depend only on the model and the digits, so one instance serves a whole process.
    Thread-safe: concurrent first requests for a layer compute it once; other layers are not
    blocked while one is computed.
    """

    def __init__(self, acts: ActivationModel, x_std: np.ndarray, labels: np.ndarray) -> None:
        self._acts = acts
        self._x_std = x_std
        self._labels = np.asarray(labels, dtype=np.int64)
        self._lock = threading.Lock()
        self._layer_locks: dict[str, threading.Lock] = {}
        self._stats: dict[str, ClassStatistics] = {}

    def get(self, layer: str) -> ClassStatistics:
        """The statistics of `layer` (`UnknownLayerError` for a layer the model lacks)."""
        self._acts.description.layer(layer)
        with self._lock:
            if layer in self._stats:
                return self._stats[layer]
            layer_lock = self._layer_locks.setdefault(layer, threading.Lock())
        with layer_lock:
            if layer not in self._stats:
                stats = layer_statistics(self._acts, self._x_std, self._labels, layer)
                with self._lock:
                    self._stats[layer] = stats
            return self._stats[layer]

    def cached_layers(self) -> Sequence[str]:
        """Layers computed so far."""
        with self._lock:
            return tuple(self._stats)


def confusion_matrix(
    labels: np.ndarray, predicted: np.ndarray, num_classes: int = 10
) -> np.ndarray:
    """`(num_classes, num_classes)` int64 counts, rows = true class, columns = predicted class.

    Args:
        labels: `(N,)` int true classes.
        predicted: `(N,)` int predicted classes.
    """
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if labels.shape != predicted.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predicted.shape} differ")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, predicted), 1)
    return cm


def confused_digits(
    labels: np.ndarray, proba: np.ndarray, true_class: int, predicted_class: int
) -> np.ndarray:
    """Indices of the digits in one confusion-matrix cell, the most telling first.

    On the diagonal (correct digits) the least confident come first, since they are the
    interesting ones; off the diagonal the most confidently wrong come first. Ties: smaller
    index first.

    Args:
        labels: `(N,)` int true classes.
        proba: `(N, classes)` float class probabilities.
        true_class: the cell's row.
        predicted_class: the cell's column.

    Returns:
        `(K,)` int64 indices, `K` = the cell's count.
    """
    n = np.shape(proba)[1]
    true_class, predicted_class = check_class(true_class, n), check_class(predicted_class, n)
    proba = np.asarray(proba, dtype=np.float64)
    labels = np.asarray(labels)
    cell = np.flatnonzero((labels == true_class) & (proba.argmax(axis=1) == predicted_class))
    confidence = proba[cell, predicted_class]
    key = confidence if true_class == predicted_class else -confidence
    return cell[np.lexsort((cell, key))].astype(np.int64)


def parse_indices(text: str, limit: int) -> list[int]:
    """Digit indices typed by a person: `"12, 40 77"` -> `[12, 40, 77]`, duplicates dropped.

    Args:
        text: integers separated by commas, semicolons or spaces.
        limit: number of digits in the split; every index must be in `[0, limit)`.

    Raises:
        CompareError: something that is not an integer, or an index out of range.
    """
    out: list[int] = []
    for token in text.replace(",", " ").replace(";", " ").split():
        try:
            value = int(token)
        except ValueError:
            raise CompareError(f"{token!r} is not a digit index (whole numbers only)") from None
        if not 0 <= value < limit:
            raise CompareError(f"digit index {value} is out of range: 0 to {limit - 1}")
        if value not in out:
            out.append(value)
    return out


#: Marker colours of the comparison picture: the seed's red and yellow circles.
RED_RGB = (255, 26, 26)
YELLOW_RGB = (255, 230, 0)


def marker_centers(mask: np.ndarray, layout: imaging.GridLayout, cell_px: int, gap_px: int):
    """Pixel centres `(x, y)` in `imaging.grid_image` of the `True` points of a mask.

    Args:
        mask: `(H, W, C)` or `(units,)` bool, the layer's shape.
        layout: the grid's layout (`imaging.layout_for`).
        cell_px, gap_px: as passed to `imaging.grid_image`.

    Returns:
        `(K, 2)` float64 centres, in `np.nonzero` order.
    """
    m = np.asarray(mask, dtype=bool)
    m = m.reshape(1, 1, -1) if m.ndim == 1 else m
    rows, cols, cells = np.nonzero(m)
    grid_row, grid_col = np.divmod(cells, layout.cols)
    ch, cw = layout.cell_h * cell_px, layout.cell_w * cell_px
    x = grid_col * (cw + gap_px) + cols * cell_px + cell_px / 2
    y = grid_row * (ch + gap_px) + rows * cell_px + cell_px / 2
    return np.stack([x, y], axis=1).astype(np.float64)


#: The outline under every marker: it stands out on the bright cells of every colormap, the
#: marker's own colour on the dark ones.
OUTLINE_RGB = (0, 0, 0)


def _marker(draw, cx: float, cy: float, radius: float, shape: str, color) -> None:
    """An open circle or diamond (shape tells red from yellow without colour) on a dark outline."""
    if shape == "circle":
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        draw.ellipse(box, outline=OUTLINE_RGB, width=4)
        draw.ellipse(box, outline=color, width=2)
        return
    r = radius * 1.2  # a diamond looks smaller than a circle of the same radius
    points = [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy), (cx, cy - r)]
    draw.line(points, fill=OUTLINE_RGB, width=4, joint="curve")
    draw.line(points, fill=color, width=2, joint="curve")


def comparison_png(
    digits_a: np.ndarray,
    digits_b: np.ndarray,
    acts_a: np.ndarray,
    acts_b: np.ndarray,
    *,
    red_a: np.ndarray,
    red_b: np.ndarray,
    both: np.ndarray,
    captions_a: Sequence[str],
    captions_b: Sequence[str],
    title: str,
    per_row: int = 8,
    colormap: str = "jet",
) -> bytes:
    """The comparison as one PNG: A's digits and grids on the left, B's on the right.

    Each digit is drawn beside its activation grid (`imaging.grid_image`, seed scaling) with
    red circles on the points only its class shares and yellow diamonds on the points both
    classes share, as the seed marks them by hand.

    Args:
        digits_a, digits_b: `(n_a, H, W)` / `(n_b, H, W)` uint8 images, or `(n, H, W, 3)` for
            a colour model (drawn 3x enlarged).
        acts_a, acts_b: `(n_a, *shape)` / `(n_b, *shape)` activations of one layer.
        red_a, red_b: `shape` bool, points only A (only B) shares (`common_points`).
        both: `shape` bool, points both share.
        captions_a, captions_b: one line per digit (index and probabilities).
        title: the heading of the picture; may hold several lines.
        per_row: maps per grid row.
        colormap: one of `imaging.COLORMAPS`.

    Returns:
        PNG bytes.
    """
    from PIL import Image, ImageDraw, ImageFont

    imaging.check_colormap(colormap)
    font = ImageFont.load_default(size=16)
    gap, pad, line_h = 1, 16, 22
    digit_px = 3 * max(np.shape(digits_a)[1:3])  # the images drawn 3x enlarged
    layout = imaging.layout_for(acts_a[0], per_row)
    cell_px = max(1, round(56 / max(layout.cell_h, layout.cell_w)))
    if len(acts_a[0].shape) == 1:
        cell_px = 24

    def block(digits, acts, red, captions):
        tiles = []
        for digit, values, caption in zip(digits, acts, captions, strict=True):
            grid = imaging.grid_image(values, per_row=per_row, colormap=colormap, cell_px=cell_px)
            gh, gw = grid.shape[:2]
            tile = Image.new("RGB", (digit_px + pad + gw, line_h + max(gh, digit_px)), "white")
            draw = ImageDraw.Draw(tile)
            draw.text((0, 0), caption, fill="black", font=font)
            big = np.asarray(digit, dtype=np.uint8).repeat(3, axis=0).repeat(3, axis=1)
            big = big[..., 0] if big.ndim == 3 and big.shape[2] == 1 else big
            picture = Image.fromarray(big, mode="RGB" if big.ndim == 3 else "L")
            tile.paste(picture.convert("RGB"), (0, line_h))
            tile.paste(Image.fromarray(grid, mode="RGB"), (digit_px + pad, line_h))
            radius = max(3.0, cell_px * 0.42)
            for mask, color, shape in ((red, RED_RGB, "circle"), (both, YELLOW_RGB, "diamond")):
                for x, y in marker_centers(mask, layout, cell_px, gap):
                    _marker(draw, x + digit_px + pad, y + line_h, radius, shape, color)
            tiles.append(tile)
        return tiles

    left = block(digits_a, acts_a, red_a, captions_a)
    right = block(digits_b, acts_b, red_b, captions_b)
    col_w = max(t.width for t in left + right)
    head_h = line_h * (title.count("\n") + 1)
    height = head_h + pad + max(sum(t.height + pad for t in tiles) for tiles in (left, right))
    canvas = Image.new("RGB", (2 * col_w + 3 * pad, height + pad), "white")
    ImageDraw.Draw(canvas).text((pad, 0), title, fill="black", font=font)
    for column, tiles in enumerate((left, right)):
        y = head_h + pad
        for tile in tiles:
            canvas.paste(tile, (pad + column * (col_w + pad), y))
            y += tile.height + pad
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()
