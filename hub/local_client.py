"""`HubClient` for a hub running in the same process: the demo's TUI, the API's handlers
and the scenario runner see a `Hub` through this one interface."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING

from hub.alpr_model import (
    Alert,
    AlertState,
    HotlistInfo,
    ImageKind,
    Read,
    RejectReason,
    WantedPlate,
)
from hub.model import CameraStatus, HealthTransition, Site, TrackPoint, VehicleStatus

if TYPE_CHECKING:
    from hub.camera_control import CameraEvent, PtzPosition, PtzPresetInfo
    from hub.core import Hub
    from hub.diagnose import Report


class LocalHubClient:
    """`HubClient` for a hub running in the same process (the demo)."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def sites(self) -> list[Site]:
        return list(self._hub.sites)

    def cameras(self) -> list[CameraStatus]:
        return self._hub.cameras()

    def camera(self, camera_id: str) -> CameraStatus | None:
        return self._hub.camera(camera_id)

    async def history(self, camera_id: str, limit: int = 50) -> list[HealthTransition]:
        return await self._hub.history(camera_id, limit)

    def changes(self) -> AsyncIterator[CameraStatus]:
        return self._present(self._hub.feed.subscribe())  # subscribed now: nothing slips

    async def _present(
        self, changes: AsyncGenerator[CameraStatus, None]
    ) -> AsyncIterator[CameraStatus]:
        """Leave out a change of a camera removed meanwhile (a partner's camera whose
        grant was revoked): it must not come back after its removal was announced."""
        async with contextlib.aclosing(changes):
            async for status in changes:
                if self._hub.camera(status.id) is not None:
                    yield status

    def camera_removals(self) -> AsyncIterator[str]:
        return self._hub.camera_removals.subscribe()

    async def set_maintenance(
        self, camera_id: str, until: datetime, reason: str, actor: str
    ) -> CameraStatus:
        return await self._hub.set_maintenance(camera_id, until, reason, actor)

    async def clear_maintenance(self, camera_id: str, actor: str) -> CameraStatus:
        return await self._hub.clear_maintenance(camera_id, actor)

    def vehicles(self) -> list[VehicleStatus]:
        return self._hub.vehicles()

    def vehicle(self, vehicle_id: str) -> VehicleStatus | None:
        return self._hub.vehicle(vehicle_id)

    async def track(self, vehicle_id: str, since: datetime) -> list[TrackPoint]:
        return await self._hub.track(vehicle_id, since)

    def vehicle_changes(self) -> AsyncIterator[VehicleStatus]:
        return self._hub.vehicle_feed.subscribe()

    # ALPR -----------------------------------------------------------------------------

    async def alerts(self, limit: int = 200, open_only: bool = True) -> list[Alert]:
        return await self._hub.plates.alerts(limit, open_only)

    def alert_changes(self) -> AsyncIterator[Alert]:
        return self._hub.plates.alert_changes()

    async def transition_alert(
        self,
        alert_id: int,
        to: AlertState,
        actor: str,
        reason: RejectReason | None = None,
        text: str = "",
    ) -> Alert:
        return await self._hub.plates.transition(alert_id, to, actor, reason, text)

    async def search_reads(
        self,
        pattern: str,
        since: datetime | None = None,
        camera_id: str | None = None,
        limit: int = 100,
    ) -> list[Read]:
        return await self._hub.plates.search(pattern, since, camera_id, limit)

    async def read_image(self, read_id: int, kind: ImageKind) -> bytes | None:
        return await self._hub.plates.read_image(read_id, kind)

    async def wanted(self) -> list[WantedPlate]:
        return self._hub.plates.wanted()

    async def add_wanted(
        self, plate: str, reason: str, days: int, actor: str
    ) -> tuple[WantedPlate, list[Read]]:
        return await self._hub.plates.add_wanted(plate, reason, days, actor)

    async def remove_wanted(self, wanted_id: int, actor: str) -> None:
        await self._hub.plates.remove_wanted(wanted_id, actor)

    def hotlists(self) -> list[HotlistInfo]:
        return self._hub.plates.hotlists()

    # camera actions -------------------------------------------------------------------

    async def camera_snapshot(self, camera_id: str) -> bytes:
        return await self._hub.control.snapshot(camera_id)

    async def ptz_status(self, camera_id: str) -> PtzPosition:
        return await self._hub.control.ptz_status(camera_id)

    async def ptz_presets(self, camera_id: str) -> tuple[PtzPresetInfo, ...]:
        return await self._hub.control.ptz_presets(camera_id)

    async def ptz_move(
        self, camera_id: str, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0
    ) -> PtzPosition:
        return await self._hub.control.ptz_move(camera_id, pan, tilt, zoom)

    async def ptz_goto_preset(self, camera_id: str, token: str) -> None:
        await self._hub.control.ptz_goto_preset(camera_id, token)

    async def reboot_camera(self, camera_id: str, actor: str) -> str:
        return await self._hub.control.reboot(camera_id, actor)

    async def diagnose_camera(self, camera_id: str) -> Report:
        return await self._hub.control.diagnose(camera_id)

    def camera_events(self, camera_id: str) -> AsyncIterator[CameraEvent]:
        return self._hub.control.camera_events(camera_id)
