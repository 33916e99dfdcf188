"""Figures as a callback sends them: Plotly's typed arrays read back into NumPy arrays."""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go


def array(value) -> np.ndarray:
    """A figure array as Dash sends it: a list, or Plotly's typed array (dtype, bdata, shape)."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = [int(n) for n in str(value.get("shape", len(flat))).split(",")]
        return flat.reshape(shape)
    return np.asarray(value)


def as_figure(figure):
    """A wired figure dict (`app.figures.wire`) as a validated `go.Figure` whose trace arrays
    are NumPy arrays again (as `activation_grid_figure` returns them); anything else (a
    `go.Figure`, Dash's `no_update`) is returned as it is. Raises ValueError on anything Plotly
    does not accept."""
    if not isinstance(figure, dict):
        return figure
    data = [
        {key: array(value) if isinstance(value, dict) and "bdata" in value else value
         for key, value in trace.items()}
        for trace in figure["data"]
    ]  # fmt: skip
    return go.Figure(data=data, layout=figure["layout"])
