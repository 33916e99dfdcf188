"""What the compare page computes, without Dash: the digits of each side, their activations and
common points, the class statistics of the test split, the seed's probability captions.

Besides test digits, a side can hold digits drawn on the picker's canvas: their model-input
codes (`cnn_core.data.drawing`), kept in the URL as `da=` / `db=` (joined by
`DRAWN_SEPARATOR`)
and compared like the side's test digits (activations, red and yellow points).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from app.components.validate import InvalidValue, number, text, whole_number
from app.services import Services, check_layer, get_services
from cnn_core.data import drawing
from cnn_core.explain.compare import (
    EXAMPLE_KINDS,
    CompareError,
    StatisticsCache,
    check_pair,
    common_points,
    parse_indices,
    pick_examples,
)

SPLIT = "test"
MAX_EXAMPLES = 10
#: Drawn digits per side, and their codes' length together: they travel in the URL, whose
#: request line the server takes up to 8 KB (an MNIST drawing's code is ~400-600 characters).
MAX_DRAWN = 3
MAX_DRAWN_CHARS = 5000
#: Between the codes of one side's drawings in the URL (not in the codes' URL-safe alphabet).
DRAWN_SEPARATOR = "."

_stats_lock = threading.Lock()
_stats_cache: tuple[Services, StatisticsCache] | None = None


def statistics_cache() -> StatisticsCache:
    """The process's class statistics of the test split, one entry per layer, built lazily.

    Kept per `Services` instance, so installing other services (tests) never mixes models.
    """
    global _stats_cache
    services = get_services()
    with _stats_lock:
        if _stats_cache is None or _stats_cache[0] is not services:
            cache = StatisticsCache(
                services.acts, services.x_std[SPLIT], services.data.labels(SPLIT)
            )
            _stats_cache = (services, cache)
        return _stats_cache[1]


def num_classes() -> int:
    return get_services().desc.num_classes


def class_name(k: int) -> str:
    """The served model's name of class `k` ("4" for the seed, "red disc" for the shapes)."""
    return get_services().desc.class_names[k]


def probability_lines(proba: np.ndarray, a: int, b: int) -> list[str]:
    """The seed's reading of one prediction: `93.5% "4"`, `6.2% "9"` (+ the winner if neither),
    classes by name."""
    lines = [f'{proba[a]:.1%} "{class_name(a)}"', f'{proba[b]:.1%} "{class_name(b)}"']
    top = int(proba.argmax())
    if top not in (a, b):
        lines.append(f'predicted "{class_name(top)}" ({proba[top]:.1%})')
    return lines


def probability_caption(proba: np.ndarray, a: int, b: int) -> str:
    """`probability_lines` on one line: `93.5% "4", 6.2% "9"`."""
    first, second, *rest = probability_lines(proba, a, b)
    return "; ".join([f"{first}, {second}", *rest])


def check_threshold(threshold: object) -> float:
    """The threshold (a fraction of the layer's maximum) in 0..1, else `CompareError`."""
    try:
        return number(threshold, "threshold", 0.0, 1.0)
    except InvalidValue:
        raise CompareError(
            f"threshold must be a number between 0 and 1, got {threshold!r}"
        ) from None


def check_count(n: object) -> int:
    """Examples per class, 1..`MAX_EXAMPLES`, else `CompareError`."""
    if n is None:
        raise CompareError(f"enter how many examples per class (1 to {MAX_EXAMPLES})")
    try:
        count = whole_number(n, "examples per class")
    except InvalidValue:
        raise CompareError(f"examples per class must be a whole number, got {n!r}") from None
    if not 1 <= count <= MAX_EXAMPLES:
        raise CompareError(f"examples per class must be 1 to {MAX_EXAMPLES}, got {count}")
    return count


def side_indices(cls: int, other: int, n: object, kind: object, typed: str) -> list[int]:
    """The test digits of one side: the typed indices if any (all of class `cls`), else `n`
    examples of `kind` (`cnn_core.explain.compare.pick_examples`)."""
    services = get_services()
    labels = services.data.labels(SPLIT)
    if typed.strip():
        chosen = parse_indices(typed, len(labels))
        wrong = [i for i in chosen if labels[i] != cls]
        if wrong:
            listed = ", ".join(f"{i} is a {labels[i]}" for i in wrong[:5])
            raise CompareError(f"typed digits for class {cls} must be {cls}s: test digit {listed}")
        if len(chosen) > MAX_EXAMPLES:
            raise CompareError(f"at most {MAX_EXAMPLES} digits per class, got {len(chosen)}")
        return chosen
    if kind not in EXAMPLE_KINDS:
        raise CompareError(f"choose the kind of examples: {', '.join(EXAMPLE_KINDS)}")
    count = check_count(n)
    proba = services.proba[SPLIT]
    return pick_examples(labels, proba, cls, other, count, kind).tolist()  # type: ignore[arg-type]


def check_drawn(codes: object) -> list[str]:
    """One side's drawn digits: a list of codes (None: none) that fit the model, else
    `CompareError` saying why."""
    if codes is None or codes == "":
        return []
    if isinstance(codes, str):
        codes = codes.split(DRAWN_SEPARATOR)
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise CompareError("the drawn digits must be a list of drawn-digit codes")
    if len(codes) > MAX_DRAWN:
        raise CompareError(f"at most {MAX_DRAWN} drawn digits per side, got {len(codes)}")
    shape = get_services().desc.input_shape
    for k, code in enumerate(codes, 1):
        try:
            drawing.decode_pixels(code, shape)
        except drawing.DrawingError as err:
            raise CompareError(f"drawn digit {k}: {err}") from None
    return list(codes)


def drawn_pixels(codes: list[str]) -> np.ndarray:
    """The pixels of checked codes: `(n, H, W)` grey or `(n, H, W, C)` uint8."""
    shape = get_services().desc.input_shape
    pixels = [drawing.decode_pixels(code, shape) for code in codes]
    empty = shape[:2] if shape[2] == 1 else shape
    return np.stack(pixels) if pixels else np.zeros((0, *empty), np.uint8)


def add_drawing(
    code: object, side: object, drawn_a: object, drawn_b: object
) -> tuple[str, list[str]]:
    """Which side a drawn digit joins (`side`: "a" or "b") and that side's new codes.
    Raises `CompareError` saying why it cannot be added."""
    if side not in ("a", "b"):
        raise CompareError("choose side A or B for the drawing")
    try:
        code = check_drawn([code])[0]
    except CompareError:
        raise CompareError("draw a digit on the canvas first") from None
    sides = {"a": drawn_a, "b": drawn_b}
    current = {}
    for name, codes in sides.items():
        try:
            current[name] = check_drawn(codes)
        except CompareError:
            current[name] = []
    if code in current[side]:
        raise CompareError(f"this drawing is already on side {side.upper()}")
    if len(current[side]) >= MAX_DRAWN:
        raise CompareError(
            f"at most {MAX_DRAWN} drawn digits per side: remove one from side {side.upper()} first"
        )
    total = sum(len(c) for codes in current.values() for c in codes) + len(code)
    if total > MAX_DRAWN_CHARS:
        raise CompareError(
            "the drawings would make the page's link too long: remove a drawn digit first"
        )
    return side, [*current[side], code]


@dataclass
class Comparison:
    """Everything computed for one view of the page (activations `(n, ...)` per side).

    `acts_*`, `proba_*`: the side's test digits `indices_*`; `drawn_acts_*`, `drawn_proba_*`:
    its drawn digits `drawn_*` (codes). The red and yellow points count both.
    """

    a: int
    b: int
    layer: str
    threshold: float
    indices_a: list[int]
    indices_b: list[int]
    acts_a: np.ndarray
    acts_b: np.ndarray
    proba_a: np.ndarray
    proba_b: np.ndarray
    red_a: np.ndarray
    red_b: np.ndarray
    yellow: np.ndarray
    cutoff: float
    typed_a: bool = False
    typed_b: bool = False
    drawn_a: list[str] = field(default_factory=list)
    drawn_b: list[str] = field(default_factory=list)
    drawn_acts_a: np.ndarray | None = None
    drawn_acts_b: np.ndarray | None = None
    drawn_proba_a: np.ndarray | None = None
    drawn_proba_b: np.ndarray | None = None

    def drawn(self, side: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """A side's drawn digits: codes, activations `(k, ...)`, probabilities `(k, classes)`."""
        if side == "a":
            codes, acts, proba = self.drawn_a, self.drawn_acts_a, self.drawn_proba_a
        else:
            codes, acts, proba = self.drawn_b, self.drawn_acts_b, self.drawn_proba_b
        empty = np.zeros((0,), np.float32)
        return codes, acts if acts is not None else empty, proba if proba is not None else empty

    def every_digit(self, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """A side's test digits then its drawn digits: pictures, activations, probabilities
        and names ("#312", "drawn #1"), e.g. for the PNG download."""
        indices, acts, proba = (
            (self.indices_a, self.acts_a, self.proba_a)
            if side == "a"
            else (self.indices_b, self.acts_b, self.proba_b)
        )
        codes, drawn_acts, drawn_proba = self.drawn(side)
        images = get_services().data.images(SPLIT)[indices]
        names = [f"#{i}" for i in indices] + [f"drawn #{k}" for k in range(1, len(codes) + 1)]
        if not codes:
            return images, acts, proba, names
        return (
            np.concatenate([images, drawn_pixels(codes)]),
            np.concatenate([acts, drawn_acts]),
            np.concatenate([proba, drawn_proba]),
            names,
        )


def compute_comparison(
    a: object,
    b: object,
    n: object,
    kind_a: object,
    kind_b: object,
    typed_a: object,
    typed_b: object,
    layer: object,
    threshold: object,
    drawn_a: object = None,
    drawn_b: object = None,
) -> Comparison:
    """Validate the controls and compare (raises `CompareError`, `UnknownLayerError`)."""
    ca, cb = check_pair(a, b, num_classes())
    layer = check_layer(layer)
    t = check_threshold(threshold)
    typed_a, typed_b = text(typed_a), text(typed_b)
    idx_a = side_indices(ca, cb, n, kind_a, typed_a)
    idx_b = side_indices(cb, ca, n, kind_b, typed_b)
    codes_a, codes_b = check_drawn(drawn_a), check_drawn(drawn_b)
    services = get_services()
    x = services.x_std[SPLIT][idx_a + idx_b]
    if codes_a or codes_b:
        drawn_x = services.trained.standardize(drawn_pixels(codes_a + codes_b))
        x = np.concatenate([x, drawn_x.astype(x.dtype)], axis=0)
    acts = services.acts.layer(x, layer)
    na, nd = len(idx_a), len(idx_a) + len(idx_b)
    drawn_proba = services.acts.predict_proba(x[nd:]) if len(x) > nd else np.zeros((0, 1))
    drawn_a, drawn_b = acts[nd : nd + len(codes_a)], acts[nd + len(codes_a) :]
    side_a = np.concatenate([acts[:na], drawn_a])  # every digit of a side, for the points
    side_b = np.concatenate([acts[na:nd], drawn_b])
    red_a, yellow, cutoff = common_points(side_a, side_b, t)
    red_b = common_points(side_b, side_a, t).only_a
    proba = services.proba[SPLIT]
    return Comparison(
        ca, cb, layer, t, idx_a, idx_b, acts[:na], acts[na:nd], proba[idx_a], proba[idx_b],
        red_a, red_b, yellow, cutoff, bool(typed_a.strip()), bool(typed_b.strip()),
        codes_a, codes_b, drawn_a, drawn_b,
        drawn_proba[: len(codes_a)], drawn_proba[len(codes_a) :],
    )  # fmt: skip


def add_to_side(
    index: object, a: object, b: object, typed_a: object, typed_b: object, shown: object
) -> tuple[str, str]:
    """Which side test digit `index` joins ("a" or "b") and that side's new typed indices
    (the digits shown so far kept). Raises `CompareError` saying why it cannot be added."""
    labels = get_services().data.labels(SPLIT)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(labels):
        raise CompareError(f"unknown test digit {index!r}")
    label = int(labels[index])
    if label not in (a, b):
        raise CompareError(f'test digit {index} is a "{label}"; choose class {label} first')
    side = "a" if label == a else "b"
    try:
        current = parse_indices(text(typed_a if side == "a" else typed_b), len(labels))
    except CompareError:
        current = []
    if not current and isinstance(shown, dict):
        current = [i for i in shown.get(side, []) if isinstance(i, int)]
    if index in current:
        raise CompareError(f"test digit {index} is already in the comparison")
    if len(current) >= MAX_EXAMPLES:
        raise CompareError(f"at most {MAX_EXAMPLES} digits per class: remove one first")
    return side, ", ".join(str(i) for i in [*current, index])
