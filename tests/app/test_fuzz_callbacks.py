"""Fuzz every server callback through a real gunicorn: hostile values get an answer, never a 5xx.

The requests are generated from the server's own `/_dash-dependencies`: every input and state of
every callback gets either a value the page itself uses (harvested from the pages' layouts) or a
hostile one (wrong types, NaN/Infinity, huge numbers, long or path-like strings, forged stores
and job handles), and some bodies lose fields or name inputs that do not exist. Jobs go to a
real Redis with no Celery worker, so a valid Start queues work without running it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app import ids
from app.components.digit_picker import DigitPickerIds, dom_id
from cnn_core.data import drawing
from tests.dash_http import (
    callback_body,
    dependencies,
    find,
    is_multi,
    is_pattern,
    layout_values,
    post_json,
    request,
    update,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow]

#: ≥ 500 requests; `CNN_LENS_FUZZ_EXAMPLES` raises it for a longer local run, and
#: `CNN_LENS_FUZZ_RANDOM=1` draws new requests instead of the same ones every run.
EXAMPLES = int(os.environ.get("CNN_LENS_FUZZ_EXAMPLES", "520"))
RANDOM = os.environ.get("CNN_LENS_FUZZ_RANDOM") == "1"
PAGES = ("/", "/activations", "/compare", "/attribution", "/oip")
BAD_LOG = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|callback failed")


@pytest.fixture(scope="module")
def server(gunicorn_server):
    """The session's gunicorn: two workers on Redis, as a class would be served."""
    return gunicorn_server


@pytest.fixture(scope="module")
def deps(server):
    return dependencies(server.url)


@pytest.fixture(scope="module")
def good_values(server, deps) -> dict[tuple[str, str], list]:
    """Values the pages themselves put in their components (from each page's layout)."""
    found = layout_values(server.url, deps, PAGES)
    assert ("act-layer", "value") in found and ("oip-kind", "value") in found
    assert ("attr-steps", "value") in found
    return {key: values[:12] for key, values in found.items()}


def png_data_url(width: int, height: int, mode: str = "L", fill: int = 0) -> str:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), fill).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def digit_data_url() -> str:
    image = Image.new("L", (40, 60), 255)
    image.paste(0, (15, 10, 25, 50))  # a dark stroke on white paper: a "1"
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


SPECIAL_STRINGS = [
    "",
    " ",
    "NaN",
    "nan",
    "inf",
    "-Infinity",
    "1e400",
    "-1",
    "0x10",
    "1_000",
    "٣",  # an Arabic-Indic digit: isdecimal() but not ASCII
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "9" * 400,
    "Conv2D_1\x00",
    "data:image/png;base64,!!!!",
    "data:text/plain,hello",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 2**53 + 1, 10**30, -0.0, 0.5, 1.5]),
    st.text(max_size=12),
    st.sampled_from(SPECIAL_STRINGS),
)
KEYS = ["kind", "split", "index", "digit", "name", "handle", "what", "layer", "cell", "spec",
        "run", "points", "x", "y", "a", "b", "unit", "cmap", "png", "code", "seq"]  # fmt: skip
nested = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    ),
    max_leaves=8,
)
click_data = st.fixed_dictionaries(
    {
        "points": st.lists(
            st.dictionaries(
                st.sampled_from(["x", "y", "z", "customdata", "pointIndex", "curveNumber", "text"]),
                nested,
                max_size=5,
            ),
            max_size=2,
        )
    }
)
FORGED_STORES = [
    {"kind": "dataset", "split": "test", "index": 1e308},
    {"kind": "dataset", "split": "train", "index": -1},
    {"kind": "dataset", "split": ["test"], "index": [1]},
    {"kind": "upload", "digit": "x"},
    {"kind": "upload", "digit": [[300] * 28] * 28},
    {"kind": "upload", "digit": [[0.5] * 28] * 28},
    {"kind": "upload", "digit": [[1] * 27] * 28},
    {"kind": "upload", "digit": [[0] * 28] * 28, "name": ["x"] * 100},
    {"handle": "InN0b2xlbiI.forged-signature"},
    {"handle": ["not", "a", "string"]},
    {"handle": None, "what": "gallery"},
    {"handle": "x", "what": {"a": 1}, "spec": "nope"},
    {"layer": "Conv2D_1", "cell": 10**20},
    {"layer": ["Conv2D_1"], "cell": -5},
    {"run": {"run": "gallery"}},
    {"kind": "drawn", "code": "zAAAA"},
    {"kind": "drawn", "code": "z" + "A" * 40_000},
    {"kind": "drawn", "code": ["z"]},
    ["zAAAA", 5],  # compare's drawn digits of a side: codes, or forged
    [drawing.encode_pixels(np.full((28, 28), 255, np.uint8))] * 4,
    {"png": "data:image/png;base64,!!!!", "seq": 1},
    {"png": ["not", "a", "picture"], "seq": "x"},
    "gallery",
    ["single"],
]
uploads = st.sampled_from(
    [
        digit_data_url(),
        png_data_url(1, 1),
        png_data_url(4096, 4096, "RGBA", 0),
        png_data_url(5000, 10),
        "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode(),
        "data:image/png;base64," + "A" * (3 * 1024 * 1024),
    ]
)


def hostile_for(prop: str) -> st.SearchStrategy:
    """Something a browser would never send for this kind of prop."""
    hostile = [scalars, nested, st.sampled_from(FORGED_STORES)]
    if prop == "clickData":
        hostile.append(click_data)
    if prop == "contents":
        hostile += [uploads, uploads]
    if prop == "data":  # the drawing store: what the canvas script sends, or forged
        hostile.append(uploads.map(lambda url: {"png": url, "seq": 1}))
    if prop == "search":
        hostile.append(queries)
    return st.one_of(*hostile)


def sane_for(dep_id: str, prop: str, good: dict) -> st.SearchStrategy | None:
    """A value the page itself uses for this prop, or None when the layouts show none."""
    if dep_id == "_pages_location":  # the address: real paths, hostile queries
        return st.sampled_from(PAGES) if prop == "pathname" else queries
    candidates = good.get((dep_id, prop))
    return st.sampled_from(candidates) if candidates else None


QUERY_KEYS = ["split", "index", "layer", "cmap", "scaling", "range", "per_row", "a", "b", "n",
              "kind", "kind_b", "ia", "ib", "threshold", "run", "unit", "steps", "x", "target",
              "contrast", "opacity", "background", "baseline", "samples", "noise", "window",
              "stride", "drawn", "da", "db"]  # fmt: skip
queries = st.lists(
    st.tuples(
        st.sampled_from(QUERY_KEYS),
        st.one_of(st.sampled_from(SPECIAL_STRINGS), st.text(max_size=6)),
    ),
    max_size=6,
).map(lambda pairs: "?" + "&".join(f"{k}={v}" for k, v in pairs))


def pattern_items(dep_id: str, prop: str) -> st.SearchStrategy:
    """A list of concrete instances of a pattern-matching (ALL) input."""
    pattern = json.loads(dep_id)
    id_strategy = st.fixed_dictionaries(
        {k: (scalars if v == ["ALL"] else st.just(v)) for k, v in pattern.items()}
    )
    value = st.one_of(scalars, st.integers(0, 3))
    item = st.fixed_dictionaries({"id": id_strategy, "property": st.just(prop), "value": value})
    return st.lists(item, max_size=3)


@st.composite
def callback_requests(draw, deps, good):
    dep = draw(st.sampled_from(deps))
    # hypothesis favours small integers; a seeded Random keeps these rates as written
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    values = {}
    fields = dep.inputs + dep.state
    # Most requests: every value sane but one (what a tampered page sends); the rest: any mix.
    one_bad = rnd.random() < 0.6
    bad_index = rnd.randrange(len(fields)) if fields else -1
    for index, (dep_id, prop) in enumerate(fields):
        key = f"{dep_id}.{prop}"
        sane = sane_for(dep_id, prop, good)
        if is_multi(dep_id):
            values[key] = draw(pattern_items(dep_id, prop))
        elif one_bad and index != bad_index:
            values[key] = draw(sane) if sane is not None else None
        elif rnd.random() < 0.1:
            continue  # left out: None
        elif sane is not None and not one_bad and rnd.random() < 0.5:
            values[key] = draw(sane)
        else:
            values[key] = draw(hostile_for(prop))
    names = [f"{i}.{p}" for i, p in dep.inputs if not is_pattern(i)]
    forged = rnd.random() < 0.1
    changed = draw(st.text(max_size=10) if forged or not names else st.sampled_from(names))
    body = callback_body(dep, values, changed)
    mutation = rnd.randrange(25)  # 5 of 25: a malformed envelope
    if mutation == 0:
        del body[draw(st.sampled_from(["inputs", "state", "changedPropIds", "outputs"]))]
    elif mutation == 1 and body["inputs"]:
        body["inputs"][0] = draw(nested)  # an input that is not {"id", "property", "value"}
    elif mutation == 2:
        body["inputs"] = body["inputs"][:-1]  # one input short
    elif mutation == 3:
        body["state"] = [*body["state"], {"id": "nope", "property": "value", "value": 1}]
    elif mutation == 4:
        body["changedPropIds"] = draw(nested)
    return dep.output, body


def test_fuzzed_callbacks_never_fail_the_server(server, deps, good_values):
    answered: dict[int, int] = {}
    answered_by: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not RANDOM,  # by default the same requests every run: failures reproduce
        suppress_health_check=list(HealthCheck),
    )
    @given(callback_requests(deps, good_values))
    def one_request(case):
        output, body = case
        status, payload = post_json(server.url, "/_dash-update-component", body)
        answered[status] = answered.get(status, 0) + 1
        by_callback = f"{status} {output[:60]}"
        answered_by[by_callback] = answered_by.get(by_callback, 0) + 1
        assert status < 500, (output, body, payload[:500])
        assert b"Traceback" not in payload and b'File "' not in payload, (output, payload[:500])

    one_request()
    print(json.dumps(answered_by, indent=1, sort_keys=True))
    assert sum(answered.values()) >= 500, answered
    problems = [line for line in server.log().splitlines() if BAD_LOG.search(line)]
    assert not problems, "\n".join(problems[:40])
    assert server.proc.poll() is None


def test_after_the_fuzz_the_server_still_answers_correctly(server, deps):
    # runs after the fuzz (same module-scoped server): ready, pages, and a correct callback
    assert request(server.url, "GET", "/readyz")[0] == 200
    for path in PAGES:
        assert request(server.url, "GET", path)[0] == 200
    render = find(deps, "act-grid.figure")
    choice = dom_id(DigitPickerIds.choice(ids.ACT_PICKER))
    values = {
        f"{choice}.data": {"kind": "dataset", "split": "test", "index": 312},
        "act-layer.value": "Conv2D_3",
        "act-cmap.value": "jet",
        "act-scaling.value": "seed",
        "act-range.value": "layer",
        "act-per-row.value": 8,
        "act-input-cmap.value": "gray",
    }
    status, payload = update(server.url, render, values, "act-layer.value")
    assert status == 200
    assert "128" in json.dumps(payload["response"]["act-grid-info"])
    problems = [line for line in server.log().splitlines() if BAD_LOG.search(line)]
    assert not problems, "\n".join(problems[:40])
