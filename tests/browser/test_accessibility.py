"""axe-core 4 on every page at desktop and phone width, before and after a comparison or an OIP
run: no critical or serious violation, one <h1>, every result image described, and no
sideways scrolling on a phone (issue 14)."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from app import ids
from tests.browser.axe import violations
from tests.browser.driver import goto, show_blank, wait_on
from tests.browser.pages import READY

pytestmark = pytest.mark.browser

DESKTOP, PHONE = 1400, 390
HEIGHT = 1000
#: Each page and an element that is there once its callbacks have drawn it.
PAGES = READY


@contextmanager
def window_width(browser, width: int):
    """The browser at `width` px for the block; its size before is restored after. Both happen
    on a blank page (resizing under a page would lay out and redraw all its figures for
    nothing)."""
    before = browser.get_window_size()
    if before["width"] != width:
        show_blank(browser)
        browser.set_window_size(width, HEIGHT)
    try:
        yield
    finally:
        if before["width"] != width:
            show_blank(browser)
            browser.set_window_size(before["width"], before["height"])


def open_page(browser, url: str, ready: str) -> None:
    goto(browser, url)
    wait_on(browser, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, ready)))


def check_page(browser) -> None:
    """The page as it is now: axe finds nothing critical or serious, exactly one <h1>, every
    image has a non-empty alt text."""
    browser.set_script_timeout(60)
    assert violations(browser) == []
    assert len(browser.find_elements(By.TAG_NAME, "h1")) == 1
    unnamed = browser.execute_script(
        "return [...document.querySelectorAll('img')]"
        ".filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.id || i.className)"
    )
    assert unnamed == []


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("path", list(PAGES))
def test_page_has_no_serious_accessibility_violation(live_server, browser, path, width):
    with window_width(browser, width):
        open_page(browser, live_server + path, PAGES[path])
        check_page(browser)
        if width == PHONE:  # and on a phone the page never scrolls sideways
            widths = browser.execute_script(
                "const d = document.documentElement; return [d.scrollWidth, d.clientWidth];"
            )
            assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in {widths[1]} px"


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_compare_after_a_comparison_and_a_picked_cell_is_accessible(live_server, browser, width):
    with window_width(browser, width):
        open_page(
            browser,
            live_server + "/compare?a=4&b=9&n=3&kind=clear&layer=Conv2D_3&threshold=0.1",
            ".compare-grid-a .scatterlayer .point",
        )
        check_page(browser)


@pytest.mark.parametrize("width", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_oip_after_a_run_is_accessible_and_its_images_say_what_they_are(
    live_server, browser, width
):
    with window_width(browser, width):
        open_page(
            browser,
            live_server + "/oip?kind=map&layer=Conv2D_3&unit=5&n_seeds=1&steps=60&watch=0",
            f"#{ids.OIP_START}",
        )
        browser.execute_script("arguments[0].click()", browser.find_element(By.ID, ids.OIP_START))
        wait_on(browser, 90).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, f"#{ids.OIP_RESULT} img.oip-result"))
        )
        check_page(browser)
        alts = [
            img.get_attribute("alt")
            for img in browser.find_elements(By.CSS_SELECTOR, f"#{ids.OIP_RESULT} img.oip-result")
        ]
        assert alts and all("OIP of Conv2D_3 map 5" in alt for alt in alts)


def test_dense_2_cells_are_labelled_with_the_class_names(live_server, browser, services):
    open_page(
        browser,
        live_server + "/activations?split=test&index=0&layer=Dense_2",
        f"#{ids.ACT_GRID} .heatmaplayer",
    )
    wait_on(browser, 60).until(
        lambda d: (
            d.execute_script(
                f"return [...document.querySelectorAll('#{ids.ACT_GRID} .xtick text')]"
                ".map(t => t.textContent)"
            )
            == list(services.desc.class_names)
        )
    )


def test_on_a_phone_start_brings_the_oip_status_and_first_frames_into_view(live_server, browser):
    seed = int(time.time()) % 100_000  # a new run, not one the result cache answers at once
    with window_width(browser, PHONE):
        goto(browser, f"{live_server}/oip?kind=map&layer=Conv2D_2&unit=3&steps=400&seed={seed}")
        start = wait_on(browser, 30).until(ec.element_to_be_clickable((By.ID, ids.OIP_START)))
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", start)
        browser.execute_script("arguments[0].click()", start)  # a tap on Start
        wait_on(browser, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.OIP_FRAMES} img")
        )
        wait_on(browser, 5).until(lambda d: in_view(d, ids.OIP_STATUS))
        wait_on(browser, 5).until(lambda d: in_view(d, ids.OIP_FRAMES))
        browser.execute_script("arguments[0].click()", browser.find_element(By.ID, ids.OIP_CANCEL))


def in_view(browser, element_id: str) -> bool:
    """Whether the element is at least partly inside the window, as it is scrolled now."""
    return browser.execute_script(
        "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
        " return r.bottom > 0 && r.top < window.innerHeight;",
        element_id,
    )
