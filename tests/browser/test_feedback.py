"""Feedback (issue 14): "add this digit" on compare says what it did, or why it could not."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from app import ids
from app.components.digit_picker import DigitPickerIds, dom_id
from cnn_core.compare import pick_examples

pytestmark = pytest.mark.browser


def by_dict_id(component_id: dict) -> tuple[str, str]:
    return By.CSS_SELECTOR, f"[id='{dom_id(component_id)}']"


def test_add_says_what_it_did_or_why_not(live_server, browser, services):
    browser.get(live_server + "/compare?a=4&b=9&n=3&kind=clear&layer=Conv2D_3")
    wait = WebDriverWait(browser, 60)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".compare-grid-a .heatmaplayer")))
    index_field = browser.find_element(*by_dict_id(DigitPickerIds.index(ids.COMPARE_PICKER)))
    labels = services.data.labels("test")
    shown = pick_examples(labels, services.proba["test"], 4, 9, 3, "clear")
    four = int(next(i for i in range(len(labels)) if labels[i] == 4 and i not in shown))
    seven = int(next(i for i in range(len(labels)) if labels[i] == 7))
    index_field.clear()
    index_field.send_keys(f"{four}\t")
    browser.find_element(By.ID, ids.COMPARE_PICKER_ADD).click()
    wait.until(
        ec.text_to_be_present_in_element(
            (By.ID, ids.COMPARE_ADDED), f'test digit {four} added to class "4"'
        )
    )
    index_field.clear()
    index_field.send_keys(f"{seven}\t")
    browser.find_element(By.ID, ids.COMPARE_PICKER_ADD).click()
    wait.until(
        ec.text_to_be_present_in_element((By.ID, ids.COMPARE_MESSAGE), "choose class 7 first")
    )
    assert browser.find_element(By.ID, ids.COMPARE_ADDED).text == ""
