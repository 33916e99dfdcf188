"""Optimal input patterns (article VII): batched gradient ascent on the input image.

>>> engine = OipEngine(load_trained())
>>> result = engine.run([MapMean("Conv2D_3", 17), ClassLogit(4) - ClassLogit(9)], seeds=[0, 1])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cnn_core.oip.objectives import ClassLogit, MapMean, Node, Objective, OipError, Term
from cnn_core.oip.options import AscentOptions

if TYPE_CHECKING:
    from cnn_core.oip.ascent import (
        OipEngine,
        OipProgress,
        OipResult,
        default_method,
        default_options,
        engine_for,
        method_options,
        objectives_for,
        optimize_maps,
    )
    from cnn_core.oip.init import long_range_noise, pixel_noise, starting_images
    from cnn_core.oip.trust import TrustReport, trust_report

#: The names that need TensorFlow: imported at their first use, so that what needs only the
#: objectives and options (`cnn-lens oip`'s parser, a usage error) does not load it.
_LAZY = {
    **dict.fromkeys(
        (
            "OipEngine", "OipProgress", "OipResult", "default_method", "default_options",
            "engine_for", "method_options", "objectives_for", "optimize_maps",
        ),
        "cnn_core.oip.ascent",
    ),
    **dict.fromkeys(("long_range_noise", "pixel_noise", "starting_images"), "cnn_core.oip.init"),
    **dict.fromkeys(("TrustReport", "trust_report"), "cnn_core.oip.trust"),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "AscentOptions",
    "ClassLogit",
    "MapMean",
    "Node",
    "Objective",
    "OipEngine",
    "OipError",
    "OipProgress",
    "OipResult",
    "Term",
    "TrustReport",
    "default_method",
    "default_options",
    "engine_for",
    "long_range_noise",
    "method_options",
    "objectives_for",
    "optimize_maps",
    "pixel_noise",
    "starting_images",
    "trust_report",
]
