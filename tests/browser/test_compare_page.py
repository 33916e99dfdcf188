"""The Compare page in a real headless Chromium against a live server."""

from __future__ import annotations

import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from app import ids
from cnn_core.explain.compare import common_points, pick_examples
from tests.browser.conftest import screenshot
from tests.browser.driver import console_errors, goto, wait_on

pytestmark = pytest.mark.browser

RED = "rgb(255, 26, 26)"
YELLOW = "rgb(255, 230, 0)"


def _expected(services, layer: str, threshold: float, kind_a: str = "clear"):
    labels, proba = services.data.y_test, services.proba["test"]
    ia = pick_examples(labels, proba, 4, 9, 3, kind_a)
    ib = pick_examples(labels, proba, 9, 4, 3, "clear")
    acts_a = services.acts.layer(services.x_std["test"][ia], layer)
    acts_b = services.acts.layer(services.x_std["test"][ib], layer)
    red_a, yellow, _ = common_points(acts_a, acts_b, threshold)
    red_b = common_points(acts_b, acts_a, threshold).only_a
    return ia, int(red_a.sum()), int(red_b.sum()), int(yellow.sum())


def _marker_colors(driver, side: str) -> list[dict[str, int]]:
    """Per grid of one side: how many open markers of each stroke colour the SVG holds."""
    return driver.execute_script(
        """
        const out = [];
        for (const graph of document.querySelectorAll(arguments[0])) {
            const counts = {};
            for (const p of graph.querySelectorAll('.scatterlayer path.point')) {
                const c = p.style.stroke;
                if (c === 'rgb(0, 0, 0)') continue;  // the dark outline under every marker
                counts[c] = (counts[c] || 0) + 1;
            }
            out.push(counts);
        }
        return out;
        """,
        f".compare-grid-{side}",
    )


def _grid_titles(driver) -> list[str]:
    # read in one script: the grids are re-rendered while we wait, elements go stale
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.compare-grid .gtitle'),"
        " el => el.textContent);"
    )


def _wait_for_grids(wait, title_part: str):
    wait.until(
        lambda d: len(titles := _grid_titles(d)) >= 6 and all(title_part in t for t in titles)
    )


def _click_cell(driver, graph_id: str, predicted: int, true: int) -> None:
    """Click a heatmap cell where a person would: on the drag layer, at the cell's centre."""
    drag = driver.find_element(By.CSS_SELECTOR, f"#{graph_id} .nsewdrag")
    x, y = driver.execute_script(
        """
        const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        return [xa.c2p(arguments[1]), ya.c2p(arguments[2])];
        """,
        graph_id,
        predicted,
        true,
    )
    width, height = drag.size["width"], drag.size["height"]
    ActionChains(driver).move_to_element_with_offset(
        drag, int(x - width / 2), int(y - height / 2)
    ).click().perform()


def test_four_vs_nine_marks_common_points_and_the_confusion_matrix_lists_digits(
    live_server, browser, services
):
    goto(browser, live_server + "/compare?a=4&b=9&n=3&kind=clear&layer=Conv2D_3&threshold=0.1")
    wait = wait_on(browser, 60)
    wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".compare-grid-a .scatterlayer .point"))
    )
    _wait_for_grids(wait, "Conv2D_3")
    ia, red_a, red_b, yellow = _expected(services, "Conv2D_3", 0.1)
    assert red_a > 0 and red_b > 0 and yellow > 0
    grids_a, grids_b = _marker_colors(browser, "a"), _marker_colors(browser, "b")
    assert grids_a == [{RED: red_a, YELLOW: yellow}] * 3
    assert grids_b == [{RED: red_b, YELLOW: yellow}] * 3
    # probabilities under each digit, as the seed writes them
    captions = [el.text for el in browser.find_elements(By.CSS_SELECTOR, ".compare-proba")]
    assert len(captions) == 6 and all('"4"' in c and '"9"' in c for c in captions)
    screenshot(browser, "compare_4_vs_9_conv2d_3")

    # the confusion matrix: clicking (true 9, predicted 4) lists those digits
    labels, predicted = services.data.y_test, services.predicted("test")
    count = int(((labels == 9) & (predicted == 4)).sum())
    _click_cell(browser, ids.COMPARE_CONFUSION, predicted=4, true=9)
    wait.until(
        ec.text_to_be_present_in_element((By.ID, ids.COMPARE_CELL), f"True 9, predicted 4: {count}")
    )
    links = browser.find_elements(By.CSS_SELECTOR, f"#{ids.COMPARE_CELL} a.compare-cell-digit")
    assert len(links) == count
    for link in links:
        assert "/activations?split=test&index=" in link.get_attribute("href")

    # a misread 4 (as a 9 when this training made one, else as its most frequent other class):
    # add its first digit to the comparison, on the 4's side
    fours = predicted[labels == 4]
    misreads = np.bincount(fours[fours != 4], minlength=10)
    assert misreads.sum() > 0, "this training reads every test 4 right"
    other = 9 if misreads[9] else int(np.argmax(misreads))
    misread = np.flatnonzero((labels == 4) & (predicted == other))
    _click_cell(browser, ids.COMPARE_CONFUSION, predicted=other, true=4)
    wait.until(
        ec.text_to_be_present_in_element((By.ID, ids.COMPARE_CELL), f"True 4, predicted {other}")
    )
    browser.find_element(By.CSS_SELECTOR, f"#{ids.COMPARE_CELL} button[title^='add']").click()
    expected_typed = ", ".join(str(i) for i in [*ia.tolist(), int(misread[0])])
    wait.until(
        lambda d: (
            d.find_element(By.ID, ids.COMPARE_INDICES_A).get_attribute("value") == expected_typed
        )
    )
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".compare-grid-a")) == 4)
    wait.until(lambda d: "ia=" in d.execute_script("return window.location.search"))
    screenshot(browser, "compare_after_add")
    assert console_errors(browser) == []


def test_dense_layer_is_one_click_away_and_the_url_follows(live_server, browser, services):
    goto(browser, live_server + "/compare")
    wait = wait_on(browser, 60)
    _wait_for_grids(wait, "Conv2D_3")
    browser.find_element(
        By.XPATH, f"//*[@id='{ids.COMPARE_LAYER}']//label[normalize-space()='Dense_1']"
    ).click()
    _wait_for_grids(wait, "Dense_1")
    _, red_a, red_b, yellow = _expected(services, "Dense_1", 0.1)
    expected_a = {k: v for k, v in {RED: red_a, YELLOW: yellow}.items() if v}
    expected_b = {k: v for k, v in {RED: red_b, YELLOW: yellow}.items() if v}
    wait.until(lambda d: _marker_colors(d, "a") == [expected_a] * 3)
    assert _marker_colors(browser, "b") == [expected_b] * 3
    search = browser.execute_script("return window.location.search")
    assert "layer=Dense_1" in search and "a=4" in search and "b=9" in search
    screenshot(browser, "compare_dense_1")
    # the URL reproduces the view
    browser.get(live_server + "/compare" + search)
    _wait_for_grids(wait, "Dense_1")
    assert console_errors(browser) == []


def test_same_class_twice_is_a_message_not_an_error(live_server, browser):
    goto(browser, live_server + "/compare?a=4&b=4")
    wait = wait_on(browser, 60)
    wait.until(
        ec.text_to_be_present_in_element((By.ID, ids.COMPARE_MESSAGE), "both sides are class 4")
    )
    goto(browser, live_server + "/compare?a=12&layer=Conv9")
    wait.until(
        ec.text_to_be_present_in_element((By.ID, ids.COMPARE_URL_MESSAGE), "unknown class '12'")
    )
    _wait_for_grids(wait, "Conv2D_3")  # defaults shown
    screenshot(browser, "compare_bad_url")
    assert console_errors(browser) == []


def test_download_png_saves_the_comparison(live_server, browser, tmp_path):
    from PIL import Image

    browser.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    goto(browser, live_server + "/compare?a=4&b=9&layer=Dense_1")
    wait = wait_on(browser, 60)
    _wait_for_grids(wait, "Dense_1")
    browser.find_element(By.ID, ids.COMPARE_DOWNLOAD_BUTTON).click()
    target = tmp_path / "compare_4_vs_9_Dense_1.png"
    wait.until(lambda _: target.exists() and target.stat().st_size > 0)
    image = Image.open(target)
    assert image.format == "PNG" and image.width > 500
    assert console_errors(browser) == []
