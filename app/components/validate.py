"""The validators every page, URL view and job request uses: whole numbers, numbers, choices.

Values come from URLs, controls and crafted requests: anything (text, numbers, lists, None).
Each check returns the typed value or raises `InvalidValue` with a message naming the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable


class InvalidValue(ValueError):
    """A value (from a URL, a control or a request) that cannot be used; the message says why."""


#: A whole number typed as text: ASCII digits (not "٣"), an optional minus, under 12 digits.
_WHOLE = re.compile(r"-?[0-9]{1,11}")


def whole_number(value: object, what: str, lo: int | None = None, hi: int | None = None) -> int:
    """`value` as an int (an int, an integral float, or digits in text), within `lo..hi`.

    Raises:
        InvalidValue: "`what` 'x' is not a whole number" or "`what` must be between lo and hi".
    """
    if value is None or value == "":  # a number field left empty, or out of its range
        raise InvalidValue(_missing(what, lo, hi, "a whole number"))
    if isinstance(value, bool):
        raise InvalidValue(f"{what} {value!r} is not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():  # 2.0 yes; 2.5, NaN, ±inf no
        number = int(value)
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):  # ASCII digits only
        number = int(value.strip())
    else:
        raise InvalidValue(f"{what} {value!r} is not a whole number")
    return in_range(number, what, lo, hi)


def point_value(click: object, key: str, what: str = "click") -> object:
    """The `key` of the first point of a Plotly click (`clickData`) that has one, as sent, or
    `InvalidValue` (no points, points that are not objects, none with `key`). Check the value
    itself with `whole_number` or `number`."""
    points = click.get("points") if isinstance(click, dict) else None
    for point in points if isinstance(points, list) else ():
        if isinstance(point, dict) and key in point:
            return point[key]
    raise InvalidValue(f"{what}: the click names no point")


def number(value: object, what: str, lo: float | None = None, hi: float | None = None) -> float:
    """`value` as a finite float (a number or numeric text), within `lo..hi`.

    Raises:
        InvalidValue: "`what` 'x' is not a number" or "`what` must be between lo and hi".
    """
    if value is None or value == "":  # a number field left empty, or out of its range
        raise InvalidValue(_missing(what, lo, hi, "a number"))
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidValue(f"{what} {value!r} is not a number")
    try:
        result = float(value) if not isinstance(value, str) or len(value) < 40 else math.nan
    except (ValueError, OverflowError):  # text that is no number; an int beyond any float
        result = math.nan
    if not math.isfinite(result):
        raise InvalidValue(f"{what} {value!r} is not a number")
    return in_range(result, what, lo, hi)


def _missing(what: str, lo: float | None, hi: float | None, kind: str) -> str:
    """The message for an empty field: a browser empties a number field whose value is out of
    its min..max, so say the range (never "None")."""
    if lo is not None and hi is not None:
        return f"{what}: type {kind} from {lo} to {hi}"
    return f"{what}: type {kind}"


def in_range(value, what: str, lo=None, hi=None):
    """`value` if `lo <= value <= hi` (either bound may be None), else `InvalidValue`."""
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if lo is not None and hi is not None:
            raise InvalidValue(f"{what} must be between {lo} and {hi}, got {value}")
        bound = f">= {lo}" if lo is not None else f"<= {hi}"
        raise InvalidValue(f"{what} must be {bound}, got {value}")
    return value


def choice(value: object, what: str, choices: Iterable[str]) -> str:
    """`value` if it is one of `choices`, else `InvalidValue` listing them."""
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        raise InvalidValue(f"unknown {what} {value!r}; choose {', '.join(options)}")
    return value


def text(value: object, limit: int = 1000) -> str:
    """A text box's value as text (a crafted request may send a number, a list or null)."""
    if value is None:
        return ""
    return (value if isinstance(value, str) else str(value))[:limit]
