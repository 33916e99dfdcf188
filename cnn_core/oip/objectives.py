"""What gradient ascent maximizes: a map's mean, a node, a class logit, and linear mixes of them."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

#: The pre-softmax output of the model's last layer, addressed by `ClassLogit`.
LOGIT = "logit"


class OipError(ValueError):
    """A bad OIP request: unknown layer, unit out of range, invalid option or objective."""


@dataclass(frozen=True)
class Term:
    """One per-unit quantity: `kind` is "map" (spatial mean of a map), "node" or "logit"."""

    kind: str
    layer: str
    unit: int

    def describe(self) -> str:
        if self.kind == "map":
            return f"{self.layer} map {self.unit}"
        if self.kind == "node":
            return f"{self.layer} node {self.unit}"
        return f"logit {self.unit}"


def _check_unit(unit: object) -> int:
    if isinstance(unit, bool) or not isinstance(unit, numbers.Integral):
        raise OipError(f"unit must be an integer, got {unit!r}")
    if unit < 0:
        raise OipError(f"unit must be >= 0, got {unit}")
    return int(unit)


def _format_coef(coef: float) -> str:
    return f"{coef:g}"


class Objective:
    """A linear combination of per-unit quantities, per image: `sum(coef * quantity)`.

    Objectives compose: `ClassLogit(4) - ClassLogit(9)`, `0.5 * MapMean("Conv2D_3", 17)`,
    `a + b`, `-a`. A map's quantity is its spatial mean after the ReLU (before it when ascending
    with `AscentOptions(pre_relu=True)`); a node's is its value; a logit is the class score
    before the softmax. `str(obj)` reads like `logit 4 − logit 9`.

    Attributes:
        terms: `((coefficient, Term), ...)`, merged so that each `Term` appears once.
    """

    def __init__(self, terms: tuple[tuple[float, Term], ...]) -> None:
        merged: dict[Term, float] = {}
        for coef, term in terms:
            merged[term] = merged.get(term, 0.0) + float(coef)
        self.terms: tuple[tuple[float, Term], ...] = tuple(
            (coef, term) for term, coef in merged.items() if coef != 0.0
        )
        if not self.terms:
            raise OipError("objective is empty (all coefficients cancel)")

    # composition -------------------------------------------------------------------------
    def __add__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(self.terms + other.terms)

    def __sub__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(self.terms + (-other).terms)

    def __mul__(self, factor: float) -> Objective:
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real):
            return NotImplemented
        return Objective(tuple((coef * float(factor), term) for coef, term in self.terms))

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return self * -1.0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Objective) and dict((t, c) for c, t in self.terms) == dict(
            (t, c) for c, t in other.terms
        )

    def __hash__(self) -> int:
        return hash(frozenset((t, c) for c, t in self.terms))

    def __repr__(self) -> str:
        return f"Objective({self})"

    def __str__(self) -> str:
        parts: list[str] = []
        for i, (coef, term) in enumerate(self.terms):
            magnitude = abs(coef)
            text = (
                term.describe()
                if magnitude == 1.0
                else f"{_format_coef(magnitude)} × {term.describe()}"
            )
            if i == 0:
                parts.append(text if coef > 0 else f"−{text}")
            else:
                parts.append(f"{'+' if coef > 0 else '−'} {text}")
        return " ".join(parts)


def _check_layer(layer: object) -> str:
    if not isinstance(layer, str) or not layer:
        raise OipError(f"layer must be a layer name, got {layer!r}")
    return layer


class MapMean(Objective):
    """Mean activation of one feature map of a map layer (conv, pooling).

    Objectives name layers; the engine of a model checks them against its description (an
    unknown layer or a unit beyond the layer's size is an `OipError` there).

    Args:
        layer: a map layer of the model.
        unit: the map (channel) index.
    """

    def __init__(self, layer: str, unit: int) -> None:
        super().__init__(((1.0, Term("map", _check_layer(layer), _check_unit(unit))),))


class Node(Objective):
    """Value of one node of a hidden node layer (Flatten, Dense, global pooling); for the
    output layer use `ClassLogit`.

    Args:
        layer: a node layer of the model other than its output.
        unit: the node index.
    """

    def __init__(self, layer: str, unit: int) -> None:
        super().__init__(((1.0, Term("node", _check_layer(layer), _check_unit(unit))),))


class ClassLogit(Objective):
    """The pre-softmax score (logit) of one class: the output layer's value before its softmax.

    Args:
        digit: the class index, 0 to classes - 1 (checked by the engine).
    """

    def __init__(self, digit: int) -> None:
        super().__init__(((1.0, Term("logit", LOGIT, _check_unit(digit))),))
