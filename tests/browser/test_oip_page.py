"""The OIP page in a real headless Chromium: live frames, cancel, a short gallery to the end."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from app import ids
from tests.browser.conftest import screenshot
from tests.browser.driver import console_errors, goto, wait_on

pytestmark = pytest.mark.browser


def set_number(browser, element_id: str, value) -> None:
    field = browser.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(str(value))
    field.send_keys("\t")  # debounced inputs commit on blur


def click(browser, element_id: str) -> None:
    """Click a button wherever it is on the page (a DOM click event, as a user's click)."""
    browser.execute_script("arguments[0].click()", browser.find_element(By.ID, element_id))


def frame_sources(browser) -> tuple[str, ...]:
    # read in one script: the frames are replaced several times a second (no stale elements)
    script = f"return [...document.querySelectorAll('#{ids.OIP_FRAMES} img')].map(i => i.src)"
    return tuple(browser.execute_script(script))


def progress(browser) -> str:
    script = f"return document.querySelector('#{ids.OIP_PROGRESS} .progress-bar').textContent"
    return browser.execute_script(script)


def test_live_run_shows_changing_frames_and_cancel_stops_it(live_server, browser):
    goto(browser, f"{live_server}/oip?kind=map&layer=Conv2D_3&unit=12&n_seeds=2&steps=1500")
    wait = wait_on(browser, 30)
    wait.until(ec.element_to_be_clickable((By.ID, ids.OIP_START)))
    click(browser, ids.OIP_START)
    frames, progresses = set(), set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (len(frames) < 3 or len(progresses) < 3):
        sources = frame_sources(browser)
        if sources:
            frames.add(sources)
            progresses.add(progress(browser))
        time.sleep(0.15)
    assert len(frames) >= 3, "the image did not change at least twice"
    assert len(progresses) >= 3, f"the progress did not change at least twice: {progresses}"
    assert len(next(iter(frames))) == 2  # two seeds side by side
    assert "unit=12" in browser.current_url and "run=1" in browser.current_url
    screenshot(browser, "oip_running")
    click(browser, ids.OIP_CANCEL)
    wait.until(ec.text_to_be_present_in_element((By.ID, ids.OIP_STATUS), "Cancelled after"))
    stopped_at = progress(browser)
    time.sleep(1.0)
    assert progress(browser) == stopped_at, "progress moved after cancel"
    assert int(stopped_at.split("/")[0]) < 1500
    assert console_errors(browser) == []


def test_finished_run_shows_two_fold_view_prediction_and_top_digits(live_server, browser):
    goto(browser, f"{live_server}/oip?kind=map&layer=Conv2D_3&unit=5&n_seeds=1&steps=60&watch=0")
    wait_on(browser, 30).until(ec.element_to_be_clickable((By.ID, ids.OIP_START)))
    click(browser, ids.OIP_START)
    wait_on(browser, 60).until(ec.text_to_be_present_in_element((By.ID, ids.OIP_STATUS), "done"))
    # the result is drawn once the job has finished (its own callback)
    wait_on(browser, 30).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"#{ids.OIP_RESULT} img.oip-result"))
    )
    result = browser.find_element(By.ID, ids.OIP_RESULT)
    assert len(result.find_elements(By.CSS_SELECTOR, "img.oip-result")) == 2  # plain + enhanced
    digits = browser.find_elements(By.CSS_SELECTOR, "#oip-top-digits a")
    assert len(digits) == 9
    assert "/activations?split=test&index=" in digits[0].get_attribute("href")
    assert "x the best test digit" in result.text
    badge = result.find_element(By.CSS_SELECTOR, ".trust-badge")
    assert "trust check: " in badge.text and "of 4 passed" in badge.text
    marks = [m.text for m in badge.find_elements(By.CSS_SELECTOR, ".trust-mark")]
    assert len(marks) == 4 and set(marks) <= {"✓", "✗"}  # a symbol per check, not only colour
    method = browser.find_element(By.CSS_SELECTOR, f"#{ids.OIP_METHOD} input[value='pixel']")
    assert method.is_selected()  # the seed keeps its pixel ascent
    screenshot(browser, "oip_result")
    assert console_errors(browser) == []


def test_short_gallery_runs_to_the_end_and_a_click_opens_a_map(live_server, browser):
    goto(browser, f"{live_server}/oip?gallery_layer=Conv2D_1&gallery_steps=30")
    wait = wait_on(browser, 30)
    wait.until(ec.element_to_be_clickable((By.ID, ids.OIP_GALLERY_START)))
    click(browser, ids.OIP_GALLERY_START)
    wait_on(browser, 120).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"#{ids.OIP_GALLERY_GRAPH} .heatmaplayer"))
    )
    assert "done" in browser.find_element(By.ID, ids.OIP_STATUS).text
    summary = browser.find_element(By.ID, ids.OIP_GALLERY).text
    assert "of 32 OIPs activate their map" in summary and "OIPs pass every check" in summary
    marks = browser.execute_script(
        f"return document.querySelector('#{ids.OIP_GALLERY_GRAPH} .js-plotly-plot')"
        "._fullData[2].text;"
    )
    assert len(marks) == 32 and set(marks) <= {"✓", "✗"}  # a mark per tile
    assert "run=gallery" in browser.current_url and "gallery_layer=Conv2D_1" in browser.current_url
    screenshot(browser, "oip_gallery")
    # click map 17 (row 1, column 1 of 16 per row): it opens as a single run of that map
    plot = browser.find_element(By.CSS_SELECTOR, f"#{ids.OIP_GALLERY_GRAPH} .nsewdrag")
    x0, dx, y0, dy, x_range, y_range = browser.execute_script(
        f"const gd = document.querySelector('#{ids.OIP_GALLERY_GRAPH} .js-plotly-plot');"
        "const h = gd._fullData[1], l = gd._fullLayout;"
        "return [h.x0, h.dx, h.y0, h.dy, l.xaxis.range, l.yaxis.range];"
    )
    from_left = (x0 + dx - x_range[0]) / (x_range[1] - x_range[0])  # cell 17: row 1, column 1
    from_top = (y0 + dy - y_range[1]) / (y_range[0] - y_range[1])
    x = from_left * plot.size["width"] - plot.size["width"] / 2
    y = from_top * plot.size["height"] - plot.size["height"] / 2
    ActionChains(browser).move_to_element_with_offset(plot, int(x), int(y)).click().perform()
    wait_on(browser, 60).until(
        ec.text_to_be_present_in_element((By.ID, ids.OIP_STATUS), "Conv2D_1 map 17")
    )
    assert "unit=17" in browser.current_url and "layer=Conv2D_1" in browser.current_url
    # the gallery stays, and a second map opens from it too (typed: the keyboard's way)
    assert browser.find_elements(By.CSS_SELECTOR, f"#{ids.OIP_GALLERY_GRAPH} .heatmaplayer")
    set_number(browser, ids.OIP_GALLERY_MAP, 3)
    wait_on(browser, 60).until(
        ec.text_to_be_present_in_element((By.ID, ids.OIP_STATUS), "Conv2D_1 map 3")
    )
    assert "unit=3" in browser.current_url
    assert console_errors(browser) == []


def test_two_images_per_seed_from_the_address_are_shown_captioned_side_by_side(
    live_server, browser
):
    # diversity 0: the same page, without the diverse graph's first trace (~14 s on 2 cores)
    query = "kind=map&layer=Conv2D_3&unit=5&n_seeds=1&steps=20&watch=0&images_per_unit=2"
    goto(browser, f"{live_server}/oip?{query}&diversity=0&run=1")
    wait_on(browser, 60).until(ec.text_to_be_present_in_element((By.ID, ids.OIP_STATUS), "done"))
    cards = wait_on(browser, 30).until(
        lambda b: (
            (found := b.find_elements(By.CSS_SELECTOR, f"#{ids.OIP_RESULT} .card-header"))
            and len(found) == 2
            and found
        )
    )
    assert [card.text.split(":")[0] for card in cards] == [
        "seed 0 · image 1 of 2",
        "seed 0 · image 2 of 2",
    ]
    assert cards[0].location["y"] == cards[1].location["y"]  # side by side
    result = browser.find_element(By.ID, ids.OIP_RESULT)
    assert len(result.find_elements(By.CSS_SELECTOR, "img.oip-result")) == 4
    assert "images_per_unit=2" in browser.current_url and "diversity=0" in browser.current_url
    diversity = browser.find_element(By.ID, ids.OIP_DIVERSITY)
    assert diversity.is_enabled()
    set_number(browser, ids.OIP_IMAGES_PER_UNIT, 1)
    wait_on(browser, 10).until(lambda _: not diversity.is_enabled())  # moot with one image
    screenshot(browser, "oip_two_images_per_seed")
    assert console_errors(browser) == []
