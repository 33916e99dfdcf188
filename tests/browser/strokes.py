"""Synthetic strokes on the digit picker's canvas through WebDriver pointer actions (mouse,
touch or pen), shared by the browser tests and `bench/draw.py`."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By

#: The explorer's canvas (the issue names it).
CANVAS = "draw-canvas"
#: Points are fractions of the canvas: (0, 0) top left, (1, 1) bottom right.
Point = tuple[float, float]


def vertical_line(x: float = 0.5, top: float = 0.15, bottom: float = 0.85, n: int = 12) -> list:
    """A "1": one stroke down the canvas."""
    return [(x, top + (bottom - top) * k / (n - 1)) for k in range(n)]


def loop(cx: float = 0.5, cy: float = 0.5, rx: float = 0.22, ry: float = 0.33, n: int = 24):
    """A "0": a closed ellipse, ending where it started."""
    return [
        (cx + rx * math.sin(2 * math.pi * k / n), cy - ry * math.cos(2 * math.pi * k / n))
        for k in range(n + 1)
    ]


def scribble(seconds: float, step_ms: int = 20) -> list:
    """A zig-zag lasting about `seconds` when drawn with `step_ms` per move."""
    n = max(2, round(seconds * 1000 / step_ms))
    return [(0.2 + 0.6 * ((k * 7) % 23) / 22, 0.15 + 0.7 * k / (n - 1)) for k in range(n)]


def draw_stroke(
    driver,
    points: Sequence[Point],
    canvas_id: str = CANVAS,
    kind: str = "mouse",
    step_ms: int = 16,
) -> None:
    """Press at the first point, move through the others (`step_ms` each), release.

    Args:
        kind: "mouse", "touch" or "pen": the pointer type the page's script sees.
    """
    canvas = driver.find_element(By.ID, canvas_id)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    _wait_in_place(driver, canvas)
    width, height = canvas.size["width"], canvas.size["height"]

    def offset(p: Point) -> tuple[int, int]:  # from the canvas's centre, as WebDriver counts
        return round((p[0] - 0.5) * (width - 2)), round((p[1] - 0.5) * (height - 2))

    builder = ActionBuilder(driver, mouse=PointerInput(kind, kind), duration=step_ms)
    pointer = builder.pointer_action
    pointer.move_to(canvas, *offset(points[0]))
    pointer.pointer_down()
    for p in points[1:]:
        pointer.move_to(canvas, *offset(p))
    pointer.pointer_up()
    builder.perform()


#: The element's box in the window, rounded: `[x, y, width, height]`.
RECT_JS = (
    "const r = arguments[0].getBoundingClientRect();"
    " return [r.x, r.y, r.width, r.height].map(Math.round);"
)


def _wait_in_place(driver, element, timeout: float = 5.0) -> None:
    """Wait (at most `timeout` s) until `element` has stayed where it is in the window for 0.1 s.
    A figure drawn above the canvas while it was scrolled into view moves it down, and a press
    aimed at where it was lands on the text below instead (seen: the stroke went unseen)."""
    last, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        rect = driver.execute_script(RECT_JS, element)
        if rect == last:
            return
        last = rect
        time.sleep(0.1)


def click_tool(driver, name: str, canvas_id: str = CANVAS) -> None:
    """Click the pad's "undo" or "clear" button (next to the canvas `canvas_id`)."""
    button = driver.execute_script(
        "return document.getElementById(arguments[0]).closest('.draw-pad')"
        ".querySelector('.draw-' + arguments[1]);",
        canvas_id,
        name,
    )
    driver.execute_script("arguments[0].click()", button)


def canvas_pixels(driver, canvas_id: str = CANVAS) -> str:
    """The canvas's content as a PNG data URL (to compare drawings)."""
    return driver.execute_script(
        "return document.getElementById(arguments[0]).toDataURL('image/png');", canvas_id
    )


def sends(driver) -> int:
    """How many pictures the page's script has sent to the server so far."""
    return int(driver.execute_script("return window.cnnLensDraw ? window.cnnLensDraw.sends : 0;"))
