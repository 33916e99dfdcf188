"""The user's colormap, kept across pages and visits in the browser's local storage.

The app's layout holds one store, `ids.COLORMAP_CHOICE` (`storage_type="local"`): the colormap
last chosen on any page. A page with a colormap control puts `keeper(page, named)` in its
layout and calls `remember(callbacks, control_id, page)` once: when the page opens and its
address does not name a colormap (`cmap=`), the control takes the stored one; whenever the
control changes, the store follows. An address that names a colormap wins, so a shared link
(`cmap=jet`) shows what was shared; only the default (`imaging.DEFAULT_COLORMAP`) gives way.
"""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, dcc, no_update

from app import ids
from app.components.registry import CallbackSet
from cnn_core import imaging


def store() -> dcc.Store:
    """The app-wide store of the chosen colormap (put once in the app's layout)."""
    return dcc.Store(id=ids.COLORMAP_CHOICE, storage_type="local")


def keeper_id(page: str) -> dict[str, str]:
    return {"type": "colormap-keeper", "page": page}


def keeper(page: str, named: bool) -> dcc.Store:
    """A page's note of whether its address named the colormap (`named`: the URL wins)."""
    return dcc.Store(id=keeper_id(page), data={"named": bool(named)})


def stored_choice(named: object, stored: object, current: object) -> Any:
    """The control's new value on opening the page: the stored colormap unless the address
    named one, the stored one is unknown, or the control shows it already (`no_update`)."""
    if isinstance(named, dict) and named.get("named"):
        return no_update
    if stored not in imaging.COLORMAPS or stored == current:
        return no_update
    return stored


def remember(callbacks: CallbackSet, control_id: str, page: str) -> None:
    """Declare the two callbacks tying the page's control `control_id` to the stored choice."""
    callbacks.callback(
        Output(control_id, "value"),
        Input(keeper_id(page), "data"),
        State(ids.COLORMAP_CHOICE, "data"),
        State(control_id, "value"),
    )(stored_choice)

    def keep(value: object) -> Any:
        return value if value in imaging.COLORMAPS else no_update

    callbacks.callback(
        Output(ids.COLORMAP_CHOICE, "data", allow_duplicate=True),
        Input(control_id, "value"),
        prevent_initial_call=True,
    )(keep)
