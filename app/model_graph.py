"""The Model page's drawing of the network: the description's shown nodes and what each reads
from, as Cytoscape elements, with nested models and stages as boxes that fold. No Dash: tested
without a browser.

Why Cytoscape (`dash-cytoscape`) and not a Plotly scatter drawn by hand: it brings a layout
engine (dagre: layered, top to bottom, edges routed between layers), compound nodes (a nested
model or a stage is a box around its members), pan and zoom, and tap / hover events per node;
a scatter would need our own layering, box drawing and hit-testing, and would redraw the whole
figure to fold a box.

Boxes. A nested model is a box labelled with its path's last part, unfolded at first. A model of
more than `STAGE_BOXES_ABOVE` shown nodes also gets a box per stage (`stage_of`), folded at
first, so that DenseNet121's 184 nodes open as about 60 blocks. A folded box is one node; the
edges into and out of its members go to it instead (and those between its members vanish).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from app.components import links
from cnn_core.model.anatomy import INPUT_NODE, LayerInfo, ModelDescription

#: Component ids of the graph on the Model page (the page module's own; kept beside the
#: elements they show).
GRAPH = "model-graph"
GRAPH_BOX = "model-graph-box"
GRAPH_INFO = "model-graph-info"
GRAPH_FOLDED = "model-graph-folded"  # the ids of the folded boxes (a list)
GRAPH_FOLD = "model-graph-fold"  # pattern-matching: {"type": GRAPH_FOLD, "control": key}
GRAPH_NAVIGATE = "model-graph-navigate"  # a dcc.Location: a tapped node opens the explorer

#: A model of more than this many shown nodes is drawn with its stages as boxes, folded.
STAGE_BOXES_ABOVE = 60
NESTED, STAGE = "nested", "stage"
#: The key of the fold control of every stage box at once.
EVERY_STAGE = "every-stage"
#: Pixels per character and per line of a node's label (12 px sans-serif), and its padding.
CHAR_PX, LINE_PX, PAD_PX = 7.0, 16, 14

_HAS_DIGIT = re.compile(r".*\d.*")
_WORD_AND_NUMBER = re.compile(r"[A-Za-z]+\d+")


def keras_auto_name(class_name: str) -> str:
    """The name Keras gives a layer of `class_name` by itself, before any `_N`: its class name
    in snake case (`Conv2D` -> `conv2d`, `MaxPooling2D` -> `max_pooling2d`), as Keras writes it."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def stage_of(name: str, class_name: str = "") -> str | None:
    """The stage a layer belongs to, read from its name as Keras Applications write them, or None.

    Rule: split the name's last path part at "_"; the stage runs up to and including the first
    part that holds a digit, plus the part after it when that is a word followed by digits and
    not the last part. A name that would be its own stage has none, and so has a name Keras gave
    itself (`conv2d_3`, see `keras_auto_name`).

    `block_3_expand` -> `block_3` (MobileNetV2), `conv2_block1_1_conv` -> `conv2_block1`
    (DenseNet, ResNet), `stage3_unit1_conv1` -> `stage3_unit1`, `block1a_dwconv` -> `block1a`
    (EfficientNet), `block1_conv1` -> `block1` (VGG, Xception); `Conv1`, `stem_conv`, `dense_1`
    -> None.
    """
    short = name.rpartition("/")[2]
    if class_name and re.fullmatch(rf"{re.escape(keras_auto_name(class_name))}(_\d+)?", short):
        return None
    parts = short.split("_")
    for k, part in enumerate(parts):
        if _HAS_DIGIT.fullmatch(part):
            end = k + 1
            if end < len(parts) - 1 and _WORD_AND_NUMBER.fullmatch(parts[end]):
                end += 1
            return "_".join(parts[:end]) if end < len(parts) else None
    return None


@dataclass(frozen=True)
class Box:
    """A nested model or a stage drawn around its members.

    Attributes:
        id: its element id, `/nested/<path>` or `/stage/<scope>/<stage>` (a layer path never
            starts with "/", so no node has it).
        kind: `NESTED` or `STAGE`.
        name: what it is called (the nested model's path, the stage's name).
        parent: the id of the box it sits in, or None.
        members: the shown nodes inside it, at any depth, in the description's order.
        params: their parameters.
    """

    id: str
    kind: str
    name: str
    parent: str | None
    members: tuple[str, ...]
    params: int

    @property
    def label(self) -> str:
        return self.name.rpartition("/")[2]


@dataclass(frozen=True)
class FoldControl:
    """A button that folds (or unfolds) `boxes` together: "fold base", "fold every stage"."""

    key: str
    what: str
    boxes: tuple[str, ...]

    def text(self, folded: frozenset[str]) -> str:
        return f"{'unfold' if self.is_folded(folded) else 'fold'} {self.what}"

    def is_folded(self, folded: frozenset[str]) -> bool:
        return all(box in folded for box in self.boxes)


@dataclass(frozen=True)
class GraphAction:
    """What a tap or a fold button asks for: open `href`, or draw the boxes `folded` folded
    (None: nothing of that)."""

    href: str | None = None
    folded: frozenset[str] | None = None


def _shape(shape: tuple[int, ...]) -> str:
    return " x ".join(str(d) for d in shape)


def _size(label: str, bold: bool = False) -> tuple[int, int]:
    lines = label.split("\n")
    width = CHAR_PX * (1.12 if bold else 1.0) * max(len(line) for line in lines) + PAD_PX
    return round(width), LINE_PX * len(lines) + 12


class ModelGraph:
    """The description's shown nodes as a graph to draw: nodes, edges (from `inputs`), boxes.

    Built once per description (`model_graph`); `elements(folded)` is cached per fold state.
    """

    def __init__(self, desc: ModelDescription) -> None:
        self.desc = desc
        self.layers: dict[str, LayerInfo] = {info.name: info for info in desc.layers}
        #: (source, target) pairs: every input of every shown node, in the description's order.
        self.edges: tuple[tuple[str, str], ...] = tuple(
            (source, info.name) for info in desc.layers for source in info.inputs
        )
        self.boxes: dict[str, Box] = {}
        #: each shown node's innermost box (None at the top level)
        self.container: dict[str, str | None] = {}
        self._make_boxes()
        self.controls: tuple[FoldControl, ...] = self._make_controls()

    # building ------------------------------------------------------------------------------
    def _make_boxes(self) -> None:
        desc = self.desc
        members: dict[str, list[str]] = {}
        for info in desc.layers:
            parts = info.scope.split("/") if info.scope else []
            for k in range(1, len(parts) + 1):
                members.setdefault("/".join(parts[:k]), []).append(info.name)
        for path in desc.nested:  # outer before inner
            if path not in members:
                continue  # a nested model without shown nodes (augmentation, preprocessing)
            outer = path.rpartition("/")[0]
            parent = f"/{NESTED}/{outer}" if outer in members else None
            self._add_box(NESTED, path, parent, members[path])
        stages: dict[tuple[str, str], list[str]] = {}
        if len(desc.layers) > STAGE_BOXES_ABOVE:
            for info in desc.layers:
                stage = stage_of(info.name, info.class_name)
                if stage is not None:
                    stages.setdefault((info.scope, stage), []).append(info.name)
        for (scope, stage), names in stages.items():
            if len(names) < 2:
                continue
            parent = f"/{NESTED}/{scope}" if scope else None
            self._add_box(STAGE, f"{scope}/{stage}" if scope else stage, parent, names)
        for info in desc.layers:
            self.container.setdefault(info.name, f"/{NESTED}/{info.scope}" if info.scope else None)

    def _add_box(self, kind: str, name: str, parent: str | None, names: list[str]) -> None:
        box = Box(
            id=f"/{kind}/{name}",
            kind=kind,
            name=name,
            parent=parent,
            members=tuple(names),
            params=sum(self.layers[n].params for n in names),
        )
        self.boxes[box.id] = box
        for n in names:  # inner boxes come later and win
            self.container[n] = box.id

    def _make_controls(self) -> tuple[FoldControl, ...]:
        controls = [
            FoldControl(box.id, box.name, (box.id,))
            for box in self.boxes.values()
            if box.kind == NESTED
        ]
        stages = tuple(box.id for box in self.boxes.values() if box.kind == STAGE)
        if stages:
            controls.append(FoldControl(EVERY_STAGE, "every stage", stages))
        return tuple(controls)

    # folding -------------------------------------------------------------------------------
    @property
    def initially_folded(self) -> frozenset[str]:
        """The stage boxes (nested models open folded only when asked)."""
        return frozenset(box.id for box in self.boxes.values() if box.kind == STAGE)

    def check_folded(self, folded: object) -> frozenset[str]:
        """The known box ids of a fold state from the browser (anything else is dropped)."""
        if not isinstance(folded, list | tuple | set | frozenset):
            return self.initially_folded
        return frozenset(box for box in folded if isinstance(box, str) and box in self.boxes)

    def control(self, key: object) -> FoldControl | None:
        return next((c for c in self.controls if c.key == key), None)

    def toggle(self, folded: frozenset[str], boxes: Iterable[str]) -> frozenset[str]:
        """`folded` with `boxes` unfolded if all of them are folded, else all folded."""
        boxes = frozenset(box for box in boxes if box in self.boxes)
        return folded - boxes if boxes <= folded else folded | boxes

    def tap(self, tapped: object, folded: object) -> GraphAction:
        """What a tap on a node does (`tapped`: its element data, from the browser): a shown
        node opens the explorer on it, a box folds or unfolds, anything else nothing."""
        node = tapped.get("id") if isinstance(tapped, dict) else None
        if isinstance(node, str) and node in self.layers:
            return GraphAction(href=explorer_href(node))
        if isinstance(node, str) and node in self.boxes:
            return GraphAction(folded=self.toggle(self.check_folded(folded), (node,)))
        return GraphAction()

    def press(self, key: object, folded: object) -> GraphAction:
        """What pressing the fold control `key` does (nothing for an unknown key)."""
        control = self.control(key)
        if control is None:
            return GraphAction()
        return GraphAction(folded=self.toggle(self.check_folded(folded), control.boxes))

    def ancestors(self, node: str) -> list[str]:
        """The boxes around a node or box, innermost first."""
        chain: list[str] = []
        box = self.boxes[node].parent if node in self.boxes else self.container.get(node)
        while box is not None:
            chain.append(box)
            box = self.boxes[box].parent
        return chain

    def shown_as(self, node: str, folded: frozenset[str]) -> str:
        """What draws `node` under `folded`: the outermost folded box around it, else itself."""
        outer = [box for box in self.ancestors(node) if box in folded]
        return outer[-1] if outer else node

    # elements ------------------------------------------------------------------------------
    def elements(self, folded: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        """Cytoscape elements under `folded`: boxes (outer first), the input, the shown nodes in
        the description's order, then the edges (a folded box's rerouted, each pair once)."""
        return list(_elements(self, frozenset(folded)))

    def _box_element(self, box: Box, folded: frozenset[str]) -> dict[str, Any]:
        n = len(box.members)
        what = "nested model" if box.kind == NESTED else "stage"
        is_folded = box.id in folded
        if is_folded:
            label = f"▸ {box.label}\n{what}, {n} nodes"
        else:
            label = f"▾ {box.label}" + (" (nested model)" if box.kind == NESTED else "")
        detail = (
            f"{box.name}: {what}, {n} shown nodes, {box.params:,} parameters\n"
            f"click: {'unfold' if is_folded else 'fold'} it"
        )
        data: dict[str, Any] = {"id": box.id, "label": label, "detail": detail, "kind": box.kind}
        data["w"], data["h"] = _size(label, bold=True)
        parent = self._parent(box.id)
        if parent:
            data["parent"] = parent
        classes = f"box {box.kind}" + (" folded" if is_folded else "")
        return {"data": data, "classes": classes}

    def _layer_element(self, info: LayerInfo, folded: frozenset[str]) -> dict[str, Any]:
        short = info.name.rpartition("/")[2]
        if info.is_merge:
            second = f"⊕ merge: {info.class_name}"
        elif info.is_logits:
            second = f"class scores ({info.units})"
        else:
            second = f"{info.class_name} {_shape(info.shape)}"
        label = f"{short}\n{second}"
        types = " + ".join(info.member_types or (info.class_name,))
        reads = ", ".join("the input" if n == INPUT_NODE else n for n in info.inputs)
        detail = "\n".join(
            [
                info.name,
                f"{types}{' (merge)' if info.is_merge else ''}",
                f"output {_shape(info.shape)}",
                f"{info.params:,} parameters",
                f"reads {reads}",
                "click: open it in the activation explorer",
            ]
        )
        data: dict[str, Any] = {
            "id": info.name,
            "label": label,
            "detail": detail,
            "kind": "layer",
            "href": explorer_href(info.name),
        }
        w, h = _size(label)
        data["w"], data["h"] = (round(w * 1.3), h) if info.is_merge else (w, h)  # a hexagon's text
        parent = self._parent(info.name)
        if parent:
            data["parent"] = parent
        classes = ["layer", info.kind]
        classes += ["merge"] if info.is_merge else []
        classes += ["logits"] if info.is_logits else []
        return {"data": data, "classes": " ".join(classes)}

    def _input_element(self) -> dict[str, Any]:
        desc = self.desc
        colour = "colour" if desc.channels == 3 else "grey"
        label = f"input\n{_shape(desc.input_shape)}"
        detail = f"the model's input: {_shape(desc.input_shape)} ({colour})"
        if desc.preprocessing:
            detail += f"\nthen, inside the model: {', '.join(desc.preprocessing)}"
        data = {"id": INPUT_NODE, "label": label, "detail": detail, "kind": "input"}
        data["w"], data["h"] = _size(label)
        return {"data": data, "classes": "input"}

    def _parent(self, node: str) -> str | None:
        # a node drawn has no folded box around it: its innermost box is open, its parent
        chain = self.ancestors(node)
        return chain[0] if chain else None


@lru_cache(maxsize=64)
def _elements(graph: ModelGraph, folded: frozenset[str]) -> tuple[dict[str, Any], ...]:
    def visible(node: str) -> bool:
        return not any(box in folded for box in graph.ancestors(node))

    out: list[dict[str, Any]] = [
        graph._box_element(box, folded) for box in graph.boxes.values() if visible(box.id)
    ]
    out.sort(key=lambda e: len(graph.ancestors(e["data"]["id"])))  # outer boxes first
    out.append(graph._input_element())
    out += [graph._layer_element(info, folded) for info in graph.desc.layers if visible(info.name)]
    seen: set[tuple[str, str]] = set()
    for source, target in graph.edges:
        pair = (graph.shown_as(source, folded), graph.shown_as(target, folded))
        if pair[0] == pair[1] or pair in seen:
            continue
        seen.add(pair)
        out.append({"data": {"id": f"{pair[0]}→{pair[1]}", "source": pair[0], "target": pair[1]}})
    return tuple(out)


@lru_cache(maxsize=4)
def model_graph(desc: ModelDescription) -> ModelGraph:
    """The graph of `desc`, built once per description (a process has one)."""
    return ModelGraph(desc)


def explorer_href(layer: str) -> str:
    """The activation explorer on `layer`, showing its default digit."""
    return links.page_href(links.EXPLORER_PATH, layer=layer)


def ranks(elements: list[dict[str, Any]]) -> int:
    """How many layers a layered layout of `elements` has: the longest path, in nodes (the
    edges come in a topological order of their targets, as `ModelGraph.elements` gives them)."""
    depth: dict[str, int] = {}
    for element in elements:
        data = element["data"]
        if "source" in data:
            depth[data["target"]] = max(depth.get(data["target"], 1), depth[data["source"]] + 1)
        else:
            depth.setdefault(data["id"], 1)
    return max(depth.values(), default=1)


def canvas_height(elements: list[dict[str, Any]]) -> int:
    """Pixels for the drawing of `elements`: about 70 a layer at zoom 1, within limits."""
    return int(min(900, max(360, 70 * ranks(elements) + 60)))


#: Dagre: a layered layout, ranks top to bottom, the input at the top.
LAYOUT: dict[str, Any] = {
    "name": "dagre",
    "rankDir": "TB",
    "nodeSep": 18,
    "rankSep": 26,
    "edgeSep": 8,
    "padding": 12,
    "fit": True,
    "animate": False,
}

#: Okabe-Ito colours (told apart by colour-blind eyes), pale fills so dark text stays legible;
#: shape and a text mark tell the kinds apart without colour.
STYLESHEET: list[dict[str, Any]] = [
    {
        "selector": "node",
        "style": {
            "label": "data(label)",
            "text-wrap": "wrap",
            "text-valign": "center",
            "text-halign": "center",
            "font-size": 12,
            "font-family": "system-ui, sans-serif",
            "color": "#1a1a1a",
            "width": "data(w)",
            "height": "data(h)",
            "shape": "round-rectangle",
            "background-color": "#ffffff",
            "border-width": 1.5,
            "border-color": "#555555",
        },
    },
    {"selector": "node.input", "style": {"shape": "barrel", "background-color": "#eeeeee"}},
    {
        "selector": "node.maps",
        "style": {"background-color": "#dcecf8", "border-color": "#0072b2"},
    },
    {
        "selector": "node.nodes",
        "style": {"shape": "rectangle", "background-color": "#ddf2e8", "border-color": "#009e73"},
    },
    {
        "selector": "node.merge",
        "style": {
            "shape": "hexagon",
            "background-color": "#fbe3cf",
            "border-color": "#d55e00",
            "border-width": 3,
        },
    },
    {"selector": "node.logits", "style": {"border-style": "double", "border-width": 5}},
    {
        "selector": "node.box",
        "style": {
            "background-color": "#f6f6f6",
            "border-style": "dashed",
            "border-color": "#666666",
            "font-weight": "bold",
        },
    },
    {"selector": "node.stage", "style": {"background-color": "#fbfaf0"}},
    {
        "selector": "node.box:parent",
        "style": {
            "text-valign": "top",
            "text-halign": "center",
            "text-margin-y": -2,
            "padding": 10,
            "background-opacity": 0.7,
        },
    },
    {
        "selector": "node.folded",
        "style": {"border-style": "double", "border-width": 4, "background-color": "#ffffff"},
    },
    {
        "selector": "edge",
        "style": {
            "width": 1.5,
            "line-color": "#8c8c8c",
            "target-arrow-color": "#8c8c8c",
            "target-arrow-shape": "triangle",
            "curve-style": "bezier",
            "arrow-scale": 0.8,
        },
    },
]
