"""EventLog following a real hub: a camera status republished unchanged (the hub does so
on every failed poll of a down camera) is not a new event; any change is."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.core import Hub
from hub.event_log import CAMERA, CAMERA_REMOVED, Event, EventLog, Subscription
from hub.model import CameraConfig, CameraKind, CameraStatus, HealthState, Site

EVENT_TIMEOUT_S = 5.0


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    config = CameraConfig(id="cam-1", name="Camera 1", site="city", kind=CameraKind.FIXED,
                          onvif_url="http://127.0.0.1:9/onvif/device_service",
                          username="admin", password="secret")
    opened = await Hub.open([Site("city", "City")], [config], tmp_path / "data",
                            stream_health=False)
    yield opened
    await opened.stop()


async def next_event(live: Subscription) -> Event:
    async with asyncio.timeout(EVENT_TIMEOUT_S):
        return await anext(live)


async def test_an_unchanged_camera_status_is_published_once(hub: Hub) -> None:
    events = EventLog()
    await events.start(hub)
    _, _, live = events.subscribe(None)
    down = CameraStatus(hub.camera("cam-1").config, state=HealthState.DOWN,  # type: ignore[union-attr]
                        detail="connect refused")
    try:
        hub.feed.publish(down)
        first = await next_event(live)
        assert (first.type, first.data["state"]) == (CAMERA, "down")
        hub.feed.publish(dataclasses.replace(down))  # equal, a new object: a repeat
        await asyncio.sleep(0.05)  # the follower takes it (and skips it)
        hub.feed.publish(dataclasses.replace(down, detail="connect timed out"))
        second = await next_event(live)
        assert second.seq == first.seq + 1
        assert second.data["detail"] == "connect timed out"
        assert events.repeats_skipped == 1
        # A camera that left and came back is announced again, even unchanged.
        events.publish(CAMERA_REMOVED, {"id": "cam-1"})
        assert (await next_event(live)).type == CAMERA_REMOVED
        hub.feed.publish(dataclasses.replace(down, detail="connect timed out"))
        again = await next_event(live)
        assert (again.type, again.seq) == (CAMERA, second.seq + 2)
    finally:
        live.close()
        await events.stop()
