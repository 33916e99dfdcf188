"""Which digit a page shows: picking one (dataset, random of a class, next misclassified, upload)
and turning a choice into its picture and model input. No Dash: tested without a browser.

A choice is a small JSON object (what the digit picker's store holds):
`{"kind": "dataset", "split": "test", "index": 312}` or, for pixels that came from the browser,
`{"kind": "upload", "digit": [[...]], "name": "seven.png"}`. A digit drawn on the picker's
canvas is `{"kind": "drawn", "code": "z..."}`: its model-input pixels as the compact code of
`cnn_core.data.drawing` (also the explorer's `drawn=` URL parameter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.components.validate import InvalidValue, whole_number
from app.services import get_services
from cnn_core.config import SMALL_MODEL_NODES
from cnn_core.data import drawing
from cnn_core.data.preprocess import (
    FIELD,
    UploadError,
    digit_and_doubts_from_upload,
    digit_from_list,
    picture_from_upload,
)

SPLITS = ("test", "train")
#: Choices that carry their own pixels (validated: they came from the browser).
PIXEL_KINDS = ("upload",)
#: A digit drawn on the picker's canvas.
DRAWN = "drawn"
#: A drawn digit's `Digit.description`.
DRAWN_DESCRIPTION = "drawn digit"
#: How a picker can step from the current digit.
STEPS = ("prev", "next", "random", "misclassified")


class NoPicture(InvalidValue):
    """Nothing to show yet: a model served alone before its first upload or drawing."""


@dataclass(frozen=True)
class Digit:
    """A digit ready to show.

    Attributes:
        image: `(H, W)` grey or `(H, W, 3)` colour uint8, as the data holds it.
        x: `(1, H, W, C)` float32 model input.
        label: the true class when known (dataset digits), else None.
        description: "test digit 312", "uploaded: seven.png".
        split, index: where a dataset digit comes from (None for pixels from the browser).
    """

    image: np.ndarray
    x: np.ndarray
    label: int | None
    description: str
    split: str | None = None
    index: int | None = None


def noun() -> str:
    """What the pages call a picture of the loaded model: "digit" for a 28x28 grey
    MNIST-style model (the seed), "image" for any other."""
    return "digit" if drawing.mnist_style(get_services().desc.input_shape) else "image"


def a_noun() -> str:
    """`noun()` with its article: "a digit", "an image"."""
    word = noun()
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def check_split(split: object) -> str:
    """`split` if it is "test" or "train", else `InvalidValue`."""
    if split not in SPLITS:
        raise InvalidValue(f"unknown split {split!r}; choose test or train")
    return str(split)


def split_size(split: str) -> int:
    return len(get_services().data.labels(split))


def check_index(index: object, split: str) -> int:
    """An index of a digit in `split`, else `InvalidValue` saying the valid range."""
    n = split_size(split)
    value = whole_number(index, "index")
    if not 0 <= value < n:
        raise InvalidValue(f"index {value} is outside the {split} split (0 to {n - 1})")
    return value


def dataset_choice(split: str, index: int) -> dict[str, Any]:
    return {"kind": "dataset", "split": split, "index": index}


def check_upload_fits() -> None:
    """`UploadError` unless the model takes what an MNIST-style upload becomes: a
    `(FIELD, FIELD)` grey digit."""
    shape = get_services().desc.input_shape
    if shape != (FIELD, FIELD, 1):
        raise UploadError(
            f"an upload becomes a {FIELD}x{FIELD} grey digit (MNIST style); this model takes "
            f"{shape[0]}x{shape[1]} images with {shape[2]} channel(s)"
        )


def upload_choice(contents: str, filename: object) -> dict[str, Any]:
    """The choice for an uploaded file (`UploadError` with the reason if it cannot be used).

    A 28x28 grey model gets the MNIST pipeline (ink found, centred, 20 px: the seed's way, with
    its doubts); any other model the picture as an image folder's pictures are read (centre
    crop, bilinear resize, the model's channels), kept as a pixel code like a drawing's.
    """
    name = str(filename or "upload")[:80]
    shape = get_services().desc.input_shape
    if not drawing.mnist_style(shape):
        pixels = picture_from_upload(contents, shape)
        return {"kind": "upload", "code": drawing.encode_pixels(pixels), "name": name}
    digit, doubts = digit_and_doubts_from_upload(contents)
    return {"kind": "upload", "digit": digit.tolist(), "name": name, "doubts": doubts}


def drawn_choice(code: object) -> dict[str, Any]:
    """The choice for a drawn digit's pixel code (`drawing.DrawingError` unless it fits)."""
    drawing.decode_pixels(code, get_services().desc.input_shape)
    return {"kind": DRAWN, "code": code}


def choice_from_drawing(picture: object) -> dict[str, Any]:
    """The choice for the canvas's picture, `{"png": "data:image/png;base64,...", ...}` as the
    page sends it (validated: `drawing.DrawingError` with the reason)."""
    png = picture.get("png") if isinstance(picture, dict) else None
    if not isinstance(png, str):
        raise drawing.DrawingError("the drawing did not arrive as a PNG picture")
    desc = get_services().desc
    pixels = drawing.drawing_to_pixels(png, desc.input_shape, paper_colour())
    return {"kind": DRAWN, "code": drawing.encode_pixels(pixels)}


_PAPER: dict[int, tuple[tuple[int, ...], list[tuple[int, ...]]]] = {}


def _palette() -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    data = get_services().data
    key = id(data)
    if key not in _PAPER:
        sample = data.x_train[:2000]
        if len(sample):
            _PAPER[key] = (drawing.background_colour(sample), drawing.ink_colours(sample))
        elif data.channels == 1:  # a model alone: MNIST's white ink on black
            _PAPER[key] = ((0,), [(255,)])
        else:  # a model alone: black and primary inks on white paper
            _PAPER[key] = (
                (255, 255, 255),
                [(0, 0, 0), (220, 30, 30), (30, 60, 220), (30, 160, 60)],
            )
    return _PAPER[key]


def paper_colour() -> tuple[int, ...]:
    """The data's background: `(grey,)` or `(r, g, b)` (what the canvas is painted with)."""
    return _palette()[0]


def ink_colours() -> list[tuple[int, ...]]:
    """The pen's colours: the data's common ink colours (one for grey data)."""
    return _palette()[1]


def resolve(choice: object) -> Digit:
    """The digit a choice names (validated: it came from the browser).

    Raises:
        InvalidValue: no or a malformed choice, a split or index out of range.
        UploadError: pixels that are not a digit this model takes (`DrawingError`: a drawn
            digit's code that is not this model's input).
    """
    services = get_services()
    kind = choice.get("kind") if isinstance(choice, dict) else None
    if kind in PIXEL_KINDS:
        name = str(choice.get("name") or kind)[:80]  # type: ignore[union-attr]
        if "code" in choice:  # type: ignore[operator]
            image = drawing.decode_pixels(choice["code"], services.desc.input_shape)  # type: ignore[index]
        else:
            check_upload_fits()
            image = digit_from_list(choice.get("digit"))  # type: ignore[union-attr]
        return Digit(image, services.trained.standardize(image[None]), None, f"uploaded: {name}")
    if kind == DRAWN:
        code = choice.get("code")  # type: ignore[union-attr]
        pixels = drawing.decode_pixels(code, services.desc.input_shape)
        return Digit(pixels, services.trained.standardize(pixels[None]), None, DRAWN_DESCRIPTION)
    if kind != "dataset":
        if not services.has_data:
            raise NoPicture(f"No data set is loaded: upload or draw an {noun()} to begin.")
        raise InvalidValue("no digit selected")
    split = check_split(choice.get("split"))  # type: ignore[union-attr]
    index = check_index(choice.get("index"), split)  # type: ignore[union-attr]
    return Digit(
        services.data.images(split)[index],
        services.x_std[split][index : index + 1],
        int(services.data.labels(split)[index]),
        f"{split} {noun()} {index}",
        split,
        index,
    )


def step(how: str, split: str, current: int, klass: object = None) -> int:
    """The index after a previous / next / random-of-`klass` / next-misclassified step.

    Raises:
        InvalidValue: an unknown class, or no digit to step to.
    """
    services = get_services()
    n = split_size(split)
    if how == "prev":
        return (current - 1) % n
    if how == "next":
        return (current + 1) % n
    if how == "random":
        n_classes = services.desc.num_classes
        try:
            k = int(str(klass))
        except ValueError:
            raise InvalidValue(f"class {klass!r} is not a class 0-{n_classes - 1}") from None
        if not 0 <= k < n_classes:
            raise InvalidValue(f"class {k} is not a class 0-{n_classes - 1}")
        candidates = np.flatnonzero(services.data.labels(split) == k)
        candidates = candidates[candidates != current]
        if len(candidates) == 0:
            raise InvalidValue(f"no other digit of class {k} in the {split} split")
        return int(np.random.default_rng().choice(candidates))
    if how == "misclassified":
        wrong = np.flatnonzero(services.predicted(split) != services.data.labels(split))
        if len(wrong) == 0:
            raise InvalidValue(f"the model classifies every {split} digit correctly")
        after = wrong[wrong > current]
        return int(after[0] if len(after) else wrong[0])  # wrap around
    raise InvalidValue(f"unknown step {how!r}")


def current_index(index: object, split: str, choice: object) -> int:
    """The index to step from: the index box if valid, else the shown dataset digit, else 0."""
    try:
        return check_index(index, split)
    except InvalidValue:
        shown = choice.get("index", 0) if isinstance(choice, dict) else 0
        valid = isinstance(shown, int) and not isinstance(shown, bool)
        return shown if valid and 0 <= shown < split_size(split) else 0


def pick(
    trigger: str, split: object, index: object, klass: object = None, choice: object = None
) -> tuple[int, dict[str, Any]]:
    """`(index, choice)` after the picker's control `trigger` changed (dataset digits).

    `trigger`: "split" (the same index in the new split, clamped to its size), "index" (the
    typed index) or one of `STEPS`.

    Raises:
        InvalidValue: a bad split, index or class; nothing to step to.
    """
    split = check_split(split)
    n = split_size(split)
    if trigger == "split":
        other = "train" if split == "test" else "test"
        try:
            value = min(check_index(index, other), n - 1)
        except InvalidValue:
            value = 0
    elif trigger == "index":
        if index is None:
            raise InvalidValue(f"enter a whole number from 0 to {n - 1}")
        value = check_index(index, split)
    else:
        value = step(trigger, split, current_index(index, split, choice), klass)
    return value, dataset_choice(split, value)


def layer_values(digit: Digit, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """The digit's output at `layer` (`(H, W, C)` maps or `(units,)` nodes, float32) and what
    the model outputs for it: `(classes,)` probabilities (the logits layer's values if the
    model has no softmax)."""
    services = get_services()
    desc, acts = services.desc, services.acts
    if len(desc.layers) > SMALL_MODEL_NODES:
        # two functions, each traced once: the node's own part of the graph (a new node costs
        # a fraction of a second) and the model's warm output, rather than one per node
        # holding the whole model (seconds to trace for every node a user opens)
        return acts.layer(digit.x, layer)[0], acts.predict_proba(digit.x)[0]
    activations = acts.activations(digit.x, (layer, desc.logits_layer))  # one warm call
    if desc.output_is_logits:
        proba = acts.predict_proba(digit.x)[0]
    else:
        proba = activations[desc.logits_layer][0]
    return activations[layer][0], proba
