"""The simulated camera's ONVIF event service, spoken to with raw SOAP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from lxml import etree

from drivers.alpr import parse_onvif_plate_events
from simulator.clock import VirtualClock
from simulator.onvif_camera import SimulatedCamera
from simulator.onvif_events import MAX_QUEUED_MESSAGES, parse_duration
from tests.simulator.conftest import (
    NS,
    PASSWORD,
    USER,
    StartCamera,
    fault_codes,
    make_spec,
    post_soap,
    soap_envelope,
)

TEV = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
EV_NS = {**NS, "tev": TEV, "wsnt": WSNT, "wsa": "http://www.w3.org/2005/08/addressing"}


@pytest.fixture
async def cam(clock: VirtualClock) -> AsyncIterator[SimulatedCamera]:
    camera = SimulatedCamera(make_spec(), clock, rtsp_port=8554, event_service=True)
    await camera.start()
    yield camera
    await camera.stop()


async def call(
    http: aiohttp.ClientSession, cam: SimulatedCamera, url: str, body: str,
    *, password: str = PASSWORD,
) -> tuple[int, etree._Element]:
    data = soap_envelope(body, username=USER, password=password, created=cam.camera_now())
    return await post_soap(http, url, data)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def subscribe(
    http: aiohttp.ClientSession, cam: SimulatedCamera, termination: str | None = "PT60S"
) -> tuple[str, etree._Element]:
    inner = (
        f"<tev:InitialTerminationTime>{termination}</tev:InitialTerminationTime>"
        if termination else ""
    )
    # Plates only: the camera's motion/tamper/... states come as Initialized messages first.
    inner = (
        f'<tev:Filter><wsnt:TopicExpression xmlns:wsnt="{WSNT}" Dialect="http://www.onvif.org'
        '/ver10/tev/topicExpression/ConcreteSet">tns1:RuleEngine/Recognition/LicensePlate'
        "</wsnt:TopicExpression></tev:Filter>" + inner
    )
    status, doc = await call(
        http, cam, cam.events_url,
        f'<tev:CreatePullPointSubscription xmlns:tev="{TEV}">{inner}'
        "</tev:CreatePullPointSubscription>",
    )
    assert status == 200, etree.tostring(doc)
    address = doc.findtext(".//tev:SubscriptionReference/wsa:Address", namespaces=EV_NS)
    assert address is not None
    return address, doc


def pull_body(timeout: str = "PT1S", limit: int = 10) -> str:
    return (
        f'<tev:PullMessages xmlns:tev="{TEV}"><tev:Timeout>{timeout}</tev:Timeout>'
        f"<tev:MessageLimit>{limit}</tev:MessageLimit></tev:PullMessages>"
    )


def notifications(doc: etree._Element) -> list[etree._Element]:
    return doc.findall(".//wsnt:NotificationMessage", EV_NS)


async def test_services_capabilities_and_event_properties_advertise_events(
    cam: SimulatedCamera, http: aiohttp.ClientSession
) -> None:
    _, services = await call(
        http, cam, cam.onvif_url,
        "<tds:GetServices><tds:IncludeCapability>true</tds:IncludeCapability></tds:GetServices>",
    )
    xaddrs = {
        s.findtext("tds:Namespace", namespaces=NS): s.findtext("tds:XAddr", namespaces=NS)
        for s in services.iterfind(".//tds:Service", NS)
    }
    assert xaddrs[TEV] == cam.events_url
    caps = services.find(".//tev:Capabilities", EV_NS)
    assert caps is not None and caps.get("WSPullPointSupport") == "true"

    _, capabilities = await call(
        http, cam, cam.onvif_url,
        "<tds:GetCapabilities><tds:Category>Events</tds:Category></tds:GetCapabilities>",
    )
    assert capabilities.findtext(".//tt:Events/tt:XAddr", namespaces=NS) == cam.events_url

    _, props = await call(
        http, cam, cam.events_url, f'<tev:GetEventProperties xmlns:tev="{TEV}"/>'
    )
    topics = {etree.QName(e).localname for e in props.iter() if e.get(
        "{http://docs.oasis-open.org/wsn/t-1}topic") == "true"}
    assert {"LicensePlate", "MotionAlarm"} <= topics  # the others: test_onvif_event_topics


async def test_camera_without_event_service_does_not_advertise_or_answer(
    start_camera: StartCamera, http: aiohttp.ClientSession
) -> None:
    plain = await start_camera(make_spec())
    _, services = await call(http, plain, plain.onvif_url, "<tds:GetServices/>")
    assert TEV not in {n.text for n in services.iterfind(".//tds:Namespace", NS)}
    status, doc = await call(
        http, plain, plain.events_url, f'<tev:CreatePullPointSubscription xmlns:tev="{TEV}"/>'
    )
    assert status == 500 and "ter:ActionNotSupported" in fault_codes(doc)
    assert plain.publish_plate("1-ABC-123") == 0


async def test_subscription_address_and_termination_time(
    cam: SimulatedCamera, http: aiohttp.ClientSession
) -> None:
    address, doc = await subscribe(http, cam, "PT45S")
    assert address.startswith(cam.base_url + "/onvif/events/subscription/")
    current = utc(doc.findtext(".//wsnt:CurrentTime", namespaces=EV_NS) or "")
    termination = utc(doc.findtext(".//wsnt:TerminationTime", namespaces=EV_NS) or "")
    assert termination - current == timedelta(seconds=45)
    assert abs(current - cam.camera_now()) < timedelta(seconds=2)  # the virtual clock
    # Without InitialTerminationTime: the default lifetime, 60 s.
    _, doc = await subscribe(http, cam, None)
    current = utc(doc.findtext(".//wsnt:CurrentTime", namespaces=EV_NS) or "")
    termination = utc(doc.findtext(".//wsnt:TerminationTime", namespaces=EV_NS) or "")
    assert termination - current == timedelta(seconds=60)


async def test_long_poll_returns_as_soon_as_a_plate_is_published(
    cam: SimulatedCamera, http: aiohttp.ClientSession
) -> None:
    address, _ = await subscribe(http, cam)
    started = time.monotonic()
    pull = asyncio.create_task(call(http, cam, address, pull_body("PT10S")))
    await asyncio.sleep(0.2)
    at = datetime(2025, 3, 14, 8, 30, 5, 250000, tzinfo=UTC)
    assert cam.publish_plate("1-ABC-123", at, "BE", 0.87, issuing_entity="VLG") == 1
    status, doc = await pull
    assert status == 200
    assert time.monotonic() - started < 2.0  # far from the 10 s timeout
    assert len(notifications(doc)) == 1
    topic = doc.findtext(".//wsnt:Topic", namespaces=EV_NS)
    assert topic == "tns1:RuleEngine/Recognition/LicensePlate"
    read = parse_onvif_plate_events(etree.tostring(doc)).reads[0]
    assert (read.plate, read.at, read.country, read.region) == ("1-ABC-123", at, "BE", "VLG")
    assert read.confidence == pytest.approx(0.87)
    assert read.camera == "VideoSource_1"


async def test_long_poll_timeout_returns_empty(
    cam: SimulatedCamera, http: aiohttp.ClientSession
) -> None:
    address, _ = await subscribe(http, cam)
    started = time.monotonic()
    status, doc = await call(http, cam, address, pull_body("PT0.5S"))
    elapsed = time.monotonic() - started
    assert status == 200 and notifications(doc) == []
    assert 0.45 < elapsed < 1.5
    assert doc.find(".//tev:PullMessagesResponse/tev:TerminationTime", EV_NS) is not None


async def test_message_limit_and_queue_bound(
    cam: SimulatedCamera, http: aiohttp.ClientSession
) -> None:
    address, _ = await subscribe(http, cam)
    for plate in ("AAA1", "BBB2", "CCC3"):
        cam.publish_plate(plate, country="BE")
    _, first = await call(http, cam, address, pull_body("PT0S", limit=2))
    _, second = await call(http, cam, address, pull_body("PT0S", limit=2))
    assert [r.plate for r in parse_onvif_plate_events(etree.tostring(first)).reads] == [
        "AAA1", "BBB2"
    ]
    assert [r.plate for r in parse_onvif_plate_events(etree.tostring(second)).reads] == ["CCC3"]

    for n in range(MAX_QUEUED_MESSAGES + 5):
        cam.publish_plate(f"P{n}")
    (sub,) = cam.events.subscriptions
    assert len(sub.messages) == MAX_QUEUED_MESSAGES and sub.dropped == 5
    _, doc = await call(http, cam, address, pull_body("PT0S", limit=1))
    assert parse_onvif_plate_events(etree.tostring(doc)).reads[0].plate == "P5"  # oldest gone


async def test_every_live_subscription_gets_each_plate(
    cam: SimulatedCamera, http: aiohttp.ClientSession
) -> None:
    first, _ = await subscribe(http, cam)
    second, _ = await subscribe(http, cam)
    assert cam.publish_plate("1-XYZ-789") == 2
    for address in (first, second):
        _, doc = await call(http, cam, address, pull_body("PT0S"))
        assert len(notifications(doc)) == 1


async def test_renew_extends_the_subscription(
    cam: SimulatedCamera, http: aiohttp.ClientSession
) -> None:
    address, _ = await subscribe(http, cam, "PT0.3S")
    status, doc = await call(
        http, cam, address,
        f'<wsnt:Renew xmlns:wsnt="{WSNT}"><wsnt:TerminationTime>PT30S</wsnt:TerminationTime>'
        "</wsnt:Renew>",
    )
    assert status == 200
    current = utc(doc.findtext(".//wsnt:CurrentTime", namespaces=EV_NS) or "")
    termination = utc(doc.findtext(".//wsnt:TerminationTime", namespaces=EV_NS) or "")
    assert termination - current == timedelta(seconds=30)
    await asyncio.sleep(0.4)  # past the original lifetime
    status, _ = await call(http, cam, address, pull_body("PT0S"))
    assert status == 200


async def test_expired_subscription_faults(
    cam: SimulatedCamera, http: aiohttp.ClientSession
) -> None:
    address, _ = await subscribe(http, cam, "PT0.3S")
    await asyncio.sleep(0.4)
    assert cam.events.subscriptions == ()
    assert cam.publish_plate("1-ABC-123") == 0
    status, doc = await call(http, cam, address, pull_body("PT0S"))
    assert status == 400
    assert fault_codes(doc) == ["env:Sender", "ter:InvalidArgVal", "ter:ResourceUnknown"]


async def test_unsubscribe_then_pull_faults_and_pending_pull_is_answered(
    cam: SimulatedCamera, http: aiohttp.ClientSession
) -> None:
    address, _ = await subscribe(http, cam)
    pending = asyncio.create_task(call(http, cam, address, pull_body("PT10S")))
    await asyncio.sleep(0.1)
    status, _ = await call(http, cam, address, f'<wsnt:Unsubscribe xmlns:wsnt="{WSNT}"/>')
    assert status == 200
    status, doc = await asyncio.wait_for(pending, 2.0)  # not after its 10 s timeout
    assert status == 400 and "ter:ResourceUnknown" in fault_codes(doc)
    status, doc = await call(http, cam, address, pull_body("PT0S"))
    assert status == 400 and "ter:ResourceUnknown" in fault_codes(doc)


async def test_wrong_password_is_refused(
    cam: SimulatedCamera, http: aiohttp.ClientSession
) -> None:
    status, doc = await call(
        http, cam, cam.events_url,
        f'<tev:CreatePullPointSubscription xmlns:tev="{TEV}"/>', password="wrong",
    )
    assert status == 400 and fault_codes(doc) == ["env:Sender", "ter:NotAuthorized"]
    address, _ = await subscribe(http, cam)
    status, doc = await call(http, cam, address, pull_body("PT0S"), password="wrong")
    assert status == 400 and "ter:NotAuthorized" in fault_codes(doc)


async def test_camera_stop_forgets_subscriptions(
    cam: SimulatedCamera, http: aiohttp.ClientSession
) -> None:
    await subscribe(http, cam)
    await cam.stop()
    await cam.start()
    assert cam.events.subscriptions == ()


async def test_published_time_is_on_the_camera_clock(
    clock: VirtualClock, http: aiohttp.ClientSession
) -> None:
    drifting = SimulatedCamera(
        make_spec(clock_offset_s=-90.0), clock, rtsp_port=8554, event_service=True
    )
    await drifting.start()
    try:
        address, _ = await subscribe(http, drifting)
        at = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
        drifting.publish_plate("1-ABC-123", at)
        _, doc = await call(http, drifting, address, pull_body("PT0S"))
        read = parse_onvif_plate_events(etree.tostring(doc)).reads[0]
        assert read.at == at - timedelta(seconds=90)
    finally:
        await drifting.stop()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT60S", 60.0), ("PT1M30S", 90.0), ("P1DT2H", 93600.0), ("PT0.5S", 0.5),
     ("PT", None), ("P", None), ("60", None), ("PT5X", None)],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds
