"""The pages as a user with their own model meets them, in a real headless Chromium: the
residual example (its base a nested model) served from a folder of PNG files sorted by class,
and the same model served alone (a plain `.keras` file, no sidecar, no data)."""

from __future__ import annotations

import urllib.parse

import pytest
from PIL import Image, ImageDraw
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from app import ids
from app.components.digit_picker import DigitPickerIds, dom_id
from tests.browser.conftest import screenshot
from tests.browser.driver import console_errors, goto, wait_on
from tests.browser.graph import CY_JS, click_node, explorer_shows, graph_drawn

pytestmark = pytest.mark.browser

#: A node of the nested base (`residual_base`), a convolution inside its second stage.
NESTED_CONV = "residual_base/stage2_conv1"


def _text(driver, element_id: str) -> str:
    return driver.execute_script(
        "var e = document.getElementById(arguments[0]); return e ? e.innerText : '';", element_id
    )


def _plot(driver, graph_id: str, expression: str):
    """Evaluate `expression` on the Plotly div `g` inside `#graph_id` (None until drawn)."""
    return driver.execute_script(
        f"var g = document.querySelector('#{graph_id} .js-plotly-plot');"
        f" return g && g._fullLayout && g._fullData ? ({expression}) : null;"
    )


def test_the_graph_shows_the_nested_base_and_its_merges_and_a_click_explores_a_node(
    folder_server, browser
):
    url, _ = folder_server
    drawn = graph_drawn(browser, url + "/")
    assert NESTED_CONV in drawn["ids"] and "residual_base/stage2_add" in drawn["ids"]
    merges, parent = browser.execute_script(
        CY_JS + "return [cy.nodes('.merge').map(n => n.id()),"
        " cy.getElementById(arguments[0]).parent().map(n => n.data('label'))];",
        NESTED_CONV,
    )
    assert merges == ["residual_base/stage1_add", "residual_base/stage2_add"]
    assert parent and "residual_base" in parent[0]  # drawn inside the nested model's box
    click_node(browser, NESTED_CONV)
    explorer_shows(browser, NESTED_CONV)
    wait_on(browser, 30).until(lambda d: _text(d, ids.ACT_CELL_COUNT) == "32")
    assert console_errors(browser) == []


def test_a_nested_node_opens_from_the_model_table_and_its_grid_renders(folder_server, browser):
    url, names = folder_server
    goto(browser, url + "/")
    wait = wait_on(browser, 30)
    link = wait.until(
        lambda d: d.find_element(By.XPATH, f"//table//a[normalize-space()='{NESTED_CONV}']")
    )
    page = browser.find_element(By.TAG_NAME, "body").text
    assert all(name in page for name in names)  # the classes are the folder's names
    assert "image folder" in _text(browser, ids.MODEL_DATA_SOURCE)
    browser.execute_script("arguments[0].focus()", link)
    link.send_keys(Keys.ENTER)  # the keyboard's way into the explorer
    wait.until(lambda d: "/activations" in d.current_url)
    units = 32  # stage2_conv1: 32 maps of 16x16
    wait.until(lambda d: _text(d, ids.ACT_CELL_COUNT) == str(units))
    assert urllib.parse.unquote(browser.current_url).count(f"layer={NESTED_CONV}") == 1
    assert browser.find_element(By.ID, ids.ACT_LAYER).text.startswith(NESTED_CONV)
    assert _plot(browser, ids.ACT_GRID, "g._fullLayout.meta.cells") == units
    screenshot(browser, "folder_nested_node")
    assert console_errors(browser) == []


def test_the_layer_picker_finds_a_nested_node_by_typing(folder_server, browser):
    url, _ = folder_server
    goto(browser, f"{url}/activations?layer={NESTED_CONV}")
    wait = wait_on(browser, 30)
    wait.until(lambda d: _text(d, ids.ACT_CELL_COUNT) == "32")
    browser.find_element(By.ID, ids.ACT_LAYER).click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=option]"))
    ActionChains(browser).send_keys("stage1_add").perform()  # typed where the focus is
    option = wait.until(
        lambda d: next(
            (o for o in d.find_elements(By.CSS_SELECTOR, "[role=option]") if "1_add" in o.text),
            None,
        )
    )
    shown = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "[role=option]")]
    assert all("stage1_add" in text for text in shown), shown  # the search filters the list
    option.click()
    wait.until(lambda d: "residual_base/stage1_add" in urllib.parse.unquote(d.current_url))
    wait.until(lambda d: _text(d, ids.ACT_CELL_COUNT) == "16")
    assert console_errors(browser) == []


def test_compare_shows_two_classes_of_the_folder_by_their_names(folder_server, browser):
    url, names = folder_server
    goto(browser, url + "/compare")
    wait = wait_on(browser, 60)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "h4, h3, h5")) > 2)
    a = wait.until(lambda d: d.find_element(By.ID, ids.COMPARE_CLASS_A).text)
    b = browser.find_element(By.ID, ids.COMPARE_CLASS_B).text
    assert a in names and b in names and a != b
    wait.until(lambda d: f'Class "{a}"' in d.find_element(By.TAG_NAME, "body").text)
    assert f'Class "{b}"' in browser.find_element(By.TAG_NAME, "body").text
    screenshot(browser, "folder_compare")
    assert console_errors(browser) == []


def test_attribution_draws_grad_cam_on_a_nested_convolution(folder_server, browser):
    url, _ = folder_server
    goto(browser, url + "/attribution")
    wait = wait_on(browser, 60)
    layer = wait.until(lambda d: d.find_element(By.ID, ids.ATTR_LAYER).text)
    assert layer == "residual_base/stage2_add"  # the last block's output, inside the base
    wait.until(lambda d: _plot(d, ids.ATTR_FIGURE, "g._fullData.length") or None)
    titles = _plot(browser, ids.ATTR_FIGURE, "g._fullLayout.annotations.map(a => a.text)")
    assert any("Grad-CAM" in t for t in titles), titles
    screenshot(browser, "folder_attribution")
    assert console_errors(browser) == []


def test_a_model_alone_says_what_it_needs_and_works_on_an_upload(alone_server, browser, tmp_path):
    goto(browser, alone_server + "/")
    wait = wait_on(browser, 30)
    wait.until(lambda d: "No data set is loaded" in _text(d, ids.MODEL_CONFUSION))
    goto(browser, alone_server + "/compare")
    wait.until(lambda d: "--data" in _text(d, ids.COMPARE_MESSAGE))
    goto(browser, alone_server + "/activations")
    wait.until(lambda d: "upload or draw an image" in _text(d, ids.ACT_VIEW_MESSAGE))
    picture = Image.new("RGB", (90, 60), (20, 20, 20))  # wider than the model's square input
    ImageDraw.Draw(picture).ellipse((25, 10, 65, 50), fill=(220, 30, 30))
    path = tmp_path / "red disc.png"
    picture.save(path)
    upload = f"[id='{dom_id(DigitPickerIds.part('upload', ids.ACT_PICKER))}'] input[type=file]"
    browser.find_element(By.CSS_SELECTOR, upload).send_keys(str(path))
    wait.until(lambda d: "uploaded: red disc.png" in _text(d, ids.ACT_SOURCE_INFO))
    assert "predicted " in _text(browser, ids.ACT_DIGIT_INFO)
    wait.until(lambda d: _plot(d, ids.ACT_GRID, "g._fullLayout.meta.cells") == 16)  # the stem
    assert _plot(browser, ids.ACT_DIGIT, "g._fullData[0].type") == "image"  # in colour
    screenshot(browser, "alone_upload")
    assert console_errors(browser) == []
