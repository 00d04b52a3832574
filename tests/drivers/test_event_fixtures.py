"""parse_notifications over every recorded event in tests/data/onvif (values read by hand)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.onvif_camera_events import CameraEvent, normalise_topic, parse_notifications

DATA = Path(__file__).resolve().parents[1] / "data" / "onvif"
EVENTS = DATA / "events"

VSCT = "VideoSourceConfigurationToken"
VACT = "VideoAnalyticsConfigurationToken"
TAPO_SOURCE = ((VSCT, "vsconf"), (VACT, "VideoAnalyticsToken"))
HIK_PLATE_SOURCE = ((VSCT, "VideoSourceToken"), (VACT, "VideoAnalyticsToken"),
                    ("Rule", "MyVehicleDetector"))


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hik_plate(direction: str = "forward", likelihood: str = "71") -> tuple[tuple[str, str], ...]:
    return (("PlateNumber", "PP7069"), ("Likelihood", likelihood), ("Nation", "EU"),
            ("Country", "Netherlands"), ("VehicleLaneNumber", "1"),
            ("VehicleDirection", direction),
            ("PictureUri", "http://192.168.84.71/doc/ui/images/plate/202212301618275900.jpg"))


# file -> (topic, kind, active, time, operation, source, data) of its one event
EXPECTED: dict[str, tuple[str, str, bool | None, datetime, str,
                          tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = {
    "axis-metadata-stream/motion-MotionRegionDetector-init.xml": (
        "tns1:RuleEngine/MotionRegionDetector/Motion", "motion", False,
        t("2021-01-06T17:46:45.115382"), "Initialized",
        (("VideoSource", "0"), ("RuleName", "Profile 1V")), (("State", "0"),)),
    "axis-metadata-stream/motion-VMD4-active.xml": (
        "tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY", "motion", True,
        t("2019-03-13T00:03:30.256687"), "Changed", (), (("active", "1"),)),
    "axis-metadata-stream/object-analytics-human.xml": (
        "tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1", "analytics", True,
        t("2024-10-07T21:09:26.046851"), "Changed", (),
        (("classTypes", "human"), ("active", "1"), ("objectId", "234232"))),
    "axis-metadata-stream/pir-active.xml": (
        "tns1:Device/tnsaxis:Sensor/PIR", "motion", True, t("2019-03-12T23:48:28.425164"),
        "Changed", (("sensor", "0"),), (("state", "1"),)),
    "axis-metadata-stream/tamper-GlobalSceneChange.xml": (
        "tns1:VideoSource/GlobalSceneChange/ImagingService", "tamper", False,
        t("2020-09-05T04:45:30.199233"), "Initialized", (("Source", "0"),), (("State", "0"),)),
    "from-onvif-parsers/ajax-human-animal.xml": (
        "tns1:RuleEngine/ObjectDetection/Object", "analytics", None,
        t("2026-03-08T16:19:05.928881"), "Changed",
        (("VideoSourceToken", "9c756e1c82d0-0"), ("Rule", "9c756e1c82d0-0-dk2t3b")),
        (("ClassTypes", "Human Animal"),)),
    "from-onvif-parsers/ajax-human-vehicle.xml": (
        "tns1:RuleEngine/ObjectDetection/Object", "analytics", None,
        t("2026-03-08T16:23:01.503234"), "Changed",
        (("VideoSourceToken", "9c756e1c82d0-0"), ("Rule", "9c756e1c82d0-0-dk2t3b")),
        (("ClassTypes", "Human Vehicle"),)),
    "from-onvif-parsers/ajax-motion-detector.xml": (
        "tns1:RuleEngine/tnsajax:MotionDetector/Detection", "motion", True,
        t("2026-01-10T20:04:32"), "Changed",
        (("VideoSourceToken", "vsconf"), ("Rule", "AjaxMotionRule")), (("Detected", "true"),)),
    "from-onvif-parsers/ajax-object-detector-human.xml": (
        "tns1:RuleEngine/ObjectDetection/Object", "analytics", None, t("2026-01-23T18:52:43"),
        "Initialized", (("VideoSourceToken", "vsconf"), ("Rule", "AjaxObjectRule")),
        (("ClassTypes", "Human"),)),
    "from-onvif-parsers/hikvision-alarm.xml": (
        "tns1:Device/Trigger/tnshik:AlarmIn", "digital_input", True, t("2025-03-13T22:57:26"),
        "Initialized", (("AlarmInToken", "AlarmIn_1"),), (("State", "true"),)),
    "from-onvif-parsers/line-detector-crossed.xml": (
        "tns1:RuleEngine/LineDetector/Crossed", "analytics", None, t("2020-05-24T07:24:47"),
        "Initialized",
        ((VSCT, "video_source_config1"), (VACT, "analytics_video_source"),
         ("Rule", "MyLineDetectorRule")), (("ObjectId", "0"),)),
    "from-onvif-parsers/reolink-package.xml": (
        "tns1:RuleEngine/MyRuleDetector/Package", "analytics", True, t("2025-03-12T09:54:27"),
        "Initialized", (("Source", "000"),), (("State", "true"),)),
    "from-onvif-parsers/tapo-cellmotiondetector-person.xml": (
        "tns1:RuleEngine/CellMotionDetector/People", "analytics", True,
        t("2025-01-03T20:09:22"), "Changed", (*TAPO_SOURCE, ("Rule", "MyPeopleDetectorRule")),
        (("IsPeople", "true"),)),
    "from-onvif-parsers/tapo-cellmotiondetector-vehicle.xml": (
        "tns1:RuleEngine/CellMotionDetector/TpSmartEvent", "analytics", True,
        t("2025-01-05T14:02:09"), "Changed",
        (*TAPO_SOURCE, ("Rule", "MyTPSmartEventDetectorRule")), (("IsVehicle", "true"),)),
    "from-onvif-parsers/tapo-intrusion.xml": (
        "tns1:RuleEngine/CellMotionDetector/Intrusion", "analytics", True,
        t("2025-01-11T10:40:45"), "Changed",
        (*TAPO_SOURCE, ("Rule", "MyIntrusionDetectorRule")), (("IsIntrusion", "true"),)),
    "from-onvif-parsers/tapo-line-crossed.xml": (
        "tns1:RuleEngine/CellMotionDetector/LineCross", "analytics", True,
        t("2025-01-03T21:05:14"), "Changed",
        (*TAPO_SOURCE, ("Rule", "MyLineCrossDetectorRule")), (("IsLineCross", "true"),)),
    "from-onvif-parsers/tapo-tamper.xml": (
        "tns1:RuleEngine/CellMotionDetector/Tamper", "tamper", True, t("2025-01-05T21:01:05"),
        "Changed", (*TAPO_SOURCE, ("Rule", "MyTamperDetectorRule")), (("IsTamper", "true"),)),
    "from-onvif-parsers/tapo-tpsmartevent-person.xml": (
        "tns1:RuleEngine/PeopleDetector/People", "analytics", True, t("2024-11-03T18:40:43"),
        "Changed", (*TAPO_SOURCE, ("Rule", "MyPeopleDetectorRule")), (("IsPeople", "true"),)),
    "from-onvif-parsers/tapo-tpsmartevent-pet.xml": (
        "tns1:RuleEngine/TPSmartEventDetector/TPSmartEvent", "analytics", True,
        t("2025-01-22T13:24:57"), "Changed",
        (*TAPO_SOURCE, ("Rule", "MyTPSmartEventDetectorRule")), (("IsPet", "true"),)),
    "from-onvif-parsers/tapo-tpsmartevent-vehicle.xml": (
        "tns1:RuleEngine/TPSmartEventDetector/TPSmartEvent", "analytics", True,
        t("2024-11-02T00:33:11"), "Changed",
        (*TAPO_SOURCE, ("Rule", "MyTPSmartEventDetectorRule")), (("IsVehicle", "true"),)),
    "hikvision-anpr/PullMessages-plate.xml": (
        "tns1:RuleEngine/VehicleDetector/tnshik:Vehicle", "plate", None,
        t("2022-12-30T15:18:27"), "Changed", HIK_PLATE_SOURCE, hik_plate()),
    "hikvision-anpr/variant-PullMessages-direction-reverse.xml": (
        "tns1:RuleEngine/VehicleDetector/tnshik:Vehicle", "plate", None,
        t("2022-12-30T15:18:27"), "Changed", HIK_PLATE_SOURCE, hik_plate("reverse")),
    "hikvision-anpr/variant-PullMessages-direction-unknown.xml": (
        "tns1:RuleEngine/VehicleDetector/tnshik:Vehicle", "plate", None,
        t("2022-12-30T15:18:27"), "Changed", HIK_PLATE_SOURCE, hik_plate("unknown")),
    "hikvision-anpr/variant-PullMessages-likelihood-1000.xml": (
        "tns1:RuleEngine/VehicleDetector/tnshik:Vehicle", "plate", None,
        t("2022-12-30T15:18:27"), "Changed", HIK_PLATE_SOURCE, hik_plate(likelihood="1000")),
    "hikvision-anpr/variant-PullMessages-no-data.xml": (
        "tns1:RuleEngine/VehicleDetector/tnshik:Vehicle", "plate", None,
        t("2022-12-30T15:18:27"), "Changed", HIK_PLATE_SOURCE, ()),
    "../trendnet-tv-ip320pi/PullMessages.xml": (
        "tns1:Monitoring/ProcessorUsage", "other", None, t("2018-02-27T18:36:53"), "Changed",
        (("Token", "Processor_Usage"),), (("Value", "75"),)),
}


def test_every_recorded_event_file_is_in_the_table() -> None:
    recorded = {
        str(p.relative_to(EVENTS)) for p in EVENTS.rglob("*.xml")
        if p.name != "CreatePullPointSubscription.xml"
    }
    apart = {"from-onvif-parsers/ajax-line-crossing.xml"}  # an ElementItem: its own test
    assert recorded - set(EXPECTED) == apart


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_event(name: str) -> None:
    events, rejected = parse_notifications((EVENTS / name).read_bytes())
    assert rejected == 0
    (event,) = events
    topic, kind, active, time, operation, source, data = EXPECTED[name]
    assert event == CameraEvent(topic, time, operation, source, data)
    assert (event.kind, event.active) == (kind, active)
    assert event.time is not None and event.time.tzinfo is not None


def test_ajax_line_crossing_element_item_and_no_property_operation() -> None:
    events, rejected = parse_notifications(
        (EVENTS / "from-onvif-parsers/ajax-line-crossing.xml").read_bytes()
    )
    assert rejected == 0
    (event,) = events
    assert event.topic == "tns1:RuleEngine/tnsajax:LineDetector/Crossing"
    assert (event.kind, event.operation, event.active) == ("analytics", "", None)
    assert event.item("Rule") == "9c756e1c82d0-0-dk2t3c"
    ((name, xml),) = event.data
    assert name == "LineCrossing"
    assert xml.startswith("<ajax:LineCrossing") and 'points="0.77 0.7 0.48 0.037"' in xml


def test_gsoap_pull_messages_with_two_motion_notifications_and_spaced_topic() -> None:
    events, rejected = parse_notifications((DATA / "gsoap-camera/PullMessages.xml").read_bytes())
    assert rejected == 0 and len(events) == 2
    for event in events:
        assert event.topic == "tns1:RuleEngine/CellMotionDetector/Motion"  # whitespace gone
        assert (event.kind, event.active, event.operation) == ("motion", True, "")
        assert event.time == datetime(2015, 5, 14, 13, 57, 50, tzinfo=UTC)
        assert event.item("Rule") == "000"


@pytest.mark.parametrize(
    "name", ["hikvision-anpr/CreatePullPointSubscription.xml",
             "../hikvision-ds-2cd2012-i/PullMessages.xml"],
)
def test_answers_without_notifications(name: str) -> None:
    assert parse_notifications((EVENTS / name).read_bytes()) == ((), 0)


@pytest.mark.parametrize("path", sorted((DATA / "malformed").glob("*.xml")), ids=lambda p: p.name)
def test_malformed_documents_are_counted_not_raised(path: Path) -> None:
    assert parse_notifications(path.read_bytes()) == ((), 1)


WRAP = (
    '<tev:PullMessagesResponse xmlns:tev="http://www.onvif.org/ver10/events/wsdl" '
    'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema"'
    ' xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:v="http://www.onvif.org/ver10/topics">'
    "{}</tev:PullMessagesResponse>"
)
GOOD = (
    "<wsnt:NotificationMessage><wsnt:Topic>v:VideoSource/v:SignalLoss</wsnt:Topic>"
    '<wsnt:Message><tt:Message UtcTime="2026-03-02T11:00:00.5" PropertyOperation="Changed">'
    '<tt:Source><tt:SimpleItem Name="Source" Value="VideoSource_1"/></tt:Source>'
    '<tt:Data><tt:SimpleItem Name="State" Value="true"/></tt:Data></tt:Message></wsnt:Message>'
    "</wsnt:NotificationMessage>"
)


def test_malformed_messages_are_counted_and_the_good_ones_kept() -> None:
    no_topic = "<wsnt:NotificationMessage><wsnt:Message/></wsnt:NotificationMessage>"
    no_message = (
        "<wsnt:NotificationMessage><wsnt:Topic>tns1:A</wsnt:Topic></wsnt:NotificationMessage>"
    )
    nameless = GOOD.replace('Name="State" ', "")
    xml = WRAP.format(no_topic + GOOD + no_message + nameless).encode()
    events, rejected = parse_notifications(xml)
    assert rejected == 3
    (event,) = events
    # Another prefix for the ONVIF topic namespace, repeated per segment: normalised.
    assert event.topic == "tns1:VideoSource/SignalLoss"
    assert (event.kind, event.active) == ("video_loss", True)
    # A naive time (NAIVE_TIME firmware) is taken as UTC.
    assert event.time == datetime(2026, 3, 2, 11, 0, 0, 500000, tzinfo=UTC)


def test_hostile_documents_are_rejected() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    assert parse_notifications(bomb) == ((), 1)
    assert parse_notifications(b"") == ((), 1)
    assert parse_notifications(b"\xff\xfe garbage") == ((), 1)


def test_unreadable_time_is_none_not_an_error() -> None:
    events, rejected = parse_notifications(
        WRAP.format(GOOD.replace("2026-03-02T11:00:00.5", "yesterday")).encode()
    )
    assert rejected == 0 and events[0].time is None


def test_normalise_topic_keeps_unknown_prefixes() -> None:
    nsmap: dict[str | None, str] = {"tns1": "http://www.onvif.org/ver10/topics",
                                    "x": "http://www.hikvision.com/2011/event/topics"}
    assert normalise_topic("tns1:Device/Trigger/x:AlarmIn", nsmap) == (
        "tns1:Device/Trigger/tnshik:AlarmIn"
    )
    assert normalise_topic("odd:Thing/Other", nsmap) == "odd:Thing/Other"
