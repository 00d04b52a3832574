"""ALPR payload parsing: vendor samples with their exact values, malformed bodies, fuzzing."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from drivers.alpr import (
    MAX_READS_PER_BODY,
    ParsedPayload,
    VendorImage,
    VendorRead,
    parse_citywatch,
    parse_onvif_plate_events,
    parse_openalpr,
    parse_platerecognizer,
)
from drivers.errors import AlprPayloadError, DriverError

DATA = Path(__file__).resolve().parents[1] / "data"
ALPR = DATA / "alpr"
EVENTS = DATA / "onvif" / "events"
UTC = dt.UTC


def sample(path: str) -> bytes:
    return (ALPR / path).read_bytes()


def hik(name: str) -> bytes:
    return (EVENTS / "hikvision-anpr" / name).read_bytes()


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 4), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


JPEG = jpeg_bytes()
JPEG_B64 = base64.b64encode(JPEG).decode()


def one(payload: ParsedPayload) -> VendorRead:
    assert len(payload.reads) == 1
    return payload.reads[0]


# -- OpenALPR --------------------------------------------------------------------------------


def test_openalpr_group_sample() -> None:
    payload = parse_openalpr(sample("openalpr/alpr_group_v2_docs.json"))
    assert payload.kind == "alpr_group"
    read = one(payload)
    assert read.plate == "D2651BF"
    assert read.at == dt.datetime(2019, 7, 9, 14, 5, 21, 504000, tzinfo=UTC)  # epoch_start
    assert read.source == "openalpr"
    assert read.confidence == pytest.approx(0.93877067565918)
    assert (read.country, read.region) == ("US", "MO")
    assert read.camera == "1234"
    assert read.unit == "Y" * 40
    assert (read.lat, read.lon) == (37.635986328125, -79.2059326171875)
    assert read.direction == "86"  # travel_direction 85.55 degrees
    # "...base64 jpeg data..." placeholders are not images.
    assert read.images == ()
    assert [c for c, _ in read.candidates] == ["D2651F", "D265BF"]
    assert read.candidates[0][1] == pytest.approx(0.748114395141602)


def test_openalpr_results_sample_gives_one_read_per_plate() -> None:
    payload = parse_openalpr(sample("openalpr/alpr_results_v2_docs.json"))
    assert payload.kind == "alpr_results"
    first, second = payload.reads
    at = dt.datetime(2019, 7, 9, 14, 13, 28, 425000, tzinfo=UTC)
    assert (first.plate, first.at, first.camera) == ("D2651BF", at, "1234")
    assert first.confidence == pytest.approx(0.929419174194336)
    assert (first.country, first.region) == ("US", "MO")
    assert [c for c, _ in first.candidates] == ["D2651F", "D265BF", "D251BF"]
    assert (second.plate, second.at) == ("CG3L5Y", at)
    assert second.confidence == pytest.approx(0.947376327514648)
    assert (first.lat, first.lon, first.direction) == (None, None, None)


def test_openalpr_heartbeat_has_no_reads() -> None:
    assert parse_openalpr(sample("openalpr/heartbeat_v2_docs.json")) == ParsedPayload(
        "heartbeat", ()
    )


def test_openalpr_numbers_as_strings_and_real_images() -> None:
    body = {
        "data_type": "alpr_group", "best_plate_number": " 1ABC123 ", "camera_id": "77",
        "epoch_start": "1700000000000", "best_confidence": "91.4", "country": "eu",
        "best_region": "be", "gps_latitude": 0, "gps_longitude": 0,
        "vehicle_crop_jpeg": JPEG_B64, "best_plate": {"plate_crop_jpeg": JPEG_B64},
        "travel_direction": "359.7", "unknown_field": [1, 2],
    }
    read = one(parse_openalpr(json.dumps(body).encode()))
    assert read.plate == "1ABC123"
    assert read.at == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert read.camera == "77" and read.confidence == pytest.approx(0.914)
    assert (read.country, read.region) == ("BE", None)
    assert (read.lat, read.lon) == (None, None)  # 0/0 = agent without GPS
    assert read.direction == "0"
    assert read.images == (
        VendorImage("crop", JPEG, None), VendorImage("overview", JPEG, None)
    )
    assert read.unit is None and read.candidates == ()


def test_openalpr_odd_optional_fields_are_dropped_not_fatal() -> None:
    body = {
        "data_type": "alpr_group", "best_plate": {"plate": "XY12"}, "epoch_start": 0,
        "best_confidence": 250, "camera_id": True, "gps_latitude": 95, "gps_longitude": 4,
        "candidates": [{"plate": "XY1Z", "confidence": "n/a"}, 7, {"plate": "XYI2",
                       "confidence": 50}],
        "vehicle_crop_jpeg": "not base64!",
    }
    read = one(parse_openalpr(json.dumps(body).encode()))
    assert (read.plate, read.at) == ("XY12", dt.datetime(1970, 1, 1, tzinfo=UTC))
    assert read.confidence is None and read.camera is None and read.lat is None
    assert read.candidates == (("XYI2", 0.5),) and read.images == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"best_plate_number": "A"}, "data_type"),
        ({"data_type": "alpr_group", "epoch_start": 1}, "missing plate"),
        ({"data_type": "alpr_group", "best_plate_number": "A"}, "epoch"),
        ({"data_type": "alpr_group", "best_plate_number": "A", "epoch_start": 1e30}, "range"),
        ({"data_type": "alpr_results", "results": {"plate": "A"}}, "array"),
        ({"data_type": "alpr_results", "epoch_time": 1, "results": [3]}, "object"),
        ({"data_type": "alpr_results", "results": [{"plate": "A"}]}, "epoch_time"),
    ],
)
def test_openalpr_malformed(body: dict[str, Any], message: str) -> None:
    with pytest.raises(AlprPayloadError, match=message):
        parse_openalpr(json.dumps(body).encode())


# -- Plate Recognizer ------------------------------------------------------------------------


def test_platerecognizer_snapshot_webhook_sample() -> None:
    payload = parse_platerecognizer(sample("platerecognizer/snapshot_webhook_image_done_docs.json"))
    assert payload.kind == "image.done"
    first, second = payload.reads
    at = dt.datetime(2019, 8, 31, 14, 22, 6, 983000, tzinfo=UTC)
    assert (first.plate, first.at, first.camera) == ("765410", at, None)
    assert first.confidence == pytest.approx(0.9131534678711563)
    assert (second.plate, second.confidence) == ("830265", pytest.approx(0.7700640306685624))
    assert first.source == "platerecognizer" and first.country is None


def test_platerecognizer_stream_sample() -> None:
    payload = parse_platerecognizer(
        sample("platerecognizer/stream_webhook_recognition_tester.json")
    )
    assert payload.kind == "recognition"
    read = one(payload)
    assert read.plate == "pl8rec"  # vendor case kept; the hub normalises
    assert read.at == dt.datetime(2021, 10, 27, 6, 20, 55, 161444, tzinfo=UTC)
    assert read.confidence == pytest.approx(0.902)
    assert (read.country, read.region, read.camera) == ("US", "CA", "camera-1")
    assert read.direction == "210"
    assert read.candidates == (("plbrec", 0.758),)


def test_platerecognizer_bare_response_without_plate() -> None:
    payload = parse_platerecognizer(sample("platerecognizer/snapshot_response_no_plate.json"))
    assert payload == ParsedPayload("snapshot", ())


def test_platerecognizer_multipart_image_and_naive_time() -> None:
    body = {
        "hook": {"event": "recognition"},
        "data": {"timestamp": "2024-03-01 08:00:00", "camera_id": 5,
                 "results": [{"plate": "1abc123", "region": "be", "score": "0.8"}]},
    }
    read = one(parse_platerecognizer(json.dumps(body).encode(), image=JPEG))
    assert read.at == dt.datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    assert (read.camera, read.country, read.region) == ("5", "BE", None)
    assert read.confidence == pytest.approx(0.8)
    assert read.images == (VendorImage("overview", JPEG, None),)
    assert one(parse_platerecognizer(json.dumps(body).encode(), image=b"GIF89a")).images == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"hook": {}, "data": None}, "object"),
        ({"hook": {}, "data": {"timestamp": "2024-01-01T00:00:00Z"}}, "results"),
        ({"data": {"results": [{"plate": "a"}]}}, "missing \"timestamp\""),
        ({"data": {"timestamp": "yesterday", "results": [{"plate": "a"}]}}, "ISO 8601"),
        ({"data": {"timestamp": "2024-01-01T00:00:00Z", "results": [{"score": 1}]}}, "plate"),
        ({"data": {"timestamp": "2024-01-01T00:00:00Z", "results": "abc"}}, "array"),
    ],
)
def test_platerecognizer_malformed(body: dict[str, Any], message: str) -> None:
    with pytest.raises(AlprPayloadError, match=message):
        parse_platerecognizer(json.dumps(body).encode())


# -- citywatch -------------------------------------------------------------------------------

READ = {"plate": "1-ABC-123", "time": "2024-06-15T12:00:01.250+02:00", "camera": "cam-117"}


def test_citywatch_single_read_minimal() -> None:
    payload = parse_citywatch(json.dumps(READ).encode())
    assert payload.kind == "read"
    assert one(payload) == VendorRead(
        plate="1-ABC-123", at=dt.datetime(2024, 6, 15, 10, 0, 1, 250000, tzinfo=UTC),
        source="citywatch", confidence=None, country=None, region=None, camera="cam-117",
        unit=None, lat=None, lon=None, direction=None,
    )


def test_citywatch_batch_with_every_field() -> None:
    full = dict(
        READ, confidence=0.93, country="us-ca", unit="patrol-12", lat=50.93, lon=5.34,
        direction="Receding", images={"crop": JPEG_B64, "overview": None},
        overview_url="https://cam/overview.jpg", extra={"ignored": True},
    )
    second = dict(READ, plate="2XYZ", time="2024-06-15T10:00:00Z", direction=271.4,
                  country="BE", region="vlg", images={"crop": "data:image/jpeg;base64,"
                                                               + JPEG_B64})
    payload = parse_citywatch(json.dumps({"reads": [full, second]}).encode())
    assert payload.kind == "reads"
    a, b = payload.reads
    assert (a.confidence, a.country, a.region, a.unit) == (0.93, "US", "CA", "patrol-12")
    assert (a.lat, a.lon, a.direction) == (50.93, 5.34, "receding")
    assert a.images == (
        VendorImage("crop", JPEG, None), VendorImage("overview", None, "https://cam/overview.jpg")
    )
    assert (b.plate, b.at) == ("2XYZ", dt.datetime(2024, 6, 15, 10, 0, tzinfo=UTC))
    assert (b.direction, b.country, b.region) == ("271", "BE", "VLG")
    assert b.images == (VendorImage("crop", JPEG, None),)


def test_citywatch_accepts_exactly_the_maximum_batch() -> None:
    body = json.dumps({"reads": [READ] * MAX_READS_PER_BODY}).encode()
    assert len(parse_citywatch(body).reads) == MAX_READS_PER_BODY


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"plate": "1ABC", "time": "2024-', "not valid JSON"),
        (b"[1, 2, 3]", "must be a JSON object, not an array"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"plate": NaN}', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (json.dumps({k: v for k, v in READ.items() if k != "plate"}).encode(), "missing plate"),
        (json.dumps(dict(READ, plate="   ")).encode(), "missing plate"),
        (json.dumps(dict(READ, plate="X" * 33)).encode(), "longer"),
        (json.dumps(dict(READ, plate="AB\x00C")).encode(), "control"),
        (json.dumps(dict(READ, time="2024-06-15T12:00:01")).encode(), "no time zone"),
        (json.dumps(dict(READ, time="15/06/2024 12:00")).encode(), "ISO 8601"),
        (json.dumps(dict(READ, time=1718445601)).encode(), "missing \"time\""),
        (json.dumps(dict(READ, camera="")).encode(), "camera"),
        (json.dumps(dict(READ, confidence=91.4)).encode(), "confidence"),
        (json.dumps(dict(READ, lat=91, lon=5)).encode(), "lat"),
        (json.dumps(dict(READ, lat=50.9)).encode(), "only one"),
        (json.dumps(dict(READ, direction="north")).encode(), "direction"),
        (json.dumps(dict(READ, country=32)).encode(), "country"),
        (json.dumps(dict(READ, images={"crop": "%%%not-base64"})).encode(), "base64"),
        (json.dumps(dict(READ, images={"crop": "aGVsbG8="})).encode(), "not a JPEG"),
        (json.dumps(dict(READ, images=[JPEG_B64])).encode(), "images"),
        (json.dumps(dict(READ, crop_url="file:///etc/passwd")).encode(), "http"),
        (json.dumps({"reads": [READ] * (MAX_READS_PER_BODY + 1)}).encode(), "too many reads"),
        (json.dumps({"reads": [READ, "x"]}).encode(), r"reads\[1\]"),
    ],
)
def test_citywatch_malformed(body: bytes, message: str) -> None:
    with pytest.raises(AlprPayloadError, match=message):
        parse_citywatch(body)


# -- ONVIF -----------------------------------------------------------------------------------


def test_onvif_hikvision_plate() -> None:
    payload = parse_onvif_plate_events(hik("PullMessages-plate.xml"))
    assert payload.kind == "PullMessagesResponse"
    read = one(payload)
    assert read.plate == "PP7069"
    assert read.at == dt.datetime(2022, 12, 30, 15, 18, 27, tzinfo=UTC)
    assert read.source == "onvif"
    assert read.confidence == pytest.approx(0.71)
    assert (read.country, read.region) == ("NL", None)  # Country=Netherlands
    assert read.camera == "VideoSourceToken"
    assert read.direction == "approaching"  # VehicleDirection=forward
    assert read.images == (VendorImage(
        "crop", None, "http://192.168.84.71/doc/ui/images/plate/202212301618275900.jpg"
    ),)


@pytest.mark.parametrize(
    ("name", "confidence", "direction"),
    [
        ("variant-PullMessages-direction-reverse.xml", 0.71, "receding"),
        ("variant-PullMessages-direction-unknown.xml", 0.71, "unknown"),
        ("variant-PullMessages-likelihood-1000.xml", 1.0, "approaching"),
    ],
)
def test_onvif_hikvision_variants(name: str, confidence: float, direction: str) -> None:
    read = one(parse_onvif_plate_events(hik(name)))
    assert (read.plate, read.direction) == ("PP7069", direction)
    assert read.confidence == pytest.approx(confidence)


def test_onvif_hikvision_without_data_has_no_reads() -> None:
    assert parse_onvif_plate_events(hik("variant-PullMessages-no-data.xml")).reads == ()


NON_PLATE = sorted(
    [*(EVENTS / "from-onvif-parsers").glob("*.xml"), *(EVENTS / "axis-metadata-stream").glob(
        "*.xml"), *(DATA / "onvif").glob("*/PullMessages.xml"),
     EVENTS / "hikvision-anpr" / "CreatePullPointSubscription.xml",
     ALPR / "hikvision" / "anpr_event_notification_alert.xml"]
)


@pytest.mark.parametrize("path", NON_PLATE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_onvif_non_plate_events_are_skipped(path: Path) -> None:
    assert parse_onvif_plate_events(path.read_bytes()).reads == ()


TT = 'xmlns:tt="http://www.onvif.org/ver10/schema"'
PROFILE_M = f"""<tt:Message {TT} UtcTime="2024-05-01T09:30:00.5+02:00">
<tt:Source><tt:SimpleItem Name="VideoSource" Value="vs-2"/></tt:Source>
<tt:Data><tt:ElementItem Name="LicensePlateInfo"><tt:LicensePlateInfo>
<tt:PlateNumber Likelihood="0.87">1-ABC-123</tt:PlateNumber>
<tt:PlateType Likelihood="0.5">Normal</tt:PlateType>
<tt:CountryCode Likelihood="0.9">BE</tt:CountryCode>
<tt:IssuingEntity>vlg</tt:IssuingEntity>
</tt:LicensePlateInfo></tt:ElementItem>
<tt:ElementItem Name="Image">{JPEG_B64}</tt:ElementItem></tt:Data></tt:Message>"""


def test_onvif_profile_m_license_plate_info_in_a_bare_message() -> None:
    payload = parse_onvif_plate_events(PROFILE_M.encode())
    assert payload.kind == "Message"
    read = one(payload)
    assert read.plate == "1-ABC-123"
    assert read.at == dt.datetime(2024, 5, 1, 7, 30, 0, 500000, tzinfo=UTC)
    assert read.confidence == pytest.approx(0.87)
    assert (read.country, read.region, read.camera) == ("BE", "VLG", "vs-2")
    assert read.images == (VendorImage("crop", JPEG, None),)


def test_onvif_notification_with_several_messages_and_naive_utctime() -> None:
    message = PROFILE_M.replace("+02:00", "")
    doc = (
        '<wsnt:Notify xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2">'
        + "".join(
            f"<wsnt:NotificationMessage><wsnt:Message>{message.replace('1-ABC-123', p)}"
            "</wsnt:Message></wsnt:NotificationMessage>"
            for p in ("AAA1", "BBB2")
        )
        + "</wsnt:Notify>"
    )
    payload = parse_onvif_plate_events(doc.encode())
    assert payload.kind == "Notify"
    assert [r.plate for r in payload.reads] == ["AAA1", "BBB2"]
    assert payload.reads[0].at == dt.datetime(2024, 5, 1, 9, 30, 0, 500000, tzinfo=UTC)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lollollollollollollollollollol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<tt:Message xmlns:tt="http://www.onvif.org/ver10/schema" UtcTime="2024-01-01T00:00:00Z">
<tt:Data><tt:SimpleItem Name="PlateNumber" Value="&lol9;"/></tt:Data></tt:Message>"""

XXE = b"""<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/hostname">]>
<tt:Message xmlns:tt="http://www.onvif.org/ver10/schema" UtcTime="2024-01-01T00:00:00Z">
<tt:Data><tt:SimpleItem Name="PlateNumber" Value="&x;"/></tt:Data></tt:Message>"""


@pytest.mark.parametrize("body", [BOMB, XXE], ids=["billion-laughs", "external-entity"])
def test_onvif_xml_with_entities_is_rejected_not_expanded(body: bytes) -> None:
    started = time.process_time()
    with pytest.raises(AlprPayloadError, match="DTD"):
        parse_onvif_plate_events(body)
    # Expanding the bomb would build 3 GB of text; rejecting it costs well under a second.
    assert time.process_time() - started < 5


def test_onvif_dtd_in_another_encoding_is_rejected_after_parsing() -> None:
    doc = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE m [<!ENTITY p "AB12">]>'
        f'<tt:Message {TT} UtcTime="2024-01-01T00:00:00Z"><tt:Data>'
        '<tt:ElementItem Name="LicensePlateInfo"><tt:LicensePlateInfo>'
        "<tt:PlateNumber>&p;</tt:PlateNumber></tt:LicensePlateInfo></tt:ElementItem>"
        "</tt:Data></tt:Message>"
    )
    with pytest.raises(AlprPayloadError, match="DTD"):
        parse_onvif_plate_events(doc.encode("utf-16"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not well-formed"),
        (b"<tt:Message", "not well-formed"),
        (b"<a><b></a>", "not well-formed"),
    ],
)
def test_onvif_malformed(body: bytes, message: str) -> None:
    with pytest.raises(AlprPayloadError, match=message):
        parse_onvif_plate_events(body)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (PROFILE_M.replace('UtcTime="2024-05-01T09:30:00.5+02:00"', ""), "UtcTime"),
        (PROFILE_M.replace("2024-05-01T09:30:00.5+02:00", "noon"), "UtcTime"),
        (PROFILE_M.replace("1-ABC-123", "X" * 40), "longer"),
    ],
)
def test_a_malformed_plate_message_is_skipped_not_its_neighbours(bad: str, message: str) -> None:
    """One bad message in a PullMessages answer is rejected with its reason; the other
    reads of the same answer are kept."""
    good = PROFILE_M.replace("1-ABC-123", "GOOD1")
    doc = (
        '<wsnt:Notify xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2">'
        + "".join(f"<wsnt:NotificationMessage><wsnt:Message>{m}</wsnt:Message>"
                  "</wsnt:NotificationMessage>" for m in (bad, good))
        + "</wsnt:Notify>"
    )
    payload = parse_onvif_plate_events(doc.encode())
    assert [r.plate for r in payload.reads] == ["GOOD1"]
    assert len(payload.rejected) == 1 and message in payload.rejected[0]


def test_payload_error_is_a_driver_error() -> None:
    assert issubclass(AlprPayloadError, DriverError)


# -- property tests: nothing but ParsedPayload or AlprPayloadError ---------------------------

PARSERS = [parse_citywatch, parse_openalpr, parse_platerecognizer, parse_onvif_plate_events]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=3),
    max_leaves=8,
)
# Values placed under the keys the parsers look at, so fuzzing reaches past the first checks.
KEYS = ["plate", "time", "camera", "confidence", "country", "region", "unit", "lat", "lon",
        "direction", "images", "crop", "crop_url", "reads", "best_plate_number",
        "best_plate", "epoch_start", "epoch_time", "results", "camera_id", "candidates",
        "best_region", "travel_direction", "gps_latitude", "gps_longitude", "hook", "data",
        "timestamp", "score", "vehicle_crop_jpeg", "plate_crop_jpeg", "code", "event"]
leaf = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01 00:00", 1562681121504, "91.4",
                       JPEG_B64, "us-ca", "ABC123", "approaching", "https://x/y.jpg"])
)
flat = st.dictionaries(st.sampled_from(KEYS), leaf, max_size=6)
shaped = st.dictionaries(
    st.sampled_from(KEYS), leaf | flat | st.lists(flat, max_size=3), max_size=8
)


def outcome(parse: Any, body: bytes) -> None:
    try:
        result = parse(body)
    except AlprPayloadError:
        return
    assert isinstance(result, ParsedPayload)
    for read in result.reads:
        assert read.at.utcoffset() == dt.timedelta(0)
        assert read.confidence is None or 0.0 <= read.confidence <= 1.0


SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(body=st.binary(max_size=300), which=st.sampled_from(PARSERS))
def test_any_bytes(body: bytes, which: Any) -> None:
    outcome(which, body)


@SETTINGS
@given(doc=json_values, which=st.sampled_from(PARSERS[:3]))
def test_any_json(doc: Any, which: Any) -> None:
    outcome(which, json.dumps(doc).encode())


@SETTINGS
@given(doc=shaped, kind=st.sampled_from(["alpr_group", "alpr_results", "heartbeat", 7]))
def test_shaped_json(doc: dict[str, Any], kind: Any) -> None:
    for parse in PARSERS[:3]:
        outcome(parse, json.dumps(doc).encode())
    doc["data_type"] = kind
    outcome(parse_openalpr, json.dumps(doc).encode())


ITEM_NAMES = ["PlateNumber", "Likelihood", "Country", "CountryCode", "VehicleDirection",
              "PictureUri", "IssuingEntity", "Other"]


@SETTINGS
@given(
    items=st.lists(st.tuples(st.sampled_from(ITEM_NAMES), st.text(max_size=12)), max_size=6),
    utc=st.text(max_size=30) | st.just("2024-01-01T00:00:00Z"),
)
def test_onvif_shaped_xml(items: list[tuple[str, str]], utc: str) -> None:
    from xml.sax.saxutils import quoteattr

    simple = "".join(f"<tt:SimpleItem Name={quoteattr(n)} Value={quoteattr(v)}/>" for n, v in items)
    doc = f"<tt:Message {TT} UtcTime={quoteattr(utc)}><tt:Data>{simple}</tt:Data></tt:Message>"
    outcome(parse_onvif_plate_events, doc.encode())
