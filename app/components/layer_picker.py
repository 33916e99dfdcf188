"""The layer picker every page uses: one searchable, keyboard-operable dropdown of node paths.

A chain like the seed lists its nine layers as they are. A large or nested model (MobileNetV2
inside a transfer-learning model has ~150 shown nodes) lists them grouped, in model order,
under a header per nested model and stage (`base ▸ block_3`): the headers are disabled options,
so the arrow keys skip them, and typing `block_3` filters the list to the nodes whose path holds
it (Dash's dropdown searches the labels). The value is always the node's path
(`base/block_3_expand`), the same string the URL carries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from dash import dcc

from cnn_core.config import SMALL_MODEL_NODES
from cnn_core.model.anatomy import ModelDescription

#: A group with more nodes than this is split into stages (`stage_of`).
STAGE_FROM = 24
#: Prefix of a group header's value: not a node path (Keras refuses "\0" nowhere, but no
#: model names a layer with it), so a crafted request choosing it is an unknown layer.
GROUP_VALUE = "\0group:"
_STAGE = re.compile(r"^([A-Za-z]+_?\d+)(?=_|$)")


def stage_of(leaf: str) -> str:
    """The stage a Keras Applications layer name belongs to, from its name: the leading word
    and its number (`block_3_expand` -> `block_3`, `conv3_block12_1_conv` -> `conv3`,
    `stage2_unit1_conv1` -> `stage2`); "" for a name without one (`expanded_conv_project`)."""
    match = _STAGE.match(leaf)
    return match.group(1) if match else ""


def shape_text(shape: Sequence[int]) -> str:
    """`128 maps of 3×3` or `100 nodes`."""
    if len(shape) == 3:
        return f"{shape[2]} maps of {shape[0]}×{shape[1]}"
    return f"{shape[0]} nodes"


def needs_groups(desc: ModelDescription, names: Sequence[str]) -> bool:
    """Whether a list of `names` is shown grouped: a nested model, or more nodes than a small
    model has (`SMALL_MODEL_NODES`)."""
    return len(names) > SMALL_MODEL_NODES or any(desc.layer(name).scope for name in names)


def layer_options(
    desc: ModelDescription, names: Sequence[str], *, with_shape: bool = True
) -> list[dict[str, Any]]:
    """Dropdown options for `names` (node paths of `desc`, in model order).

    Each option's label is the path (and, with `with_shape`, ` · 128 maps of 3×3`); a grouped
    list (`needs_groups`) gets a disabled header option before each nested model / stage.
    """

    def option(name: str) -> dict[str, Any]:
        label = f"{name} · {shape_text(desc.layer(name).shape)}" if with_shape else name
        return {"label": label, "value": name}

    if not needs_groups(desc, names):
        return [option(name) for name in names]
    scopes: dict[str, int] = {}
    for name in names:
        scope = desc.layer(name).scope
        scopes[scope] = scopes.get(scope, 0) + 1
    options: list[dict[str, Any]] = []
    current: tuple[str, str] | None = None
    for name in names:
        scope = desc.layer(name).scope
        leaf = name[len(scope) + 1 :] if scope else name
        stage = stage_of(leaf) if scopes[scope] > STAGE_FROM else ""
        if (scope, stage) != current:
            current = (scope, stage)
            title = " ▸ ".join(part for part in (scope, stage) if part) or desc.name
            options.append(
                {
                    "label": f"── {title} ──",
                    "value": f"{GROUP_VALUE}{scope}/{stage}",
                    "disabled": True,
                }
            )
        options.append(option(name))
    return options


def layer_dropdown(
    control_id: str,
    desc: ModelDescription,
    names: Sequence[str],
    value: str | None,
    *,
    with_shape: bool = True,
    min_width: str = "17em",
    **kwargs: Any,
) -> dcc.Dropdown:
    """The picker: `layer_options` in a searchable dropdown (type to filter, arrows and Enter
    to choose), never empty (not clearable)."""
    return dcc.Dropdown(
        id=control_id,
        options=layer_options(desc, names, with_shape=with_shape),
        value=value,
        clearable=False,
        searchable=True,
        maxHeight=360,
        placeholder="type to search the layers",
        style={"minWidth": min_width},
        **kwargs,
    )
