"""Full garbage collections between keys rather than on them.

Python runs a full (generation 2) collection whenever enough objects survived the young
generations; with a city's statuses, rows and alerts that walk takes 150-400 ms and lands
on whichever key allocated last. `python -m bench.tui_scale` at 200x60, same machine,
one run after the other: key p95 110 ms with automatic full collections, 69 ms with this
(`--app-args=--gc-idle` ran the same policy before it moved here).

Reference counting still frees almost everything at once; only reference cycles wait for
the next collection here, and that comes after GC_IDLE_S without a key (at most every
GC_EVERY_S), or after GC_FORCE_S whatever the keys.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

# How often the app asks whether a collection is due: cheap, and fine enough for IDLE.
GC_CHECK_S = 0.5
# No key for this long: the operator is reading, a pause now goes unnoticed.
GC_IDLE_S = 2.0
# At most one idle collection this often: a full one costs up to ~0.4 s of CPU.
GC_EVERY_S = 60.0
# Whatever the keys, at least this often: bounds what cycles can hold on to.
GC_FORCE_S = 600.0
# The generation-2 threshold while this runs: never reached in a session.
NO_AUTOMATIC_FULL = 10**9


class IdleCollector:
    """Turns automatic full collections off on `start` and runs them from `check`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 collect: Callable[[], object] = gc.collect) -> None:
        self._clock = clock
        self._collect = collect
        self._thresholds: tuple[int, int, int] | None = None
        self.last_key = self.last_full = clock()
        self.collections = 0

    def start(self) -> None:
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            first, second, _ = self._thresholds
            gc.set_threshold(first, second, NO_AUTOMATIC_FULL)
        self.last_key = self.last_full = self._clock()

    def stop(self) -> None:
        """Automatic full collections as they were before `start`."""
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def key_pressed(self) -> None:
        self.last_key = self._clock()

    def check(self) -> bool:
        """Collect if due (idle long enough and not too soon, or overdue); True if it did."""
        if self._thresholds is None:
            return False
        now = self._clock()
        since = now - self.last_full
        idle = now - self.last_key >= GC_IDLE_S
        if (idle and since >= GC_EVERY_S) or since >= GC_FORCE_S:
            self._collect()
            self.last_full = self._clock()
            self.collections += 1
            return True
        return False
