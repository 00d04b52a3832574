"""The interface the TUI (and any other front end) uses to talk to a hub.

The TUI only ever sees a `HubClient`; the in-process implementation wraps a running
`Hub`, a later remote one will speak the HTTP/WebSocket API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

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

if TYPE_CHECKING:  # annotations only: importing them loads the ONVIF drivers (~1 s)
    from hub.camera_control import CameraEvent, PtzPosition, PtzPresetInfo
    from hub.diagnose import Report


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

    def camera_removals(self) -> AsyncIterator[str]:
        """Ids of cameras that leave the hub from now on (a partner hub revoked its grant
        of a federated camera): drop them from every list; ends when the hub stops."""
        ...

    async def set_maintenance(
        self, camera_id: str, until: datetime, reason: str, actor: str
    ) -> CameraStatus:
        """Put a camera in maintenance until `until` (UTC-aware; at most a week), audited
        with `actor` and `reason`: its failures are still recorded in its history, but it
        shows as "maintenance" and is not counted down; at `until` it shows its real state
        again. Returns the new status. Raises hub.errors.CameraActionError (unknown camera,
        end not in the future or too far, no reason)."""
        ...

    async def clear_maintenance(self, camera_id: str, actor: str) -> CameraStatus:
        """End a camera's maintenance now (audited); returns the new status."""
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

    # ALPR ---------------------------------------------------------------------------

    async def alerts(self, limit: int = 200, open_only: bool = True) -> list[Alert]:
        """Alerts, highest priority first then newest; `open_only` leaves out closed,
        accepted and rejected ones."""
        ...

    def alert_changes(self) -> AsyncIterator[Alert]:
        """Every new alert and every alert change (transition, folded duplicate) from now
        on; ends when the hub stops."""
        ...

    async def transition_alert(
        self,
        alert_id: int,
        to: AlertState,
        actor: str,
        reason: RejectReason | None = None,
        text: str = "",
    ) -> Alert:
        """Move an alert (audited). Raises hub.errors.AlertTransitionError when the move is
        not allowed or a reject has no reason."""
        ...

    async def search_reads(
        self,
        pattern: str,
        since: datetime | None = None,
        camera_id: str | None = None,
        limit: int = 100,
    ) -> list[Read]:
        """Reads whose plate matches `pattern` (`*` any run, `?` one character, otherwise
        a fragment anywhere), newest first. Raises hub.errors.SearchPatternError."""
        ...

    async def read_image(self, read_id: int, kind: ImageKind) -> bytes | None:
        """The JPEG of a read's image, if the hub has it."""
        ...

    async def wanted(self) -> list[WantedPlate]:
        """Wanted plates that have not expired, newest first."""
        ...

    async def add_wanted(
        self, plate: str, reason: str, days: int, actor: str
    ) -> tuple[WantedPlate, list[Read]]:
        """Add a wanted plate (1-100 days); returns it and the recent reads that already
        match it (search-back), newest first. Raises hub.errors.WantedPlateError."""
        ...

    async def remove_wanted(self, wanted_id: int, actor: str) -> None:
        """End a wanted plate before its expiry (audited)."""
        ...

    def hotlists(self) -> list[HotlistInfo]:
        """The loaded hotlists."""
        ...

    # camera actions (a technician's) ----------------------------------------------------
    # Each raises hub.errors.CameraActionError with a readable message (the camera's name,
    # the action, what went wrong; never credentials), CameraNotSupported when the camera
    # cannot do it at all (not a PTZ camera, no event service).

    async def camera_snapshot(self, camera_id: str) -> bytes:
        """The camera's current picture: a complete JPEG of its main profile."""
        ...

    async def ptz_status(self, camera_id: str) -> PtzPosition:
        """Where the camera's head is now."""
        ...

    async def ptz_presets(self, camera_id: str) -> tuple[PtzPresetInfo, ...]:
        """The camera's PTZ presets, in its order."""
        ...

    async def ptz_move(
        self, camera_id: str, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0
    ) -> PtzPosition:
        """One key press: move at these velocities (-1..1) for a short burst, then stop;
        the position after."""
        ...

    async def ptz_goto_preset(self, camera_id: str, token: str) -> None:
        """Start moving to a preset (poll ptz_status to see it arrive)."""
        ...

    async def reboot_camera(self, camera_id: str, actor: str) -> str:
        """Reboot the camera (logged with `actor`); the camera's answer ("Rebooting in 30
        seconds"). Its health goes down, then ok when it is back."""
        ...

    async def diagnose_camera(self, camera_id: str) -> Report:
        """The `citywatch diagnose` report of the camera (takes seconds)."""
        ...

    def camera_events(self, camera_id: str) -> AsyncIterator[CameraEvent]:
        """The camera's ONVIF events from now on, until the caller stops iterating (that
        ends the subscription)."""
        ...
