"""The simulated camera's motion / tamper / signal-loss / digital-input events, raw SOAP."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import pytest
from lxml import etree

from simulator.clock import VirtualClock
from simulator.model import CameraQuirk
from simulator.onvif_camera import SimulatedCamera
from simulator.onvif_event_topics import motion_passes
from simulator.rtsp_server import RtspServer
from simulator.stream_faults import StreamFault
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
WSTOP = "http://docs.oasis-open.org/wsn/t-1"
EV = {**NS, "tev": TEV, "wsnt": WSNT}
CREATE_ACTION = f"{TEV}/EventPortType/CreatePullPointSubscriptionRequest"

MakeCamera = Callable[..., Awaitable[SimulatedCamera]]
Message = tuple[str, str, str, dict[str, str], dict[str, str]]  # topic, time, op, src, data


@pytest.fixture
async def make_camera(clock: VirtualClock) -> AsyncIterator[MakeCamera]:
    started: list[SimulatedCamera] = []

    async def make(*quirks: CameraQuirk, rtsp: RtspServer | None = None,
                   clock_: VirtualClock | None = None) -> SimulatedCamera:
        spec = dataclasses.replace(make_spec(), quirks=frozenset(quirks))
        cam = SimulatedCamera(spec, clock_ or clock, rtsp_port=8554, rtsp=rtsp,
                              event_service=True)
        await cam.start()
        started.append(cam)
        return cam

    yield make
    for cam in started:
        await cam.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, cam: SimulatedCamera, url: str, body: str,
               wsa_action: str | None = None) -> tuple[int, etree._Element]:
    data = soap_envelope(body, username=USER, password=PASSWORD, created=cam.camera_now(),
                         wsa_action=wsa_action)
    return await post_soap(http, url, data)


async def subscribe(http: aiohttp.ClientSession, cam: SimulatedCamera,
                    topic_filter: str = "") -> tuple[str, etree._Element]:
    inner = (
        f'<tev:Filter><wsnt:TopicExpression xmlns:wsnt="{WSNT}" Dialect="http://www.onvif.org'
        f'/ver10/tev/topicExpression/ConcreteSet">{topic_filter}</wsnt:TopicExpression>'
        "</tev:Filter>" if topic_filter else ""
    )
    status, doc = await call(
        http, cam, cam.events_url,
        f'<tev:CreatePullPointSubscription xmlns:tev="{TEV}">{inner}'
        "<tev:InitialTerminationTime>PT60S</tev:InitialTerminationTime>"
        "</tev:CreatePullPointSubscription>",
        wsa_action=CREATE_ACTION,
    )
    assert status == 200, etree.tostring(doc)
    address = doc.findtext(".//tev:SubscriptionReference/wsa:Address", namespaces=EV)
    assert address
    return address, doc


async def pull(http: aiohttp.ClientSession, cam: SimulatedCamera, address: str,
               wait: str = "PT0S") -> list[Message]:
    status, doc = await call(
        http, cam, address,
        f'<tev:PullMessages xmlns:tev="{TEV}"><tev:Timeout>{wait}</tev:Timeout>'
        "<tev:MessageLimit>100</tev:MessageLimit></tev:PullMessages>",
    )
    assert status == 200, etree.tostring(doc)
    out = []
    for note in doc.iterfind(".//wsnt:NotificationMessage", EV):
        message = note.find("wsnt:Message/tt:Message", EV)
        assert message is not None
        out.append((
            (note.findtext("wsnt:Topic", namespaces=EV) or "").strip(),
            message.get("UtcTime") or "", message.get("PropertyOperation") or "",
            {i.get("Name"): i.get("Value") for i in message.iterfind("tt:Source/tt:SimpleItem",
                                                                        EV)},
            {i.get("Name"): i.get("Value") for i in message.iterfind("tt:Data/tt:SimpleItem",
                                                                        EV)},
        ))
    return out


async def pull_until(http: aiohttp.ClientSession, cam: SimulatedCamera, address: str,
                     found: Callable[[Message], bool], within_s: float = 3.0) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + within_s
    while not any(found(m) for m in got):
        assert time.monotonic() < deadline, got
        got += await pull(http, cam, address, "PT1S")
    return got


async def test_event_properties_describe_every_topic(
    make_camera: MakeCamera, http: aiohttp.ClientSession
) -> None:
    cam = await make_camera()
    _, doc = await call(http, cam, cam.events_url, f'<tev:GetEventProperties xmlns:tev="{TEV}"/>')
    described = {}
    for element in doc.iter():
        if element.get(f"{{{WSTOP}}}topic") == "true":
            path: list[str] = []
            node = element
            while etree.QName(node).localname != "TopicSet":
                path.insert(0, etree.QName(node).localname)
                node = node.getparent()
            items = {d.get("Name"): d.get("Type") for d in element.iter()
                     if etree.QName(d).localname.endswith("ItemDescription")}
            described["/".join(path)] = items
    assert described == {
        "RuleEngine/Recognition/LicensePlate": {
            "VideoSource": "tt:ReferenceToken", "Rule": "xsd:string",
            "LicensePlateInfo": "tt:LicensePlateInfo"},
        "RuleEngine/CellMotionDetector/Motion": {
            "VideoSourceConfigurationToken": "tt:ReferenceToken",
            "VideoAnalyticsConfigurationToken": "tt:ReferenceToken", "Rule": "xsd:string",
            "IsMotion": "xsd:boolean"},
        "RuleEngine/TamperDetector/Tamper": {
            "VideoSourceConfigurationToken": "tt:ReferenceToken",
            "VideoAnalyticsConfigurationToken": "tt:ReferenceToken", "Rule": "xsd:string",
            "IsTamper": "xsd:boolean"},
        "VideoSource/MotionAlarm": {"Source": "tt:ReferenceToken", "State": "xsd:boolean"},
        "VideoSource/SignalLoss": {"Source": "tt:ReferenceToken", "State": "xsd:boolean"},
        "Device/Trigger/DigitalInput": {
            "InputToken": "tt:ReferenceToken", "LogicalState": "xsd:boolean"},
    }


async def test_initialized_states_then_digital_input_changed(
    make_camera: MakeCamera, http: aiohttp.ClientSession
) -> None:
    cam = await make_camera()
    address, _ = await subscribe(http, cam)
    initial = await pull(http, cam, address)
    assert {m[0] for m in initial} == {
        "tns1:VideoSource/MotionAlarm", "tns1:RuleEngine/CellMotionDetector/Motion",
        "tns1:RuleEngine/TamperDetector/Tamper", "tns1:VideoSource/SignalLoss",
        "tns1:Device/Trigger/DigitalInput",
    }
    assert {m[2] for m in initial} == {"Initialized"}
    by_topic = {m[0]: m for m in initial}
    assert by_topic["tns1:Device/Trigger/DigitalInput"][3:] == (
        {"InputToken": "DigitalInput_1"}, {"LogicalState": "false"})
    assert by_topic["tns1:RuleEngine/TamperDetector/Tamper"][3] == {
        "VideoSourceConfigurationToken": "VideoSourceConfig_1",
        "VideoAnalyticsConfigurationToken": "VideoAnalyticsToken",
        "Rule": "MyTamperDetectorRule"}
    assert by_topic["tns1:VideoSource/SignalLoss"][3:] == (
        {"Source": "VideoSource_1"}, {"State": "false"})

    assert cam.set_digital_input("DigitalInput_1", True) == 1
    assert cam.set_digital_input("DigitalInput_1", True) == 0  # no change, no message
    changed = [m for m in await pull(http, cam, address) if "DigitalInput" in m[0]]
    ((_, utc, operation, source, data),) = changed
    assert (operation, source, data) == (
        "Changed", {"InputToken": "DigitalInput_1"}, {"LogicalState": "true"})
    at = datetime.fromisoformat(utc.replace("Z", "+00:00"))
    assert abs((at - cam.camera_now()).total_seconds()) < 2
    with pytest.raises(ValueError, match="no digital input"):
        cam.set_digital_input("DigitalInput_9", True)

    # A new subscriber is told the present value.
    second, _ = await subscribe(http, cam, "tns1:Device/Trigger/DigitalInput")
    ((_, _, operation, _, data),) = await pull(http, cam, second)
    assert (operation, data) == ("Initialized", {"LogicalState": "true"})


async def test_tamper_on_black_and_signal_loss_on_stall(
    make_camera: MakeCamera, http: aiohttp.ClientSession, clock: VirtualClock
) -> None:
    rtsp = RtspServer(clock)
    try:
        cam = await make_camera(rtsp=rtsp)
        address, _ = await subscribe(http, cam, "tns1:RuleEngine/TamperDetector/Tamper|"
                                                "tns1:VideoSource/SignalLoss")
        assert len(await pull(http, cam, address)) == 2  # Initialized, both false
        rtsp.set_fault(cam.spec.id, StreamFault.BLACK, True)
        got = await pull_until(http, cam, address, lambda m: m[4].get("IsTamper") == "true")
        assert [m[2] for m in got] == ["Changed"]
        assert got[0][3]["Rule"] == "MyTamperDetectorRule"

        rtsp.set_fault(f"{cam.spec.id}/profile_sub", StreamFault.STALL, True)
        got = await pull_until(http, cam, address, lambda m: m[4].get("State") == "true")
        assert got[-1][0] == "tns1:VideoSource/SignalLoss"
        rtsp.set_fault(f"{cam.spec.id}/profile_sub", StreamFault.STALL, False)
        rtsp.set_fault(cam.spec.id, StreamFault.BLACK, False)
        got = await pull_until(http, cam, address, lambda m: m[4].get("IsTamper") == "false")
        got += await pull(http, cam, address, "PT0.5S")
        assert {(m[0], tuple(m[4].values())) for m in got} == {
            ("tns1:VideoSource/SignalLoss", ("false",)),
            ("tns1:RuleEngine/TamperDetector/Tamper", ("false",)),
        }
    finally:
        await rtsp.stop()


async def test_motion_follows_the_seeded_process_on_the_virtual_clock(
    make_camera: MakeCamera, http: aiohttp.ClientSession
) -> None:
    fast = VirtualClock(datetime(2025, 3, 14, 8, 30, tzinfo=UTC), speed=60.0)
    cam = await make_camera(clock_=fast)
    address, _ = await subscribe(http, cam, "tns1:RuleEngine/CellMotionDetector/Motion")
    (initial,) = await pull(http, cam, address)
    assert initial[2] == "Initialized"
    got = await pull_until(http, cam, address, lambda m: m[4] == {"IsMotion": "false"},
                           within_s=4.0)
    changes = [(m[1], m[4]["IsMotion"]) for m in got]
    assert [v for _, v in changes][:2] == ["true", "false"]
    on, off = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t, _ in changes[:2])
    # The pass the camera reports is the first of its seeded schedule.
    start, end = next(motion_passes(f"citywatch-motion:{cam.seed}:{cam.spec.id}"))
    assert (on - fast.start).total_seconds() == pytest.approx(start, abs=0.01)
    assert (off - on).total_seconds() == pytest.approx(end - start, abs=0.01)
    assert 2.0 <= (off - on).total_seconds() <= 6.0


async def test_nothing_runs_without_subscribers(
    make_camera: MakeCamera, http: aiohttp.ClientSession
) -> None:
    cam = await make_camera()

    def tickers() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if t.get_name() == f"events {cam.spec.id}"]

    assert cam.set_digital_input("DigitalInput_1", True) == 0  # nobody to tell
    await asyncio.sleep(0.3)
    assert tickers() == []
    address, _ = await subscribe(http, cam)
    assert len(tickers()) == 1
    await call(http, cam, address, f'<wsnt:Unsubscribe xmlns:wsnt="{WSNT}"/>')
    await asyncio.sleep(0.6)
    assert tickers() == []


async def test_no_pullpoint_quirk(make_camera: MakeCamera, http: aiohttp.ClientSession) -> None:
    cam = await make_camera(CameraQuirk.NO_PULLPOINT)
    _, services = await call(
        http, cam, cam.onvif_url,
        "<tds:GetServices><tds:IncludeCapability>true</tds:IncludeCapability></tds:GetServices>",
    )
    caps = services.find(".//tev:Capabilities", EV)
    assert caps is not None and caps.get("WSPullPointSupport") == "false"
    _, capabilities = await call(
        http, cam, cam.onvif_url,
        "<tds:GetCapabilities><tds:Category>Events</tds:Category></tds:GetCapabilities>",
    )
    assert capabilities.findtext(".//tt:Events/tt:WSPullPointSupport", namespaces=EV) == "false"
    _, own = await call(http, cam, cam.events_url,
                        f'<tev:GetServiceCapabilities xmlns:tev="{TEV}"/>')
    own_caps = own.find(".//tev:Capabilities", EV)
    assert own_caps is not None and own_caps.get("WSPullPointSupport") == "false"
    status, _ = await call(http, cam, cam.events_url,
                               f'<tev:GetEventProperties xmlns:tev="{TEV}"/>')
    assert status == 200  # the event service is there, its topics too
    status, doc = await call(http, cam, cam.events_url,
                             f'<tev:CreatePullPointSubscription xmlns:tev="{TEV}"/>')
    assert status == 500 and "ter:ActionNotSupported" in fault_codes(doc)
    assert cam.events.subscriptions == ()


async def test_ws_addressing_in_answers_and_its_absence(
    make_camera: MakeCamera, http: aiohttp.ClientSession
) -> None:
    normal = await make_camera()
    _, doc = await subscribe(http, normal)
    assert doc.findtext("env:Header/wsa:Action", namespaces=EV) == (
        f"{TEV}/EventPortType/CreatePullPointSubscriptionResponse")
    assert doc.find(".//tev:SubscriptionReference/wsa:ReferenceParameters", EV) is not None

    bare = await make_camera(CameraQuirk.NO_WS_ADDRESSING)
    address, doc = await subscribe(http, bare)
    assert doc.find("env:Header/wsa:Action", EV) is None
    assert doc.find("env:Header/wsa:RelatesTo", EV) is None
    reference = doc.find(".//tev:SubscriptionReference", EV)
    assert reference is not None and [etree.QName(c).localname for c in reference] == ["Address"]
    assert len(await pull(http, bare, address)) == 5  # works posted to the address alone


async def test_naive_time_quirk(make_camera: MakeCamera, http: aiohttp.ClientSession) -> None:
    cam = await make_camera(CameraQuirk.NAIVE_TIME)
    address, doc = await subscribe(http, cam)
    for name in ("CurrentTime", "TerminationTime"):
        text = doc.findtext(f".//wsnt:{name}", namespaces=EV) or ""
        assert text and not text.endswith("Z") and "+" not in text
    messages = await pull(http, cam, address)
    assert messages and all(m[1] and not m[1].endswith("Z") for m in messages)
    cam.publish_plate("1-ABC-123")
    ((_, utc, *_),) = [m for m in await pull(http, cam, address) if "License" in m[0]]
    assert not utc.endswith("Z")
    at = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert abs((at - cam.camera_now()).total_seconds()) < 2
