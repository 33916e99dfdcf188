"""The compare page's view: classes, examples, layer, threshold, colours; kept in the URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from app.comparison import DRAWN_SEPARATOR, check_drawn, num_classes
from app.components.urlview import UrlView
from app.components.validate import InvalidValue, choice, number, whole_number
from app.services import check_layer, get_services
from cnn_core import imaging
from cnn_core.explain.compare import DEFAULT_THRESHOLD, EXAMPLE_KINDS, CompareError, check_class


def _threshold(raw: object) -> float:
    try:
        return number(raw, "threshold", 0.0, 1.0)
    except InvalidValue:
        raise InvalidValue(f"{raw!r} is not between 0 and 1") from None


def _drawn(raw: object) -> str:
    """A side's drawn digits in the URL: codes joined by `DRAWN_SEPARATOR` (checked)."""
    if not isinstance(raw, str):
        raise InvalidValue("expected drawn-digit codes")
    try:
        return DRAWN_SEPARATOR.join(check_drawn(raw))
    except CompareError as err:
        raise InvalidValue(str(err)) from None


@dataclass(frozen=True)
class CompareView(UrlView):
    """What the page shows. Classes and layer depend on the model: `defaults()`."""

    a: int = 0
    b: int = 1
    n: int = 3
    kind: str = "clear"
    kind_b: str = "clear"
    layer: str = ""
    threshold: float = DEFAULT_THRESHOLD
    cmap: str = imaging.DEFAULT_COLORMAP
    ia: str = ""  # typed test indices of class a ("12, 40, 77"), checked when compared
    ib: str = ""
    da: str = ""  # drawn digits of side a: codes (`cnn_core.data.drawing`) joined by "."
    db: str = ""

    PARSERS: ClassVar[dict[str, Any]] = {
        "a": lambda raw, _view: check_class(raw, num_classes()),
        "b": lambda raw, _view: check_class(raw, num_classes()),
        "n": lambda raw, _view: whole_number(raw, "n"),
        "kind": lambda raw, _view: choice(raw, "kind", EXAMPLE_KINDS),
        "kind_b": lambda raw, _view: choice(raw, "kind", EXAMPLE_KINDS),
        "layer": lambda raw, _view: check_layer(raw),
        "threshold": lambda raw, _view: _threshold(raw),
        "cmap": lambda raw, _view: imaging.check_colormap(raw),
        "da": lambda raw, _view: _drawn(raw),
        "db": lambda raw, _view: _drawn(raw),
    }

    @classmethod
    def defaults(cls) -> CompareView:
        """The pair the model opens with (`Services.compare_pair`: 4 and 9 for the seed) at its
        last map layer (its last layer if it has none)."""
        services = get_services()
        a, b = services.compare_pair
        desc = services.desc
        return cls(a=a, b=b, layer=desc.last_map_layer or desc.logits_layer)
