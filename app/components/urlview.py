"""The URL view: what a page shows, read from its address and written back to it.

A page's view is a frozen dataclass deriving from `UrlView`; its fields are the URL parameters,
in the order they are written. `PARSERS` checks each parameter (given the view parsed so far,
so an index can depend on the split); `from_query` gives the typed view with defaults for
missing or bad parameters and one message per bad or unknown parameter (for the alert);
`query()` writes it back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlencode

from app.components.validate import InvalidValue
from cnn_core.explain.compare import CompareError
from cnn_core.imaging import ImagingError
from cnn_core.model.anatomy import UnknownLayerError

V = TypeVar("V", bound="UrlView")

#: What a parser may raise for a bad value; its message goes to the alert.
VIEW_ERRORS: tuple[type[Exception], ...] = (
    InvalidValue,
    UnknownLayerError,
    ImagingError,
    CompareError,
)


@dataclasses.dataclass(frozen=True)
class UrlView:
    """Base of every page's view. Subclasses: frozen dataclasses with defaults for every field.

    Class attributes:
        PARSERS: `{field: parse(raw, view_so_far) -> value}`; a field without a parser is kept
            as text.
        EXTRA_PARAMS: parameters the page reads itself (not fields), e.g. `run` on the OIP page.
        OMIT_EMPTY: leave fields whose value is "" or None out of the query.
    """

    PARSERS: ClassVar[Mapping[str, Callable[[Any, Any], Any]]] = {}
    EXTRA_PARAMS: ClassVar[tuple[str, ...]] = ()
    OMIT_EMPTY: ClassVar[bool] = True

    @classmethod
    def defaults(cls: type[V]) -> V:
        """The view of an address without parameters (override for model-dependent defaults)."""
        return cls()

    @classmethod
    def params(cls) -> tuple[str, ...]:
        """The URL parameters this view holds, in query order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_query(cls: type[V], query: Mapping[str, Any]) -> tuple[V, list[str]]:
        """The typed view of URL parameters, and one message per bad or unknown parameter.

        Each bad parameter falls back to its default; the others are kept.
        """
        view, problems = cls.defaults(), []
        for name in cls.params():
            if name not in query:
                continue
            parse = cls.PARSERS.get(name, lambda raw, _view: str(raw))
            try:
                view = dataclasses.replace(view, **{name: parse(query[name], view)})
            except VIEW_ERRORS as err:
                problems.append(f"{name}: {err}")
        known = set(cls.params()) | set(cls.EXTRA_PARAMS)
        problems += [f"unknown parameter {key!r}" for key in query if key not in known]
        return view, problems

    def omitted(self) -> tuple[str, ...]:
        """Fields this view leaves out of its query (none; a view may leave out fields that
        say nothing in its state, so that older addresses stay the same)."""
        return ()

    def query(self, **extra: Any) -> str:
        """The URL query of this view, e.g. `?split=test&index=312&...`, plus `extra`."""
        skip = self.omitted()
        values = {name: _text(getattr(self, name)) for name in self.params() if name not in skip}
        values.update({k: _text(v) for k, v in extra.items()})
        if self.OMIT_EMPTY:
            values = {k: v for k, v in values.items() if v != ""}
        return "?" + urlencode(values)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)
