"""A picture over the upload limit gets one size message, whether the browser stopped it (its
word, a few bytes) or it was sent anyway over the request cap (real app, real HTTP bodies)."""

from __future__ import annotations

import base64
import json
import re

import pytest
from plotly.utils import PlotlyJSONEncoder

from app import ids, main
from app.components import digit_picker
from app.components.digit_picker import DigitPickerIds, dom_id
from app.settings import load_settings
from cnn_core.data.preprocess import MAX_UPLOAD_BYTES, decode_data_url
from tests.app.dash_requests import callback_key
from tests.dash_http import match_instance

UPLOAD = f"{dom_id(DigitPickerIds.upload(ids.ACT_PICKER))}.contents"
MESSAGE = dom_id(DigitPickerIds.message(ids.ACT_PICKER))


@pytest.fixture(scope="module")
def app(services):
    dash_app = main.create_app()
    dash_app.server.test_client().get("/_dash-layout")
    return dash_app


def picker_body(app, contents: str) -> dict:
    """The explorer picker's request after an upload, as the renderer sends it."""
    key = callback_key(app, '"subcomponent":"index"}.value', "upload")
    spec = app.callback_map[key]

    def items(kind):
        out = []
        for dep in spec[kind]:
            concrete = match_instance(dep["id"], ids.ACT_PICKER)
            upload = (concrete["subcomponent"], dep["property"]) == ("upload", "contents")
            out.append({"id": concrete, "property": dep["property"],
                        "value": contents if upload else None})  # fmt: skip
        return out

    outputs = []
    for part in key.strip(".").split("..."):
        out_id, prop = part.rsplit(".", 1)
        outputs.append({"id": match_instance(out_id, ids.ACT_PICKER), "property": prop})
    return {"output": key, "outputs": outputs, "inputs": items("inputs"),
            "changedPropIds": [UPLOAD], "state": items("state")}  # fmt: skip


def shown_message(response) -> str:
    assert response.status_code == 200, response.data[:300]
    return json.dumps(json.loads(response.data)["response"][MESSAGE])


def size_of(message: str) -> str:
    found = re.search(r"the file has [0-9.]+ MB; the limit is 2 MB", message)
    assert found, message
    return found.group(0)


def test_the_browsers_word_gives_the_servers_size_message(app):
    client = app.server.test_client()
    big = "data:image/png;base64," + "A" * (4 * 2_600_000 // 3)  # a 2.6 MB file: refused
    served = shown_message(client.post("/_dash-update-component", json=picker_body(app, big)))
    word = digit_picker.TOO_LARGE + "2600000,"
    told = shown_message(client.post("/_dash-update-component", json=picker_body(app, word)))
    assert "cannot use this file" in told and size_of(told) == size_of(served)
    with pytest.raises(ValueError) as err:  # the words of the core's own check
        decode_data_url(big)
    assert str(err.value) == digit_picker.too_large_message(2_600_000)


def test_a_picture_sent_anyway_over_the_request_cap_gets_the_size_message(app):
    client = app.server.test_client()
    five_mb = "data:image/png;base64," + base64.b64encode(b"\0" * 5_000_000).decode()
    body = json.dumps(picker_body(app, five_mb)).encode()
    assert len(body) > load_settings().max_body_bytes
    response = client.post(
        "/_dash-update-component", data=body, headers={"Content-Type": "application/json"}
    )
    shown = shown_message(response)
    assert "cannot use this file: the file has 5.0 MB; the limit is 2 MB" in shown
    assert json.loads(response.data)["response"][dom_id(DigitPickerIds.upload(ids.ACT_PICKER))]
    assert client.get("/healthz").status_code == 200  # the connection's next request works


def test_any_other_body_over_the_cap_gets_a_413_with_a_reason(app):
    client = app.server.test_client()
    limit = load_settings().max_body_bytes
    response = client.post("/_dash-update-component", data=b"x" * (limit + 1),
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 413
    assert json.loads(response.data)["error"].endswith("the limit is 4 MB")
    forged = b'{"output":"x","outputs":{"id":"a"},"inputs":[' + b"1," * limit + b"1]}"
    response = client.post("/_dash-update-component", data=forged,
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 413


def test_a_forged_word_of_the_browser_is_named():
    with pytest.raises(ValueError, match="file size 'lots' is not a whole number"):
        digit_picker.check_not_too_large(digit_picker.TOO_LARGE + "lots,")


def test_the_picker_drops_a_file_over_the_limit_in_the_browser_and_names_the_limit(app):
    picker = digit_picker.DigitPicker(ids.ACT_PICKER)
    text = json.dumps(picker.to_plotly_json(), cls=PlotlyJSONEncoder)
    assert f'"max_size": {MAX_UPLOAD_BYTES}' in text
    assert f'"data-max-bytes": "{MAX_UPLOAD_BYTES}"' in text
