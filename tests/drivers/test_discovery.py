"""WS-Discovery client: parsing of ProbeMatches as real cameras send them, and the real
driver probing the simulator's responder (and a noisy peer) over 127.0.0.1 UDP."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from drivers.discovery import (
    ACTION_PROBE,
    ACTION_PROBE_MATCHES,
    DEVICE_TYPE,
    NS_DN,
    NS_TDS,
    ProbeCollector,
    build_probe,
    discover,
    parse_message,
)
from drivers.errors import OnvifProtocolError, OnvifUnreachable
from hub.discover_command import add_discover_parser, discover_main, parse_target
from simulator.discovery import DiscoveryResponder, endpoint_address
from simulator.onvif_camera import SimulatedCamera
from tests.conftest import StartCamera, make_spec

DATA = Path(__file__).resolve().parents[1] / "data" / "onvif"
NVT = f"{{{NS_DN}}}NetworkVideoTransmitter"
DEVICE = f"{{{NS_TDS}}}Device"
OURS = "urn:uuid:0a6dc791-2e7e-4f8b-9c6e-6b1d1f3f0c2a"
TIMEOUT_S = 0.4

# A ProbeMatches shaped like the ONVIF Core spec's example and a Hikvision camera's
# answer: WS-Addressing 2004/08, prefixes declared where used, percent-encoded scopes,
# an IPv4 and an IPv6 XAddr. Addresses are documentation ones (RFC 5737 / RFC 3849).
REAL_LIKE = f"""<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
  xmlns:wsadis="http://schemas.xmlsoap.org/ws/2004/08/addressing"
  xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">
 <env:Header>
  <wsadis:MessageID>uuid:9a1b5f1e-7a2f-11b2-8000-4419b6a0c1d2</wsadis:MessageID>
  <wsadis:RelatesTo> {OURS} </wsadis:RelatesTo>
  <wsadis:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsadis:To>
  <wsadis:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsadis:Action>
  <d:AppSequence InstanceId="1689240041" MessageNumber="3"/>
 </env:Header>
 <env:Body>
  <d:ProbeMatches>
   <d:ProbeMatch>
    <wsadis:EndpointReference>
     <wsadis:Address>urn:uuid:4419b6a0-c1d2-11b2-8000-4419b6a0c1d2</wsadis:Address>
    </wsadis:EndpointReference>
    <d:Types xmlns:dn="http://www.onvif.org/ver10/network/wsdl"
      xmlns:tds="http://www.onvif.org/ver10/device/wsdl"
      >dn:NetworkVideoTransmitter tds:Device</d:Types>
    <d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming
     onvif://www.onvif.org/MAC/44:19:b6:a0:c1:d2 onvif://www.onvif.org/hardware/DS-2CD2012-I
     onvif://www.onvif.org/name/HIKVISION%20DS-2CD2012-I
     onvif://www.onvif.org/location/city/hangzhou onvif://www.onvif.org/location/country/china
    </d:Scopes>
    <d:XAddrs>http://192.0.2.64/onvif/device_service http://[2001:db8::64]/onvif/device_service</d:XAddrs>
    <d:MetadataVersion>10</d:MetadataVersion>
   </d:ProbeMatch>
  </d:ProbeMatches>
 </env:Body>
</env:Envelope>
"""


def real_like(**replace: str) -> bytes:
    text = REAL_LIKE
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text.encode()


def _one(data: bytes) -> Any:
    message = parse_message(data, "192.0.2.64")
    assert len(message.devices) == 1
    return message.devices[0]


# ------------------------------------------------------------------ parsing


def test_probe_match_of_a_real_camera_is_parsed() -> None:
    message = parse_message(real_like(), "192.0.2.64")
    assert message.action == ACTION_PROBE_MATCHES
    assert message.relates_to == OURS  # whitespace around it is not part of the ID
    (dev,) = message.devices
    assert dev.address == "urn:uuid:4419b6a0-c1d2-11b2-8000-4419b6a0c1d2"
    assert dev.types == (NVT, DEVICE)
    assert dev.xaddrs == ("http://192.0.2.64/onvif/device_service",
                          "http://[2001:db8::64]/onvif/device_service")
    assert len(dev.scopes) == 7 and dev.scopes[0] == "onvif://www.onvif.org/type/video_encoder"
    assert dev.name == "HIKVISION DS-2CD2012-I"
    assert dev.hardware == "DS-2CD2012-I"
    assert dev.location == "city/hangzhou, country/china"
    assert dev.source == "192.0.2.64"
    assert dev.metadata_version == 10


def test_recorded_gsoap_probe_match_is_parsed() -> None:
    # A real gSOAP camera's answer (fixture placeholders filled in; address never opened).
    raw = (DATA / "gsoap-camera" / "Probe.xml").read_text()
    data = raw.replace("RELATES_TO", OURS).replace(
        "SERVICE_URI", "http://192.0.2.10:8000/onvif/device_service").encode()
    message = parse_message(data, "192.0.2.10")
    assert message.relates_to == OURS
    (dev,) = message.devices
    assert dev.address == "uuid:c9790c3a-701b-464d-a189-0060351c8ada"  # not urn: — kept
    assert dev.types == (NVT, DEVICE)
    assert dev.name == "PREDATOR"
    assert dev.hardware == "HD_PREDATOR"
    assert dev.location is None  # "onvif://www.onvif.org/location/" says nothing
    assert dev.xaddrs == ("http://192.0.2.10:8000/onvif/device_service",)
    assert dev.metadata_version == 1


def test_several_matches_in_one_answer() -> None:
    match = REAL_LIKE[REAL_LIKE.index("<d:ProbeMatch>"):REAL_LIKE.index("</d:ProbeMatches>")]
    second = match.replace("4419b6a0-c1d2", "4419b6a0-c1d3").replace("192.0.2.64", "192.0.2.65")
    message = parse_message(real_like(**{match: match + second}), "192.0.2.64")
    assert [d.xaddrs[0] for d in message.devices] == [
        "http://192.0.2.64/onvif/device_service", "http://192.0.2.65/onvif/device_service"]


def test_lenient_where_real_devices_differ() -> None:
    # No wsa:Action (a "missing WS-Addressing" device): the Body says what it is.
    no_action = real_like(**{
        "<wsadis:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches"
        "</wsadis:Action>": ""})
    assert parse_message(no_action, "x").action == ACTION_PROBE_MATCHES
    # WS-Addressing 1.0 instead of 2004/08, SOAP 1.1 instead of 1.2.
    wsa10 = real_like(**{"http://schemas.xmlsoap.org/ws/2004/08/addressing\"":
                         "http://www.w3.org/2005/08/addressing\""})
    assert _one(wsa10).address.endswith("c1d2")
    soap11 = real_like(**{"http://www.w3.org/2003/05/soap-envelope":
                          "http://schemas.xmlsoap.org/soap/envelope/"})
    assert _one(soap11).name == "HIKVISION DS-2CD2012-I"
    # Optional parts missing: Types, Scopes, XAddrs (resolve needed), MetadataVersion.
    bare = real_like(**{
        REAL_LIKE[REAL_LIKE.index("<d:Types"):REAL_LIKE.index("</d:ProbeMatch>")]: ""})
    dev = _one(bare)
    assert (dev.types, dev.scopes, dev.xaddrs, dev.name, dev.metadata_version) == (
        (), (), (), None, None)
    # An undeclared prefix in Types: kept as written rather than dropping the device.
    odd = real_like(**{"dn:NetworkVideoTransmitter tds:Device": "zz:Camera"})
    assert _one(odd).types == ("zz:Camera",)
    # No ProbeMatch at all is a valid (empty) answer.
    empty = real_like(**{REAL_LIKE[REAL_LIKE.index("<d:ProbeMatch>"):
                                   REAL_LIKE.index("</d:ProbeMatches>")]: ""})
    assert parse_message(empty, "x").devices == ()


def test_other_messages_are_recognised_not_parsed_as_answers() -> None:
    probe = build_probe(OURS)
    message = parse_message(probe, "x")
    assert (message.action, message.devices) == (ACTION_PROBE, ())
    hello = real_like(**{"discovery/ProbeMatches</wsadis:Action>":
                         "discovery/Hello</wsadis:Action>"})
    assert parse_message(hello, "x").devices == ()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "well-formed"),
        (b"\xff\xfe\x00garbage", "well-formed"),
        (b"<a><b></a>", "well-formed"),
        (b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x "xxxxxxxx">]><e>&x;&x;</e>', "DTD"),
        (b"<Envelope/>", "SOAP envelope"),
        (b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"/>', "without Body"),
        (real_like(**{"<d:ProbeMatches>": "<d:Probe>", "</d:ProbeMatches>": "</d:Probe>"}),
         "without a ProbeMatches body"),
        (real_like(**{"<wsadis:Address>urn:uuid:4419b6a0-c1d2-11b2-8000-4419b6a0c1d2"
                      "</wsadis:Address>": ""}), "EndpointReference Address"),
        (real_like(**{"urn:uuid:4419b6a0-c1d2-11b2-8000-4419b6a0c1d2":
                      "urn:uuid:a urn:uuid:b"}), "EndpointReference Address"),
        (real_like(**{"http://192.0.2.64/onvif": "192.0.2.64/onvif"}), "XAddr"),
        (real_like(**{"http://192.0.2.64/onvif": "ftp://192.0.2.64/onvif"}), "XAddr"),
        (real_like(**{"http://192.0.2.64/onvif": "http://192.0.2.64:80a/onvif"}), "XAddr"),
        (real_like(**{"http://192.0.2.64/onvif": "http:///onvif"}), "XAddr"),
        (real_like(**{">10<": ">ten<"}), "MetadataVersion"),
        (real_like(**{">10<": ">-1<"}), "MetadataVersion"),
        (real_like(**{">10<": ">4294967296<"}), "MetadataVersion"),
        (b"<x>" + b" " * 70_000 + b"</x>", "too large"),
    ],
    ids=["empty", "binary", "mismatched", "dtd", "no-soap", "no-body", "probe-body",
         "no-address", "two-addresses", "xaddr-no-scheme", "xaddr-ftp", "xaddr-port",
         "xaddr-no-host", "version-text", "version-negative", "version-overflow", "huge"],
)
def test_malformed_answers_raise_protocol_error(data: bytes, reason: str) -> None:
    with pytest.raises(OnvifProtocolError, match=reason) as info:
        parse_message(data, "192.0.2.64")
    assert info.value.operation == "ProbeMatches"


def test_probe_is_what_onvif_clients_send() -> None:
    doc = etree.fromstring(build_probe(OURS, types=((NS_DN, "NetworkVideoTransmitter"),
                                                    DEVICE_TYPE)))
    ns = {"s": "http://www.w3.org/2003/05/soap-envelope",
          "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
          "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery"}
    assert doc.findtext("s:Header/a:Action", namespaces=ns) == ACTION_PROBE
    assert doc.findtext("s:Header/a:MessageID", namespaces=ns) == OURS
    assert doc.findtext("s:Header/a:To", namespaces=ns) == \
        "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
    types = doc.find("s:Body/d:Probe/d:Types", ns)
    assert types.text == "dn:NetworkVideoTransmitter tds:Device"
    assert types.nsmap["dn"] == NS_DN and types.nsmap["tds"] == NS_TDS


# ------------------------------------------------------------------ the collector


async def test_collector_counts_late_foreign_duplicate_and_malformed() -> None:
    loop = asyncio.get_running_loop()
    collector = ProbeCollector(OURS, deadline=loop.time() + 60)
    addr = ("192.0.2.64", 3702)
    collector.datagram_received(real_like(), addr)
    collector.datagram_received(real_like(), addr)  # the same endpoint again
    collector.datagram_received(real_like(**{OURS: "urn:uuid:someone-else"}), addr)
    collector.datagram_received(build_probe("urn:uuid:another-client"), addr)
    collector.datagram_received(b"<garbage", addr)
    collector.deadline = loop.time() - 1
    collector.datagram_received(real_like(**{"c1d2-11b2": "ffff-11b2"}), addr)
    result = collector.result()
    assert [d.address for d in result.devices] == [
        "urn:uuid:4419b6a0-c1d2-11b2-8000-4419b6a0c1d2"]
    assert (result.duplicates, result.foreign, result.malformed, result.late) == (1, 2, 1, 1)
    assert result.rejected == 4


# ------------------------------------------------------------------ over UDP


@pytest.fixture
async def cameras(start_camera: StartCamera) -> list[SimulatedCamera]:
    return [await start_camera(make_spec(f"hst-cam-{i:03d}", vendor=vendor))
            for i, vendor in enumerate(("axis", "hikvision", "axis", "hikvision"))]


@pytest.fixture
async def responder(cameras: list[SimulatedCamera]) -> AsyncIterator[DiscoveryResponder]:
    r = DiscoveryResponder(lambda: cameras, max_delay_s=0.05)
    await r.start()
    yield r
    await r.stop()


async def test_discovers_every_simulated_camera(
    responder: DiscoveryResponder, cameras: list[SimulatedCamera]
) -> None:
    result = await discover(TIMEOUT_S, target=("127.0.0.1", responder.port))
    assert result.rejected == 0 and result.duplicates == 0
    by_address = {d.address: d for d in result.devices}
    assert set(by_address) == {endpoint_address(c) for c in cameras}
    for cam in cameras:
        dev = by_address[endpoint_address(cam)]
        assert dev.xaddrs == (cam.onvif_url,)
        assert dev.name == cam.spec.name
        assert dev.hardware == cam.spec.vendor.model
        assert dev.location == "city/Hasselt, site/centrum, street/Grote Markt"
        assert dev.types == (NVT, DEVICE)
        assert dev.source == "127.0.0.1"
    assert responder.probes == 1  # the repeated Probe was the same message


async def test_types_and_scopes_narrow_the_answers(
    responder: DiscoveryResponder, cameras: list[SimulatedCamera]
) -> None:
    target = ("127.0.0.1", responder.port)
    printers = await discover(TIMEOUT_S, target, types=(("http://example.com/p", "Printer"),))
    assert printers.devices == ()
    hik = cameras[1].spec.vendor.model.replace(" ", "%20")
    result = await discover(TIMEOUT_S, target, scopes=(f"onvif://www.onvif.org/hardware/{hik}",))
    assert {d.address for d in result.devices} == {
        endpoint_address(cameras[1]), endpoint_address(cameras[3])}


class _Noisy(asyncio.DatagramProtocol):
    """A peer that answers each Probe with junk, foreign messages, one valid match twice,
    and a valid match of another device after `late_s`."""

    def __init__(self, late_s: float) -> None:
        self.late_s = late_s
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        message = parse_message(data, addr[0])
        root = etree.fromstring(data)
        mid = root.findtext(".//{http://schemas.xmlsoap.org/ws/2004/08/addressing}MessageID")
        assert message.action == ACTION_PROBE and mid
        if mid in getattr(self, "answered", set()):
            return
        self.answered = {*getattr(self, "answered", set()), mid}
        send = self.transport.sendto
        send(b"\x00not xml at all", addr)
        send(real_like(**{OURS: mid, "<wsadis:Address>urn:uuid:4419b6a0-c1d2-11b2-8000-"
                          "4419b6a0c1d2</wsadis:Address>": ""}), addr)  # malformed
        send(real_like(**{OURS: "urn:uuid:an-older-probe"}), addr)  # foreign: RelatesTo
        send(data, addr)  # foreign: a Probe echoed back
        send(real_like(**{OURS: mid}), addr)
        send(real_like(**{OURS: mid}), addr)  # duplicate
        late = real_like(**{OURS: mid, "c1d2-11b2": "eeee-11b2"})
        asyncio.get_running_loop().call_later(self.late_s, send, late, addr)


async def test_noise_is_counted_and_late_answers_ignored() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Noisy(late_s=TIMEOUT_S + 0.2), local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        result = await discover(TIMEOUT_S, target=("127.0.0.1", port))
        await asyncio.sleep(0.3)  # the late answer arrives at a closed socket
    finally:
        transport.close()
    assert [d.address for d in result.devices] == [
        "urn:uuid:4419b6a0-c1d2-11b2-8000-4419b6a0c1d2"]
    assert (result.malformed, result.foreign, result.duplicates) == (2, 2, 1)


async def test_answers_after_the_timeout_are_ignored(cameras: list[SimulatedCamera]) -> None:
    r = DiscoveryResponder(lambda: cameras, max_delay_s=5.0, seed=3)
    await r.start()
    try:
        result = await discover(0.1, target=("127.0.0.1", r.port))
    finally:
        await r.stop()
    # With delays drawn up to 5 s, a few may come in time; the rest must not appear.
    assert len(result.devices) < len(cameras)


async def test_nobody_listening_is_an_empty_result() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # a port nobody listens on: ICMP unreachable, not an exception
    result = await discover(0.2, target=("127.0.0.1", port))
    assert result.devices == () and result.rejected == 0


async def test_no_such_interface_is_unreachable() -> None:
    with pytest.raises(OnvifUnreachable, match="cannot probe"):
        await discover(0.2, interface="nosuchif9")


async def test_multicast_probe_reaches_a_responder_in_the_group(
    cameras: list[SimulatedCamera],
) -> None:
    r = DiscoveryResponder(lambda: cameras, port=3702, join_multicast=True, max_delay_s=0.05)
    try:
        await r.start()
    except OSError as exc:  # port 3702 held by a program that does not share it
        pytest.skip(f"cannot join the discovery group here: {exc}")
    try:
        result = await discover(TIMEOUT_S, interface="127.0.0.1")
    finally:
        await r.stop()
    assert {endpoint_address(c) for c in cameras} <= {d.address for d in result.devices}


# ------------------------------------------------------------------ `citywatch discover`


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_discover_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["discover", *argv])


async def test_command_table_and_json(
    responder: DiscoveryResponder, cameras: list[SimulatedCamera]
) -> None:
    target = f"127.0.0.1:{responder.port}"
    out, err = io.StringIO(), io.StringIO()
    code = await discover_main(_args("--timeout", "0.3", "--target", target), out, err)
    assert code == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["XADDR", "NAME", "HARDWARE", "LOCATION", "ADDRESS"]
    assert len(lines) == 1 + len(cameras)
    assert all(cam.onvif_url in out.getvalue() for cam in cameras)
    assert "4 devices answered" in err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    code = await discover_main(_args("--timeout", "0.3", "--target", target, "--json"), out, err)
    assert code == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {r["xaddrs"][0] for r in rows} == {c.onvif_url for c in cameras}
    assert {r["hardware"] for r in rows} == {c.spec.vendor.model for c in cameras}
    assert all(r["address"].startswith("urn:uuid:") and r["name"] for r in rows)


async def test_command_exit_1_when_nothing_answers_or_no_network() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    out, err = io.StringIO(), io.StringIO()
    assert await discover_main(_args("--timeout", "0.2", "--target", f"127.0.0.1:{port}"),
                               out, err) == 1
    assert out.getvalue() == "" and "0 devices answered" in err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    assert await discover_main(_args("--timeout", "0.2", "--interface", "nosuchif9"),
                               out, err) == 1
    assert err.getvalue().startswith("citywatch discover: cannot probe")
    assert "Traceback" not in err.getvalue()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:3702", ("127.0.0.1", 3702)), ("[::1]:3702", ("::1", 3702)),
     ("cam.local:40000", ("cam.local", 40000))],
)
def test_parse_target(text: str, expected: tuple[str, int]) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", ":3702", "host:0", "host:70000", "host:x"])
def test_parse_target_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_target(text)


@pytest.mark.parametrize("value", ["0", "-1", "61", "soon"])
def test_timeout_is_bounded(value: str) -> None:
    with pytest.raises(SystemExit):
        _args("--timeout", value)
