"""EventStreamClient against a small /api/events server that speaks the protocol of
docs/api.md: the first hello asks for a reset, a dropped connection resumes from the last
cursor, a restarted hub (new epoch) asks for a reset again, a refused token ends the
iteration instead of retrying forever."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from hub.api_session import ApiSession
from hub.errors import ApiAuthError, ApiForbidden
from hub.event_stream_client import RESET, EventStreamClient, StreamEvent

TOKEN = "events-t0ken"
FAST = (0.05, 0.1)  # reconnect delays for the tests


class EventHub:
    """A hub's event stream: numbered events of one epoch, connections it can drop."""

    def __init__(self) -> None:
        self.epoch = secrets.token_hex(4)
        self.events: list[dict[str, Any]] = []
        self.new_event = asyncio.Event()
        self.connects: list[dict[str, str]] = []  # the query of every connection
        self.sockets: list[web.WebSocketResponse] = []
        self.refuse_with: int | None = None
        self.runner: web.AppRunner | None = None
        self.port = 0

    def publish(self, kind: str, data: dict[str, Any]) -> str:
        cursor = f"{self.epoch}:{len(self.events) + 1}"
        self.events.append({"type": kind, "cursor": cursor, "data": data})
        self.new_event.set()
        return cursor

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.connects.append(dict(request.query))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        if self.refuse_with is not None:
            return web.json_response({"error": "no"}, status=self.refuse_with)
        ws = web.WebSocketResponse(heartbeat=15)
        await ws.prepare(request)
        self.sockets.append(ws)
        epoch, _, seq = request.query.get("after", "").partition(":")
        resumed = epoch == self.epoch and seq.isdigit()
        sent = int(seq) if resumed else len(self.events)
        await ws.send_json({"type": "hello", "cursor": f"{self.epoch}:{sent}",
                            "resumed": resumed})
        while not ws.closed:
            for event in self.events[sent:]:
                await ws.send_json(event)
            sent = len(self.events)
            self.new_event.clear()
            waiter = asyncio.ensure_future(self.new_event.wait())
            closed = asyncio.ensure_future(ws.receive())
            done, _ = await asyncio.wait({waiter, closed}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if closed in done:
                break
            closed.cancel()
        return ws

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_get("/api/events", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.port = self.runner.addresses[0][1]
        return f"http://127.0.0.1:{self.port}"

    async def drop_connections(self) -> None:
        for ws in self.sockets:
            await ws.close()
        self.sockets.clear()

    async def stop(self) -> None:
        await self.drop_connections()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def event_hub() -> AsyncIterator[EventHub]:
    hub = EventHub()
    await hub.start()
    yield hub
    await hub.stop()


async def next_event(events: AsyncIterator[StreamEvent], within_s: float = 3) -> StreamEvent:
    return await asyncio.wait_for(anext(events), within_s)


async def test_reset_first_then_events_then_resume_after_a_drop(event_hub: EventHub) -> None:
    url = f"http://127.0.0.1:{event_hub.port}"
    changes: list[bool] = []
    async with ApiSession(url, TOKEN) as api:
        client = EventStreamClient(api, types=["camera", "alert"], reconnect_delays_s=FAST,
                                   on_connection=lambda up, _: changes.append(up))
        events = aiter(client)
        first = await next_event(events)
        assert first.type == RESET and client.connected and changes == [True]
        assert event_hub.connects[0] == {"types": "camera,alert"}
        cursor = event_hub.publish("camera", {"id": "cam-1", "state": "down"})
        event = await next_event(events)
        assert event == StreamEvent("camera", cursor, {"id": "cam-1", "state": "down"})

        await event_hub.drop_connections()
        later = event_hub.publish("camera", {"id": "cam-1", "state": "ok"})
        event = await next_event(events)  # resumed: no reset, the missed event
        assert event.type == "camera" and event.cursor == later
        assert event_hub.connects[-1] == {"after": cursor, "types": "camera,alert"}
        assert changes == [True, False, True] and client.last_error
        await events.aclose()  # type: ignore[attr-defined]


async def test_a_restarted_hub_asks_for_a_reset(event_hub: EventHub) -> None:
    url = f"http://127.0.0.1:{event_hub.port}"
    received: asyncio.Queue[StreamEvent] = asyncio.Queue()

    async def consume(client: EventStreamClient) -> None:
        async for event in client:
            received.put_nowait(event)

    async with ApiSession(url, TOKEN) as api:
        client = EventStreamClient(api, reconnect_delays_s=FAST)
        consumer = asyncio.create_task(consume(client))
        restarted = EventHub()
        try:
            assert (await asyncio.wait_for(received.get(), 3)).type == RESET
            cursor = event_hub.publish("alert", {"id": 1})
            assert (await asyncio.wait_for(received.get(), 3)).cursor == cursor

            await event_hub.stop()
            await asyncio.sleep(0.4)  # a few failed attempts while the hub is down
            assert not client.connected and "unreachable" in (client.last_error or "")
            assert client.retry_at is not None
            await restarted.start(event_hub.port)
            event = await asyncio.wait_for(received.get(), 3)
            assert event.type == RESET and event.cursor.startswith(restarted.epoch)
            assert restarted.connects[0]["after"] == cursor  # it did try to resume
            new = restarted.publish("camera", {"id": "cam-2"})
            assert (await asyncio.wait_for(received.get(), 3)).cursor == new
            assert client.connected and client.connections == 2
        finally:
            consumer.cancel()
            await restarted.stop()


async def test_a_refused_token_is_raised_not_retried(event_hub: EventHub) -> None:
    url = f"http://127.0.0.1:{event_hub.port}"
    async with ApiSession(url, "wrong-token") as api:
        client = EventStreamClient(api, reconnect_delays_s=FAST)
        with pytest.raises(ApiAuthError) as caught:
            await next_event(aiter(client))
    assert len(event_hub.connects) == 1
    assert "wrong-token" not in str(caught.value) and not client.connected


async def test_a_refused_role_is_raised(event_hub: EventHub) -> None:
    event_hub.refuse_with = 403
    async with ApiSession(f"http://127.0.0.1:{event_hub.port}", TOKEN) as api:
        with pytest.raises(ApiForbidden):
            await next_event(aiter(EventStreamClient(api, reconnect_delays_s=FAST)))


async def test_an_unknown_cursor_is_a_reset_from_the_hub_position(event_hub: EventHub) -> None:
    event_hub.publish("camera", {"id": "old"})
    async with ApiSession(f"http://127.0.0.1:{event_hub.port}", TOKEN) as api:
        client = EventStreamClient(api, after="feedbeef:12", reconnect_delays_s=FAST)
        events = aiter(client)
        reset = await next_event(events)
        assert reset.type == RESET and reset.cursor == f"{event_hub.epoch}:1"
        assert event_hub.connects[0]["after"] == "feedbeef:12"
        await events.aclose()  # type: ignore[attr-defined]
