"""The OIP page says what it shows (issue 14): what an OIP is, labelled numbers, no empty chart
before the first Start, a new run clears the previous result."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from app import ids
from tests.browser.driver import goto, wait_on

pytestmark = pytest.mark.browser

RESULT_IMAGES = f"#{ids.OIP_RESULT} img.oip-result"
#: Records, from now on, whether the result box (id: the script's argument) was ever emptied.
CLEARED_WATCH = """
const box = document.getElementById(arguments[0]);
window.cnnLensTestResultCleared = false;
new MutationObserver(() => {
    if (!box.querySelector('img.oip-result')) { window.cnnLensTestResultCleared = true; }
}).observe(box, {childList: true, subtree: true});
"""


def start(browser) -> None:
    browser.execute_script("arguments[0].click()", browser.find_element(By.ID, ids.OIP_START))


def curve_displayed(browser) -> bool:
    """Whether the curve shows now (read again if Dash re-rendered it while it was read)."""
    for _ in range(5):
        try:
            return browser.find_element(By.ID, ids.OIP_CURVE).is_displayed()
        except StaleElementReferenceException:
            continue
    return browser.find_element(By.ID, ids.OIP_CURVE).is_displayed()


def test_no_empty_chart_before_start_and_a_new_run_clears_the_last_result(live_server, browser):
    goto(browser, f"{live_server}/oip?kind=map&layer=Conv2D_3&unit=5&n_seeds=1&steps=60&watch=0")
    wait = wait_on(browser, 90)
    wait.until(ec.element_to_be_clickable((By.ID, ids.OIP_START)))
    assert (
        "optimal input pattern (OIP) is a picture" in browser.find_element(By.TAG_NAME, "main").text
    )
    assert not curve_displayed(browser)
    start(browser)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, RESULT_IMAGES)))
    assert browser.find_element(By.ID, ids.OIP_CURVE).is_displayed()
    header = browser.find_element(By.CSS_SELECTOR, f"#{ids.OIP_RESULT} .card-header").text
    assert header.startswith("random seed 0: mean activation ")
    assert header.endswith("x the best test digit")
    # a second run: the first one's result goes at once, the new one comes when it is done
    unit = browser.find_element(By.ID, ids.OIP_UNIT)
    unit.clear()
    unit.send_keys("6\t")
    # (watched in the page: 60 unpaced steps can finish between two reads of a poll)
    browser.execute_script(CLEARED_WATCH, ids.OIP_RESULT)
    start(browser)
    wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"{RESULT_IMAGES}[alt$='map 6, random seed 0']")
    )
    assert browser.execute_script("return window.cnnLensTestResultCleared")
    alt = browser.find_element(By.CSS_SELECTOR, RESULT_IMAGES).get_attribute("alt")
    assert alt == "OIP of Conv2D_3 map 6, random seed 0"


def test_class_b_shows_only_for_a_contrast(live_server, browser):
    goto(browser, f"{live_server}/oip?kind=class&a=4")
    wait = wait_on(browser, 60)
    wait.until(ec.element_to_be_clickable((By.ID, ids.OIP_START)))
    assert not browser.find_element(By.ID, ids.OIP_CLASS_B).is_displayed()
    assert browser.find_element(By.ID, ids.OIP_CLASS_A).is_displayed()
    browser.find_element(
        By.XPATH, f"//*[@id='{ids.OIP_KIND}']//label[normalize-space()='class a − class b']"
    ).click()
    wait.until(lambda d: d.find_element(By.ID, ids.OIP_CLASS_B).is_displayed())
    assert (
        "random seed" in browser.find_element(By.CSS_SELECTOR, f"label[for='{ids.OIP_SEED}']").text
    )


def test_a_number_out_of_range_is_named_with_its_range_and_nothing_starts(live_server, browser):
    goto(browser, f"{live_server}/oip?kind=map&layer=Conv2D_3&unit=5&n_seeds=1&steps=60&watch=0")
    wait = wait_on(browser, 90)
    wait.until(ec.element_to_be_clickable((By.ID, ids.OIP_START)))
    steps = browser.find_element(By.ID, ids.OIP_STEPS)
    steps.clear()
    steps.send_keys("5000\t")  # above its max: the browser hands Dash no value
    start(browser)
    wait.until(
        ec.text_to_be_present_in_element(
            (By.ID, ids.OIP_STATUS), "steps: type a number from 1 to 2,000"
        )
    )
    assert "None" not in browser.find_element(By.ID, ids.OIP_STATUS).text
    assert not browser.find_elements(By.CSS_SELECTOR, RESULT_IMAGES)
    assert "steps=5000" not in browser.current_url and "run=" not in browser.current_url
