"""The OIP job specification: one typed, frozen request, parsed once from what a page sends.

Its limits (`LIMITS`) are the single source of the allowed ranges: the OIP page's inputs take
their min/max from here, `JobSpec.parse` checks against them, and the engine's own ranges
(`cnn_core.oip.ascent.LIMITS`) are the same objects. No Dash here: workers import it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from app.components.validate import InvalidValue, whole_number
from app.components.validate import number as float_number
from cnn_core.config import SMALL_MODEL_NODES
from cnn_core.explain.compare import default_pair
from cnn_core.model.anatomy import ModelDescription
from cnn_core.oip import AscentOptions, ClassLogit, MapMean, Node, default_method, method_options
from cnn_core.oip.ascent import LIMITS as ENGINE_LIMITS
from cnn_core.oip.ascent import MAX_IMAGES_PER_UNIT, METHOD_OPTIONS, Range

KINDS = ("map", "node", "class", "contrast", "gallery")
#: The engine's own defaults (tuned so every Conv2D_3 map beats the best test digit).
ENGINE_DEFAULTS = AscentOptions()


class JobSpecError(ValueError):
    """A job request with a bad kind, layer, unit or parameter; the message says which."""


_N_SEEDS = Range(1, 8)  # images side by side in a single run
_PACE = Range(0.0, 10_000.0)  # steps per second when watching; 0 = full speed
_IMAGES_PER_UNIT = Range(1, MAX_IMAGES_PER_UNIT)  # diverse images per seed (a single run)
#: The diversity term's weight λ. README "OIP quality": λ = 3 already keeps fewer images at
#: 70% of a plain run's activation than λ = 1; ten times that is plenty of room.
_DIVERSITY = Range(0.0, 10.0)


@dataclass(frozen=True)
class JobLimits:
    """Allowed ranges of a job's parameters (the engine's, plus what only jobs have)."""

    steps: Range = ENGINE_LIMITS.steps
    step_size: Range = ENGINE_LIMITS.step_size
    wavelength: Range = ENGINE_LIMITS.wavelength
    blur_sigma: Range = ENGINE_LIMITS.blur_sigma
    seed: Range = ENGINE_LIMITS.seed
    n_seeds: Range = _N_SEEDS
    pace: Range = _PACE
    images_per_unit: Range = _IMAGES_PER_UNIT
    diversity: Range = _DIVERSITY

    def wavelength_for(self, desc: ModelDescription) -> Range:
        """The wavelength range for a model: a wavelength longer than the image is moot."""
        side = float(max(desc.height, desc.width))
        return Range(self.wavelength.lo, min(self.wavelength.hi, side))


LIMITS = JobLimits()


def objective_layers(kind: str, desc: ModelDescription) -> tuple[str, ...]:
    """The layers a job of `kind` can target: map layers (map, gallery) or the hidden node
    layers, from the output back (node: for the seed Dense_1 before Flatten)."""
    if kind in ("map", "gallery"):
        return desc.map_layers
    return desc.hidden_node_layers[::-1] if kind == "node" else ()


def diversity_layer(kind: str, layer: str | None, desc: ModelDescription) -> str | None:
    """The map layer whose Gram matrices a job's diversity term compares, as the engine picks
    it (`OipEngine._gram_blocks`): a map objective's own layer, else the last map layer of the
    job's engine. `engine_for` gives a small model (`SMALL_MODEL_NODES`) one engine with every
    node, a large one an engine with the objective's node alone (no map layer for a node or a
    class). None: the engine would refuse diversity ("diversity needs a map layer")."""
    if kind in ("map", "gallery"):
        return layer
    if len(desc.layers) <= SMALL_MODEL_NODES and desc.map_layers:
        return desc.map_layers[-1]
    return None


def _int(raw: dict[str, Any], key: str, default: int, lo: float, hi: float) -> int:
    """`raw[key]` as a whole number in `lo..hi` (`validate.whole_number`: not true, not 2.5)."""
    value = raw.get(key, default)
    try:
        number = whole_number(value, key)
    except InvalidValue:
        raise JobSpecError(f"{key} must be an integer, got {value!r}") from None
    if not lo <= number <= hi:
        raise JobSpecError(f"{key} must be an integer in {int(lo)}..{int(hi)}, got {value!r}")
    return number


def _float(raw: dict[str, Any], key: str, default: float, allowed: Range) -> float:
    """`raw[key]` as a finite number in `allowed` (`validate.number`: not true, not NaN)."""
    value = raw.get(key, default)
    try:
        number = float_number(value, key)
    except InvalidValue:
        raise JobSpecError(f"{key} must be a number, got {value!r}") from None
    if not allowed.lo <= number <= allowed.hi:
        lo, hi = float(allowed.lo), float(allowed.hi)
        raise JobSpecError(f"{key} must be in {lo}..{hi}, got {value!r}")
    return number


@dataclass(frozen=True)
class JobSpec:
    """One OIP job, checked against the model's description.

    Attributes:
        kind: "map" | "node" | "class" | "contrast" | "gallery".
        layer: the layer (map, node, gallery).
        unit: the map or node (map, node).
        units: the maps of a gallery.
        a, b: the class (class), the classes of `logit a - logit b` (contrast).
        steps, step_size, wavelength, blur_sigma: the ascent (`AscentOptions`).
        method: the image's parameterization ("pixel", "fourier", "maco"; default: the
            model's, `cnn_core.oip.default_method`).
        transforms: whether each step sees the image randomly shifted, scaled and rotated.
        seed, n_seeds: images `seed`, `seed + 1`, ... (a gallery: one per map).
        pace: steps per second when watching (0: as fast as possible).
        images_per_unit: `k` images per seed, optimized together (a single run; a gallery
            makes one per map); with `k > 1` the result's arrays get an axis of `k` after the
            first (`images` `(n_seeds, k, H, W[, C])`).
        diversity: weight λ of the diversity term among each seed's `k` images (needs `k > 1`
            and a map layer to compare them at, `diversity_layer`).
    """

    kind: str
    layer: str | None = None
    unit: int | None = None
    units: tuple[int, ...] | None = None
    a: int | None = None
    b: int | None = None
    steps: int = ENGINE_DEFAULTS.steps
    step_size: float = ENGINE_DEFAULTS.step_size
    wavelength: float = ENGINE_DEFAULTS.wavelength
    blur_sigma: float = ENGINE_DEFAULTS.blur_sigma
    method: str = "pixel"
    transforms: bool = False
    seed: int = 0
    n_seeds: int = 1
    pace: float = 0.0
    images_per_unit: int = 1
    diversity: float = 0.0
    limits: JobLimits = field(default=LIMITS, repr=False, compare=False)

    @classmethod
    def parse(cls, raw: Any, desc: ModelDescription) -> JobSpec:
        """Validate a request (from a page, a URL or a crafted body) against the model.

        Raises:
            JobSpecError: any field out of range or unknown; the message names it.
        """
        if not isinstance(raw, dict):
            raise JobSpecError("job request must be an object")
        kind = raw.get("kind")
        if kind not in KINDS:
            raise JobSpecError(f"unknown objective kind {kind!r}; choose one of {', '.join(KINDS)}")
        fields: dict[str, Any] = {"kind": kind}
        if kind in ("map", "node", "gallery"):
            layers = objective_layers(kind, desc)
            layer = raw.get("layer")
            if layer not in layers:
                choices = ", ".join(layers) or "none: this model has no such layer"
                raise JobSpecError(f"layer {layer!r} has no {kind}s to optimize; choose {choices}")
            fields["layer"] = layer
            n_units = desc.units(layer)
            if kind == "gallery":
                units = raw.get("units", "all")
                if units == "all":
                    units = list(range(n_units))
                if not isinstance(units, list) or not units:
                    raise JobSpecError("units must be 'all' or a non-empty list of indices")
                fields["units"] = tuple(_int({"unit": u}, "unit", 0, 0, n_units - 1) for u in units)
            else:
                fields["unit"] = _int(raw, "unit", 0, 0, n_units - 1)
        last_class = desc.num_classes - 1
        default_a, default_b = default_pair(desc.num_classes)
        if kind in ("class", "contrast"):
            fields["a"] = _int(raw, "a", default_a, 0, last_class)
        if kind == "contrast":
            fields["b"] = _int(raw, "b", default_b, 0, last_class)
            if fields["b"] == fields["a"]:
                raise JobSpecError("a class contrast needs two different classes")
        lim, defaults = LIMITS, ENGINE_DEFAULTS
        wavelengths = lim.wavelength_for(desc)
        fields["steps"] = _int(raw, "steps", defaults.steps, lim.steps.lo, lim.steps.hi)
        fields["step_size"] = _float(raw, "step_size", defaults.step_size, lim.step_size)
        default_wavelength = min(defaults.wavelength, wavelengths.hi)
        fields["wavelength"] = _float(raw, "wavelength", default_wavelength, wavelengths)
        fields["blur_sigma"] = _float(raw, "blur_sigma", defaults.blur_sigma, lim.blur_sigma)
        method, transforms = default_method(desc)
        fields["method"] = raw.get("method", method)
        if not isinstance(fields["method"], str) or fields["method"] not in METHOD_OPTIONS:
            raise JobSpecError(
                f"method must be one of {', '.join(METHOD_OPTIONS)}, got {fields['method']!r}"
            )
        fields["transforms"] = raw.get("transforms", transforms)
        if not isinstance(fields["transforms"], bool):
            raise JobSpecError(f"transforms must be true or false, got {fields['transforms']!r}")
        n_seeds = 1 if kind == "gallery" else _int(raw, "n_seeds", 1, *_bounds(lim.n_seeds))
        fields["seed"] = _int(raw, "seed", 0, lim.seed.lo, lim.seed.hi - (n_seeds - 1))
        fields["n_seeds"] = n_seeds
        fields["pace"] = _float(raw, "pace", 0.0, lim.pace)
        fields.update(_diverse_images(raw, kind, fields.get("layer"), desc))
        return cls(**fields)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> JobSpec:
        """A spec from `to_dict` (a job store, a Celery message): trusted, not re-checked."""
        known = {k: v for k, v in spec.items() if k in _FIELDS}
        if known.get("units") is not None:
            known["units"] = tuple(known["units"])
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-able form (stable key order: the cache key is made from it)."""
        out: dict[str, Any] = {"kind": self.kind}
        for name in ("layer", "unit", "units", "a", "b"):
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if name == "units" else value
        for name in (
            "steps", "step_size", "wavelength", "blur_sigma", "method", "transforms", "seed",
            "n_seeds", "pace",
        ):  # fmt: skip
            out[name] = getattr(self, name)
        if self.images_per_unit != 1:  # one image per seed: the form (and cache key) of before
            out["images_per_unit"], out["diversity"] = self.images_per_unit, self.diversity
        return out

    def options(self) -> AscentOptions:
        """The engine's options for this job."""
        return AscentOptions(
            steps=self.steps,
            step_size=self.step_size,
            wavelength=self.wavelength,
            blur_sigma=self.blur_sigma,
            images_per_unit=self.images_per_unit,
            diversity=self.diversity,
            **method_options(  # type: ignore[arg-type]
                self.method, self.transforms, classes=self.kind in ("class", "contrast")
            ),
        )

    def objectives(self) -> list[Any]:
        """The `cnn_core.oip` objectives: one per map (gallery) or one."""
        if self.kind == "gallery":
            return [MapMean(self.layer, unit) for unit in self.units or ()]
        if self.kind == "map":
            return [MapMean(self.layer, self.unit)]
        if self.kind == "node":
            return [Node(self.layer, self.unit)]
        if self.kind == "class":
            return [ClassLogit(self.a)]
        return [ClassLogit(self.a) - ClassLogit(self.b)]

    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.n_seeds)]

    def describe(self) -> str:
        """Human-readable objective, e.g. 'Conv2D_3 map 17' or 'logit 4 − logit 9'."""
        if self.kind in ("map", "node"):
            return f"{self.layer} {self.kind} {self.unit}"
        if self.kind == "class":
            return f"class {self.a} logit"
        if self.kind == "contrast":
            return f"logit {self.a} − logit {self.b}"
        return f"{self.layer}: {len(self.units or ())} maps"

    def cache_key(self, model_fingerprint: str) -> str:
        """Key of a cached result: the spec without pace (which changes no pixel) and the model."""
        material = {k: v for k, v in self.to_dict().items() if k != "pace"}
        blob = json.dumps(material, sort_keys=True) + model_fingerprint
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


_FIELDS = {name for name in JobSpec.__dataclass_fields__ if name != "limits"}


def _diverse_images(
    raw: dict[str, Any], kind: str, layer: str | None, desc: ModelDescription
) -> dict[str, Any]:
    """`images_per_unit` and `diversity` of a request, refused where the engine would refuse
    them or they would change nothing (diversity among a single image).

    Raises:
        JobSpecError: out of range, on a gallery, or diversity without its map layer.
    """
    k = _int(raw, "images_per_unit", 1, *_bounds(LIMITS.images_per_unit))
    diversity = _float(raw, "diversity", 0.0, LIMITS.diversity)
    if kind == "gallery" and (k != 1 or diversity != 0):
        raise JobSpecError(
            "a gallery makes one image per map: images_per_unit and diversity are for a single run"
        )
    if diversity > 0 and k == 1:
        raise JobSpecError(
            "diversity compares a unit's images with each other: it needs images_per_unit of "
            f"2 or more, got {k}"
        )
    if diversity > 0 and diversity_layer(kind, layer, desc) is None:
        why = (
            "this model has no map layer"
            if not desc.map_layers
            else f"on a model of more than {SMALL_MODEL_NODES} nodes a {kind} objective's "
            "engine holds its own node only; maximize a map for diverse images"
        )
        raise JobSpecError(f"diversity needs a map layer to compare the images at: {why}")
    return {"images_per_unit": k, "diversity": diversity}


def _bounds(allowed: Range) -> tuple[int, int]:
    return int(allowed.lo), int(allowed.hi)
