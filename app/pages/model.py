"""Model page: the loaded model's graph and layers, accuracy, training curves, confusion
matrix, data."""

from __future__ import annotations

import json
from typing import Any

import dash
import dash_bootstrap_components as dbc
import dash_cytoscape as cyto
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from app import figures, ids
from app import model_graph as mg
from app.components.registry import CallbackSet
from app.services import Services, get_services
from cnn_core.explain.compare import implied_class_order

dash.register_page(__name__, path="/", name="Model", title="cnn-lens: model", order=0)
# dagre (the layered layout) ships in the package's "extra" bundle, served by this app like
# every component's scripts (no CDN: the Content-Security-Policy allows only this server).
cyto.load_extra_layouts()
CALLBACKS = CallbackSet()


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
                # the keyboard's way into the explorer (the graph's canvas takes no focus)
                html.Td(dcc.Link(info.name, href=mg.explorer_href(info.name))),
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
    elif _labels_may_be_permuted(services):
        warning = dbc.Alert(
            f"The test accuracy ({services.test_accuracy:.0%}) is near chance, and the model "
            "file does not say its class order: its outputs are matched to the data's classes "
            "in sorted order, as Keras's image_dataset_from_directory numbers folders. If the "
            "model was trained with another order, add a sidecar <model>.json with its "
            '"class_names" in that order.' + _order_hint(services),
            color="warning",
            id=ids.MODEL_WARNING,
        )
    return html.Div([html.P(children, id=ids.MODEL_DATA_SOURCE, className="small"), warning])


def _order_hint(services: Services) -> str:
    """The class order the predictions give (`implied_class_order`), as a sidecar line."""
    order = implied_class_order(services.confusion, services.data.class_names)
    if order is None:
        return ""
    return " Its predictions match the classes one to one in this order: " + json.dumps(
        {"class_names": list(order)}
    )


def _labels_may_be_permuted(services: Services) -> bool:
    """Whether a model without class names scores near chance on named data: the classes may
    be matched in another order than the model was trained with."""
    n = services.desc.num_classes
    named = "class_names" in services.trained.meta
    return services.has_data and not named and n > 2 and services.test_accuracy < 2 / n


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


def _graph(services: Services) -> dbc.Row:
    """The network drawn (`app.model_graph`), its fold buttons, and a panel for the hovered node."""
    graph = mg.model_graph(services.desc)
    folded = graph.initially_folded
    elements = graph.elements(folded)
    buttons = [
        dbc.Button(
            control.text(folded),
            id={"type": mg.GRAPH_FOLD, "control": control.key},
            size="sm",
            color="secondary",
            outline=True,
            className="me-2 mb-2",
        )
        for control in graph.controls
    ]
    canvas = cyto.Cytoscape(
        id=mg.GRAPH,
        elements=elements,
        layout=mg.LAYOUT,
        stylesheet=mg.STYLESHEET,
        style={"width": "100%", "height": f"{mg.canvas_height(elements)}px"},
        minZoom=0.05,
        maxZoom=1.25,  # a fit never blows a few nodes up to giant letters
        autoungrabify=True,
        autounselectify=True,
        boxSelectionEnabled=False,
    )
    summary = (
        f"The network drawn as a graph, input at the top: {len(services.desc.layers)} shown "
        "nodes. The table below lists the same nodes; each name there opens it in the "
        "activation explorer."
    )
    info = dbc.Card(
        dbc.CardBody(
            [
                html.H2("Node", className="h6"),
                html.Div(
                    "Hover over a node for its Keras layers, output shape and parameters; "
                    "click it to open it in the activation explorer; click a box to fold or "
                    "unfold it. Scroll to zoom, drag to pan.",
                    id=mg.GRAPH_INFO,
                    className="small",
                    style={"whiteSpace": "pre-line"},
                ),
                html.P(
                    "Blue rounded: maps; green square: nodes; orange hexagon with ⊕: a merge "
                    "(Add, Concatenate...); double border: the class scores or a folded box.",
                    className="small text-muted mt-2 mb-0",
                ),
            ]
        )
    )
    return dbc.Row(
        [
            dbc.Col(
                [
                    html.Div(buttons),
                    # The canvas means nothing to a screen reader: one image with a name.
                    html.Div(
                        canvas,
                        id=mg.GRAPH_BOX,
                        role="img",
                        className="border rounded",
                        **{"aria-label": summary},
                    ),
                    dcc.Store(id=mg.GRAPH_FOLDED, data=sorted(folded)),
                    dcc.Location(id=mg.GRAPH_NAVIGATE, refresh="callback-nav"),
                ],
                lg=8,
            ),
            dbc.Col(info, lg=4),
        ],
        className="mb-3",
    )


@CALLBACKS.callback(
    output=dict(
        elements=Output(mg.GRAPH, "elements"),
        folded=Output(mg.GRAPH_FOLDED, "data"),
        labels=Output({"type": mg.GRAPH_FOLD, "control": ALL}, "children"),
        href=Output(mg.GRAPH_NAVIGATE, "href"),
    ),
    inputs=dict(
        tapped=Input(mg.GRAPH, "tapNodeData"),
        clicks=Input({"type": mg.GRAPH_FOLD, "control": ALL}, "n_clicks"),
        folded=State(mg.GRAPH_FOLDED, "data"),
    ),
    prevent_initial_call=True,
)
def graph_action(tapped: Any, clicks: Any, folded: Any) -> dict[str, Any]:
    """A tapped node opens the explorer on it; a tapped box or a fold button folds or unfolds."""
    graph = mg.model_graph(get_services().desc)
    trigger = ctx.triggered_id
    if trigger == mg.GRAPH:
        action = graph.tap(tapped, folded)
    elif isinstance(trigger, dict):
        action = graph.press(trigger.get("control"), folded)
    else:
        action = mg.GraphAction()
    if action.folded is None:
        return {
            "elements": no_update,
            "folded": no_update,
            "labels": [no_update] * len(graph.controls),  # a wildcard output takes a list
            "href": action.href or no_update,
        }
    return {
        "elements": graph.elements(action.folded),
        "folded": sorted(action.folded),
        "labels": [control.text(action.folded) for control in graph.controls],
        "href": no_update,
    }


# Hover: the node's own description, written in the browser (no request per mouse move).
CALLBACKS.clientside(
    """
    function(data) {
        if (!data || typeof data.detail !== "string") {
            return window.dash_clientside.no_update;
        }
        return data.detail;
    }
    """,
    Output(mg.GRAPH_INFO, "children"),
    Input(mg.GRAPH, "mouseoverNodeData"),
    prevent_initial_call=True,
)
# Dash runs this module once per app it builds: every app gets the callbacks.
CALLBACKS.register()


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
            _graph(services),
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
