"""Headless-Chromium screenshot of a page: `python scripts/screenshot.py URL OUT.png`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser.driver import console_errors, make_driver


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1100)
    parser.add_argument("--wait", type=float, default=4.0, help="seconds to let callbacks finish")
    args = parser.parse_args()
    driver = make_driver(args.width, args.height)
    try:
        driver.get(args.url)
        time.sleep(args.wait)
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(args.width, max(args.height, min(int(height) + 50, 4000)))
        time.sleep(0.5)
        driver.save_screenshot(str(args.out))
        for message in console_errors(driver):
            print("console error:", message)
    finally:
        driver.quit()
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
