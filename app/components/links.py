"""Links between pages: the one place that knows how an address into another page is written."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

EXPLORER_PATH = "/activations"
ATTRIBUTION_PATH = "/attribution"


def page_href(path: str, **params: Any) -> str:
    """`path` with the parameters that are not None, in the order given (ints as ints)."""
    given = {k: (int(v) if _is_int(v) else v) for k, v in params.items() if v is not None}
    return path + ("?" + urlencode(given) if given else "")


def _is_int(value: Any) -> bool:
    return hasattr(value, "__index__") and not isinstance(value, bool)


def explorer_href(
    index: int, split: str = "test", layer: str | None = None, cmap: str | None = None
) -> str:
    """The activation explorer showing digit `index` of `split` (at `layer`, in `cmap`)."""
    return page_href(EXPLORER_PATH, split=split, index=index, layer=layer, cmap=cmap)


def attribution_href(
    index: int,
    split: str = "test",
    target: int | None = None,
    contrast: int | None = None,
    cmap: str | None = None,
) -> str:
    """The attribution page explaining digit `index` of `split`: why `target` (default: the
    prediction), rather than `contrast` when given, in `cmap`."""
    return page_href(
        ATTRIBUTION_PATH, split=split, index=index, target=target, contrast=contrast, cmap=cmap
    )
