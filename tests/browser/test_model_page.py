"""The Model page in a real headless Chromium against a live server."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from app import ids
from tests.browser.conftest import screenshot
from tests.browser.driver import console_errors, goto, wait_on

pytestmark = pytest.mark.browser


def test_model_page_shows_layers_accuracy_and_confusion_matrix(live_server, browser, trained):
    goto(browser, live_server + "/")
    wait = wait_on(browser, 30)
    wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"#{ids.MODEL_CONFUSION} .heatmaplayer"))
    )
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{ids.MODEL_LAYER_TABLE} tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "td,th").text for r in rows][:8] == [
        "Conv2D_1",
        "Max_Pool_1",
        "Conv2D_2",
        "Max_Pool_2",
        "Conv2D_3",
        "Flatten",
        "Dense_1",
        "Dense_2",
    ]
    assert "208,982" in rows[-1].text
    accuracy = browser.find_element(By.ID, ids.MODEL_ACCURACY).text
    assert accuracy == f"{trained.meta['test_accuracy']:.2%}"
    # the confusion matrix is drawn: 100 count labels, the diagonal dominated by correct digits
    labels = browser.find_elements(By.CSS_SELECTOR, f"#{ids.MODEL_CONFUSION} .heatmaplayer text")
    counts = [int(label.text) for label in labels]
    assert len(counts) == 100 and sum(counts) == 1000
    wait.until(
        ec.presence_of_element_located(
            (By.CSS_SELECTOR, f"#{ids.MODEL_CURVES} .scatterlayer .trace")
        )
    )
    screenshot(browser, "model_page")
    assert console_errors(browser) == []
