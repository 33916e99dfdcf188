"""What the compare page computes, without Dash: the digits of each side, their activations and
common points, the class statistics of the test split, the seed's probability captions."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from app.components.validate import InvalidValue, number, text, whole_number
from app.services import Services, check_layer, get_services
from cnn_core.compare import (
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
    examples of `kind` (`cnn_core.compare.pick_examples`)."""
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


@dataclass
class Comparison:
    """Everything computed for one view of the page (activations `(n, ...)` per side)."""

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
) -> Comparison:
    """Validate the controls and compare (raises `CompareError`, `UnknownLayerError`)."""
    ca, cb = check_pair(a, b, num_classes())
    layer = check_layer(layer)
    t = check_threshold(threshold)
    typed_a, typed_b = text(typed_a), text(typed_b)
    idx_a = side_indices(ca, cb, n, kind_a, typed_a)
    idx_b = side_indices(cb, ca, n, kind_b, typed_b)
    services = get_services()
    acts = services.acts.layer(services.x_std[SPLIT][idx_a + idx_b], layer)
    acts_a, acts_b = acts[: len(idx_a)], acts[len(idx_a) :]
    red_a, yellow, cutoff = common_points(acts_a, acts_b, t)
    red_b = common_points(acts_b, acts_a, t).only_a
    proba = services.proba[SPLIT]
    return Comparison(
        ca, cb, layer, t, idx_a, idx_b, acts_a, acts_b, proba[idx_a], proba[idx_b],
        red_a, red_b, yellow, cutoff, bool(typed_a.strip()), bool(typed_b.strip()),
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
