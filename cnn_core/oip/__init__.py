"""Optimal input patterns (article VII): batched gradient ascent on the input image.

>>> engine = OipEngine(load_trained())
>>> result = engine.run([MapMean("Conv2D_3", 17), ClassLogit(4) - ClassLogit(9)], seeds=[0, 1])
"""

from cnn_core.oip.ascent import (
    AscentOptions,
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
from cnn_core.oip.objectives import ClassLogit, MapMean, Node, Objective, OipError, Term
from cnn_core.oip.trust import TrustReport, trust_report

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
