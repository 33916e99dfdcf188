"""Dash callback requests over real HTTP, built from the server's own `/_dash-dependencies`."""

from __future__ import annotations

import http.client
import json
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
        return [
            {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1].split("@")[0]}
            for part in parts
        ]

    @property
    def multi(self) -> bool:
        return self.output.startswith("..")


def is_pattern(dep_id: str) -> bool:
    return dep_id.startswith("{")


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
    """The callback whose output key contains `output` ("id.property")."""
    matches = [dep for dep in deps if output in dep.output]
    assert matches, f"no callback writes {output}"
    return matches[0]


def callback_body(
    dep: Dependency, values: dict[str, Any], changed: str | None = None
) -> dict[str, Any]:
    """The JSON body the renderer would POST: `values` maps "id.property" to a value
    (missing: None; a pattern-matching input takes a list of `{"id", "property", "value"}`)."""

    def items(pairs):
        out = []
        for dep_id, prop in pairs:
            value = values.get(f"{dep_id}.{prop}")
            if is_pattern(dep_id):
                out.append(value or [])
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
    """One HTTP request on a fresh connection; `(status, body)` whatever the status."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
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
    status, body = post_json(base_url, "/_dash-update-component", callback_body(dep, values, changed))
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, None
