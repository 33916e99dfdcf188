"""Every page draws its figures with the vendored cartesian plotly.js (1.5 MB) and never fetches
Dash's full 4.8 MB bundle, neither on a fresh load nor when the app's links open the others;
every trace on a page is of a type that bundle has."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from tests.browser.driver import console_errors, goto, wait_on, wait_settled
from tests.browser.pages import READY

pytestmark = pytest.mark.browser

#: the pages with figures before anything is run (the OIP page draws after a run)
PAGES = {path: ready for path, ready in READY.items() if path != "/oip"}

STATE = """
const registered = new Set(Object.keys(Plotly.PlotSchema.get().traces));
const graphs = [...document.querySelectorAll('.js-plotly-plot')];
return {
  version: Plotly.version,
  graphs: graphs.length,
  types: [...new Set(graphs.flatMap(g => (g.data || []).map(t => t.type || 'scatter')))],
  unregistered: graphs.flatMap(g => (g.data || []).map(t => t.type || 'scatter'))
    .filter(t => !registered.has(t)),
  scripts: performance.getEntriesByType('resource').map(e => e.name)
    .filter(n => /plotly/.test(n)),
};
"""


def test_every_page_draws_with_the_cartesian_bundle(live_server, browser):
    seen_types = set()
    browser.get("about:blank")  # the first page is a fresh load, the others are opened by links
    for path, ready in PAGES.items():
        goto(browser, live_server + path)
        wait_on(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, ready)))
        wait_settled(browser)
        state = browser.execute_script(STATE)
        assert state["version"] == "4.1.1" and state["graphs"] > 0, (path, state)
        assert state["unregistered"] == [], (path, state)
        assert [s for s in state["scripts"] if "plotly-cartesian" not in s] == [], (path, state)
        assert any("plotly-cartesian" in s for s in state["scripts"]), (path, state)
        seen_types |= set(state["types"])
        assert console_errors(browser) == [], path
    assert {"heatmap", "scatter", "bar"} <= seen_types, seen_types
