"""The pages use the vendored cartesian plotly.js bundle (assets/vendor), not the full 4.8 MB one:
it must be the version plotly.py writes figures for, and hold every trace type the app draws."""

from __future__ import annotations

import re
from pathlib import Path

import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType
from plotly.offline import get_plotlyjs_version

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "assets" / "vendor" / "plotly-cartesian.min.js"
#: Every trace type plotly.py knows, by its class name in `plotly.graph_objects`.
TRACE_TYPES = {
    name: cls().type
    for name in dir(go)  # plotly imports its classes lazily: vars() would be empty
    if isinstance(cls := getattr(go, name), type)
    and issubclass(cls, BaseTraceType)
    and cls is not BaseTraceType
}


def bundle_traces() -> set[str]:
    return set(re.findall(r'moduleType:"trace",name:"(\w+)"', BUNDLE.read_text()))


def app_trace_types() -> set[str]:
    """Trace types written anywhere in app/: `go.Heatmap(...)` or a dict with `type="heatmap"`."""
    found: set[str] = set()
    for path in (ROOT / "app").rglob("*.py"):
        text = path.read_text()
        found |= {TRACE_TYPES[n] for n in re.findall(r"\bgo\.(\w+)\(", text) if n in TRACE_TYPES}
        named = re.findall(r'\btype="(\w+)"|"type":\s*"(\w+)"', text)
        found |= {t for pair in named for t in pair if t in TRACE_TYPES.values()}
    return found


def test_the_bundle_is_the_version_plotly_py_writes_for():
    header = BUNDLE.read_text()[:200]
    assert f"v{get_plotlyjs_version()}" in header, header


def test_the_bundle_holds_every_trace_type_the_app_draws():
    drawn = app_trace_types()
    assert {"heatmap", "scatter", "bar", "image"} <= drawn, drawn  # the scan finds them
    assert drawn <= bundle_traces(), drawn - bundle_traces()
