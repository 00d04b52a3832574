"""WS-Discovery target service for the simulated cameras (WS-Discovery 1.0, 2005/04).

One UDP socket answers Probes for every camera of the city, as the cameras of a real LAN
would each answer from their own address: a Probe whose Types and Scopes a camera matches
gets a ProbeMatches from that camera, unicast to the sender after a random delay of up to
APP_MAX_DELAY, shaped like a gSOAP camera's answer (tests/data/onvif/gsoap-camera/
Probe.xml). Cameras that are powered off or OFFLINE stay silent.

By default the socket is a plain loopback one that tests probe by unicast; with
`join_multicast` it also joins 239.255.255.250 (bound to the wildcard address, since a
socket bound to one unicast address never sees multicast), like a device on a real network.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lxml import etree

from simulator.model import CameraFault
from simulator.onvif_services import get_scopes
from simulator.soap import NS_TDS, NS_TT, esc

if TYPE_CHECKING:
    from simulator.onvif_camera import SimulatedCamera

log = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"  # the one WS-Discovery 1.0 uses
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
ACTION_PROBE = NS_WSD + "/Probe"
ACTION_PROBE_MATCHES = NS_WSD + "/ProbeMatches"
ANONYMOUS = NS_WSA + "/role/anonymous"
# Matching rules for Scopes (WS-Discovery 2005/04 section 5.1); RFC 3986 is the default.
MATCH_RFC3986 = NS_WSD + "/rfc3986"
MATCH_STRCMP0 = NS_WSD + "/strcmp0"

# What an ONVIF camera is (ONVIF Core 7.3.2): an NVT and a device.
CAMERA_TYPES = (f"{{{NS_DN}}}NetworkVideoTransmitter", f"{{{NS_TDS}}}Device")
# WS-Discovery 2005/04 Appendix I: a target service waits a random time up to
# APP_MAX_DELAY before answering a multicast Probe, so a LAN of cameras does not answer
# in one burst. Configurable: tests set it near 0.
APP_MAX_DELAY_S = 0.5
# MessageIDs remembered to answer the repeated Probe (SOAP-over-UDP repeats) only once.
MAX_REMEMBERED_PROBES = 256
# Under the 65507-byte UDP maximum with room to spare, for bundled answers.
MAX_ANSWER_BYTES = 60_000
# Stable per camera across runs, like a device's EndpointReference (from its MAC).
ENDPOINT_NAMESPACE = uuid.UUID("6f1d7a7e-3c55-4d1a-9a35-0c1f7e2b9d10")

_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False,
}


def endpoint_address(cam: SimulatedCamera) -> str:
    """The camera's EndpointReference Address (urn:uuid), stable for its id."""
    return f"urn:uuid:{uuid.uuid5(ENDPOINT_NAMESPACE, cam.spec.id)}"


def camera_scopes(cam: SimulatedCamera) -> list[str]:
    """The same scopes GetScopes answers (name, hardware, location, profile)."""
    wrapped = f'<r xmlns:tds="{NS_TDS}" xmlns:tt="{NS_TT}">{get_scopes(cam, None)}</r>'
    root = etree.fromstring(wrapped.encode())
    return [(el.text or "").strip() for el in root.iterfind(f".//{{{NS_TT}}}ScopeItem")]


@dataclass(frozen=True)
class Probe:
    """A parsed Probe: its MessageID, the types (Clark names) and scopes asked for."""

    message_id: str
    types: tuple[str, ...]
    scopes: tuple[str, ...]
    match_by: str


def parse_probe(data: bytes) -> Probe | None:
    """The Probe in a datagram, or None when it is something else or malformed."""
    if b"<!DOCTYPE" in data.upper():
        return None
    try:
        root = etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS))
    except (etree.LxmlError, ValueError):
        return None
    if root is None or root.tag != f"{{{NS_SOAP12}}}Envelope":
        return None
    action = root.findtext(f"{{{NS_SOAP12}}}Header/{{{NS_WSA}}}Action")
    message_id = root.findtext(f"{{{NS_SOAP12}}}Header/{{{NS_WSA}}}MessageID")
    probe = root.find(f"{{{NS_SOAP12}}}Body/{{{NS_WSD}}}Probe")
    if probe is None or (action or "").strip() != ACTION_PROBE or not (message_id or "").strip():
        return None
    types: list[str] = []
    types_el = probe.find(f"{{{NS_WSD}}}Types")
    if types_el is not None:
        for word in (types_el.text or "").split():
            prefix, _, local = word.rpartition(":")
            ns = types_el.nsmap.get(prefix or None)
            types.append(f"{{{ns}}}{local}" if ns else word)  # undeclared prefix: no match
    scopes_el = probe.find(f"{{{NS_WSD}}}Scopes")
    scopes = (scopes_el.text or "").split() if scopes_el is not None else []
    match_by = (scopes_el.get("MatchBy") if scopes_el is not None else None) or MATCH_RFC3986
    return Probe((message_id or "").strip(), tuple(types), tuple(scopes), match_by.strip())


def _rfc3986_match(wanted: str, scope: str) -> bool:
    """WS-Discovery's RFC 3986 rule: same scheme and authority (case-insensitive), and
    the wanted path's segments are a prefix of the scope's."""
    w, s = urlsplit(wanted), urlsplit(scope)
    if (w.scheme.lower(), w.netloc.lower()) != (s.scheme.lower(), s.netloc.lower()):
        return False
    w_path = [p for p in w.path.split("/") if p]
    s_path = [p for p in s.path.split("/") if p]
    return s_path[: len(w_path)] == w_path


def matches(probe: Probe, types: Iterable[str], scopes: Iterable[str]) -> bool:
    """Whether a device of `types` and `scopes` answers `probe`."""
    if not set(probe.types) <= set(types):
        return False
    if probe.match_by == MATCH_RFC3986:
        rule: Callable[[str, str], bool] = _rfc3986_match
    elif probe.match_by == MATCH_STRCMP0:
        rule = str.__eq__
    else:
        return False  # a rule we do not know: devices stay silent rather than guess
    scopes = list(scopes)
    return all(any(rule(w, s) for s in scopes) for w in probe.scopes)


def _match_xml(cam: SimulatedCamera, scopes: list[str]) -> str:
    return (
        "<wsdd:ProbeMatch>"
        f"<wsa:EndpointReference><wsa:Address>{esc(endpoint_address(cam))}</wsa:Address>"
        "</wsa:EndpointReference>"
        "<wsdd:Types>dn:NetworkVideoTransmitter tds:Device</wsdd:Types>"
        f"<wsdd:Scopes>{esc(' '.join(scopes))}</wsdd:Scopes>"
        # A camera behind NAT names its LAN address here too, as real ones do.
        f"<wsdd:XAddrs>{esc(cam.advertise(cam.onvif_url))}</wsdd:XAddrs>"
        "<wsdd:MetadataVersion>1</wsdd:MetadataVersion>"
        "</wsdd:ProbeMatch>"
    )


class DiscoveryResponder:
    """Answers WS-Discovery Probes for the cameras `cameras()` returns at that moment."""

    def __init__(
        self,
        cameras: Callable[[], Iterable[SimulatedCamera]],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        join_multicast: bool = False,
        max_delay_s: float = APP_MAX_DELAY_S,
        bundle: bool = False,
        seed: int | None = None,
    ) -> None:
        """`port` 0 picks a free one (DISCOVERY_PORT is where real devices listen).
        `bundle`: one ProbeMatches with every matching camera (as one device hosting
        several endpoints does) instead of one datagram per camera."""
        self.cameras = cameras
        self.host = host
        self._port = port
        self.join_multicast = join_multicast
        self.max_delay_s = max_delay_s
        self.bundle = bundle
        self._rng = random.Random(seed)
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: set[asyncio.TimerHandle] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        # AppSequence: InstanceId changes when the "device" restarts, MessageNumber counts.
        self._instance_id = int(time.time())
        self._message_number = 0
        self.probes = 0  # Probes answered or considered
        self.ignored = 0  # datagrams that were not a Probe (malformed, other messages)
        self.sent = 0  # ProbeMatches datagrams sent

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        """Bind the socket (and join the group when asked) and start answering."""
        if self._transport is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.join_multicast:
                # Several listeners (other tools, other simulators) share port 3702.
                if hasattr(socket, "SO_REUSEPORT"):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind(("", self._port))
                mreq = socket.inet_aton(MULTICAST_GROUP) + socket.inet_aton(self.host)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            else:
                sock.bind((self.host, self._port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), sock=sock
        )
        log.info("discovery: answering probes on %s:%d%s", self.host, self._port,
                 " (multicast)" if self.join_multicast else "")

    async def stop(self) -> None:
        """Close the socket; answers still waiting for their delay are dropped."""
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    # ------------------------------------------------------------ answering

    def on_datagram(self, data: bytes, addr: tuple[Any, ...]) -> None:
        probe = parse_probe(data)
        if probe is None:
            self.ignored += 1
            log.debug("discovery: ignored a datagram from %s that is not a Probe", addr[0])
            return
        if probe.message_id in self._seen:
            return  # the repeat of a Probe already answered
        self._seen[probe.message_id] = None
        while len(self._seen) > MAX_REMEMBERED_PROBES:
            self._seen.popitem(last=False)
        self.probes += 1
        found = []
        for cam in self.cameras():
            if not cam.powered or CameraFault.OFFLINE in cam.faults or not cam.port:
                continue  # switched off: silent
            scopes = camera_scopes(cam)
            if matches(probe, CAMERA_TYPES, scopes):
                found.append(_match_xml(cam, scopes))
        if self.bundle:
            batches = _batches(found)
        else:
            batches = [[m] for m in found]
        for batch in batches:
            self._later(self._rng.uniform(0.0, self.max_delay_s), probe.message_id, batch, addr)

    def _later(self, delay: float, relates_to: str, batch: list[str],
               addr: tuple[Any, ...]) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def send() -> None:
            self._pending.discard(handle)
            if self._transport is None:
                return
            self._message_number += 1
            self._transport.sendto(self._answer(relates_to, batch), addr)
            self.sent += 1

        handle = loop.call_later(delay, send)
        self._pending.add(handle)

    def _answer(self, relates_to: str, batch: list[str]) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{NS_SOAP12}" xmlns:wsa="{NS_WSA}" '
            f'xmlns:wsdd="{NS_WSD}" xmlns:tds="{NS_TDS}" xmlns:dn="{NS_DN}">'
            "<SOAP-ENV:Header>"
            f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
            f"<wsa:RelatesTo>{esc(relates_to)}</wsa:RelatesTo>"
            f'<wsa:To SOAP-ENV:mustUnderstand="true">{ANONYMOUS}</wsa:To>'
            f'<wsa:Action SOAP-ENV:mustUnderstand="true">{ACTION_PROBE_MATCHES}</wsa:Action>'
            f'<wsdd:AppSequence MessageNumber="{self._message_number}" '
            f'InstanceId="{self._instance_id}"></wsdd:AppSequence>'
            "</SOAP-ENV:Header>"
            f"<SOAP-ENV:Body><wsdd:ProbeMatches>{''.join(batch)}</wsdd:ProbeMatches>"
            "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
        ).encode()


def _batches(matches_xml: list[str]) -> list[list[str]]:
    """Matches grouped so that no datagram outgrows MAX_ANSWER_BYTES."""
    batches: list[list[str]] = []
    size = 0
    for m in matches_xml:
        if not batches or size + len(m) > MAX_ANSWER_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(m)
        size += len(m)
    return batches


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, responder: DiscoveryResponder) -> None:
        self.responder = responder

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            self.responder.on_datagram(data, addr)
        except Exception:
            # Outermost boundary of the socket: one bad datagram must not stop the service.
            log.exception("discovery: error answering a datagram from %s", addr[0])

    def error_received(self, exc: Exception) -> None:
        log.debug("discovery: socket error %s", exc)
