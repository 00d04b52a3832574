"""What a hub under a scenario showed, and when: the evidence expectations are judged on.

`HubObserver` watches a hub only through its client interface (hub/client.py), as an
operator's screen would: a snapshot of cameras, vehicles and alerts, then every change
the feeds give that the judge can tell apart (camera_change, vehicle_change), each
stamped with time.monotonic() as it arrived. The judge (hub/scenario_verdict.py) reads
these lists after the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from hub.alpr_model import Alert
from hub.client import HubClient
from hub.errors import HubError
from hub.model import CameraStatus, VehicleStatus

log = logging.getLogger(__name__)

T = TypeVar("T")

# Alerts taken in the snapshot: a scenario's run raises far fewer.
SNAPSHOT_ALERTS = 1000

# The snapshot's alert query may go over the network (a remote client).
SNAPSHOT_TIMEOUT_S = 10.0


# What the judge tells statuses apart by (hub/scenario_verdict.py: a camera's shown state,
# reason and site; a vehicle's fix state). A status equal to the last one recorded in
# these is not recorded: the hub publishes a camera on every stream sample and a vehicle
# on every GPS fix, and keeping all of those grew the observer by ~2,500 statuses a real
# minute at 10x (the soak's linear RSS growth, issue 10). Bounded this way, a history
# holds one entry per change the judge can see, however long the run.
def camera_change(status: CameraStatus) -> tuple[object, ...]:
    return (status.shown_state, status.reason, status.config.site)


def vehicle_change(status: VehicleStatus) -> object:
    return status.state


def _record(history: list[Seen[T]], seen: Seen[T], change: Callable[[T], object]) -> None:
    """Append `seen` unless it shows what the last entry showed."""
    if not history or change(history[-1].item) != change(seen.item):
        history.append(seen)


@dataclass(frozen=True)
class Seen(Generic[T]):
    """An item and the monotonic time it was seen."""

    real: float
    item: T


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HubObserver:
    """Records every camera, vehicle (as the judge tells them apart) and alert state the
    hub shows from `start()` on."""

    def __init__(
        self,
        client: HubClient,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _utc_now,
        rate: float = 1.0,
    ) -> None:
        """`wall`: the clock the hub stamps reads and alerts with, running `rate` times
        as fast as real time (a simulated city's virtual clock at its speed)."""
        self.client = client
        self._monotonic = monotonic
        self._wall = wall
        self._rate = rate
        self.cameras: dict[str, list[Seen[CameraStatus]]] = {}
        self.vehicles: dict[str, list[Seen[VehicleStatus]]] = {}
        self.alerts: list[Seen[Alert]] = []
        # When the snapshot was taken: items stamped with it were there before.
        self.started: float = monotonic()
        self._real0 = self.started
        self._wall0 = wall()
        self._tasks: list[asyncio.Task[None]] = []
        self._iterators: list[AsyncIterator[object]] = []

    async def start(self) -> None:
        """Subscribe, take the snapshot, then record every change in background tasks."""
        # Subscribing first: a change during the snapshot then shows up in the feed (maybe
        # twice, harmless) instead of falling between the snapshot and the subscription.
        camera_changes = self.client.changes()
        vehicle_changes = self.client.vehicle_changes()
        alert_changes = self.client.alert_changes()
        self._iterators = [camera_changes, vehicle_changes, alert_changes]
        self._real0, self._wall0 = self._monotonic(), self._wall()
        now = self.started = self._real0
        for camera in self.client.cameras():
            _record(self.cameras.setdefault(camera.id, []), Seen(now, camera), camera_change)
        for vehicle in self.client.vehicles():
            _record(self.vehicles.setdefault(vehicle.id, []), Seen(now, vehicle),
                    vehicle_change)
        try:
            async with asyncio.timeout(SNAPSHOT_TIMEOUT_S):
                alerts = await self.client.alerts(limit=SNAPSHOT_ALERTS, open_only=False)
        except TimeoutError:
            log.warning("alert snapshot timed out; judging on alert changes only")
            alerts = []
        # Oldest first, as the feed would have given them.
        for alert in sorted(alerts, key=lambda a: a.id):
            self.alerts.append(Seen(now, alert))
        self._tasks = [
            asyncio.create_task(self._record_cameras(camera_changes), name="observe-cameras"),
            asyncio.create_task(
                self._record_vehicles(vehicle_changes), name="observe-vehicles"
            ),
            asyncio.create_task(self._record_alerts(alert_changes), name="observe-alerts"),
        ]

    async def stop(self) -> None:
        """Stop recording (what was recorded stays)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        for iterator in self._iterators:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:  # leave the feed's subscriber set
                await aclose()
        self._iterators = []

    def wall_time(self, real: float) -> datetime:
        """The UTC wall-clock time at monotonic time `real` (offset taken at start)."""
        return self._wall0 + timedelta(seconds=(real - self._real0) * self._rate)

    def monotonic_of(self, wall: datetime) -> float:
        """The monotonic time at which the wall clock read `wall` (inverse of wall_time)."""
        return self._real0 + (wall - self._wall0).total_seconds() / self._rate

    # Consumers only append, so each change is stamped as soon as the loop hands it over.

    async def _record_cameras(self, changes: AsyncIterator[CameraStatus]) -> None:
        async for status in _guarded(changes, "camera"):
            _record(self.cameras.setdefault(status.id, []), Seen(self._monotonic(), status),
                    camera_change)

    async def _record_vehicles(self, changes: AsyncIterator[VehicleStatus]) -> None:
        async for status in _guarded(changes, "vehicle"):
            _record(self.vehicles.setdefault(status.id, []), Seen(self._monotonic(), status),
                    vehicle_change)

    async def _record_alerts(self, changes: AsyncIterator[Alert]) -> None:
        async for alert in _guarded(changes, "alert"):
            self.alerts.append(Seen(self._monotonic(), alert))


async def _guarded(changes: AsyncIterator[T], what: str) -> AsyncIterator[T]:
    """The feed's items until it ends or breaks (a remote client losing its connection):
    the run goes on and is judged on what was seen."""
    try:
        async for item in changes:
            yield item
    except (HubError, OSError) as exc:
        log.warning("%s changes stopped: %s", what, exc)
