"""Fuzz every server callback through a real gunicorn: hostile values get an answer, never a 5xx.

The requests are generated from the server's own `/_dash-dependencies`: every input and state of
every callback gets either a value the page itself uses (harvested from the pages' layouts) or a
hostile one (wrong types, NaN/Infinity, huge numbers, long or path-like strings, forged stores
and job handles), and some bodies lose fields or name inputs that do not exist. Jobs go to a
real Redis; a valid Start queues work (which the session's Celery worker, if one runs, does).

Every page the server's navigation bar links is fuzzed. Real job handles (a finished single run
and a finished gallery, signed with the server's key, in the server's Redis) are sent with
forged kinds; numbers arrive non-finite, negative, fractional or as booleans in click data and
typed fields; some bodies are over the request cap on the upload route. Besides 5xx,
tracebacks and logged errors, a wrong answer fails it: a map or cell opened from a number that
is not a whole number in range (`wrong_answer`).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app import ids, jobs
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
BAD_LOG = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|callback failed")


@pytest.fixture(scope="module")
def server(gunicorn_server):
    """The session's gunicorn: two workers on Redis, as a class would be served."""
    return gunicorn_server


@pytest.fixture(scope="module")
def deps(server):
    return dependencies(server.url)


@pytest.fixture(scope="module")
def pages(server) -> tuple[str, ...]:
    """Every page the navigation bar links (new pages are fuzzed without a change here)."""
    status, body = request(server.url, "GET", "/_dash-layout")
    assert status == 200
    hrefs = sorted(set(re.findall(r'"href": "(/[a-z_-]*)"', json.dumps(json.loads(body)))))
    assert {"/", "/activations", "/compare", "/attribution", "/oip", "/timeline"} <= set(hrefs)
    return tuple(hrefs)


@pytest.fixture(scope="module")
def real_jobs(server, redis_url, services) -> dict[str, dict]:
    """A finished single run and a finished gallery, run by the engine into the server's Redis
    and signed with the server's key: real handles, to be sent with forged kinds."""
    from tests.redis_fixtures import SHARED_SECRET

    store = jobs.RedisStore(redis_url)
    signer = jobs.JobManager(SHARED_SECRET, jobs.CeleryRunner(store, "-"), "-", services.desc)
    handles = {}
    for what, raw in {
        "single": {"kind": "map", "layer": "Conv2D_3", "unit": 5, "steps": 5, "n_seeds": 2},
        "gallery": {"kind": "gallery", "layer": "Max_Pool_1", "units": "all", "steps": 5},
    }.items():
        job_id = f"fuzz-{what}-{os.getpid()}"
        jobs.run_job(job_id, jobs.parse_spec(raw, services.desc), store, services.oip_engine())
        assert store.get(job_id)[0]["status"] == "done"
        handles[what] = signer.sign(job_id)
    return handles


@pytest.fixture(scope="module")
def good_values(server, deps, pages, real_jobs) -> dict[tuple[str, str], list]:
    """Values the pages themselves put in their components (from each page's layout), and the
    job stores a page holds once its jobs have run (the real handles, as stored and forged)."""
    found = layout_values(server.url, deps, pages)
    assert ("act-layer", "value") in found and ("oip-kind", "value") in found
    assert ("attr-steps", "value") in found and ("tl-layer", "value") in found
    good = {key: values[:12] for key, values in found.items()}
    good[PAGES_KEY] = list(pages)
    good[JOBS_KEY] = [real_jobs["single"], real_jobs["gallery"]]  # (see `job_store`)
    return good


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
    "Infinity",
    "-Infinity",
    "1e400",
    "-1",
    "2.5",
    "true",
    "0x10",
    "1_000",
    "٣",  # an Arabic-Indic digit: isdecimal() but not ASCII
    "../../etc/passwd",
    "../../x",
    "base/nope",  # an unknown nested node path
    "Conv2D_3/../Conv2D_1",
    "x" * 10_000,  # a 10 kB node path
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
    st.sampled_from([1e308, -1e308, 2**53 + 1, 10**30, -0.0, 0.5, 1.5, 2.5, -1, -0.5, 2.0]),
    st.sampled_from([math.inf, -math.inf, math.nan, True, False]),
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
#: What a point of a click may say where a number is meant: none of these is a map or a cell.
POINT_NUMBERS = st.sampled_from([math.inf, -math.inf, math.nan, -1, -0.5, 2.5, True, 1e308, "3"])
#: A click as Plotly sends it, with hostile numbers (or whole ones, to be answered).
plotly_clicks = st.fixed_dictionaries(
    {
        "points": st.lists(
            st.fixed_dictionaries(
                {"curveNumber": st.just(1), "pointNumber": st.integers(0, 3),
                 "x": st.one_of(POINT_NUMBERS, st.integers(0, 50)),
                 "y": st.one_of(POINT_NUMBERS, st.integers(0, 50)),
                 "z": st.one_of(POINT_NUMBERS, st.integers(-2, 40))}
            ),
            min_size=1,
            max_size=2,
        )
    }
)  # fmt: skip
click_data = st.one_of(
    st.fixed_dictionaries(
        {
            "points": st.lists(
                st.dictionaries(
                    st.sampled_from(
                        ["x", "y", "z", "customdata", "pointIndex", "pointNumber", "curveNumber",
                         "text"]
                    ),
                    nested,
                    max_size=5,
                ),
                max_size=2,
            )
        }
    ),
    plotly_clicks,
)  # fmt: skip
#: Number fields a user types in (a page's own value, or what a crafted request says instead).
TYPED_NUMBERS = {
    ids.OIP_GALLERY_MAP, ids.ACT_CELL_INPUT, ids.OIP_UNIT, ids.OIP_STEPS, ids.OIP_SEED,
    ids.OIP_N_SEEDS, ids.OIP_GALLERY_STEPS, ids.COMPARE_CELL_TRUE, ids.COMPARE_CELL_PREDICTED,
    ids.OIP_IMAGES_PER_UNIT, ids.OIP_DIVERSITY,
}  # fmt: skip
#: The OIP page's job stores: the tab's job, the gallery's, the one that just finished.
JOB_STORES = (ids.OIP_JOB, ids.OIP_GALLERY_JOB, ids.OIP_FINISHED)


def job_store(dep_id: str, handle: str) -> st.SearchStrategy:
    """A job store holding a real handle, its kind stated truly, falsely or not at all."""
    if dep_id == ids.OIP_FINISHED:
        return st.sampled_from([{"handle": handle, "status": s} for s in ("done", "error", 7)])
    return st.sampled_from(
        [{"handle": handle, "what": w} for w in ("single", "gallery", ["x"])] + [{"handle": handle}]
    )


def focused(dep_id: str, prop: str, handle: str) -> st.SearchStrategy | None:
    """The hostile value of a focused request for this field (None: a sane one)."""
    if prop == "clickData":
        return plotly_clicks
    if prop == "value" and dep_id in TYPED_NUMBERS:
        return st.one_of(POINT_NUMBERS, POINT_NUMBERS, st.integers(-2, 40))
    if prop == "data" and dep_id in JOB_STORES:
        return job_store(dep_id, handle)
    return None


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
    {"handle": "x", "status": "done"},
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
    if prop == "value":  # a typed number: not finite, negative, fractional, a boolean
        hostile.append(POINT_NUMBERS)
    return st.one_of(*hostile)


def sane_for(dep_id: str, prop: str, good: dict) -> st.SearchStrategy | None:
    """A value the page itself uses for this prop, or None when the layouts show none."""
    if dep_id == "_pages_location":  # the address: real paths, hostile queries
        return st.sampled_from(good[PAGES_KEY]) if prop == "pathname" else queries
    candidates = good.get((dep_id, prop))
    return st.sampled_from(candidates) if candidates else None


QUERY_KEYS = ["split", "index", "layer", "cmap", "scaling", "range", "per_row", "a", "b", "n",
              "kind", "kind_b", "ia", "ib", "threshold", "run", "unit", "steps", "x", "target",
              "contrast", "opacity", "background", "baseline", "samples", "noise", "window",
              "stride", "drawn", "da", "db", "top", "gallery_layer", "oip_layer", "epoch",
              "units", "seed", "n_seeds", "step_size", "wavelength", "blur_sigma",
              "gallery_steps", "watch"]  # fmt: skip
#: The keys of the fuzzed pages and of the real job handles among the good values.
PAGES_KEY = ("_pages", "paths")
JOBS_KEY = ("_jobs", "handles")
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


def focus_deps(deps) -> list:
    """The callbacks that read click data (three times: they read numbers from it and from
    typed fields), typed numbers or job stores."""
    out = []
    for dep in deps:
        fields = dep.inputs + dep.state
        if any(focused(i, p, "h") is not None for i, p in fields):
            out += [dep] * (3 if any(p == "clickData" for _, p in fields) else 1)
    return out


@st.composite
def callback_requests(draw, deps, good):
    # hypothesis favours small integers; a seeded Random keeps these rates as written
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    handle = rnd.choice(good[JOBS_KEY])  # the real job this request's stores speak of
    if rnd.random() < 0.3:  # focused: click data, typed numbers and job stores, all else sane
        dep = draw(st.sampled_from(focus_deps(deps)))
        values = {}
        for dep_id, prop in dep.inputs + dep.state:
            strategy = focused(dep_id, prop, handle)
            strategy = sane_for(dep_id, prop, good) if strategy is None else strategy
            if is_multi(dep_id):
                values[f"{dep_id}.{prop}"] = draw(pattern_items(dep_id, prop))
            elif strategy is not None:
                values[f"{dep_id}.{prop}"] = draw(strategy)
        names = [f"{i}.{p}" for i, p in dep.inputs if not is_pattern(i)]
        changed = draw(st.sampled_from(names)) if names else None
        return dep.output, callback_body(dep, values, changed)
    dep = draw(st.sampled_from(deps))
    values = {}
    fields = dep.inputs + dep.state
    # Most requests: every value sane but one (what a tampered page sends); the rest: any mix.
    one_bad = rnd.random() < 0.6
    bad_index = rnd.randrange(len(fields)) if fields else -1
    for index, (dep_id, prop) in enumerate(fields):
        key = f"{dep_id}.{prop}"
        sane = job_store(dep_id, handle) if dep_id in JOB_STORES else sane_for(dep_id, prop, good)
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
    # about one picker request in four: a 5 MB picture sent without the browser's check (a
    # draw of its own: the seeded Random's streams repeat, as hypothesis re-draws small seeds)
    if "DigitPicker" in dep.output and draw(st.integers(0, 3)) == 0:
        return dep.output, oversized_upload(dep, body)
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


#: A picture of 5 MB as a data URL: its request is about 6.7 MB, over the 4 MB cap.
FIVE_MB = "data:image/png;base64," + "A" * (5_000_000 * 4 // 3)


def oversized_upload(dep, body: dict) -> dict:
    """`body` as the picker sends it when a 5 MB picture was chosen (no browser check)."""
    for item in body["inputs"]:
        if isinstance(item, dict) and item.get("property") == "contents":
            item["value"] = FIVE_MB
            body["changedPropIds"] = [f"{dom_id(item.get('id'))}.contents"]
    return body


def _sent(body: dict, dep_id: str, prop: str):
    """The value `body` sends for `dep_id.prop` (None if none)."""
    for item in [*body.get("inputs", []), *body.get("state", [])]:
        if isinstance(item, dict) and item.get("id") == dep_id and item.get("property") == prop:
            return item.get("value")
    return None


def _whole(value) -> int | None:
    """`value` as a whole number if it is one (an int or an integral float, not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str):
        return int(value) if re.fullmatch(r"-?[0-9]{1,11}", value.strip()) else None
    return int(value) if math.isfinite(value) and float(value).is_integer() else None


def _response_value(response: object, component: str, prop: str):
    found = response.get(component) if isinstance(response, dict) else None
    return found.get(prop) if isinstance(found, dict) else None


def wrong_answer(body: dict, payload: bytes) -> str | None:
    """Why an answer opens what was not asked for: a gallery map or an explorer cell chosen
    from a number that is not a whole number in range (`z: -1`, a typed 2.5, `true`)."""
    try:
        response = json.loads(payload).get("response", {})
    except (ValueError, AttributeError):
        return None
    changed = (body.get("changedPropIds") or [""])[0]
    unit = _response_value(response, ids.OIP_UNIT, "value")
    if unit is not None:
        click, typed = (_sent(body, ids.OIP_GALLERY_GRAPH, "clickData"),
                        _sent(body, ids.OIP_GALLERY_MAP, "value"))  # fmt: skip
        # the page's rule: the typed number when it changed, or when there is no click
        if typed is not None and (not click or changed == f"{ids.OIP_GALLERY_MAP}.value"):
            asked = _whole(typed)
        else:
            points = click.get("points") if isinstance(click, dict) else None
            points = points if isinstance(points, list) else []
            asked = _whole(next((p["z"] for p in points if isinstance(p, dict) and "z" in p), None))
        if asked is None or asked < 0 or asked != unit:
            return f"gallery map {unit} opened for {changed}"
    selected = _response_value(response, ids.ACT_SELECTED, "data")
    if isinstance(selected, dict) and changed == f"{ids.ACT_CELL_INPUT}.value":
        typed = _sent(body, ids.ACT_CELL_INPUT, "value")
        if _whole(typed) is None or _whole(typed) != selected.get("cell"):
            return f"cell {selected.get('cell')} selected for a typed {typed!r}"
    return None


def test_fuzzed_callbacks_never_fail_the_server(server, deps, good_values):
    answered: dict[int, int] = {}
    answered_by: dict[str, int] = {}
    found = {"5xx": [], "tracebacks": [], "wrong answers": [], "oversized": 0}

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
        if status >= 500:
            found["5xx"].append((output, payload[:300]))
        if b"Traceback" in payload or b'File "' in payload:
            found["tracebacks"].append((output, payload[:300]))
        if any(v == FIVE_MB for i in body.get("inputs", []) if isinstance(i, dict)
               for v in [i.get("value")]):  # fmt: skip
            found["oversized"] += 1
            assert status == 200 and b"the limit is 2 MB" in payload, (status, payload[:300])
        if status == 200 and (why := wrong_answer(body, payload)):
            found["wrong answers"].append((why, body))

    one_request()
    problems = [line for line in server.log().splitlines() if BAD_LOG.search(line)]
    summary = {
        "requests": sum(answered.values()), "oversized uploads": found["oversized"],
        "5xx": len(found["5xx"]), "tracebacks in bodies": len(found["tracebacks"]),
        "errors logged": len(problems), "wrong answers": len(found["wrong answers"]),
    }  # fmt: skip
    print(json.dumps(answered_by, indent=1, sort_keys=True))
    print("fuzz summary:", json.dumps(summary))
    assert sum(answered.values()) >= 500, answered
    assert not found["5xx"] and not found["tracebacks"], (found["5xx"] + found["tracebacks"])[:5]
    assert not found["wrong answers"], json.dumps(found["wrong answers"][:3])[:3000]
    assert not problems, "\n".join(problems[:40])
    assert server.proc.poll() is None


def test_a_picture_over_the_request_cap_gets_the_size_message_from_gunicorn(server, deps):
    picker = find(deps, '"subcomponent":"message"}.children')
    body = oversized_upload(picker, callback_body(picker, {}, None))
    status, payload = post_json(server.url, "/_dash-update-component", body)
    assert status == 200 and b"the file has 5.0 MB; the limit is 2 MB" in payload, payload[:300]
    status, payload = request(server.url, "POST", "/_dash-update-component", b"x" * 5_000_000,
                              {"Content-Type": "application/json"})  # fmt: skip
    assert status == 413 and json.loads(payload)["error"].endswith("the limit is 4 MB")


def test_after_the_fuzz_the_server_still_answers_correctly(server, deps, pages):
    # runs after the fuzz (same module-scoped server): ready, pages, and a correct callback
    assert request(server.url, "GET", "/readyz")[0] == 200
    for path in pages:
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
