"""OnvifCameraEvents against simulated cameras: events with values, quirks, recovery."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from drivers.errors import OnvifAuthError
from drivers.onvif_camera_events import OnvifCameraEvents
from drivers.onvif_events import OnvifEventsUnsupported
from simulator.clock import VirtualClock
from simulator.model import CameraQuirk
from simulator.onvif_camera import SimulatedCamera
from simulator.rtsp_server import RtspServer
from simulator.stream_faults import StreamFault
from tests.conftest import PASSWORD, USER, make_spec
from tests.drivers.event_helpers import FAST_BACKOFF, Collector, MakeCamera


def client(cam: SimulatedCamera, pull: float = 2.0,
           subscription_s: float = 60.0) -> OnvifCameraEvents:
    return OnvifCameraEvents(cam.onvif_url, USER, PASSWORD, pull_timeout_s=pull,
                             subscription_s=subscription_s, backoff_s=FAST_BACKOFF)


async def test_initialized_then_digital_input_tamper_and_plate(
    make_camera: MakeCamera, rtsp: RtspServer
) -> None:
    cam = await make_camera()
    async with client(cam) as events:
        collector = Collector(events)
        try:
            initial = await collector.until(lambda e: e.kind == "digital_input")
            assert {e.kind for e in initial} == {"motion", "tamper", "video_loss",
                                                 "digital_input"}
            assert {(e.operation, e.active) for e in initial} == {("Initialized", False)}

            cam.set_digital_input("DigitalInput_1", True)
            (door,) = await collector.until(lambda e: e.kind == "digital_input")
            assert door.topic == "tns1:Device/Trigger/DigitalInput"
            assert (door.operation, door.active) == ("Changed", True)
            assert door.source == (("InputToken", "DigitalInput_1"),)
            assert door.time is not None
            assert abs((door.time - cam.camera_now()).total_seconds()) < 2

            rtsp.set_fault(cam.spec.id, StreamFault.BLACK, True)
            got = await collector.until(lambda e: e.kind == "tamper")
            assert (got[-1].active, got[-1].item("Rule")) == (True, "MyTamperDetectorRule")
            rtsp.set_fault(cam.spec.id, StreamFault.DISCONNECT, True)
            got = await collector.until(lambda e: e.kind == "video_loss")
            assert got[-1].active is True and got[-1].item("Source") == "VideoSource_1"

            at = datetime(2025, 3, 14, 8, 30, 5, tzinfo=UTC)
            cam.publish_plate("1-ABC-123", at, "BE", 0.9)
            (plate,) = await collector.until(lambda e: e.kind == "plate")
            assert plate.time == at and plate.active is None
            ((name, xml),) = plate.data
            assert name == "LicensePlateInfo" and ">1-ABC-123</tt:PlateNumber>" in xml
        finally:
            await collector.stop()
    assert cam.events.subscriptions == ()  # closed: unsubscribed


async def test_motion_arrives_on_and_off(make_camera: MakeCamera) -> None:
    fast = VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC), speed=60.0)
    cam = await make_camera(clock_=fast)
    async with client(cam) as events:
        collector = Collector(events)
        try:
            got = await collector.until(
                lambda e: e.kind == "motion" and e.operation == "Changed" and e.active is False,
                within_s=4.0,
            )
        finally:
            await collector.stop()
    motion = [e for e in got if e.kind == "motion" and e.operation == "Changed"]
    # Both topics, as Hikvision sends them: the VideoSource alarm and the rule engine's.
    assert {e.topic for e in motion} == {"tns1:VideoSource/MotionAlarm",
                                         "tns1:RuleEngine/CellMotionDetector/Motion"}
    on = [e for e in motion if e.active]
    off = [e for e in motion if e.active is False]
    assert on and off and on[0].time and off[0].time
    assert 2.0 <= (off[0].time - on[0].time).total_seconds() <= 6.0


async def test_no_ws_addressing_and_naive_time_quirks(make_camera: MakeCamera) -> None:
    cam = await make_camera(CameraQuirk.NO_WS_ADDRESSING, CameraQuirk.NAIVE_TIME)
    async with client(cam) as events:
        collector = Collector(events)
        try:
            initial = await collector.until(lambda e: e.kind == "digital_input")
            cam.set_digital_input("DigitalInput_1", True)
            (door,) = await collector.until(lambda e: e.kind == "digital_input")
        finally:
            await collector.stop()
        subscription = events.subscription
    assert door.active is True and door.time is not None and door.time.tzinfo is not None
    assert abs((door.time - cam.camera_now()).total_seconds()) < 2  # naive read as UTC
    assert all(e.time is not None and e.time.tzinfo is not None for e in initial)
    assert subscription is not None and subscription.termination_time is not None
    assert subscription.address.startswith(cam.base_url + "/onvif/events/subscription/")


async def test_digest_only_camera_delivers_events(make_camera: MakeCamera) -> None:
    # The event requests must answer the camera's Digest challenge, as the device's do.
    cam = await make_camera(CameraQuirk.DIGEST_ONLY)
    async with client(cam) as events:
        collector = Collector(events)
        try:
            await collector.until(lambda e: e.kind == "digital_input")
            cam.set_digital_input("DigitalInput_1", True)
            (door,) = await collector.until(lambda e: e.kind == "digital_input")
        finally:
            await collector.stop()
    assert door.active is True and door.operation == "Changed"


async def test_no_pullpoint_falls_back_to_push(make_camera: MakeCamera) -> None:
    cam = await make_camera(CameraQuirk.NO_PULLPOINT)
    async with client(cam) as events:
        collector = Collector(events)
        try:
            await collector.until(lambda e: e.kind == "digital_input")
        finally:
            await collector.stop()
        assert events.mode == "push" and events.resubscriptions == 0


async def test_no_event_service_ends_at_once(clock: VirtualClock) -> None:
    cam = SimulatedCamera(make_spec(), clock, rtsp_port=8554)  # no event service
    await cam.start()
    started = time.monotonic()
    try:
        async with client(cam) as events:
            with pytest.raises(OnvifEventsUnsupported):
                async for _ in events.events():
                    pass
            assert isinstance(events.last_error, OnvifEventsUnsupported)
            assert events.resubscriptions == 0 and events.mode == "pullpoint"
    finally:
        await cam.stop()
    assert time.monotonic() - started < 3.0  # no retry loop


async def test_wrong_password_ends_with_auth_error(make_camera: MakeCamera) -> None:
    cam = await make_camera()
    async with OnvifCameraEvents(cam.onvif_url, USER, "wrong", backoff_s=FAST_BACKOFF) as ev:
        with pytest.raises(OnvifAuthError) as raised:
            async for _ in ev.events():
                pass
    assert "wrong" not in str(raised.value)


async def test_renews_and_resubscribes_after_the_camera_drops_subscriptions(
    make_camera: MakeCamera,
) -> None:
    cam = await make_camera()
    async with client(cam, pull=1.0, subscription_s=2.0) as events:
        collector = Collector(events)
        try:
            await collector.until(lambda e: e.kind == "digital_input")
            first = events.subscription
            await asyncio.sleep(2.5)  # past the 2 s lifetime: renewed at half of it
            assert [s.path for s in cam.events.subscriptions] == [
                first.address.removeprefix(cam.base_url) if first else ""]
            assert events.resubscriptions == 0

            cam.events.drop_all()  # as a reboot does
            # The new subscription starts with the Initialized states again.
            await collector.until(lambda e: e.kind == "digital_input"
                                  and e.operation == "Initialized", within_s=5.0)
            assert events.resubscriptions == 1
            assert len(cam.events.subscriptions) == 1
            cam.set_digital_input("DigitalInput_1", True)
            (door,) = await collector.until(lambda e: e.kind == "digital_input")
            assert (door.operation, door.active) == ("Changed", True)
        finally:
            await collector.stop()
