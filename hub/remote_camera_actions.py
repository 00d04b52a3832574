"""The per-camera side of hub.remote_client.RemoteHubClient: the camera routes of a hub's
API as `HubClient` calls (snapshot, PTZ, presets, reboot, diagnose, live camera events,
maintenance: the RemoteCameraActions mixin), and CameraFactsReader, which reads the full
ONVIF facts of the cameras a front end looks at.

A refusal of the hub comes back as the error a local hub raises for the same mistake: an
unknown camera or a camera that failed as CameraActionError, "cannot do that at all" (409)
as CameraNotSupported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hub.api_json import (
    camera_event_from_json,
    camera_status_from_json,
    ptz_position_from_json,
    ptz_preset_from_json,
    report_from_json,
)
from hub.api_session import SLOW_REQUEST_TIMEOUT_S, ApiSession
from hub.errors import (
    ApiClientError,
    ApiNotFound,
    ApiRequestError,
    CameraActionError,
    CameraNotSupported,
    HubError,
)
from hub.model import CameraStatus, DeviceFacts

if TYPE_CHECKING:  # annotations only: importing them loads the ONVIF drivers (~1 s)
    from hub.camera_control import CameraEvent, PtzPosition, PtzPresetInfo
    from hub.diagnose import Report

log = logging.getLogger(__name__)

# After a reset every camera looked at so far has its facts read again: a few requests at
# a time, not a burst of hundreds at a hub that has just started.
DETAIL_READS_AT_ONCE = 4
# The hub tells a camera that cannot do something at all (no PTZ, no event service) by 409;
# 502 is a camera that could but failed.
NOT_SUPPORTED_STATUS = 409


def api_path(*parts: str | int) -> str:
    """'/api/a/b' with every part quoted (a camera id may hold any character)."""
    return "/api/" + "/".join(quote(str(p), safe="") for p in parts)


def refused_as(kind: type[HubError], exc: ApiClientError) -> HubError:
    """A refusal of the hub as the error the local hub raises for the same mistake."""
    return kind(str(exc))


class RemoteCameraActions:
    """The per-camera actions of the remote client; needs `_api` (an open ApiSession)."""

    _api: ApiSession

    def _camera_answered(self, status: CameraStatus) -> CameraStatus:
        """A camera route answered with the camera's new status: the client caches it and
        returns it as it caches it (the subclass does; here it is returned as is)."""
        return status

    def _camera_looked_at(self, camera_id: str) -> None:
        """A front end shows this camera in detail (its snapshot, its events): the
        subclass reads its full facts then."""

    async def _camera_call(self, call: Awaitable[Any], camera_id: str) -> Any:
        """A camera route's answer; its refusals as the camera action errors."""
        try:
            return await call
        except ApiNotFound as exc:
            raise CameraActionError(f"camera {camera_id}: unknown to the hub") from exc
        except ApiRequestError as exc:  # 409 cannot do it at all, 502 the camera failed
            kind = CameraNotSupported if exc.status == NOT_SUPPORTED_STATUS else \
                CameraActionError
            raise refused_as(kind, exc) from exc

    # maintenance ------------------------------------------------------------------------

    async def set_maintenance(self, camera_id: str, until: datetime, reason: str,
                              actor: str) -> CameraStatus:
        body = {"until": until.isoformat(), "reason": reason, "actor": actor}
        return await self._maintenance(
            self._api.put_json(api_path("cameras", camera_id, "maintenance"), body),
            camera_id)

    async def clear_maintenance(self, camera_id: str, actor: str) -> CameraStatus:
        return await self._maintenance(self._api.delete(
            api_path("cameras", camera_id, "maintenance"), {"actor": actor}), camera_id)

    async def _maintenance(self, call: Awaitable[Any], camera_id: str) -> CameraStatus:
        try:
            answer = await call
        except ApiNotFound as exc:
            raise CameraActionError(f"camera {camera_id}: unknown to the hub") from exc
        except ApiRequestError as exc:  # 400/409: a time or reason the hub refuses
            raise refused_as(CameraActionError, exc) from exc
        return self._camera_answered(camera_status_from_json(answer))

    # snapshot, PTZ ----------------------------------------------------------------------

    async def camera_snapshot(self, camera_id: str) -> bytes:
        self._camera_looked_at(camera_id)
        jpeg: bytes = await self._camera_call(self._api.get_bytes(
            api_path("cameras", camera_id, "snapshot"), timeout_s=SLOW_REQUEST_TIMEOUT_S),
            camera_id)
        return jpeg

    async def ptz_status(self, camera_id: str) -> PtzPosition:
        return ptz_position_from_json(await self._camera_call(
            self._api.get_json(api_path("cameras", camera_id, "ptz")), camera_id))

    async def ptz_presets(self, camera_id: str) -> tuple[PtzPresetInfo, ...]:
        body = await self._camera_call(
            self._api.get_json(api_path("cameras", camera_id, "ptz", "presets")), camera_id)
        return tuple(ptz_preset_from_json(p) for p in body["presets"])

    async def ptz_move(self, camera_id: str, pan: float = 0.0, tilt: float = 0.0,
                       zoom: float = 0.0) -> PtzPosition:
        body = {"pan": pan, "tilt": tilt, "zoom": zoom}
        return ptz_position_from_json(await self._camera_call(
            self._api.post_json(api_path("cameras", camera_id, "ptz"), body), camera_id))

    async def ptz_goto_preset(self, camera_id: str, token: str) -> None:
        await self._camera_call(
            self._api.post_json(api_path("cameras", camera_id, "ptz", "presets", token)),
            camera_id)

    # reboot, diagnose -------------------------------------------------------------------

    async def reboot_camera(self, camera_id: str, actor: str) -> str:
        body = await self._camera_call(self._api.post_json(
            api_path("cameras", camera_id, "reboot"), {"actor": actor},
            timeout_s=SLOW_REQUEST_TIMEOUT_S), camera_id)
        return str(body["answer"])

    async def diagnose_camera(self, camera_id: str) -> Report:
        return report_from_json(await self._camera_call(self._api.post_json(
            api_path("cameras", camera_id, "diagnose"), timeout_s=SLOW_REQUEST_TIMEOUT_S),
            camera_id))

    # live camera events -----------------------------------------------------------------

    def camera_events(self, camera_id: str) -> AsyncIterator[CameraEvent]:
        self._camera_looked_at(camera_id)
        return self._camera_events(camera_id)

    async def _camera_events(self, camera_id: str) -> AsyncGenerator[CameraEvent, None]:
        ws = await self._camera_call(
            self._api.ws_connect(api_path("cameras", camera_id, "events")), camera_id)
        try:
            async for message in ws:
                frame = message.json() if message.type.name == "TEXT" else None
                if not isinstance(frame, dict):
                    continue
                if frame.get("type") == "error":  # the hub could not subscribe
                    kind = CameraNotSupported if frame.get("status") == \
                        NOT_SUPPORTED_STATUS else CameraActionError
                    raise kind(str(frame.get("error") or "camera events failed"))
                if frame.get("type") == "camera_event":
                    yield camera_event_from_json(frame.get("data"))
        finally:
            await ws.close()


class CameraFactsReader:
    """Full ONVIF facts of the cameras a front end looks at.

    Lists and the event stream carry manufacturer and model only (small, sent on every
    change); firmware, serial, profiles, URIs, services and clock offset come from GET
    /api/cameras/{camera}. They are read in the background, once per camera until the
    next reset, handed to `on_facts`, and kept on every later status of that camera."""

    def __init__(self, api: ApiSession,
                 on_facts: Callable[[str, DeviceFacts], None]) -> None:
        self._api = api
        self._on_facts = on_facts
        self._known: dict[str, DeviceFacts] = {}
        self._asked: set[str] = set()  # read, or being read, since the last reset
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(DETAIL_READS_AT_ONCE)

    def want(self, camera_id: str) -> None:
        """Read the camera's facts in the background unless read since the last reset."""
        if camera_id in self._asked:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a caller outside the event loop: nothing can run for it
            return
        self._asked.add(camera_id)
        task = loop.create_task(self._read(camera_id), name="remote hub: camera facts")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, camera_id: str) -> None:
        try:
            async with self._slots:
                body = await self._api.get_json(api_path("cameras", camera_id))
            facts = camera_status_from_json(body).facts
        except ApiNotFound:  # it left the hub meanwhile: the stream says so
            return
        except HubError as exc:  # the link is down: asked again when looked at again
            log.debug("remote hub: facts of %s not read: %s", camera_id, exc)
            self._asked.discard(camera_id)
            return
        if facts is None:  # the hub has not reached the camera (yet, or since it started)
            self._known.pop(camera_id, None)
            self._asked.discard(camera_id)  # ask again when looked at again
            return
        self._known[camera_id] = facts
        self._on_facts(camera_id, facts)

    def merged(self, status: CameraStatus) -> CameraStatus:
        """A list-shape status with the camera's full facts, while they are still its."""
        full, summary = self._known.get(status.id), status.facts
        if full is None or summary is None or summary is full:
            return status
        if (full.manufacturer, full.model) != (summary.manufacturer, summary.model):
            del self._known[status.id]  # another device now: read it again
            self._asked.discard(status.id)
            return status
        return replace(status, facts=full)

    def reset(self, camera_ids: set[str]) -> list[str]:
        """A reset: forget cameras that left; the others keep their known facts until
        read again. Returns the cameras to read again (those read before)."""
        self._asked.clear()
        for camera_id in [c for c in self._known if c not in camera_ids]:
            del self._known[camera_id]
        return list(self._known)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
