"""OIPs over every checkpoint of a timeline, computed in the background and kept (no Dash).

A run is named by what it computes (layer, units, steps, random seed), not by a handle: the
results are deterministic, so whichever web process a poll reaches answers it — from its cache,
from its own run in progress, or by starting that run. Several gunicorn workers then each
compute a run once at most, and no poll is ever lost. One run at a time per process (a run
keeps both cores busy); a bounded number of results is kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from cnn_core.explain.timeline import Timeline, settling
from cnn_core.oip import OipProgress

log = logging.getLogger(__name__)

#: Units a timeline run may take (x checkpoints: 16 x 21 = 336 images in one batch).
MAX_UNITS = 16
MAX_STEPS = 1000
KEEP = 16


@dataclass(frozen=True)
class RunKey:
    """What a run computes."""

    layer: str
    units: tuple[int, ...]
    steps: int
    seed: int

    def text(self) -> str:
        return f"{self.layer} units {', '.join(map(str, self.units))}, {self.steps} steps"


@dataclass
class RunState:
    """A run's progress and, when done, its results.

    Attributes:
        status: "queued", "running", "done" or "error".
        done, total: ascent steps done and asked for.
        images: `(epochs, units, H, W[, C])` float32 OIPs in model input space, when done.
        values: `(epochs, units)` float32 each OIP's objective at its own epoch.
        settled: `(units, epochs)` float32 correlation of each unit's OIP with its final one.
        seconds: how long the run took (engine build included).
    """

    key: RunKey
    status: str = "queued"
    done: int = 0
    total: int = 0
    error: str | None = None
    images: np.ndarray | None = None
    values: np.ndarray | None = None
    settled: np.ndarray | None = None
    seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)


class TimelineRuns:
    """The background runs of one process, for one timeline.

    Args:
        timeline: the model's checkpoints.
    """

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self._runs: OrderedDict[RunKey, RunState] = OrderedDict()
        self._lock = threading.Lock()
        self._worker_lock = threading.Lock()  # one run at a time

    def request(self, key: RunKey) -> RunState:
        """The run of `key`: cached, in progress, or started now."""
        with self._lock:
            state = self._runs.get(key)
            if state is not None and state.status != "error":
                self._runs.move_to_end(key)
                return state
            state = RunState(key, total=key.steps)
            self._runs[key] = state
            while len(self._runs) > KEEP:
                self._runs.popitem(last=False)
        thread = threading.Thread(target=self._run, args=(state,), name="timeline-oips")
        thread.daemon = True
        thread.start()
        return state

    def _run(self, state: RunState) -> None:
        with self._worker_lock:
            started = time.perf_counter()
            state.status = "running"
            key = state.key

            def progress(frame: OipProgress) -> None:
                state.done = frame.step

            try:
                result = self.timeline.oips(
                    key.layer, list(key.units), steps=key.steps, seed=key.seed, callback=progress
                )
                epochs = len(self.timeline.models)
                images = result.images.reshape(epochs, len(key.units), *result.images.shape[1:])
                state.images = images
                state.values = result.activations.reshape(epochs, len(key.units))
                state.settled = settling(result.images, epochs)
                state.done = key.steps
                state.status = "done"
            except Exception as exc:  # reported on the page; the process keeps serving
                log.exception("timeline run %s failed", key.text())
                state.error = f"{type(exc).__name__}: {exc}"
                state.status = "error"
            state.seconds = time.perf_counter() - started
            log.info("timeline run %s: %s in %.1f s", key.text(), state.status, state.seconds)


_runs: dict[int, TimelineRuns] = {}
_runs_lock = threading.Lock()


def runs_for(timeline: Timeline) -> TimelineRuns:
    """The process's `TimelineRuns` of `timeline` (one per timeline)."""
    with _runs_lock:
        runs = _runs.get(id(timeline))
        if runs is None or runs.timeline is not timeline:
            runs = _runs[id(timeline)] = TimelineRuns(timeline)
        return runs
