"""The virtual clock shared by every simulated device."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

MAX_SPEED = 60.0  # scenarios run at most 60x real time (DESIGN.md "Scenarios")


class VirtualClock:
    """Maps real monotonic time onto scenario time, running `speed` times faster."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        if not 0 < speed <= MAX_SPEED:
            raise ValueError(f"speed must be in (0, {MAX_SPEED:g}], got {speed:g}")
        self.start = (start or datetime.now(UTC)).astimezone(UTC)
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        """Current scenario time (timezone-aware UTC)."""
        return self.start + timedelta(seconds=self.elapsed())

    def elapsed(self) -> float:
        """Scenario seconds since the start."""
        return (time.monotonic() - self._t0) * self.speed

    def real_at(self, scenario_seconds: float) -> float:
        """The time.monotonic() value at which the clock reads `scenario_seconds`."""
        return self._t0 + scenario_seconds / self.speed

    def real_seconds(self, scenario_seconds: float) -> float:
        """Real seconds that `scenario_seconds` of scenario time take."""
        return scenario_seconds / self.speed
