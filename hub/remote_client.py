"""`HubClient` over a hub's HTTP API and its /api/events stream (`citywatch tui --connect`).

The sync reads (cameras(), vehicles(), sites(), hotlists()) answer from caches that the
event stream keeps live; every other call is one REST request. When the stream could not
resume (first connection, a restarted hub, a long outage) the whole state is read again
over REST and every camera and vehicle is published to the subscribers once more, so a
front end that only follows changes() is right again without knowing it was away.

The list and the stream carry a camera's manufacturer and model only: when a front end
looks at one camera (camera(), its history, snapshot or events) its full ONVIF facts are
read once in the background (GET /api/cameras/{camera}) and the richer status is published
to changes(). The camera actions are in hub.remote_camera_actions.

Refusals of the hub come back as the errors a local hub raises (AlertTransitionError,
CameraActionError, ...); a role that may not do something gets hub.errors.ApiForbidden,
an unreachable hub HubUnreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from hub.alpr_model import (
    Alert,
    AlertState,
    HotlistInfo,
    ImageKind,
    Read,
    RejectReason,
    WantedPlate,
)
from hub.api_json import (
    alert_from_json,
    camera_status_from_json,
    hotlist_from_json,
    read_from_json,
    site_from_json,
    track_point_from_json,
    transition_from_json,
    vehicle_from_json,
    wanted_from_json,
)
from hub.api_session import ApiSession
from hub.errors import (
    AlertTransitionError,
    ApiClientError,
    ApiForbidden,
    ApiNotFound,
    ApiRequestError,
    HubError,
    HubUnreachable,
    SearchPatternError,
    WantedPlateError,
)
from hub.event_stream_client import RECONNECT_DELAYS_S, RESET, EventStreamClient, StreamEvent
from hub.feed import AlertFeed, CameraRemovalFeed, Feed, StatusFeed, VehicleFeed
from hub.model import (
    CameraStatus,
    DeviceFacts,
    HealthTransition,
    Site,
    TrackPoint,
    VehicleStatus,
)
from hub.remote_camera_actions import CameraFactsReader, RemoteCameraActions, api_path, refused_as

log = logging.getLogger(__name__)

T = TypeVar("T")

# The first connection reads sites, cameras, vehicles, hotlists and alerts: seconds for a
# city of thousands of cameras on a slow link; longer means the hub is not answering.
FIRST_SYNC_TIMEOUT_S = 30.0
# Hotlists have no event on the stream (they change a few times a day): re-read them.
HOTLIST_REFRESH_S = 60.0
# Open alerts read again after a reset (the TUI's queue reads the same number).
RESET_ALERT_LIMIT = 200

# What the stream carries (docs/api.md) and what we do with it.
CAMERA, VEHICLE, ALERT, ACCESS, CAMERA_REMOVED = (
    "camera", "vehicle", "alert", "access", "camera_removed")


@dataclass(frozen=True)
class ConnectionState:
    """The link to the hub: `error` is the last failure; `retry_at` (event-loop time)
    when the next attempt is due while disconnected."""

    connected: bool
    url: str
    error: str | None = None
    retry_at: float | None = None


async def _all_or_none(*calls: Awaitable[Any]) -> list[Any]:
    """The answers of `calls` run concurrently, in order; if one fails, the others are
    cancelled (not left running unawaited) and its error is raised."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class RemoteHubClient(RemoteCameraActions):
    """`await client.connect()`, hand it to the TUI, `await client.close()` at the end."""

    def __init__(self, base_url: str, token: str, ssl_context: ssl.SSLContext | None = None,
                 *, reconnect_delays_s: tuple[float, ...] = RECONNECT_DELAYS_S) -> None:
        self._api = ApiSession(base_url, token, ssl_context=ssl_context)
        self.url = self._api.base_url
        self._stream = EventStreamClient(self._api, on_connection=self._connection_changed,
                                         reconnect_delays_s=reconnect_delays_s)
        self._sites: list[Site] = []
        self._cameras: dict[str, CameraStatus] = {}
        self._vehicles: dict[str, VehicleStatus] = {}
        self._hotlists: list[HotlistInfo] = []
        self._facts = CameraFactsReader(self._api, self._facts_read)
        self._camera_feed = StatusFeed()
        self._removal_feed = CameraRemovalFeed()
        self._vehicle_feed = VehicleFeed()
        self._alert_feed = AlertFeed()
        self._connection_feed: Feed[ConnectionState] = Feed(lambda _: "link")
        self._synced = asyncio.Event()  # the first reset's state is read
        self._tasks: list[asyncio.Task[None]] = []
        self.resets = 0  # times the whole state was read (tests, diagnostics)

    # connection -----------------------------------------------------------------------

    async def connect(self) -> None:
        """Read the hub's state and follow its events. Raises ApiAuthError (token refused),
        ApiForbidden (a role without the event stream) or HubUnreachable."""
        self._api.open()
        try:
            await self._api.get_json("/api/sites")  # fails fast and clearly on URL or token
        except HubError:
            await self.close()
            raise
        follow = asyncio.create_task(self._follow(), name="remote hub: events")
        self._tasks.append(follow)
        synced = asyncio.ensure_future(self._synced.wait())
        try:
            done, _ = await asyncio.wait({follow, synced}, timeout=FIRST_SYNC_TIMEOUT_S,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            synced.cancel()
        if follow in done:
            await self.close()
            follow.result()  # raises what ended the stream
        if not self._synced.is_set():
            error = self._stream.last_error or "no answer in time"
            await self.close()
            raise HubUnreachable(f"hub {self.url}: the event stream did not start: {error}")
        self._tasks.append(asyncio.create_task(self._refresh_hotlists(),
                                               name="remote hub: hotlists"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, ApiClientError):
                await task
        self._tasks.clear()
        await self._facts.close()  # after the stream's task: a reset there asks for facts
        self._end_feeds()
        await self._api.close()

    @property
    def connected(self) -> bool:
        return self._stream.connected

    def connection(self) -> ConnectionState:
        return ConnectionState(self._stream.connected, self.url, self._stream.last_error,
                               self._stream.retry_at)

    def connection_changes(self) -> AsyncIterator[ConnectionState]:
        """Every change of the link (lost, back) from now on."""
        return self._connection_feed.subscribe()

    def _connection_changed(self, connected: bool, error: str | None) -> None:
        self._connection_feed.publish(self.connection())

    def _end_feeds(self) -> None:
        for feed in (self._camera_feed, self._removal_feed, self._vehicle_feed,
                     self._alert_feed, self._connection_feed):
            feed.close()

    async def _follow(self) -> None:
        """Apply the event stream to the caches until closed or the token is refused."""
        try:
            async for event in self._stream:
                try:
                    await self._apply(event)
                except HubError as exc:  # the state could not be read: read it again
                    log.warning("remote hub: %s; reading the state again", exc)
                    self._stream.cursor = None  # the next hello then asks for a reset
                    await self._stream.close()
        except ApiClientError as exc:
            log.error("remote hub: the event stream ended: %s", exc)
            self._connection_feed.publish(self.connection())
            raise
        finally:
            self._end_feeds()

    async def _apply(self, event: StreamEvent) -> None:
        if event.type == RESET or event.type == ACCESS:
            await self._read_state()
            self._synced.set()
        elif event.type == CAMERA:
            status = self._facts.merged(camera_status_from_json(event.data))
            self._cameras[status.id] = status
            self._camera_feed.publish(status)
        elif event.type == VEHICLE:
            vehicle = vehicle_from_json(event.data)
            self._vehicles[vehicle.id] = vehicle
            self._vehicle_feed.publish(vehicle)
        elif event.type == ALERT:
            self._alert_feed.publish(alert_from_json(event.data))
        elif event.type == CAMERA_REMOVED:
            camera_id = str(event.data.get("id"))
            if self._cameras.pop(camera_id, None) is not None:
                self._removal_feed.publish(camera_id)
        # "read": no HubClient subscriber follows reads

    async def _read_state(self) -> None:
        """Everything again over REST, then every camera and vehicle to the subscribers."""
        self.resets += 1
        # At once, not one after the other: the TUI's first screen waits for all of them.
        sites, cameras, vehicles, _ = await _all_or_none(
            self._api.get_json("/api/sites"),
            self._api.get_json("/api/cameras"),
            self._allowed(self._api.get_json("/api/vehicles"), {"vehicles": []}),
            self._read_hotlists(),
        )
        self._sites = [site_from_json(s) for s in sites["sites"]]
        fresh = {c.id: c for c in map(camera_status_from_json, cameras["cameras"])}
        self._vehicles = {v.id: v for v in map(vehicle_from_json, vehicles["vehicles"])}
        gone = [camera_id for camera_id in self._cameras if camera_id not in fresh]
        looked_at = self._facts.reset(set(fresh))  # their facts may be new: read again
        self._cameras = fresh = {c: self._facts.merged(s) for c, s in fresh.items()}
        for camera_id in gone:  # left while we were away, or a partner's grant ended
            self._removal_feed.publish(camera_id)
        for status in fresh.values():
            self._camera_feed.publish(status)
        for camera_id in looked_at:
            self._camera_looked_at(camera_id)
        for vehicle in self._vehicles.values():
            self._vehicle_feed.publish(vehicle)
        if self._alert_feed.subscriber_count:  # alert changes missed while away
            for alert in await self._allowed(self.alerts(RESET_ALERT_LIMIT), []):
                self._alert_feed.publish(alert)

    async def _allowed(self, call: Awaitable[T], otherwise: T) -> T:
        """`call`'s answer, or `otherwise` when the token's role may not make it."""
        try:
            return await call
        except ApiForbidden:
            return otherwise

    async def _read_hotlists(self) -> None:
        body = await self._allowed(self._api.get_json("/api/hotlists"), {"hotlists": []})
        self._hotlists = [hotlist_from_json(h) for h in body["hotlists"]]

    async def _refresh_hotlists(self) -> None:
        while True:
            await asyncio.sleep(HOTLIST_REFRESH_S)
            try:
                await self._read_hotlists()
            except HubError as exc:  # the stream reports the outage; try next time
                log.debug("remote hub: hotlists not refreshed: %s", exc)

    # cameras and vehicles ------------------------------------------------------------

    def sites(self) -> list[Site]:
        return list(self._sites)

    def cameras(self) -> list[CameraStatus]:
        return list(self._cameras.values())

    def camera(self, camera_id: str) -> CameraStatus | None:
        """The cached status now; its full facts follow on changes() if not read yet."""
        self._camera_looked_at(camera_id)
        return self._cameras.get(camera_id)

    def changes(self) -> AsyncIterator[CameraStatus]:
        return self._camera_feed.subscribe()

    def camera_removals(self) -> AsyncIterator[str]:
        return self._removal_feed.subscribe()

    async def history(self, camera_id: str, limit: int = 50) -> list[HealthTransition]:
        self._camera_looked_at(camera_id)  # the detail screen opens with the history
        try:
            body = await self._api.get_json(api_path("cameras", camera_id, "history"),
                                            {"limit": limit})
        except ApiNotFound:
            return []
        return [transition_from_json(t) for t in body["transitions"]]

    def vehicles(self) -> list[VehicleStatus]:
        return list(self._vehicles.values())

    def vehicle(self, vehicle_id: str) -> VehicleStatus | None:
        return self._vehicles.get(vehicle_id)

    async def track(self, vehicle_id: str, since: datetime) -> list[TrackPoint]:
        try:
            body = await self._api.get_json(api_path("vehicles", vehicle_id, "track"),
                                            {"since": since.isoformat()})
        except ApiNotFound:
            return []
        return [track_point_from_json(p) for p in body["points"]]

    def vehicle_changes(self) -> AsyncIterator[VehicleStatus]:
        return self._vehicle_feed.subscribe()

    # ALPR -----------------------------------------------------------------------------

    async def alerts(self, limit: int = 200, open_only: bool = True) -> list[Alert]:
        params: dict[str, str | int] = {"limit": limit}
        if not open_only:
            params["all"] = "1"
        body = await self._api.get_json("/api/alerts", params)
        return [alert_from_json(a) for a in body["alerts"]]

    def alert_changes(self) -> AsyncIterator[Alert]:
        return self._alert_feed.subscribe()

    async def transition_alert(self, alert_id: int, to: AlertState, actor: str,
                               reason: RejectReason | None = None, text: str = "") -> Alert:
        body = {"to": to.value, "actor": actor, "text": text,
                "reason": reason.value if reason is not None else None}
        try:
            answer = await self._api.post_json(api_path("alerts", alert_id, "transitions"), body)
        except (ApiNotFound, ApiRequestError) as exc:  # 404 unknown, 409 not allowed
            raise refused_as(AlertTransitionError, exc) from exc
        alert = alert_from_json(answer)
        self._alert_feed.publish(alert)  # others learn it from the stream, we at once
        return alert

    async def search_reads(self, pattern: str, since: datetime | None = None,
                           camera_id: str | None = None, limit: int = 100) -> list[Read]:
        params: dict[str, str | int] = {"q": pattern, "limit": limit}
        if since is not None:
            params["since"] = since.isoformat()
        if camera_id is not None:
            params["camera"] = camera_id
        try:
            body = await self._api.get_json("/api/reads", params)
        except ApiRequestError as exc:
            raise refused_as(SearchPatternError, exc) from exc
        return [read_from_json(r) for r in body["reads"]]

    async def read_image(self, read_id: int, kind: ImageKind) -> bytes | None:
        try:
            return await self._api.get_bytes(api_path("reads", read_id, "images", kind.value))
        except ApiNotFound:
            return None

    async def wanted(self) -> list[WantedPlate]:
        body = await self._api.get_json("/api/wanted")
        return [wanted_from_json(w) for w in body["wanted"]]

    async def add_wanted(self, plate: str, reason: str, days: int,
                         actor: str) -> tuple[WantedPlate, list[Read]]:
        body = {"plate": plate, "reason": reason, "days": days, "actor": actor}
        try:
            answer = await self._api.post_json("/api/wanted", body)
        except ApiRequestError as exc:
            raise refused_as(WantedPlateError, exc) from exc
        return wanted_from_json(answer["wanted"]), [read_from_json(r) for r in answer["seen"]]

    async def remove_wanted(self, wanted_id: int, actor: str) -> None:
        try:
            await self._api.delete(api_path("wanted", wanted_id), {"actor": actor})
        except (ApiNotFound, ApiRequestError) as exc:
            raise refused_as(WantedPlateError, exc) from exc

    def hotlists(self) -> list[HotlistInfo]:
        return list(self._hotlists)

    # full camera facts (hub.remote_camera_actions.CameraFactsReader) -------------------

    def _camera_looked_at(self, camera_id: str) -> None:
        if camera_id in self._cameras and self._tasks:  # connected, a camera it knows
            self._facts.want(camera_id)

    def _facts_read(self, camera_id: str, facts: DeviceFacts) -> None:
        current = self._cameras.get(camera_id)
        if current is not None and current.facts != facts:
            status = replace(current, facts=facts)  # on the cached state: it may be newer
            self._cameras[camera_id] = status
            self._camera_feed.publish(status)

    def _camera_answered(self, status: CameraStatus) -> CameraStatus:
        status = self._facts.merged(status)
        self._cameras[status.id] = status
        return status
