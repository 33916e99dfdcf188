"""Every page renders in Chromium under the served Content-Security-Policy, from real gunicorn."""

from __future__ import annotations

import json
import re

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from app import ids
from tests.browser.conftest import screenshot
from tests.browser.driver import console_errors, goto, wait_on, wait_settled
from tests.gunicorn_server import http_get

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: page -> an element only a working Dash renderer (and Plotly, where drawn) puts there
PAGES = {
    "/": f"#{ids.MODEL_CONFUSION} .heatmaplayer",
    "/activations": f"#{ids.ACT_GRID} .heatmaplayer",
    "/compare": f"#{ids.COMPARE_CONFUSION} .heatmaplayer",
    "/oip": f"#{ids.OIP_START}",
}


@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders_under_the_csp_without_console_errors(gunicorn_server, browser, path):
    status, _, headers = http_get(gunicorn_server.url + path)
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in csp and "'unsafe-inline'" not in csp.split(";")[1]
    browser.get(gunicorn_server.url + path)
    wait_on(browser, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, PAGES[path])))
    errors = console_errors(browser)
    screenshot(browser, f"csp{path.replace('/', '_') or '_model'}")
    assert errors == [], errors
    assert not [e for e in errors if "Content Security Policy" in e]


def test_every_page_in_the_navbar_renders_under_the_csp(gunicorn_server, browser):
    # pages added later (timeline, attribution...) are covered too, by what every page has:
    # Dash's renderer filled the page container, and the console stayed empty
    layout = json.loads(http_get(gunicorn_server.url + "/_dash-layout")[1])
    paths = sorted(set(re.findall(r'"href": "(/[^"]*)"', json.dumps(layout))))
    assert set(PAGES) <= set(paths), paths
    for path in sorted(set(paths) - set(PAGES)):  # PAGES: checked more closely above
        goto(browser, gunicorn_server.url + path)  # (the policy of the document it is opened in)
        wait_on(browser, 60).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, "#_pages_content > *"))
        )
        wait_settled(browser)  # the page's first callbacks and figures ran
        assert console_errors(browser) == [], path


def test_the_page_refuses_to_be_framed(gunicorn_server):
    _, _, headers = http_get(gunicorn_server.url + "/")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
