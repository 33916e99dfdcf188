"""The timeline view: which digit, layer, epoch, pair of classes and OIP units; kept in the URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from app import digits
from app.components.urlview import UrlView
from app.components.validate import InvalidValue, text, whole_number
from app.services import check_layer, get_services
from app.timeline_runs import MAX_STEPS, MAX_UNITS
from cnn_core import imaging
from cnn_core.explain.compare import check_class


def timeline_epochs() -> list[int]:
    """The epochs of the served model's checkpoints ([] when it has none or they are broken)."""
    try:
        timeline = get_services().timeline()
    except ValueError:
        return []
    return timeline.epochs if timeline is not None else []


def check_epoch(raw: object) -> int:
    """An epoch that has a checkpoint, else `InvalidValue`."""
    epochs = timeline_epochs()
    value = whole_number(raw, "epoch", 0, 100_000)
    if epochs and value not in epochs:
        raise InvalidValue(f"no checkpoint of epoch {value}: epochs {epochs[0]}-{epochs[-1]}")
    return value


def check_map_layer(raw: object) -> str:
    layer = check_layer(raw)
    if layer not in get_services().desc.map_layers:
        raise InvalidValue(f"{layer} has no maps; OIPs over epochs take a map layer")
    return layer


def parse_units(raw: object, layer: str) -> tuple[int, ...]:
    """Units typed by a person: "0-7", "0, 3, 17", "4 5 9-11"; each within the layer.

    Raises:
        InvalidValue: not numbers, out of the layer's range, none, or more than `MAX_UNITS`.
    """
    units: list[int] = []
    size = get_services().desc.units(layer)
    for token in text(raw, 200).replace(",", " ").split():
        low, _, high = token.partition("-")
        try:
            span = range(int(low), int(high or low) + 1)
        except ValueError:
            raise InvalidValue(f"units: {token!r} is not a number or a range like 0-7") from None
        for unit in span:
            if not 0 <= unit < size:
                raise InvalidValue(f"unit {unit} is out of range: {layer} has units 0-{size - 1}")
            if unit not in units:
                units.append(unit)
    if not units:
        raise InvalidValue("units: give at least one, e.g. 0-7")
    if len(units) > MAX_UNITS:
        raise InvalidValue(f"units: at most {MAX_UNITS} at once, got {len(units)}")
    return tuple(units)


def units_text(units: tuple[int, ...]) -> str:
    """(0, 1, 2, 3, 7) -> "0-3 7"."""
    parts, start = [], None
    for i, unit in enumerate(units):
        if start is None:
            start = unit
        if i + 1 == len(units) or units[i + 1] != unit + 1:
            parts.append(str(start) if start == unit else f"{start}-{unit}")
            start = None
    return " ".join(parts)


@dataclass(frozen=True)
class TimelineView(UrlView):
    """Everything the URL holds; layers, epoch and pair default from the model (`defaults`)."""

    split: str = "test"
    index: int = 0
    layer: str = ""
    epoch: int = 0
    cmap: str = imaging.DEFAULT_COLORMAP
    a: int = 0
    b: int = 1
    oip_layer: str = ""
    units: str = "0-7"
    steps: int = 200

    PARSERS: ClassVar[dict[str, Any]] = {
        "split": lambda raw, _view: digits.check_split(raw),
        "index": lambda raw, view: digits.check_index(raw, view.split),
        "layer": lambda raw, _view: check_layer(raw),
        "epoch": lambda raw, _view: check_epoch(raw),
        "cmap": lambda raw, _view: imaging.check_colormap(raw),
        "a": lambda raw, _view: check_class(raw, get_services().desc.num_classes),
        "b": lambda raw, _view: check_class(raw, get_services().desc.num_classes),
        "oip_layer": lambda raw, _view: check_map_layer(raw),
        "units": lambda raw, view: units_text(parse_units(raw, view.oip_layer)),
        "steps": lambda raw, _view: whole_number(raw, "steps", 10, MAX_STEPS),
    }

    @classmethod
    def defaults(cls) -> TimelineView:
        """Test image 0, the model's first layer at its last epoch, compare's pair of classes,
        OIPs of the first 8 maps of the last map layer."""
        services = get_services()
        desc = services.desc
        epochs = timeline_epochs()
        last_map = desc.last_map_layer or desc.names[0]
        a, b = services.compare_pair
        units = units_text(tuple(range(min(8, desc.units(last_map)))))
        return cls(
            layer=desc.names[0],
            epoch=epochs[-1] if epochs else 0,
            a=a,
            b=b,
            oip_layer=last_map,
            units=units,
        )
