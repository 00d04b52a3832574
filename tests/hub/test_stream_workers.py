"""Stream samplers in worker processes (hub/stream_workers.py) against the simulator's
RTSP server: samples arrive, closing stops the remote sampler, a killed worker ends its
streams with an error and is replaced, and a hub with a pool reaches ok."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest

from drivers.stream import StreamEvent, StreamEventKind, StreamSample
from hub.core import Hub
from hub.health_thresholds import HealthPolicy
from hub.model import CameraStatus, HealthState, Site
from hub.stream_workers import PooledSampler, StreamWorkerPool
from simulator.clock import VirtualClock
from simulator.onvif_camera import SimulatedCamera
from simulator.rtsp_server import RtspServer
from tests.conftest import PASSWORD, USER
from tests.hub.test_stream_health import (
    FAST_ONVIF,
    FAST_STREAM,
    FPS,
    QUICK,
    SUB,
    WAIT_S,
    Rig,
    config_for,
    make_spec,
)

Item = StreamSample | StreamEvent
OPTIONS = {"window_s": 1.0, "stall_after_s": 1.0, "pixel_interval_s": 0.5,
           "open_timeout_s": 5.0}
POLL_S = 0.05


@pytest.fixture
async def server(video_cache: Path, clock: VirtualClock) -> AsyncIterator[RtspServer]:
    srv = RtspServer(clock, cache_dir=video_cache)
    srv.add_stream("cam/sub", SUB, username=USER, password=PASSWORD)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def pool() -> AsyncIterator[StreamWorkerPool]:
    p = StreamWorkerPool(1)
    await p.start()
    yield p
    await p.stop()


def sampler(pool: StreamWorkerPool, server: RtspServer) -> PooledSampler:
    return pool.sampler(server.url("cam/sub"), username=USER, password=PASSWORD, **OPTIONS)


async def until(pred: Callable[[], bool], within_s: float = WAIT_S) -> None:
    """Poll `pred` (pool state has no event to wait on) until true, or fail."""
    for _ in range(int(within_s / POLL_S)):
        if pred():
            return
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"not reached in {within_s} s")


async def test_pooled_sampler_gives_samples_and_closing_stops_it(
    pool: StreamWorkerPool, server: RtspServer,
) -> None:
    items: list[Item] = []
    samples = cast(AsyncGenerator[Item, None], sampler(pool, server).samples())
    async with asyncio.timeout(WAIT_S):
        async for item in samples:
            items.append(item)
            if sum(1 for i in items if isinstance(i, StreamSample) and i.packets) >= 3:
                break
    await samples.aclose()
    first = items[0]
    assert isinstance(first, StreamEvent) and first.kind is StreamEventKind.CONNECTED
    assert "320x180" in first.detail
    flowing = [i for i in items if isinstance(i, StreamSample) and i.packets][1:]
    assert flowing and all(i.fps is not None and abs(i.fps - FPS) < 1.5 for i in flowing)
    assert pool.hosted() == [1]  # the worker still runs the sampler until told to stop
    await until(lambda: pool.hosted() == [0], 10)


async def test_a_killed_worker_ends_its_streams_with_an_error_and_is_replaced(
    pool: StreamWorkerPool, server: RtspServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("hub.stream_workers.RESTART_DELAY_S", 0.0)
    items: list[Item] = []
    killed = False
    async with asyncio.timeout(WAIT_S):
        async for item in sampler(pool, server).samples():
            items.append(item)
            if isinstance(item, StreamSample) and not killed:
                pid = pool.pids()[0]
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                killed = True
    last = items[-1]
    assert killed and isinstance(last, StreamEvent) and last.kind is StreamEventKind.ERROR
    assert last.error is not None and "worker died" in last.detail
    assert PASSWORD not in last.detail
    await until(lambda: pool.restarts == 1 and pool.pids()[0] not in (None, pid), 10)
    async with asyncio.timeout(WAIT_S):  # the new worker samples
        async for item in sampler(pool, server).samples():
            if isinstance(item, StreamSample) and item.packets:
                break
    assert pool.hosted() == [1]


async def test_a_hub_with_a_worker_pool_reaches_ok_with_stream_metrics(
    tmp_path: Path, video_cache: Path, clock: VirtualClock,
) -> None:
    server = RtspServer(clock, cache_dir=video_cache)
    spec = replace(make_spec("cam-00"), profiles=(SUB,))
    server.add_stream(f"{spec.id}/{SUB.token}", SUB, username=spec.username,
                      password=spec.password)
    camera = SimulatedCamera(spec, clock, rtsp_port=server.port)
    await server.start()
    await camera.start()
    hub = await Hub.open([Site("centrum", "Centrum")], [config_for(camera)], tmp_path,
                         FAST_ONVIF, health=HealthPolicy(groups={"test": QUICK}),
                         stream_timing=FAST_STREAM, stream_workers=1)
    rig = Rig(server, [camera], hub)
    try:
        changes = hub.feed.subscribe()
        await hub.start()
        status: CameraStatus | None = None
        async with asyncio.timeout(WAIT_S):
            async for status in changes:
                if (status.state is HealthState.OK and status.stream is not None
                        and status.stream.fps is not None):
                    break
        assert status is not None and status.stream is not None
        assert status.stream.fps is not None and abs(status.stream.fps - FPS) < 1.5
        pool = hub._stream_pool
        assert pool is not None and pool.hosted() == [1]
    finally:
        await rig.hub.stop()
        await camera.stop()
        await server.stop()
    assert pool.pids() == [None]  # stopped with the hub

