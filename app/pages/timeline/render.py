"""The timeline's figures and pictures, from core arrays (no callbacks here)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from dash import html

from app import figures
from app.components.pictures import png_src
from cnn_core import imaging

SETTLED_TEXT = (
    "Each row is one unit; each cell, how much its OIP at that epoch looks like its OIP at the "
    "end (correlation, 1 = the same pattern). A row that turns bright early belongs to a unit "
    "that found its pattern early and then only sharpened it."
)


def epoch_marks(epochs: Sequence[int]) -> dict[int, str]:
    """Slider marks: every epoch, labelled every few so that they stay readable."""
    every = max(1, len(epochs) // 10)
    return {
        e: (str(e) if i % every == 0 or i == len(epochs) - 1 else "") for i, e in enumerate(epochs)
    }


def accuracy_figure(epochs: Sequence[int], accuracy: Sequence[float], epoch: int) -> go.Figure:
    """Test accuracy per epoch with the chosen epoch marked."""
    fig = go.Figure(
        [
            go.Scatter(
                x=list(epochs), y=list(accuracy), mode="lines+markers", name="test accuracy",
                hovertemplate="epoch %{x}: %{y:.2%}<extra></extra>",
            ),
            go.Scatter(
                x=[epoch], y=[accuracy[list(epochs).index(epoch)]], mode="markers",
                marker=dict(size=14, symbol="diamond", color="#d62728",
                            line=dict(width=2, color="black")),
                name=f"epoch {epoch}", hovertemplate="epoch %{x}: %{y:.2%}<extra></extra>",
            ),
        ]
    )  # fmt: skip
    fig.update_layout(
        title="Test accuracy", xaxis_title="epoch", yaxis=dict(tickformat=".0%"),
        margin=figures.MARGIN, height=300, showlegend=False,
    )  # fmt: skip
    return fig


def pair_figure(
    epochs: Sequence[int], a_as_b: Sequence[int], b_as_a: Sequence[int], names: tuple[str, str],
    epoch: int,
) -> go.Figure:  # fmt: skip
    """How often class a is taken for b and b for a, per epoch, the chosen epoch marked."""
    a, b = names
    fig = go.Figure(
        [
            go.Scatter(x=list(epochs), y=list(a_as_b), mode="lines+markers",
                       name=f'"{a}" taken for "{b}"'),
            go.Scatter(x=list(epochs), y=list(b_as_a), mode="lines+markers",
                       name=f'"{b}" taken for "{a}"', line=dict(dash="dot")),
        ]
    )  # fmt: skip
    fig.add_vline(x=epoch, line=dict(color="#d62728", width=2))
    fig.update_layout(
        title=f'Confusions of "{a}" and "{b}" (test split)', xaxis_title="epoch",
        yaxis_title="test images", margin=figures.MARGIN, height=300,
        legend=dict(orientation="h", y=-0.3),
    )  # fmt: skip
    return fig


def settled_figure(settled: np.ndarray, epochs: Sequence[int], units: Sequence[int]) -> go.Figure:
    """`(units, epochs)` correlations with the final OIP as a heatmap."""
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(settled, dtype=np.float32), x=list(epochs), y=[f"unit {u}" for u in units],
            zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
            colorbar=dict(title="r", thickness=12),
            hovertemplate="%{y}, epoch %{x}: r = %{z:.2f}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        title="When each unit settled: its OIP's correlation with its final OIP",
        xaxis_title="epoch", yaxis=dict(autorange="reversed"), margin=figures.MARGIN,
        height=120 + 22 * len(units),
    )  # fmt: skip
    return fig


def oip_strip(images: np.ndarray, values: np.ndarray, units: Sequence[int], layer: str, epoch: int,
              cmap: str) -> list:  # fmt: skip
    """One picture per unit (its OIP at `epoch`), captioned with unit and objective."""
    out = []
    for image, value, unit in zip(images, values, units, strict=True):
        rgb = imaging.oip_picture(image, "plain", cmap).repeat(3, axis=0).repeat(3, axis=1)
        out.append(
            html.Figure(
                [
                    html.Img(src=png_src(rgb), alt=f"OIP of {layer} map {unit} at epoch {epoch}"),
                    html.Figcaption(f"map {unit}: {value:.2f}", className="small text-muted"),
                ],
                className="d-inline-block me-2 mb-1 text-center",
            )
        )
    return out
