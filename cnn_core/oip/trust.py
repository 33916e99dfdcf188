"""The trust check of OIPs: does an image that excites a unit tell the truth about the unit?

Four checks per OIP, returned as arrays (`TrustReport`) and as a short plain-language summary:

(a) strength: its activation against the best real image of the data (a ratio);
(b) robustness: the median fraction of its activation that survives unseen random shifts,
    scales (0.9-1.1) and rotations (±10°), over `draws` draws (Olah et al., Distill 2017: a
    pattern that breaks when moved by a pixel is the network's blind spot, not its feature);
(c) spectrum: its share of spatial power above half the Nyquist frequency, against the data's
    own (high-frequency noise is what pixel-space ascent finds first);
(d) path (with data): its activation pattern (the spatial mean of every map) at an earlier map
    node correlates more with the real images that excite the unit most than with random real
    images (Geirhos et al., ICML 2024: an image can excite a unit through another path than
    real images do).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from cnn_core.oip.ascent import OipEngine, OipResult
from cnn_core.oip.objectives import Objective, OipError
from cnn_core.oip.params import default_magnitude
from cnn_core.oip.transforms import tf_affine_each, tf_random_affine

#: A fraction of at least this much surviving the unseen transforms reads as "robust".
ROBUST = 0.8
#: A high-frequency share up to this many times the data's reads as a natural spectrum.
NATURAL_FACTOR = 2.0
_ROBUST_SEED = 31_337  # unseen: the ascent's transforms draw from another seed
_PATH_TOP = 8
_PATH_RANDOM = 32
_DATA_SAMPLE = 2_000


@dataclass(frozen=True)
class TrustReport:
    """The trust check of `n` OIPs (shapes `(n,)`, or `(n, k)` for `k` images per unit).

    Attributes:
        activation: float32, each OIP's real (post-activation) objective.
        best_data: float32, the best objective over the data images (NaN without data).
        ratio: float32, `activation / best_data` (inf where no data image activates the unit
            but the OIP does; NaN without data).
        robustness: float32, the median over `draws` unseen random shift/scale/rotation draws
            of the transformed OIP's activation over its own (NaN where the OIP is not active).
        high_frequency: float32, the OIP's share of spatial power (mean removed per channel)
            above half the Nyquist frequency (radial frequency > 0.25 cycles/px).
        data_high_frequency: the data's median share (a 1/f noise image's without data).
        path_top, path_random: float32, mean Pearson correlation of the OIP's map means at
            `path_node` with those of the data images that excite the unit most (`top`) and of
            random data images (NaN without data or without an earlier map node).
        path_node: the earlier node of the path check, per OIP (None where there is none).
        beats, robust, natural, path_ok: bool, the four checks (`path_ok` False where not made).
        checked: int, how many checks were made per OIP (3 or 4).
        passed: int, how many passed.
        summaries: per OIP (flat, objective-major), the badge text, e.g. "beats the best image
            3.1x · robust 0.86 · natural spectrum · path ok".
    """

    activation: np.ndarray
    best_data: np.ndarray
    ratio: np.ndarray
    robustness: np.ndarray
    high_frequency: np.ndarray
    data_high_frequency: float
    path_top: np.ndarray
    path_random: np.ndarray
    path_node: list[str | None]
    beats: np.ndarray
    robust: np.ndarray
    natural: np.ndarray
    path_ok: np.ndarray
    checked: np.ndarray
    passed: np.ndarray
    summaries: list[str]


def high_frequency_share(pixels: np.ndarray) -> np.ndarray:
    """Share of each image's spatial power above half the Nyquist frequency.

    Args:
        pixels: `(N, H, W)` or `(N, H, W, C)` float images (any units: the share is scale-free).

    Returns:
        `(N,)` float32 in [0, 1]: power at radial frequency > 0.25 cycles/px over all power
        but the mean's (0 for a constant image). White noise: ~0.8; natural images: a few %.
    """
    x = np.asarray(pixels, np.float64)
    if x.ndim == 3:
        x = x[..., None]
    x = x - x.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(np.moveaxis(x, -1, 1))) ** 2).sum(axis=1)  # (N, H, W)
    fy = np.fft.fftfreq(x.shape[1])[:, None]
    fx = np.fft.fftfreq(x.shape[2])[None, :]
    high = np.sqrt(fy**2 + fx**2) > 0.25
    total = power.sum(axis=(1, 2))
    share = np.where(total > 0, (power * high).sum(axis=(1, 2)) / np.maximum(total, 1e-30), 0.0)
    return share.astype(np.float32)


def earlier_map_node(engine: OipEngine, layer: str) -> str | None:
    """The nearest map node before `layer` that is not a pooling of the node before it (its
    maps are then new features, not the same ones subsampled); None for the first."""
    desc = engine.description
    maps = list(desc.map_layers)
    if layer not in maps:
        return maps[-1] if maps else None
    for name in reversed(maps[: maps.index(layer)]):
        if "Pooling" not in desc.layer(name).class_name:
            return name
    return None


def _objective_layer(engine: OipEngine, objective: Objective) -> str:
    for _, term in objective.terms:
        if term.kind in ("map", "node"):
            return term.layer
    return engine.description.logits_layer


def _map_means(
    engine: OipEngine, x: np.ndarray, node: str, quantities: np.ndarray | None = None
) -> np.ndarray:
    """`(N, C)` spatial means of `node`'s maps for model-input images (`quantities`: the
    engine's `quantities(x)` if already computed)."""
    key = ("map", node)
    if key in engine.sizes:
        lo = engine._offsets[key]
        q = engine.quantities(x) if quantities is None else quantities
        return q[:, lo : lo + engine.sizes[key]]
    from cnn_core.explain.activations import ActivationModel

    return ActivationModel(engine.trained).layer(x, node).mean(axis=(1, 2))


@dataclass
class _DataSide:
    """What the checks need of the real images, computed once per engine and data array: a
    gallery or a class of users asks again and again with the same test images.

    Attributes:
        data: the caller's array (the cache's key is its identity).
        x: `(S, H, W[, C])` float32 the model input of the sample (at most `_DATA_SAMPLE`).
        high_frequency: the sample's median high-frequency share.
        quantities: `(S, Q)` float32 `engine.quantities(x)`.
        random_rows: the path check's random images (rows of `x`).
        map_means: `{node: (S, C)}` filled as the path check asks for nodes.
    """

    data: np.ndarray
    x: np.ndarray
    high_frequency: float
    quantities: np.ndarray
    random_rows: np.ndarray
    map_means: dict[str, np.ndarray] = field(default_factory=dict)

    def means(self, engine: OipEngine, node: str) -> np.ndarray:
        if node not in self.map_means:
            self.map_means[node] = _map_means(engine, self.x, node, self.quantities)
        return self.map_means[node]


_DATA_SIDES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> [_DataSide]
_DATA_LOCK = threading.Lock()
_DATA_KEPT = 2  # data arrays remembered per engine (a server has one test split)


def _data_side(engine: OipEngine, data: np.ndarray, rng: np.random.Generator) -> _DataSide:
    """The cached `_DataSide` of `data` for `engine`, computed on first use (the sample and
    the path check's random rows drawn from `rng`, as every check before the cache drew them)."""
    with _DATA_LOCK:
        sides = _DATA_SIDES.setdefault(engine, [])
        for side in sides:
            if side.data is data:
                return side
        sample = np.asarray(data)
        if len(sample) > _DATA_SAMPLE:
            sample = sample[np.sort(rng.choice(len(sample), _DATA_SAMPLE, replace=False))]
        x = engine.trained.standardize(sample)
        side = _DataSide(
            data=data,
            x=x,
            high_frequency=float(np.median(high_frequency_share(sample.astype(np.float32)))),
            quantities=engine.quantities(x),
            random_rows=rng.choice(len(x), min(_PATH_RANDOM, len(x)), replace=False),
        )
        sides.insert(0, side)
        del sides[_DATA_KEPT:]
        return side


def _correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`(len(a), len(b))` Pearson correlations of rows (0 for a constant row)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def trust_report(
    engine: OipEngine,
    oips: OipResult | np.ndarray,
    data: np.ndarray | None = None,
    objectives: Sequence[Objective] | None = None,
    draws: int = 32,
    seed: int = _ROBUST_SEED,
) -> TrustReport:
    """The four trust checks of every OIP of a run (or of any images with their objectives).

    Args:
        engine: the engine the OIPs were made with (its model, ranges and transforms).
        oips: an `OipResult` (`(n[, k], H, W[, C])` model-input images), or model-input images
            `(m, H, W[, C])` with `objectives`.
        data: real images in pixel units, `(N, H, W[, C])` (e.g. the test images); None: no
            strength and path checks, the spectrum compared with 1/f noise.
        objectives: one per image when `oips` is an array (else the result's own).
        draws: unseen random transforms for the robustness check.
        seed: their seed.

    Returns:
        A `TrustReport`; arrays shaped like the result's `activations`.

    Raises:
        OipError: images without objectives, or counts that do not match.
    """
    if isinstance(oips, OipResult):
        images, shape = oips.images, oips.activations.shape
        k = 1 if oips.activations.ndim == 1 else oips.activations.shape[1]
        per_image = [o for o in oips.objectives for _ in range(k)]
        x = engine._as_batch(images.reshape(-1, *images.shape[(2 if k > 1 else 1) :]))
    else:
        if objectives is None:
            raise OipError("images need their objectives (one per image)")
        x = engine._as_batch(oips)
        per_image, shape = list(objectives), (len(x),)
    if len(per_image) != len(x):
        raise OipError(f"{len(per_image)} objectives for {len(x)} images: need one per image")
    w = engine.weights_for(per_image)
    m = len(x)
    quantities = engine.quantities(x)  # also the path check's map means of the OIPs
    activation = (quantities * w).sum(axis=1).astype(np.float32)

    # (b) robustness: the same unseen draws for every OIP
    scale, shift = engine._scale.numpy(), engine._shift.numpy()
    y = tf.constant((x - shift) / scale)
    params = tf_random_affine(
        tf.stack([tf.fill([draws], seed), tf.range(draws)], axis=1), engine.transform_shift
    )
    # every draw's images as one batch (draw-major): one transform and one `quantities` pass
    # instead of `draws` small ones (3 OIPs: 0.1 s instead of 1 s)
    shifted = (
        tf_affine_each(tf.tile(y, [draws, 1, 1, 1]), tf.repeat(params, m, axis=0)).numpy() * scale
        + shift
    )
    moved = (
        (engine.quantities(shifted).reshape(draws, m, -1) * w).sum(axis=2).astype(np.float32)
    )  # (draws, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        robustness = np.where(activation > 0, np.median(moved / activation, axis=0), np.nan)

    # (c) spectrum, in pixel units
    pixels = engine.trained.unstandardize(x)
    high_frequency = high_frequency_share(pixels)
    rng = np.random.default_rng(0)
    best = np.full(m, np.nan, np.float32)
    path_top = np.full(m, np.nan, np.float32)
    path_random = np.full(m, np.nan, np.float32)
    path_nodes: list[str | None] = [None] * m
    if data is not None and len(data):
        side = _data_side(engine, data, rng)
        data_hf = side.high_frequency
        # (a) strength
        data_values = side.quantities @ w.T  # (N, m)
        best = data_values.max(axis=0).astype(np.float32)
        # (d) path
        oip_means: dict[str, np.ndarray] = {}
        for i, objective in enumerate(per_image):
            node = earlier_map_node(engine, _objective_layer(engine, objective))
            path_nodes[i] = node
            if node is None:
                continue
            if node not in oip_means:
                oip_means[node] = _map_means(engine, x, node, quantities)
            top = np.argsort(data_values[:, i])[::-1][:_PATH_TOP]
            rows = np.r_[top, side.random_rows]
            corr = _correlations(oip_means[node][i : i + 1], side.means(engine, node)[rows])[0]
            path_top[i] = corr[: len(top)].mean()
            path_random[i] = corr[len(top) :].mean()
    else:
        noise = np.fft.irfft2(
            default_magnitude(engine.image_shape)
            * np.exp(2j * np.pi * rng.random((8, *default_magnitude(engine.image_shape).shape))),
            s=engine.image_shape[:2],
        )
        data_hf = float(np.median(high_frequency_share(np.moveaxis(noise, 1, -1))))

    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(best > 0, activation / best, np.where(activation > 0, np.inf, 0.0)).astype(
            np.float32
        )
    ratio[np.isnan(best)] = np.nan
    v = verdicts(ratio, robustness, high_frequency, data_hf, path_top, path_random)
    return TrustReport(
        activation=activation.reshape(shape),
        best_data=best.reshape(shape),
        ratio=ratio.reshape(shape),
        robustness=robustness.astype(np.float32).reshape(shape),
        high_frequency=high_frequency.reshape(shape),
        data_high_frequency=data_hf,
        path_top=path_top.reshape(shape),
        path_random=path_random.reshape(shape),
        path_node=path_nodes,
        beats=v.beats.reshape(shape),
        robust=v.robust.reshape(shape),
        natural=v.natural.reshape(shape),
        path_ok=v.path_ok.reshape(shape),
        checked=v.checked.reshape(shape),
        passed=v.passed.reshape(shape),
        summaries=v.summaries,
    )


@dataclass(frozen=True)
class Verdicts:
    """The four checks of `n` OIPs read from their measures (`verdicts`); flat `(n,)` arrays.

    Attributes:
        beats, robust, natural, path_ok: bool, each check (False where it was not made).
        made: `(n, 4)` bool, which of (strength, robustness, spectrum, path) were made.
        checked, passed: int, how many checks were made and passed.
        clauses: per OIP the four checks' plain-language clauses (None: not made).
        summaries: per OIP the clauses made, joined by " · ".
    """

    beats: np.ndarray
    robust: np.ndarray
    natural: np.ndarray
    path_ok: np.ndarray
    made: np.ndarray
    checked: np.ndarray
    passed: np.ndarray
    clauses: list[tuple[str | None, str, str, str | None]]
    summaries: list[str]


def verdicts(
    ratio: np.ndarray,
    robustness: np.ndarray,
    high_frequency: np.ndarray,
    data_high_frequency: float,
    path_top: np.ndarray,
    path_random: np.ndarray,
) -> Verdicts:
    """The checks and their plain-language clauses from the measures of a `TrustReport`
    (any shape, flattened; NaN where a measure was not made), e.g. from a stored job result.
    """
    ratio, robustness, hf, top, rand = (
        np.asarray(a, np.float32).ravel()
        for a in (ratio, robustness, high_frequency, path_top, path_random)
    )
    data_hf = float(data_high_frequency)
    has_data, has_path = ~np.isnan(ratio), ~np.isnan(top)
    beats = np.nan_to_num(ratio, nan=0.0) > 1
    robust = np.nan_to_num(robustness, nan=0.0) >= ROBUST
    natural = hf <= NATURAL_FACTOR * data_hf
    path_ok = has_path & (np.nan_to_num(top, nan=-2) > np.nan_to_num(rand, nan=2))
    made = np.stack([has_data, np.ones_like(has_data), np.ones_like(has_data), has_path], axis=1)
    checked = made.sum(axis=1).astype(int)
    passed = (robust.astype(int) + natural + (beats & has_data) + path_ok).astype(int)
    clauses = [
        _clauses(ratio[i], robustness[i], hf[i], data_hf, top[i], rand[i]) for i in range(len(hf))
    ]
    return Verdicts(
        beats=beats,
        robust=robust,
        natural=natural,
        path_ok=path_ok,
        made=made,
        checked=checked,
        passed=passed,
        clauses=clauses,
        summaries=[" · ".join(c for c in parts if c) for parts in clauses],
    )


def _clauses(
    ratio: float, robustness: float, hf: float, data_hf: float, top: float, rand: float
) -> tuple[str | None, str, str, str | None]:
    """One OIP's four clauses (strength, robustness, spectrum, path; None: not checked)."""
    strength: str | None
    if np.isnan(ratio):
        strength = None
    elif np.isinf(ratio):
        strength = "active where no real image is"
    elif ratio > 1:
        strength = f"beats the best image {ratio:.1f}x"
    elif ratio > 0:
        strength = f"below the best image ({ratio:.2f}x)"
    else:
        strength = "never active"
    if np.isnan(robustness):
        moved = "not active: robustness unknown"
    elif robustness >= ROBUST:
        moved = f"robust {robustness:.2f}"
    else:
        moved = f"fragile {robustness:.2f}"
    factor = hf / data_hf if data_hf > 0 else np.inf
    spectrum = (
        "natural spectrum"
        if factor <= NATURAL_FACTOR
        else f"high-frequency noise ({factor:.1f}x the data's)"
    )
    path = None if np.isnan(top) else ("path ok" if top > rand else "path differs from real images")
    return strength, moved, spectrum, path
