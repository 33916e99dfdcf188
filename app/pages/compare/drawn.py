"""What the compare page draws for the digits drawn on its picker's canvas: one row per drawn
digit under its side's test digits (the picture, its probabilities, a remove button, its grid
with the side's red and yellow circles), and the picker's "which side" choice."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from app import ids
from app.comparison import Comparison, drawn_pixels, probability_lines
from app.components.links import ATTRIBUTION_PATH, page_href
from app.components.pictures import digit_src
from app.digits import noun
from app.pages.compare.render import example_row, markers_for
from app.services import get_services

#: The class of a drawn digit's row on the page (browser tests count them).
ROW_CLASS = "compare-drawn"


def rows(comp: Comparison, side: str, cmap: str) -> list:
    """The rows of one side's drawn digits (none: an empty list)."""
    codes, acts, probas = comp.drawn(side)
    if not codes:
        return []
    cls, other = (comp.a, comp.b) if side == "a" else (comp.b, comp.a)
    name, other_name = (get_services().desc.class_names[k] for k in (cls, other))
    red = comp.red_a if side == "a" else comp.red_b
    markers = markers_for(red, comp.yellow)
    pictures = drawn_pixels(codes)
    out: list = [html.H5(f"Drawn {noun()}s", className="small text-muted mt-2 mb-1")]
    for pos, (code, image, values, proba) in enumerate(
        zip(codes, pictures, acts, probas, strict=True)
    ):
        caption = html.Div(
            [
                html.Img(
                    src=digit_src(image),
                    className="compare-digit border",
                    width=84,
                    height=84,
                    alt=f"drawn {noun()} {pos + 1}",
                ),
                html.Div(f"drawn #{pos + 1}", className="small"),
                html.Div(
                    html.A(
                        "explain this drawing",
                        href=page_href(
                            ATTRIBUTION_PATH, drawn=code, target=cls, contrast=other, cmap=cmap
                        ),
                        title=f'why "{name}" rather than "{other_name}": the attribution page',
                        className=ids.COMPARE_EXPLAIN,
                    ),
                    className="small",
                ),
                html.Div(
                    [html.Div(line) for line in probability_lines(proba, comp.a, comp.b)],
                    className="small compare-proba",
                ),
                dbc.Button(
                    "remove",
                    id={"type": ids.COMPARE_DRAWN_REMOVE, "side": side, "pos": pos},
                    size="sm",
                    color="secondary",
                    outline=True,
                    className="py-0 px-1 mt-1",
                    title=f"take drawn {noun()} {pos + 1} out of side {side.upper()}",
                ),
            ],
            style={"width": "130px"},
            className="text-center",
        )
        out.append(
            example_row(
                caption, values, comp, cmap, markers,
                title=f'{comp.layer}, drawn #{pos + 1} (side "{name}")',
                graph_id={"type": "compare-grid-drawn", "side": side, "pos": pos},
                filename=f"compare_{cls}_vs_{other}_drawn{pos + 1}",
                side=side,
                row_class=ROW_CLASS,
            )
        )  # fmt: skip
    return out


def side_choice(value: str = "a") -> html.Div:
    """Which side a drawn digit joins (a test digit joins its class's side)."""
    return html.Div(
        [
            dbc.Label(
                "a drawing joins side", html_for=ids.COMPARE_PICKER_SIDE, className="small mb-0"
            ),
            dbc.RadioItems(
                id=ids.COMPARE_PICKER_SIDE,
                options=[{"label": "A", "value": "a"}, {"label": "B", "value": "b"}],
                value=value,
                inline=True,
                className="small ms-2",
            ),
        ],
        className="d-flex align-items-center mb-1",
    )
