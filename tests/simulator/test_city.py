"""The simulated city on real loopback sockets: endpoints, fault control, and `citywatch sim`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from simulator.city import SimulatedCity
from simulator.cli import run_sim
from simulator.errors import CityStartError
from simulator.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "scenarios" / "small.toml"
CAMERA_KEYS = {"id", "name", "site", "kind", "onvif", "rtsp", "snapshot", "username",
               "password", "street", "lat", "lon", "vendor"}


def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts connections on the port; False if refused."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except ConnectionRefusedError:
        return False


async def atcp_open(port: int) -> bool:
    return await asyncio.to_thread(tcp_open, port)




async def test_endpoints_list_every_camera_with_a_working_port(city: SimulatedCity) -> None:
    ep = city.endpoints()
    assert [g["id"] for g in ep["gps"]] == ["combi-1"]  # small.toml: one patrol car
    assert ep["control"] == city.control_url and ep["control"].startswith("http://127.0.0.1:")
    ids = [c["id"] for c in ep["cameras"]]
    assert ids == [c.id for c in city.scenario.cameras]
    for cam in ep["cameras"]:
        assert CAMERA_KEYS <= cam.keys()
        port = cam["port"]
        assert cam["onvif"] == f"http://127.0.0.1:{port}/onvif/device_service"
        assert cam["rtsp"].startswith("rtsp://127.0.0.1:")
        assert cam["snapshot"].startswith(f"http://127.0.0.1:{port}/")
        assert await atcp_open(port) is (cam["id"] != "centre-002"), cam["id"]
    assert len({c["port"] for c in ep["cameras"]}) == 6
    offline = next(c for c in ep["cameras"] if c["id"] == "centre-002")
    assert offline["faults"] == ["offline"]
    json.dumps(ep)  # serialisable as is


async def test_camera_answers_onvif(city: SimulatedCity) -> None:
    cam = city.cameras["centre-001"]
    body = (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        '<s:Body><GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/>'
        "</s:Body></s:Envelope>"
    )
    async with aiohttp.ClientSession() as s, s.post(
        cam.onvif_url, data=body, headers={"Content-Type": "application/soap+xml"}
    ) as r:
        assert r.status == 200
        assert "2026" in await r.text()  # the scenario's clock, not the wall clock


async def test_write_endpoints_is_atomic_json(city: SimulatedCity, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "endpoints.json"
    city.write_endpoints(path)
    city.write_endpoints(path)  # replacing an existing file works too
    assert json.loads(path.read_text()) == json.loads(json.dumps(city.endpoints()))
    assert os.listdir(path.parent) == ["endpoints.json"]


async def post_fault(url: str, body: object) -> tuple[int, dict[str, object]]:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    async with aiohttp.ClientSession() as s, s.post(f"{url}/faults", data=data) as r:
        assert r.content_type == "application/json"
        return r.status, await r.json()


async def test_control_toggles_offline(city: SimulatedCity) -> None:
    url = city.control_url
    assert url is not None
    port = city.cameras["centre-001"].port
    assert await atcp_open(port)
    status, body = await post_fault(url, {"camera": "centre-001", "fault": "offline", "on": True})
    assert (status, body) == (200, {"camera": "centre-001", "faults": ["offline"]})
    assert not await atcp_open(port)
    status, body = await post_fault(url, {"camera": "centre-001", "fault": "offline", "on": False})
    assert (status, body) == (200, {"camera": "centre-001", "faults": []})
    assert await atcp_open(port)
    assert city.cameras["centre-001"].port == port  # same port after coming back
    # The camera configured offline comes up when its fault is switched off.
    port2 = city.cameras["centre-002"].port
    status, _ = await post_fault(url, {"camera": "centre-002", "fault": "offline", "on": False})
    assert status == 200 and await atcp_open(port2)


async def test_control_lists_cameras_and_endpoints(city: SimulatedCity) -> None:
    await post_fault(city.control_url or "", {"camera": "dump-001", "fault": "slow", "on": True})
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{city.control_url}/cameras") as r:
            assert r.status == 200
            cams = {c["id"]: c for c in await r.json()}
        async with s.get(f"{city.control_url}/endpoints") as r:
            assert r.status == 200
            assert (await r.json())["cameras"][0]["id"] == "centre-001"
    assert cams["centre-002"]["faults"] == ["offline"]
    assert cams["dump-001"]["faults"] == ["slow"]
    assert cams["centre-001"]["faults"] == []
    assert cams["centre-001"]["port"] == city.cameras["centre-001"].port


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ("not json", 400, "body must be JSON"),
        (b"\xff\xfe", 400, "body must be JSON"),
        ([1, 2], 400, "JSON object"),
        ({"camera": "centre-001", "fault": "melted", "on": True}, 400, '"fault" must be one of'),
        ({"camera": "centre-001", "fault": "offline", "on": "yes"}, 400, '"on" must be true'),
        ({"camera": 7, "fault": "offline"}, 400, '"camera" must be a camera id'),
        ({"camera": "centre-001", "fault": "offline", "of": True}, 400, "unknown field 'of'"),
        ({"camera": "nope-001", "fault": "offline", "on": True}, 404, "unknown camera 'nope-001'"),
    ],
)
async def test_control_rejects_bad_requests(
    city: SimulatedCity, body: object, status: int, fragment: str
) -> None:
    got_status, got = await post_fault(city.control_url or "", body)
    assert got_status == status
    assert fragment in str(got["error"])
    assert "Traceback" not in str(got)
    assert city.cameras["centre-001"].faults == frozenset()


async def test_control_unknown_route_is_json(city: SimulatedCity) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{city.control_url}/nope") as r:
            assert r.status == 404 and "error" in await r.json()
        async with s.get(f"{city.control_url}/faults") as r:
            assert r.status == 405 and "error" in await r.json()


async def test_stop_closes_every_port(video_cache: Path) -> None:
    c = SimulatedCity(load_scenario(SMALL), video_cache_dir=video_cache, prewarm=False)
    await c.start()
    assert await atcp_open(c.rtsp.port)
    ports = [cam.port for cam in c.cameras.values()] + [c.rtsp.port]
    control = int((c.control_url or "").rsplit(":", 1)[1])
    await c.stop()
    await c.stop()  # twice is fine
    for port in [*ports, control]:
        assert not await atcp_open(port)


async def test_port_in_use_is_a_clear_error() -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    others = range(port + 1, port + 6)
    try:
        open_before = [p for p in others if await atcp_open(p)]  # not ours
        c = SimulatedCity(load_scenario(SMALL), base_port=port)
        with pytest.raises(CityStartError, match=rf"cannot start camera centre-001 on 127\.0\.0\.1:"
                           rf"{port}: Address already in use"):
            await c.start()
        # The cameras that did start were closed again.
        assert [p for p in others if await atcp_open(p)] == open_before
        assert c.control_url is None
    finally:
        blocker.close()


def test_speed_outside_range() -> None:
    with pytest.raises(CityStartError, match="speed must be from 1 to 60, got 61"):
        SimulatedCity(load_scenario(SMALL), speed=61)


def test_run_sim_bad_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.read_text().replace("count = 3", 'count = "three"'))
    assert run_sim(bad, None, None) == 2
    err = capsys.readouterr().err
    assert f'{bad}:' in err and 'camera_groups[0].count: must be a positive integer, got "three"' \
        in err
    assert "Traceback" not in err


def test_run_sim_bad_speed(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_sim(SMALL, 0.5, None) == 2
    assert "--speed must be from 1 to 60, got 0.5" in capsys.readouterr().err


SIM = (
    "import json, sys; from pathlib import Path; from simulator.cli import run_sim; "
    "sys.exit(run_sim(Path(sys.argv[1]), None, Path(sys.argv[2]), **json.loads(sys.argv[3])))"
)


def start_sim(endpoints: Path, extra: str = "{}") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SIM, str(SMALL), str(endpoints), extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_sim_subprocess_runs_and_stops_on_sigterm(tmp_path: Path) -> None:
    endpoints = tmp_path / "endpoints.json"
    proc = start_sim(endpoints)
    try:
        deadline = time.monotonic() + 15
        while not endpoints.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "endpoints file never appeared"
            time.sleep(0.05)
        ep = json.loads(endpoints.read_text())
        ports = [c["port"] for c in ep["cameras"]]
        control = int(ep["control"].rsplit(":", 1)[1])
        assert len(ports) == 6
        for cam in ep["cameras"]:
            assert tcp_open(cam["port"]) is (cam["id"] != "centre-002")
        assert tcp_open(control) and tcp_open(ep["rtsp_port"])
        ports.append(ep["rtsp_port"])
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "6 cameras (1 with faults) on 127.0.0.1:" in out and "Ctrl-C to stop" in out
    assert f"RTSP rtsp://127.0.0.1:{ep['rtsp_port']}/" in out
    assert "Traceback" not in err
    for port in [*ports, control]:
        assert not tcp_open(port)


def test_sim_subprocess_port_in_use_exits_1(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        proc = start_sim(tmp_path / "e.json", json.dumps({"base_port": port}))
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 1
    assert f"citywatch sim: cannot start camera centre-001 on 127.0.0.1:{port}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "e.json").exists()


def test_load_scenario_or_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cli import load_scenario_or_report

    assert load_scenario_or_report(SMALL) is not None
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.read_text().replace('fault = "offline"', 'fault = "gone"'))
    assert load_scenario_or_report(bad) is None
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{bad}:") and 'faults[0].fault: must be one of' in err[0]
    assert err[-1] == f"citywatch: {bad}: 1 problem; nothing started"
