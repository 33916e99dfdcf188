"""Headless Chromium for browser tests and screenshots (Debian's chromium + chromedriver)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)


def find_browser() -> tuple[str | None, str | None]:
    """Paths of chromium and chromedriver, or None where missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return chromium, driver


def make_driver(width: int = 1400, height: int = 1000) -> webdriver.Chrome:
    """A headless Chromium that keeps its console log (read it with `console_errors`)."""
    chromium, chromedriver = find_browser()
    if not chromium or not chromedriver:
        raise RuntimeError(
            "chromium and chromedriver are needed: apt-get install chromium chromium-driver"
        )
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download anything
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(60)
    return driver


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """SEVERE console messages since the last call (the log is drained by reading it)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


#: How often a wait looks at the page again. Selenium's default is 0.5 s, which added a
#: quarter of a second on average to each of the suite's waits.
POLL_S = 0.1


def wait_on(driver: webdriver.Chrome, timeout: float = 60, poll: float = POLL_S) -> WebDriverWait:
    """A `WebDriverWait` that looks every `poll` seconds and retries through an element that was
    not there yet or was re-rendered meanwhile (Dash replaces elements as callbacks answer)."""
    return WebDriverWait(
        driver,
        timeout,
        poll_frequency=poll,
        ignored_exceptions=(StaleElementReferenceException, NoSuchElementException),
    )


#: What the Dash renderer puts in the page while a callback is pending.
PENDING_SELECTOR = "._dash-loading-callback"
#: Whether any Dash callback is pending.
PENDING_JS = f"return !!document.querySelector('{PENDING_SELECTOR}')"


def wait_settled(
    driver: webdriver.Chrome,
    quiet_s: float = 0.5,
    timeout: float = 60,
    watch: Callable[[webdriver.Chrome], object] | None = None,
) -> None:
    """Wait until no Dash callback has been pending for `quiet_s` seconds (the page's callbacks
    and figures ran) and, with `watch`, its value (the address, say) has not changed for as
    long: a stroke's first picture can be answered before its last one."""
    state: dict[str, object] = {"since": None, "value": None}

    def quiet(d) -> bool:
        now = time.monotonic()
        busy = d.execute_script(PENDING_JS)
        value = watch(d) if watch else None
        if busy or value != state["value"] or state["since"] is None:
            state.update(value=value, since=None if busy else now)
            return False
        return now - state["since"] >= quiet_s

    wait_on(driver, timeout).until(quiet)


#: What a click on an in-app link (`dcc.Link`, `dbc.NavLink`) does: push the address, tell the
#: app's router, scroll to the top.
NAVIGATE_JS = """
window.history.pushState({}, '', arguments[0]);
window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));
window.scrollTo(0, 0);
"""
#: A path no page has: the router shows Dash's one-line not-found page there.
BLANK_PATH = "/__blank__"
#: Whether the router shows the not-found page and no callback is pending.
BLANK_SHOWN_JS = (
    "const h = document.querySelector('#_pages_content h1');"
    " return !!h && h.textContent.startsWith('404')"
    f" && !document.querySelector('{PENDING_SELECTOR}');"
)


def on_app(driver: webdriver.Chrome, url: str) -> bool:
    """Whether the browser shows a page of the app at `url`'s server (Dash's page router)."""
    here, there = urlsplit(driver.current_url), urlsplit(url)
    return (here.scheme, here.netloc) == (there.scheme, there.netloc) and driver.execute_script(
        "return !!document.getElementById('_pages_content')"
    )


def show_blank(driver: webdriver.Chrome, timeout: float = 60) -> None:
    """Leave the page for an empty one once its callbacks are done: the app's not-found page
    if the browser is on the app (no reload), else about:blank."""
    if on_app(driver, driver.current_url):
        driver.execute_script(NAVIGATE_JS, BLANK_PATH)
        wait_on(driver, timeout).until(lambda d: d.execute_script(BLANK_SHOWN_JS))
    else:
        driver.get("about:blank")


def goto(driver: webdriver.Chrome, url: str, timeout: float = 60) -> None:
    """Open `url` in the app as a click on one of its links would, when the browser already
    shows a page of the same server: the router renders the page's layout from the address,
    as a fresh load does, and its callbacks run, but the app's scripts are not loaded, parsed
    and started again (a third of the browser's work per page change; most of the suite's
    page changes are these). On its way it passes through the not-found page and waits there
    for the last page's callbacks, so that nothing of the last page can be taken for the new
    one. Otherwise (another server, a blank tab) it loads the page.

    Use `driver.get` where a fresh load is the point: a bookmark or shared link reopened, the
    first visit's defaults, the response's headers, what the document loads.
    """
    if not on_app(driver, url):
        driver.get(url)
        return
    show_blank(driver, timeout)
    there = urlsplit(url)
    address = there.path + (f"?{there.query}" if there.query else "")
    driver.execute_script(NAVIGATE_JS, address + (f"#{there.fragment}" if there.fragment else ""))
