"""The city's RTSP server: what ONVIF says is what plays, camera faults reach the streams,
stream faults are switchable over the control API, and start-up never waits for video."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from drivers.errors import StreamAuthError, StreamRefused
from drivers.onvif import OnvifDevice
from drivers.stream import probe
from simulator.city import SimulatedCity
from simulator.errors import ControlError
from simulator.model import CameraFault
from simulator.scenario import load_scenario
from simulator.stream_faults import StreamFault
from simulator.video import Variant

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "scenarios" / "small.toml"
PROBE_S = 1.0  # seconds of packets per probe: enough for the frame rate at 15 fps




def creds(city: SimulatedCity, camera_id: str) -> tuple[str, str]:
    spec = city.cameras[camera_id].spec
    return spec.username, spec.password


async def rtsp_request(port: int, method: str, url: str,
                       headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One request on a new connection: (status code, response head)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [f"{method} {url} RTSP/1.0", "CSeq: 1", *(f"{k}: {v}" for k, v in
                                                          (headers or {}).items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        async with asyncio.timeout(10):
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
        return int(head.split()[1]), head
    finally:
        writer.close()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# --- ONVIF says it, the stream plays it ---------------------------------------------------------


async def test_onvif_stream_uri_opens_with_the_configured_format(city: SimulatedCity) -> None:
    cam = city.cameras["centre-001"]
    user, password = creds(city, "centre-001")
    device = OnvifDevice(cam.onvif_url, user, password)
    try:
        tokens = [p.token for p in await device.profiles()]
        uri = await device.stream_uri("profile_2")
    finally:
        await device.close()
    assert tokens == ["profile_1", "profile_2"]
    assert uri == f"rtsp://127.0.0.1:{city.rtsp.port}/centre-001/profile_2"
    assert city.endpoints()["cameras"][0]["rtsp"] == cam.stream_uri_for("profile_1")
    # The video is prepared on this first DESCRIBE (held, not refused).
    found = await probe(uri, username=user, password=password, seconds=PROBE_S)
    sub = cam.spec.profiles[1]
    assert (found.codec, found.width, found.height) == ("h264", sub.width, sub.height)
    assert found.fps is not None and abs(found.fps - sub.fps) < 1.5
    assert city.rtsp.ready("centre-001/profile_2") and not city.rtsp.ready("centre-001/profile_1")


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")
async def test_ffprobe_plays_every_h264_stream_of_the_scenario(city: SimulatedCity) -> None:
    await city.rtsp.prepare(variants=(Variant.NORMAL,))  # 8 stream kinds, 2 at a time

    def ffprobe(url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
             "-show_entries", "stream=codec_name,width,height,r_frame_rate", "-of", "json",
             url], capture_output=True, text=True, timeout=30, check=False)

    jobs = []
    for cam in city.cameras.values():
        user, password = creds(city, cam.spec.id)
        for p in cam.spec.profiles:
            assert p.encoding == "H264" and p.token in cam.served_profiles
            url = cam.stream_uri_for(p.token).replace(
                "rtsp://", f"rtsp://{quote(user, safe='')}:{quote(password, safe='')}@")
            jobs.append((cam.spec.id, p, asyncio.to_thread(ffprobe, url)))
    results = await asyncio.gather(*(job for _, _, job in jobs))
    assert len(results) == 12
    for (camera_id, p, _), proc in zip(jobs, results, strict=True):
        if camera_id == "centre-002":  # offline in the scenario: nothing answers
            assert proc.returncode != 0
            continue
        assert proc.returncode == 0, (camera_id, p.token, proc.stderr)
        stream = json.loads(proc.stdout)["streams"][0]
        assert stream == {"codec_name": "h264", "width": p.width, "height": p.height,
                          "r_frame_rate": f"{p.fps}/1"}, (camera_id, p.token)


async def test_jpeg_profiles_are_listed_but_not_served(tmp_path: Path, video_cache: Path) -> None:
    text = SMALL.read_text().replace("stream = { width = 1280, height = 720, fps = 15 }",
                                     'stream = { width = 1280, height = 720, fps = 15, '
                                     'codec = "JPEG" }')
    assert "JPEG" in text
    (tmp_path / "jpeg.toml").write_text(text)
    c = SimulatedCity(load_scenario(tmp_path / "jpeg.toml"), video_cache_dir=video_cache,
                      prewarm=False)
    await c.start()
    try:
        cam = c.cameras["dump-001"]
        assert cam.served_profiles == ()
        entry = next(e for e in c.endpoints()["cameras"] if e["id"] == "dump-001")
        assert [s["served"] for s in entry["streams"]] == [False, False]
        assert entry["rtsp"] == cam.stream_uri_for("profile_1")
        code, _ = await rtsp_request(c.rtsp.port, "DESCRIBE", entry["rtsp"])
        assert code == 404
        with pytest.raises(ControlError, match="JPEG: not served"):
            await c.set_stream_fault("dump-001", StreamFault.STALL, True, "profile_1")
    finally:
        await c.stop()


# --- camera faults reach the streams ------------------------------------------------------------


async def test_offline_camera_streams_are_reset_and_come_back(city: SimulatedCity) -> None:
    cam = city.cameras["centre-002"]  # offline from the start (small.toml)
    user, password = creds(city, "centre-002")
    url = cam.stream_uri_for("profile_2")
    with pytest.raises(StreamRefused):
        await probe(url, username=user, password=password, timeout_s=5, seconds=PROBE_S)
    code, _ = await rtsp_request(city.rtsp.port, "OPTIONS", url)
    assert code == 503  # the nearest to "connection refused" on a port shared by all cameras
    await city.set_camera_fault("centre-002", CameraFault.OFFLINE, False)
    found = await probe(url, username=user, password=password, seconds=PROBE_S)
    assert (found.width, found.height) == (640, 360)
    # A tester's OFFLINE stays when the camera's own state changes.
    await city.set_stream_fault("centre-002", StreamFault.OFFLINE, True)
    await city.set_camera_fault("centre-002", CameraFault.OFFLINE, True)
    await city.set_camera_fault("centre-002", CameraFault.OFFLINE, False)
    assert StreamFault.OFFLINE in city.rtsp.faults("centre-002/profile_2")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    async with asyncio.timeout(10):
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in head.split("\r\n")[1:]) if k}
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
    return int(head.split()[1]), headers, body


async def test_going_offline_resets_a_playing_session(city: SimulatedCity) -> None:
    user, password = creds(city, "dump-001")
    url = city.cameras["dump-001"].stream_uri_for("profile_2")
    reader, writer = await asyncio.open_connection("127.0.0.1", city.rtsp.port)
    auth = "Authorization: " + basic(user, password)["Authorization"]
    session = ""
    try:
        for cseq, (method, target, extra) in enumerate([
            ("DESCRIBE", url, ""),
            ("SETUP", f"{url}/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"),
            ("PLAY", url, "Session: {session}\r\n"),
        ]):
            writer.write((f"{method} {target} RTSP/1.0\r\nCSeq: {cseq}\r\n{auth}\r\n"
                          + extra.format(session=session) + "\r\n").encode())
            code, headers, _ = await read_response(reader)
            assert code == 200, (method, code)
            session = headers.get("session", session).split(";")[0]
        async with asyncio.timeout(5):
            assert (await reader.readexactly(4))[:1] == b"$"  # RTP is flowing
        await city.set_camera_fault("dump-001", CameraFault.OFFLINE, True)
        with pytest.raises(ConnectionResetError):  # RST: the port's service went away
            async with asyncio.timeout(5):
                while await reader.read(65536):
                    pass
        assert city.rtsp.stats["sessions"] == 0
    finally:
        writer.close()


async def test_wrong_password_fails_rtsp_auth_too(city: SimulatedCity) -> None:
    user, password = creds(city, "centre-001")
    url = city.cameras["centre-001"].stream_uri_for("profile_2")
    code, _ = await rtsp_request(city.rtsp.port, "DESCRIBE", url, basic(user, password))
    assert code == 200
    await city.set_camera_fault("centre-001", CameraFault.WRONG_PASSWORD, True)
    code, head = await rtsp_request(city.rtsp.port, "DESCRIBE", url, basic(user, password))
    assert code == 401 and 'WWW-Authenticate: Digest realm="citywatch"' in head
    with pytest.raises(StreamAuthError):
        await probe(url, username=user, password=password, timeout_s=5, seconds=PROBE_S)
    await city.set_camera_fault("centre-001", CameraFault.WRONG_PASSWORD, False)
    code, _ = await rtsp_request(city.rtsp.port, "DESCRIBE", url, basic(user, password))
    assert code == 200


# --- stream faults: Python API and control endpoint ---------------------------------------------


async def test_set_stream_fault_returns_when_the_picture_is_ready(city: SimulatedCity) -> None:
    path = "uhasselt-001/profile_2"
    await city.rtsp.prepare([path], (Variant.NORMAL,))
    faults = await city.set_stream_fault("uhasselt-001", "black", True, profile="profile_2")
    assert faults == {"profile_1": frozenset(), "profile_2": {StreamFault.BLACK}}
    assert city.rtsp.ready(path, Variant.BLACK)
    assert city.stream_faults("uhasselt-001")["profile_2"] == {StreamFault.BLACK}
    for bad, message in [(("nope", "stall", True), "unknown camera"),
                         (("uhasselt-001", "melted", True), "unknown stream fault"),
                         (("uhasselt-001", "stall", True, "profile_9"), "no profile 'profile_9'")]:
        with pytest.raises(ControlError, match=message):
            await city.set_stream_fault(*bad)  # type: ignore[arg-type]


async def post(url: str, body: object) -> tuple[int, dict[str, object]]:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    async with aiohttp.ClientSession() as s, s.post(url, data=data) as r:
        assert r.content_type == "application/json"
        return r.status, await r.json()


async def test_control_switches_stream_faults(city: SimulatedCity) -> None:
    base = f"{city.control_url}"
    status, body = await post(f"{base}/streams/faults", {
        "camera": "centre-003", "profile": "profile_2", "fault": "refuse", "on": True})
    assert (status, body) == (200, {"camera": "centre-003", "profile": "profile_2",
                                    "streams": {"profile_1": [], "profile_2": ["refuse"]}})
    user, password = creds(city, "centre-003")
    url = city.cameras["centre-003"].stream_uri_for("profile_2")
    code, _ = await rtsp_request(city.rtsp.port, "DESCRIBE", url, basic(user, password))
    assert code == 503
    status, body = await post(f"{base}/streams/faults",
                              {"camera": "centre-003", "fault": "stall"})  # camera-wide
    assert body["streams"] == {"profile_1": ["stall"], "profile_2": ["refuse", "stall"]}
    async with aiohttp.ClientSession() as s, s.get(f"{base}/streams") as r:
        streams = {(x["camera"], x["profile"]): x for x in await r.json()}
    assert len(streams) == 12
    assert streams[("centre-003", "profile_2")]["faults"] == ["refuse", "stall"]
    assert streams[("centre-002", "profile_1")]["faults"] == ["offline"]  # the camera's own
    assert streams[("centre-001", "profile_1")]["url"].endswith("/centre-001/profile_1")
    status, body = await post(f"{base}/streams/faults", {
        "camera": "centre-003", "profile": "profile_2", "fault": "refuse", "on": False})
    assert body["streams"] == {"profile_1": ["stall"], "profile_2": ["stall"]}


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ("not json", 400, "body must be JSON"),
        ([1], 400, "JSON object"),
        ({"camera": "centre-001", "fault": "melted"}, 400, '"fault" must be one of offline,'),
        ({"camera": "centre-001", "fault": "stall", "on": 1}, 400, '"on" must be true'),
        ({"camera": "centre-001", "profile": 2, "fault": "stall"}, 400, '"profile" must be'),
        ({"camera": None, "fault": "stall"}, 400, '"camera" must be a camera id'),
        ({"camera": "centre-001", "fault": "stall", "path": "x"}, 400, "unknown field 'path'"),
        ({"camera": "nope-001", "fault": "stall"}, 404, "unknown camera 'nope-001'"),
        ({"camera": "centre-001", "profile": "p9", "fault": "stall"}, 404, "no profile 'p9'"),
    ],
)
async def test_control_rejects_bad_stream_fault_requests(
    city: SimulatedCity, body: object, status: int, fragment: str
) -> None:
    got_status, got = await post(f"{city.control_url}/streams/faults", body)
    assert (got_status, "Traceback" in str(got)) == (status, False)
    assert fragment in str(got["error"])
    assert city.rtsp.faults("centre-001/profile_1") == frozenset()


# --- start-up does not wait for video -----------------------------------------------------------


async def test_start_returns_at_once_and_prewarms_only_small_streams(video_cache: Path) -> None:
    c = SimulatedCity(load_scenario(SMALL), video_cache_dir=video_cache)
    started = time.monotonic()
    await c.start()
    try:
        assert time.monotonic() - started < 3  # ports only; no encoding on the way
        paths = c.rtsp.streams()
        assert not any(c.rtsp.ready(p) for p in paths)
        subs = [p for p in paths if p.endswith("/profile_2")]
        for _ in range(600):  # 4 kinds of 640x360: ~0.5 s each when not cached
            if all(c.rtsp.ready(p) for p in subs):
                break
            await asyncio.sleep(0.1)
        assert all(c.rtsp.ready(p) for p in subs)
        assert not any(c.rtsp.ready(p) for p in paths if p.endswith("/profile_1"))
    finally:
        await c.stop()
