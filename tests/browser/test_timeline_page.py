"""The timeline page in a real headless Chromium: the epoch slider moves grid and markers."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from app import ids
from tests.browser.conftest import screenshot
from tests.browser.driver import console_errors, goto, wait_on

pytestmark = pytest.mark.browser


def figure_data(browser, element_id: str):
    """The `data` of the Plotly figure drawn in a dcc.Graph (None until it is drawn)."""
    script = (
        f"const g = document.querySelector('#{element_id} .js-plotly-plot');"
        "return g && g.data ? JSON.parse(JSON.stringify(g.data)) : null;"
    )
    return browser.execute_script(script)


def marked_epoch(browser):
    data = figure_data(browser, ids.TL_ACCURACY)
    return data[1]["x"][0] if data and len(data) > 1 else None


def grid_z(browser):
    data = figure_data(browser, ids.TL_GRID)
    return data[0]["z"] if data else None


def test_the_epoch_slider_moves_the_grid_and_the_accuracy_marker(live_server, browser):
    goto(browser, f"{live_server}/timeline?epoch=0&layer=Conv2D_1&index=3")
    wait = wait_on(browser, 60)
    wait.until(lambda b: marked_epoch(b) == 0 and grid_z(b) is not None)
    first_grid = grid_z(browser)
    title = browser.find_element(By.ID, ids.TL_GRID_INFO).text
    assert "test digit 3" in title and "epoch 0" in title
    handle = browser.find_element(By.CSS_SELECTOR, f"#{ids.TL_EPOCH} [role=slider]")
    handle.click()
    handle.send_keys(Keys.END)  # the keyboard moves the slider to the last epoch
    wait.until(lambda b: marked_epoch(b) == 20)
    wait.until(lambda b: grid_z(b) != first_grid)
    assert "epoch 20" in browser.find_element(By.ID, ids.TL_GRID_INFO).text
    assert "epoch=20" in browser.current_url
    pair = figure_data(browser, ids.TL_PAIR)
    assert pair[0]["name"] == '"4" taken for "9"' and len(pair[0]["y"]) == 21
    labels = browser.find_elements(By.CSS_SELECTOR, f"#{ids.TL_CONFUSION} .heatmaplayer text")
    assert sum(int(label.text) for label in labels) == 1000
    screenshot(browser, "timeline_page")
    assert console_errors(browser) == []


def test_play_steps_through_the_epochs(live_server, browser):
    goto(browser, f"{live_server}/timeline?epoch=17")
    wait = wait_on(browser, 60)
    wait.until(lambda b: marked_epoch(b) == 17)
    browser.find_element(By.ID, ids.TL_PLAY).click()
    wait.until(lambda b: marked_epoch(b) == 20)
    wait.until(lambda b: "play" in b.find_element(By.ID, ids.TL_PLAY).text)  # stopped at the end
