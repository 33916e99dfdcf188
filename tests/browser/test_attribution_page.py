"""The attribution page in a real headless Chromium against live servers (seed and colour model)."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from app import ids
from app.components.digit_picker import DigitPickerIds, dom_id
from tests.browser.conftest import screenshot
from tests.browser.driver import console_errors, goto, wait_on

pytestmark = pytest.mark.browser

METHODS = ["Saliency", "SmoothGrad", "Integrated Gradients", "Grad-CAM", "Occlusion"]

#: What Plotly drew in the page's figure: traces by type, heatmap sizes, SVG elements, title.
DRAWN_JS = """
const gd = document.querySelector('#attr-figure .js-plotly-plot');
if (!gd || !gd.data || !gd._fullLayout) { return null; }
// _fullData: the traces as Plotly drew them (typed arrays decoded)
const heat = gd._fullData.filter(t => t.type === 'heatmap');
return {
    heatmaps: heat.map(t => t.name),
    sizes: heat.map(t => [t.z.length, t.z[0].length]),
    images: gd.data.filter(t => t.type === 'image').length,
    curves: gd.data.filter(t => t.type === 'scatter').length,
    drawnHeatmaps: gd.querySelectorAll('.heatmaplayer image').length,
    drawnCurves: gd.querySelectorAll('.scatterlayer .trace .js-line').length,
    title: gd._fullLayout.title.text || '',
    areas: Array.from(document.querySelectorAll('.attr-area'), el => el.textContent),
};
"""


def _drawn(driver, title_part: str, timeout: float = 60):
    """Wait until the figure is drawn with a title containing `title_part`; what it drew."""

    def ready(d):
        drawn = d.execute_script(DRAWN_JS)
        return drawn if drawn and title_part in drawn["title"] and drawn["areas"] else False

    return wait_on(driver, timeout).until(ready)


def test_the_page_shows_five_heatmaps_over_the_digit_with_their_deletion_curves(
    live_server, browser
):
    goto(browser, f"{live_server}/attribution?index=312&contrast=9&target=4")
    drawn = _drawn(browser, "test digit 312")
    assert drawn["heatmaps"] == METHODS
    assert drawn["sizes"] == [[28, 28]] * 5 and drawn["images"] == 5
    assert drawn["drawnHeatmaps"] == 5  # Plotly drew them, not only received them
    assert drawn["curves"] == 10 and drawn["drawnCurves"] == 10  # each: map order and random
    assert 'why "4" rather than "9"' in drawn["title"]
    assert len(drawn["areas"]) == 5 and all(0 <= float(a) <= 1 for a in drawn["areas"])
    screenshot(browser, "attribution_seed")
    assert console_errors(browser) == []


def test_the_next_digit_is_explained_and_the_address_follows(live_server, browser):
    goto(browser, f"{live_server}/attribution?index=312&cmap=viridis")
    _drawn(browser, "test digit 312")
    next_button = dom_id(DigitPickerIds.next(ids.ATTR_PICKER))
    browser.find_element(By.CSS_SELECTOR, f"[id='{next_button}']").click()
    drawn = _drawn(browser, "test digit 313")
    assert drawn["heatmaps"] == METHODS
    wait_on(browser, 20).until(lambda d: "index=313" in d.current_url)
    assert "cmap=viridis" in browser.current_url
    assert console_errors(browser) == []


def test_the_explorer_links_its_digit_to_the_attribution_page(live_server, browser):
    goto(browser, f"{live_server}/activations?index=42")
    link = wait_on(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.ACT_EXPLAIN} a")
    )[0]
    assert "/attribution?split=test&index=42" in link.get_attribute("href")
    browser.execute_script("arguments[0].click();", link)  # the picker's drawing pad may cover it
    drawn = _drawn(browser, "test digit 42")
    assert drawn["heatmaps"] == METHODS
    assert console_errors(browser) == []


def test_the_colour_model_is_explained_over_its_colour_image(colour_server, browser):
    goto(browser, f"{colour_server}/attribution?index=5&background=grey")
    drawn = _drawn(browser, "test image 5")
    assert drawn["heatmaps"] == METHODS
    assert drawn["sizes"] == [[32, 32]] * 5 and drawn["drawnHeatmaps"] == 5
    assert drawn["curves"] == 10 and len(drawn["areas"]) == 5
    screenshot(browser, "attribution_colour")
    assert console_errors(browser) == []
