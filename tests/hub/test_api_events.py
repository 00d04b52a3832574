"""GET /api/events end to end: a hub with two cameras and a vehicle, its API on a loopback
port, tokens of every role in a real token store, aiohttp's WebSocket client.

The hub's camera supervisors are not started (their cameras do not exist, and their
outages would interleave with the events under test): camera changes come from the
hub's own maintenance calls, vehicle changes through its vehicle feed, reads and alerts
through the API, exactly the paths the running hub uses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from hub.alpr_config import AlprConfig, HotlistFile
from hub.api import build_api
from hub.api_events import EVENT_LOG_KEY, REVOKED_CLOSE_CODE
from hub.api_server import ApiServer
from hub.auth import Role, TokenAuthority, TokenStore
from hub.core import Hub
from hub.event_log import parse_cursor
from hub.model import (
    CameraConfig,
    CameraKind,
    FixState,
    Site,
    TrackPoint,
    VehicleConfig,
    VehicleStatus,
)

ADMIN = "admin-bootstrap-token"
HOTLIST_CSV = "plate,list,category,priority\n1-ABC-234,stolen,vehicle,80\n"
# How long a test waits for a frame that must come.
FRAME_TIMEOUT_S = 5.0


def camera(camera_id: str, site: str) -> CameraConfig:
    return CameraConfig(id=camera_id, name=camera_id, site=site, kind=CameraKind.FIXED,
                        onvif_url="http://127.0.0.1:9/onvif/device_service",
                        username="admin", password="s3cret-pass")


CAR = VehicleConfig(id="car-1", name="Car 1", site="police", source="/nonexistent/gps",
                    camera="police-1")


@dataclass
class EventsApi:
    hub: Hub
    app: web.Application
    store: TokenStore
    tokens: dict[str, str]
    base: str
    http: aiohttp.ClientSession

    async def connect(self, role: str = "operator", **params: str
                      ) -> aiohttp.ClientWebSocketResponse:
        token = ADMIN if role == "admin" else self.tokens[role]
        return await self.http.ws_connect(self.base + "/api/events", params=params,
                                          headers={"Authorization": f"Bearer {token}"})

    async def maintenance(self, camera_id: str, reason: str = "lens cleaning") -> None:
        until = datetime.now(UTC) + timedelta(hours=1)
        await self.hub.set_maintenance(camera_id, until, reason, "tester")

    async def post_read(self, plate: str, camera_id: str = "police-1") -> dict[str, Any]:
        body = {"plate": plate, "time": datetime.now(UTC).isoformat(), "camera": camera_id,
                "confidence": 0.9}
        async with self.http.post(self.base + "/api/reads", json=body,
                                  headers={"Authorization": f"Bearer {ADMIN}"}) as response:
            assert response.status == 201
            answer: dict[str, Any] = await response.json()
            return answer


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[EventsApi]:
    hotlist = tmp_path / "national.csv"
    hotlist.write_text(HOTLIST_CSV)
    hub = await Hub.open(
        [Site("police", "Police"), Site("uni", "University")],
        [camera("police-1", "police"), camera("uni-1", "uni")], tmp_path / "data",
        vehicles=[CAR], stream_health=False,
        alpr=AlprConfig(hotlists=(HotlistFile(hotlist, "national"),)))
    await hub.plates.start()
    store = TokenStore(tmp_path / "data")
    tokens = {
        "operator": store.create("desk", Role.OPERATOR),
        "technician": store.create("tech", Role.TECHNICIAN),
        "partner": store.create("university", Role.PARTNER, ["uni-1"]),
        "sensor": store.create("gate", Role.SENSOR),
    }
    app = build_api(hub, TokenAuthority(store, bootstrap=ADMIN))
    server = ApiServer(app, "127.0.0.1", 0)
    port = await server.start()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        yield EventsApi(hub, app, store, tokens, f"http://127.0.0.1:{port}", http)
    await server.stop()
    await hub.stop()


async def frame(ws: aiohttp.ClientWebSocketResponse,
                within: float = FRAME_TIMEOUT_S) -> dict[str, Any]:
    message = await ws.receive(within)
    assert message.type is aiohttp.WSMsgType.TEXT, (message.type, message.data)
    decoded: dict[str, Any] = json.loads(message.data)
    return decoded


async def no_frame(ws: aiohttp.ClientWebSocketResponse, within: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        message = await ws.receive(within)
        pytest.fail(f"unexpected frame: {message.data}")


def seq(cursor: str) -> int:
    parsed = parse_cursor(cursor)
    assert parsed is not None, cursor
    return parsed[1]


async def test_events_of_every_type_arrive_with_increasing_cursors(api: EventsApi) -> None:
    ws = await api.connect("operator")
    hello = await frame(ws)
    assert hello["type"] == "hello" and hello["resumed"] is False
    await api.maintenance("police-1")
    api.hub.vehicle_feed.publish(VehicleStatus(
        CAR, FixState.FIX, position=TrackPoint(datetime.now(UTC), 50.93, 5.33)))
    ack = await api.post_read("1ABC234")  # on the hotlist: a read and an alert
    got: dict[str, dict[str, Any]] = {}
    cursors = [hello["cursor"]]
    while len(got) < 4:
        event = await frame(ws)
        got[event["type"]] = event["data"]
        cursors.append(event["cursor"])
    assert [seq(c) for c in cursors] == sorted({seq(c) for c in cursors})  # strictly rising
    assert got["camera"]["id"] == "police-1" and got["camera"]["shown_state"] == "maintenance"
    assert got["vehicle"]["id"] == "car-1" and got["vehicle"]["position"]["lat"] == 50.93
    assert got["read"]["id"] == ack["reads"][0]["id"] and got["read"]["plate"] == "1ABC234"
    assert got["alert"]["id"] == ack["reads"][0]["alerts"][0]
    assert got["alert"]["hit"]["list"] == "stolen"
    assert "s3cret" not in json.dumps(got)
    await ws.close()


async def test_a_reconnect_resumes_with_exactly_the_missed_events(api: EventsApi) -> None:
    ws = await api.connect("technician")
    await frame(ws)  # hello
    await api.maintenance("police-1", "first")
    seen = await frame(ws)
    await ws.close()
    for reason in ("second", "third"):
        await api.maintenance("uni-1", reason)
    await api.hub.clear_maintenance("police-1", "tester")
    await asyncio.sleep(0.1)  # the event log has followed the feed

    ws = await api.connect("technician", after=seen["cursor"])
    hello = await frame(ws)
    assert hello == {"type": "hello", "cursor": seen["cursor"], "resumed": True}
    missed = [await frame(ws) for _ in range(3)]
    assert [(e["data"]["id"], (e["data"]["maintenance"] or {}).get("reason"))
            for e in missed] == [("uni-1", "second"), ("uni-1", "third"), ("police-1", None)]
    assert [seq(e["cursor"]) for e in missed] == [seq(seen["cursor"]) + i for i in (1, 2, 3)]
    await no_frame(ws)  # no repeat
    await api.maintenance("police-1", "fourth")
    live = await frame(ws)
    assert seq(live["cursor"]) == seq(missed[-1]["cursor"]) + 1
    await ws.close()


async def test_an_unknown_epoch_is_not_resumed_and_a_malformed_cursor_refused(
        api: EventsApi) -> None:
    ws = await api.connect("operator", after="0123456789abcdef:3")
    hello = await frame(ws)
    events = api.app[EVENT_LOG_KEY]
    assert hello == {"type": "hello", "cursor": events.cursor, "resumed": False}
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.connect("operator", after="yesterday")
    assert refused.value.status == 400


async def test_roles_are_enforced_at_the_upgrade(api: EventsApi) -> None:
    for role, params, status in [("sensor", {}, 403), ("partner", {"types": "alert"}, 403),
                                 ("technician", {"types": "read"}, 403),
                                 ("operator", {"types": "camera,weather"}, 400)]:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await api.connect(role, **params)
        assert refused.value.status == status, role
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.http.ws_connect(api.base + "/api/events")
    assert refused.value.status == 401
    # Plain GET (no upgrade): a 400 that says what the route is, not a 500.
    async with api.http.get(api.base + "/api/events",
                            headers={"Authorization": f"Bearer {ADMIN}"}) as response:
        assert response.status == 400


async def test_technicians_get_cameras_and_vehicles_only(api: EventsApi) -> None:
    ws = await api.connect("technician")
    await frame(ws)
    await api.post_read("1ABC234")
    await api.maintenance("uni-1")
    event = await frame(ws)
    assert event["type"] == "camera"  # the read and the alert came first and were held back
    await ws.close()


async def test_a_partner_follows_its_grants_and_loses_the_stream_when_revoked(
        api: EventsApi) -> None:
    ws = await api.connect("partner")
    assert (await frame(ws))["type"] == "hello"
    await api.maintenance("police-1")
    await api.post_read("1ABC234", camera_id="uni-1")
    await api.maintenance("uni-1")
    event = await frame(ws)
    assert (event["type"], event["data"]["id"]) == ("camera", "uni-1")
    api.app[EVENT_LOG_KEY].publish("camera_removed", {"id": "police-1"})
    await no_frame(ws)

    loop = asyncio.get_running_loop()
    api.store.grant("university", ["police-1"])
    api.store.ungrant("university", ["uni-1"])
    changed = loop.time()
    access = await frame(ws, within=3.0)
    assert access["type"] == "access" and access["data"] == {"cameras": ["police-1"]}
    assert loop.time() - changed < 2.0
    assert access["cursor"] == event["cursor"]
    await api.hub.clear_maintenance("uni-1", "tester")
    await api.hub.clear_maintenance("police-1", "tester")
    event = await frame(ws)
    assert (event["type"], event["data"]["id"]) == ("camera", "police-1")

    api.store.revoke("university")
    revoked = loop.time()
    message = await ws.receive(3.0)
    assert message.type is aiohttp.WSMsgType.CLOSE and message.data == REVOKED_CLOSE_CODE
    assert loop.time() - revoked < 2.0


async def test_a_slow_consumer_is_dropped_without_slowing_the_others(api: EventsApi) -> None:
    events = api.app[EVENT_LOG_KEY]
    slow = await api.connect("admin")  # connects, then never reads
    fast = await api.connect("admin")
    await frame(fast)
    padding = "x" * 8_000  # big frames fill the slow client's socket buffers quickly
    sent = 0
    for _ in range(40):
        for _ in range(100):
            events.publish("camera", {"id": "police-1", "n": sent, "padding": padding})
            sent += 1
        # The fast client has the whole batch at once: the slow one holds nobody up.
        for expected in range(sent - 100, sent):
            assert (await frame(fast, within=2.0))["data"]["n"] == expected
        if events.dropped:
            break
    assert events.dropped == 1 and events.subscriber_count == 1
    # The slow client finds its stream closed after what reached its buffers.
    async with asyncio.timeout(FRAME_TIMEOUT_S):
        while (await slow.receive()).type is aiohttp.WSMsgType.TEXT:
            pass
    assert slow.closed
    await fast.close()
