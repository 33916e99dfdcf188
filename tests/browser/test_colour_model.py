"""All four pages on the colour example (`models/shapes.keras`: 32x32x3, six named classes) in a
real headless Chromium against a second live server: what each page shows is that model's."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from app import ids
from tests.browser.conftest import screenshot
from tests.browser.driver import console_errors, goto, wait_on

pytestmark = pytest.mark.browser

CLASSES = ("red disc", "green square", "blue triangle", "yellow cross", "red square", "blue disc")


def _plot(driver, graph_id: str, expression: str):
    """Evaluate `expression` on the Plotly div `g` inside `#graph_id` (None until drawn)."""
    return driver.execute_script(
        f"var g = document.querySelector('#{graph_id} .js-plotly-plot');"
        f" return g && g._fullLayout && g._fullData ? ({expression}) : null;"
    )


def _text(driver, element_id: str) -> str:
    return driver.execute_script(
        "var e = document.getElementById(arguments[0]); return e ? e.innerText : '';", element_id
    )


def test_model_page_describes_the_colour_model(colour_server, browser):
    goto(browser, colour_server + "/")
    wait = wait_on(browser)
    wait.until(lambda d: _plot(d, ids.MODEL_CONFUSION, "g._fullLayout.yaxis.ticktext"))
    heading = browser.find_element(By.CSS_SELECTOR, "h1, h2").text
    assert heading == "Model: shapes_cnn"
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "32 x 32 x 3 input" in page and "6 classes" in page
    assert all(name in page for name in CLASSES)  # the summary lists the classes by name
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{ids.MODEL_LAYER_TABLE} tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "td,th").text for r in rows][:4] == [
        "conv1", "pool1", "conv2", "conv3",
    ]  # fmt: skip
    # the confusion matrix: six classes, named on the axes
    assert _plot(browser, ids.MODEL_CONFUSION, "g._fullLayout.xaxis.ticktext") == list(CLASSES)
    counts = browser.find_elements(By.CSS_SELECTOR, f"#{ids.MODEL_CONFUSION} .heatmaplayer text")
    assert len(counts) == 36
    assert console_errors(browser) == []


def test_explorer_picks_a_layer_and_shows_its_grid_and_the_colour_picture(colour_server, browser):
    goto(browser, colour_server + "/activations?index=3&layer=conv2")
    wait = wait_on(browser)
    wait.until(lambda d: _text(d, ids.ACT_CELL_COUNT) == "32")  # conv2: 32 maps of 16x16
    wait.until(lambda d: _plot(d, ids.ACT_GRID, "g._fullLayout.meta.cells") == 32)
    # the input is drawn in colour (an RGB image trace, not a grey heatmap)
    assert _plot(browser, ids.ACT_DIGIT, "g._fullData[0].type") == "image"
    assert _plot(browser, ids.ACT_DIGIT, "g._fullData[0].z[0][0].length") == 3
    badges = _text(browser, ids.ACT_DIGIT_INFO)
    assert "predicted " in badges and any(f"predicted {name} (" in badges for name in CLASSES)
    # pick another layer from the layer dropdown: its grid follows
    browser.find_element(By.ID, ids.ACT_LAYER).click()
    option = wait.until(
        lambda d: next(
            (
                o
                for o in d.find_elements(By.CSS_SELECTOR, "[role=option]")
                if o.text[:6] == "conv3 "
            ),
            None,
        )
    )
    option.click()
    wait.until(lambda d: _text(d, ids.ACT_CELL_COUNT) == "64")  # conv3: 64 maps of 8x8
    wait.until(lambda d: _plot(d, ids.ACT_GRID, "g._fullLayout.meta.cells") == 64)
    assert "layer=conv3" in browser.current_url
    screenshot(browser, "colour_explorer_conv3")
    assert console_errors(browser) == []


def test_compare_marks_two_named_classes(colour_server, browser):
    goto(browser, colour_server + "/compare?a=0&b=2&n=2&layer=conv3&threshold=0.1")
    wait = wait_on(browser)
    wait.until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".compare-grid-b .scatterlayer .point"))
    )
    headers = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "h4")]
    assert 'Class "red disc" (clear examples)' in headers
    assert 'Class "blue triangle" (clear examples)' in headers
    markers = browser.execute_script(
        """
        return Array.from(document.querySelectorAll('.compare-grid'), graph =>
            Array.from(graph.querySelectorAll('.scatterlayer path.point'))
                .filter(p => p.style.stroke !== 'rgb(0, 0, 0)').length);
        """
    )
    assert len(markers) == 4 and all(count > 0 for count in markers)  # two digits a side
    captions = [el.text for el in browser.find_elements(By.CSS_SELECTOR, ".compare-proba")]
    assert all('"red disc"' in c and '"blue triangle"' in c for c in captions)
    assert _plot(browser, ids.COMPARE_CONFUSION, "g._fullLayout.xaxis.ticktext") == list(CLASSES)
    screenshot(browser, "colour_compare")
    assert console_errors(browser) == []


def test_a_short_oip_runs_to_its_result_on_the_colour_model(colour_server, browser):
    goto(
        browser, colour_server + "/oip?kind=map&layer=conv3&unit=5&n_seeds=1&steps=20&watch=0&run=1"
    )
    wait = wait_on(browser)
    wait.until(lambda d: "done" in _text(d, ids.OIP_STATUS))
    wait.until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, f"#{ids.OIP_RESULT} img.oip-result")) == 2
    )
    assert "conv3 map 5" in _text(browser, ids.OIP_STATUS)
    result = _text(browser, ids.OIP_RESULT)
    assert any(f"the OIP's own prediction: {name} (" in result for name in CLASSES)
    top = browser.find_elements(By.CSS_SELECTOR, "#oip-top-digits a")
    assert len(top) == 9 and "layer=conv3" in top[0].get_attribute("href")
    # a colour model starts in Fourier space with transformation robustness, and says how far
    # to trust the result
    assert browser.find_element(
        By.CSS_SELECTOR, f"#{ids.OIP_METHOD} input[value='fourier']"
    ).is_selected()
    assert browser.find_element(By.CSS_SELECTOR, f"#{ids.OIP_TRANSFORMS} input").is_selected()
    assert "trust check: " in result and "of 4 passed" in result
    assert "method=fourier" in browser.current_url and "transforms=1" in browser.current_url
    # its pictures are images, not digits, in the bars' title too
    titles = browser.execute_script(
        "return [...document.querySelectorAll('#oip-result .gtitle')].map(t => t.textContent)"
    )
    assert "activation: OIPs against the most exciting test images" in titles, titles
    screenshot(browser, "colour_oip_result")
    assert console_errors(browser) == []
