"""Links between pages: the one place that knows how an address into the explorer is written."""

from __future__ import annotations

from urllib.parse import urlencode

EXPLORER_PATH = "/activations"


def explorer_href(
    index: int, split: str = "test", layer: str | None = None, cmap: str | None = None
) -> str:
    """The activation explorer showing digit `index` of `split` (at `layer`, in `cmap`)."""
    params = {"split": split, "index": int(index), "layer": layer, "cmap": cmap}
    return EXPLORER_PATH + "?" + urlencode({k: v for k, v in params.items() if v is not None})
