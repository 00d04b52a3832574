"""drivers.onvif_events against the simulated camera's event service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from drivers.alpr import VendorRead
from drivers.errors import OnvifAuthError, OnvifError, OnvifUnreachable
from drivers.onvif_events import OnvifEventsUnsupported, OnvifPlateEvents, PullPointSubscription
from simulator.clock import VirtualClock
from simulator.model import CameraFault
from simulator.onvif_camera import SimulatedCamera
from tests.conftest import PASSWORD, USER, StartCamera, make_spec

# Small delays so recovery is visible within a test; the defaults are 1-60 s.
FAST_BACKOFF = (0.05, 0.1)


@pytest.fixture
async def cam(clock: VirtualClock) -> AsyncIterator[SimulatedCamera]:
    camera = SimulatedCamera(make_spec(), clock, rtsp_port=8554, event_service=True)
    await camera.start()
    yield camera
    await camera.stop()


async def subscribed(cam: SimulatedCamera, count: int = 1, within_s: float = 5.0) -> None:
    """Wait until the camera has `count` live subscriptions."""
    deadline = time.monotonic() + within_s
    while len(cam.events.subscriptions) != count:
        assert time.monotonic() < deadline, "no subscription arrived"
        await asyncio.sleep(0.01)


class Reader:
    """Runs events.reads() in a task and hands out the reads one by one."""

    def __init__(self, events: OnvifPlateEvents) -> None:
        self.queue: asyncio.Queue[VendorRead] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(events))

    async def _run(self, events: OnvifPlateEvents) -> None:
        async for read in events.reads():
            await self.queue.put(read)

    async def next(self, within_s: float = 1.0) -> VendorRead:
        return await asyncio.wait_for(self.queue.get(), within_s)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def test_published_plate_arrives_within_a_second(cam: SimulatedCamera) -> None:
    async with OnvifPlateEvents(cam.onvif_url, USER, PASSWORD, pull_timeout_s=10) as events:
        reader = Reader(events)
        await subscribed(cam)
        at = datetime(2025, 3, 14, 8, 31, 2, 125000, tzinfo=UTC)
        started = time.monotonic()
        cam.publish_plate("1-ABC-123", at, "BE", 0.87, issuing_entity="VLG")
        read = await reader.next(within_s=1.0)
        assert time.monotonic() - started < 1.0
        assert (read.plate, read.at, read.country, read.region, read.source) == (
            "1-ABC-123", at, "BE", "VLG", "onvif"
        )
        assert read.confidence == pytest.approx(0.87)
        cam.publish_plate("2-DEF-456", country="NL", likelihood=0.5)
        cam.publish_plate("3-GHI-789", country="DE", likelihood=0.6)
        assert [(await reader.next()).plate for _ in range(2)] == ["2-DEF-456", "3-GHI-789"]
        assert isinstance(events.subscription, PullPointSubscription)
        assert events.subscription.address.startswith(cam.base_url)
        assert events.resubscriptions == 0
        await reader.stop()
    assert cam.events.subscriptions == ()  # close() unsubscribed


async def test_subscription_loss_resubscribes_and_keeps_delivering(
    cam: SimulatedCamera,
) -> None:
    async with OnvifPlateEvents(
        cam.onvif_url, USER, PASSWORD, pull_timeout_s=10, backoff_s=FAST_BACKOFF
    ) as events:
        reader = Reader(events)
        await subscribed(cam)
        cam.publish_plate("AAA1")
        assert (await reader.next()).plate == "AAA1"
        cam.events.drop_all()  # the camera forgot us (reboot of its event engine)
        await subscribed(cam)
        cam.publish_plate("BBB2")
        assert (await reader.next()).plate == "BBB2"
        assert events.resubscriptions == 1
        assert isinstance(events.last_error, OnvifError)
        await reader.stop()


async def test_connection_loss_resubscribes_after_the_camera_is_back(
    cam: SimulatedCamera,
) -> None:
    async with OnvifPlateEvents(
        cam.onvif_url, USER, PASSWORD, pull_timeout_s=10, backoff_s=FAST_BACKOFF
    ) as events:
        reader = Reader(events)
        await subscribed(cam)
        await cam.stop()  # power cut: port closed, subscriptions gone
        await asyncio.sleep(0.3)
        assert isinstance(events.last_error, OnvifUnreachable)
        await cam.start()
        await subscribed(cam)
        cam.publish_plate("CCC3", country="BE")
        assert (await reader.next(within_s=2.0)).plate == "CCC3"
        assert events.resubscriptions >= 1
        await reader.stop()


async def test_unreachable_camera_is_retried_with_backoff(cam: SimulatedCamera) -> None:
    await cam.set_fault(CameraFault.OFFLINE, True)
    events = OnvifPlateEvents(cam.onvif_url, USER, PASSWORD, backoff_s=(0.2,))
    attempts = 0
    subscribe = events.subscribe

    async def counting() -> PullPointSubscription:
        nonlocal attempts
        attempts += 1
        return await subscribe()

    events.subscribe = counting  # type: ignore[method-assign]
    reader = Reader(events)
    await asyncio.sleep(0.7)
    await reader.stop()
    await events.close()
    # One immediate retry, then one per 0.2 s (+-20 %): never a hot loop.
    assert 3 <= attempts <= 5
    assert isinstance(events.last_error, OnvifUnreachable)


async def test_subscription_is_renewed_before_it_terminates(cam: SimulatedCamera) -> None:
    async with OnvifPlateEvents(
        cam.onvif_url, USER, PASSWORD, pull_timeout_s=10, subscription_s=2
    ) as events:
        reader = Reader(events)
        await subscribed(cam)
        first = events.subscription
        assert first is not None
        await asyncio.sleep(2.3)  # past the 2 s lifetime asked for
        cam.publish_plate("DDD4")
        assert (await reader.next()).plate == "DDD4"
        assert events.resubscriptions == 0
        assert events.subscription is not None
        assert events.subscription.address == first.address  # the same, renewed
        await reader.stop()


async def test_wrong_credentials_raise_auth_error(cam: SimulatedCamera) -> None:
    async with OnvifPlateEvents(cam.onvif_url, USER, "not-the-password") as events:
        with pytest.raises(OnvifAuthError) as caught:
            async for _ in events.reads():
                pytest.fail("no read expected")
        assert "not-the-password" not in str(caught.value)
    assert cam.events.subscriptions == ()


async def test_password_changed_while_subscribed_raises_auth_error(
    cam: SimulatedCamera,
) -> None:
    async with OnvifPlateEvents(cam.onvif_url, USER, PASSWORD, pull_timeout_s=1) as events:
        reader = Reader(events)
        await subscribed(cam)
        await cam.set_fault(CameraFault.WRONG_PASSWORD, True)
        with pytest.raises(OnvifAuthError):
            await asyncio.wait_for(reader.task, 3.0)
        assert isinstance(events.last_error, OnvifAuthError)


async def test_camera_without_event_service_is_unsupported(start_camera: StartCamera) -> None:
    plain = await start_camera(make_spec())
    async with OnvifPlateEvents(plain.onvif_url, USER, PASSWORD) as events:
        with pytest.raises(OnvifEventsUnsupported) as caught:
            await events.subscribe()
        assert caught.value.not_supported
        with pytest.raises(OnvifEventsUnsupported):
            async for _ in events.reads():
                pytest.fail("no read expected")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="pull_timeout_s"):
        OnvifPlateEvents("http://127.0.0.1:1/onvif/device_service", USER, PASSWORD,
                         pull_timeout_s=0.5)
