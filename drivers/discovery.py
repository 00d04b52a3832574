"""WS-Discovery client (WS-Discovery 1.0, 2005/04, the version ONVIF uses).

`discover()` sends one Probe for ONVIF NetworkVideoTransmitters over UDP (multicast to
239.255.255.250:3702, or unicast to a `target`) and collects the ProbeMatches answered to
the sender's port until the timeout. Datagrams are parsed strictly: anything that is not a
well-formed ProbeMatches relating to our Probe's MessageID is counted and ignored, never
raised; the same endpoint answering twice (the repeated Probe, several interfaces) is kept
once.

The PyPI package `WSDiscovery` was considered: it runs its own threads, is synchronous and
"does not verify data received from the network", so this is a small asyncio one instead.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import re
import socket
import struct
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from lxml import etree

from drivers.errors import OnvifProtocolError, OnvifUnreachable

log = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
DEFAULT_TIMEOUT_S = 3.0

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
# WS-Discovery 2005/04 is bound to this WS-Addressing version (not the 2005/08 one).
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSA10 = "http://www.w3.org/2005/08/addressing"  # accepted in answers: some stacks use it
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
DISCOVERY_TO = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
ACTION_PROBE = NS_WSD + "/Probe"
ACTION_PROBE_MATCHES = NS_WSD + "/ProbeMatches"
ANONYMOUS = NS_WSA + "/role/anonymous"
ONVIF_SCOPE_PREFIX = "onvif://www.onvif.org/"

# What an ONVIF client probes for (ONVIF Core spec 7.3.2); tds:Device may be added.
NVT_TYPE = (NS_DN, "NetworkVideoTransmitter")
DEVICE_TYPE = (NS_TDS, "Device")

# WS-Discovery 2005/04 section 2.4 / SOAP-over-UDP: multicast with an IP TTL of 1 (the
# local link, where cameras are), and the Probe repeated once (MULTICAST_UDP_REPEAT = 1)
# after a random UDP_MIN_DELAY..UDP_MAX_DELAY wait, since UDP may drop it.
MULTICAST_TTL = 1
UDP_MIN_DELAY_S = 0.05
UDP_MAX_DELAY_S = 0.25
# Largest UDP payload over IPv4; a longer datagram cannot arrive whole anyway.
MAX_DATAGRAM_BYTES = 65507
# Resolving a --target host name must not hang the command.
RESOLVE_TIMEOUT_S = 5.0

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_UNSIGNED = re.compile(r"[0-9]{1,10}")  # ASCII digits only (str.isdigit takes "²" too)
_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False,
}


@dataclass(frozen=True)
class DiscoveredDevice:
    """One device that answered: its identity, where its device service is, what it says."""

    address: str  # EndpointReference Address (urn:uuid:...): stable across reboots and IPs
    xaddrs: tuple[str, ...]  # device service URLs
    scopes: tuple[str, ...]
    types: tuple[str, ...]  # Clark notation "{namespace}local" where the prefix resolved
    name: str | None
    hardware: str | None
    location: str | None  # every location scope, "city/Hasselt, street/Grote Markt"
    source: str  # IP address the answer came from
    metadata_version: int | None = None


@dataclass(frozen=True)
class DiscoveryResult:
    """Devices found by one Probe, and how many datagrams were ignored and why."""

    devices: tuple[DiscoveredDevice, ...]
    message_id: str  # the Probe's MessageID
    malformed: int = 0  # not XML, not SOAP, or a ProbeMatches missing what it must have
    foreign: int = 0  # well-formed but not an answer to our Probe (other action, RelatesTo)
    duplicates: int = 0  # an endpoint already found answering again
    late: int = 0  # arrived after the timeout

    @property
    def rejected(self) -> int:
        """Datagrams ignored as not (or no longer) answers to our Probe."""
        return self.malformed + self.foreign + self.late


@dataclass(frozen=True)
class DiscoveryMessage:
    """What a datagram is: its action, the message it relates to, and its matches."""

    action: str | None
    relates_to: str | None
    devices: tuple[DiscoveredDevice, ...]  # empty unless it is a ProbeMatches


# ------------------------------------------------------------------ the Probe


def build_probe(
    message_id: str,
    types: tuple[tuple[str, str], ...] = (NVT_TYPE,),
    scopes: tuple[str, ...] = (),
) -> bytes:
    """A Probe as ONVIF clients send it: SOAP 1.2, WS-Addressing 2004/08 headers."""
    nsmap = {"s": NS_SOAP12, "a": NS_WSA, "d": NS_WSD}
    prefixes: dict[str, str] = {}
    for ns, _ in types:
        if ns not in prefixes:
            prefixes[ns] = {NS_DN: "dn", NS_TDS: "tds"}.get(ns, f"t{len(prefixes)}")
    nsmap.update({p: ns for ns, p in prefixes.items()})
    env = etree.Element(f"{{{NS_SOAP12}}}Envelope", nsmap=nsmap)
    header = etree.SubElement(env, f"{{{NS_SOAP12}}}Header")
    must = {f"{{{NS_SOAP12}}}mustUnderstand": "true"}
    etree.SubElement(header, f"{{{NS_WSA}}}Action", must).text = ACTION_PROBE
    etree.SubElement(header, f"{{{NS_WSA}}}MessageID").text = message_id
    reply_to = etree.SubElement(header, f"{{{NS_WSA}}}ReplyTo")
    etree.SubElement(reply_to, f"{{{NS_WSA}}}Address").text = ANONYMOUS
    etree.SubElement(header, f"{{{NS_WSA}}}To", must).text = DISCOVERY_TO
    probe = etree.SubElement(etree.SubElement(env, f"{{{NS_SOAP12}}}Body"), f"{{{NS_WSD}}}Probe")
    if types:
        etree.SubElement(probe, f"{{{NS_WSD}}}Types").text = " ".join(
            f"{prefixes[ns]}:{local}" for ns, local in types
        )
    if scopes:
        etree.SubElement(probe, f"{{{NS_WSD}}}Scopes").text = " ".join(scopes)
    data: bytes = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return data


# ------------------------------------------------------------------ parsing answers


def _malformed(reason: str) -> OnvifProtocolError:
    return OnvifProtocolError(f"not a valid WS-Discovery message: {reason}",
                              operation="ProbeMatches")


def _parse_xml(data: bytes) -> Any:
    # Refused before parsing, so no entity is ever declared, let alone expanded.
    if _DOCTYPE.search(data):
        raise _malformed("XML with a DTD")
    try:
        root = etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS))
    except (etree.LxmlError, ValueError) as exc:
        raise _malformed(f"XML not well-formed ({exc})") from exc
    if root is None:
        raise _malformed("no root element")
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise _malformed("XML with a DTD")
    return root


def _child(el: Any, ns: str, name: str) -> Any:
    return None if el is None else el.find(f"{{{ns}}}{name}")


def _wsa(el: Any, name: str) -> Any:
    """Child `name` in the WS-Addressing namespace WS-Discovery uses, else in WSA 1.0."""
    found = _child(el, NS_WSA, name)
    return found if found is not None else _child(el, NS_WSA10, name)


def _header_text(header: Any, name: str) -> str | None:
    el = _wsa(header, name)
    return None if el is None else (el.text or "").strip() or None


def _words(el: Any) -> tuple[str, ...]:
    return tuple((el.text or "").split()) if el is not None else ()


def _qnames(el: Any) -> tuple[str, ...]:
    """A list of QNames, each as "{namespace}local" when its prefix is declared."""
    out = []
    for word in _words(el):
        prefix, _, local = word.rpartition(":")
        ns = el.nsmap.get(prefix or None)
        out.append(f"{{{ns}}}{local}" if ns and local else word)
    return tuple(out)


def _onvif_scope(scopes: tuple[str, ...], kind: str) -> list[str]:
    """Values of the onvif://www.onvif.org/<kind>/... scopes, percent-decoded."""
    prefix = ONVIF_SCOPE_PREFIX + kind + "/"
    values = []
    for scope in scopes:
        if scope.lower().startswith(prefix):
            value = unquote(scope[len(prefix):]).strip().strip("/")
            if value:
                values.append(value)
    return values


def _xaddr(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise _malformed(f"XAddr {value[:80]!r} is not a URL") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _malformed(f"XAddr {value[:80]!r} is not an http(s) URL")
    return value


def _probe_match(match: Any, source: str) -> DiscoveredDevice:
    address = _words(_wsa(_wsa(match, "EndpointReference"), "Address"))
    if len(address) != 1:
        raise _malformed("ProbeMatch without one EndpointReference Address")
    scopes = _words(_child(match, NS_WSD, "Scopes"))
    version_el = _child(match, NS_WSD, "MetadataVersion")
    version = None
    if version_el is not None:
        text = (version_el.text or "").strip()
        if not _UNSIGNED.fullmatch(text) or int(text) > 0xFFFFFFFF:  # xs:unsignedInt
            raise _malformed(f"MetadataVersion {text[:20]!r} is not an unsigned int")
        version = int(text)
    locations = _onvif_scope(scopes, "location")
    return DiscoveredDevice(
        address=address[0],
        xaddrs=tuple(_xaddr(x) for x in _words(_child(match, NS_WSD, "XAddrs"))),
        scopes=scopes,
        types=_qnames(_child(match, NS_WSD, "Types")),
        name=next(iter(_onvif_scope(scopes, "name")), None),
        hardware=next(iter(_onvif_scope(scopes, "hardware")), None),
        location=", ".join(locations) or None,
        source=source,
        metadata_version=version,
    )


def parse_message(data: bytes, source: str) -> DiscoveryMessage:
    """Parse one datagram. Raises OnvifProtocolError when it is not a well-formed SOAP
    envelope, or a ProbeMatches lacking what the spec requires; other messages (a Probe,
    a Hello) come back with their action and no devices."""
    if len(data) > MAX_DATAGRAM_BYTES:
        raise _malformed("datagram too large")
    root = _parse_xml(data)
    soap_ns = etree.QName(root).namespace
    if etree.QName(root).localname != "Envelope" or soap_ns not in (NS_SOAP12, NS_SOAP11):
        raise _malformed("not a SOAP envelope")
    header = _child(root, soap_ns, "Header")
    body = _child(root, soap_ns, "Body")
    if body is None:
        raise _malformed("SOAP envelope without Body")
    payload = next((el for el in body if isinstance(el.tag, str)), None)
    action = _header_text(header, "Action")
    relates_to = _header_text(header, "RelatesTo")
    is_matches = payload is not None and payload.tag == f"{{{NS_WSD}}}ProbeMatches"
    if action is None and is_matches:
        action = ACTION_PROBE_MATCHES  # a device without wsa:Action: the Body tells
    if action != ACTION_PROBE_MATCHES:
        return DiscoveryMessage(action=action, relates_to=relates_to, devices=())
    if payload is None or not is_matches:
        raise _malformed("ProbeMatches action without a ProbeMatches body")
    devices = tuple(_probe_match(m, source) for m in payload.iterfind(f"{{{NS_WSD}}}ProbeMatch"))
    return DiscoveryMessage(action=action, relates_to=relates_to, devices=devices)


# ------------------------------------------------------------------ collecting answers


class ProbeCollector(asyncio.DatagramProtocol):
    """Receives the answers to one Probe until `deadline` (event-loop time)."""

    def __init__(self, message_id: str, deadline: float) -> None:
        self.message_id = message_id
        self.deadline = deadline
        self.devices: dict[str, DiscoveredDevice] = {}
        self.malformed = self.foreign = self.duplicates = self.late = 0

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        source = str(addr[0])
        if asyncio.get_running_loop().time() > self.deadline:
            self.late += 1
            return
        try:
            message = parse_message(data, source)
        except OnvifProtocolError as exc:
            self.malformed += 1
            log.debug("%s: ignored datagram: %s", source, exc.message)
            return
        if message.action != ACTION_PROBE_MATCHES or message.relates_to != self.message_id:
            self.foreign += 1
            log.debug("%s: ignored %s relating to %s", source, message.action, message.relates_to)
            return
        for device in message.devices:
            key = device.address.lower()
            if key in self.devices:
                self.duplicates += 1
            else:
                self.devices[key] = device

    def error_received(self, exc: Exception) -> None:
        # E.g. ICMP port unreachable after a unicast Probe: nobody listens there.
        log.debug("discovery socket error: %s", exc)

    def result(self) -> DiscoveryResult:
        return DiscoveryResult(
            devices=tuple(self.devices.values()), message_id=self.message_id,
            malformed=self.malformed, foreign=self.foreign, duplicates=self.duplicates,
            late=self.late,
        )


def _interface_socket(interface: str | None) -> tuple[socket.socket, bytes | None]:
    """An IPv4 UDP socket bound to `interface` (an IPv4 address or an interface name),
    and the IP_MULTICAST_IF value that sends multicast out of it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        mcast_if: bytes | None = None
        bind_host = ""
        if interface:
            try:
                bind_host = str(ipaddress.IPv4Address(interface))
                mcast_if = socket.inet_aton(bind_host)
            except ValueError:
                # struct ip_mreqn {multiaddr, address, ifindex}: choose the interface by index.
                mcast_if = struct.pack("=4s4si", bytes(4), bytes(4),
                                       socket.if_nametoindex(interface))
        sock.bind((bind_host, 0))
    except OSError:
        sock.close()
        raise
    return sock, mcast_if


async def _open_socket(
    target: tuple[str, int] | None, interface: str | None
) -> tuple[socket.socket, tuple[Any, ...]]:
    """The socket to probe from and the destination address."""
    if target is None:
        sock, mcast_if = _interface_socket(interface)
        try:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, MULTICAST_TTL)
            # Loop on: a device (or our simulator) on this very host must hear it too.
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            if mcast_if is not None:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mcast_if)
        except OSError:
            sock.close()
            raise
        return sock, (MULTICAST_GROUP, DISCOVERY_PORT)
    host, port = target
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(RESOLVE_TIMEOUT_S):
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    family, _, _, _, dest = infos[0]
    if family == socket.AF_INET:
        sock, _ = _interface_socket(interface)
    else:
        sock = socket.socket(family, socket.SOCK_DGRAM)
    return sock, dest


async def discover(
    timeout_s: float = DEFAULT_TIMEOUT_S,
    target: tuple[str, int] | None = None,
    interface: str | None = None,
    *,
    types: tuple[tuple[str, str], ...] = (NVT_TYPE,),
    scopes: tuple[str, ...] = (),
) -> DiscoveryResult:
    """Probe for devices of `types` (and `scopes`) and collect answers for `timeout_s`.

    `target` (host, port): send the Probe there by unicast instead of to the multicast
    group. `interface`: IPv4 address or interface name to probe from. Raises
    OnvifUnreachable when the Probe cannot be sent (no network, no such interface, unknown
    host); answers never raise.
    """
    if not timeout_s > 0:
        raise ValueError(f"timeout must be positive, not {timeout_s}")
    where = f"{target[0]}:{target[1]}" if target else f"{MULTICAST_GROUP}:{DISCOVERY_PORT}"
    loop = asyncio.get_running_loop()
    message_id = f"urn:uuid:{uuid.uuid4()}"
    probe = build_probe(message_id, types, scopes)
    try:
        sock, dest = await _open_socket(target, interface)
    except (OSError, TimeoutError) as exc:  # socket.gaierror is an OSError
        raise OnvifUnreachable(f"cannot probe {where}: {exc}", operation="Probe",
                               device=where) from exc
    deadline = loop.time() + timeout_s
    try:
        # The first send on the bare socket, so that "no network" raises here (a transport
        # would only report it to error_received).
        sock.setblocking(False)
        sock.sendto(probe, dest)
    except OSError as exc:
        sock.close()
        raise OnvifUnreachable(f"cannot probe {where}: {exc.strerror or exc}",
                               operation="Probe", device=where) from exc
    transport, collector = await loop.create_datagram_endpoint(
        lambda: ProbeCollector(message_id, deadline), sock=sock
    )
    try:
        async with asyncio.timeout_at(deadline):
            await asyncio.sleep(random.uniform(UDP_MIN_DELAY_S, UDP_MAX_DELAY_S))
            transport.sendto(probe, dest)  # the repeat; devices answer a MessageID once
            await loop.create_future()  # answers arrive in the collector until the deadline
    except TimeoutError:
        pass
    finally:
        transport.close()
    result = collector.result()
    log.debug("probe %s to %s: %d devices, %d ignored", message_id, where,
              len(result.devices), result.rejected)
    return result
