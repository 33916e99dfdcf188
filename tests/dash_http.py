"""Dash callback requests over real HTTP, built from the server's own `/_dash-dependencies`."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Dependency:
    """One server-side callback as `/_dash-dependencies` describes it."""

    output: str  # the callback-map key, e.g. "..a.children...b.figure.."
    inputs: tuple[tuple[str, str], ...]  # (id, property); a pattern id is its JSON text
    state: tuple[tuple[str, str], ...]

    @property
    def outputs(self) -> list[dict[str, str]]:
        """The `outputs` field the renderer sends (a list for multi-output callbacks)."""
        parts = self.output.strip(".").split("...") if self.multi else [self.output]
        outputs = []
        for part in parts:
            dep_id, prop = part.rsplit(".", 1)[0], part.rsplit(".", 1)[1].split("@")[0]
            concrete = match_instance(dep_id) if is_pattern(dep_id) else dep_id
            outputs.append({"id": concrete, "property": prop})
        return outputs

    @property
    def multi(self) -> bool:
        return self.output.startswith("..")


#: Every control the OIP page's Start sends, as the page's layout sets them for the seed model
#: (a browser always sends them all; a missing number field reads as one the browser emptied).
OIP_CONTROLS = {
    "oip-kind.value": "class", "oip-layer.value": "Conv2D_1", "oip-unit.value": 0,
    "oip-class-a.value": 3, "oip-class-b.value": 9, "oip-steps.value": 30,
    "oip-step-size.value": 0.2, "oip-wavelength.value": 8.0, "oip-blur.value": 0.4,
    "oip-seed.value": 0, "oip-n-seeds.value": 1, "oip-images-per-unit.value": 1,
    "oip-diversity.value": 0.3, "oip-cmap.value": "gray",
    "oip-gallery-layer.value": "Conv2D_1", "oip-gallery-steps.value": 200, "oip-pace.value": [],
}  # fmt: skip


def oip_controls(**values: Any) -> dict[str, Any]:
    """`OIP_CONTROLS` with some replaced: `oip_controls(steps=40)` sets "oip-steps.value"
    (`pace=["watch"]` watches the run at 40 steps/s)."""
    out = dict(OIP_CONTROLS)
    for name, value in values.items():
        key = f"oip-{name.replace('_', '-')}.value"
        assert key in out, f"no OIP control {key}"
        out[key] = value
    return out


def run_oip_job(
    base_url: str, timeout: float = 60.0, poll_s: float = 0.5, **controls: Any
) -> list[str]:
    """Start an OIP run as the page's Start does (`oip_controls(**controls)`), poll it (each
    poll on a new connection) until it ends or `timeout` s pass; every status it showed, as
    JSON text, the last one last."""
    deps = dependencies(base_url)
    start, poll = find(deps, "oip-job.data"), find(deps, "oip-progress.value")
    status, payload = update(base_url, start, oip_controls(**controls), "oip-start.n_clicks")
    assert status == 200, payload
    job = payload["response"]["oip-job"]["data"]
    deadline = time.monotonic() + timeout
    messages = [""]
    while time.monotonic() < deadline:
        values = {"oip-job.data": job, "oip-cmap.value": "gray", "oip-poll.n_intervals": 1}
        status, payload = update(base_url, poll, values, "oip-poll.n_intervals")
        assert status == 200, payload
        messages.append(json.dumps(payload["response"].get("oip-status", {})))
        if "done in" in messages[-1] or "failed" in messages[-1]:
            break
        time.sleep(poll_s)
    return messages


def is_pattern(dep_id: str) -> bool:
    return dep_id.startswith("{")


def is_multi(dep_id: str) -> bool:
    """A pattern with ALL or ALLSMALLER: the renderer sends a list of matches (MATCH: one)."""
    return is_pattern(dep_id) and ('["ALL"]' in dep_id or '["ALLSMALLER"]' in dep_id)


def match_instance(dep_id: str, value: Any = "fuzz") -> dict[str, Any]:
    """A concrete id for a MATCH pattern (its wildcard replaced by `value`)."""
    return {k: (value if v == ["MATCH"] else v) for k, v in json.loads(dep_id).items()}


def dependencies(base_url: str) -> list[Dependency]:
    """Every server-side (not clientside) callback of the running app."""
    status, body = request(base_url, "GET", "/_dash-dependencies")
    assert status == 200, status
    found = []
    for dep in json.loads(body):
        if dep.get("clientside_function"):
            continue
        found.append(
            Dependency(
                dep["output"],
                tuple((d["id"], d["property"]) for d in dep["inputs"]),
                tuple((d["id"], d["property"]) for d in dep["state"]),
            )
        )
    return found


def find(deps: list[Dependency], output: str) -> Dependency:
    """The callback that writes `output` ("id.property"): exactly (`oip-progress.value`, not
    `tl-oip-progress.value`), else the first whose output key contains it (a part of an id)."""
    exact = [
        dep
        for dep in deps
        if output in (part.split("@")[0] for part in dep.output.strip(".").split("..."))
    ]
    matches = exact or [dep for dep in deps if output in dep.output]
    assert matches, f"no callback writes {output}"
    return matches[0]


def callback_body(
    dep: Dependency, values: dict[str, Any], changed: str | None = None
) -> dict[str, Any]:
    """The JSON body the renderer would POST: `values` maps "id.property" to a value
    (missing: None; an ALL input takes a list of `{"id", "property", "value"}`, a MATCH input
    one value, sent with `match_instance`'s id)."""

    def items(pairs):
        out = []
        for dep_id, prop in pairs:
            value = values.get(f"{dep_id}.{prop}")
            if is_multi(dep_id):
                out.append(value or [])
            elif is_pattern(dep_id):
                out.append({"id": match_instance(dep_id), "property": prop, "value": value})
            else:
                out.append({"id": dep_id, "property": prop, "value": value})
        return out

    outputs = dep.outputs
    return {
        "output": dep.output,
        "outputs": outputs if dep.multi else outputs[0],
        "inputs": items(dep.inputs),
        "state": items(dep.state),
        "changedPropIds": [changed] if changed else [],
    }


def request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    """One HTTP request on a fresh connection; `(status, body)` whatever the status.

    A server may answer a body over its size cap (413) and close the connection before the
    whole body is sent, as gunicorn does; the client then gets a broken pipe while sending,
    and the answer is read after it, as a browser would.
    """
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            if not body:
                raise
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def post_json(base_url: str, path: str, payload: Any, timeout: float = 30.0) -> tuple[int, bytes]:
    """POST `payload` as JSON (NaN and Infinity written as Python's json does)."""
    data = json.dumps(payload).encode()
    return request(
        base_url, "POST", path, data, {"Content-Type": "application/json"}, timeout=timeout
    )


def update(base_url: str, dep: Dependency, values: dict[str, Any], changed: str | None = None):
    """POST one callback; `(status, parsed JSON response or None)`."""
    status, body = post_json(
        base_url, "/_dash-update-component", callback_body(dep, values, changed)
    )
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, None


def render_explorer_grid(base_url: str, index: int, layer: str, cmap: str = "jet"):
    """The explorer's grid callback for test image `index` at `layer`, as the page sends it
    when the layer changes; `(status, parsed JSON response or None)` (`update`)."""
    from app.components.digit_picker import EXPLORER_CHOICE

    values = {
        EXPLORER_CHOICE: {"kind": "dataset", "split": "test", "index": index},
        "act-layer.value": layer,
        "act-cmap.value": cmap,
        "act-scaling.value": "seed",
        "act-range.value": "layer",
        "act-per-row.value": 8,
        "act-input-cmap.value": "gray",
    }
    render = find(dependencies(base_url), "act-grid.figure")
    return update(base_url, render, values, "act-layer.value")


def walk_layout(tree: Any, found: dict[tuple[str, str], list]) -> None:
    """Collect `(id, prop) -> [values]` from a serialized Dash component tree (dropdown and
    radio options count as values of `value`)."""
    if isinstance(tree, list):
        for child in tree:
            walk_layout(child, found)
        return
    if not isinstance(tree, dict):
        return
    if "props" not in tree:  # a response envelope: look inside
        for value in tree.values():
            walk_layout(value, found)
        return
    props = tree["props"]
    comp_id = props.get("id")
    if isinstance(comp_id, str):
        for prop, value in props.items():
            if prop in ("children", "id", "style", "className"):
                continue
            found.setdefault((comp_id, prop), []).append(value)
            if prop == "options" and isinstance(value, list):
                for option in value:
                    option_value = option.get("value") if isinstance(option, dict) else option
                    found.setdefault((comp_id, "value"), []).append(option_value)
    for value in props.values():
        if isinstance(value, list | dict):
            walk_layout(value, found)


def layout_values(
    base_url: str, deps: list[Dependency], paths: tuple[str, ...]
) -> dict[tuple[str, str], list]:
    """Values the pages at `paths` put in their components: `(id, prop) -> unique values`."""
    pages = find(deps, "_pages_content.children")
    found: dict[tuple[str, str], list] = {}
    for path in paths:
        values = {"_pages_location.pathname": path, "_pages_location.search": ""}
        status, payload = update(base_url, pages, values, "_pages_location.pathname")
        assert status == 200, (path, status)
        walk_layout(payload, found)
    unique: dict[tuple[str, str], list] = {}
    for key, values in found.items():
        unique[key] = []
        for value in values:
            if value not in unique[key]:
                unique[key].append(value)
    return unique
