"""drivers.stream against the simulator's RTSP server: every stream fault, seen by the
default (RTP) engine; the probe is PyAV's.

One server, one stream path per fault, all samplers concurrently (about 10 s in all).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.errors import StreamAuthError, StreamRefused
from drivers.stream import StreamEvent, StreamEventKind, StreamSample, StreamSampler, probe

rtsp_server = pytest.importorskip(
    "simulator.rtsp_server", reason="simulator/rtsp_server.py is not importable yet"
)
from simulator.clock import VirtualClock  # noqa: E402
from simulator.model import StreamProfile  # noqa: E402

RtspServer = rtsp_server.RtspServer
StreamFault = rtsp_server.StreamFault

USER, PASSWORD = "operator", "S3cret&<pass>"
FPS, KBPS, GOP_S = 10, 256, 2.0
PROFILE = StreamProfile("sub", "subStream", 320, 180, FPS, "H264", KBPS)
STALL_AFTER = 1.0
PATHS = ("normal", "stall", "black", "freeze", "fps_drop", "no_keyframes", "refuse", "auth",
         "disconnect")


@pytest.fixture
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[object]:
    cache = Path(tmp_path_factory.getbasetemp()) / "rtsp-video-cache"
    srv = RtspServer(VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC)), cache_dir=cache)
    for path in PATHS:
        srv.add_stream(f"cam-{path}/sub", PROFILE, username=USER, password=PASSWORD)
    await srv.start()
    yield srv
    await srv.stop()


def sampler(srv: object, path: str, **kwargs: float) -> StreamSampler:
    options = {"window_s": 2.5, "stall_after_s": STALL_AFTER, "pixel_interval_s": 0.3,
               "open_timeout_s": 5.0}
    options.update(kwargs)
    return StreamSampler(srv.url(f"cam-{path}/sub"),  # type: ignore[attr-defined]
                         username=USER, password=PASSWORD, **options)


async def collect(s: StreamSampler, seconds: float,
                  on_connect: object = None) -> list[tuple[float, StreamSample | StreamEvent]]:
    items: list[tuple[float, StreamSample | StreamEvent]] = []

    async def run() -> None:
        async for item in s.samples():
            items.append((time.monotonic(), item))
            if isinstance(item, StreamEvent) and item.kind == StreamEventKind.CONNECTED \
                    and callable(on_connect):
                on_connect()

    try:
        await asyncio.wait_for(run(), seconds)
    except TimeoutError:
        pass
    return items


def samples_of(items: list[tuple[float, StreamSample | StreamEvent]]) -> list[StreamSample]:
    return [i for _, i in items if isinstance(i, StreamSample)]


def events_of(items: list[tuple[float, StreamSample | StreamEvent]],
              kind: StreamEventKind) -> list[tuple[float, StreamEvent]]:
    return [(t, i) for t, i in items if isinstance(i, StreamEvent) and i.kind == kind]


async def test_every_stream_fault_is_seen(server: object) -> None:
    srv = server
    for path, fault in (("black", StreamFault.BLACK), ("freeze", StreamFault.FREEZE),
                        ("fps_drop", StreamFault.FPS_DROP),
                        ("no_keyframes", StreamFault.NO_KEYFRAMES),
                        ("refuse", StreamFault.REFUSE), ("auth", StreamFault.AUTH_CHANGE)):
        srv.set_fault(f"cam-{path}/sub", fault, True)  # type: ignore[attr-defined]

    marks: dict[str, float] = {}

    async def stall_script() -> None:
        await asyncio.sleep(3.5)
        srv.set_fault("cam-stall/sub", StreamFault.STALL, True)  # type: ignore[attr-defined]
        marks["stall_on"] = time.monotonic()
        await asyncio.sleep(3.0)
        srv.set_fault("cam-stall/sub", StreamFault.STALL, False)  # type: ignore[attr-defined]
        marks["stall_off"] = time.monotonic()

    def disconnect_soon() -> None:
        asyncio.get_running_loop().call_later(
            2.0, srv.set_fault, "cam-disconnect/sub", StreamFault.DISCONNECT, True)  # type: ignore[attr-defined]

    duration = 10.5
    (normal, stall, black, freeze, fps_drop, no_kf, refuse, auth, disconnect,
     _, probed) = await asyncio.gather(
        collect(sampler(srv, "normal"), duration),
        collect(sampler(srv, "stall"), duration),
        collect(sampler(srv, "black"), 6),
        collect(sampler(srv, "freeze"), duration),
        collect(sampler(srv, "fps_drop"), 8),
        collect(sampler(srv, "no_keyframes"), duration),
        collect(sampler(srv, "refuse"), 5),
        collect(sampler(srv, "auth"), 5),
        collect(sampler(srv, "disconnect"), 8, on_connect=disconnect_soon),
        stall_script(),
        probe(srv.url("cam-normal/sub"), username=USER,  # type: ignore[attr-defined]
              password=PASSWORD, seconds=2.5),
    )

    # Healthy stream: the configured figures.
    good = samples_of(normal)[1:]
    assert len(good) >= 2, normal
    for s in good:
        assert s.fps is not None and abs(s.fps - FPS) < 0.5
        assert s.bitrate_kbps is not None and KBPS * 0.4 < s.bitrate_kbps < KBPS * 2.5
        assert s.max_gap_s < 1.0
    intervals = [s.keyframe_interval_s for s in good if s.keyframe_interval_s]
    assert intervals and all(abs(i - GOP_S) < 0.1 for i in intervals)
    assert good[-1].luma_mean is not None and good[-1].luma_mean > 20
    assert not events_of(normal, StreamEventKind.STALLED)

    # STALL: STALLED within stall_after_s + 1 s, RECOVERED when packets come again.
    (stalled_at, _), = events_of(stall, StreamEventKind.STALLED)
    assert stalled_at - marks["stall_on"] <= STALL_AFTER + 1.0
    (recovered_at, _), = events_of(stall, StreamEventKind.RECOVERED)
    # The simulator resumes at the next keyframe slot: up to one GOP after the fault ends.
    assert 0 <= recovered_at - marks["stall_off"] < GOP_S + 0.5
    assert any(s.max_gap_s >= STALL_AFTER for s in samples_of(stall))

    # Picture faults.
    assert any(s.luma_mean is not None and s.luma_mean < 20 for s in samples_of(black)), black
    assert any(s.frozen is True for s in samples_of(freeze)), freeze
    drop = [s.fps for s in samples_of(fps_drop)[1:] if s.fps]
    assert drop and all(abs(f - FPS / 5) < 0.6 for f in drop), drop
    assert any(s.keyframes == 0 and s.packets > 10 for s in samples_of(no_kf)), no_kf

    # Connection faults.
    (_, refused), = events_of(refuse, StreamEventKind.ERROR)
    assert isinstance(refused.error, StreamRefused), refused
    (_, denied), = events_of(auth, StreamEventKind.ERROR)
    assert isinstance(denied.error, StreamAuthError), denied
    assert PASSWORD not in denied.detail and "S3cret" not in str(denied.error)
    ends = [i for _, i in disconnect if isinstance(i, StreamEvent)
            and i.kind in (StreamEventKind.ENDED, StreamEventKind.ERROR)]
    assert len(ends) == 1 and isinstance(disconnect[-1][1], StreamEvent), disconnect

    # One-shot probe of the same camera.
    assert (probed.codec, probed.width, probed.height) == ("h264", 320, 180)
    assert probed.fps is not None and abs(probed.fps - FPS) < 0.5
    assert probed.gop in (None, int(FPS * GOP_S))
    assert probed.bitrate_kbps is not None and probed.bitrate_kbps > KBPS * 0.3
