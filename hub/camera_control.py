"""On-demand actions on the hub's cameras: snapshot, PTZ, reboot, diagnose, live events.

The supervisor polls every camera on its own session; a technician's actions get another
one, opened when first needed and closed after IDLE_S without use (or at hub stop), so a
preview refreshed every few seconds or a burst of PTZ keys costs no reconnect each time::

    control = CameraControl(configs)
    jpeg = await control.snapshot("hst-cam-007")
    await control.ptz_move("hst-cam-007", pan=0.5)      # a short burst, then Stop
    await control.close()

Every failure is a ``hub.errors.CameraActionError`` (``CameraNotSupported`` when the camera
cannot do it at all) whose message names the camera and the action, never credentials.

A partner's camera (hub/federation.py) is read-only here: its snapshot and live events come
through the partner hub's API, every other action is CameraNotSupported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from drivers.errors import (
    OnvifAuthError,
    OnvifError,
    OnvifNotSupported,
    OnvifTimeout,
    OnvifUnreachable,
)
from drivers.onvif import OnvifDevice
from drivers.onvif_camera_events import CameraEvent, OnvifCameraEvents, OnvifEventsUnsupported
from drivers.onvif_ptz import OnvifPtz
from drivers.onvif_snapshot import SnapshotFetcher
from hub.diagnose import DiagnoseFailed, Report, diagnose
from hub.errors import CameraActionError, CameraNotSupported
from hub.model import CameraConfig

__all__ = [
    "CameraControl",
    "CameraEvent",
    "PtzPosition",
    "PtzPresetInfo",
]

log = logging.getLogger(__name__)

# Per ONVIF request: the supervisor's figure (slow firmwares take 2-3 s).
REQUEST_TIMEOUT_S = 5.0
# A preview refreshed every few seconds: a snapshot slower than this is reported as failed
# rather than piling up behind the next refresh.
SNAPSHOT_TIMEOUT_S = 8.0
# A terminal preview needs a few hundred kB at most; a 4K JPEG is 1-3 MB.
SNAPSHOT_MAX_BYTES = 4 * 1024 * 1024
# One key press moves the head this long, then Stop: short enough that a technician steers
# by tapping, long enough to see (at half speed a dome turns ~20-40 degrees per second).
MOVE_BURST_S = 0.4
# The camera is also told to stop by itself after this (ContinuousMove Timeout): if our
# Stop is lost (network, hub stopped mid-burst), the head must not keep turning.
MOVE_SAFETY_S = 2.0
# Speed of a key press, as a fraction of the dome's maximum.
MOVE_SPEED = 0.5
# A session unused this long is closed: a technician looking at a camera keeps it alive
# (the preview refreshes every few seconds), one who left frees the camera's connection.
IDLE_S = 60.0


@dataclass(frozen=True)
class PtzPresetInfo:
    """A stored PTZ position the technician can go to."""

    token: str
    name: str


@dataclass(frozen=True)
class PtzPosition:
    """Where the head is (generic spaces: pan/tilt -1..1, zoom 0..1); None when unknown."""

    pan: float | None
    tilt: float | None
    zoom: float | None
    moving: bool | None


def _without_userinfo(url: str) -> str:
    """The URL without user:password@ (configs may carry it; it must not reach messages)."""
    parts = urlsplit(url.strip())
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class PartnerCameras(Protocol):
    """The cameras partner hubs grant this hub (hub.federation.Federation)."""

    def owns(self, camera_id: str) -> bool: ...

    def read_only(self, camera_id: str, action: str) -> CameraNotSupported: ...

    async def snapshot(self, camera_id: str) -> bytes: ...

    def camera_events(self, camera_id: str) -> AsyncGenerator[CameraEvent, None]: ...


class _Session:
    """One camera's ONVIF device and snapshot fetcher while a technician uses them."""

    def __init__(self, config: CameraConfig, snapshot_timeout_s: float) -> None:
        self.device = OnvifDevice(
            config.onvif_url, config.username, config.password, timeout_s=REQUEST_TIMEOUT_S
        )
        self.fetcher = SnapshotFetcher(
            config.username, config.password, timeout_s=snapshot_timeout_s,
            max_bytes=SNAPSHOT_MAX_BYTES,
        )
        self.ptz: OnvifPtz = self.device.ptz()
        self.snapshot_uri: str | None = None
        self.used = time.monotonic()
        # One move at a time per camera: PTZ bursts must not interleave their Stops.
        # Reads (status, presets, snapshots) need no turn.
        self.lock = asyncio.Lock()

    async def close(self) -> None:
        await self.fetcher.close()
        await self.device.close()


class CameraControl:
    """Actions on the cameras in ``cameras``, each on a session reused while in use."""

    def __init__(
        self, cameras: Iterable[CameraConfig], *, idle_s: float = IDLE_S,
        snapshot_timeout_s: float = SNAPSHOT_TIMEOUT_S, partners: PartnerCameras | None = None,
    ) -> None:
        self._configs = {c.id: c for c in cameras}
        self._partners = partners
        self._idle_s = idle_s
        self._snapshot_timeout_s = snapshot_timeout_s
        self._sessions: dict[str, _Session] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False

    # sessions -----------------------------------------------------------------------------

    def _config(self, camera_id: str) -> CameraConfig:
        config = self._configs.get(camera_id)
        if config is None:
            raise CameraActionError(f"camera {camera_id} is unknown to the hub")
        return config

    def _partner_camera(self, camera_id: str) -> bool:
        return (camera_id not in self._configs and self._partners is not None
                and self._partners.owns(camera_id))

    def _local(self, camera_id: str, action: str) -> None:
        """Raise CameraNotSupported for a partner's camera: only its owner acts on it."""
        if self._partners is not None and self._partner_camera(camera_id):
            raise self._partners.read_only(camera_id, action)

    def _session(self, camera_id: str) -> _Session:
        if self._closed:
            raise CameraActionError("the hub is stopping")
        session = self._sessions.get(camera_id)
        if session is None:
            config = self._config(camera_id)
            try:
                session = _Session(config, self._snapshot_timeout_s)
            except ValueError as exc:  # a config URL that is not http(s)
                raise CameraActionError(f"{config.name}: {exc}") from exc
            self._sessions[camera_id] = session
            if self._reaper is None or self._reaper.done():
                self._reaper = asyncio.create_task(self._reap(), name="camera control reaper")
        session.used = time.monotonic()
        return session

    async def _reap(self) -> None:
        """Close sessions idle for idle_s; ends when none is left."""
        while self._sessions:
            await asyncio.sleep(self._idle_s / 2)
            now = time.monotonic()
            for camera_id, session in list(self._sessions.items()):
                if now - session.used >= self._idle_s and not session.lock.locked():
                    await self._drop(camera_id, session)

    async def _drop(self, camera_id: str, session: _Session) -> None:
        if self._sessions.get(camera_id) is session:
            del self._sessions[camera_id]
        try:
            await session.close()
        except OnvifError as exc:
            log.debug("%s: closing the control session failed: %s",
                      session.device.url, exc)

    async def close(self) -> None:
        """Close every session (hub stop); later actions fail with CameraActionError."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for camera_id, session in list(self._sessions.items()):
            await self._drop(camera_id, session)

    def _error(self, camera_id: str, action: str, exc: OnvifError) -> CameraActionError:
        """The hub error for a driver error (whose message carries no credentials)."""
        name = self._config(camera_id).name
        if isinstance(exc, OnvifNotSupported):
            # Without a fault the driver found no PTZ service at all; with one, the camera
            # has PTZ but refused this (a dome that only moves continuously, ...).
            ptz_missing = action.startswith("PTZ") and not exc.fault_subcodes
            what = "not a PTZ camera" if ptz_missing else "not supported by the camera"
            return CameraNotSupported(f"{name}: {action}: {what} ({exc.message})")
        if isinstance(exc, OnvifAuthError):
            return CameraActionError(f"{name}: {action}: credentials rejected")
        detail = exc.message.removeprefix(f"{action}: ")  # the snapshot driver names it too
        return CameraActionError(f"{name}: {action}: {detail}")

    async def _failed(self, camera_id: str, action: str, exc: OnvifError) -> CameraActionError:
        """Log, convert, and drop a session a connection-level failure left unusable."""
        log.info("%s: %s failed: %s", self._config(camera_id).name, action, exc)
        if isinstance(exc, OnvifUnreachable | OnvifTimeout | OnvifAuthError):
            session = self._sessions.get(camera_id)
            if session is not None:
                await self._drop(camera_id, session)
        return self._error(camera_id, action, exc)

    # snapshot -----------------------------------------------------------------------------

    async def snapshot(self, camera_id: str) -> bytes:
        """The camera's current picture (its first profile's snapshot URI), a checked JPEG;
        a partner's camera's from the partner hub."""
        if self._partners is not None and self._partner_camera(camera_id):
            return await self._partners.snapshot(camera_id)
        session = self._session(camera_id)
        try:
            # Not under the session lock: a stalling snapshot URI must not hold up PTZ keys.
            if session.snapshot_uri is None:
                profiles = await session.device.profiles()
                if not profiles:
                    raise CameraActionError(
                        f"{self._config(camera_id).name}: snapshot: no media profile"
                    )
                session.snapshot_uri = await session.device.snapshot_uri(profiles[0].token)
            shot = await session.fetcher.fetch(session.snapshot_uri)
        except OnvifError as exc:
            raise await self._failed(camera_id, "snapshot", exc) from exc
        return shot.jpeg

    # PTZ -----------------------------------------------------------------------------------

    async def ptz_status(self, camera_id: str) -> PtzPosition:
        """Where the head is now."""
        self._local(camera_id, "PTZ status")
        session = self._session(camera_id)
        try:
            status = await session.ptz.status()
        except OnvifError as exc:
            raise await self._failed(camera_id, "PTZ status", exc) from exc
        return PtzPosition(status.pan, status.tilt, status.zoom, status.moving)

    async def ptz_presets(self, camera_id: str) -> tuple[PtzPresetInfo, ...]:
        """The camera's presets, in its order (the TUI's keys 1-9 pick from it)."""
        self._local(camera_id, "PTZ presets")
        session = self._session(camera_id)
        try:
            presets = await session.ptz.presets()
        except OnvifError as exc:
            raise await self._failed(camera_id, "PTZ presets", exc) from exc
        return tuple(PtzPresetInfo(p.token, p.name) for p in presets)

    async def ptz_move(
        self, camera_id: str, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0,
        burst_s: float = MOVE_BURST_S,
    ) -> PtzPosition:
        """Move at the given velocities (each -1..1 of the maximum) for ``burst_s``, then
        Stop; the position after. Continuous moves are what every PTZ camera supports
        (some only those), so the burst needs no other mode."""
        self._local(camera_id, "PTZ move")
        session = self._session(camera_id)
        try:
            async with session.lock:
                await session.ptz.continuous_move(pan, tilt, zoom, timeout_s=MOVE_SAFETY_S)
                try:
                    await asyncio.sleep(burst_s)
                finally:
                    # Shielded: a cancelled caller (the TUI left) must still stop the head.
                    await asyncio.shield(session.ptz.stop())
                status = await session.ptz.status()
        except OnvifError as exc:
            raise await self._failed(camera_id, "PTZ move", exc) from exc
        return PtzPosition(status.pan, status.tilt, status.zoom, status.moving)

    async def ptz_goto_preset(self, camera_id: str, token: str) -> None:
        """Start moving to a preset (the camera takes its time; poll ptz_status)."""
        self._local(camera_id, "PTZ preset")
        session = self._session(camera_id)
        try:
            async with session.lock:
                await session.ptz.goto_preset(token)
        except OnvifError as exc:
            raise await self._failed(camera_id, "PTZ preset", exc) from exc

    # reboot, diagnose, events ---------------------------------------------------------------

    async def reboot(self, camera_id: str, actor: str) -> str:
        """SystemReboot; the camera's message. Its session ends: the camera goes away."""
        self._local(camera_id, "reboot")
        session = self._session(camera_id)
        log.warning("%s: reboot requested by %s", self._config(camera_id).name, actor)
        try:
            async with session.lock:
                message = await session.device.reboot()
        except OnvifError as exc:
            raise await self._failed(camera_id, "reboot", exc) from exc
        finally:
            await self._drop(camera_id, session)
        return message

    async def diagnose(self, camera_id: str) -> Report:
        """The `citywatch diagnose` report of the camera (takes seconds: it probes)."""
        self._local(camera_id, "diagnose")
        config = self._config(camera_id)
        try:
            return await diagnose(
                _without_userinfo(config.onvif_url), config.username, config.password
            )
        except DiagnoseFailed as exc:
            raise CameraActionError(f"{config.name}: diagnose: {exc.message}") from exc
        except ValueError as exc:
            raise CameraActionError(f"{config.name}: diagnose: {exc}") from exc

    async def camera_events(self, camera_id: str) -> AsyncIterator[CameraEvent]:
        """Every event of the camera from now on, until the caller stops iterating (which
        ends the subscription). Raises CameraNotSupported for a camera without an event
        service (without PullPoint, events come by push notification), CameraActionError
        for rejected credentials; other faults the driver retries. A partner's camera's
        come from the partner hub."""
        if self._partners is not None and self._partner_camera(camera_id):
            async with contextlib.aclosing(self._partners.camera_events(camera_id)) as events:
                async for event in events:
                    yield event
            return
        config = self._config(camera_id)
        try:
            async with OnvifCameraEvents(
                config.onvif_url, config.username, config.password
            ) as events:
                async for event in events.events():
                    yield event
        except OnvifEventsUnsupported as exc:
            raise CameraNotSupported(
                f"{config.name}: events: not supported by the camera ({exc.message})"
            ) from exc
        except OnvifError as exc:
            log.info("%s: events failed: %s", config.name, exc)
            raise self._error(camera_id, "events", exc) from exc
