"""The explorer view: which digit, which layer, how it is drawn; kept in the URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from app import digits
from app.components.urlview import UrlView
from app.components.validate import InvalidValue, choice, whole_number
from app.services import check_layer, get_services
from cnn_core import imaging
from cnn_core.data.drawing import DrawingError

MAX_PER_ROW = 64
#: Most maps one grid may show (MobileNetV2's last node has 1,280).
MAX_TOP = 4096
INPUT_COLORMAPS = ("gray", "jet")


def check_per_row(per_row: object) -> int:
    """Maps per row as an int in 1..`MAX_PER_ROW`, else `InvalidValue`."""
    return whole_number(per_row, "maps per row", 1, MAX_PER_ROW)


def check_top(top: object) -> int | None:
    """How many maps the grid shows (most active first when a layer has more), 1..`MAX_TOP`;
    empty: the default (`imaging.DEFAULT_TOP`)."""
    if top is None or top == "":
        return None
    value = whole_number(top, "maps shown", 1, MAX_TOP)
    return None if value == imaging.DEFAULT_TOP else value


def check_input_colormap(name: object) -> str:
    return choice(name, "input colormap", INPUT_COLORMAPS)


def check_drawn(code: object) -> str:
    """A drawn digit's pixel code (`cnn_core.data.drawing`) that fits the model, else
    `InvalidValue`."""
    try:
        return str(digits.drawn_choice(code)["code"])
    except DrawingError as err:
        raise InvalidValue(str(err)) from None


@dataclass(frozen=True)
class ExplorerView(UrlView):
    """Everything the URL holds. `layer` defaults to the model's first layer (`defaults`).

    `drawn`: the drawn digit shown, as its model input's compact code (empty: the dataset digit
    `split`/`index` is shown). A shared link with it reopens the drawing.
    `top`: how many maps the grid shows, the most active first when the layer has more (None:
    `imaging.DEFAULT_TOP`, left out of the URL).
    """

    split: str = "test"
    index: int = 0
    layer: str = ""
    cmap: str = imaging.DEFAULT_COLORMAP
    scaling: str = "seed"
    range: str = "layer"
    per_row: int = 8
    drawn: str = ""
    top: int | None = None

    PARSERS: ClassVar[dict[str, Any]] = {
        "split": lambda raw, _view: digits.check_split(raw),
        "index": lambda raw, view: digits.check_index(raw, view.split),
        "layer": lambda raw, _view: check_layer(raw),
        "cmap": lambda raw, _view: imaging.check_colormap(raw),
        "scaling": lambda raw, _view: imaging.check_scaling(raw)[0],
        "range": lambda raw, _view: imaging.check_scaling("seed", raw)[1],
        "per_row": lambda raw, _view: check_per_row(raw),
        "drawn": lambda raw, _view: check_drawn(raw),
        "top": lambda raw, _view: check_top(raw),
    }

    @property
    def shown_maps(self) -> int:
        """How many maps the grid shows at most."""
        return self.top or imaging.DEFAULT_TOP

    @classmethod
    def defaults(cls) -> ExplorerView:
        """Test image 0 at the model's first look (`ModelDescription.first_look_layer`: the
        seed's first layer, a large model's middle convolution)."""
        return cls(layer=get_services().desc.first_look_layer)

    @classmethod
    def from_controls(
        cls,
        choice: object,
        layer: object,
        cmap: object,
        scaling: object,
        color_range: object,
        per_row: object,
        last_split: object = None,
        last_index: object = None,
        top: object = None,
    ) -> ExplorerView:
        """The controls as a view (raises a `VIEW_ERRORS` error for a bad value).

        While an upload or a drawing is shown, the URL keeps the dataset digit of the picker's
        split and index (`last_split`, `last_index`): what the page returns to; a drawing is
        kept too (`drawn`).
        """
        drawn = ""
        if isinstance(choice, dict) and choice.get("kind") == digits.DRAWN:
            drawn = check_drawn(choice.get("code"))
        if isinstance(choice, dict) and choice.get("kind") == "dataset":
            split = digits.check_split(choice.get("split"))
            index = digits.check_index(choice.get("index"), split)
        else:
            try:
                split = digits.check_split(last_split)
                index = digits.check_index(last_index, split)
            except InvalidValue:
                split, index = cls.split, cls.index
        scaling, color_range = imaging.check_scaling(scaling, color_range)  # type: ignore[arg-type]
        return cls(
            split=split,
            index=index,
            layer=check_layer(layer),
            cmap=imaging.check_colormap(cmap),  # type: ignore[arg-type]
            scaling=scaling,
            range=color_range,
            per_row=check_per_row(per_row),
            drawn=drawn,
            top=check_top(top),
        )
