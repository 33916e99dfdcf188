"""Plotly figures built from `cnn_core` arrays. One builder per kind of figure, shared by pages."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

CLASS_LABELS = [str(k) for k in range(10)]
MARGIN = dict(l=40, r=10, t=40, b=40)


def confusion_matrix_figure(
    cm: np.ndarray, title: str = "Confusion matrix (test split)"
) -> go.Figure:
    """Heatmap of a `(10, 10)` int confusion matrix, rows = true class, counts written in cells.

    Colours are row-normalized (share of each true class), so errors stand out next to the
    large diagonal; hover shows both the count and the share.
    """
    cm = np.asarray(cm, dtype=np.int64)
    totals = np.maximum(cm.sum(axis=1, keepdims=True), 1)
    share = cm / totals
    fig = go.Figure(
        go.Heatmap(
            z=np.sqrt(share),  # sqrt spreads the small off-diagonal shares over more colours
            x=CLASS_LABELS,
            y=CLASS_LABELS,
            text=cm,
            texttemplate="%{text}",
            customdata=share * 100,
            hovertemplate="true %{y}, predicted %{x}: %{text} digits (%{customdata:.1f}%)"
            "<extra></extra>",
            colorscale="Blues",
            showscale=False,
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        title=title,
        margin=MARGIN,
        xaxis=dict(title="predicted class", side="bottom", type="category"),
        yaxis=dict(title="true class", autorange="reversed", type="category", scaleanchor="x"),
        plot_bgcolor="white",
    )
    return fig


def training_curves_figure(history: dict[str, Sequence[float]]) -> go.Figure:
    """Loss and accuracy per epoch, train and test, as two panels side by side."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    epochs = list(history["epoch"])
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for split, dash in (("train", "solid"), ("test", "dot")):
            key = metric if split == "train" else f"test_{metric}"
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=list(history[key]),
                    name=f"{split} {metric}",
                    mode="lines+markers",
                    line=dict(dash=dash),
                    marker=dict(size=4),
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title="Training curves", margin=MARGIN, legend=dict(orientation="h", y=-0.25))
    return fig
