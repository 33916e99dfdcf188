"""The colormap: viridis by default, jet one click away, the choice kept across pages (local
storage), and an address that names a colormap still shows it (issue 14)."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from app import ids
from tests.browser.driver import goto, wait_on, wait_settled

pytestmark = pytest.mark.browser


def clear_stored_choice(browser, url: str) -> None:
    """Open `url` and empty the origin's local storage once the page has settled: a callback
    still pending from the page's start (it stores the choice it shows) would write it back."""
    browser.get(url)
    wait_settled(browser)
    browser.execute_script("window.localStorage.clear()")


def wait_for_url(browser, part: str) -> None:
    wait_on(browser, 60).until(lambda d: part in d.current_url, f"{part} not in the URL")


def wait_for_radio(browser, group_id: str, value: str) -> None:
    """Wait until the radio group's checked option is `value`."""
    script = (
        "const c = document.querySelector('#' + arguments[0] + ' input:checked');"
        "return c ? c.value : null;"
    )
    wait_on(browser, 60).until(
        lambda d: d.execute_script(script, group_id) == value, f"{group_id} is not {value}"
    )


def test_colormap_is_viridis_by_default_and_the_choice_follows_to_every_page(live_server, browser):
    clear_stored_choice(browser, live_server + "/activations")
    browser.get(live_server + "/activations")
    wait_for_url(browser, "cmap=viridis")
    wait_for_radio(browser, ids.ACT_CMAP, "viridis")
    # jet is one click away
    browser.find_element(
        By.XPATH, f"//*[@id='{ids.ACT_CMAP}']//label[normalize-space()='jet']"
    ).click()
    wait_for_url(browser, "cmap=jet")
    # the choice is stored by its own callback (a round trip to the server)
    wait_on(browser, 60).until(
        lambda d: (
            d.execute_script("return localStorage.getItem(arguments[0])", ids.COLORMAP_CHOICE)
            == '"jet"'
        )
    )
    # every other page opened without a colormap in its address shows the choice
    # (a new visit reads it from local storage; the app's links keep it in the page)
    browser.get(live_server + "/attribution")
    wait_for_url(browser, "cmap=jet")
    for path in ("/compare", "/timeline"):
        goto(browser, live_server + path)
        wait_for_url(browser, "cmap=jet")
    # the OIP page writes its address on Start: its colormap buttons show the choice
    goto(browser, live_server + "/oip")
    wait_for_radio(browser, ids.OIP_CMAP, "jet")
    # compare's colormap is one click away too
    goto(browser, live_server + "/compare")
    wait_for_radio(browser, ids.COMPARE_CMAP, "jet")


def test_an_address_naming_a_colormap_wins_over_the_stored_choice(live_server, browser):
    clear_stored_choice(browser, live_server + "/attribution")
    browser.get(live_server + "/attribution?cmap=magma")
    wait_for_radio(browser, ids.ATTR_CMAP, "magma")
    wait_for_url(browser, "cmap=magma")
    goto(browser, live_server + "/activations?split=test&index=312&layer=Conv2D_3&cmap=jet")
    wait_for_radio(browser, ids.ACT_CMAP, "jet")
    wait_for_url(browser, "cmap=jet")
    # opening links that name a colormap chose nothing: a page without one shows the default
    goto(browser, live_server + "/timeline")
    wait_for_url(browser, "cmap=")
    assert "cmap=viridis" in browser.current_url
