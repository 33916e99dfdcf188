"""What each page shows once its callbacks have drawn it: one CSS selector per page, waited for
by the tests that open every page (accessibility, plotly bundle)."""

from __future__ import annotations

from app import ids

#: page path -> an element that is there once the page's first callbacks have drawn it
READY = {
    "/": f"#{ids.MODEL_CONFUSION} .heatmaplayer",
    "/activations": f"#{ids.ACT_GRID} .heatmaplayer",
    "/compare": ".compare-grid-a .scatterlayer .point",
    "/attribution": f"#{ids.ATTR_FIGURE} .heatmaplayer",
    "/timeline": ".js-plotly-plot .heatmaplayer",
    "/oip": f"#{ids.OIP_START}",
}
