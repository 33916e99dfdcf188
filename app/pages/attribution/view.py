"""The attribution page's view: which digit, which class (against which), the methods' options,
how the maps are drawn; kept in the URL."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from app import digits
from app.attributions import MethodOptions, check_class
from app.components.urlview import UrlView
from app.components.validate import InvalidValue, choice, number, whole_number
from app.services import get_services
from cnn_core import imaging
from cnn_core.data.drawing import DrawingError
from cnn_core.explain.attribution import BASELINES, LIMITS, AttributionError

BACKGROUNDS = ("image", "grey")
#: The page's slider: the maps' opacity over the image.
OPACITY_RANGE = (0.0, 1.0)


def int_limits(name: str) -> tuple[int, int]:
    """The core's inclusive range of an integer option (`LIMITS`)."""
    low, high = LIMITS[name]
    return int(low), int(high)


def max_window() -> int:
    """The largest occlusion window: the image's shorter side."""
    h, w, _ = get_services().desc.input_shape
    return min(h, w)


def _class(raw: object, what: str) -> int | None:
    try:
        return check_class(raw, what)
    except AttributionError as err:
        raise InvalidValue(str(err)) from None


def _layer(raw: object) -> str:
    maps = get_services().desc.map_layers
    if raw not in maps:
        listed = ", ".join(maps) or "none"
        raise InvalidValue(f"{raw!r} is not a map layer of this model (map layers: {listed})")
    return str(raw)


def check_drawn(code: object) -> str:
    """A drawn digit's code (`cnn_core.data.drawing`) that fits the model, else `InvalidValue`."""
    try:
        return str(digits.drawn_choice(code)["code"])
    except DrawingError as err:
        raise InvalidValue(str(err)) from None


def _contrast(raw: object, view: AttributionView) -> int | None:
    value = _class(raw, "contrast class")
    if value is not None and value == view.target:
        raise InvalidValue(f"the contrast class must differ from the target ({value})")
    return value


@dataclass(frozen=True)
class AttributionView(UrlView):
    """Everything the URL holds. `target` None: the model's prediction; `contrast` None: no
    contrast; `layer` defaults to the model's last map layer (`defaults`)."""

    split: str = "test"
    index: int = 0
    target: int | None = None
    contrast: int | None = None
    cmap: str = imaging.DEFAULT_COLORMAP
    opacity: float = 0.5
    background: str = "image"
    steps: int = MethodOptions.steps
    baseline: str = MethodOptions.baseline
    samples: int = MethodOptions.samples
    noise: float = MethodOptions.noise
    layer: str = ""
    window: int = MethodOptions.window
    stride: int = MethodOptions.stride
    drawn: str = ""  # a drawn digit's code: shown instead of the dataset digit

    PARSERS: ClassVar[dict[str, Any]] = {
        "split": lambda raw, _view: digits.check_split(raw),
        "index": lambda raw, view: digits.check_index(raw, view.split),
        "target": lambda raw, _view: _class(raw, "target class"),
        "contrast": _contrast,
        "cmap": lambda raw, _view: imaging.check_colormap(raw),
        "opacity": lambda raw, _view: number(raw, "opacity", *OPACITY_RANGE),
        "background": lambda raw, _view: choice(raw, "background", BACKGROUNDS),
        "steps": lambda raw, _view: whole_number(raw, "IG steps", *int_limits("steps")),
        "baseline": lambda raw, _view: choice(raw, "IG baseline", BASELINES),
        "samples": lambda raw, _view: whole_number(
            raw, "SmoothGrad samples", *int_limits("samples")
        ),
        "noise": lambda raw, _view: number(raw, "SmoothGrad noise", *LIMITS["noise"]),
        "layer": lambda raw, _view: _layer(raw),
        "window": lambda raw, _view: whole_number(raw, "occlusion window", 1, max_window()),
        "stride": lambda raw, view: whole_number(raw, "occlusion stride", 1, view.window),
        "drawn": lambda raw, _view: check_drawn(raw),
    }

    @classmethod
    def defaults(cls) -> AttributionView:
        """Test image 0, its predicted class, Grad-CAM on the model's last convolution (the
        seed's Conv2D_3; its last map layer if it has no convolution)."""
        return cls(layer=get_services().desc.last_conv_layer or "")

    @classmethod
    def from_controls(
        cls, choice: object, last_split: object = None, last_index: object = None, **controls
    ) -> AttributionView:
        """The controls as a view; raises `InvalidValue` naming the first bad control.

        While an upload is shown, the URL keeps the dataset digit of the picker's split and
        index (`last_split`, `last_index`): what the page returns to.
        """
        if isinstance(choice, dict) and choice.get("kind") == "dataset":
            split = digits.check_split(choice.get("split"))
            index = digits.check_index(choice.get("index"), split)
        else:
            try:
                split = digits.check_split(last_split)
                index = digits.check_index(last_index, split)
            except InvalidValue:
                split, index = cls.split, cls.index
        drawn = ""
        if isinstance(choice, dict) and choice.get("kind") == digits.DRAWN:
            drawn = check_drawn(choice.get("code"))
        view = dataclasses.replace(cls.defaults(), split=split, index=index, drawn=drawn)
        for name in cls.params()[2:-1]:
            if name == "layer" and not get_services().desc.map_layers:
                continue  # no Grad-CAM on this model: the (empty) layer control is ignored
            view = dataclasses.replace(view, **{name: cls.PARSERS[name](controls[name], view)})
        return view

    @property
    def options(self) -> MethodOptions:
        """The methods' options of this view."""
        return MethodOptions(
            steps=self.steps,
            baseline=self.baseline,
            samples=self.samples,
            noise=self.noise,
            layer=self.layer or None,
            window=self.window,
            stride=self.stride,
        )
