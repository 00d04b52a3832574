"""Fuzz targets of the XML, JSON and text parsers: NMEA, ONVIF events, WS-Discovery, ALPR
webhooks, hotlist files, scenario TOML.

A target's `run(data)` returns the reasons of what the parser rejected (empty: accepted
whole) and raises AssertionError when the parser broke its contract; any other exception
escaping `run` is a crash of the parser. Reasons are normalised (`reason_key`: numbers and
quoted text taken out) so that counts group by kind, not by value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from drivers.alpr import (
    ParsedPayload,
    parse_citywatch,
    parse_onvif_plate_events,
    parse_openalpr,
    parse_platerecognizer,
)
from drivers.discovery import NVT_TYPE, build_probe, parse_message
from drivers.errors import AlprPayloadError, OnvifProtocolError
from drivers.gps import TPV, NmeaEpochAssembler, parse_stream
from drivers.onvif_camera_events import KIND_PATTERNS, parse_notifications
from drivers.onvif_notify import is_notify
from hub.errors import HotlistError
from hub.hotlists import decode, parse_text
from simulator.errors import ScenarioError
from simulator.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
# Longest reason key kept: enough to tell kinds apart, short enough for a JSON line.
MAX_REASON_CHARS = 80
# Lines of one NMEA input: a receiver's burst; more only repeats the same paths.
MAX_NMEA_LINES = 64
KINDS = {kind for _, kind in KIND_PATTERNS} | {"other"}

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
_NUMBER = re.compile(r"\d+")
# lxml's "..., line 1, column 7 (<string>, line 1)" tail: position, not kind.
_POSITION = re.compile(r",? line N, column N.*$")
# lxml's syntax errors name tags, prefixes and characters: one kind, "not well-formed".
_XML_DETAIL = re.compile(r"(XML not well-formed)\W.*$")


def reason_key(message: str) -> str:
    """A rejection message as its kind: quoted values -> '…', digits -> N, no position,
    lxml's syntax error details dropped."""
    text = _NUMBER.sub("N", _QUOTED.sub("'…'", " ".join(message.split())))
    text = _XML_DETAIL.sub(r"\1 (lxml syntax error)", _POSITION.sub("", text))
    return text[:MAX_REASON_CHARS]


@dataclass(frozen=True)
class Target:
    """One parser under fuzzing: `run` checks its contract, `seeds` are real inputs."""

    name: str
    contract: str  # what the parser promises, and so what counts as a crash
    run: Callable[[bytes], list[str]]
    seeds: Callable[[], list[bytes]]


def files(pattern: str, folder: Path = DATA) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.glob(pattern)) if p.is_file()]


def utc_or_none(value: dt.datetime | None) -> bool:
    return value is None or value.utcoffset() == dt.timedelta(0)


# -- NMEA -----------------------------------------------------------------------------------


def run_nmea(data: bytes) -> list[str]:
    lines = data.split(b"\n")[:MAX_NMEA_LINES]
    asm = NmeaEpochAssembler()
    out = list(parse_stream(lines, assembler=asm))
    s = asm.stats
    assert s.lines == len(lines), (s.lines, len(lines))
    assert s.sentences + s.ignored + s.rejected + s.comments + s.blank >= len(lines), s
    for report in out:
        if isinstance(report, TPV) and report.has_fix:
            assert report.lat is not None and -90 <= report.lat <= 90, report
            assert report.lon is not None and -180 <= report.lon <= 180, report
    return [reason for reason, n in s.reasons.items() for _ in range(n)]


def seeds_nmea() -> list[bytes]:
    out = []
    for log in files("gps/*.log"):
        lines = log.split(b"\n")
        out += [b"\n".join(lines[i:i + 16]) for i in range(0, min(len(lines), 128), 16)]
    return out


# -- ONVIF events (PullMessages, Notify, metadata stream) -----------------------------------


def _well_formed(data: bytes) -> bool:
    try:
        return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True,
                                                      load_dtd=False)) is not None
    except (etree.XMLSyntaxError, ValueError):
        return False


def run_soap_events(data: bytes) -> list[str]:
    events, rejected = parse_notifications(data)
    assert isinstance(is_notify(data), bool)
    for event in events:
        assert event.topic and event.kind in KINDS, event
        assert utc_or_none(event.time), event
        assert event.active in (True, False, None)
    if rejected and not events and (b"<!DOCTYPE" in data.upper() or not _well_formed(data)):
        assert rejected == 1
        return ["document: not well-formed XML, or a DTD"]
    return ["message: no Topic or tt:Message, empty topic, or SimpleItem without Name"
            ] * rejected


def seeds_soap_events() -> list[bytes]:
    return files("onvif/events/*/*.xml") + files("onvif/*/PullMessages.xml")


def _check_payload(payload: ParsedPayload) -> None:
    assert isinstance(payload, ParsedPayload)
    for read in payload.reads:
        assert read.plate and read.plate == read.plate.strip(), read
        assert utc_or_none(read.at) and read.at is not None, read
        assert read.confidence is None or 0.0 <= read.confidence <= 1.0, read
        assert (read.lat is None) == (read.lon is None), read


def run_onvif_plates(data: bytes) -> list[str]:
    try:
        payload = parse_onvif_plate_events(data)
    except AlprPayloadError as exc:
        return [reason_key(f"document: {exc}")]
    _check_payload(payload)
    return [reason_key(f"message: {why}") for why in payload.rejected]


def seeds_onvif_plates() -> list[bytes]:
    return files("onvif/events/hikvision-anpr/*.xml") + files("alpr/*/*.xml") + \
        files("onvif/events/from-onvif-parsers/*vehicle*.xml")


# -- WS-Discovery ---------------------------------------------------------------------------

PROBE_MATCHES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><e:Header>'
    "<a:MessageID>urn:uuid:2b5ac0a4-0000-4000-8000-000000000001</a:MessageID>"
    "<a:RelatesTo>urn:uuid:2b5ac0a4-0000-4000-8000-000000000000</a:RelatesTo>"
    "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action>"
    "</e:Header><e:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference>"
    "<a:Address>urn:uuid:cam-0001</a:Address></a:EndpointReference>"
    "<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>"
    "<d:Scopes>onvif://www.onvif.org/name/Grote%20Markt onvif://www.onvif.org/hardware/Q6045 "
    "onvif://www.onvif.org/location/city/Hasselt</d:Scopes>"
    "<d:XAddrs>http://127.0.0.1:8080/onvif/device_service http://[::1]:80/onvif</d:XAddrs>"
    "<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></e:Body>"
    "</e:Envelope>"
)


def run_discovery(data: bytes) -> list[str]:
    try:
        message = parse_message(data, "127.0.0.1")
    except OnvifProtocolError as exc:
        return [reason_key(exc.message)]
    for device in message.devices:
        assert device.address and device.source == "127.0.0.1", device
        assert all(x.lower().startswith(("http://", "https://")) for x in device.xaddrs)
        assert device.metadata_version is None or 0 <= device.metadata_version <= 0xFFFFFFFF
    return []


def seeds_discovery() -> list[bytes]:
    probe = build_probe("urn:uuid:2b5ac0a4-0000-4000-8000-000000000000", (NVT_TYPE,))
    return [PROBE_MATCHES.encode(), probe, *files("onvif/gsoap-camera/Probe.xml")]


# -- ALPR webhooks (JSON) -------------------------------------------------------------------

# The first byte of an input picks the parser: one target covers the three JSON formats.
WEBHOOK_PARSERS: tuple[Callable[[bytes], ParsedPayload], ...] = (
    parse_citywatch, parse_openalpr, parse_platerecognizer)
WEBHOOK_NAMES = ("citywatch", "openalpr", "platerecognizer")


def run_webhook(data: bytes) -> list[str]:
    if not data:
        return ["empty input"]
    which = data[0] % len(WEBHOOK_PARSERS)
    try:
        payload = WEBHOOK_PARSERS[which](data[1:])
    except AlprPayloadError as exc:
        return [reason_key(f"{WEBHOOK_NAMES[which]}: {exc}")]
    _check_payload(payload)
    return []


CITYWATCH_READ = (
    b'{"reads": [{"plate": "1-ABC-123", "time": "2024-06-15T12:00:01.250+02:00", '
    b'"camera": "cam-117", "confidence": 0.93, "country": "BE", "unit": "patrol-12", '
    b'"lat": 50.93, "lon": 5.34, "direction": "approaching", '
    b'"crop_url": "https://x/c.jpg"}, {"plate": 765410, "time": "2024-06-15T10:00:00Z", '
    b'"camera": 7, "direction": 271.5}]}'
)


def seeds_webhook() -> list[bytes]:
    samples = files("alpr/*/*.json")
    return [bytes([0]) + CITYWATCH_READ] + [
        bytes([k]) + body for body in samples for k in range(len(WEBHOOK_PARSERS))]


# -- hotlist files --------------------------------------------------------------------------


def run_hotlist(data: bytes) -> list[str]:
    try:
        parsed = parse_text(decode(data, "fuzz"), name="fuzz", source="fuzz")
    except HotlistError as exc:
        return [reason_key(f"file: {exc}")]
    text = decode(data, "fuzz")
    # Lines as the parser numbers them (str.splitlines: "\r", "\x0b", ... end lines too).
    lines = max(len(text.splitlines()), text.count("\n") + 1)
    assert len(parsed.plates) == len(parsed.attrs) >= 1, parsed
    assert len(parsed.plates) + parsed.rejected <= lines, (len(parsed.plates), lines)
    assert len(parsed.rejects) == min(parsed.rejected, 1000)
    assert all(p and len(p) <= 10 for p in parsed.plates), parsed.plates[:5]
    assert all(1 <= r.line <= lines + 1 for r in parsed.rejects), parsed.rejects[:5]
    for attrs in parsed.attrs:
        effective, expiry = attrs[4], attrs[5]
        assert utc_or_none(effective) and utc_or_none(expiry), attrs
        assert effective is None or expiry is None or expiry >= effective, attrs
        assert 0 <= attrs[2] <= 100, attrs
    return [reason_key(f"line: {r.reason}") for r in parsed.rejects]


def seeds_hotlist() -> list[bytes]:
    text_files = [d for d in files("hotlists/*") if b"\x00" not in d[:4096]]
    return [*text_files, b"plate,list\n1ABC234,stolen\nAB-12?,wanted\n",
            b"Stolen;BE;1ABC234;2026-01-01;2026-12-31\nStolen;BE;1ABC235;;\n"]


# -- scenario TOML --------------------------------------------------------------------------


def run_scenario(data: bytes) -> list[str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return ["not UTF-8 (load_scenario: ScenarioError)"]
    try:
        scenario = parse_scenario(text, "fuzz.toml")
    except ScenarioError as exc:
        assert exc.problems, exc
        for problem in exc.problems:
            assert problem.file == "fuzz.toml" and problem.message, problem
            assert problem.line is None or 1 <= problem.line <= text.count("\n") + 2, problem
        return [reason_key(p.message) for p in exc.problems]
    assert scenario.cameras and scenario.duration_s > 0, scenario.name
    return []


def seeds_scenario() -> list[bytes]:
    return files("*.toml", ROOT / "scenarios") + files("scenarios/*.toml")


TARGETS: tuple[Target, ...] = (
    Target("nmea", "lines -> reports; every line counted (sentence, ignored, rejected with "
           "a reason, comment, blank); a fix has a valid position", run_nmea, seeds_nmea),
    Target("soap_events", "parse_notifications -> (events, rejected count), never raises; "
           "is_notify -> bool", run_soap_events, seeds_soap_events),
    Target("onvif_plates", "parse_onvif_plate_events -> ParsedPayload (bad messages in "
           "`rejected` with a reason) or AlprPayloadError", run_onvif_plates,
           seeds_onvif_plates),
    Target("discovery", "parse_message -> DiscoveryMessage or OnvifProtocolError",
           run_discovery, seeds_discovery),
    Target("webhook", "parse_citywatch / parse_openalpr / parse_platerecognizer -> "
           "ParsedPayload or AlprPayloadError", run_webhook, seeds_webhook),
    Target("hotlist", "decode + parse_text -> ParsedHotlist (bad lines counted with line "
           "and reason) or HotlistError", run_hotlist, seeds_hotlist),
    Target("scenario", "parse_scenario -> Scenario or ScenarioError of located problems",
           run_scenario, seeds_scenario),
)
