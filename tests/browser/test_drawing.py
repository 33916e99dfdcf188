"""Drawing a digit on the explorer's canvas in a real headless Chromium, against a live server
and the real model: strokes through WebDriver pointer actions (mouse, pen, touch)."""

from __future__ import annotations

import math
import warnings
from urllib.parse import parse_qs, urlparse

import pytest
from selenium.common.exceptions import (
    TimeoutException,
)
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from app import ids
from app.components.digit_picker import DigitPickerIds, dom_id
from tests.browser.conftest import screenshot
from tests.browser.driver import PENDING_SELECTOR, console_errors, goto, wait_on, wait_settled
from tests.browser.strokes import (
    CANVAS,
    canvas_pixels,
    click_tool,
    draw_stroke,
    loop,
    scribble,
    sends,
    vertical_line,
)

pytestmark = pytest.mark.browser


def _text(driver, id_: str) -> str:
    return driver.find_element(By.ID, id_).text


def _picker(part: str) -> str:
    return f"[id='{dom_id(DigitPickerIds.part(part, ids.ACT_PICKER))}']"


def _open_explorer(driver, url: str, fresh: bool = False) -> None:
    """Open the explorer at `url` (`fresh`: as a new visit, else as the app's links do)."""
    if fresh:
        driver.get(url)
    else:
        goto(driver, url)
    wait_on(driver).until(lambda d: d.find_elements(By.ID, "draw-canvas"))
    wait_on(driver).until(lambda d: "predicted" in _text(d, ids.ACT_DIGIT_INFO))


def _wait_prediction(driver, label: str) -> None:
    try:
        wait_on(driver).until(
            lambda d: (
                "drawn digit" in _text(d, ids.ACT_SOURCE_INFO)
                and f"predicted {label} " in _text(d, ids.ACT_DIGIT_INFO) + " "
            )
        )
    except TimeoutException:
        screenshot(driver, f"drawing_not_{label}")
        stats = driver.execute_script("return window.cnnLensDraw && window.cnnLensDraw.sends;")
        raise AssertionError(
            f"not 'predicted {label}' on a drawn digit: source "
            f"{_text(driver, ids.ACT_SOURCE_INFO)!r}, digit {_text(driver, ids.ACT_DIGIT_INFO)!r}, "
            f"address {driver.current_url}, pad {stats}"
        ) from None


def _first_stroke(driver, points, **kwargs) -> None:
    """Draw the first stroke on a fresh page, again (over itself) if the page's script did not
    see it end: under load, a fresh page's first stroke has been missed (3 tries). Each miss is
    reported as a warning with what the pointer hit, to find out why."""
    driver.execute_script(PROBE_JS, CANVAS)
    for _attempt in range(3):
        ended = driver.execute_script("return window.cnnLensDraw.lastStrokeEnd;")
        draw_stroke(driver, points, **kwargs)
        try:
            wait_on(driver, 5).until(
                lambda d, ended=ended: (
                    d.execute_script("return window.cnnLensDraw.lastStrokeEnd;") != ended
                )
            )
        except TimeoutException:
            warnings.warn(f"first stroke not seen by the page: {_draw_state(driver)}", stacklevel=1)
            continue
        wait_on(driver, 60).until(lambda d: "drawn digit" in _text(d, ids.ACT_SOURCE_INFO))
        return
    raise AssertionError("the page never took the drawing: " + _draw_state(driver))


#: Marks the canvas and records what each pointer press hit (read by `_draw_state`).
PROBE_JS = """
document.getElementById(arguments[0]).dataset.probe = "1";
window.__presses = [];
document.addEventListener("pointerdown", function (e) {
  var t = e.target;
  window.__presses.push({x: e.clientX, y: e.clientY, type: e.pointerType,
    target: t.tagName + "#" + t.id + "." + (t.className.baseVal || t.className)});
}, true);
"""


def _draw_state(driver) -> str:
    """What the page did with the strokes so far, for a failure message."""
    return driver.execute_script(
        "var s = window.cnnLensDraw || {}; var c = document.getElementById(arguments[1]);"
        "var r = c ? c.getBoundingClientRect() : {};"
        "return JSON.stringify({sends: s.sends, end: s.lastStrokeEnd, now: performance.now(),"
        " busy: !!document.querySelector(arguments[2]),"
        " sameCanvas: !!(c && c.dataset.probe), canvas: [r.left, r.top, r.width, r.height],"
        " presses: window.__presses,"
        " source: (document.getElementById(arguments[0]) || {}).textContent});",
        ids.ACT_SOURCE_INFO,
        CANVAS,
        PENDING_SELECTOR,
    )


def _settled(driver) -> None:
    """Wait until the last picture sent has come back as the shown digit (its URL code)."""
    wait_on(driver).until(lambda d: "drawn=" in d.current_url)


def _quiet_url(driver, quiet_s: float = 1.0) -> str:
    """The address once the page has stopped changing it: no callback pending and the same
    address for `quiet_s` (a stroke's first picture can be answered before its last one)."""
    wait_settled(driver, quiet_s, watch=lambda d: d.current_url)
    return driver.current_url


def test_a_vertical_stroke_reads_1_and_after_clear_a_loop_reads_0(live_server, browser):
    _open_explorer(browser, f"{live_server}/activations?layer=Conv2D_1")
    blank = canvas_pixels(browser)
    _first_stroke(browser, vertical_line(), kind="pen")
    _wait_prediction(browser, "1")
    seen = browser.find_element(By.CSS_SELECTOR, _picker("seen"))
    assert seen.get_attribute("src").startswith("data:image/png;base64,")
    assert "drawn digit" in browser.execute_script(
        f"return document.querySelector('#{ids.ACT_GRID} .js-plotly-plot')._fullLayout.title.text;"
    )
    screenshot(browser, "drawing_one")

    click_tool(browser, "clear")
    assert canvas_pixels(browser) == blank
    draw_stroke(browser, loop(), kind="touch")
    _wait_prediction(browser, "0")
    screenshot(browser, "drawing_zero")
    assert console_errors(browser) == []


def test_undo_restores_the_previous_drawing(live_server, browser):
    _open_explorer(browser, f"{live_server}/activations")
    _first_stroke(browser, vertical_line())
    _wait_prediction(browser, "1")
    one = canvas_pixels(browser)
    one_url = _quiet_url(browser)
    # a bar across the top turns the 1 into a 7
    draw_stroke(browser, [(0.25, 0.15), (0.5, 0.15), (0.75, 0.15)])
    assert canvas_pixels(browser) != one
    wait_on(browser).until(lambda d: d.current_url != one_url)
    click_tool(browser, "undo")
    assert canvas_pixels(browser) == one
    wait_on(browser).until(lambda d: d.current_url == one_url)  # the same digit, sent again
    _wait_prediction(browser, "1")
    # undo also takes back a clear
    click_tool(browser, "clear")
    click_tool(browser, "undo")
    assert canvas_pixels(browser) == one
    assert console_errors(browser) == []


def test_the_url_of_a_drawn_digit_reopens_it(live_server, browser):
    _open_explorer(browser, f"{live_server}/activations?layer=Dense_2")
    _first_stroke(browser, loop())
    _wait_prediction(browser, "0")
    _settled(browser)
    url = _quiet_url(browser)  # the stroke's last picture answered, its link written too
    code = parse_qs(urlparse(url).query)["drawn"][0]
    assert len(url) < 1500, url  # compact: the 28 x 28 input, compressed
    explain = browser.find_element(By.CSS_SELECTOR, _picker("explain"))
    assert explain.is_displayed()
    assert parse_qs(urlparse(explain.get_attribute("href")).query)["drawn"] == [code]
    assert urlparse(explain.get_attribute("href")).path == "/attribution"
    proba = _text(browser, ids.ACT_DIGIT_INFO)

    browser.get("about:blank")
    _open_explorer(browser, url, fresh=True)
    _wait_prediction(browser, "0")
    assert _text(browser, ids.ACT_DIGIT_INFO) == proba  # the same input: the same probability
    assert "Dense_2" in _text(browser, ids.ACT_GRID_INFO)
    # the drawing is on the canvas again, to draw on
    wait_on(browser, 10).until(
        lambda d: (
            d.execute_script(
                "var c = document.getElementById('draw-canvas').getContext('2d');"
                "var p = c.getImageData(0, 0, 280, 280).data, n = 0;"
                "for (var i = 0; i < p.length; i += 4) if (p[i] > 128) n++; return n;"
            )
            > 500
        )
    )
    assert browser.current_url == url
    screenshot(browser, "drawing_reopened")
    assert console_errors(browser) == []


def test_a_bad_drawn_parameter_is_reported_and_the_dataset_digit_shown(live_server, browser):
    _open_explorer(browser, f"{live_server}/activations?drawn=zNOT-A-CODE")
    assert "drawn" in _text(browser, ids.ACT_URL_MESSAGE)
    assert "test digit 0" in _text(browser, ids.ACT_SOURCE_INFO)
    assert console_errors(browser) == []


COUNT_REQUESTS = """
window.cnnLensRequests = [];
if (!window.fetch.counting) {
  var original = window.fetch;
  window.fetch = function (url, options) {
    if (String(url).indexOf('_dash-update-component') >= 0) {
      window.cnnLensRequests.push({t: performance.now(), body: String(options && options.body)});
    }
    return original.apply(this, arguments);
  };
  window.fetch.counting = true;
}
"""


def test_the_server_is_asked_at_most_6_times_a_second_while_scribbling(live_server, browser):
    _open_explorer(browser, f"{live_server}/activations")
    browser.execute_script(COUNT_REQUESTS)
    before = sends(browser)
    draw_stroke(browser, scribble(2.0, step_ms=20), step_ms=20)
    _settled(browser)
    # a request for a new picture names the drawing store as what changed (JSON in JSON)
    changed = dom_id(DigitPickerIds.drawing(ids.ACT_PICKER)).replace('"', '\\"')

    def pictures_sent(d):  # every picture the page sent has reached fetch (the last may lag)
        requests = d.execute_script("return window.cnnLensRequests;")
        times = [r["t"] for r in requests if changed in r["body"]]
        return times if len(times) == sends(d) - before else False

    pictures = wait_on(browser, 10).until(pictures_sent)
    span = (pictures[-1] - pictures[0]) / 1000
    # 2 s of drawing: at most 6 a second (+1 for the window's edge), and live all along
    assert len(pictures) <= 6 * math.ceil(max(span, 1.0)) + 1, (len(pictures), span)
    assert len(pictures) >= 6, len(pictures)
    # no 1-second window holds more than 6
    assert max(sum(1 for t in pictures if s <= t < s + 1000) for s in pictures) <= 6
    # every picture asks the page's callbacks once more, not once per pointer event
    requests = browser.execute_script("return window.cnnLensRequests;")
    assert len(requests) <= 4 * len(pictures), len(requests)
    assert console_errors(browser) == []


def test_a_colour_model_draws_in_the_data_colours_on_its_background(colour_server, browser):
    _open_explorer(browser, f"{colour_server}/activations")
    swatches = browser.find_elements(By.CSS_SELECTOR, ".draw-pad .draw-swatch")
    assert len(swatches) > 1 and swatches[0].is_displayed()
    paper = browser.find_element(By.ID, "draw-canvas").get_attribute("data-paper")
    assert paper != "#000000"  # the data's own background, not black paper
    red = browser.execute_script(
        "return Array.from(arguments[0]).map(b => b.dataset.colour)"
        ".find(c => parseInt(c.slice(1, 3), 16) > 180 && parseInt(c.slice(3, 5), 16) < 90);",
        swatches,
    )
    assert red, [s.get_attribute("data-colour") for s in swatches]
    browser.execute_script(
        "document.querySelector(`.draw-swatch[data-colour='${arguments[0]}']`).click();", red
    )
    # a filled disc: a spiral with the widest pen
    pen = browser.find_element(By.CSS_SELECTOR, ".draw-pad .draw-pen-width input")
    browser.execute_script("arguments[0].focus();", pen)
    ActionChains(browser).send_keys(Keys.END).perform()
    spiral = [
        (0.5 + 0.025 * k * math.cos(k / 2.5), 0.5 + 0.025 * k * math.sin(k / 2.5))
        for k in range(14)
    ]
    _first_stroke(browser, spiral)
    _settled(browser)
    seen = browser.find_element(By.CSS_SELECTOR, _picker("seen"))
    width = browser.execute_script("return arguments[0].naturalWidth;", seen)
    assert width == 32 * 3  # resized to the model's 32 x 32, not an MNIST 28 x 28
    screenshot(browser, "drawing_colour")
    assert "predicted" in _text(browser, ids.ACT_DIGIT_INFO)
    assert console_errors(browser) == []
