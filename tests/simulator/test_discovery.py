"""The simulator's WS-Discovery responder, probed with hand-written datagrams (no driver)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
from lxml import etree

from simulator.discovery import DiscoveryResponder, endpoint_address
from simulator.model import CameraFault
from simulator.onvif_camera import SimulatedCamera
from tests.conftest import PASSWORD, USER, StartCamera, make_spec
from tests.simulator.conftest import post_soap, soap_envelope

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
}
DN = "http://www.onvif.org/ver10/network/wsdl"
WAIT_S = 0.15  # answers come after at most max_delay_s (0.02 s here)


def probe(
    message_id: str | None = None,
    types: str | None = "dn:NetworkVideoTransmitter",
    scopes: str | None = None,
    match_by: str | None = None,
    extra_ns: str = f'xmlns:dn="{DN}"',
) -> tuple[str, bytes]:
    """A Probe as ONVIF Device Manager sends it (SOAP 1.2, WS-Addressing 2004/08)."""
    message_id = message_id or f"uuid:{uuid.uuid4()}"
    body = ""
    if types is not None:
        body += f"<d:Types {extra_ns}>{types}</d:Types>"
    if scopes is not None:
        attr = f' MatchBy="{match_by}"' if match_by else ""
        body += f"<d:Scopes{attr}>{scopes}</d:Scopes>"
    data = (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{NS["s"]}" '
        f'xmlns:a="{NS["a"]}"><s:Header>'
        f'<a:Action s:mustUnderstand="1">{NS["d"]}/Probe</a:Action>'
        f"<a:MessageID>{message_id}</a:MessageID>"
        f"<a:ReplyTo><a:Address>{NS['a']}/role/anonymous</a:Address></a:ReplyTo>"
        '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
        f'</s:Header><s:Body><d:Probe xmlns:d="{NS["d"]}">{body}</d:Probe></s:Body>'
        "</s:Envelope>"
    )
    return message_id, data.encode()


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[bytes] = []

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.got.append(data)


Exchange = Callable[..., Awaitable[list[etree._Element]]]


@pytest.fixture
async def exchange() -> AsyncIterator[Exchange]:
    """Send datagrams from one client socket to a port; return the parsed answers."""
    loop = asyncio.get_running_loop()
    transport, inbox = await loop.create_datagram_endpoint(
        _Inbox, local_addr=("127.0.0.1", 0)
    )

    async def _exchange(port: int, *datagrams: bytes, wait: float = WAIT_S) -> list[Any]:
        inbox.got.clear()
        for data in datagrams:
            transport.sendto(data, ("127.0.0.1", port))
        await asyncio.sleep(wait)
        return [etree.fromstring(d) for d in inbox.got]

    yield _exchange
    transport.close()


@pytest.fixture
async def cameras(start_camera: StartCamera) -> list[SimulatedCamera]:
    return [await start_camera(make_spec(f"hst-cam-{i:03d}", vendor=vendor))
            for i, vendor in enumerate(("axis", "hikvision", "axis"))]


@pytest.fixture
async def responder(cameras: list[SimulatedCamera]) -> AsyncIterator[DiscoveryResponder]:
    r = DiscoveryResponder(lambda: cameras, max_delay_s=0.02, seed=1)
    await r.start()
    yield r
    await r.stop()


def _matches(answers: list[Any]) -> list[Any]:
    return [m for a in answers for m in a.iterfind(".//d:ProbeMatch", NS)]


async def test_every_camera_answers_with_its_own_probe_match(
    responder: DiscoveryResponder, cameras: list[SimulatedCamera], exchange: Exchange
) -> None:
    message_id, data = probe()
    answers = await exchange(responder.port, data)
    assert len(answers) == 3  # one datagram per camera, as separate devices answer
    by_address = {}
    for answer in answers:
        assert answer.findtext("s:Header/a:Action", namespaces=NS) == NS["d"] + "/ProbeMatches"
        assert answer.findtext("s:Header/a:RelatesTo", namespaces=NS) == message_id
        assert answer.findtext("s:Header/a:To", namespaces=NS) == NS["a"] + "/role/anonymous"
        assert answer.findtext("s:Header/a:MessageID", namespaces=NS).startswith("urn:uuid:")
        assert answer.find("s:Header/d:AppSequence", NS).get("InstanceId").isdigit()
        (match,) = _matches([answer])
        by_address[match.findtext("a:EndpointReference/a:Address", namespaces=NS)] = match
    for cam in cameras:
        match = by_address[endpoint_address(cam)]
        types = match.find("d:Types", NS)
        resolved = {types.nsmap[w.split(":")[0]] + "#" + w.split(":")[1]
                    for w in types.text.split()}
        assert resolved == {DN + "#NetworkVideoTransmitter", NS["tds"] + "#Device"}
        assert match.findtext("d:XAddrs", namespaces=NS) == cam.onvif_url
        assert match.findtext("d:MetadataVersion", namespaces=NS) == "1"
        scopes = match.findtext("d:Scopes", namespaces=NS).split()
        decoded = [unquote(s) for s in scopes]
        assert f"onvif://www.onvif.org/name/{cam.spec.name}" in decoded
        assert f"onvif://www.onvif.org/hardware/{cam.spec.vendor.model}" in decoded
        assert "onvif://www.onvif.org/location/street/Grote Markt" in decoded
    assert responder.probes == 1 and responder.sent == 3


async def test_scopes_are_those_of_get_scopes_and_xaddr_serves_onvif(
    responder: DiscoveryResponder, cameras: list[SimulatedCamera], exchange: Exchange,
    http: aiohttp.ClientSession,
) -> None:
    _, data = probe()
    matches = _matches(await exchange(responder.port, data))
    match = next(m for m in matches
                 if m.findtext("d:XAddrs", namespaces=NS) == cameras[1].onvif_url)
    xaddr = match.findtext("d:XAddrs", namespaces=NS)
    status, doc = await post_soap(http, xaddr, soap_envelope(
        "<tds:GetScopes/>", username=USER, password=PASSWORD,
        created=cameras[1].camera_now()))
    assert status == 200
    served = [el.text for el in doc.iterfind(".//tt:ScopeItem", NS)]
    assert match.findtext("d:Scopes", namespaces=NS).split() == served


@pytest.mark.parametrize(
    ("types", "extra_ns", "answered"),
    [
        ("dn:NetworkVideoTransmitter", f'xmlns:dn="{DN}"', 3),
        ("tds:Device", f'xmlns:tds="{NS["tds"]}"', 3),
        ("x:NetworkVideoTransmitter y:Device", f'xmlns:x="{DN}" xmlns:y="{NS["tds"]}"', 3),
        ("", "", 3),  # empty Types: every device answers
        (None, "", 3),  # no Types element at all
        ("p:Printer", 'xmlns:p="http://schemas.microsoft.com/windows/2006/08/wdp/print"', 0),
        ("dn:NetworkVideoTransmitter p:Printer",
         f'xmlns:dn="{DN}" xmlns:p="http://example.com/p"', 0),  # all types must match
        ("NetworkVideoTransmitter", "", 0),  # no namespace: not the ONVIF type
        ("zz:NetworkVideoTransmitter", "", 0),  # undeclared prefix
    ],
)
async def test_types_filter(
    responder: DiscoveryResponder, exchange: Exchange,
    types: str | None, extra_ns: str, answered: int,
) -> None:
    _, data = probe(types=types, extra_ns=extra_ns)
    assert len(_matches(await exchange(responder.port, data))) == answered


@pytest.mark.parametrize(
    ("scopes", "match_by", "answered"),
    [
        ("onvif://www.onvif.org/location/city/Hasselt", None, 3),
        ("onvif://www.onvif.org/location", None, 3),  # segment prefix
        ("ONVIF://WWW.ONVIF.ORG/location/city/Hasselt", None, 3),  # scheme/host any case
        ("onvif://www.onvif.org/location/city/Hass", None, 0),  # not a whole segment
        ("onvif://www.onvif.org/hardware/AXIS%20P1455-LE", None, 2),
        ("onvif://www.onvif.org/hardware/AXIS%20P1455-LE "
         "onvif://www.onvif.org/location/city/Genk", None, 0),  # every scope must match
        ("onvif://www.onvif.org/location/city/Hasselt",
         "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0", 3),
        ("onvif://www.onvif.org/location/city",
         "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0", 0),
        ("onvif://www.onvif.org/location", "http://example.com/unknown-rule", 0),
    ],
)
async def test_scopes_filter(
    responder: DiscoveryResponder, exchange: Exchange,
    scopes: str, match_by: str | None, answered: int,
) -> None:
    _, data = probe(scopes=scopes, match_by=match_by)
    assert len(_matches(await exchange(responder.port, data))) == answered


async def test_repeated_probe_is_answered_once(
    responder: DiscoveryResponder, exchange: Exchange
) -> None:
    _, data = probe()
    answers = await exchange(responder.port, data, data)  # SOAP-over-UDP repeat
    assert len(answers) == 3
    _, other = probe()
    assert len(await exchange(responder.port, other)) == 3  # a new Probe is answered


@pytest.mark.parametrize(
    "junk",
    [
        b" ",
        b"\x00\xff garbage",
        b"<not-closed",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>',
        probe()[1].replace(b"/Probe</a:Action>", b"/Hello</a:Action>"),  # not a Probe
        probe()[1].replace(b"<a:MessageID>", b"<a:X>").replace(b"</a:MessageID>", b"</a:X>"),
    ],
    ids=["blank", "binary", "unclosed", "dtd", "soap11-empty", "hello", "no-message-id"],
)
async def test_junk_is_ignored_and_counted(
    responder: DiscoveryResponder, exchange: Exchange, junk: bytes
) -> None:
    assert await exchange(responder.port, junk) == []
    assert responder.ignored == 1
    _, data = probe()
    assert len(await exchange(responder.port, data)) == 3  # still answering


async def test_switched_off_cameras_stay_silent(
    responder: DiscoveryResponder, cameras: list[SimulatedCamera], exchange: Exchange
) -> None:
    await cameras[0].set_fault(CameraFault.OFFLINE, True)
    await cameras[1].set_powered(False)
    _, data = probe()
    matches = _matches(await exchange(responder.port, data))
    assert [m.findtext("d:XAddrs", namespaces=NS) for m in matches] == [cameras[2].onvif_url]


async def test_relocated_camera_answers_with_its_new_location(
    responder: DiscoveryResponder, cameras: list[SimulatedCamera], exchange: Exchange
) -> None:
    cameras[0].relocate(50.93, 5.34, street="Kolonel Dusartplein")
    _, data = probe(scopes="onvif://www.onvif.org/location/street/Kolonel%20Dusartplein")
    matches = _matches(await exchange(responder.port, data))
    assert [m.findtext("d:XAddrs", namespaces=NS) for m in matches] == [cameras[0].onvif_url]


async def test_bundled_answer_carries_every_match(
    cameras: list[SimulatedCamera], exchange: Exchange
) -> None:
    r = DiscoveryResponder(lambda: cameras, max_delay_s=0.0, bundle=True)
    await r.start()
    try:
        answers = await exchange(r.port, probe()[1])
    finally:
        await r.stop()
    assert len(answers) == 1
    assert len(_matches(answers)) == 3


async def test_answers_wait_a_random_delay_up_to_the_maximum(
    cameras: list[SimulatedCamera], exchange: Exchange
) -> None:
    r = DiscoveryResponder(lambda: cameras, max_delay_s=0.4, seed=7)
    await r.start()
    try:
        early = await exchange(r.port, probe()[1], wait=0.0)
        assert early == []  # nothing before the first delay has passed ...
        assert len(await exchange(r.port, wait=0.5)) == 3  # ... all within APP_MAX_DELAY
    finally:
        await r.stop()


async def test_stop_drops_pending_answers(
    cameras: list[SimulatedCamera], exchange: Exchange
) -> None:
    r = DiscoveryResponder(lambda: cameras, max_delay_s=0.2)
    await r.start()
    await exchange(r.port, probe()[1], wait=0.0)
    await r.stop()
    assert await exchange(r.port, wait=0.3) == []
    assert r.sent == 0
