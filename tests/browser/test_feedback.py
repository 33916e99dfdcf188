"""Feedback (issue 14): "add this digit" on compare says what it did, or why it could not; a
number typed outside its field's range gets a message naming the range, never `None`."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from app import ids
from app.components.digit_picker import DigitPickerIds, dom_id
from cnn_core.explain.compare import pick_examples
from tests.browser.driver import PENDING_JS, PENDING_SELECTOR, goto, wait_on

pytestmark = pytest.mark.browser


def by_dict_id(component_id: dict) -> tuple[str, str]:
    return By.CSS_SELECTOR, f"[id='{dom_id(component_id)}']"


def test_add_says_what_it_did_or_why_not(live_server, browser, services):
    goto(browser, live_server + "/compare?a=4&b=9&n=3&kind=clear&layer=Conv2D_3")
    wait = wait_on(browser, 60)
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


#: (page, the field's DOM id, a value outside its min..max, what the page says then; the
#: timeline's steps are read when its OIPs are asked for)
OUT_OF_RANGE = [
    ("/activations?layer=Conv2D_1", dom_id(DigitPickerIds.index(ids.ACT_PICKER)), "99999",
     "cannot show this digit: enter a whole number from 0 to 999"),
    ("/activations?layer=Conv2D_1", ids.ACT_PER_ROW, "500",
     "maps per row: type a whole number from 1 to 64"),
    ("/compare?a=4&b=9", ids.COMPARE_N, "50", "enter how many examples per class (1 to 10)"),
    ("/attribution?index=3", ids.ATTR_STEPS, "100000", "IG steps: type a whole number from"),
    ("/attribution?index=3", ids.ATTR_WINDOW, "100", "occlusion window: type a whole number"),
    ("/timeline", ids.TL_OIP_STEPS, "100000", "steps: type a whole number from 10 to 1000"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "field", "value", "message"), OUT_OF_RANGE)
def test_a_number_out_of_range_gets_a_message_naming_its_range(
    live_server, browser, path, field, value, message
):
    goto(browser, live_server + path)
    wait = wait_on(browser, 20)
    box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"[id='{field}']")))
    wait.until(lambda d: d.execute_script("return !document.querySelector('._dash-loading')"))
    box.clear()
    box.send_keys(f"{value}\t")  # above its max: the browser hands Dash no value
    if field == ids.TL_OIP_STEPS:
        # a script's click: the page's figures still arrive and move the button meanwhile
        button = browser.find_element(By.ID, ids.TL_OIP_START)
        browser.execute_script("arguments[0].click()", button)
    main = (By.TAG_NAME, "main")
    try:
        wait.until(ec.text_to_be_present_in_element(main, message))
    except TimeoutException:
        pytest.fail(f"{message!r} not on the page, which says:\n{browser.find_element(*main).text}")
    assert "None" not in browser.find_element(*main).text


BUSY_BAR_SHOWN = f"""
const bar = document.querySelector('{PENDING_SELECTOR}');
return !!bar && getComputedStyle(bar).opacity === '1' && bar.getBoundingClientRect().height > 0;
"""


def test_a_wait_over_300_ms_shows_a_busy_bar_until_the_answer_comes(live_server, browser):
    goto(browser, live_server + "/activations?layer=Conv2D_1")
    wait = wait_on(browser, 60)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"#{ids.ACT_GRID} .heatmaplayer")))
    wait.until(lambda d: not d.execute_script(PENDING_JS))
    assert not browser.execute_script(BUSY_BAR_SHOWN)
    # every answer now takes 1.5 s to arrive
    browser.set_network_conditions(
        offline=False, latency=1500, download_throughput=10_000_000, upload_throughput=10_000_000
    )
    try:
        per_row = browser.find_element(By.ID, ids.ACT_PER_ROW)
        per_row.clear()
        per_row.send_keys("4\t")
        wait_on(browser, 5, poll=0.05).until(lambda d: d.execute_script(BUSY_BAR_SHOWN))
        wait.until(lambda d: not d.execute_script(PENDING_JS))
    finally:
        browser.delete_network_conditions()
    assert not browser.execute_script(BUSY_BAR_SHOWN)
