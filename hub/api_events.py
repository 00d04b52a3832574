"""GET /api/events: the hub's event stream over a WebSocket (protocol in docs/api.md,
"Event stream"), resumable from a cursor, filtered by the caller's role and grants.

Frames (JSON text, server to client only):
  {"type": "hello", "cursor": C, "resumed": bool}            first
  {"type": "camera"|"vehicle"|"read"|"alert"|"camera_removed", "cursor": C, "data": {...}}
  {"type": "access", "cursor": C, "data": {"cameras": [...]}} a partner's grants changed
Close codes: 1001 the hub is going away, 1013 the client fell behind (reconnect with the
cursor), 4401 the token was revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging

from aiohttp import WSCloseCode, web

from hub.api_routes import (
    CAMERA_VIEWERS,
    ApiContext,
    BadRequest,
    Route,
    context,
    principal,
    query_param,
)
from hub.auth import Principal, Role
from hub.event_log import (
    CAMERA,
    CAMERA_REMOVED,
    STREAM_TYPES,
    VEHICLE,
    Event,
    EventLog,
    SubscriberDropped,
    Subscription,
    parse_cursor,
)

log = logging.getLogger(__name__)

EVENT_LOG_KEY: web.AppKey[EventLog] = web.AppKey("citywatch_event_log", EventLog)

# WebSocket-level pings (spec: 15 s): a vanished client is noticed within 1.5 periods.
HEARTBEAT_S = 15.0
# A frame that cannot be handed to the socket in this long means the client stopped
# reading: it is closed with 1013 like one whose queue overflowed.
SEND_TIMEOUT_S = 10.0
# A polite close to a client that stopped reading cannot complete; do not wait longer.
CLOSE_TIMEOUT_S = 2.0
# Application close code for a revoked token (4000-4999 are ours; 4401 mirrors HTTP 401).
REVOKED_CLOSE_CODE = 4401

ACCESS = "access"
HELLO = "hello"

# What each role may follow (admin: everything). camera_removed goes with "camera".
ROLE_TYPES: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(STREAM_TYPES),
    Role.OPERATOR: frozenset(STREAM_TYPES),
    Role.TECHNICIAN: frozenset({CAMERA, VEHICLE}),
    Role.PARTNER: frozenset({CAMERA}),
}


class _End(enum.Enum):
    """Why a connection ends, with the close code it gets."""

    CLIENT_GONE = WSCloseCode.OK
    SHUTDOWN = WSCloseCode.GOING_AWAY
    TOO_SLOW = WSCloseCode.TRY_AGAIN_LATER
    REVOKED = REVOKED_CLOSE_CODE


def install(app: web.Application, api: ApiContext) -> None:
    """One EventLog per API app: follows the hub from startup, ends its streams first at
    shutdown (so open WebSockets do not hold the shutdown grace)."""
    events = EventLog()
    app[EVENT_LOG_KEY] = events

    async def start(_: web.Application) -> None:
        await events.start(api.hub)

    async def end_streams(_: web.Application) -> None:
        events.end_subscriptions()

    async def stop(_: web.Application) -> None:
        await events.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(end_streams)
    app.on_cleanup.append(stop)


def requested_types(text: str | None, role: Role) -> frozenset[str]:
    """The `types` query parameter for a caller of `role`: 400 for an unknown type, 403
    for one the role may not follow; default every type it may follow."""
    allowed = ROLE_TYPES.get(role, frozenset())
    if not text:
        return allowed
    asked = frozenset(t.strip() for t in text.split(",") if t.strip())
    unknown = sorted(asked - set(STREAM_TYPES))
    if unknown:
        raise BadRequest(f"types: unknown {', '.join(unknown)} (known: {', '.join(STREAM_TYPES)})")
    refused = sorted(asked - allowed)
    if refused:
        raise web.HTTPForbidden(reason=f"this {role} token may not follow {', '.join(refused)}")
    return asked or allowed


async def _events(request: web.Request) -> web.StreamResponse:
    caller = principal(request)
    types = requested_types(request.query.get("types"), caller.role)
    after = request.query.get("after") or None
    if after is not None and parse_cursor(after) is None:
        raise BadRequest("after: not a cursor (EPOCH:SEQ from a hello or event)")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S)
    if not ws.can_prepare(request).ok:
        raise BadRequest("/api/events is a WebSocket: send an upgrade request")
    await ws.prepare(request)
    connection = _Connection(ws, context(request), caller, types)
    code: int
    try:
        code = (await connection.run(request.app[EVENT_LOG_KEY], after)).value
    except Exception:  # the connection's outermost handler: log it, close the socket
        log.exception("events: the stream of %s failed", caller.name)
        code = WSCloseCode.INTERNAL_ERROR
    # A client that stopped reading cannot take a polite close: aiohttp drops the
    # connection when the close is cut short.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await ws.close(code=code)
    return ws


class _Connection:
    """One subscriber's WebSocket: sends its events, watches its grants and its socket."""

    def __init__(self, ws: web.WebSocketResponse, api: ApiContext, caller: Principal,
                 types: frozenset[str]) -> None:
        self._ws = ws
        self._api = api
        self._caller = caller
        self._types = types
        self._cursor = ""
        self._send_lock = asyncio.Lock()  # frames from the pump and the grant watcher

    def visible(self, event: Event) -> bool:
        kind = CAMERA if event.type == CAMERA_REMOVED else event.type
        if kind not in self._types:
            return False
        grants = self._caller.cameras
        return grants is None or (event.camera is not None and event.camera in grants)

    async def run(self, events: EventLog, after: str | None) -> _End:
        resumed, backlog, live = events.subscribe(after)
        try:
            self._cursor = after if resumed and after else events.cursor
            await self._send(json.dumps({"type": HELLO, "cursor": self._cursor,
                                         "resumed": resumed}))
            for event in backlog:
                await self._send_event(event)
            return await self._serve(live)
        except TimeoutError:
            return _End.TOO_SLOW
        except ConnectionResetError:
            return _End.CLIENT_GONE
        finally:
            live.close()

    async def _serve(self, live: Subscription) -> _End:
        tasks = [
            asyncio.create_task(self._pump(live), name="events:pump"),
            asyncio.create_task(self._until_dropped(live), name="events:dropped"),
            asyncio.create_task(self._watch_grants(), name="events:grants"),
            asyncio.create_task(self._read_until_closed(), name="events:reader"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            return next(iter(done)).result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _pump(self, live: Subscription) -> _End:
        try:
            async for event in live:
                await self._send_event(event)
        except SubscriberDropped:
            return _End.TOO_SLOW
        except TimeoutError:
            return _End.TOO_SLOW
        except ConnectionResetError:
            return _End.CLIENT_GONE
        return _End.SHUTDOWN

    async def _until_dropped(self, live: Subscription) -> _End:
        await live.wait_dropped()
        return _End.TOO_SLOW

    async def _read_until_closed(self) -> _End:
        async for _ in self._ws:
            pass  # the protocol has no client frames; reading handles pongs and the close
        return _End.CLIENT_GONE

    async def _watch_grants(self) -> _End:
        """Close a revoked token's stream; tell a partner its new grants, within
        RELOAD_CHECK_S of the change (hub.auth)."""
        auth = self._api.auth
        # Cancelling the anext() below ends this generator too: nothing to close.
        changes = auth.changes()
        while True:
            current = auth.current(self._caller)
            if current is None:
                log.info("events: %s's token was revoked; closing its stream",
                         self._caller.name)
                return _End.REVOKED
            if current.cameras != self._caller.cameras:
                self._caller = current  # from now on the pump filters by the new grants
                if current.cameras is not None:
                    await self._send(json.dumps({
                        "type": ACCESS, "cursor": self._cursor,
                        "data": {"cameras": sorted(current.cameras)}}))
            await anext(changes)

    async def _send_event(self, event: Event) -> None:
        if self.visible(event):
            await self._send(event.frame)
            self._cursor = event.cursor

    async def _send(self, frame: str) -> None:
        async with self._send_lock, asyncio.timeout(SEND_TIMEOUT_S):
            await self._ws.send_str(frame)


_TYPES_DOC = ", ".join(STREAM_TYPES)

ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/events", _events, CAMERA_VIEWERS,
          "Live event stream (WebSocket): camera, vehicle, read and alert changes",
          websocket=True,
          doc={"parameters": [
              query_param("after", "resume after this cursor (EPOCH:SEQ of the last event "
                                   "seen); without it the stream starts now"),
              query_param("types", f"comma-separated subset of {_TYPES_DOC}; default every "
                                   "type the caller's role may follow"),
          ]}),
)
