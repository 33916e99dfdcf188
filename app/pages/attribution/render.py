"""What the attribution page draws for a digit and a view: the maps over the digit with their
deletion curves, the table of methods, the badges, the PNG."""

from __future__ import annotations

import re
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from app import figures
from app.attributions import (
    EXPLANATIONS,
    LABELS,
    SIGNED,
    Explanation,
    background_rgb,
    display_levels,
    explanation_png,
)
from app.digits import Digit
from app.pages.attribution.view import AttributionView
from app.services import get_services


def class_name(k: int) -> str:
    return get_services().desc.class_names[k]


def class_options() -> list[dict[str, Any]]:
    """One option per class, labelled with the model's class names."""
    names = get_services().desc.class_names
    return [
        {"label": name if name == str(k) else f"{k}: {name}", "value": k}
        for k, name in enumerate(names)
    ]


def question(result: Explanation) -> str:
    """`why "7"` or `why "4" rather than "9"`."""
    text = f'why "{class_name(result.target)}"'
    if result.contrast is not None:
        text += f' rather than "{class_name(result.contrast)}"'
    return text


def digit_info(digit: Digit, result: Explanation) -> list:
    """Badges: the true class (when known), the prediction, the class explained."""
    predicted = result.predicted
    badges: list = [html.Div(html.Strong(digit.description), className="small mb-1")]
    if digit.label is not None:
        badges.append(dbc.Badge(f"true {class_name(digit.label)}", color="secondary"))
    right = digit.label is None or digit.label == predicted
    badges.append(
        dbc.Badge(
            f"predicted {class_name(predicted)} ({result.proba[predicted]:.1%})",
            color="success" if right else "danger",
            className="ms-1",
        )
    )
    what = "the prediction" if result.target == predicted else "not the prediction"
    badges.append(
        html.Div(
            [html.Strong(question(result)), f" ({class_name(result.target)} is {what})"],
            className="small mt-1",
        )
    )
    return badges


def figure(digit: Digit, result: Explanation, view: AttributionView) -> Any:
    """The maps over the digit, each above its deletion curve."""
    curves = result.curves
    followed = f'P("{class_name(result.target)}")'
    return figures.attribution_figure(
        background_rgb(digit.image, grey=view.background == "grey"),
        display_levels(result.maps),
        result.maps,
        [LABELS[m] for m in result.methods],
        curves.fractions,
        curves.probabilities,
        curves.random_probabilities,
        curves.areas,
        curves.random_areas,
        colormap=view.cmap,
        opacity=view.opacity,
        title=f"{digit.description}: {question(result)}",
        followed=followed,
    )


def table(result: Explanation, view: AttributionView) -> html.Table:
    """One row per method: what it shows, its settings, its deletion area against random's."""
    settings = {
        "saliency": "",
        "smoothgrad": f"{view.samples} samples, noise {view.noise:g}",
        "integrated_gradients": f"{view.steps} steps, {view.baseline} baseline",
        "gradcam": f"layer {view.layer}",
        "occlusion": f"window {view.window}, stride {view.stride}",
    }
    rows = []
    for k, method in enumerate(result.methods):
        curve = result.curves[k]
        shown = " Drawn: its positive part (evidence for)." if method in SIGNED else ""
        rows.append(
            html.Tr(
                [
                    html.Td(html.Strong(LABELS[method])),
                    html.Td([EXPLANATIONS[method], html.Span(shown, className="text-muted")]),
                    html.Td(settings[method], className="text-muted text-nowrap"),
                    html.Td(
                        f"{curve.area:.3f}",
                        className="text-end attr-area",
                        **{"data-method": method},
                    ),
                    html.Td(f"{curve.random_area:.3f}", className="text-end text-muted"),
                    html.Td(f"{curve.ratio:.2f}", className="text-end"),
                ]
            )
        )
    head = html.Thead(
        html.Tr(
            [
                html.Th("method"),
                html.Th("what the map shows"),
                html.Th("settings"),
                html.Th("deletion area", className="text-end"),
                html.Th("random", className="text-end"),
                html.Th("ratio", className="text-end"),
            ]
        )
    )
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, className="small mb-1")


def outputs(digit: Digit, result: Explanation, view: AttributionView) -> dict[str, Any]:
    """Every output of the page's main callback."""
    return dict(
        figure=figure(digit, result, view),
        table=table(result, view),
        digit_info=digit_info(digit, result),
        query=view.query(),
        message=None,
    )


def png(digit: Digit, result: Explanation, view: AttributionView) -> bytes:
    return explanation_png(
        result,
        digit.image,
        colormap=view.cmap,
        opacity=view.opacity,
        grey=view.background == "grey",
        title=f"{digit.description}: {question(result)} (maps over the image, deletion areas "
        "below: lower = more faithful)",
    )


def png_name(digit: Digit, result: Explanation) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", digit.description)[:60]
    vs = f"_vs_{result.contrast}" if result.contrast is not None else ""
    return f"attribution_{stem}_{result.target}{vs}.png"
