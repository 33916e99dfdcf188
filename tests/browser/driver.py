"""Headless Chromium for browser tests and screenshots (Debian's chromium + chromedriver)."""

from __future__ import annotations

import os
import shutil

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

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
