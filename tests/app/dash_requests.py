"""Build and POST Dash callback requests the way the browser's renderer does (for HTTP tests)."""

from __future__ import annotations

import json

from tests.dash_http import is_multi, is_pattern, match_instance


def callback_key(app, output: str, trigger: str = "") -> str:
    """The callback-map key of the callback writing `output` (and listening to `trigger`)."""
    keys = [
        key
        for key, spec in app.callback_map.items()
        if output in key and trigger in json.dumps(spec["inputs"])
    ]
    assert keys, f"no callback writes {output}"
    return keys[0]


def post_callback(client, app, output: str, values: dict, changed: str | None = None):
    """POST one `/_dash-update-component` request; returns the Flask response.

    Args:
        client: a Flask test client of `app.server`.
        app: the Dash app.
        output: "id.property" of an output of the callback (enough to find it).
        values: `{"id.property": value}` for its inputs and states (missing ones: None);
            ALL dependencies take a list under their JSON id, dict ids (MATCH) one value.
        changed: the "id.property" that triggered it.
    """
    key = callback_key(app, output)
    spec = app.callback_map[key]

    def items(kind):
        out = []
        for dep in spec[kind]:
            dep_id = dep["id"]
            name = dep_id if isinstance(dep_id, str) else json.dumps(dep_id, sort_keys=True)
            value = values.get(f"{name}.{dep['property']}")
            if is_multi(name):
                out.append(value or [])
            elif is_pattern(name):  # a dict id, or MATCH: one object with a concrete id
                concrete = match_instance(name)
                out.append({"id": concrete, "property": dep["property"], "value": value})
            else:
                out.append({"id": dep_id, "property": dep["property"], "value": value})
        return out

    outputs = []
    for part in key.strip(".").split("..."):
        out_id, prop = part.rsplit(".", 1)[0], part.rsplit(".", 1)[1].split("@")[0]
        outputs.append(
            {"id": match_instance(out_id) if is_pattern(out_id) else out_id, "property": prop}
        )
    body = {
        "output": key,
        "outputs": outputs if key.startswith("..") else outputs[0],
        "inputs": items("inputs"),
        "state": items("state"),
        "changedPropIds": [changed] if changed else [],
    }
    return client.post("/_dash-update-component", json=body)


def call(app, client, output: str, values: dict, changed: str | None = None):
    """POST one callback request, as the browser does; returns (status, response JSON)."""
    response = post_callback(client, app, output, values, changed)
    data = json.loads(response.data) if response.data else {}
    return response.status_code, data
