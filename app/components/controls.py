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


def number_input(
    control_id: str, value: Any, lo: float, hi: float, *, step: float | str = 1, width: str = "6em"
) -> dbc.Input:
    """A small number field for a value in `lo..hi` (`step` "any" for real numbers), sent
    when the user is done typing."""
    return dbc.Input(
        id=control_id,
        type="number",
        value=value,
        min=lo,
        max=hi,
        step=step,
        debounce=True,
        size="sm",
        style={"maxWidth": width},
    )


def colormap_radio(control_id: str, value: str, **kwargs: Any) -> dbc.RadioItems:
    """The colormap control: every colormap (jet, the seed's, too) one click away."""
    return radio(control_id, imaging.COLORMAPS, value, **kwargs)
