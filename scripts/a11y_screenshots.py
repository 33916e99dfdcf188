"""Screenshots of every page at desktop (1400 px) and phone (390 px) width into docs/a11y/.

Run: `.venv/bin/python scripts/a11y_screenshots.py` (starts its own server and headless Chromium).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import start_server  # noqa: E402
from tests.browser.driver import make_driver  # noqa: E402
from tests.browser.test_accessibility import PAGES  # noqa: E402
from tests.processes import stop  # noqa: E402

OUT = ROOT / "docs" / "a11y"
#: name in the file, address, and a selector that is there once the page has drawn
SHOTS = {
    "model": ("/", PAGES["/"]),
    "activations": ("/activations", PAGES["/activations"]),
    "compare": ("/compare", PAGES["/compare"]),
    "attribution": ("/attribution", PAGES["/attribution"]),
    "timeline": ("/timeline", PAGES["/timeline"]),
    "oip": ("/oip", PAGES["/oip"]),
}
SIZES = {"desktop": (1400, 1400), "phone": (390, 1600)}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    proc, url = start_server()
    driver = make_driver()
    try:
        for size, (width, height) in SIZES.items():
            driver.set_window_size(width, height)
            for name, (path, ready) in SHOTS.items():
                driver.get(url + path)
                WebDriverWait(driver, 90).until(
                    ec.presence_of_element_located((By.CSS_SELECTOR, ready))
                )
                time.sleep(2)  # the other figures of the page settle
                target = OUT / f"{name}-{size}.png"
                driver.save_screenshot(str(target))
                print(target.relative_to(ROOT))
    finally:
        driver.quit()
        stop(proc)


if __name__ == "__main__":
    main()
