"""Push fallback (WS-BaseNotification) of the ONVIF event drivers, against simulated cameras
without a PullPoint: events with values, renewal, re-subscription, garbage, close."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import pytest

from drivers.onvif_camera_events import OnvifCameraEvents
from drivers.onvif_events import OnvifEventsUnsupported, OnvifPlateEvents
from drivers.onvif_notify import NotificationConsumer, is_notify
from simulator.model import CameraQuirk
from simulator.onvif_camera import SimulatedCamera
from simulator.rtsp_server import RtspServer
from simulator.stream_faults import StreamFault
from tests.conftest import PASSWORD, USER
from tests.drivers.event_helpers import FAST_BACKOFF, Collector, MakeCamera

NOTIFY = (
    b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
    b'<wsnt:Notify xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"/></env:Body></env:Envelope>'
)


def client(cam: SimulatedCamera, subscription_s: float = 60.0) -> OnvifCameraEvents:
    return OnvifCameraEvents(cam.onvif_url, USER, PASSWORD, subscription_s=subscription_s,
                             backoff_s=FAST_BACKOFF, consumer_host="127.0.0.1")


async def test_no_pullpoint_camera_delivers_by_push(
    make_camera: MakeCamera, rtsp: RtspServer
) -> None:
    cam = await make_camera(CameraQuirk.NO_PULLPOINT)
    async with client(cam) as events:
        assert events.mode == "pullpoint"
        collector = Collector(events)
        try:
            initial = await collector.until(lambda e: e.kind == "digital_input")
            assert events.mode == "push"
            assert {e.kind for e in initial} == {"motion", "tamper", "video_loss",
                                                 "digital_input"}
            assert {(e.operation, e.active) for e in initial} == {("Initialized", False)}

            cam.set_digital_input("DigitalInput_1", True)
            (door,) = await collector.until(lambda e: e.kind == "digital_input")
            assert (door.operation, door.active) == ("Changed", True)
            assert door.source == (("InputToken", "DigitalInput_1"),)
            assert door.time is not None
            assert abs((door.time - cam.camera_now()).total_seconds()) < 2

            rtsp.set_fault(cam.spec.id, StreamFault.BLACK, True)
            got = await collector.until(lambda e: e.kind == "tamper")
            assert (got[-1].active, got[-1].item("Rule")) == (True, "MyTamperDetectorRule")
            consumer = events.consumer
            assert consumer is not None and consumer.received >= 3 and consumer.rejected == 0
            (sub,) = cam.events.subscriptions
            assert sub.consumer == consumer.url
        finally:
            await collector.stop()
    # close(): unsubscribed, consumer stopped.
    assert cam.events.subscriptions == ()
    assert events.consumer is None and consumer.url is None


async def test_renews_then_resubscribes_after_the_camera_drops_subscriptions(
    make_camera: MakeCamera,
) -> None:
    cam = await make_camera(CameraQuirk.NO_PULLPOINT)
    async with client(cam, subscription_s=2.0) as events:
        collector = Collector(events)
        try:
            await collector.until(lambda e: e.kind == "digital_input")
            first = events.subscription
            assert first is not None
            await asyncio.sleep(2.5)  # past the 2 s lifetime: renewed at half of it
            assert [s.path for s in cam.events.subscriptions] == [
                first.address.removeprefix(cam.base_url)]
            assert events.resubscriptions == 0

            cam.events.drop_all()  # as a reboot does: noticed at the next renewal
            await collector.until(lambda e: e.kind == "digital_input"
                                  and e.operation == "Initialized", within_s=5.0)
            assert events.resubscriptions == 1 and events.mode == "push"
            assert len(cam.events.subscriptions) == 1
            cam.set_digital_input("DigitalInput_1", True)
            (door,) = await collector.until(lambda e: e.kind == "digital_input")
            assert (door.operation, door.active) == ("Changed", True)
        finally:
            await collector.stop()


async def test_garbage_posted_to_the_consumer_is_counted(make_camera: MakeCamera) -> None:
    cam = await make_camera(CameraQuirk.NO_PULLPOINT)
    async with client(cam) as events, aiohttp.ClientSession() as http:
        collector = Collector(events)
        try:
            await collector.until(lambda e: e.kind == "digital_input")
            consumer = events.consumer
            assert consumer is not None and consumer.url is not None
            for junk in (b"", b"not xml", b"<a/>", b'<!DOCTYPE x [<!ENTITY y "z">]><x>&y;</x>'):
                async with http.post(consumer.url, data=junk) as resp:
                    assert resp.status == 400
            # A Notify whose message is malformed: accepted, then counted by the parser.
            bad = NOTIFY.replace(
                b"/></env:Body>",
                b"><wsnt:NotificationMessage><wsnt:Topic>tns1:X</wsnt:Topic>"
                b"</wsnt:NotificationMessage></wsnt:Notify></env:Body>",
            )
            async with http.post(consumer.url, data=bad) as resp:
                assert resp.status == 200 and await resp.read() == b""
            async with http.post(consumer.url + "x", data=NOTIFY) as resp:
                assert resp.status == 404  # not the secret path
            assert consumer.rejected == 4
            cam.set_digital_input("DigitalInput_1", True)
            (door,) = await collector.until(lambda e: e.kind == "digital_input")
            assert door.active is True
            assert events.rejected_messages == 1
        finally:
            await collector.stop()


async def test_plate_events_fall_back_too(make_camera: MakeCamera) -> None:
    cam = await make_camera(CameraQuirk.NO_PULLPOINT)
    async with OnvifPlateEvents(cam.onvif_url, USER, PASSWORD,
                                backoff_s=FAST_BACKOFF) as events:
        reads = events.reads()
        first = asyncio.ensure_future(anext(reads))
        for _ in range(60):  # subscribed (by push) within 3 s
            if cam.events.subscriptions:
                break
            await asyncio.sleep(0.05)
        cam.publish_plate("1-ABC-123", datetime(2025, 3, 14, 8, 30, 5, tzinfo=UTC), "BE", 0.9)
        async with asyncio.timeout(3):
            read = await first
        await reads.aclose()
        assert events.mode == "push"
    assert read.plate == "1-ABC-123"


async def test_camera_without_event_service_stays_unsupported(
    make_camera: MakeCamera,
) -> None:
    cam = await make_camera(events=False)
    async with client(cam) as events:
        with pytest.raises(OnvifEventsUnsupported):
            async for _ in events.events():
                pass
        assert events.mode == "pullpoint" and events.consumer is None


async def test_consumer_alone() -> None:
    consumer = NotificationConsumer("127.0.0.1", 0)
    url = await consumer.start()
    assert url.startswith("http://127.0.0.1:") and await consumer.start() == url
    try:
        assert await consumer.get(0.05) is None
        async with aiohttp.ClientSession() as http, http.post(url, data=NOTIFY) as resp:
            assert resp.status == 200
        assert await consumer.get(1.0) == NOTIFY
    finally:
        await consumer.close()
    assert is_notify(NOTIFY) and not is_notify(b"<env:Envelope/>")
