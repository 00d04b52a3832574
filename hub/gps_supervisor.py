"""One long-lived task per vehicle: read its GPS receiver, feed the tracker, report updates.

The driver (`drivers.gps.GpsReader`) reconnects by itself and reports the receiver
vanishing and returning as `DeviceEvent`s; this task adds the stale watchdog (silence
is not an event) and an outermost loop that restarts the reader after a bug, so that
nothing but cancellation ends a vehicle's task.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from drivers.gps_model import DeviceEvent, DeviceState, Report
from hub.supervisor import Backoff
from hub.vehicles import VehicleTracker, VehicleUpdate

log = logging.getLogger(__name__)


class ReportSource(Protocol):
    """What the supervisor needs of a GPS reader."""

    def reports(self) -> AsyncIterator[Report]: ...


ReaderFactory = Callable[[str], ReportSource]


@dataclass(frozen=True)
class GpsTiming:
    """Watchdog and restart timing; tests shrink these."""

    # How often silence is checked: a quarter of the 3 s stale threshold keeps the
    # verdict within 0.5 s of the moment it becomes true.
    stale_check_interval_s: float = 0.5
    # The driver's own reconnect interval while the receiver is missing.
    reconnect_interval_s: float = 1.0
    # Restart delays after the reader itself failed (a bug) or its source ended.
    restart_backoff_s: tuple[float, ...] = (1.0, 5.0, 10.0, 60.0)
    jitter: float = 0.2


def gps_reader_factory(timing: GpsTiming) -> ReaderFactory:
    """Readers of the real GPS driver (imported on first use)."""

    def make(source: str) -> ReportSource:
        from drivers.gps import GpsReader

        # A vehicle's receiver that is missing at start is unplugged, not a log file.
        return GpsReader(source, reconnect=True, retry_interval_s=timing.reconnect_interval_s,
                         expect_device=True)

    return make


class GpsSupervisor:
    """Keeps one vehicle's receiver read and its tracker fed until cancelled."""

    def __init__(
        self,
        tracker: VehicleTracker,
        report: Callable[[VehicleUpdate], Awaitable[None]],
        timing: GpsTiming | None = None,
        reader_factory: ReaderFactory | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.tracker = tracker
        self._report = report
        self._timing = timing or GpsTiming()
        self._factory = reader_factory or gps_reader_factory(self._timing)
        self._clock = clock or _now
        self._backoff = Backoff(
            self._timing.restart_backoff_s, self._timing.jitter, random.Random(tracker.config.id)
        )
        self.restarts = 0

    @property
    def name(self) -> str:
        return self.tracker.config.name

    async def run(self) -> None:
        """Read forever; only cancellation ends it."""
        watchdog = asyncio.create_task(self._watchdog(), name=f"gps-watchdog:{self.name}")
        try:
            while True:
                ended = False
                try:
                    reports = self._factory(self.tracker.config.source).reports()
                    try:
                        async for item in reports:
                            ended = (isinstance(item, DeviceEvent)
                                     and item.state is DeviceState.ENDED)
                            await self._feed(item)
                            self._backoff.reset()
                    finally:
                        await _aclose(reports)
                    if not ended:
                        await self._feed(DeviceEvent(DeviceState.NO_DEVICE, "reader stopped"))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # outermost loop: a bug must not kill the vehicle
                    log.exception("%s: GPS reader failed", self.name)
                    await self._feed_quietly(
                        DeviceEvent(DeviceState.NO_DEVICE, f"internal error: {type(exc).__name__}")
                    )
                if ended:
                    # A log file or stdin came to its end: replaying it would rewind the
                    # track. The vehicle stays NO_DEVICE until the hub restarts.
                    log.info("%s: GPS source ended", self.name)
                    await asyncio.Event().wait()
                self.restarts += 1
                delay = self._backoff.next_delay()
                log.info("%s: GPS reader restarts in %.1f s", self.name, delay)
                await asyncio.sleep(delay)
        finally:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)

    async def _feed(self, item: Report) -> None:
        update = self.tracker.on_report(item, self._clock())
        if update is not None:
            await self._report(update)

    async def _feed_quietly(self, item: Report) -> None:
        try:
            await self._feed(item)
        except Exception:
            log.exception("%s: reporting a GPS update failed", self.name)

    async def _watchdog(self) -> None:
        """Silence is not an event: look for it periodically."""
        while True:
            await asyncio.sleep(self._timing.stale_check_interval_s)
            try:
                update = self.tracker.check_stale(self._clock())
                if update is not None:
                    await self._report(update)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: stale check failed", self.name)


async def _aclose(reports: AsyncIterator[Report]) -> None:
    """Close the reader's generator now (its port/socket), not whenever GC runs."""
    aclose = getattr(reports, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            log.debug("closing a GPS reader failed", exc_info=True)


def _now() -> datetime:
    return datetime.now(UTC)
