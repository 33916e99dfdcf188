"""Model page: architecture, accuracy, training curves, confusion matrix, data source."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app import figures, ids
from app.services import get_services

dash.register_page(__name__, path="/", name="Model", title="cnn-lens: model", order=0)

GRAPH_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def _layer_table() -> dbc.Table:
    services = get_services()
    model = services.trained.model
    rows = [
        html.Tr(
            [
                html.Td(layer.name),
                html.Td(type(layer).__name__),
                html.Td(str(tuple(layer.output.shape[1:]))),
                html.Td(f"{layer.count_params():,}", className="text-end"),
            ]
        )
        for layer in model.layers[1:]
    ]
    total = html.Tr(
        [html.Th("total", colSpan=3), html.Th(f"{model.count_params():,}", className="text-end")]
    )
    head = html.Thead(
        html.Tr([html.Th("layer"), html.Th("type"), html.Th("output shape"), html.Th("parameters")])
    )
    return dbc.Table(
        [head, html.Tbody([*rows, total])],
        id=ids.MODEL_LAYER_TABLE,
        bordered=False,
        hover=True,
        size="sm",
        striped=True,
    )


def _summary() -> dbc.Card:
    services = get_services()
    meta = services.trained.meta
    cfg = meta.get("config", {})
    data = meta.get("data", {})
    items = [
        ("test accuracy", f"{meta['test_accuracy']:.2%} on {data.get('n_test', 0):,} digits"),
        ("train accuracy", f"{meta.get('train_accuracy', float('nan')):.2%}"),
        ("trained on", data.get("source", "?")),
        (
            "training",
            f"{cfg.get('epochs')} epochs, SGD lr {cfg.get('learning_rate')} "
            f"({cfg.get('schedule')}), momentum {cfg.get('momentum')}, "
            f"L2 {cfg.get('l2')}, batch {cfg.get('batch_size')}, seed {cfg.get('seed')}",
        ),
        ("time", f"{meta.get('seconds', 0):.1f} s"),
        ("normalization", f"mean {services.trained.mean:.2f}, std {services.trained.std:.2f}"),
    ]
    body = [html.H4(f"{meta['test_accuracy']:.2%}", id=ids.MODEL_ACCURACY, className="card-title")]
    body += [html.Div([html.Strong(f"{k}: "), html.Span(v)], className="small") for k, v in items]
    return dbc.Card(dbc.CardBody(body))


def _data_source() -> html.Div:
    services = get_services()
    children = [html.Strong("Data shown: "), html.Span(services.data.source)]
    warning = None
    if not services.data_matches_model:
        warning = dbc.Alert(
            "The digits loaded now are not the ones this model was trained on (fingerprints "
            "differ): accuracy and confusion matrix above refer to its training data. Retrain "
            "with `make train` to match.",
            color="warning",
            id=ids.MODEL_WARNING,
        )
    return html.Div([html.P(children, id=ids.MODEL_DATA_SOURCE, className="small"), warning])


def layout(**_query: str) -> html.Div:
    meta = get_services().trained.meta
    return html.Div(
        [
            html.H2("The seed CNN"),
            html.P(
                "A small Keras CNN for MNIST (articles II-IV of the seed series): three 3x3 "
                "convolutions with max-pooling, a 100-node dense layer and a softmax output.",
                className="text-muted",
            ),
            dbc.Row(
                [
                    dbc.Col([_layer_table(), _data_source()], lg=6),
                    dbc.Col(_summary(), lg=6),
                ],
                className="mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        dcc.Graph(
                            id=ids.MODEL_CURVES,
                            figure=figures.training_curves_figure(meta["history"]),
                            config=GRAPH_CONFIG,
                        ),
                        lg=7,
                    ),
                    dbc.Col(
                        dcc.Graph(
                            id=ids.MODEL_CONFUSION,
                            figure=figures.confusion_matrix_figure(meta["confusion_matrix"]),
                            config=GRAPH_CONFIG,
                        ),
                        lg=5,
                    ),
                ]
            ),
        ]
    )
