"""The interface the TUI (and any other front end) uses to talk to a hub.

The TUI only ever sees a `HubClient`; the in-process implementation wraps a running
`Hub`, a later remote one will speak the HTTP/WebSocket API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

from hub.model import CameraStatus, HealthTransition, Site, TrackPoint, VehicleStatus


class HubClient(Protocol):
    """Read access to cameras, vehicles and their state, plus streams of changes."""

    def sites(self) -> list[Site]:
        """Every site the hub knows, in a stable order."""
        ...

    def cameras(self) -> list[CameraStatus]:
        """Current status of every camera, in a stable order."""
        ...

    def camera(self, camera_id: str) -> CameraStatus | None:
        """Current status of one camera, or None if unknown."""
        ...

    async def history(self, camera_id: str, limit: int = 50) -> list[HealthTransition]:
        """Latest health transitions of one camera, newest first."""
        ...

    def changes(self) -> AsyncIterator[CameraStatus]:
        """Every status change from now on; ends when the hub stops."""
        ...

    def vehicles(self) -> list[VehicleStatus]:
        """Current fix state and position of every vehicle, in a stable order."""
        ...

    def vehicle(self, vehicle_id: str) -> VehicleStatus | None:
        """Current status of one vehicle, or None if unknown."""
        ...

    async def track(self, vehicle_id: str, since: datetime) -> list[TrackPoint]:
        """A vehicle's fixes from `since` on, oldest first (older ones at most 1/s)."""
        ...

    def vehicle_changes(self) -> AsyncIterator[VehicleStatus]:
        """Every vehicle status change (state or position) from now on, coalesced per
        vehicle; ends when the hub stops."""
        ...
