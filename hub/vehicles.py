"""Fix state and track history of one patrol car, fed by its GPS receiver's reports.

The state machine is a table (`TRANSITIONS`) from (state, event) to the next state:

    NO_DEVICE --present--> NO_FIX --fix--> FIX --silence--> STALE
        ^                    ^  |           |  ^              |
        |                    |  +--silence--+--|---> STALE    |
        +------gone----------+------gone----+  +----fix-------+

- `gone` (receiver unplugged/unreachable, source ended) leads to NO_DEVICE from anywhere;
- a TPV with a position leads to FIX from anywhere, one without to NO_FIX;
- `silence` (no TPV for more than STALE_AFTER_S) turns NO_FIX and FIX into STALE;
  NO_DEVICE stays NO_DEVICE (nothing is expected from a missing receiver).

Times: a fix is stamped with the receiver's GPS time (reads are geotagged on the same
clock); staleness and "last fix age" use the hub's clock, when the report arrived.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from drivers.gps_model import TPV, DeviceEvent, DeviceState, Report
from hub.model import FixState, FixTransition, TrackPoint, VehicleConfig, VehicleStatus

log = logging.getLogger(__name__)

# No TPV for longer than this and the position is STALE. Receivers report at 1 Hz (some
# 5-10 Hz): three missed epochs is a real silence, one dropped sentence is not.
STALE_AFTER_S = 3.0

# Fixes kept in memory per vehicle for live display and geotagging: one hour at 1 Hz
# (6 minutes at 10 Hz). Older track is in the store, downsampled.
TRACK_RING_POINTS = 3600

# A fix stamped this much earlier than the newest one is a receiver clock reset or a
# replayed log: the ring starts over. Smaller steps back are out-of-order and dropped.
CLOCK_RESET_S = 60.0


class FixEvent(enum.StrEnum):
    """What can happen to a vehicle's fix state."""

    PRESENT = "present"  # the receiver (re)appeared
    GONE = "gone"  # unplugged, connection refused, source ended
    FIX = "fix"  # a TPV with a 2D/3D position
    NO_FIX = "no fix"  # a TPV without a position
    SILENCE = "silence"  # no TPV for more than the stale threshold


_S, _E = FixState, FixEvent

# Every (state, event) pair is listed: the machine has no implicit transitions.
TRANSITIONS: dict[tuple[FixState, FixEvent], FixState] = {
    (_S.NO_DEVICE, _E.PRESENT): _S.NO_FIX,
    (_S.NO_DEVICE, _E.GONE): _S.NO_DEVICE,
    (_S.NO_DEVICE, _E.FIX): _S.FIX,
    (_S.NO_DEVICE, _E.NO_FIX): _S.NO_FIX,
    (_S.NO_DEVICE, _E.SILENCE): _S.NO_DEVICE,
    (_S.NO_FIX, _E.PRESENT): _S.NO_FIX,
    (_S.NO_FIX, _E.GONE): _S.NO_DEVICE,
    (_S.NO_FIX, _E.FIX): _S.FIX,
    (_S.NO_FIX, _E.NO_FIX): _S.NO_FIX,
    (_S.NO_FIX, _E.SILENCE): _S.STALE,
    (_S.FIX, _E.PRESENT): _S.FIX,
    (_S.FIX, _E.GONE): _S.NO_DEVICE,
    (_S.FIX, _E.FIX): _S.FIX,
    (_S.FIX, _E.NO_FIX): _S.NO_FIX,
    (_S.FIX, _E.SILENCE): _S.STALE,
    (_S.STALE, _E.PRESENT): _S.STALE,
    (_S.STALE, _E.GONE): _S.NO_DEVICE,
    (_S.STALE, _E.FIX): _S.FIX,
    (_S.STALE, _E.NO_FIX): _S.NO_FIX,
    (_S.STALE, _E.SILENCE): _S.STALE,
}


def next_state(state: FixState, event: FixEvent) -> FixState:
    return TRANSITIONS[(state, event)]


@dataclass(frozen=True)
class VehicleUpdate:
    """The result of one report: the new status, its transition, a new fix if any."""

    status: VehicleStatus
    transition: FixTransition | None = None
    point: TrackPoint | None = None


def point_from(tpv: TPV, received: datetime) -> TrackPoint | None:
    """A track point from a TPV with a fix (GPS time, or arrival time if it has none)."""
    if not tpv.has_fix or tpv.lat is None or tpv.lon is None:
        return None
    return TrackPoint(
        at=tpv.time or received,
        lat=tpv.lat,
        lon=tpv.lon,
        speed=tpv.speed,
        track=tpv.track,
        mode=int(tpv.mode),
    )


class VehicleTracker:
    """Fix state machine and the in-memory track ring of one vehicle."""

    def __init__(
        self,
        config: VehicleConfig,
        *,
        stale_after_s: float = STALE_AFTER_S,
        ring_size: int = TRACK_RING_POINTS,
    ) -> None:
        self.stale_after_s = stale_after_s
        self.status = VehicleStatus(config=config, detail="receiver not opened yet")
        self._ring: deque[TrackPoint] = deque(maxlen=ring_size)
        # Hub time of the last TPV (or of the receiver appearing): the stale timer.
        self._heard_at: datetime | None = None

    @property
    def config(self) -> VehicleConfig:
        return self.status.config

    # inputs -----------------------------------------------------------------------------

    def on_report(self, report: Report, now: datetime) -> VehicleUpdate | None:
        """Feed one driver report; returns an update when something operators see changed."""
        if isinstance(report, DeviceEvent):
            return self.on_device(report, now)
        if isinstance(report, TPV):
            return self.on_tpv(report, now)
        return None  # SKY: satellites are not part of the vehicle status

    def on_device(self, event: DeviceEvent, now: datetime) -> VehicleUpdate | None:
        if event.state is DeviceState.PRESENT:
            self._heard_at = now
            return self._move(FixEvent.PRESENT, now, event.detail or "receiver present")
        self._heard_at = None
        detail = event.detail or ("source ended" if event.state is DeviceState.ENDED
                                  else "receiver gone")
        return self._move(FixEvent.GONE, now, detail)

    def on_tpv(self, tpv: TPV, now: datetime) -> VehicleUpdate | None:
        self._heard_at = now
        point = point_from(tpv, now)
        if point is None:
            return self._move(FixEvent.NO_FIX, now, "receiver reports no fix")
        detail = "3D fix" if point.mode >= 3 else "2D fix"
        if not self._add(point):  # duplicate or out of order: alive, but no new position
            return self._move(FixEvent.FIX, now, detail)
        return self._move(FixEvent.FIX, now, detail, point=point)

    def check_stale(self, now: datetime) -> VehicleUpdate | None:
        """Call periodically: SILENCE once no TPV came for more than the threshold."""
        if self._heard_at is None or self.status.state is FixState.STALE:
            return None
        silent = (now - self._heard_at).total_seconds()
        if silent <= self.stale_after_s:
            return None
        return self._move(FixEvent.SILENCE, now, f"no report for {silent:.1f} s")

    # track -------------------------------------------------------------------------------

    def track(self, since: datetime | None = None) -> list[TrackPoint]:
        """Fixes in the ring (oldest first), from `since` on if given."""
        if since is None:
            return list(self._ring)
        return [p for p in self._ring if p.at >= since]

    def _add(self, point: TrackPoint) -> bool:
        """Append a fix in time order; False if it was out of order.

        gpsd-style drivers report an epoch more than once as its sentences arrive (RMC,
        then RMC+GGA): a fix with the same time refines the last one and replaces it.
        """
        if self._ring:
            last = self._ring[-1].at
            if point.at == last:
                self._ring[-1] = point
                return True
            if point.at < last:
                if last - point.at > timedelta(seconds=CLOCK_RESET_S):
                    log.warning("%s: GPS time jumped back from %s to %s; track restarted",
                                self.config.name, last, point.at)
                    self._ring.clear()
                else:
                    return False
        self._ring.append(point)
        return True

    # the machine -------------------------------------------------------------------------

    def _move(
        self, event: FixEvent, now: datetime, detail: str, point: TrackPoint | None = None
    ) -> VehicleUpdate | None:
        old = self.status
        new_state = next_state(old.state, event)
        status = old
        if point is not None:
            status = replace(status, position=point, fix_seen_at=now)
        transition = None
        if new_state is not old.state:
            status = replace(status, state=new_state, detail=detail, changed_at=now)
            transition = FixTransition(old.id, now, old.state, new_state, detail)
        elif detail != old.detail:
            status = replace(status, detail=detail)
        if status == old:
            return None
        self.status = status
        return VehicleUpdate(status=status, transition=transition, point=point)
