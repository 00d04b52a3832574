"""Federation: the cameras partner hubs grant this hub, imported read-only over their API.

One `PartnerLink` per `[[partners]]` entry (hub/config.py) holds an ApiSession with the
partner hub, authenticated by the partner token that hub gave us. The partner answers
GET /api/cameras with the cameras it granted us only, and its /api/events stream keeps
them live. Grants change at the partner: an "access" frame (or a "reset" after a
reconnect the partner could not resume) makes the link drop the cameras no longer granted
at once and re-read the list.

Federated cameras are named `<partner id>:<their id>` and belong to the site `<partner
id>` (a Site named after the partner), so every screen shows their owner. Their
CameraConfig carries no address and no credentials: snapshots and live events go through
the partner's API; PTZ, reboot, diagnose and maintenance are the owner's business
(CameraNotSupported). While the partner cannot be reached its cameras stay listed, state
unknown, detail UNREACHABLE_DETAIL::

    federation = Federation(config.partners, hub.feed.publish, hub.camera_removals.publish)
    await federation.start()
    federation.cameras()            # [CameraStatus("uhasselt:cam-3", site "uhasselt"), ...]
    await federation.snapshot("uhasselt:cam-3")
    await federation.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import ssl
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp

from hub.api_json import camera_event_from_json, camera_status_from_json, transition_from_json
from hub.api_session import MAX_ERROR_CHARS, ApiSession
from hub.config import PartnerConfig
from hub.errors import (
    ApiAuthError,
    ApiClientError,
    ApiForbidden,
    ApiNotFound,
    ApiRequestError,
    ApiShapeError,
    CameraActionError,
    CameraNotSupported,
    ConfigError,
    HubUnreachable,
)
from hub.event_stream_client import RESET, EventStreamClient, StreamEvent
from hub.model import CameraStatus, HealthReason, HealthState, HealthTransition, Site
from hub.tasks import cancel_all

if TYPE_CHECKING:
    from hub.camera_control import CameraEvent

log = logging.getLogger(__name__)

# Separates the partner's id from its camera's id in a federated camera's id.
SEPARATOR = ":"
UNREACHABLE_DETAIL = "partner hub unreachable"
# The event stream may drop and come back within a second (the partner's proxy, a blip):
# its cameras turn unknown only when it stays away this long, so operators see no flicker
# but still learn within seconds that the partner is gone.
UNREACHABLE_AFTER_S = 2.0
# The partner refused our token (revoked, or our role changed): that only changes by a
# person's hand at the partner, so asking again every half minute is plenty.
REFUSED_RETRY_S = 30.0
# A re-read of the camera list that failed while the stream stayed up: try again soon.
FETCH_RETRY_S = 2.0
# A partner's snapshot goes through its hub to its camera (camera_control waits 8 s for
# the camera); our margin on top of that for the two hops.
SNAPSHOT_TIMEOUT_S = 12.0
# What we read from the partner's stream: camera states, and (always sent to a partner)
# grant changes and removals.
STREAM_TYPES = ("camera",)

Publish = Callable[[CameraStatus], None]
Removed = Callable[[str], None]


def _ssl_context(partner: PartnerConfig) -> ssl.SSLContext | None:
    if partner.ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(partner.ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"partner {partner.id}: ca_file {partner.ca_file}: not a usable CA file: {exc}"
        ) from exc


class PartnerLink:
    """The granted cameras of one partner hub, kept live while `run()` runs."""

    def __init__(self, partner: PartnerConfig, publish: Publish, removed: Removed) -> None:
        self.partner = partner
        self.site = Site(id=partner.id, name=partner.name)
        self._publish = publish
        self._removed = removed
        self._ssl = _ssl_context(partner)
        self._session: ApiSession | None = None
        self._real: dict[str, CameraStatus] = {}  # local id -> the partner's last word
        self._shown: dict[str, CameraStatus] = {}  # what we show (unknown while cut off)
        self._unreachable_timer: asyncio.TimerHandle | None = None
        self._restore: asyncio.Handle | None = None
        self._cut_off = False
        self._last_error = ""

    # ids ---------------------------------------------------------------------------

    def local_id(self, their_id: str) -> str:
        return f"{self.partner.id}{SEPARATOR}{their_id}"

    def their_id(self, local_id: str) -> str:
        return local_id.removeprefix(self.partner.id + SEPARATOR)

    def _path(self, local_id: str, tail: str = "") -> str:
        return f"/api/cameras/{quote(self.their_id(local_id), safe='')}{tail}"

    # what we show ---------------------------------------------------------------------

    def cameras(self) -> list[CameraStatus]:
        return list(self._shown.values())

    def camera(self, local_id: str) -> CameraStatus | None:
        return self._shown.get(local_id)

    def _imported(self, data: dict[str, Any]) -> CameraStatus:
        """A partner's camera_json as ours: prefixed id, the partner's site, no address."""
        status = camera_status_from_json(data)
        config = dataclasses.replace(status.config, id=self.local_id(status.config.id),
                                     site=self.partner.id)
        return dataclasses.replace(status, config=config)

    def _show(self, status: CameraStatus) -> None:
        self._real[status.id] = status
        if self._cut_off:
            status = self._unreachable(status)
        if self._shown.get(status.id) != status:
            self._shown[status.id] = status
            self._publish(status)

    def _remove(self, local_ids: Iterable[str]) -> None:
        for local_id in list(local_ids):
            self._real.pop(local_id, None)
            if self._shown.pop(local_id, None) is not None:
                log.info("federation: %s: camera %s no longer granted", self.partner.id,
                         local_id)
                self._removed(local_id)

    @staticmethod
    def _unreachable(status: CameraStatus) -> CameraStatus:
        return dataclasses.replace(
            status, state=HealthState.UNKNOWN, reason=HealthReason.UNREACHABLE,
            detail=UNREACHABLE_DETAIL, changed_at=datetime.now(UTC),
        )

    # connection state -------------------------------------------------------------------

    def _connection(self, connected: bool, error: str | None) -> None:
        """EventStreamClient's listener: cut off after UNREACHABLE_AFTER_S without the
        stream; back as soon as it is (a resumed stream then brings what changed)."""
        if connected:
            if self._unreachable_timer is not None:
                self._unreachable_timer.cancel()
                self._unreachable_timer = None
            if self._cut_off and self._restore is None:
                # Soon, not now: a stream the partner could not resume yields "reset" in
                # this same step, and then the re-read, not our stale states, is shown.
                self._restore = asyncio.get_running_loop().call_soon(self._reconnected)
            return
        self._last_error = error or self._last_error
        if self._unreachable_timer is None and not self._cut_off:
            loop = asyncio.get_running_loop()
            self._unreachable_timer = loop.call_later(UNREACHABLE_AFTER_S, self._cut)

    def _reconnected(self, fresh: bool = False) -> None:
        """Show the partner's cameras again: their last states (a resumed stream brings
        what changed since), or nothing yet when a re-read follows (`fresh`)."""
        if self._restore is not None:
            self._restore.cancel()
            self._restore = None
        if not self._cut_off:
            return
        log.info("federation: partner %s reachable again", self.partner.id)
        self._cut_off = False
        if not fresh:
            for status in self._real.values():
                self._show(status)

    def _cut(self) -> None:
        self._unreachable_timer = None
        if self._cut_off:
            return
        log.warning("federation: partner %s: %s; its %d cameras show unknown",
                    self.partner.id, self._last_error or "unreachable", len(self._real))
        self._cut_off = True
        for local_id, status in self._real.items():
            shown = self._unreachable(status)
            self._shown[local_id] = shown
            self._publish(shown)

    # the link ---------------------------------------------------------------------------

    def open(self) -> None:
        """Open the HTTP session (needs the running loop)."""
        if self._session is None:
            self._session = ApiSession(self.partner.url, self.partner.token,
                                       ssl_context=self._ssl)
        self._session.open()

    async def close(self) -> None:
        if self._unreachable_timer is not None:
            self._unreachable_timer.cancel()
            self._unreachable_timer = None
        if self._restore is not None:
            self._restore.cancel()
            self._restore = None
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> ApiSession:
        if self._session is None:
            raise HubUnreachable(f"partner {self.partner.id}: the link is not started")
        return self._session

    async def run(self) -> None:
        """Follow the partner until cancelled: (re)connect, read the granted cameras,
        apply their changes; a refused token removes every camera of the partner."""
        while True:
            stream = EventStreamClient(self.session, STREAM_TYPES,
                                       on_connection=self._connection)
            try:
                async for event in stream:
                    await self._apply(event)
                delay = FETCH_RETRY_S  # not reached: the client reconnects by itself
            except (ApiAuthError, ApiForbidden, ApiNotFound) as exc:
                log.error("federation: partner %s refused us (%s); its cameras are removed",
                          self.partner.id, exc)
                self._remove(self._real)
                delay = REFUSED_RETRY_S
            except (ApiClientError, ApiShapeError) as exc:
                log.warning("federation: partner %s: %s; retrying", self.partner.id, exc)
                delay = FETCH_RETRY_S
            self._connection(False, None)
            await asyncio.sleep(delay)

    async def _apply(self, event: StreamEvent) -> None:
        if event.type == "camera":
            # The partner sends events of cameras it grants us now only: trust each.
            try:
                self._show(self._imported(event.data))
            except ApiShapeError as exc:
                log.warning("federation: partner %s: a camera event skipped: %s",
                            self.partner.id, exc)
        elif event.type == "camera_removed":
            their = event.data.get("id")
            if isinstance(their, str):
                self._remove([self.local_id(their)])
        elif event.type == "access":
            granted = event.data.get("cameras")
            if isinstance(granted, list):  # drop at once; the re-read adds new grants
                keep = {self.local_id(str(c)) for c in granted}
                self._remove([c for c in self._real if c not in keep])
            await self._refetch()
        elif event.type == RESET:
            self._reconnected(fresh=True)
            await self._refetch()

    async def _refetch(self) -> None:
        """Read the granted cameras again; drop those no longer listed."""
        body = await self.session.get_json("/api/cameras")
        listed = body.get("cameras") if isinstance(body, dict) else None
        if not isinstance(listed, list):
            raise ApiShapeError(f"partner {self.partner.id}: GET /api/cameras: no cameras list")
        statuses = [self._imported(item) for item in listed]
        seen = {s.id for s in statuses}
        self._remove([c for c in self._real if c not in seen])
        for status in statuses:
            self._show(status)
        log.info("federation: partner %s grants %d cameras", self.partner.id, len(seen))

    # read-only actions through the partner ------------------------------------------------

    def _action_error(self, local_id: str, action: str, exc: ApiClientError) -> CameraActionError:
        name = self._name(local_id)
        if isinstance(exc, ApiNotFound):
            return CameraActionError(f"{name}: {action}: not granted by {self.partner.name}")
        if isinstance(exc, HubUnreachable):
            return CameraActionError(f"{name}: {action}: {UNREACHABLE_DETAIL}")
        # The partner's own {"error"} after ApiSession's "GET /path: ": it names the
        # camera (by the name we show too) and the action already.
        said = str(exc).partition(": ")[2] or str(exc)
        if isinstance(exc, ApiRequestError) and exc.status == 409:
            return CameraNotSupported(said)
        if isinstance(exc, ApiRequestError) and exc.status == 502:
            return CameraActionError(said)
        return CameraActionError(f"{name}: {action}: {said}")

    def _name(self, local_id: str) -> str:
        status = self._shown.get(local_id)
        return status.config.name if status is not None else local_id

    async def snapshot(self, local_id: str) -> bytes:
        try:
            return await self.session.get_bytes(self._path(local_id, "/snapshot"),
                                                timeout_s=SNAPSHOT_TIMEOUT_S)
        except ApiClientError as exc:
            raise self._action_error(local_id, "snapshot", exc) from exc

    async def history(self, local_id: str, limit: int) -> list[HealthTransition]:
        try:
            body = await self.session.get_json(self._path(local_id, "/history"),
                                               {"limit": limit})
            items = body.get("transitions", []) if isinstance(body, dict) else []
            return [dataclasses.replace(transition_from_json(t), camera_id=local_id)
                    for t in items]
        except (ApiClientError, ApiShapeError) as exc:
            log.info("federation: history of %s: %s", local_id, exc)
            return []

    async def camera_events(self, local_id: str) -> AsyncGenerator[CameraEvent, None]:
        try:
            ws = await self.session.ws_connect(self._path(local_id, "/events"))
        except ApiClientError as exc:
            raise self._action_error(local_id, "events", exc) from exc
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(message.data)
                    kind = frame.get("type")
                    if kind == "camera_event":
                        yield camera_event_from_json(frame["data"])
                    elif kind == "error":  # the partner's own camera action error
                        raise self._events_error(local_id, frame)
                except (ValueError, KeyError, AttributeError, ApiShapeError) as exc:
                    log.warning("federation: %s: an event frame skipped: %s", local_id, exc)
        finally:
            await ws.close()
        raise CameraActionError(f"{self._name(local_id)}: events: {self.partner.name} "
                                "ended the stream")

    def _events_error(self, local_id: str, frame: dict[str, Any]) -> CameraActionError:
        """The partner's {"type": "error", "status", "error"} frame as our error (its
        message names the camera, by the name we show too)."""
        message = str(frame.get("error") or "failed")[:MAX_ERROR_CHARS]
        if frame.get("status") == 409:
            return CameraNotSupported(message)
        return CameraActionError(message)


class Federation:
    """Every partner link of a hub; what the Hub and CameraControl ask about partners."""

    def __init__(self, partners: Sequence[PartnerConfig], publish: Publish,
                 removed: Removed) -> None:
        self._links = {p.id: PartnerLink(p, publish, removed) for p in partners}
        self._tasks: list[asyncio.Task[None]] = []

    def sites(self) -> list[Site]:
        return [link.site for link in self._links.values()]

    async def start(self) -> None:
        for link in self._links.values():
            link.open()
            self._tasks.append(asyncio.create_task(link.run(),
                                                   name=f"partner:{link.partner.id}"))
        if self._links:
            log.info("federation: following %d partner hubs", len(self._links))

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        self._tasks.clear()
        for link in self._links.values():
            await link.close()

    def cameras(self) -> list[CameraStatus]:
        return [c for link in self._links.values() for c in link.cameras()]

    def _link(self, camera_id: str) -> PartnerLink | None:
        partner_id, sep, _ = camera_id.partition(SEPARATOR)
        return self._links.get(partner_id) if sep else None

    def camera(self, camera_id: str) -> CameraStatus | None:
        link = self._link(camera_id)
        return link.camera(camera_id) if link is not None else None

    def owns(self, camera_id: str) -> bool:
        """Whether `camera_id` is a partner's camera (shown now)."""
        return self.camera(camera_id) is not None

    def read_only(self, camera_id: str, action: str) -> CameraNotSupported:
        """The error for an action only the owner may take."""
        status = self.camera(camera_id)
        name = status.config.name if status is not None else camera_id
        return CameraNotSupported(f"{name}: {action}: {camera_id} is a partner camera "
                                  "(read-only)")

    def _granted(self, camera_id: str) -> PartnerLink:
        link = self._link(camera_id)
        if link is None or link.camera(camera_id) is None:
            raise CameraActionError(f"camera {camera_id} is unknown to the hub")
        return link

    async def snapshot(self, camera_id: str) -> bytes:
        return await self._granted(camera_id).snapshot(camera_id)

    async def history(self, camera_id: str, limit: int = 50) -> list[HealthTransition]:
        return await self._granted(camera_id).history(camera_id, limit)

    async def camera_events(self, camera_id: str) -> AsyncGenerator[CameraEvent, None]:
        link = self._granted(camera_id)
        events = link.camera_events(camera_id)
        async with contextlib.aclosing(events):
            async for event in events:
                yield event
