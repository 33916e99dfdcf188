"""What the OIP page draws: live frames and curves, a finished run's two-fold view with its own
prediction and the unit's top test digits, and the clickable gallery of a whole layer."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html

from app import figures, ids
from app.components.links import explorer_href
from app.components.pictures import digit_src, png_src
from app.digits import noun
from app.services import get_services
from cnn_core import imaging
from cnn_core.oip.trust import Verdicts, verdicts

TOP_DIGITS = 9
GALLERY_PER_ROW = 16
GALLERY_CELL_PX = 2
GALLERY_GAP_PX = 2
OIP_SCALE = 6  # screen pixels per OIP pixel (28 px -> 168 px)


#: Said where a result would be compared with real images of a model served alone.
NO_DATA_NOTE = (
    "No data set is loaded, so there are no real images to compare these OIPs with: serve the "
    "model with --data (a folder of images sorted by class, or an .npz)."
)


def oip_rgb(image: np.ndarray, cmap: str, enhanced: bool = False) -> np.ndarray:
    """One OIP `(H, W)` float32 as an enlarged RGB picture (see `imaging.oip_picture`)."""
    rgb = imaging.oip_picture(image, "enhanced" if enhanced else "plain", cmap)
    return rgb.repeat(OIP_SCALE, axis=0).repeat(OIP_SCALE, axis=1)


def images_per_seed(state: dict[str, Any]) -> int:
    """`k`, the images of each seed of a job (`JobSpec.images_per_unit`)."""
    return int(state["spec"].get("images_per_unit", 1))


def image_titles(state: dict[str, Any]) -> list[str]:
    """One title per image of a job, seed-major: "random seed 3", "random seed 4", ...; with
    several images per seed "seed 3 · image 1 of 4", "seed 3 · image 2 of 4", ..."""
    spec, k = state["spec"], images_per_seed(state)
    seeds = [spec["seed"] + i for i in range(spec.get("n_seeds", 1))]
    if k == 1:
        return [f"random seed {seed}" for seed in seeds]
    return [f"seed {seed} · image {j + 1} of {k}" for seed in seeds for j in range(k)]


def per_image(array: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """A job's `(n, k, ...)` array (images, activations, probabilities of `k` images per seed)
    as `(n * k, ...)`, seed-major like `image_titles`; unchanged with one image per seed."""
    array = np.asarray(array)
    return array if images_per_seed(state) == 1 else array.reshape(-1, *array.shape[2:])


def progress(state: dict[str, Any]) -> tuple[int, str]:
    """The progress bar's percentage and label ("120/200") of a job's state."""
    step, steps = int(state.get("step", 0)), int(state.get("steps", 1))
    return round(100 * step / max(steps, 1)), f"{step}/{steps}"


def status_message(state: dict[str, Any]) -> tuple[str, str]:
    """The status line and its colour for a job's state."""
    status = state["status"]
    if status == "error":
        return f"The job failed: {state.get('error')}", "danger"
    if status in ("queued", "running"):
        return f"{state['description']}: {status}…", "info"
    if status == "cancelled":
        return f"Cancelled after {int(state.get('step', 0))} steps.", "secondary"
    cached = " (cached result)" if state.get("cached") else ""
    return f"{state['description']}: done in {state.get('seconds', 0):.1f} s{cached}.", "success"


def frames(
    images: np.ndarray, cmap: str, titles: list[str], what: str = "OIP"
) -> list[html.Figure]:
    """The live images of a single run, side by side with their seeds; `what` names them in
    their alt text ("OIP of Conv2D_3 map 5")."""
    return [
        html.Figure(
            [
                html.Img(
                    src=png_src(oip_rgb(img, cmap), fast=True),
                    alt=f"{what}, {title}, while it is computed",
                    className="oip-frame",
                ),
                html.Figcaption(title, className="small text-muted"),
            ],
            className="d-inline-block me-2 mb-0 text-center",
        )
        for img, title in zip(images, titles, strict=False)
    ]


def live_curve(state: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    """The objective so far, one line per image (`oip_curve_figure` flattens `(T, n, k)`)."""
    return figures.oip_curve_figure(
        arrays["curve_steps"], arrays["curve_values"], image_titles(state)
    )


def final_curve(state: dict[str, Any], arrays: dict[str, np.ndarray], gallery: bool) -> Any:
    """The whole history of a finished run (a gallery: the mean over its maps)."""
    history = arrays["history"]
    names = ["mean of all maps"] if gallery else image_titles(state)
    return figures.oip_curve_figure(
        np.arange(1, len(history) + 1), history, names, mean_only=gallery
    )


def gallery_picture(
    images: np.ndarray, cmap: str, cell_px: int = GALLERY_CELL_PX
) -> tuple[str, imaging.GridLayout]:
    """All OIPs `(n, H, W)` (a colour model: `(n, H, W, 3)`) as one PNG grid, each stretched
    to its own range, and the grid's layout."""
    images = np.asarray(images, dtype=np.float32)
    rgb = imaging.oip_gallery_image(
        images,
        view="plain",
        colormap=cmap,
        per_row=GALLERY_PER_ROW,
        scale=cell_px,
        gap_px=GALLERY_GAP_PX,
    )
    n, height, width = images.shape[:3]
    rows, cols = imaging.grid_shape(n, GALLERY_PER_ROW)
    return png_src(rgb, fast=True), imaging.GridLayout(n, rows, cols, height, width)


def live_gallery(images: np.ndarray, cmap: str) -> html.Img:
    """A running gallery at one screen pixel per OIP pixel (light: it is resent twice a second)."""
    return html.Img(
        src=gallery_picture(images, cmap, cell_px=1)[0],
        alt=f"OIPs of {len(images)} maps, while they are computed",
        className="oip-gallery-live",
    )


#: The trust check's four checks, as the badge names them.
TRUST_CHECKS = ("strength", "robustness", "spectrum", "path")
#: A gallery tile's mark: every check made passed, or one failed (shapes, not colours).
PASS_MARK, FAIL_MARK = "✓", "✗"


def trust_verdicts(arrays: dict[str, np.ndarray]) -> Verdicts | None:
    """The trust check of a finished job's OIPs, read from its result arrays (flat, one per
    image; `app.jobs` stores the measures as `trust_*`), or None where it was not made."""
    try:
        return verdicts(
            arrays["trust_ratio"],
            arrays["trust_robustness"],
            arrays["trust_high_frequency"],
            float(np.asarray(arrays["trust_data_high_frequency"]).ravel()[0]),
            arrays["trust_path_top"],
            arrays["trust_path_random"],
        )
    except (KeyError, IndexError, ValueError):
        return None


def trust_badge(v: Verdicts | None, i: int) -> html.Div | None:
    """OIP `i`'s trust check as a small plain-language badge: how many checks passed, and
    one line per check with ✓ or ✗ (the symbol says it, not only the colour)."""
    if v is None or i >= len(v.clauses):
        return None
    results = (v.beats[i], v.robust[i], v.natural[i], v.path_ok[i])
    items = [
        html.Li(
            [html.Span(PASS_MARK if ok else FAIL_MARK, className="trust-mark me-1"), clause],
            className="trust-ok" if ok else "trust-fail",
        )
        for clause, ok in zip(v.clauses[i], results, strict=True)
        if clause is not None
    ]
    passed, checked = int(v.passed[i]), int(v.checked[i])
    return html.Div(
        [
            html.Div(
                f"trust check: {passed} of {checked} passed",
                className="fw-semibold",
                title="strength against the best real image, robustness to unseen shifts, "
                "scales and rotations, a natural spectrum, the path through an earlier layer",
            ),
            html.Ul(items, className="list-unstyled mb-0"),
        ],
        className="trust-badge small px-2 pb-2",
    )


def trust_marks(v: Verdicts | None) -> tuple[list[str], list[str]] | None:
    """Per gallery tile its mark (`PASS_MARK` or `FAIL_MARK`) and its hover line."""
    if v is None:
        return None
    marks = [PASS_MARK if p == c else FAIL_MARK for p, c in zip(v.passed, v.checked, strict=True)]
    notes = [
        f"trust {p}/{c}: {summary}"
        for p, c, summary in zip(v.passed, v.checked, v.summaries, strict=True)
    ]
    return marks, notes


def trust_line(v: Verdicts | None) -> str | None:
    """One sentence over a gallery's trust checks, or None without them."""
    if v is None or not len(v.passed):
        return None
    n = len(v.passed)
    counts = [
        f"{int(v.robust.sum())} robust",
        f"{int(v.natural.sum())} with a natural spectrum",
    ]
    if v.made[:, 3].any():
        counts.append(f"{int(v.path_ok.sum())} on the real images' path")
    whole = int((v.passed == v.checked).sum())
    return (
        f"Trust check: {whole} of {n} OIPs pass every check ({PASS_MARK}; {FAIL_MARK}: one "
        f"failed, hover a map to see which); {', '.join(counts)}."
    )


def _seed_card(
    img: np.ndarray,
    probs: np.ndarray,
    title: str,
    cmap: str,
    width: int,
    what: str = "OIP",
    badge: html.Div | None = None,
) -> dbc.Col:
    """One seed's result: plain and enhanced OIP, the model's prediction of it, its bars;
    `what` names the images in their alt text ("OIP of Conv2D_3 map 5, random seed 0")."""
    predicted = int(np.argmax(probs))
    names = get_services().desc.class_names
    pictures = [
        html.Img(
            src=png_src(oip_rgb(img, cmap, enhanced=enhanced)),
            alt=what + (", contrast-enhanced" if enhanced else ""),
            className="oip-result",
        )
        for enhanced in (False, True)
    ]
    return dbc.Col(
        dbc.Card(
            [
                dbc.CardHeader(title, className="small"),
                html.Div(pictures, className="text-center pt-2"),
                html.Div(
                    f"the OIP's own prediction: {names[predicted]} ({probs[predicted]:.1%})",
                    className="small text-center mt-2",
                ),
                dcc.Graph(
                    figure=figures.probabilities_figure(probs, class_names=names),
                    config=figures.graph_config(mode_bar=False),
                    style={"height": "180px"},
                ),
                *([badge] if badge is not None else []),
            ],
            className="h-100",
        ),
        md=width,
        className="mb-2",
    )


def _top_digit(rank: int, index: int, score: float, layer: str) -> html.A:
    """One of the unit's top test digits, linked to the explorer at the unit's layer."""
    image = get_services().data.images("test")[index]
    return html.A(
        html.Figure(
            [
                html.Img(
                    src=digit_src(image, scale=3), alt=f"test digit {index}", className="oip-digit"
                ),
                html.Figcaption(f"#{rank + 1} test {index}: {score:.3g}", className="small"),
            ],
            className="d-inline-block me-2 text-center",
        ),
        href=explorer_href(index, "test", layer),
    )


def single_result(state: dict[str, Any], arrays: dict[str, np.ndarray], cmap: str) -> html.Div:
    """Two-fold view per image (a seed's images side by side), the OIP's own prediction, and
    the unit's top test digits."""
    spec = state["spec"]
    images, probs = per_image(arrays["images"], state), per_image(arrays["probabilities"], state)
    services = get_services()
    scores = services.unit_scores("test", spec)  # (N,) the objective for every test digit
    top = np.argsort(-scores, kind="stable")[:TOP_DIGITS]
    oip_scores = per_image(arrays["activations"], state)  # the same quantity, by the engine
    best = scores[top[0]] if len(top) else 0.0
    k = images_per_seed(state)
    width = 12 // min(len(images), 3) if len(images) > 1 else 6
    if k > 1:  # a row per seed (up to 4 images): its images side by side
        width = 12 // min(k, 4)
    cards = []
    measure = {"map": "mean activation", "node": "activation"}.get(spec.get("kind"), "score")
    checks = trust_verdicts(arrays)  # flat, seed-major: one per image
    titles = image_titles(state)[: len(images)]
    for i, title in enumerate(titles):
        ratio = f", {oip_scores[i] / best:.1f}x the best test {noun()}" if best > 0 else ""
        header = f"{title}: {measure} {oip_scores[i]:.3g}{ratio}"
        what = f"OIP of {state['description']}, {title}"
        badge = trust_badge(checks, i)
        cards.append(_seed_card(images[i], probs[i], header, cmap, width, what, badge))
    layer = spec.get("layer") or services.desc.logits_layer
    head = html.H5("Result: plain (left) and contrast-enhanced (right), the seed's two-fold view")
    if not len(top):  # a model served alone: nothing real to compare with
        return html.Div([head, dbc.Row(cards), html.P(NO_DATA_NOTE, className="small text-muted")])
    digits = [_top_digit(rank, int(index), scores[index], layer) for rank, index in enumerate(top)]
    compare = figures.oip_vs_digits_figure(
        oip_scores,
        titles,
        scores[top],
        [f"test {int(i)}" for i in top],
        noun=noun(),
    )
    return html.Div(
        [
            head,
            dbc.Row(cards),
            html.H5(f"What the unit looks for in real {noun()}s", className="mt-3"),
            html.P(
                f"The {TOP_DIGITS} test {noun()}s that activate {state['description']} most "
                "(click one to open it in the explorer):",
                className="small text-muted",
            ),
            html.Div(digits, id="oip-top-digits"),
            dcc.Graph(figure=compare, config=figures.GRAPH_CONFIG, style={"height": "300px"}),
        ]
    )


def gallery_result(state: dict[str, Any], arrays: dict[str, np.ndarray], cmap: str) -> html.Div:
    """The finished gallery as one clickable grid (click a map to open it as a single run)."""
    spec = state["spec"]
    images = arrays["images"]
    src, layout = gallery_picture(images, cmap)
    checks = trust_verdicts(arrays)
    marks, notes = trust_marks(checks) or (None, None)
    fig = figures.picture_grid_figure(
        src,
        layout,
        cell_px=GALLERY_CELL_PX,
        gap_px=GALLERY_GAP_PX,
        values=arrays["activations"],
        cell_name=f"OIP of {spec['layer']} map",
        title=f"OIPs of {len(images)} maps of {spec['layer']} (click one to open it)",
        notes=notes,
        marks=marks,
    )
    best = beats_best_digit(spec["layer"], spec["units"], arrays["activations"])
    lines = [best, trust_line(checks)]
    return html.Div(
        [
            dcc.Graph(id=ids.OIP_GALLERY_GRAPH, figure=fig, config=figures.GRAPH_CONFIG),
            *[html.P(line, className="small text-muted mb-1") for line in lines if line],
        ]
    )


def beats_best_digit(layer: str, units: list[int], activations: np.ndarray) -> str:
    """One line: how many OIPs beat the best test digit on their own map."""
    table = get_services().unit_table("test", layer)[:, units]  # (N, n)
    if not len(table):
        return NO_DATA_NOTE
    best = table.max(axis=0)
    ratio = activations / np.maximum(best, 1e-9)
    beats = int((ratio > 1).sum())
    return (
        f"{beats} of {len(units)} OIPs activate their map more than the best of the "
        f"{len(table):,} test {noun()}s (median ratio {np.median(ratio):.2f}x)."
    )
