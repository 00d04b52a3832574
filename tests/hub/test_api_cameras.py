"""The camera and vehicle routes end to end: a small simulated city (a PTZ dome, a fixed
bullet, a partner's camera, a patrol car), a real hub on it, its API on a loopback port,
real HTTP and WebSocket requests with aiohttp's client."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from hub.api import build_api
from hub.api_cameras import CLOSE_REVOKED
from hub.api_json import (
    camera_status_from_json,
    ptz_position_from_json,
    report_from_json,
    track_point_from_json,
    transition_from_json,
    vehicle_from_json,
)
from hub.api_server import ApiServer
from hub.auth import Role, TokenAuthority, TokenStore
from hub.core import Hub
from hub.endpoints_config import config_from_endpoints
from hub.gps_supervisor import GpsTiming
from hub.health_thresholds import HealthPolicy, HealthThresholds
from hub.model import FixState, HealthState
from hub.supervisor import SupervisorTiming
from simulator.city import SimulatedCity
from simulator.onvif_snapshot import snapshot_size
from simulator.scenario import parse_scenario

ADMIN = "admin-t0ken-for-tests"
DOME, BULLET, CAMPUS, CAR = "dome-001", "bullet-001", "campus-001", "combi-1"

# 10x: a dome's preset move and a 20-40 s reboot take a few real seconds at most.
CITY = """
[scenario]
name = "API cameras"
seed = 3
start = 2026-03-02T08:00:00Z
duration = "10m"
speed = 10.0
bounds = { lat = [50.90, 50.96], lon = [5.30, 5.38] }

[[sites]]
id = "city"
name = "Stad Hasselt"
kind = "city"

[[sites]]
id = "police"
name = "Politiezone LRH"
kind = "police"

[[sites]]
id = "uhasselt"
name = "UHasselt"
kind = "partner"

[[camera_groups]]
id = "dome"
site = "city"
kind = "fixed"
count = 1
vendor = "axis"
streets = ["Grote Markt"]
stream = { width = 1280, height = 720, fps = 15, codec = "H264", bitrate_kbps = 1024 }
username = "admin"
password = "Hass3lt-cam"
ptz = true

[[camera_groups]]
id = "bullet"
site = "city"
kind = "fixed"
count = 1
vendor = "axis"
streets = ["Havermarkt"]
stream = { width = 1280, height = 720, fps = 15, codec = "H264", bitrate_kbps = 1024 }
username = "admin"
password = "Hass3lt-cam"
ptz = false

[[camera_groups]]
id = "campus"
site = "uhasselt"
kind = "fixed"
count = 1
vendor = "axis"
streets = ["Martelarenlaan"]
username = "root"
password = "campus-Hasselt"

[[vehicles]]
id = "combi-1"
name = "Combi 1"
site = "police"
route = "centre"
speed = { cruise_kmh = 30, stops = 2 }
receiver = { profile = "ublox", rate_hz = 1 }
"""


@dataclass
class Api:
    city: SimulatedCity
    hub: Hub
    base: str
    http: aiohttp.ClientSession
    tokens: TokenStore

    async def call(self, method: str, path: str, *, token: str = ADMIN,
                   **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        async with self.http.request(method, self.base + path, headers=headers,
                                     **kwargs) as response:
            body = await response.read()
            if response.content_type == "application/json":
                return response.status, json.loads(body)
            return response.status, body

    def events(self, camera: str, token: str = ADMIN) -> Any:
        return self.http.ws_connect(f"{self.base}/api/cameras/{camera}/events",
                                    headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    (tmp_path / "gps").mkdir()
    city = SimulatedCity(parse_scenario(CITY), gps_dir=tmp_path / "gps", prewarm=False)
    await city.start()
    config = config_from_endpoints(city.endpoints(), "simulator")
    timing = SupervisorTiming(poll_interval_s=0.2, backoff_steps_s=(0.1, 0.3), jitter=0.0,
                              call_timeout_s=2.0)
    quick = HealthPolicy(HealthThresholds(down_after_s=0.5, ok_after_s=0.5))
    hub = await Hub.open(list(config.sites), list(config.cameras), tmp_path / "data", timing,
                         list(config.vehicles), gps_timing=GpsTiming(reconnect_interval_s=0.2),
                         stream_health=False, health=quick)
    await hub.start()
    tokens = TokenStore(tmp_path / "data")
    server = ApiServer(build_api(hub, TokenAuthority(tokens, bootstrap=ADMIN)), "127.0.0.1", 0)
    port = await server.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            yield Api(city, hub, f"http://127.0.0.1:{port}", http, tokens)
    finally:
        await server.stop()
        await hub.stop()
        await city.stop()


async def wait_until(check: Any, limit_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {limit_s} s"
        await asyncio.sleep(0.05)


def camera_ok(api: Api, camera_id: str) -> bool:
    status = api.hub.camera(camera_id)
    return status is not None and status.state is HealthState.OK


# cameras --------------------------------------------------------------------------------


async def test_sites_cameras_detail_and_history(api: Api) -> None:
    await wait_until(lambda: camera_ok(api, DOME), what="dome ok")
    status, body = await api.call("GET", "/api/sites")
    assert status == 200
    assert {s["id"] for s in body["sites"]} == {"city", "police", "uhasselt"}

    status, body = await api.call("GET", "/api/cameras")
    assert status == 200
    cameras = {c["id"]: camera_status_from_json(c) for c in body["cameras"]}
    assert set(cameras) == {DOME, BULLET, CAMPUS}
    assert cameras[DOME].state is HealthState.OK and cameras[DOME].config.site == "city"
    assert cameras[DOME].facts is not None and cameras[DOME].facts.manufacturer == "AXIS"

    status, body = await api.call("GET", f"/api/cameras/{DOME}")
    assert status == 200
    assert body["owner"] == {"id": "city", "name": "Stad Hasselt"}
    detail = camera_status_from_json(body)
    hub_status = api.hub.camera(DOME)
    assert hub_status is not None and hub_status.facts is not None
    assert detail.facts is not None
    assert detail.facts.firmware == hub_status.facts.firmware
    assert detail.facts.profiles == hub_status.facts.profiles
    assert detail.config.name == hub_status.config.name
    text = json.dumps(body)
    assert "Hass3lt-cam" not in text and "onvif_url" not in text

    status, body = await api.call("GET", f"/api/cameras/{DOME}/history?limit=5")
    assert status == 200
    transitions = [transition_from_json(t) for t in body["transitions"]]
    assert 1 <= len(transitions) <= 5
    assert transitions[0].camera_id == DOME and transitions[0].new_state is HealthState.OK

    assert (await api.call("GET", "/api/cameras/nope"))[0] == 404
    assert (await api.call("GET", f"/api/cameras/{DOME}/history?limit=0"))[0] == 400


async def test_snapshot_ptz_and_presets(api: Api) -> None:
    status, jpeg = await api.call("GET", f"/api/cameras/{DOME}/snapshot")
    assert status == 200
    main = api.city.cameras[DOME].spec.profiles[0]
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG"
        assert image.size == snapshot_size(main.width, main.height)

    status, body = await api.call("GET", f"/api/cameras/{DOME}/ptz")
    assert status == 200
    before = ptz_position_from_json(body)
    status, body = await api.call("POST", f"/api/cameras/{DOME}/ptz", json={"pan": 0.1})
    assert status == 200
    after = ptz_position_from_json(body)
    assert before.pan is not None and after.pan is not None and after.pan > before.pan

    status, body = await api.call("GET", f"/api/cameras/{DOME}/ptz/presets")
    assert status == 200 and body["presets"][0]["name"] == "Overview"
    token = body["presets"][0]["token"]
    status, body = await api.call("POST", f"/api/cameras/{DOME}/ptz/presets/{token}")
    assert (status, body) == (200, {"ok": True})

    async def home() -> bool:
        _, body = await api.call("GET", f"/api/cameras/{DOME}/ptz")
        return not body["moving"] and abs(body["pan"]) < 1e-6 and abs(body["tilt"]) < 1e-6

    deadline = time.monotonic() + 10
    while not await home():
        assert time.monotonic() < deadline, "the dome never reached its preset"
        await asyncio.sleep(0.1)


async def test_camera_action_errors(api: Api) -> None:
    status, body = await api.call("POST", f"/api/cameras/{BULLET}/ptz", json={"tilt": 0.5})
    assert status == 409 and "not a PTZ camera" in body["error"]
    assert (await api.call("GET", f"/api/cameras/{BULLET}/ptz/presets"))[0] == 409
    for bad in ({"pan": 2}, {"pan": "left"}, {"zoom": True}, {"tilt": -1.5}, [0.5]):
        status, body = await api.call("POST", f"/api/cameras/{DOME}/ptz", json=bad)
        assert status == 400, bad
        assert "error" in body
    status, _ = await api.call("POST", f"/api/cameras/{DOME}/ptz", data=b"pan=1",
                               headers={"Content-Type": "application/json"})
    assert status == 400
    for method, path in (("GET", "/snapshot"), ("POST", "/ptz"), ("POST", "/reboot"),
                         ("POST", "/diagnose"), ("GET", "/history")):
        status, body = await api.call(method, f"/api/cameras/nope{path}", json={})
        assert status == 404, path
    # A camera that is gone: the action failed, the caller learns why (502).
    await api.city.set_camera_fault(BULLET, "offline", True)
    status, body = await api.call("GET", f"/api/cameras/{BULLET}/snapshot")
    assert status == 502 and body["error"].startswith(api.city.cameras[BULLET].spec.name)


async def test_maintenance_set_and_clear(api: Api) -> None:
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    status, body = await api.call("PUT", f"/api/cameras/{DOME}/maintenance",
                                  json={"until": until.isoformat(), "reason": "lens cleaning",
                                        "actor": "jan"})
    assert status == 200
    assert body["shown_state"] == "maintenance"
    assert body["maintenance"]["reason"] == "lens cleaning"
    assert body["maintenance"]["actor"] == "hub/jan"  # the bootstrap token acts as "hub"
    assert datetime.fromisoformat(body["maintenance"]["until"]) == until
    hub_status = api.hub.camera(DOME)
    assert hub_status is not None and hub_status.maintenance is not None

    status, body = await api.call("DELETE", f"/api/cameras/{DOME}/maintenance?actor=jan")
    assert status == 200 and body["maintenance"] is None
    assert body["shown_state"] != "maintenance"

    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for bad in ({"until": until.isoformat()}, {"until": until.isoformat(), "reason": " "},
                {"until": "2026-03-02T10:00:00", "reason": "x"}, {"reason": "x"},
                {"until": past, "reason": "x"}, {"until": 5, "reason": "x"}):
        status, body = await api.call("PUT", f"/api/cameras/{DOME}/maintenance", json=bad)
        assert status == 400, bad
        assert body["error"]


async def test_diagnose_and_reboot(api: Api) -> None:
    await wait_until(lambda: camera_ok(api, BULLET), what="bullet ok")
    status, body = await api.call("POST", f"/api/cameras/{BULLET}/diagnose")
    assert status == 200
    report = report_from_json(body)
    assert report.device.manufacturer == "AXIS"
    assert report.profiles and report.ptz is False
    assert "Hass3lt-cam" not in json.dumps(body)

    status, body = await api.call("POST", f"/api/cameras/{BULLET}/reboot",
                                  json={"actor": "jan"})
    assert status == 200 and body["answer"].startswith("Rebooting in ")
    cam = api.city.cameras[BULLET]
    await wait_until(lambda: not cam.powered, 5.0, "power off after the reboot")


async def test_roles_on_camera_routes(api: Api) -> None:
    operator = api.tokens.create("desk", Role.OPERATOR)
    technician = api.tokens.create("tech", Role.TECHNICIAN)
    await asyncio.sleep(1.0)  # the authority re-reads the token file every 0.5 s
    assert (await api.call("POST", f"/api/cameras/{DOME}/reboot", token=operator))[0] == 403
    assert (await api.call("PUT", f"/api/cameras/{DOME}/maintenance", token=operator,
                           json={}))[0] == 403
    assert (await api.call("GET", f"/api/cameras/{DOME}/ptz", token=operator))[0] == 200
    assert (await api.call("GET", "/api/vehicles", token=technician))[0] == 200


# partners ---------------------------------------------------------------------------------


async def test_partner_sees_granted_cameras_only(api: Api) -> None:
    partner = api.tokens.create("uni", Role.PARTNER, [CAMPUS])
    await asyncio.sleep(1.0)  # the authority re-reads the token file every 0.5 s
    status, body = await api.call("GET", "/api/cameras", token=partner)
    assert status == 200 and [c["id"] for c in body["cameras"]] == [CAMPUS]
    status, body = await api.call("GET", "/api/sites", token=partner)
    assert [s["id"] for s in body["sites"]] == ["uhasselt"]
    assert (await api.call("GET", f"/api/cameras/{DOME}", token=partner))[0] == 404
    assert (await api.call("GET", f"/api/cameras/{CAMPUS}", token=partner))[0] == 200
    status, jpeg = await api.call("GET", f"/api/cameras/{CAMPUS}/snapshot", token=partner)
    assert status == 200 and jpeg[:2] == b"\xff\xd8"
    assert (await api.call("GET", f"/api/cameras/{CAMPUS}/ptz", token=partner))[0] == 403
    assert (await api.call("GET", "/api/vehicles", token=partner))[0] == 403


# camera events -----------------------------------------------------------------------------


async def next_event(ws: aiohttp.ClientWebSocketResponse, limit_s: float = 10.0) -> Any:
    message = await ws.receive(timeout=limit_s)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


async def test_camera_events_over_the_websocket(api: Api) -> None:
    cam = api.city.cameras[DOME]
    async with api.events(DOME) as ws:
        first = await next_event(ws)
        # A PullPoint subscription starts with the present state of each property.
        assert first["type"] == "camera_event"
        assert first["data"]["operation"] == "Initialized"
        assert first["data"]["topic"].startswith("tns1:")
        deadline = time.monotonic() + 10
        while True:
            cam.publish_plate("1ABC234")
            frame = await next_event(ws)
            if frame["data"]["kind"] == "plate":
                break
            assert time.monotonic() < deadline, "no plate event"
        # LicensePlateInfo is an ElementItem: its XML travels as the value.
        data = dict(frame["data"]["data"])
        assert ">1ABC234</tt:PlateNumber>" in data["LicensePlateInfo"]
    # The client left: the hub ended the ONVIF subscription.
    await wait_until(lambda: not cam.events.subscriptions, 5.0, "unsubscribe")


async def test_camera_events_unknown_camera_is_404(api: Api) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with api.events("nope"):
            pass
    assert refused.value.status == 404


async def test_partner_events_close_when_the_grant_is_revoked(api: Api) -> None:
    partner = api.tokens.create("uni", Role.PARTNER, [CAMPUS])
    await asyncio.sleep(1.0)
    cam = api.city.cameras[CAMPUS]
    async with api.events(CAMPUS, token=partner) as ws:
        assert (await next_event(ws))["type"] == "camera_event"
        api.tokens.ungrant("uni", [CAMPUS])
        started = time.monotonic()
        while True:
            message = await ws.receive(timeout=5)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
        assert ws.close_code == CLOSE_REVOKED
        assert time.monotonic() - started < 3.0
    await wait_until(lambda: not cam.events.subscriptions, 5.0, "unsubscribe")


# vehicles ------------------------------------------------------------------------------------


async def test_vehicles_and_track(api: Api) -> None:
    def has_fix() -> bool:
        status = api.hub.vehicle(CAR)
        return status is not None and status.state is FixState.FIX and \
            len(api.hub.recent_track(CAR)) >= 2

    await wait_until(has_fix, 15.0, "GPS fix")
    status, body = await api.call("GET", "/api/vehicles")
    assert status == 200 and [v["id"] for v in body["vehicles"]] == [CAR]
    status, body = await api.call("GET", f"/api/vehicles/{CAR}")
    vehicle = vehicle_from_json(body)
    assert vehicle.state is FixState.FIX and vehicle.position is not None
    assert 50.88 < vehicle.position.lat < 50.98 and 5.25 < vehicle.position.lon < 5.42

    # Fixes carry GPS time: the simulated city's clock (2026-03-02 08:00 on), not ours.
    since = (vehicle.position.at - timedelta(minutes=5)).isoformat()
    status, body = await api.call("GET", f"/api/vehicles/{CAR}/track",
                                  params={"since": since})
    assert status == 200
    points = [track_point_from_json(p) for p in body["points"]]
    assert len(points) >= 2
    assert [p.at for p in points] == sorted(p.at for p in points)
    status, body = await api.call("GET", f"/api/vehicles/{CAR}/track")  # the last hour
    assert status == 200 and len(body["points"]) >= 2

    assert (await api.call("GET", "/api/vehicles/nope"))[0] == 404
    assert (await api.call("GET", "/api/vehicles/nope/track"))[0] == 404
    status, _ = await api.call("GET", f"/api/vehicles/{CAR}/track",
                               params={"since": "2026-03-02T10:00:00"})
    assert status == 400
