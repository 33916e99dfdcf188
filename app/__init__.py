"""cnn-lens dashboard: Dash pages over `cnn_core`; `show(model, x=..., y=...)` in a notebook.

Importing `app` stays light (no TensorFlow, no Dash): `show` imports them when it is called.
"""

from __future__ import annotations

from typing import Any

__all__ = ["show"]


def show(model: Any, *args: Any, **kwargs: Any) -> Any:
    """Show the dashboard for a Keras model object in the notebook; returns a handle with
    `.url` and `.stop()`. See `app.notebook.show` for the arguments."""
    from app.notebook import show as show_dashboard

    return show_dashboard(model, *args, **kwargs)
