"""SOAP answers and events: documents built around the recorded shapes, and raw garbage.

Contracts: parse_notifications never raises and accounts for every NotificationMessage
(an event or one rejection); parse_onvif_plate_events gives a ParsedPayload or only
AlprPayloadError; WS-Discovery parse_message a DiscoveryMessage or only OnvifProtocolError;
parse_topics a sorted tuple; utc_time None or aware UTC; jpeg_size a size or ValueError.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from PIL import Image

from bench.fuzz.targets import (
    PROBE_MATCHES,
    run_discovery,
    run_onvif_plates,
    run_soap_events,
    seeds_soap_events,
)
from drivers.alpr import ParsedPayload, parse_onvif_plate_events
from drivers.discovery import parse_message
from drivers.errors import AlprPayloadError, OnvifProtocolError
from drivers.onvif_camera_events import parse_notifications, utc_time
from drivers.onvif_inspect import parse_topics
from drivers.onvif_snapshot import jpeg_size
from drivers.onvif_support import display_url, netloc_of, rewrite_media_uri, rewrite_xaddr
from tests.fuzz.props import BOUNDED, attr, text, xml_text

NS = (
    'xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:tns1="http://www.onvif.org/ver10/topics" '
    'xmlns:tnsaxis="http://www.axis.com/2009/event/topics" '
    'xmlns:tev="http://www.onvif.org/ver10/events/wsdl"'
)
SEGMENTS = ["tns1:VideoSource", "MotionAlarm", "tns1:RuleEngine", "CellMotionDetector",
            "Motion", "tnsaxis:CameraApplicationPlatform", "VMD", "tns1:LicensePlate",
            "tns1:Device", "Trigger", "DigitalInput", "undeclared:Thing", "a:b:c", ""]
ITEM_NAMES = ["IsMotion", "State", "LogicalState", "IsTamper", "PlateNumber", "Likelihood",
              "CountryCode", "VehicleDirection", "VideoSourceConfigurationToken", "Rule", ""]
VALUES = ["true", "false", "1", "0", "on", "1-ABC-234", "95", "1000", "BE", "forward", ""]
TIMES = ["2024-06-15T12:00:01Z", "2024-06-15T12:00:01.123456789+02:00", "2024-06-15T12:00:01",
         "2024-13-45T99:00:00Z", "", "yesterday"]

topic = st.lists(st.sampled_from(SEGMENTS) | xml_text, max_size=4).map("/".join)
item = st.tuples(st.sampled_from(ITEM_NAMES) | xml_text, st.sampled_from(VALUES) | xml_text)
items = st.lists(item, max_size=4)


@st.composite
def notification(draw: Any) -> str:
    def simple(pairs: list[tuple[str, str]]) -> str:
        return "".join(f"<tt:SimpleItem Name={attr(n)} Value={attr(v)}/>" for n, v in pairs)

    source = draw(st.none() | items)
    data = draw(st.none() | items)
    element = draw(st.sampled_from(["", '<tt:ElementItem Name="Image"><x>AAAA</x>'
                                    '</tt:ElementItem>', '<tt:ElementItem/>']))
    body = ""
    if source is not None:
        body += f"<tt:Source>{simple(source)}</tt:Source>"
    if data is not None:
        body += f"<tt:Data>{simple(data)}{element}</tt:Data>"
    utc = draw(st.sampled_from(TIMES) | xml_text)
    operation = draw(st.sampled_from(["Initialized", "Changed", "Deleted", ""]))
    message = (f"<wsnt:Message><tt:Message UtcTime={attr(utc)} "
               f"PropertyOperation={attr(operation)}>{body}</tt:Message></wsnt:Message>")
    if draw(st.booleans()):
        message = f"<wsnt:Message>{body}</wsnt:Message>"  # no tt:Message: malformed
    head = ""
    if draw(st.integers(0, 9)):  # mostly with a topic
        head = ('<wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/'
                f'ConcreteSet">{text(draw(topic))}</wsnt:Topic>')
    return f"<wsnt:NotificationMessage>{head}{message}</wsnt:NotificationMessage>"


@st.composite
def pull_messages(draw: Any) -> tuple[bytes, int]:
    messages = draw(st.lists(notification(), max_size=5))
    doc = (f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope {NS}><env:Body>'
           "<tev:PullMessagesResponse><tev:CurrentTime>2024-06-15T12:00:02Z</tev:CurrentTime>"
           f"{''.join(messages)}</tev:PullMessagesResponse></env:Body></env:Envelope>")
    return doc.encode(), len(messages)


@BOUNDED
@given(pull_messages())
def test_every_notification_is_an_event_or_one_rejection(case: tuple[bytes, int]) -> None:
    doc, count = case
    events, rejected = parse_notifications(doc)
    assert len(events) + rejected == count
    run_soap_events(doc)  # the fuzz target's checks: kinds, UTC times, states


@BOUNDED
@given(pull_messages())
def test_plate_parser_on_event_documents(case: tuple[bytes, int]) -> None:
    doc, count = case
    try:
        payload = parse_onvif_plate_events(doc)
    except AlprPayloadError:
        return
    assert isinstance(payload, ParsedPayload)
    assert len(payload.reads) + len(payload.rejected) <= count
    run_onvif_plates(doc)


SEEDS = seeds_soap_events()


@BOUNDED
@given(st.sampled_from(SEEDS), st.data())
def test_recorded_documents_cut_or_corrupted(seed: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(seed)))
    at = data.draw(st.integers(0, len(seed)))
    junk = data.draw(st.binary(max_size=8))
    doc = seed[:at] + junk + seed[at:cut] if at < cut else seed[:cut]
    run_soap_events(doc)
    run_onvif_plates(doc)


@BOUNDED
@given(st.binary(max_size=400))
def test_raw_garbage(doc: bytes) -> None:
    events, rejected = parse_notifications(doc)
    assert (events, rejected) == ((), 1) or events or rejected == 0
    run_discovery(doc)


# -- WS-Discovery ---------------------------------------------------------------------------

XADDRS = ["http://127.0.0.1/onvif/device_service", "https://[::1]:443/x", "ftp://x/",
          "http://host:port/", "http://", "http://[::1/", "not-a-url"]


@st.composite
def probe_matches(draw: Any) -> tuple[bytes, list[list[str]]]:
    matches, xaddrs_of = [], []
    for _ in range(draw(st.integers(0, 3))):
        address = draw(st.sampled_from(["urn:uuid:1", "a b", ""]) | xml_text)
        xaddrs = draw(st.lists(st.sampled_from(XADDRS) | xml_text, max_size=3))
        version = draw(st.sampled_from(["1", "4294967295", "4294967296", "-1", "²", ""]) |
                       st.integers(0, 2**40).map(str))
        scopes = draw(st.lists(st.sampled_from(["onvif://www.onvif.org/name/A%20B",
                                                "onvif://www.onvif.org/location/%ZZ"])
                               | xml_text, max_size=3))
        matches.append(
            "<d:ProbeMatch><a:EndpointReference><a:Address>"
            f"{text(address)}</a:Address></a:EndpointReference>"
            f"<d:Types>dn:NetworkVideoTransmitter x:Y</d:Types>"
            f"<d:Scopes>{text(' '.join(scopes))}</d:Scopes>"
            f"<d:XAddrs>{text(' '.join(xaddrs))}</d:XAddrs>"
            f"<d:MetadataVersion>{text(version)}</d:MetadataVersion></d:ProbeMatch>")
        xaddrs_of.append(" ".join(xaddrs).split())
    head, _, tail = PROBE_MATCHES.partition("<d:ProbeMatches>")
    body = tail.partition("</d:ProbeMatches>")[2]
    return f"{head}<d:ProbeMatches>{''.join(matches)}</d:ProbeMatches>{body}".encode(), \
        xaddrs_of


@BOUNDED
@given(probe_matches())
def test_probe_matches_all_or_one_protocol_error(case: tuple[bytes, list[list[str]]]) -> None:
    doc, xaddrs_of = case
    try:
        message = parse_message(doc, "127.0.0.1")
    except OnvifProtocolError as exc:
        assert exc.operation == "ProbeMatches" and exc.message
        return
    assert [list(d.xaddrs) for d in message.devices] == xaddrs_of
    run_discovery(doc)


# -- topics, times, snapshots ---------------------------------------------------------------

_WSTOP = "http://docs.oasis-open.org/wsn/t-1"


@st.composite
def topic_tree(draw: Any, depth: int = 0) -> str:
    children = []
    for _ in range(draw(st.integers(0, 3 if depth < 3 else 0))):
        name = draw(st.sampled_from(["tns1:VideoSource", "MotionAlarm", "x:Other", "Rule"]))
        mark = draw(st.sampled_from(["", ' wstop:topic="true"', ' wstop:topic="no"']))
        inner = draw(topic_tree(depth + 1))
        if draw(st.booleans()):
            inner += "<tt:MessageDescription/>"
        children.append(f"<{name}{mark}>{inner}</{name}>")
    return "".join(children)


@BOUNDED
@given(topic_tree())
def test_topic_sets(tree: str) -> None:
    doc = (f'<r xmlns:wstop="{_WSTOP}" xmlns:tns1="http://www.onvif.org/ver10/topics" '
           f'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:x="urn:x">'
           f"<wstop:TopicSet>{tree}</wstop:TopicSet></r>")
    topics = parse_topics(etree.fromstring(doc))
    assert list(topics) == sorted(set(topics))
    assert all(t and not t.startswith("/") for t in topics)


@BOUNDED
@given(st.datetimes(timezones=st.timezones()) | st.datetimes())
def test_utc_time_round_trip(moment: dt.datetime) -> None:
    parsed = utc_time(moment.isoformat())
    expected = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    try:
        expected_utc = expected.astimezone(dt.UTC)
    except OverflowError:  # year 1 or 9999 shifted out of range: None is the answer
        assert parsed is None or parsed.utcoffset() == dt.timedelta(0)
        return
    assert parsed == expected_utc and parsed.utcoffset() == dt.timedelta(0)


@BOUNDED
@given(st.text(max_size=40))
def test_utc_time_any_text(value: str) -> None:
    parsed = utc_time(value)
    assert parsed is None or parsed.utcoffset() == dt.timedelta(0)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 8), (10, 200, 30)).save(out, format="JPEG")
    return out.getvalue()


JPEG = _jpeg()


def test_jpeg_size_of_the_real_picture() -> None:
    assert jpeg_size(JPEG) == (16, 8)


@BOUNDED
@given(st.integers(0, len(JPEG)), st.binary(max_size=4), st.integers(0, len(JPEG)))
def test_jpeg_size_of_corrupt_pictures(at: int, junk: bytes, cut: int) -> None:
    data = (JPEG[:at] + junk + JPEG[at + len(junk):])[:max(cut, 3)]
    try:
        width, height = jpeg_size(data)
    except ValueError:
        return
    assert width > 0 and height > 0


@pytest.mark.parametrize("doc", [b"", b"<", b"<?xml version='1.0'?>", b"\xff\xfe<\x00a\x00/>"])
def test_edge_documents_are_one_rejection(doc: bytes) -> None:
    assert parse_notifications(doc) == ((), 1)


# -- addresses in device answers (XAddrs, stream and snapshot URIs) -------------------------

DEVICE = urlsplit("http://127.0.0.1:8080/onvif/device_service")
URL_PARTS = ["http://", "https://", "rtsp://", "u:p@", "10.0.0.5", "[::1]", "[fe80::1%eth0]",
             "[::1", "h", ":8106", ":8106:8106", ":abc", ":99999", ":0", "/onvif/media",
             "?a=b", " ", "\n", "%zz", "@"]
urls = st.lists(st.sampled_from(URL_PARTS) | st.text(max_size=6), max_size=6).map("".join)


@BOUNDED
@given(urls)
def test_device_addresses_never_raise(url: str) -> None:
    assert isinstance(display_url(url), str)  # for logs and errors: must never raise
    for rewritten in (rewrite_xaddr(url, DEVICE), rewrite_media_uri(url, DEVICE)):
        assert rewritten is None or isinstance(rewritten, str)
    found = netloc_of(url)
    assert found is None or 0 <= found[1] <= 65535


def test_display_url_of_a_bad_port() -> None:
    """Found by fuzzing: urlsplit's port raised ValueError out of display_url (used on
    addresses a camera sends, in log and error messages)."""
    assert display_url("http://h:abc/x") == "<invalid url>"
    assert display_url("http://h:99999/x") == "<invalid url>"
