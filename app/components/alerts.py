"""The page messages: one alert for URL parameters that were not understood, one for errors."""

from __future__ import annotations

from collections.abc import Sequence

import dash_bootstrap_components as dbc
from dash import html


def url_problems_alert(problems: Sequence[str]) -> dbc.Alert | None:
    """A warning naming each bad or unknown URL parameter, or None when there is none."""
    if not problems:
        return None
    return dbc.Alert(
        [html.Strong("Some URL parameters were not understood: ")]
        + [html.Div(problem) for problem in problems]
        + [html.Div("Showing the defaults for those instead.", className="small")],
        color="warning",
        dismissable=True,
        className="url-problems",
    )


def message(text: str, color: str = "warning") -> dbc.Alert:
    """A dismissable one-line message (a bad control value, a file that cannot be used...)."""
    return dbc.Alert(text, color=color, dismissable=True, className="py-2")
