"""WS-BaseNotification push of the simulated camera's event service (raw SOAP): Subscribe,
Notify POSTs to a consumer of ours, Renew, Unsubscribe, delivery failures, termination."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import aiohttp
import pytest
from aiohttp import web
from lxml import etree

import simulator.event_subscription as event_subscription
import simulator.onvif_events as onvif_events
from simulator.clock import VirtualClock
from simulator.model import CameraQuirk
from simulator.onvif_camera import SimulatedCamera
from tests.simulator.conftest import (
    NS,
    PASSWORD,
    USER,
    fault_codes,
    make_spec,
    post_soap,
    soap_envelope,
)

TEV = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
WSA = "http://www.w3.org/2005/08/addressing"
EV = {**NS, "tev": TEV, "wsnt": WSNT, "wsa": WSA}
NOTIFY_ACTION = "http://docs.oasis-open.org/wsn/bw-2/NotificationConsumer/Notify"
DOOR_FILTER = "tns1:Device/Trigger/DigitalInput"
MakeCamera = Callable[..., Awaitable[SimulatedCamera]]


@pytest.fixture
async def make_camera(clock: VirtualClock) -> AsyncIterator[MakeCamera]:
    started: list[SimulatedCamera] = []

    async def make(*quirks: CameraQuirk) -> SimulatedCamera:
        spec = dataclasses.replace(make_spec(), quirks=frozenset(quirks))
        cam = SimulatedCamera(spec, clock, rtsp_port=8554, event_service=True)
        await cam.start()
        started.append(cam)
        return cam

    yield make
    for cam in started:
        await cam.stop()


class Consumer:
    """A notification consumer: every POST's body and headers, answered 200 (or `status`)."""

    def __init__(self) -> None:
        self.posts: asyncio.Queue[tuple[etree._Element, dict[str, str]]] = asyncio.Queue()
        self.status = 200
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/notify", self._on_post)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/notify"

    async def _on_post(self, request: web.Request) -> web.Response:
        await self.posts.put((etree.fromstring(await request.read()), dict(request.headers)))
        return web.Response(status=self.status)

    async def messages(self, count: int, within_s: float = 3.0) -> list[etree._Element]:
        """The next `count` NotificationMessages, across Notify POSTs."""
        got: list[etree._Element] = []
        async with asyncio.timeout(within_s):
            while len(got) < count:
                doc, _ = await self.posts.get()
                got.extend(doc.findall(".//wsnt:Notify/wsnt:NotificationMessage", EV))
        return got

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def consumer() -> AsyncIterator[Consumer]:
    c = Consumer()
    await c.start()
    yield c
    await c.close()


async def call(
    http: aiohttp.ClientSession, cam: SimulatedCamera, url: str, body: str
) -> tuple[int, etree._Element]:
    data = soap_envelope(body, username=USER, password=PASSWORD, created=cam.camera_now())
    return await post_soap(http, url, data)


async def subscribe(
    http: aiohttp.ClientSession, cam: SimulatedCamera, consumer_url: str,
    termination: str = "PT60S", topics: str | None = DOOR_FILTER,
) -> tuple[int, etree._Element]:
    topic_filter = (
        f'<wsnt:Filter><wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/'
        f'topicExpression/ConcreteSet">{topics}</wsnt:TopicExpression></wsnt:Filter>'
        if topics else ""
    )
    return await call(
        http, cam, cam.events_url,
        f'<wsnt:Subscribe xmlns:wsnt="{WSNT}" xmlns:wsa="{WSA}"><wsnt:ConsumerReference>'
        f"<wsa:Address>{consumer_url}</wsa:Address></wsnt:ConsumerReference>{topic_filter}"
        f"<wsnt:InitialTerminationTime>{termination}</wsnt:InitialTerminationTime>"
        "</wsnt:Subscribe>",
    )


async def dropped(cam: SimulatedCamera, within_s: float = 3.0) -> None:
    """Wait until the camera holds no subscription."""
    for _ in range(int(within_s / 0.05)):
        if not cam.events.subscriptions:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the subscription was not dropped")


def manager(doc: etree._Element) -> str:
    address = doc.findtext(".//wsnt:SubscribeResponse/wsnt:SubscriptionReference/wsa:Address",
                           namespaces=EV)
    assert address is not None, etree.tostring(doc)
    return address


def door(message: etree._Element) -> tuple[str | None, str | None]:
    """PropertyOperation and LogicalState of a digital-input message."""
    msg = message.find("wsnt:Message/tt:Message", EV)
    assert message.findtext("wsnt:Topic", namespaces=EV) == DOOR_FILTER
    assert msg is not None
    state = msg.find("tt:Data/tt:SimpleItem[@Name='LogicalState']", EV)
    return msg.get("PropertyOperation"), state.get("Value") if state is not None else None


async def test_subscribe_then_notify_initialized_then_changed(
    make_camera: MakeCamera, consumer: Consumer, http: aiohttp.ClientSession
) -> None:
    cam = await make_camera()
    status, doc = await subscribe(http, cam, consumer.url)
    assert status == 200
    address = manager(doc)
    assert address.startswith(cam.base_url + "/onvif/events/subscription/")
    current = doc.findtext(".//wsnt:CurrentTime", namespaces=EV)
    termination = doc.findtext(".//wsnt:TerminationTime", namespaces=EV)
    assert current and termination
    lifetime = datetime.fromisoformat(termination) - datetime.fromisoformat(current)
    assert 59 <= lifetime.total_seconds() <= 60

    (initial,) = await consumer.messages(1)
    assert door(initial) == ("Initialized", "false")
    cam.set_digital_input("DigitalInput_1", True)
    (changed,) = await consumer.messages(1)
    assert door(changed) == ("Changed", "true")

    # A SOAP 1.2 Notify, addressed as WS-Addressing says.
    envelope, headers = await _last_post(cam, consumer)
    assert envelope.tag == f"{{{NS['env']}}}Envelope"
    assert headers["Content-Type"].startswith("application/soap+xml")
    assert envelope.findtext(".//wsa:Action", namespaces=EV) == NOTIFY_ACTION
    assert envelope.findtext(".//wsa:To", namespaces=EV) == consumer.url


async def _last_post(
    cam: SimulatedCamera, consumer: Consumer
) -> tuple[etree._Element, dict[str, str]]:
    cam.set_digital_input("DigitalInput_1", False)
    async with asyncio.timeout(3):
        return await consumer.posts.get()


async def test_renew_and_unsubscribe_stop_pushes(
    make_camera: MakeCamera, consumer: Consumer, http: aiohttp.ClientSession
) -> None:
    cam = await make_camera()
    _, doc = await subscribe(http, cam, consumer.url, termination="PT10S")
    address = manager(doc)
    await consumer.messages(1)
    status, renewed = await call(
        http, cam, address,
        f'<wsnt:Renew xmlns:wsnt="{WSNT}"><wsnt:TerminationTime>PT120S</wsnt:TerminationTime>'
        "</wsnt:Renew>",
    )
    assert status == 200
    current = renewed.findtext(".//wsnt:RenewResponse/wsnt:CurrentTime", namespaces=EV)
    termination = renewed.findtext(".//wsnt:RenewResponse/wsnt:TerminationTime", namespaces=EV)
    assert current and termination
    lifetime = datetime.fromisoformat(termination) - datetime.fromisoformat(current)
    assert 119 <= lifetime.total_seconds() <= 120

    status, _ = await call(http, cam, address, f'<wsnt:Unsubscribe xmlns:wsnt="{WSNT}"/>')
    assert status == 200
    assert cam.events.subscriptions == ()
    cam.set_digital_input("DigitalInput_1", True)
    await asyncio.sleep(0.5)
    assert consumer.posts.empty()
    status, doc = await call(http, cam, address, f'<wsnt:Unsubscribe xmlns:wsnt="{WSNT}"/>')
    assert status == 400 and "ter:InvalidArgVal" in fault_codes(doc)


async def test_unreachable_consumer_drops_the_subscription(
    make_camera: MakeCamera, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_subscription, "RETRY_DELIVERY_S", 0.05)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cam = await make_camera()
    status, doc = await subscribe(http, cam, f"http://127.0.0.1:{port}/gone")
    assert status == 200
    address = manager(doc)
    await dropped(cam)
    status, doc = await call(
        http, cam, address,
        f'<wsnt:Renew xmlns:wsnt="{WSNT}"><wsnt:TerminationTime>PT60S</wsnt:TerminationTime>'
        "</wsnt:Renew>",
    )
    assert status == 400 and "ter:InvalidArgVal" in fault_codes(doc)


async def test_consumer_refusing_notifies_is_dropped_too(
    make_camera: MakeCamera, consumer: Consumer, http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(event_subscription, "RETRY_DELIVERY_S", 0.05)
    consumer.status = 500
    cam = await make_camera()
    await subscribe(http, cam, consumer.url)
    await dropped(cam)
    # The same Initialized message was offered each time: kept until taken.
    assert consumer.posts.qsize() == onvif_events.MAX_DELIVERY_FAILURES


async def test_termination_time_ends_pushes(
    make_camera: MakeCamera, consumer: Consumer, http: aiohttp.ClientSession
) -> None:
    cam = await make_camera()
    await subscribe(http, cam, consumer.url, termination="PT1S")
    await consumer.messages(1)
    await asyncio.sleep(1.3)
    assert cam.events.subscriptions == ()
    cam.set_digital_input("DigitalInput_1", True)
    await asyncio.sleep(0.3)
    assert consumer.posts.empty()


async def test_no_pullpoint_camera_accepts_subscribe(
    make_camera: MakeCamera, consumer: Consumer, http: aiohttp.ClientSession
) -> None:
    cam = await make_camera(CameraQuirk.NO_PULLPOINT, CameraQuirk.NAIVE_TIME)
    _, own = await call(http, cam, cam.events_url,
                        f'<tev:GetServiceCapabilities xmlns:tev="{TEV}"/>')
    caps = own.find(".//tev:Capabilities", EV)
    assert caps is not None and caps.get("WSPullPointSupport") == "false"
    assert caps.get("MaxNotificationProducers") == "10"
    status, doc = await subscribe(http, cam, consumer.url, topics=None)
    assert status == 200
    messages = await consumer.messages(4)
    topics = {m.findtext("wsnt:Topic", namespaces=EV) for m in messages}
    assert DOOR_FILTER in topics and "tns1:VideoSource/SignalLoss" in topics
    times = [m.find("wsnt:Message/tt:Message", EV).get("UtcTime") for m in messages]
    assert all(t and not t.endswith("Z") for t in times)  # NAIVE_TIME in pushes too
    # The subscription manager is pulled from nowhere: PullMessages is not for push.
    status, doc = await call(
        http, cam, manager(doc),
        f'<tev:PullMessages xmlns:tev="{TEV}"><tev:Timeout>PT1S</tev:Timeout>'
        "<tev:MessageLimit>1</tev:MessageLimit></tev:PullMessages>",
    )
    assert status == 500 and "ter:ActionNotSupported" in fault_codes(doc)


async def test_subscribe_without_http_consumer_faults(
    make_camera: MakeCamera, http: aiohttp.ClientSession
) -> None:
    cam = await make_camera()
    status, doc = await subscribe(http, cam, "mailto:someone@example.org")
    assert status == 400 and "ter:InvalidArgVal" in fault_codes(doc)
    assert cam.events.subscriptions == ()
