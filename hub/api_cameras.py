"""API routes of the camera side: sites, cameras and their history, maintenance, a
technician's actions (snapshot, PTZ, reboot, diagnose), a camera's live ONVIF events over
a WebSocket, and the patrol cars with their tracks.

Everything goes through the request's LocalHubClient, the interface the TUI uses. The
middleware has already answered 404 for a `{camera}` a partner was not granted; here an
unknown camera is 404, an action the camera cannot do at all 409, a failed one 502
(CameraActionError messages are credential-free).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiohttp import WSCloseCode, web

from hub.api_json import (
    camera_detail_json,
    camera_event_json,
    camera_json,
    ptz_position_json,
    ptz_preset_json,
    report_json,
    site_json,
    track_point_json,
    transition_json,
    vehicle_json,
)
from hub.api_routes import (
    CAMERA_VIEWERS,
    TECHNICIANS,
    WATCHERS,
    ApiContext,
    BadRequest,
    Route,
    actor,
    context,
    error,
    json_object,
    parse_int,
    parse_time,
    principal,
    query_param,
)
from hub.auth import Principal
from hub.errors import CameraActionError, CameraNotSupported

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_HISTORY = 1000  # transitions per request: a year of a flapping camera, and no more
DEFAULT_HISTORY = 50
# A track without `since`: the last hour (before the latest fix) is what the map shows.
DEFAULT_TRACK = timedelta(hours=1)
# WebSocket pings: a dead peer (NAT timeout, laptop closed) is noticed within 2x this.
HEARTBEAT_S = 15.0
# A partner's event socket re-checks its grant this often (and on each event): a revoked
# grant ends the stream within about a second, well inside the 2 s /api/events promises.
GRANT_CHECK_S = 1.0
# Close codes of the camera events socket (4000-4999 are the application's own).
CLOSE_NOT_SUPPORTED = 4409  # the camera has no event service: reconnecting will not help
CLOSE_CAMERA_FAILED = 4502  # the camera's events failed (credentials, ...)
CLOSE_REVOKED = 4403  # the caller's token or grant was revoked
# PTZ velocities: fractions of the camera's maximum speed.
PTZ_LIMIT = 1.0


def _known_camera(request: web.Request) -> str:
    """The {camera} of the path, or 404 if the hub does not know it."""
    camera_id = request.match_info["camera"]
    if context(request).client.camera(camera_id) is None:
        raise web.HTTPNotFound(reason=f"no camera {camera_id!r}")
    return camera_id


async def _act(action: Awaitable[T]) -> T:
    """Run a camera action; its errors as API errors (409 cannot, 502 failed)."""
    try:
        return await action
    except CameraNotSupported as exc:
        raise web.HTTPConflict(reason=_one_line(exc)) from exc
    except CameraActionError as exc:
        raise web.HTTPBadGateway(reason=_one_line(exc)) from exc


def _one_line(exc: Exception) -> str:
    # The message travels as the HTTP reason (hub.api turns it into {"error"}): one line.
    return " ".join(str(exc).splitlines())


async def _optional_body(request: web.Request) -> dict[str, Any]:
    """The JSON object of a request whose body is optional ({} without one)."""
    return await json_object(request) if request.can_read_body else {}


# sites and cameras ----------------------------------------------------------------------


async def _sites(request: web.Request) -> web.Response:
    api, who = context(request), principal(request)
    sites = api.client.sites()
    if who.cameras is not None:  # a partner: the sites of its granted cameras only
        seen = {c.config.site for c in api.client.cameras() if who.sees_camera(c.id)}
        sites = [s for s in sites if s.id in seen]
    return web.json_response({"sites": [site_json(s) for s in sites]})


async def _cameras(request: web.Request) -> web.Response:
    who = principal(request)
    cameras = [c for c in context(request).client.cameras() if who.sees_camera(c.id)]
    return web.json_response({"cameras": [camera_json(c) for c in cameras]})


async def _camera(request: web.Request) -> web.Response:
    client = context(request).client
    status = client.camera(_known_camera(request))
    assert status is not None  # _known_camera checked it
    owner = next((s for s in client.sites() if s.id == status.config.site), None)
    return web.json_response(camera_detail_json(status, owner))


async def _history(request: web.Request) -> web.Response:
    camera_id = _known_camera(request)
    limit = parse_int(request.query.get("limit"), "limit", DEFAULT_HISTORY, 1, MAX_HISTORY)
    transitions = await context(request).client.history(camera_id, limit)
    return web.json_response({"transitions": [transition_json(t) for t in transitions]})


async def _set_maintenance(request: web.Request) -> web.Response:
    camera_id = _known_camera(request)
    body = await json_object(request)
    until, reason = body.get("until"), body.get("reason")
    if not isinstance(until, str) or not until:
        return error(400, "'until' must be an ISO 8601 time with a zone")
    if not isinstance(reason, str) or not reason.strip():
        return error(400, "'reason' must be a non-empty string")
    end = parse_time(until, "until")
    assert end is not None  # until is not empty
    try:
        status = await context(request).client.set_maintenance(
            camera_id, end, reason, actor(request, body.get("actor"))
        )
    except CameraNotSupported as exc:  # a partner's camera: only its owner may
        return error(409, str(exc))
    except CameraActionError as exc:  # end in the past or too far, ...
        return error(400, str(exc))
    return web.json_response(camera_json(status))


async def _clear_maintenance(request: web.Request) -> web.Response:
    camera_id = _known_camera(request)
    who = actor(request, request.query.get("actor"))
    try:
        status = await context(request).client.clear_maintenance(camera_id, who)
    except CameraNotSupported as exc:
        return error(409, str(exc))
    except CameraActionError as exc:
        return error(400, str(exc))
    return web.json_response(camera_json(status))


# camera actions -------------------------------------------------------------------------


async def _snapshot(request: web.Request) -> web.Response:
    camera_id = _known_camera(request)
    jpeg = await _act(context(request).client.camera_snapshot(camera_id))
    return web.Response(body=jpeg, content_type="image/jpeg",
                        headers={"Cache-Control": "no-store"})


async def _ptz_status(request: web.Request) -> web.Response:
    camera_id = _known_camera(request)
    position = await _act(context(request).client.ptz_status(camera_id))
    return web.json_response(ptz_position_json(position))


async def _ptz_presets(request: web.Request) -> web.Response:
    camera_id = _known_camera(request)
    presets = await _act(context(request).client.ptz_presets(camera_id))
    return web.json_response({"presets": [ptz_preset_json(p) for p in presets]})


def _velocity(body: dict[str, Any], name: str) -> float:
    value = body.get(name, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) \
            or not -PTZ_LIMIT <= value <= PTZ_LIMIT:
        raise BadRequest(f"{name!r} must be a number from -1 to 1")
    return float(value)


async def _ptz_move(request: web.Request) -> web.Response:
    camera_id = _known_camera(request)
    body = await json_object(request)
    pan, tilt, zoom = (_velocity(body, name) for name in ("pan", "tilt", "zoom"))
    position = await _act(context(request).client.ptz_move(camera_id, pan, tilt, zoom))
    return web.json_response(ptz_position_json(position))


async def _goto_preset(request: web.Request) -> web.Response:
    camera_id = _known_camera(request)
    await _act(context(request).client.ptz_goto_preset(camera_id, request.match_info["token"]))
    return web.json_response({"ok": True})


async def _reboot(request: web.Request) -> web.Response:
    camera_id = _known_camera(request)
    body = await _optional_body(request)
    answer = await _act(context(request).client.reboot_camera(camera_id,
                                                       actor(request, body.get("actor"))))
    return web.json_response({"answer": answer})


async def _diagnose(request: web.Request) -> web.Response:
    camera_id = _known_camera(request)
    report = await _act(context(request).client.diagnose_camera(camera_id))
    return web.json_response(report_json(report))


# the camera's live events -----------------------------------------------------------------


def _still_granted(api: ApiContext, who: Principal, camera_id: str) -> bool:
    current = api.auth.current(who)
    return current is not None and current.sees_camera(camera_id)


async def _forward(ws: web.WebSocketResponse, api: ApiContext, who: Principal,
                   camera_id: str) -> tuple[int, str]:
    """Send the camera's events until the socket or the grant goes; the close to send."""
    events: AsyncIterator[Any] = api.client.camera_events(camera_id)
    try:
        async for event in events:
            if not _still_granted(api, who, camera_id):
                return CLOSE_REVOKED, "access revoked"
            await ws.send_json({"type": "camera_event", "data": camera_event_json(event)})
        return WSCloseCode.GOING_AWAY, "the hub is stopping"
    except CameraNotSupported as exc:
        await ws.send_json({"type": "error", "status": 409, "error": str(exc)})
        return CLOSE_NOT_SUPPORTED, "no event service"
    except CameraActionError as exc:
        await ws.send_json({"type": "error", "status": 502, "error": str(exc)})
        return CLOSE_CAMERA_FAILED, "camera events failed"
    except ConnectionResetError:  # the peer went while we sent
        return WSCloseCode.GOING_AWAY, ""
    finally:
        # Closing the generator ends the ONVIF subscription (Unsubscribe).
        if isinstance(events, AsyncGenerator):
            await events.aclose()


async def _watch_grant(api: ApiContext, who: Principal, camera_id: str) -> tuple[int, str]:
    # Polled, not woken by auth.changes(): a dict lookup a second costs nothing, and
    # cancelling a wait inside that shared generator would end it.
    while True:
        if not _still_granted(api, who, camera_id):
            return CLOSE_REVOKED, "access revoked"
        await asyncio.sleep(GRANT_CHECK_S)


async def _drain(ws: web.WebSocketResponse) -> tuple[int, str]:
    """Read (and ignore) what the client sends: needed to see its close and pongs."""
    async for _ in ws:
        pass
    return WSCloseCode.OK, ""


async def _camera_events(request: web.Request) -> web.StreamResponse:
    camera_id = _known_camera(request)
    api, who = context(request), principal(request)
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S)
    await ws.prepare(request)
    tasks = [
        asyncio.create_task(_forward(ws, api, who, camera_id), name=f"events {camera_id}"),
        asyncio.create_task(_watch_grant(api, who, camera_id)),
        asyncio.create_task(_drain(ws)),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finished = next(iter(done))
        failure = finished.exception()
        if failure is None:
            code, message = finished.result()
        else:  # a bug: logged here, since the socket cannot carry a 500 any more
            log.error("api: camera events of %s failed", camera_id, exc_info=failure)
            code, message = WSCloseCode.INTERNAL_ERROR, "internal error"
    finally:
        for task in tasks:
            task.cancel()
        # Cancelling _forward closes its generator: the camera unsubscribe runs here.
        await asyncio.gather(*tasks, return_exceptions=True)
    if code == CLOSE_REVOKED:
        log.info("api: camera events of %s closed for %s: access revoked", camera_id, who.name)
    if not ws.closed:
        with contextlib.suppress(ConnectionResetError):
            await ws.close(code=code, message=message.encode())
    return ws


# vehicles ---------------------------------------------------------------------------------


def _known_vehicle(request: web.Request) -> str:
    vehicle_id = request.match_info["id"]
    if context(request).client.vehicle(vehicle_id) is None:
        raise web.HTTPNotFound(reason=f"no vehicle {vehicle_id!r}")
    return vehicle_id


async def _vehicles(request: web.Request) -> web.Response:
    vehicles = context(request).client.vehicles()
    return web.json_response({"vehicles": [vehicle_json(v) for v in vehicles]})


async def _vehicle(request: web.Request) -> web.Response:
    status = context(request).client.vehicle(_known_vehicle(request))
    assert status is not None  # _known_vehicle checked it
    return web.json_response(vehicle_json(status))


async def _track(request: web.Request) -> web.Response:
    vehicle_id = _known_vehicle(request)
    since = parse_time(request.query.get("since"), "since")
    if since is None:
        # Fixes carry GPS time: the hour before the latest fix (a simulated city runs on
        # its own clock, and a car out of coverage still shows where it was last).
        status = context(request).client.vehicle(vehicle_id)
        latest = status.position.at if status and status.position else datetime.now(UTC)
        since = latest - DEFAULT_TRACK
    points = await context(request).client.track(vehicle_id, since)
    return web.json_response({"points": [track_point_json(p) for p in points]})


# the route table ----------------------------------------------------------------------------

_CAMERA = {"name": "camera", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "camera id"}
_VEHICLE = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "vehicle id"}
_ACTION_ERRORS = {
    "404": {"description": "unknown camera (or not granted)"},
    "409": {"description": "the camera cannot do this at all (not a PTZ camera, ...)"},
    "502": {"description": "the camera failed (unreachable, credentials rejected, ...)"},
}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"required": bool(required), "content": {"application/json": {"schema": {
        "type": "object", "required": required, "properties": properties}}}}


_VELOCITY = {"type": "number", "minimum": -PTZ_LIMIT, "maximum": PTZ_LIMIT, "default": 0}
_ACTOR = {"type": "string", "description": "the person at a shared console (audit)"}

ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/sites", _sites, CAMERA_VIEWERS,
          "Sites (organisations owning cameras); a partner sees those of its granted cameras"),
    Route("GET", "/api/cameras", _cameras, CAMERA_VIEWERS,
          "Every camera with its state and latest stream sample (a partner: granted ones)"),
    Route("GET", "/api/cameras/{camera}", _camera, CAMERA_VIEWERS,
          "One camera: state, ONVIF facts (no credentials), stream sample, owning site",
          doc={"parameters": [_CAMERA]}),
    Route("GET", "/api/cameras/{camera}/history", _history, CAMERA_VIEWERS,
          "A camera's health transitions, newest first",
          doc={"parameters": [_CAMERA, query_param(
              "limit", f"1-{MAX_HISTORY}, default {DEFAULT_HISTORY}",
              {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY})]}),
    Route("PUT", "/api/cameras/{camera}/maintenance", _set_maintenance, TECHNICIANS,
          "Put a camera in maintenance until a time (at most a week); audited",
          doc={"parameters": [_CAMERA], "requestBody": _body(
              {"until": {"type": "string", "format": "date-time"},
               "reason": {"type": "string"}, "actor": _ACTOR}, ["until", "reason"]),
              "responses": {"400": {"description": "bad time or reason"}}}),
    Route("DELETE", "/api/cameras/{camera}/maintenance", _clear_maintenance, TECHNICIANS,
          "End a camera's maintenance now; audited",
          doc={"parameters": [_CAMERA, query_param("actor", "the person (audit)")]}),
    Route("GET", "/api/cameras/{camera}/snapshot", _snapshot, CAMERA_VIEWERS,
          "The camera's current picture",
          doc={"parameters": [_CAMERA], "responses": {
              "200": {"description": "JPEG", "content": {"image/jpeg": {}}},
              **_ACTION_ERRORS}}),
    Route("GET", "/api/cameras/{camera}/ptz", _ptz_status, WATCHERS,
          "Where the PTZ head is (pan/tilt -1..1, zoom 0..1, null when unknown)",
          doc={"parameters": [_CAMERA], "responses": _ACTION_ERRORS}),
    Route("GET", "/api/cameras/{camera}/ptz/presets", _ptz_presets, WATCHERS,
          "The camera's PTZ presets, in its order",
          doc={"parameters": [_CAMERA], "responses": _ACTION_ERRORS}),
    Route("POST", "/api/cameras/{camera}/ptz", _ptz_move, WATCHERS,
          "One key press: move at these velocities for a short burst, then stop",
          doc={"parameters": [_CAMERA], "requestBody": _body(
              {"pan": _VELOCITY, "tilt": _VELOCITY, "zoom": _VELOCITY}, []),
              "responses": {"400": {"description": "a velocity outside -1..1"},
                            **_ACTION_ERRORS}}),
    Route("POST", "/api/cameras/{camera}/ptz/presets/{token}", _goto_preset, WATCHERS,
          "Start moving to a preset (poll GET ptz to see it arrive)",
          doc={"parameters": [_CAMERA, {"name": "token", "in": "path", "required": True,
                                        "schema": {"type": "string"}}],
               "responses": _ACTION_ERRORS}),
    Route("POST", "/api/cameras/{camera}/reboot", _reboot, TECHNICIANS,
          "Reboot the camera (logged with who); the camera's answer",
          doc={"parameters": [_CAMERA], "requestBody": _body({"actor": _ACTOR}, []),
               "responses": _ACTION_ERRORS}),
    Route("POST", "/api/cameras/{camera}/diagnose", _diagnose, TECHNICIANS,
          "The `citywatch diagnose` report of the camera (takes seconds)",
          doc={"parameters": [_CAMERA], "responses": _ACTION_ERRORS}),
    Route("GET", "/api/cameras/{camera}/events", _camera_events, CAMERA_VIEWERS,
          "WebSocket: the camera's ONVIF events as {type: camera_event, data}",
          websocket=True, doc={"parameters": [_CAMERA]}),
    Route("GET", "/api/vehicles", _vehicles, WATCHERS,
          "Every patrol car with its fix state and last position"),
    Route("GET", "/api/vehicles/{id}", _vehicle, WATCHERS, "One patrol car",
          doc={"parameters": [_VEHICLE]}),
    Route("GET", "/api/vehicles/{id}/track", _track, WATCHERS,
          "A patrol car's fixes since a time (default: the hour before its latest fix), "
          "oldest first",
          doc={"parameters": [_VEHICLE, query_param(
              "since", "ISO 8601 time with zone", {"type": "string", "format": "date-time"})]}),
)
