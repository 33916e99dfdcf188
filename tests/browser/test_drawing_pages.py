"""A drawn digit beyond the explorer, in a real headless Chromium against a live server and the
real model: drawn on compare's picker and added to a side; drawn on the explorer and explained
on the attribution page."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from selenium.webdriver.common.by import By

from app import ids
from app.components.digit_picker import DRAW_CANVAS, DigitPickerIds, dom_id
from app.pages.compare.drawn import ROW_CLASS
from cnn_core.data.drawing import decode_pixels
from tests.browser.driver import console_errors, goto, wait_on
from tests.browser.strokes import draw_stroke, loop, vertical_line
from tests.browser.test_attribution_page import METHODS, _drawn

pytestmark = pytest.mark.browser

COMPARE_CANVAS = f"{DRAW_CANVAS}-{ids.COMPARE_PICKER}"


def _seen(driver, picker: str) -> str | None:
    """The picker's "what the model sees" picture (a data URL once something is drawn)."""
    selector = f"[id='{dom_id(DigitPickerIds.seen(picker))}']"
    return driver.execute_script(
        "const el = document.querySelector(arguments[0]); return el && el.getAttribute('src');",
        selector,
    )


def _side(driver, side: str) -> dict:
    """How many grids a side shows, how many drawn rows, and each grid's marker count."""
    return driver.execute_script(
        """
        const panel = document.getElementById(arguments[0]);
        if (!panel) { return {grids: -1, drawn: -1, markers: []}; }  // not laid out yet
        const grids = panel.querySelectorAll('.compare-grid .js-plotly-plot');
        return {
            grids: grids.length,
            drawn: panel.querySelectorAll('.' + arguments[1]).length,
            markers: Array.from(grids, g => g.querySelectorAll('.scatterlayer path.point').length),
        };
        """,
        ids.COMPARE_PANEL_A if side == "a" else ids.COMPARE_PANEL_B,
        ROW_CLASS,
    )


def test_a_1_drawn_on_compare_joins_side_a_and_stays_in_the_url(live_server, browser):
    goto(browser, f"{live_server}/compare?a=4&b=9&layer=Conv2D_3")
    wait_on(browser).until(lambda d: _side(d, "a")["grids"] == 3 and _side(d, "b")["grids"] == 3)
    before = _side(browser, "a")
    draw_stroke(browser, vertical_line(), canvas_id=COMPARE_CANVAS, kind="pen")
    wait_on(browser).until(lambda d: (_seen(d, ids.COMPARE_PICKER) or "").startswith("data:"))
    side_a = browser.find_element(By.CSS_SELECTOR, f"#{ids.COMPARE_PICKER_SIDE} input[value='a']")
    assert side_a.is_selected()  # side A is the default for a drawing
    add = browser.find_element(By.ID, ids.COMPARE_PICKER_ADD)
    browser.execute_script("arguments[0].click();", add)
    wait_on(browser).until(lambda d: _side(d, "a")["grids"] == before["grids"] + 1)
    after = _side(browser, "a")
    assert after["drawn"] == 1 and _side(browser, "b")["grids"] == 3
    # one set of red and yellow points for the side, the drawing's grid marked like the others
    assert len(set(after["markers"])) == 1, after
    assert "drawn #1" in browser.find_element(By.ID, ids.COMPARE_PANEL_A).text
    wait_on(browser).until(lambda d: "da=" in d.current_url)
    code = parse_qs(urlparse(browser.current_url).query)["da"][0]
    assert code.startswith("z") and len(browser.current_url) < 2000

    url = browser.current_url
    browser.get("about:blank")
    browser.get(url)  # the link reopens the comparison with the drawing on side A
    wait_on(browser).until(lambda d: _side(d, "a")["grids"] == 4 and _side(d, "a")["drawn"] == 1)
    assert _side(browser, "a")["markers"] == after["markers"]
    # and "remove" takes it out again
    remove = browser.find_element(By.CSS_SELECTOR, f".{ROW_CLASS} button")
    browser.execute_script("arguments[0].click();", remove)
    wait_on(browser).until(lambda d: _side(d, "a")["grids"] == 3 and "da=" not in d.current_url)
    assert console_errors(browser) == []


def test_an_explorer_drawing_is_explained_on_the_attribution_page(live_server, browser):
    goto(browser, f"{live_server}/activations")
    wait_on(browser).until(lambda d: d.find_elements(By.ID, DRAW_CANVAS))
    # the page has drawn its first digit (its callbacks ran): the canvas is the one to draw on
    wait_on(browser).until(lambda d: "predicted" in d.find_element(By.ID, ids.ACT_DIGIT_INFO).text)

    def read_as_drawn(d):  # which class it reads as is test_drawing.py's business
        return "predicted" in d.find_element(By.ID, ids.ACT_DIGIT_INFO).text and (
            "drawn=" in d.current_url
        )

    explain = f"[id='{dom_id(DigitPickerIds.explain(ids.ACT_PICKER))}']"
    # nothing drawn yet: no link to explain it
    assert not browser.find_element(By.CSS_SELECTOR, explain).is_displayed()
    draw_stroke(browser, loop(), kind="touch")
    wait_on(browser).until(read_as_drawn)
    source = browser.find_element(By.ID, ids.ACT_SOURCE_INFO).text
    assert "drawn digit" in source and "leave the drawing" in source
    wait_on(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, explain).is_displayed())

    seen_since: dict[str, float] = {}

    def settled(d):  # the link, the URL and the picture seen name the same drawing, and the
        # last (throttled) picture of the stroke has arrived: the same code for a full second
        code = parse_qs(urlparse(d.current_url).query).get("drawn", [""])[0]
        href = d.find_element(By.CSS_SELECTOR, explain).get_attribute("href") or ""
        ok = code and parse_qs(urlparse(href).query).get("drawn") == [code]
        if not ok:
            return False
        first = seen_since.setdefault(code, time.monotonic())
        return (code, _seen(d, ids.ACT_PICKER)) if time.monotonic() - first >= 1.0 else False

    code, seen = wait_on(browser).until(settled)
    link = browser.find_element(By.CSS_SELECTOR, explain)
    browser.execute_script("arguments[0].click();", link)
    drawn = _drawn(browser, "drawn digit", timeout=90)
    assert drawn["heatmaps"] == METHODS and drawn["drawnHeatmaps"] == 5
    assert urlparse(browser.current_url).path == "/attribution"
    opened = parse_qs(urlparse(browser.current_url).query)["drawn"][0]
    # the same pixels: the attribution page's picker sees the very picture the explorer saw
    shape = (28, 28, 1)
    np.testing.assert_array_equal(decode_pixels(opened, shape), decode_pixels(code, shape))
    assert _seen(browser, ids.ATTR_PICKER) == seen
    assert console_errors(browser) == []
