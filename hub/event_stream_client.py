"""Follows a hub's /api/events WebSocket for as long as the caller iterates, across
disconnects and hub restarts (the protocol is in docs/api.md, "Event stream").

`async for event in EventStreamClient(session)` yields a StreamEvent per event frame. On
every (re)connection the hub first says hello; when it could not resume from our last
cursor (the first connection, a restarted hub, a gap longer than its backlog) this yields
StreamEvent(type="reset") before anything else: the consumer must re-read the state over
REST, then apply the events that follow. A refused token (401) or role (403) ends the
iteration with ApiAuthError / ApiForbidden instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from hub.api_session import ApiSession
from hub.errors import ApiAuthError, ApiClientError, ApiForbidden, ApiNotFound

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/events"
# Waits before reconnecting after the n-th failed attempt in a row (the last repeats): a
# restarted hub is back within seconds, so start fast; cap at 10 s so an operator is
# never more than that behind once the hub is back.
RECONNECT_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0)
# +-20 % so that the TUIs of a whole control room do not reconnect in lockstep.
RECONNECT_JITTER = 0.2
# The hello is the hub's first frame; a hub that accepts the upgrade but says nothing
# for this long is treated as a failed connection.
HELLO_TIMEOUT_S = 10.0
# The type of the synthetic event that asks the consumer to re-read the state.
RESET = "reset"
HELLO = "hello"

_CLOSED = frozenset({aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                     aiohttp.WSMsgType.CLOSED})

ConnectionListener = Callable[[bool, str | None], None]


@dataclass(frozen=True)
class StreamEvent:
    """One event of the stream: `type` camera/vehicle/read/alert/access/camera_removed
    (or "reset"), the hub's `cursor` after it, and the new state as JSON."""

    type: str
    cursor: str
    data: dict[str, Any] = field(default_factory=dict)


class StreamProtocolError(ApiClientError):
    """The hub sent something that is not the /api/events protocol."""


class EventStreamClient:
    """The events of one hub, resumable. `connected` and `last_error` describe the
    connection now; `retry_at` (loop time) says when the next attempt is due while
    disconnected; `on_connection(connected, error)` is called on every change."""

    def __init__(
        self,
        session: ApiSession,
        types: Iterable[str] | None = None,
        after: str | None = None,
        *,
        on_connection: ConnectionListener | None = None,
        reconnect_delays_s: Sequence[float] = RECONNECT_DELAYS_S,
    ) -> None:
        self._session = session
        self.types = tuple(types) if types is not None else None
        self.cursor = after
        self.connected = False
        self.last_error: str | None = None
        self.retry_at: float | None = None
        self.connections = 0  # successful connections so far (tests, diagnostics)
        self._on_connection = on_connection
        self._delays = tuple(reconnect_delays_s) or RECONNECT_DELAYS_S
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()

    async def close(self) -> None:
        """Close the current connection (the iteration then reconnects unless cancelled)."""
        if self._ws is not None:
            await self._ws.close()

    def _params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.cursor:
            params["after"] = self.cursor
        if self.types is not None:
            params["types"] = ",".join(self.types)
        return params

    def _set_connected(self, connected: bool, error: str | None = None) -> None:
        changed = connected != self.connected or (error and error != self.last_error)
        self.connected = connected
        if error is not None:
            self.last_error = error
        if changed and self._on_connection is not None:
            self._on_connection(connected, error)

    async def _events(self) -> AsyncIterator[StreamEvent]:
        failures = 0
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    async with aclosing(self._one_connection()) as events:
                        async for event in events:
                            failures = 0
                            yield event
                    error = "the hub closed the event stream"
                except (ApiAuthError, ApiForbidden, ApiNotFound) as exc:
                    self._set_connected(False, str(exc))
                    raise  # retrying cannot help: the token or role is refused
                except ApiClientError as exc:
                    error = str(exc)
                delay = self._delays[min(failures, len(self._delays) - 1)]
                delay *= 1 + random.uniform(-RECONNECT_JITTER, RECONNECT_JITTER)
                failures += 1
                self.retry_at = loop.time() + delay
                self._set_connected(False, error)
                log.info("events: %s; reconnecting in %.1f s", error, delay)
                await asyncio.sleep(delay)
                self.retry_at = None
        finally:
            self.connected = False

    async def _one_connection(self) -> AsyncGenerator[StreamEvent, None]:
        """The events of one WebSocket connection; ends when the hub closes it."""
        ws = await self._session.ws_connect(EVENTS_PATH, self._params())
        self._ws = ws
        try:
            hello = await self._hello(ws)
            self.connections += 1
            self.cursor = hello.cursor
            self._set_connected(True)
            if not hello.data.get("resumed", False):
                yield StreamEvent(RESET, hello.cursor)
            while True:
                try:
                    message = await ws.receive()
                except (aiohttp.ClientError, OSError) as exc:
                    raise self._session.unreachable(exc) from exc
                if message.type in _CLOSED:
                    break
                if message.type is aiohttp.WSMsgType.ERROR:
                    raise self._session.unreachable(ws.exception() or OSError("ws error"))
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue  # binary frames are not part of the protocol
                event = self._parse(message.data)
                if event is None:
                    continue
                self.cursor = event.cursor
                yield event
            if ws.close_code not in (None, aiohttp.WSCloseCode.OK):
                log.info("events: closed by the hub with code %s", ws.close_code)
        finally:
            self._ws = None
            await ws.close()

    async def _hello(self, ws: aiohttp.ClientWebSocketResponse) -> StreamEvent:
        try:
            async with asyncio.timeout(HELLO_TIMEOUT_S):
                message = await ws.receive()
        except TimeoutError as exc:
            raise self._session.unreachable(exc) from exc
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise StreamProtocolError(
                f"hub {self._session.base_url} closed the event stream before its hello")
        event = self._parse(message.data)
        if event is None or event.type != HELLO:
            raise StreamProtocolError(
                f"hub {self._session.base_url}: the event stream did not start with hello")
        return event

    def _parse(self, text: str) -> StreamEvent | None:
        """One frame as a StreamEvent; None (logged) for a frame we cannot use."""
        try:
            frame = json.loads(text)
        except ValueError:
            log.warning("events: a frame that is not JSON (%d chars) skipped", len(text))
            return None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            log.warning("events: a frame without a type skipped")
            return None
        data = frame.get("data")
        if frame["type"] == HELLO:
            data = {"resumed": bool(frame.get("resumed", False))}
        return StreamEvent(frame["type"], str(frame.get("cursor", "")),
                           data if isinstance(data, dict) else {})
