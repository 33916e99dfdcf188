"""The OIP engine's options and their allowed ranges, without TensorFlow.

`AscentOptions` is what `cnn_core.oip.ascent.OipEngine.run` takes; `LIMITS` are the allowed
ranges the engine, the app's job requests (`app.jobspec`) and the OIP page's inputs share. Kept
apart from the engine so that `cnn-lens oip` can build its parser (its defaults are these) and
refuse a bad command line before TensorFlow is imported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnn_core.oip.objectives import OipError

#: What the ascent can move (`cnn_core.oip.params`).
PARAMETERIZATIONS: tuple[str, ...] = ("pixel", "fourier", "maco")
#: The starting noises (`cnn_core.oip.init`).
INITS: tuple[str, ...] = ("long_range", "pixel")


def check_parameterization(kind: object) -> str:
    """Raise `OipError` unless `kind` is one of `PARAMETERIZATIONS`."""
    if kind not in PARAMETERIZATIONS:
        raise OipError(
            f"parameterization must be one of {', '.join(PARAMETERIZATIONS)}, got {kind!r}"
        )
    return str(kind)


@dataclass(frozen=True)
class Range:
    """An inclusive range of allowed values."""

    lo: float
    hi: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float | np.number) and self.lo <= value <= self.hi  # type: ignore[operator]


@dataclass(frozen=True)
class AscentLimits:
    """The allowed ranges of the ascent's parameters: the one source for the engine, the job
    requests of the app (`app.jobspec`) and the ranges of the OIP page's inputs."""

    steps: Range = Range(1, 2_000)
    step_size: Range = Range(1e-4, 10.0)
    wavelength: Range = Range(1.0, 256.0)  # at most the image's longer side is used
    blur_sigma: Range = Range(0.0, 5.0)
    seed: Range = Range(0, 2**31 - 2)


LIMITS = AscentLimits()
TRANSFORMS: tuple[str, ...] = ("none", "standard")
#: Adam's default learning rate per spectral parameterization (Lucid's 0.05 for Fourier).
LEARNING_RATES: dict[str, float] = {"fourier": 0.05, "maco": 0.05}
MAX_IMAGES_PER_UNIT = 16
MAX_STEPS = int(LIMITS.steps.hi)


@dataclass(frozen=True)
class AscentOptions:
    """How to ascend. The defaults give every Conv2D_3 map an OIP above the best test digit.

    Attributes:
        steps: gradient steps (`LIMITS.steps`: 1-2,000).
        step_size: step length; the gradient is normalized to RMS 1 per pixel and the image kept
            at per-image std 1, so this is the fraction of the image's spread moved per step.
        wavelength: longest scale in px of the long-range starting noise (1-256, at most the
            image side is used; 1 is close to per-pixel noise).
        octaves: scales mixed in the starting noise, each half the previous.
        init: "long_range" (smooth noise, article VII) or "pixel" (per-pixel noise, Chollet).
        blur_every: blur the image every this many steps (0: never); suppresses high frequencies.
        blur_sigma: Gaussian blur width in px (the strength of the high-frequency suppression;
            0-5, truncated at 6 px).
        jitter: roll each image by a random offset of up to this many px before each step.
        tv: weight of the total-variation penalty (mean |neighbour difference|).
        l2: weight of the L2 penalty (mean squared pixel); moot while `restandardize` holds.
        pre_relu: ascend the value before the activation where a layer has one (a map that is
            zero everywhere still has a gradient). The reported objective is always the real,
            post-ReLU one.
        restandardize: rescale each image to mean 0, std 1 after each step (the seed's way),
            in the data's standardized pixel space.
        valid_pixels: keep every pixel, in pixel units, inside the data's range (0-255 for
            MNIST) during the ascent, so the OIP is an image the data could contain. Done by
            projection (clipping after each step): a bounded parameterization (sigmoid/tanh)
            would flatten the gradient of every pixel near a bound, and OIPs push many pixels
            there (black background, full ink). The range then bounds the image and replaces
            `restandardize` (measured on the seed's Conv2D_3: 96% of maps beat the best test
            digit, median 2.7x, against 95% / 2.3x when re-standardizing before clipping).
        parameterization: what the ascent moves (`cnn_core.oip.params`): "pixel" (the image,
            normalized gradient steps of `step_size`, the seed's way), "fourier" (Lucid's 1/f
            scaled spectrum, decorrelated colours, sigmoid into the data's pixel range) or
            "maco" (only the spectrum's phase; its magnitude the training images' mean
            amplitude spectrum, `OipEngine.set_spectrum`). The spectral ones step with Adam
            (`learning_rate`) and give valid pixels by construction (blur, `restandardize` and
            `valid_pixels` apply to "pixel" only).
        transforms: "none", or "standard": before each step the image the model sees is
            shifted (up to Lucid's 12 px per 128 px of image side), scaled (0.9-1.1) and
            rotated (±10°) at random, one draw per step shared by the whole batch (so an
            image's result never depends on its batch), the border filled with the data's
            mean pixel.
        learning_rate: Adam's step of the spectral parameterizations; None: the
            parameterization's own (`LEARNING_RATES`: Lucid's 0.05 for "fourier", 0.05 for
            "maco").
        images_per_unit: `k` images per (objective, seed), optimized together; with `k > 1`
            the result's arrays get an axis of `k` after the first.
        diversity: weight λ of Lucid's diversity term within each unit's `k` images: minus λ
            times the sum, over the other images of the group, of the cosine similarity of
            the Gram matrices of the unit's layer (the objective's map layer; for node and
            class objectives the engine's last map layer), per image. Unlike Lucid, each
            image's step takes the term's gradient without the part that would lower its own
            objective (PCGrad), at most as long as the objective's own gradient (so Adam's
            scale stays the objective's); and after `RESTART_AT` (half) of the steps an image
            under `RESTART_BELOW` (75%) of its group's best activation restarts from a
            perturbed copy of the best, which the term then drives apart: with the plain sum a
            few images of most units ended near 0 (`bench/oip_quality.py`, README).
        decay_power: the "fourier" spectrum's scale falls as `1 / f ** decay_power` (Lucid:
            1; larger values favour smoother images).
        pre_relu_while_dead: with `pre_relu`, ascend the value before the activation only
            while a unit is dead (its real value 0), the real value once it lives. None: True
            where the image is bounded (`valid_pixels` or a spectral parameterization). Why: in
            a bounded image the best *mean* of the pre-activation can be a compromise that is
            negative at every position (measured: 10 of the seed's 128 Conv2D_3 maps end at
            exactly 0 with "fourier", 5 with `valid_pixels`), while a local pattern would make
            some positions positive; once alive, the real (post-ReLU) mean rewards that.
    """

    steps: int = 200
    step_size: float = 0.2
    wavelength: float = 8.0
    octaves: int = 3
    init: str = "long_range"
    blur_every: int = 2
    blur_sigma: float = 0.4
    jitter: int = 0
    tv: float = 0.0
    l2: float = 0.0
    pre_relu: bool = True
    restandardize: bool = True
    valid_pixels: bool = False
    parameterization: str = "pixel"
    transforms: str = "none"
    learning_rate: float | None = None
    images_per_unit: int = 1
    diversity: float = 0.0
    decay_power: float = 1.0
    pre_relu_while_dead: bool | None = None

    def __post_init__(self) -> None:
        def integer(name: str, low: int, high: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise OipError(f"{name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise OipError(f"{name} must be between {low} and {high}, got {value}")

        def number(name: str, low: float, high: float, low_open: bool = False) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise OipError(f"{name} must be a number, got {value!r}")
            if (
                not math.isfinite(value)
                or value < low
                or value > high
                or (low_open and value == low)
            ):
                bound = f"> {low}" if low_open else f">= {low}"
                raise OipError(f"{name} must be {bound} and <= {high}, got {value}")

        integer("steps", int(LIMITS.steps.lo), MAX_STEPS)
        number("step_size", LIMITS.step_size.lo, LIMITS.step_size.hi)
        number("wavelength", LIMITS.wavelength.lo, LIMITS.wavelength.hi)
        integer("octaves", 1, 5)
        if self.init not in INITS:
            raise OipError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        integer("blur_every", 0, MAX_STEPS)
        number("blur_sigma", LIMITS.blur_sigma.lo, LIMITS.blur_sigma.hi)
        integer("jitter", 0, 8)
        number("tv", 0.0, 100.0)
        number("l2", 0.0, 100.0)
        for name in ("pre_relu", "restandardize", "valid_pixels"):
            if not isinstance(getattr(self, name), bool):
                raise OipError(f"{name} must be True or False, got {getattr(self, name)!r}")
        check_parameterization(self.parameterization)
        if self.transforms not in TRANSFORMS:
            raise OipError(
                f"transforms must be one of {', '.join(TRANSFORMS)}, got {self.transforms!r}"
            )
        if self.learning_rate is not None:
            number("learning_rate", LIMITS.step_size.lo, LIMITS.step_size.hi)
        integer("images_per_unit", 1, MAX_IMAGES_PER_UNIT)
        number("diversity", 0.0, 1e6)
        number("decay_power", 0.0, 3.0)
        if self.pre_relu_while_dead not in (None, True, False):
            raise OipError(
                f"pre_relu_while_dead must be None, True or False, got {self.pre_relu_while_dead!r}"
            )

    @property
    def revives_only(self) -> bool:
        """Whether the pre-activation is ascended only while a unit is dead (see
        `pre_relu_while_dead`)."""
        if self.pre_relu_while_dead is not None:
            return self.pre_relu_while_dead
        return self.valid_pixels or self.parameterization != "pixel"

    @property
    def adam_learning_rate(self) -> float:
        """Adam's learning rate of the spectral parameterizations (0 for "pixel")."""
        if self.parameterization == "pixel":
            return 0.0
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return LEARNING_RATES[self.parameterization]
