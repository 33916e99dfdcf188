"""The Activation explorer in a real headless Chromium against a live server and the real model."""

import time

import numpy as np
import pytest
from PIL import Image, ImageDraw
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from app import ids
from app.components.digit_picker import DigitPickerIds, dom_id
from tests.browser.conftest import screenshot
from tests.browser.driver import console_errors, goto, wait_on

pytestmark = pytest.mark.browser


def _picker(part: str) -> str:
    """CSS selector of a part of the explorer's digit picker (its ids are dicts)."""
    return f"[id='{dom_id(DigitPickerIds.part(part, ids.ACT_PICKER))}']"


def _grid(driver, expression: str):
    """Evaluate `expression` on the grid's Plotly div `g` in the page."""
    return driver.execute_script(
        f"var g = document.querySelector('#{ids.ACT_GRID} .js-plotly-plot');"
        f" return g && g._fullLayout ? ({expression}) : null;"
    )


def _wait_cells(driver, count: int, timeout: float = 30) -> None:
    wait_on(driver, timeout).until(
        lambda d: (
            d.find_element(By.ID, ids.ACT_CELL_COUNT).text == str(count)
            and _grid(d, "g._fullLayout.meta.cells") == count
        )
    )


def _click(driver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def _choose_layer(driver, label_start: str) -> None:
    _click(driver, driver.find_element(By.ID, ids.ACT_LAYER))
    option = wait_on(driver, 10).until(
        lambda d: next(
            (
                o
                for o in d.find_elements(By.CSS_SELECTOR, "[role=option]")
                if o.text.startswith(label_start)
            ),
            None,
        )
    )
    option.click()


def _choose_radio(driver, group_id: str, value: str) -> None:
    label = driver.find_element(
        By.XPATH, f"//div[@id='{group_id}']//label[normalize-space()='{value}']"
    )
    _click(driver, label)


def test_explorer_grid_colormap_layer_url_and_upload(live_server, browser, services, tmp_path):
    index = 312
    goto(browser, f"{live_server}/activations?split=test&index={index}&layer=Conv2D_3")
    _wait_cells(browser, 128)
    # the heatmap is drawn: one mosaic of 16 x 8 maps of 3 x 3, as an image in the plot
    assert _grid(browser, "[g._fullData[0].z.length, g._fullData[0].z[0].length]") == [48, 24]
    assert browser.find_elements(By.CSS_SELECTOR, f"#{ids.ACT_GRID} .heatmaplayer image")
    # the values drawn are the real activations of test digit 312
    expected = services.acts.activations(services.x_std["test"][index : index + 1])["Conv2D_3"]
    drawn = np.array(_grid(browser, "Array.from(g._fullData[0].text[4])"), dtype=np.float32)
    np.testing.assert_allclose(drawn[:3], expected[0, 1, :, 8], rtol=1e-5)  # map 8, its row 1
    label = services.data.labels("test")[index]
    assert f"true {label}" in browser.find_element(By.ID, ids.ACT_DIGIT_INFO).text
    # hovering a cell names its map, position and value
    drag = browser.find_element(By.CSS_SELECTOR, f"#{ids.ACT_GRID} .nsewdrag")
    ActionChains(browser).move_to_element(drag).perform()
    hover = wait_on(browser, 10).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.ACT_GRID} .hoverlayer .hovertext")
    )
    assert "map" in hover[0].text and "row" in hover[0].text and "value" in hover[0].text
    screenshot(browser, "activations_conv2d_3")

    _choose_radio(browser, ids.ACT_CMAP, "viridis")
    wait_on(browser, 20).until(
        lambda d: _grid(d, "g._fullLayout.coloraxis.colorscale[0][1]") == "rgb(68,1,84)"
    )
    _choose_layer(browser, "Dense_1")
    _wait_cells(browser, 100)
    assert _grid(browser, "[g._fullData[0].z.length, g._fullData[0].z[0].length]") == [10, 10]
    wait_on(browser, 10).until(lambda d: "layer=Dense_1" in d.current_url)
    url = browser.current_url
    assert "cmap=viridis" in url and f"index={index}" in url
    screenshot(browser, "activations_dense_1_viridis")

    # clicking a node enlarges the node grid with its values
    drag = browser.find_element(By.CSS_SELECTOR, f"#{ids.ACT_GRID} .nsewdrag")
    ActionChains(browser).move_to_element(drag).click().perform()
    wait_on(browser, 20).until(
        lambda d: (
            d.find_element(By.ID, ids.ACT_DETAIL).is_displayed()
            and len(d.find_elements(By.CSS_SELECTOR, f"#{ids.ACT_DETAIL} .heatmaplayer text"))
            == 100
        )
    )
    assert "node" in browser.find_element(By.CSS_SELECTOR, f"#{ids.ACT_DETAIL} .gtitle").text
    wait_on(browser, 10).until(lambda d: _grid(d, "g._fullLayout.shapes.length") == 2)  # framed
    screenshot(browser, "activations_dense_1_detail")

    # the URL reopens the same view
    browser.get(url)
    _wait_cells(browser, 100)
    assert _grid(browser, "g._fullLayout.coloraxis.colorscale[0][1]") == "rgb(68,1,84)"
    assert browser.find_element(By.CSS_SELECTOR, _picker("index")).get_attribute("value") == str(
        index
    )
    assert "Dense_1" in browser.find_element(By.ID, ids.ACT_GRID_INFO).text

    # upload a picture of a digit: it becomes what the model sees
    picture = Image.new("RGB", (300, 240), "white")
    draw = ImageDraw.Draw(picture)
    draw.line([(40, 30), (140, 30)], fill="black", width=14)
    draw.line([(140, 30), (80, 200)], fill="black", width=14)
    path = tmp_path / "seven.png"
    picture.save(path)
    upload = browser.find_element(By.CSS_SELECTOR, f"{_picker('upload')} input[type=file]")
    upload.send_keys(str(path))
    wait_on(browser, 30).until(
        lambda d: "uploaded: seven.png" in d.find_element(By.ID, ids.ACT_SOURCE_INFO).text
    )
    assert "predicted 7" in browser.find_element(By.ID, ids.ACT_DIGIT_INFO).text
    _wait_cells(browser, 100)
    _choose_layer(browser, "Conv2D_1")
    _wait_cells(browser, 32)
    assert "uploaded: seven.png" in _grid(browser, "g._fullLayout.title.text")
    screenshot(browser, "activations_upload_conv2d_1")
    # back to the dataset, then the same file again: it is read again
    _click(browser, browser.find_element(By.CSS_SELECTOR, _picker("next")))
    wait_on(browser, 20).until(
        lambda d: f"test digit {index + 1}" in d.find_element(By.ID, ids.ACT_SOURCE_INFO).text
    )
    browser.find_element(By.CSS_SELECTOR, f"{_picker('upload')} input[type=file]").send_keys(
        str(path)
    )
    wait_on(browser, 20).until(
        lambda d: "uploaded: seven.png" in d.find_element(By.ID, ids.ACT_SOURCE_INFO).text
    )
    assert console_errors(browser) == []


def test_bad_url_and_bad_upload_show_messages_and_keep_a_view(live_server, browser, tmp_path):
    goto(browser, f"{live_server}/activations?index=5000&layer=Conv2D_9&cmap=hot")
    _wait_cells(browser, 32)  # defaults: test digit 0, Conv2D_1
    warning = browser.find_element(By.ID, ids.ACT_URL_MESSAGE).text
    assert "outside the test split" in warning and "Conv2D_9" in warning and "hot" in warning
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a png")
    browser.find_element(By.CSS_SELECTOR, f"{_picker('upload')} input[type=file]").send_keys(
        str(broken)
    )
    wait_on(browser, 20).until(
        ec.text_to_be_present_in_element(
            (By.CSS_SELECTOR, _picker("message")), "cannot use this file"
        )
    )
    assert "test digit 0" in browser.find_element(By.ID, ids.ACT_SOURCE_INFO).text
    # a picture over the limit is not sent: the browser's word gets the server's size message
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2_500_000))
    browser.find_element(By.CSS_SELECTOR, f"{_picker('upload')} input[type=file]").send_keys(
        str(big)
    )
    wait_on(browser, 20).until(
        ec.text_to_be_present_in_element(
            (By.CSS_SELECTOR, _picker("message")), "the file has 2.5 MB; the limit is 2 MB"
        )
    )
    assert browser.execute_script("return window.cnnLensUpload.bytes") == 2_500_008
    time.sleep(0.3)
    assert _grid(browser, "g._fullLayout.meta.cells") == 32  # previous view kept
    screenshot(browser, "activations_bad_input")
    assert console_errors(browser) == []
