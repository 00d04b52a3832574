"""The hub's stream health against simulated cameras: real ONVIF, real RTSP, real RTP.

Each simulated camera lists a main profile (not served) and a 320x180 sub profile served
by the simulator's RtspServer; the hub must pick the sub stream, sample it, turn the
camera to the right state and reason when a stream fault is injected, and back. Short
thresholds keep it quick; the production targets are measured by the benchmark.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.onvif_model import MediaProfile
from hub.core import Hub
from hub.health import HealthEngine, Verdict
from hub.health_thresholds import HealthPolicy, HealthThresholds
from hub.model import (
    CameraConfig,
    CameraKind,
    CameraStatus,
    HealthReason,
    HealthSide,
    HealthState,
    SampledProfile,
    Site,
    StreamMetrics,
)
from hub.stream_supervisor import StreamSupervisor, StreamTiming
from hub.supervisor import SupervisorTiming, cheapest_profile
from simulator.clock import VirtualClock
from simulator.model import StreamProfile
from simulator.onvif_camera import SimulatedCamera
from simulator.rtsp_server import RtspServer, StreamFault
from tests.conftest import PASSWORD, make_spec

FPS, KBPS = 10, 256
MAIN = StreamProfile("profile_main", "mainStream", 1280, 720, 25, "H264", 4096)
SUB = StreamProfile("profile_sub", "subStream", 320, 180, FPS, "H264", KBPS)

FAST_ONVIF = SupervisorTiming(poll_interval_s=0.5, backoff_steps_s=(0.2, 0.5), jitter=0.0,
                              call_timeout_s=2.0)
FAST_STREAM = StreamTiming(backoff_steps_s=(0.2, 0.5), jitter=0.0, idle_check_s=1.0)
QUICK = HealthThresholds(
    down_after_s=1.0, degraded_after_s=6.0, ok_after_s=2.0, stall_after_s=1.0, window_s=1.0,
    pixel_interval_s=0.5, baseline_windows=2, keyframe_factor=2.0, open_timeout_s=5.0,
)
WAIT_S = 25.0  # generous: other work shares the machine; the targets are the benchmark's

S, R = HealthState, HealthReason


@dataclass
class Rig:
    server: RtspServer
    cameras: list[SimulatedCamera]
    hub: Hub

    def path(self, camera: SimulatedCamera) -> str:
        return f"{camera.spec.id}/{SUB.token}"


def config_for(camera: SimulatedCamera) -> CameraConfig:
    spec = camera.spec
    return CameraConfig(id=spec.id, name=spec.name, site=spec.site, kind=CameraKind.FIXED,
                        onvif_url=camera.onvif_url, username=spec.username,
                        password=spec.password, group="test")


@pytest.fixture
async def rig(
    tmp_path: Path, video_cache: Path, clock: VirtualClock
) -> AsyncIterator[Callable[..., Awaitable[Rig]]]:
    started: list[Rig] = []

    async def start(n: int = 1, thresholds: HealthThresholds = QUICK, *,
                    onvif: SupervisorTiming = FAST_ONVIF) -> Rig:
        server = RtspServer(clock, cache_dir=video_cache)
        cameras = []
        for i in range(n):
            spec = replace(make_spec(f"cam-{i:02d}"), profiles=(MAIN, SUB))
            server.add_stream(f"{spec.id}/{SUB.token}", SUB, username=spec.username,
                              password=spec.password)
            cameras.append(SimulatedCamera(spec, clock, rtsp_port=server.port))
        await server.start()
        for camera in cameras:
            await camera.start()
        policy = HealthPolicy(groups={"test": thresholds})
        hub = await Hub.open([Site("centrum", "Centrum")], [config_for(c) for c in cameras],
                             tmp_path, onvif, health=policy, stream_timing=FAST_STREAM)
        rig = Rig(server, cameras, hub)
        started.append(rig)
        await hub.start()
        return rig

    yield start
    for rig in started:
        await rig.hub.stop()
        for camera in rig.cameras:
            await camera.stop()
        await rig.server.stop()


async def wait_for(hub: Hub, camera_id: str, pred: Callable[[CameraStatus], bool],
                   within_s: float = WAIT_S) -> CameraStatus:
    changes = hub.feed.subscribe()
    status = hub.camera(camera_id)
    assert status is not None
    if pred(status):
        return status
    try:
        async with asyncio.timeout(within_s):
            async for status in changes:
                if status.id == camera_id and pred(status):
                    return status
    except TimeoutError:
        raise AssertionError(f"{camera_id}: not reached in {within_s} s: {status}") from None
    raise AssertionError(f"{camera_id}: feed closed before the state was reached")


def streaming(status: CameraStatus) -> bool:
    """OK, and the stream's bit-rate baseline is learned (low bit rate can be judged)."""
    return (status.state is S.OK and status.stream is not None
            and status.stream.baseline_bitrate_kbps is not None)


def set_fault(rig: Rig, camera: SimulatedCamera, fault: StreamFault, on: bool) -> None:
    rig.server.set_fault(rig.path(camera), fault, on)


FAULTS: list[tuple[StreamFault, HealthState, HealthReason]] = [
    (StreamFault.STALL, S.DOWN, R.STALLED),
    (StreamFault.BLACK, S.DOWN, R.BLACK),
    (StreamFault.FREEZE, S.DOWN, R.FROZEN),
    (StreamFault.REFUSE, S.DOWN, R.REFUSED),
    (StreamFault.FPS_DROP, S.DEGRADED, R.LOW_FPS),
    (StreamFault.BITRATE_DROP, S.DEGRADED, R.LOW_BITRATE),
    (StreamFault.NO_KEYFRAMES, S.DEGRADED, R.NO_KEYFRAMES),
]


async def test_every_stream_fault_is_one_change_and_one_back(
    rig: Callable[..., Awaitable[Rig]],
) -> None:
    """One camera per fault, all at once: fault -> state + reason, fault off -> ok."""
    r = await rig(len(FAULTS))
    loop = asyncio.get_running_loop()

    async def one(camera: SimulatedCamera, fault: StreamFault, state: HealthState,
                  reason: HealthReason) -> dict[str, object]:
        cam_id = camera.spec.id
        first = await wait_for(r.hub, cam_id, streaming)
        assert first.facts is not None and first.facts.sampled is not None
        assert first.facts.sampled.token == SUB.token  # the cheap profile, not the main one
        assert first.stream is not None and first.stream.expected_fps == FPS
        set_fault(r, camera, fault, True)
        t0 = loop.time()
        bad = await wait_for(r.hub, cam_id, lambda s: s.state is not S.OK)
        detected = loop.time() - t0
        set_fault(r, camera, fault, False)
        t1 = loop.time()
        await wait_for(r.hub, cam_id, lambda s: s.state is S.OK)
        history = await r.hub.store.history(cam_id)
        return {"fault": fault, "state": bad.state, "reason": bad.reason, "side": bad.side,
                "detected_s": round(detected, 1), "recovered_s": round(loop.time() - t1, 1),
                "history": [(h.new_state, h.reason, h.side) for h in reversed(history)],
                "expected": (state, reason)}

    results = await asyncio.gather(*(one(c, *f) for c, f in zip(r.cameras, FAULTS, strict=True)))
    wrong = [x for x in results if (x["state"], x["reason"]) != x["expected"]
             or x["side"] is not HealthSide.STREAM
             or x["history"] != [(S.OK, R.NONE, HealthSide.NONE),
                                 (*x["expected"], HealthSide.STREAM),  # type: ignore[misc]
                                 (S.OK, R.NONE, HealthSide.NONE)]]
    assert not wrong, "\n".join(map(str, wrong))


async def test_killed_camera_is_down_within_10_s_with_stream_sampling_on(
    rig: Callable[..., Awaitable[Rig]],
) -> None:
    """Production timings and thresholds: ONVIF gone (the RTSP server lives on) -> down,
    unreachable, within 10 s; the stream is paused while the camera is unreachable."""
    r = await rig(1, HealthThresholds(), onvif=SupervisorTiming())
    camera = r.cameras[0]
    cam_id = camera.spec.id
    await wait_for(r.hub, cam_id, lambda s: s.state is S.OK and s.stream is not None)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await camera.stop()
    down = await wait_for(r.hub, cam_id, lambda s: s.state is S.DOWN, 12)
    assert loop.time() - t0 <= 10
    assert (down.reason, down.side) == (R.UNREACHABLE, HealthSide.ONVIF)
    paused = await wait_for(r.hub, cam_id, lambda s: s.stream is None, 5)
    assert paused.state is S.DOWN


async def test_the_stream_task_survives_a_bug(
    caplog: pytest.LogCaptureFixture, video_cache: Path, clock: VirtualClock
) -> None:
    """A bug in the report path is logged; sampling goes on; cancellation still ends it."""
    caplog.set_level(logging.INFO)
    server = RtspServer(clock, cache_dir=video_cache)
    url = server.add_stream("cam/sub", SUB, username="operator", password=PASSWORD)
    await server.start()
    config = CameraConfig(id="cam", name="Cam", site="c", kind=CameraKind.FIXED,
                          onvif_url="http://127.0.0.1:9/onvif/device_service",
                          username="operator", password=PASSWORD)
    engine = HealthEngine(CameraStatus(config=config), QUICK)
    engine.onvif_success(datetime.now(UTC))
    engine._stream.set_profile(SampledProfile("sub", url, 320, 180, FPS, KBPS))
    seen: list[StreamMetrics] = []
    failed, enough = asyncio.Event(), asyncio.Event()

    async def report(verdict: Verdict) -> None:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("bug in the report path")
        if verdict.status.stream is not None:
            seen.append(verdict.status.stream)
            if len(seen) >= 2:
                enough.set()

    task = asyncio.create_task(StreamSupervisor(config, engine, report, FAST_STREAM).run())
    try:
        async with asyncio.timeout(WAIT_S):
            await enough.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
    assert "unexpected error in stream task" in caplog.text
    assert PASSWORD not in caplog.text
    assert task.cancelled()


def test_the_cheapest_h264_profile_is_sampled() -> None:
    def p(token: str, w: int | None, h: int | None, codec: str = "H264") -> MediaProfile:
        return MediaProfile(token, token, codec, w, h, 25.0, 4096)

    main, sub, tiny_h265 = p("main", 1920, 1080), p("sub", 640, 360), p("t", 320, 180, "H265")
    assert cheapest_profile((main, tiny_h265, sub)) is sub
    assert cheapest_profile((main, p("odd", None, None))) is main  # unknown size sorts last
    h265_main = p("m", 2688, 1520, "H265")
    assert cheapest_profile((h265_main, tiny_h265)) is tiny_h265  # H.265-only camera
    assert cheapest_profile(()) is None
