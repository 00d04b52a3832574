from __future__ import annotations

import asyncio
from dataclasses import replace

from hub.feed import StatusFeed
from hub.model import CameraConfig, CameraStatus, HealthReason, HealthState


async def test_every_subscriber_sees_changes_and_slow_ones_get_the_latest(
    camera_config: CameraConfig,
) -> None:
    feed = StatusFeed()
    fast = feed.subscribe()
    slow = feed.subscribe()
    other = replace(camera_config, id="other")
    first = CameraStatus(config=camera_config, state=HealthState.OK, reason=HealthReason.NONE)
    feed.publish(first)
    assert await asyncio.wait_for(anext(fast), 1) == first
    # While `slow` is not reading, the camera flaps: it must see the last state only,
    # and the other camera's change too.
    down = replace(first, state=HealthState.DOWN, reason=HealthReason.UNREACHABLE)
    feed.publish(down)
    feed.publish(CameraStatus(config=other))
    assert await asyncio.wait_for(anext(slow), 1) == down
    assert (await asyncio.wait_for(anext(slow), 1)).id == "other"
    assert feed.subscriber_count == 2
    feed.close()
    remaining = [s async for s in fast]
    assert [s.id for s in remaining] == [camera_config.id, "other"]
    assert [s async for s in slow] == []


async def test_subscription_starts_at_call_time(camera_config: CameraConfig) -> None:
    feed = StatusFeed()
    changes = feed.subscribe()
    feed.publish(CameraStatus(config=camera_config))  # before the first iteration
    assert (await asyncio.wait_for(anext(changes), 1)).id == camera_config.id
