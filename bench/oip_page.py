"""The live OIP page measured through the real server, in a real headless Chromium.

- first frame: from the click on Start to the first OIP frame drawn on the page;
- frame rate: distinct frames drawn per second while a watched run goes on;
- gallery: all 128 maps of Conv2D_3 x 200 steps, from the click on "Run gallery" to "done"
  on the page with the finished gallery drawn, against the engine's own time for the same
  work, measured in the same run
  (`ratio` = page / engine; the page's goal is <= 1.5).

Needs chromium + chromedriver (as the browser tests do). Each run uses fresh seeds, so no
result comes from the cache.
"""

from __future__ import annotations

import time

from _common import emit, percentile

from cnn_core.model.trained import load_trained
from cnn_core.oip import AscentOptions, MapMean, OipEngine, engine_for
from tests.browser.conftest import start_server
from tests.browser.driver import make_driver
from tests.processes import stop

FRAMES_JS = "return [...document.querySelectorAll('#oip-frames img')].map(i => i.src)"
STATUS_JS = "return document.getElementById('oip-status').textContent"
CLICK_JS = "document.getElementById(arguments[0]).click()"
GALLERY_JS = "return !!document.querySelector('#oip-gallery-graph .heatmaplayer')"


def wait_until(driver, predicate, timeout: float, poll: float = 0.01) -> float:
    """Seconds until `predicate(driver)` holds (polling), or raise after `timeout`."""
    start = time.perf_counter()
    while not predicate(driver):
        if time.perf_counter() - start > timeout:
            raise TimeoutError("the page did not get there in time")
        time.sleep(poll)
    return time.perf_counter() - start


def first_frame_and_rate(driver, url: str, seed: int, watch_s: float) -> tuple[float, float]:
    driver.get(f"{url}/oip?kind=map&layer=Conv2D_3&unit=7&n_seeds=2&steps=2000&seed={seed}")
    wait_until(driver, lambda d: d.execute_script("return !!document.getElementById('oip-start')"),
               30)  # fmt: skip
    time.sleep(0.5)  # the page's own start-up callbacks
    driver.execute_script(CLICK_JS, "oip-start")
    first = wait_until(driver, lambda d: bool(d.execute_script(FRAMES_JS)), 10)
    frames = {tuple(driver.execute_script(FRAMES_JS))}
    start = time.perf_counter()
    while time.perf_counter() - start < watch_s:
        frames.add(tuple(driver.execute_script(FRAMES_JS)))
        time.sleep(0.02)
    rate = (len(frames) - 1) / (time.perf_counter() - start)
    driver.execute_script(CLICK_JS, "oip-cancel")
    wait_until(driver, lambda d: "Cancelled" in d.execute_script(STATUS_JS), 10)
    return first, rate


def gallery_seconds(driver, url: str, seed: int) -> tuple[float, float]:
    """Seconds from the click to "done" on the page, and the job's own seconds (server side)."""
    driver.get(f"{url}/oip?gallery_layer=Conv2D_3&gallery_steps=200&seed={seed}")
    wait_until(driver, lambda d: d.execute_script("return !!document.getElementById('oip-start')"),
               30)  # fmt: skip
    time.sleep(0.5)
    driver.execute_script(CLICK_JS, "oip-gallery-start")
    seconds = wait_until(
        driver,
        lambda d: "done in" in d.execute_script(STATUS_JS) and d.execute_script(GALLERY_JS),
        300,
        0.05,
    )
    status = driver.execute_script(STATUS_JS)  # "...: done in 4.9 s."
    job_s = float(status.split("done in ")[1].split(" s")[0])
    return seconds, job_s


def engine_seconds(engine: OipEngine, seed: int) -> float:
    # the page's gallery of the seed model's Conv2D_3 (this bench serves the seed model)
    objectives = [MapMean("Conv2D_3", unit) for unit in range(128)]
    start = time.perf_counter()
    engine.run(objectives, [seed], AscentOptions(steps=200))
    return time.perf_counter() - start


def main() -> None:
    trained = load_trained()
    engine = engine_for(trained)
    proc, url = start_server()
    driver = make_driver()
    try:
        first_frame_and_rate(driver, url, seed=999, watch_s=1.0)  # server warm-up, not timed
        firsts, rates = [], []
        for rep in range(5):
            first, rate = first_frame_and_rate(driver, url, seed=1000 + rep, watch_s=3.0)
            firsts.append(first * 1000)
            rates.append(rate)
        emit("oip_page_first_frame", p50_ms=round(percentile(firsts, 50), 1),
             p95_ms=round(percentile(firsts, 95), 1), n=len(firsts), goal_ms=1000)  # fmt: skip
        emit("oip_page_frame_rate", frames_per_s=round(min(rates), 2),
             median_frames_per_s=round(percentile(rates, 50), 2), goal_frames_per_s=2)  # fmt: skip
        # interleaved, so that both see the same machine; the idle server uses no CPU
        page, in_server, alone = [], [], []
        for rep in range(3):
            page_s, job_s = gallery_seconds(driver, url, seed=2000 + rep)
            page.append(page_s)
            in_server.append(job_s)
            alone.append(engine_seconds(engine, seed=3000 + rep))
    finally:
        driver.quit()
        stop(proc)
    page_s, alone_s = min(page), min(alone)
    emit(
        "oip_page_gallery",
        page_s=round(page_s, 2),
        engine_s=round(alone_s, 2),
        ratio=round(page_s / alone_s, 2),
        page_runs_s=[round(x, 2) for x in page],
        job_in_server_runs_s=in_server,
        engine_runs_s=[round(x, 2) for x in alone],
        goal_ratio=1.5,
        work="Conv2D_3, 128 maps x 200 steps",
        desc="click on Run gallery to 'done' on the page, against engine.run for the same work",
    )


if __name__ == "__main__":
    main()
