"""The Model page in a real headless Chromium against a live server."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec

from app import ids
from app import model_graph as mg
from cnn_core.model.anatomy import INPUT_NODE
from tests.browser.conftest import screenshot
from tests.browser.driver import console_errors, goto, wait_on
from tests.browser.graph import CY_JS, click_node, explorer_shows, graph_drawn

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


# the graph ------------------------------------------------------------------------------------


def test_the_graph_draws_the_seed_and_hover_describes_a_node(live_server, browser, trained):
    drawn = graph_drawn(browser, live_server + "/")
    assert drawn == {"ids": [INPUT_NODE, *trained.desc.names], "edges": 8}
    box = browser.find_element(By.ID, mg.GRAPH_BOX)
    assert box.get_attribute("role") == "img"
    assert f"{len(trained.desc.layers)} shown nodes" in box.get_attribute("aria-label")
    browser.execute_script(CY_JS + "cy.getElementById('Conv2D_2').emit('mouseover');")
    wait_on(browser, 10).until(
        lambda d: "output 11 x 11 x 64" in d.find_element(By.ID, mg.GRAPH_INFO).text
    )
    assert "18,496 parameters" in browser.find_element(By.ID, mg.GRAPH_INFO).text
    assert console_errors(browser) == []


def test_clicking_a_node_of_the_graph_opens_the_explorer_on_it(live_server, browser):
    graph_drawn(browser, live_server + "/")
    click_node(browser, "Conv2D_3")
    explorer_shows(browser, "Conv2D_3")
    assert console_errors(browser) == []


def test_a_layer_name_in_the_table_opens_the_explorer_from_the_keyboard(live_server, browser):
    goto(browser, live_server + "/")
    link = wait_on(browser, 30).until(
        lambda d: d.find_element(By.CSS_SELECTOR, f"#{ids.MODEL_LAYER_TABLE} a[href*='Dense_1']")
    )
    browser.execute_script("arguments[0].focus()", link)
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    explorer_shows(browser, "Dense_1")
