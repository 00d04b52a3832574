"""H.265 streams of the simulated RTSP server, read by real clients and by our driver.

One server with a few 320x180 H.265 paths (encoded once per session into the shared
video cache); ffprobe (Debian's FFmpeg), the raw RTP packets, drivers.stream's probe and
sampler, and the black / stall / freeze / missing-keyframe faults on H.265.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.onvif import OnvifDevice
from drivers.stream import StreamEvent, StreamEventKind, StreamSample, StreamSampler, probe
from hub.supervisor import sampled_profile
from simulator import hevc
from simulator.city import SimulatedCity
from simulator.clock import VirtualClock
from simulator.model import StreamProfile
from simulator.rtp import FU_HEVC, hevc_nal_payloads, packetize_frame
from simulator.rtsp_server import RtspServer, StreamFault
from simulator.scenario import load_scenario
from simulator.video import Codec, Variant, VideoKey, VideoLibrary
from tests.simulator.test_rtsp_server import PASSWORD, USER, RawClient, rtp_packets

FPS, KBPS, GOP_S = 10, 256, 2.0
WIDTH, HEIGHT = 320, 180
PROFILE = StreamProfile("h265", "mainStream", WIDTH, HEIGHT, FPS, "H265", KBPS)
KEY = VideoKey(WIDTH, HEIGHT, FPS, KBPS, look=0, codec=Codec.H265)
PATHS = ("normal", "black", "stall", "freeze", "no_keyframes", "fps_drop")
STALL_AFTER = 1.0
SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.toml"


@pytest.fixture
async def server(video_cache: Path) -> AsyncIterator[RtspServer]:
    srv = RtspServer(VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC)),
                     cache_dir=video_cache)
    for path in PATHS:
        srv.add_stream(f"cam-{path}/h265", PROFILE, username=USER, password=PASSWORD)
    await srv.start()
    yield srv
    await srv.stop()


def url(srv: RtspServer, path: str = "normal", *, creds: bool = False) -> str:
    plain = srv.url(f"cam-{path}/h265")
    return plain.replace("rtsp://", f"rtsp://{USER}:{PASSWORD}@") if creds else plain


def hevc_types(packet: bytes) -> list[int]:
    """NAL unit types an RTP packet carries (a FU: its type, on the start fragment only)."""
    payload = packet[12:]
    kind = (payload[0] >> 1) & 0x3F
    if kind == FU_HEVC:
        return [payload[2] & 0x3F] if payload[2] & 0x80 else []
    return [kind]


# --- encoding and packetisation ----------------------------------------------------------


def test_encoded_loop_has_hevc_keyframes_and_parameter_sets(video_cache: Path) -> None:
    loop = VideoLibrary(video_cache).get(KEY, [Variant.NORMAL])[Variant.NORMAL]
    types = hevc.HEVC_NALS.type_of
    assert [types(n) for n in (loop.vps, loop.sps, loop.pps)] == [32, 33, 34]
    keys = [i for i, f in enumerate(loop.frames) if f is not None and f.keyframe]
    assert keys == list(range(0, KEY.slots, KEY.gop))
    for i in keys:
        nals = loop.frames[i].nals  # type: ignore[union-attr]
        assert [types(n) for n in nals[:3]] == [32, 33, 34]
        assert types(nals[3]) in (hevc.IDR_W_RADL, hevc.IDR_N_LP)
    assert all(types(n) < 16 for f in loop.frames if f and not f.keyframe for n in f.nals)
    ptl = hevc.profile_tier_level(loop.sps)
    assert (ptl.profile_id, ptl.tier) == (1, 0) and ptl.level_id > 0  # Main, Main tier
    # A second library reads the same loop back from the disk cache, VPS included.
    again = VideoLibrary(video_cache)
    reloaded = again.get(KEY, [Variant.NORMAL])[Variant.NORMAL]
    assert again.encoded == 0 and reloaded.vps == loop.vps and reloaded.frames == loop.frames


def test_fragmentation_units_reassemble() -> None:
    nal = bytes([hevc.IDR_N_LP << 1, 0x01]) + bytes(range(256)) * 12
    parts = hevc_nal_payloads(nal, mtu=1000)
    assert len(parts) == 4 and all(len(p) <= 1000 for p in parts)
    assert all((p[0] >> 1) & 0x3F == FU_HEVC and p[1] == 0x01 for p in parts)
    assert [p[2] >> 6 for p in parts] == [2, 0, 0, 1]  # S on the first, E on the last
    assert all(p[2] & 0x3F == hevc.IDR_N_LP for p in parts)
    rebuilt = bytes([(parts[0][0] & 0x81) | (parts[0][2] & 0x3F) << 1, parts[0][1]])
    assert rebuilt + b"".join(p[3:] for p in parts) == nal
    small = bytes([hevc.SPS_NUT << 1, 1, 9, 9])
    assert hevc_nal_payloads(small) == [small]
    frame = packetize_frame([small, nal], keyframe=True, mtu=1000, fragment=hevc_nal_payloads)
    assert frame.packets == 5


# --- real clients --------------------------------------------------------------------------


async def test_sdp_names_h265_and_its_parameter_sets(server: RtspServer) -> None:
    client = await RawClient.connect(server, "cam-normal/h265")
    try:
        described = await client.describe()
        assert described.code == 200
        sdp = described.body.decode()
        assert "a=rtpmap:96 H265/90000" in sdp
        fmtp = next(line for line in sdp.splitlines() if line.startswith("a=fmtp:96 "))
        params = dict(p.split("=", 1) for p in fmtp.split(" ", 1)[1].split(";"))
        assert params["profile-id"] == "1"
        types = [hevc.HEVC_NALS.type_of(base64.b64decode(params[f"sprop-{n}"]))
                 for n in ("vps", "sps", "pps")]
        assert types == [32, 33, 34]
        await client.play()
        packets = rtp_packets(await client.collect(1.0))
    finally:
        await client.close()
    assert packets and all(p[1] & 0x7F == 96 for p in packets)
    carried = [t for p in packets for t in hevc_types(p)]
    assert carried[:4] == [32, 33, 34, hevc.IDR_N_LP]  # the session starts at a keyframe
    assert any((p[12] >> 1) & 0x3F == FU_HEVC for p in packets)  # the IDR is fragmented


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed")
async def test_ffprobe_reads_the_h265_stream(server: RtspServer) -> None:
    proc = await asyncio.to_thread(
        subprocess.run,
        ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
         "-show_entries", "stream=codec_name,profile,width,height,r_frame_rate",
         "-of", "json", url(server, creds=True)],
        capture_output=True, text=True, timeout=20, check=False)
    assert proc.returncode == 0, proc.stderr
    stream = json.loads(proc.stdout)["streams"][0]
    assert stream == {"codec_name": "hevc", "profile": "Main", "width": WIDTH,
                      "height": HEIGHT, "r_frame_rate": f"{FPS}/1"}


# --- our driver -----------------------------------------------------------------------------


def sampler(srv: RtspServer, path: str) -> StreamSampler:
    return StreamSampler(url(srv, path), username=USER, password=PASSWORD, window_s=2.5,
                         stall_after_s=STALL_AFTER, pixel_interval_s=0.3, open_timeout_s=5.0)


Item = StreamSample | StreamEvent


async def collect(s: StreamSampler, seconds: float) -> list[tuple[float, Item]]:
    items: list[tuple[float, Item]] = []

    async def run() -> None:
        async for item in s.samples():
            items.append((time.monotonic(), item))

    try:
        async with asyncio.timeout(seconds):
            await run()
    except TimeoutError:
        pass
    return items


def samples_of(items: list[tuple[float, Item]]) -> list[StreamSample]:
    return [i for _, i in items if isinstance(i, StreamSample)]


def events_of(items: list[tuple[float, Item]], kind: StreamEventKind) -> list[float]:
    return [t for t, i in items if isinstance(i, StreamEvent) and i.kind == kind]


async def test_probe_and_sampler_on_h265_with_faults(server: RtspServer) -> None:
    for path, fault in (("black", StreamFault.BLACK), ("freeze", StreamFault.FREEZE),
                        ("no_keyframes", StreamFault.NO_KEYFRAMES),
                        ("fps_drop", StreamFault.FPS_DROP)):
        server.set_fault(f"cam-{path}/h265", fault, True)
    marks: dict[str, float] = {}

    async def stall_script() -> None:
        await asyncio.sleep(3.0)
        server.set_fault("cam-stall/h265", StreamFault.STALL, True)
        marks["on"] = time.monotonic()
        await asyncio.sleep(2.5)
        server.set_fault("cam-stall/h265", StreamFault.STALL, False)
        marks["off"] = time.monotonic()

    duration = 9.0
    normal, black, stall, freeze, no_kf, fps_drop, _, probed = await asyncio.gather(
        collect(sampler(server, "normal"), duration),
        collect(sampler(server, "black"), 5.5),
        collect(sampler(server, "stall"), duration),
        collect(sampler(server, "freeze"), duration),
        collect(sampler(server, "no_keyframes"), 7.0),
        collect(sampler(server, "fps_drop"), 8.0),
        stall_script(),
        probe(url(server), username=USER, password=PASSWORD, seconds=2.5),
    )

    # The one-shot probe (what `citywatch diagnose` reports).
    assert (probed.codec, probed.profile, probed.width, probed.height) == (
        "hevc", "Main", WIDTH, HEIGHT)
    assert probed.fps is not None and abs(probed.fps - FPS) < 0.5
    assert probed.gop in (None, int(FPS * GOP_S))
    assert probed.bitrate_kbps is not None and probed.bitrate_kbps > KBPS * 0.3

    # Healthy stream: configured rate, keyframes every GOP found by the packet flag, a
    # decoded (not black) keyframe.
    connected = [i for _, i in normal if isinstance(i, StreamEvent)
                 and i.kind == StreamEventKind.CONNECTED]
    assert connected and connected[0].detail.startswith(f"hevc {WIDTH}x{HEIGHT}")
    good = samples_of(normal)[1:]
    assert len(good) >= 2, normal
    for s in good:
        assert s.fps is not None and abs(s.fps - FPS) < 0.5
        assert s.bitrate_kbps is not None and KBPS * 0.3 < s.bitrate_kbps < KBPS * 3
        assert s.max_gap_s < 1.0
    intervals = [s.keyframe_interval_s for s in good if s.keyframe_interval_s]
    assert intervals and all(abs(i - GOP_S) < 0.1 for i in intervals)
    assert good[-1].luma_mean is not None and good[-1].luma_mean > 20
    assert good[-1].frozen is False
    assert not events_of(normal, StreamEventKind.STALLED)

    # Picture faults, seen by decoding H.265 keyframes.
    assert any(s.luma_mean is not None and s.luma_mean < 20 and s.luma_std is not None
               and s.luma_std < 8 for s in samples_of(black)), black
    assert any(s.frozen is True for s in samples_of(freeze)), freeze
    assert any(s.keyframes == 0 and s.packets > 10 for s in samples_of(no_kf)), no_kf
    drop = [s.fps for s in samples_of(fps_drop)[1:] if s.fps]
    assert drop and all(abs(f - FPS / 5) < 0.6 for f in drop), fps_drop

    # STALL: STALLED within stall_after_s + 1 s; RECOVERED at the next keyframe slot.
    (stalled_at,) = events_of(stall, StreamEventKind.STALLED)
    assert stalled_at - marks["on"] <= STALL_AFTER + 1.0
    (recovered_at,) = events_of(stall, StreamEventKind.RECOVERED)
    assert 0 <= recovered_at - marks["off"] < GOP_S + 0.5


# --- the city ---------------------------------------------------------------------------------


async def test_city_serves_an_h265_only_camera(tmp_path: Path, video_cache: Path) -> None:
    """An H.265-only camera's profiles play over RTSP; the hub samples its smallest one."""
    text = SMALL.read_text().replace("stream = { width = 1280, height = 720, fps = 15 }",
                                     'stream = { width = 1280, height = 720, fps = 15, '
                                     'codec = "H265" }')
    assert 'codec = "H265"' in text
    (tmp_path / "h265.toml").write_text(text)
    city = SimulatedCity(load_scenario(tmp_path / "h265.toml"), video_cache_dir=video_cache,
                         prewarm=False)
    await city.start()
    try:
        cam = city.cameras["dump-001"]
        tokens = tuple(p.token for p in cam.spec.profiles)
        assert {p.encoding for p in cam.spec.profiles} == {"H265"}
        assert cam.served_profiles == tokens
        entry = next(e for e in city.endpoints()["cameras"] if e["id"] == "dump-001")
        assert all(s["served"] for s in entry["streams"])
        assert {s["encoding"] for s in city.streams() if s["camera"] == "dump-001"} == {"H265"}
        user, password = cam.spec.username, cam.spec.password
        device = OnvifDevice(cam.onvif_url, user, password)
        try:
            snapshot = await device.snapshot()
            sampled = await sampled_profile("dump-001", device, snapshot)
        finally:
            await device.close()
        sub = min(cam.spec.profiles, key=lambda p: p.width * p.height)
        assert sampled is not None and sampled.token == sub.token
        assert sampled.uri == cam.stream_uri_for(sub.token)
        found = await probe(sampled.uri, username=user, password=password, seconds=1.0)
        assert (found.codec, found.width, found.height) == ("hevc", sub.width, sub.height)
        faults = await city.set_stream_fault("dump-001", StreamFault.STALL, True, sub.token)
        assert faults[sub.token] == {StreamFault.STALL}
    finally:
        await city.stop()
