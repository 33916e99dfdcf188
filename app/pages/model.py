"""Model page: the loaded model's layers, accuracy, training curves, confusion matrix, data."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app import figures, ids
from app.services import Services, get_services

dash.register_page(__name__, path="/", name="Model", title="cnn-lens: model", order=0)


SEED_INTRO = (
    "A small Keras CNN for MNIST (articles II-IV of the seed series): three 3x3 convolutions "
    "with max-pooling, a 100-node dense layer and a softmax output."
)


def _shape(shape: tuple[int, ...]) -> str:
    return " x ".join(str(d) for d in shape)


def _layer_table(services: Services) -> html.Div:
    desc = services.desc
    rows = [
        html.Tr(
            [
                html.Td(info.name),
                html.Td(" + ".join(info.member_types)),
                html.Td("class scores" if info.is_logits else info.kind),
                html.Td(_shape(info.shape)),
                html.Td(info.activation if info.class_name not in _NO_ACTIVATION else "—"),
                html.Td(f"{info.params:,}", className="text-end"),
            ]
        )
        for info in desc.layers
    ]
    total = html.Tr(
        [html.Th("total", colSpan=5), html.Th(f"{desc.parameters:,}", className="text-end")]
    )
    head = html.Thead(
        html.Tr(
            [
                html.Th("layer"),
                html.Th("Keras layers"),
                html.Th("gives"),
                html.Th("output shape"),
                html.Th("activation"),
                html.Th("parameters"),
            ]
        )
    )
    table = dbc.Table(
        [head, html.Tbody([*rows, total])],
        id=ids.MODEL_LAYER_TABLE,
        bordered=False,
        hover=True,
        size="sm",
        striped=True,
    )
    # A wide table scrolls inside its box on a phone; the box takes focus so that the keyboard
    # can scroll it too (axe: scrollable-region-focusable).
    return html.Div(
        table,
        className="table-responsive",
        tabIndex=0,
        role="region",
        **{"aria-label": "the model's layers"},
    )


_NO_ACTIVATION = {
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Flatten",
}


def _notes(services: Services) -> list[Any]:
    desc = services.desc
    notes = []
    if desc.preprocessing:
        notes.append(f"Inside the model, before the first layer: {', '.join(desc.preprocessing)}.")
    if desc.not_shown:
        listed = ", ".join(f"{name} ({why.split(' is ')[0]})" for name, why in desc.not_shown)
        notes.append(f"Computed but not shown: {listed}.")
    return [html.P(note, className="small text-muted mb-1") for note in notes]


def _training(meta: dict[str, Any]) -> str | None:
    cfg = meta.get("config")
    if not isinstance(cfg, dict):
        return None
    if {"learning_rate", "momentum", "schedule"} <= set(cfg):
        return (
            f"{cfg.get('epochs')} epochs, SGD lr {cfg.get('learning_rate')} "
            f"({cfg.get('schedule')}), momentum {cfg.get('momentum')}, "
            f"L2 {cfg.get('l2')}, batch {cfg.get('batch_size')}, seed {cfg.get('seed')}"
        )
    return ", ".join(f"{key} {value}" for key, value in cfg.items())


def _summary(services: Services) -> dbc.Card:
    desc, meta = services.desc, services.trained.meta
    n_test = len(services.data.y_test)
    items: list[tuple[str, str | None]] = [
        (
            "test accuracy",
            f"{services.test_accuracy:.2%} on the {n_test:,} test images shown"
            if services.has_data
            else "no data set loaded (--data)",
        ),
        (
            "as trained",
            f"{meta['test_accuracy']:.2%} test, {meta.get('train_accuracy', float('nan')):.2%} "
            "train (from its sidecar)"
            if isinstance(meta.get("test_accuracy"), int | float)
            else None,
        ),
        ("input", f"{_shape(desc.input_shape)} ({'colour' if desc.channels == 3 else 'grey'})"),
        ("classes", ", ".join(desc.class_names)),
        ("normalization", desc.normalization.describe()),
        ("trained on", (meta.get("data") or {}).get("source")),
        ("training", _training(meta)),
        (
            "time",
            f"{meta['seconds']:.1f} s" if isinstance(meta.get("seconds"), int | float) else None,
        ),
    ]
    body = [
        html.H4(
            f"{services.test_accuracy:.2%}" if services.has_data else "no data",
            id=ids.MODEL_ACCURACY,
            className="card-title",
        ),
    ]
    body += [
        html.Div([html.Strong(f"{key}: "), html.Span(value)], className="small")
        for key, value in items
        if value
    ]
    return dbc.Card(dbc.CardBody(body))


def _data_source(services: Services) -> html.Div:
    children = [html.Strong("Data shown: "), html.Span(services.data.source)]
    warning = None
    recorded = (services.trained.meta.get("data") or {}).get("fingerprint")
    if recorded and recorded != services.data.fingerprint:
        warning = dbc.Alert(
            "The images loaded now are not the ones this model was trained on (fingerprints "
            "differ): the accuracy and confusion matrix here are measured on the images shown.",
            color="warning",
            id=ids.MODEL_WARNING,
        )
    return html.Div([html.P(children, id=ids.MODEL_DATA_SOURCE, className="small"), warning])


def _curves(meta: dict[str, Any]) -> Any:
    history = meta.get("history")
    if isinstance(history, dict) and history.get("epoch"):
        return dcc.Graph(
            id=ids.MODEL_CURVES,
            figure=figures.training_curves_figure(history),
            config=figures.GRAPH_CONFIG,
        )
    return html.P(
        "No training history: the model's sidecar (<model>.json) has none.",
        id=ids.MODEL_CURVES,
        className="text-muted small",
    )


def _confusion_title(services: Services) -> str:
    return f"Confusion matrix ({len(services.data.y_test):,} test images)"


#: Said instead of the accuracy and confusion matrix of a model served alone.
NO_DATA = (
    "No data set is loaded, so there is no accuracy or confusion matrix: start the dashboard "
    "with --data DIR (a folder with one sub-folder of images per class) or --data FILE.npz. "
    "Every page that works on one picture works on the ones you upload or draw."
)


def _confusion(services: Services) -> Any:
    if not services.has_data:
        return dbc.Alert(NO_DATA, color="info", id=ids.MODEL_CONFUSION)
    return dcc.Graph(
        id=ids.MODEL_CONFUSION,
        figure=figures.confusion_matrix_figure(
            services.confusion,
            title=_confusion_title(services),
            class_names=services.desc.class_names,
        ),
        config=figures.GRAPH_CONFIG,
    )


def layout(**_query: str) -> html.Div:
    services = get_services()
    desc = services.desc
    seed = desc.name == "seed_cnn"
    intro = (
        SEED_INTRO
        if seed
        else (
            f"A Keras image classifier ({desc.name}): {_shape(desc.input_shape)} input, "
            f"{len(desc.map_layers)} map layers, {len(desc.node_layers)} node layers, "
            f"{desc.num_classes} classes."
        )
    )
    return html.Div(
        [
            html.H1("The seed CNN" if seed else f"Model: {desc.name}", className="h2"),
            html.P(intro, className="text-muted"),
            dbc.Row(
                [
                    dbc.Col(
                        [_layer_table(services), *_notes(services), _data_source(services)], lg=7
                    ),
                    dbc.Col(_summary(services), lg=5),
                ],
                className="mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(_curves(services.trained.meta), lg=7),
                    dbc.Col(_confusion(services), lg=5),
                ]
            ),
        ]
    )
