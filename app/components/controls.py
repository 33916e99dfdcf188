"""Small form controls every page builds the same way."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dash_bootstrap_components as dbc

from cnn_core import imaging


def radio(control_id: str, values: Iterable[str], value: Any, **kwargs: Any) -> dbc.RadioItems:
    """Inline radio buttons, one per value, labelled with the value itself."""
    options = [{"label": v, "value": v} for v in values]
    return dbc.RadioItems(id=control_id, options=options, value=value, inline=True, **kwargs)


def colormap_radio(control_id: str, value: str, **kwargs: Any) -> dbc.RadioItems:
    """The colormap control: every colormap (jet, the seed's, too) one click away."""
    return radio(control_id, imaging.COLORMAPS, value, **kwargs)
