"""The digit picker: one all-in-one component for every page that shows a digit.

Sources: a dataset split and index with previous/next, a random digit of a class, the next
misclassified digit, an uploaded picture, a digit drawn on a canvas. Whatever the source, the
chosen digit lands in the picker's store (`DigitPickerIds.choice(aio_id)`, data as in
`app.digits`), which a page reads as an `Input` and turns into picture and model input with
`app.digits.resolve`. Several pickers can live on one page (distinct `aio_id`s): the
callbacks are pattern-matching (MATCH), written once here. A new source is one more part in
the layout, one more input of `choose` and one more pixel kind in `app.digits`.

Drawing: the canvas is drawn in the browser (`assets/draw.js`: pointer events, pen width and
colour, clear, undo); at most 6 times a second per tab, and always once a stroke ends, the
script writes a small PNG of it into the picker's drawing store (`dash_clientside.set_props`).
`choose` turns that into model input (`app.digits.choice_from_drawing`), shows what the model
sees beside the canvas and links the drawing to the attribution page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import MATCH, Input, Output, State, ctx, dcc, html, no_update

from app import digits, ids
from app.components.alerts import message
from app.components.links import ATTRIBUTION_PATH, page_href
from app.components.pictures import digit_src
from app.components.registry import CallbackSet
from app.components.validate import InvalidValue, whole_number
from app.services import get_services
from cnn_core.data import drawing
from cnn_core.data.preprocess import MAX_UPLOAD_BYTES, ImageTooLargeError, UploadError
from cnn_core.explain.compare import default_pair

#: The sources a picker can offer.
SOURCES = ("dataset", "random", "misclassified", "upload", "draw")
#: The explorer's canvas's `id` (the page's one canvas); other pickers get `draw-canvas-<aio_id>`.
DRAW_CANVAS = "draw-canvas"
#: The canvas's longer side in pixels, and the picture sent: the model's input size times this
#: (at most the canvas), e.g. 112 x 112 for MNIST: a few KB of PNG.
CANVAS_SIDE = 280
SEND_SCALE = 4
#: Pen widths in canvas pixels (the default suits a 28 x 28 digit drawn across the canvas).
PEN_WIDTHS = (4, 48, 22)


def _upload_hint(desc) -> str:
    """What the upload makes of a file: an MNIST digit, or the picture fitted to the input."""
    if digits.noun() == "digit":
        return " of a handwritten digit"
    return f" of a picture (centre-cropped to {desc.height}×{desc.width})"


class DigitPickerIds:
    """Ids of a picker's parts: `{"component", "subcomponent", "aio_id"}` dicts (MATCH-able)."""

    COMPONENT = "DigitPicker"

    @classmethod
    def part(cls, subcomponent: str, aio_id: Any) -> dict[str, Any]:
        return {"component": cls.COMPONENT, "subcomponent": subcomponent, "aio_id": aio_id}

    @classmethod
    def split(cls, aio_id: Any) -> dict[str, Any]:
        return cls.part("split", aio_id)

    @classmethod
    def index(cls, aio_id: Any) -> dict[str, Any]:
        return cls.part("index", aio_id)

    @classmethod
    def prev(cls, aio_id: Any) -> dict[str, Any]:
        return cls.part("prev", aio_id)

    @classmethod
    def next(cls, aio_id: Any) -> dict[str, Any]:
        return cls.part("next", aio_id)

    @classmethod
    def klass(cls, aio_id: Any) -> dict[str, Any]:
        return cls.part("class", aio_id)

    @classmethod
    def random(cls, aio_id: Any) -> dict[str, Any]:
        return cls.part("random", aio_id)

    @classmethod
    def misclassified(cls, aio_id: Any) -> dict[str, Any]:
        return cls.part("misclassified", aio_id)

    @classmethod
    def upload(cls, aio_id: Any) -> dict[str, Any]:
        return cls.part("upload", aio_id)

    @classmethod
    def upload_sink(cls, aio_id: Any) -> dict[str, Any]:
        return cls.part("upload-sink", aio_id)

    @classmethod
    def drawing(cls, aio_id: Any) -> dict[str, Any]:
        """The store the canvas script writes its picture to: `{"png": data URL, "seq": n}`."""
        return cls.part("drawing", aio_id)

    @classmethod
    def seen(cls, aio_id: Any) -> dict[str, Any]:
        """The drawn digit as the model sees it (an image beside the canvas)."""
        return cls.part("seen", aio_id)

    @classmethod
    def explain(cls, aio_id: Any) -> dict[str, Any]:
        """The link sending the drawn digit to the attribution page."""
        return cls.part("explain", aio_id)

    @classmethod
    def choice(cls, aio_id: Any) -> dict[str, Any]:
        """The store with the chosen digit: what a page listens to."""
        return cls.part("choice", aio_id)

    @classmethod
    def message(cls, aio_id: Any) -> dict[str, Any]:
        return cls.part("message", aio_id)


def dom_id(component_id: dict[str, Any]) -> str:
    """The `id` attribute Dash gives a component with a dict id (keys sorted, compact JSON),
    e.g. for a CSS selector `[id='...']` in browser tests."""
    return json.dumps(component_id, sort_keys=True, separators=(",", ":"))


def _labelled(label: str, control: Any, hidden: bool = False, target: Any = None) -> dbc.Col:
    """`label` above `control`, tied to the element with id `target` (a dict id) if given."""
    tie = {"html_for": dom_id(target)} if target is not None else {}
    return dbc.Col(
        [dbc.Label(label, className="small text-muted mb-0", **tie), control],
        width="auto",
        className="mb-2",
        style={"display": "none"} if hidden else None,
    )


def _class_select_style(class_names: Sequence[str]) -> dict[str, str]:
    """Wide enough for the longest class name ("blue triangle"), 5em at least (digits)."""
    longest = max((len(name) for name in class_names), default=1)
    return {"minWidth": "5em", "width": f"calc({longest}ch + 3em)", "flex": "none"}


class DigitPicker(html.Div):
    """A card to choose a digit; its choice is in the store `DigitPickerIds.choice(aio_id)`.

    Args:
        aio_id: this picker's id on the page (text).
        split, index: the dataset digit chosen at first.
        splits: the splits offered ("test", "train"); one split hides the switch.
        sources: the ways of picking offered (`SOURCES`); the others are present but hidden,
            so that every instance has the parts the shared callbacks expect.
        title: the card's title (default "Digit", or "Image" for a model that is not
            MNIST-style).
        drawn: a drawn digit's pixel code (`cnn_core.data.drawing`, e.g. from a `drawn=` URL
            parameter): shown at first instead of the dataset digit, and on the canvas.
        canvas_id: the canvas's `id` (default `draw-canvas-<aio_id>`; the explorer's is
            `DRAW_CANVAS`).
        explain_link: offer the "explain this drawing" link to the attribution page.
    """

    ids = DigitPickerIds
    callbacks = CallbackSet()

    def __init__(
        self,
        aio_id: str,
        split: str = "test",
        index: int = 0,
        splits: Sequence[str] = digits.SPLITS,
        sources: Sequence[str] = SOURCES,
        title: str | None = None,
        drawn: str | None = None,
        canvas_id: str | None = None,
        explain_link: bool = True,
    ) -> None:
        super().__init__(className="digit-picker")  # complete before anything can raise
        ids = self.ids
        services = get_services()
        desc = services.desc
        unknown = set(sources) - set(SOURCES)
        if unknown:
            raise ValueError(f"unknown digit sources {sorted(unknown)}; choose from {SOURCES}")
        if not services.has_data:  # a model alone: pictures come from the user only
            sources = tuple(s for s in sources if s in ("upload", "draw"))
            splits, index = splits[:1], 0
        index_box = dbc.InputGroup(
            [
                dbc.Button("◀", id=ids.prev(aio_id), outline=True, n_clicks=0),
                dbc.Input(
                    id=ids.index(aio_id),
                    type="number",
                    value=index,
                    min=0,
                    max=max(digits.split_size(split) - 1, 0),
                    step=1,
                    debounce=True,
                    style={"maxWidth": "7em"},
                ),
                dbc.Button("▶", id=ids.next(aio_id), outline=True, n_clicks=0),
            ],
            size="sm",
        )
        split_switch = dbc.RadioItems(
            id=ids.split(aio_id),
            options=[{"label": s, "value": s} for s in splits],
            value=split,
            inline=True,
        )
        random_box = dbc.InputGroup(
            [
                dbc.Select(
                    id=ids.klass(aio_id),
                    options=[{"label": n, "value": str(k)} for k, n in enumerate(desc.class_names)],
                    value=str(default_pair(desc.num_classes)[0]),
                    style=_class_select_style(desc.class_names),
                ),
                dbc.Button("random", id=ids.random(aio_id), n_clicks=0),
            ],
            size="sm",
        )
        misclassified = dbc.Button(
            "next misclassified",
            id=ids.misclassified(aio_id),
            n_clicks=0,
            size="sm",
            color="danger",
            outline=True,
        )
        upload = dcc.Upload(
            id=ids.upload(aio_id),
            children=html.Div(["Drop or ", html.A("choose a PNG/JPEG"), _upload_hint(desc)]),
            accept="image/png,image/jpeg,image/*",
            # the browser drops a larger file unread (assets/upload_limit.js says why, through
            # the server: `TOO_LARGE`); the server checks again whatever is sent
            max_size=MAX_UPLOAD_BYTES,
            multiple=False,
            className="digit-picker-upload small text-center p-2 mt-1",
            style={
                "border": "1px dashed #adb5bd",
                "borderRadius": "6px",
                "cursor": "pointer",
                **({} if "upload" in sources else {"display": "none"}),
            },
        )
        # the limit the browser checks before sending (assets/upload_limit.js reads it here)
        upload = html.Div(upload, **{"data-max-bytes": str(MAX_UPLOAD_BYTES)})
        first = digits.dataset_choice(split, index) if services.has_data else None
        if drawn and "draw" in sources:
            try:
                first = digits.drawn_choice(drawn)
            except drawing.DrawingError:
                drawn = None  # the page's URL view reports a bad `drawn=` parameter
        else:
            drawn = None
        pad = _draw_pad(
            aio_id, canvas_id or f"{DRAW_CANVAS}-{aio_id}", drawn, explain_link, "draw" in sources
        )
        body = [
            html.H6(title or digits.noun().capitalize(), className="card-title"),
            dbc.Row(
                [
                    _labelled("split", split_switch, hidden=len(splits) < 2),
                    _labelled("index", index_box, "dataset" not in sources, ids.index(aio_id)),
                ],
                className="g-2",
            ),
            dbc.Row(
                [
                    _labelled(
                        f"random {digits.noun()} of class",
                        random_box,
                        "random" not in sources,
                        ids.klass(aio_id),
                    ),
                    _labelled("errors", misclassified, "misclassified" not in sources),
                ],
                className="g-2",
            ),
            upload,
            pad,
            html.Div(id=ids.message(aio_id)),
            dcc.Store(id=ids.choice(aio_id), data=first),
            dcc.Store(id=ids.upload_sink(aio_id)),
            dcc.Store(id=ids.drawing(aio_id)),
        ]
        self.children = dbc.Card(dbc.CardBody(body), className="mb-2")

    @classmethod
    def register_callbacks(cls) -> None:
        """Hand the pickers' callbacks to the app (call from each page that uses a picker)."""
        cls.callbacks.register()


def _hex(colour: Sequence[int]) -> str:
    rgb = tuple(colour) * 3 if len(colour) == 1 else tuple(colour)
    return "#" + "".join(f"{int(v):02x}" for v in rgb[:3])


def _draw_pad(
    aio_id: str, canvas_id: str, drawn: str | None, explain_link: bool, offered: bool
) -> html.Div:
    """The drawing part: canvas, pen width and colours, undo and clear, what the model sees.

    The canvas is the data's background colour and the model input's aspect ratio; the data
    attributes tell `assets/draw.js` where to send the picture and at what size.
    """
    ids = DigitPickerIds
    h, w, _c = get_services().desc.input_shape
    scale = CANVAS_SIDE / max(h, w)
    canvas_w, canvas_h = round(w * scale), round(h * scale)
    send = min(SEND_SCALE, scale)
    paper = _hex(digits.paper_colour())
    inks = [_hex(colour) for colour in digits.ink_colours()]
    seen_src, initial = None, None
    if drawn:
        pixels = drawing.decode_pixels(drawn, get_services().desc.input_shape)
        seen_src, initial = digit_src(pixels, scale=3), digit_src(pixels, scale=1)
    canvas = html.Canvas(
        id=canvas_id,
        width=canvas_w,
        height=canvas_h,
        className="draw-canvas",
        title="draw here (mouse, finger or pen)",
        style={"backgroundColor": paper},
        **{
            "data-store": dom_id(ids.drawing(aio_id)),
            "data-paper": paper,
            "data-ink": inks[0],
            "data-send-width": str(round(w * send)),
            "data-send-height": str(round(h * send)),
            "data-initial": initial or "",
        },
    )
    swatches = [
        html.Button(
            className="draw-swatch" + (" active" if k == 0 else ""),
            title=f"pen colour {ink}",
            style={"backgroundColor": ink},
            **{"data-colour": ink, "aria-label": f"pen colour {ink}"},
        )
        for k, ink in enumerate(inks)
    ]
    low, high, default = PEN_WIDTHS
    tools = html.Div(
        [
            html.Label(
                "pen width",
                htmlFor=dom_id(ids.part("pen-width", aio_id)),
                className="small text-muted mb-0 me-1",
            ),
            dcc.Input(
                id=ids.part("pen-width", aio_id),
                type="range",
                min=low,
                max=high,
                step=1,
                value=default,
                className="draw-pen-width",
            ),
            html.Span(swatches, style=None if len(inks) > 1 else {"display": "none"}),
            html.Button("undo", className="btn btn-sm btn-outline-secondary draw-undo ms-1"),
            html.Button("clear", className="btn btn-sm btn-outline-secondary draw-clear ms-1"),
        ],
        className="draw-tools d-flex align-items-center flex-wrap gap-1 mb-1",
    )
    seen = html.Div(
        [
            html.Div("what the model sees", className="small text-muted"),
            html.Img(
                id=ids.seen(aio_id),
                src=seen_src,
                alt=f"the drawn {digits.noun()} as the model sees it",
                className="draw-seen",
            ),
            html.Div(  # the callback shows the link; a page without it hides the wrapper
                html.A(
                    "explain this drawing →",
                    id=ids.explain(aio_id),
                    href=page_href(ATTRIBUTION_PATH, drawn=drawn) if drawn else None,
                    # no Bootstrap d-block here: its display !important beat display: none
                    className="small",
                    style=None if drawn else {"display": "none"},
                    title="which pixels drove the decision: the attribution page",
                ),
                style=None if explain_link else {"display": "none"},
            ),
        ],
        className="draw-seen-box",
    )
    return html.Div(
        [
            html.Div(
                f"or draw {digits.a_noun()}",
                className="small text-muted mt-2",
            ),
            tools,
            html.Div([canvas, seen], className="d-flex flex-wrap align-items-start gap-2"),
        ],
        className="draw-pad",
        style=None if offered else {"display": "none"},
    )


_ids = DigitPickerIds


@DigitPicker.callbacks.callback(
    output=dict(
        index=Output(_ids.index(MATCH), "value"),
        index_max=Output(_ids.index(MATCH), "max"),
        choice=Output(_ids.choice(MATCH), "data"),
        message=Output(_ids.message(MATCH), "children"),
        upload=Output(_ids.upload(MATCH), "contents"),
        seen=Output(_ids.seen(MATCH), "src"),
        explain=Output(_ids.explain(MATCH), "href"),
        explain_style=Output(_ids.explain(MATCH), "style"),
    ),
    inputs=dict(
        split=Input(_ids.split(MATCH), "value"),
        index=Input(_ids.index(MATCH), "value"),
        prev=Input(_ids.prev(MATCH), "n_clicks"),
        next=Input(_ids.next(MATCH), "n_clicks"),
        random=Input(_ids.random(MATCH), "n_clicks"),
        misclassified=Input(_ids.misclassified(MATCH), "n_clicks"),
        contents=Input(_ids.upload(MATCH), "contents"),
        picture=Input(_ids.drawing(MATCH), "data"),
    ),
    state=dict(
        klass=State(_ids.klass(MATCH), "value"),
        filename=State(_ids.upload(MATCH), "filename"),
        choice=State(_ids.choice(MATCH), "data"),
    ),
    prevent_initial_call=True,
)
def choose(
    split, index, contents, klass, filename, choice, picture=None, **_clicks
) -> dict[str, Any]:
    """Every way of picking a digit ends here: the index box and the picker's choice."""
    trigger = ctx.triggered_id
    part = trigger.get("subcomponent") if isinstance(trigger, dict) else None
    if part == "drawing":
        return choose_drawing(picture)
    return choose_digit(part, split, index, contents, klass, filename, choice)


OUTPUTS = ("index", "index_max", "choice", "message", "upload", "seen", "explain", "explain_style")


def choose_drawing(picture: object) -> dict[str, Any]:
    """The picker's outputs for a new picture of its canvas (`{"png": data URL, "seq": n}`).

    The choice becomes the drawn digit; beside the canvas, what the model sees, and the link
    to the attribution page. A broken, huge or empty picture keeps the digit and says why.
    """
    outputs: dict[str, Any] = dict.fromkeys(OUTPUTS, no_update)
    try:
        new_choice = digits.choice_from_drawing(picture)
    except UploadError as err:
        return {**outputs, "message": message(f"cannot use this drawing: {err}")}
    pixels = drawing.decode_pixels(new_choice["code"], get_services().desc.input_shape)
    return {
        **outputs,
        "choice": new_choice,
        "message": None,
        "seen": digit_src(pixels, scale=3),
        "explain": page_href(ATTRIBUTION_PATH, drawn=new_choice["code"]),
        "explain_style": None,
    }


def choose_digit(part, split, index, contents, klass, filename, choice) -> dict[str, Any]:
    """The picker's outputs after its part `part` changed (see `choose`).

    Bad input (an index out of range, a broken upload) keeps the digit and says why. The
    upload's contents are cleared once read, so that choosing the same file again works.
    """
    outputs: dict[str, Any] = dict.fromkeys(OUTPUTS, no_update)
    try:
        if part == "upload":
            if not contents:
                return outputs
            check_not_too_large(contents)
            choice = digits.upload_choice(contents, filename)
            doubts = choice.get("doubts") or []
            note = message("Look at what the model sees: " + "; ".join(doubts)) if doubts else None
            outputs.update(choice=choice, message=note)
            outputs["upload"] = None
            return outputs
        value, new_choice = digits.pick(part or "", split, index, klass, choice)
    except (InvalidValue, UploadError) as err:
        what = "cannot use this file" if part == "upload" else "cannot show this digit"
        if part == "upload":
            outputs["upload"] = None
        return {**outputs, "message": message(f"{what}: {err}")}
    n = digits.split_size(new_choice["split"])
    return {**outputs, "index": value, "index_max": n - 1, "choice": new_choice, "message": None}


#: What the browser sends instead of a file over `MAX_UPLOAD_BYTES` (`assets/upload_limit.js`):
#: this prefix and the file's size in bytes, so that the page shows the server's one message.
TOO_LARGE = "data:application/x-cnn-lens-too-large;bytes="


def too_large_message(n_bytes: int) -> str:
    """The size message of a file of `n_bytes` (the words `decode_data_url` uses)."""
    return f"the file has {n_bytes / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB"


def check_not_too_large(contents: object) -> None:
    """`ImageTooLargeError` for the browser's word that a file is too large (`TOO_LARGE`)."""
    if isinstance(contents, str) and contents.startswith(TOO_LARGE):
        size = whole_number(contents[len(TOO_LARGE) :].rstrip(","), "file size", 0)
        raise ImageTooLargeError(too_large_message(size))


def oversized_answer(outputs: object, body_bytes: int) -> dict[str, Any] | None:
    """The callback answer to a picker request whose body was over the server's cap (a file
    sent anyway, without the browser's check): the picker's size message, the upload emptied.

    Args:
        outputs: the request's `outputs` (read from the start of its body).
        body_bytes: the body's size; the file is about 3/4 of it (base64).

    Returns:
        `{"multi": True, "response": {...}}` as Dash answers, or None if `outputs` are not a
        picker's.
    """
    found = {}
    for item in outputs if isinstance(outputs, list) else ():
        part = item.get("id") if isinstance(item, dict) else None
        if isinstance(part, dict) and part.get("component") == DigitPickerIds.COMPONENT:
            found[(part.get("subcomponent"), item.get("property"))] = part
    if ("message", "children") not in found or ("upload", "contents") not in found:
        return None
    text = f"cannot use this file: {too_large_message(body_bytes * 3 // 4)}"
    return {
        "multi": True,
        "response": {
            dom_id(found[("message", "children")]): {"children": message(text)},
            dom_id(found[("upload", "contents")]): {"contents": None},
        },
    }


# A file input fires no change event when the same file is chosen again: empty it after each
# upload (its contents are cleared on the server side too), so re-uploading a file works.
DigitPicker.callbacks.clientside(
    """
    function(contents) {
        document.querySelectorAll(".digit-picker-upload input[type=file]").forEach(
            function(input) { input.value = ""; });
        return null;
    }
    """,
    Output(_ids.upload_sink(MATCH), "data"),
    Input(_ids.upload(MATCH), "contents"),
    prevent_initial_call=True,
)


def choice_key(aio_id: str) -> str:
    """`"<id>.data"` of a picker's choice store, as callback requests name it (tests, benches)."""
    return f"{dom_id(DigitPickerIds.choice(aio_id))}.data"


#: The explorer's picker's choice, as callback requests name it.
EXPLORER_CHOICE = choice_key(ids.ACT_PICKER)
