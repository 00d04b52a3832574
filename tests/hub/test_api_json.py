"""The API's JSON shapes: every object survives obj -> JSON text -> obj, a broken body is
one ApiShapeError naming the field, and no shape carries a credential."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.onvif_model import DeviceInformation, OnvifService
from drivers.onvif_snapshot import Snapshot
from drivers.stream import StreamProbe
from hub import api_json as shapes
from hub.alpr_model import (
    Alert,
    AlertState,
    Hit,
    HotlistEntry,
    HotlistInfo,
    ImageKind,
    MatchKind,
    Read,
    ReadImage,
    RejectReason,
    WantedPlate,
)
from hub.camera_control import CameraEvent, PtzPosition, PtzPresetInfo
from hub.diagnose import Finding, ProfileReport, Report
from hub.errors import ApiShapeError
from hub.model import (
    CameraConfig,
    CameraKind,
    CameraStatus,
    DeviceFacts,
    FixState,
    HealthReason,
    HealthSide,
    HealthState,
    HealthTransition,
    Maintenance,
    SampledProfile,
    Site,
    StreamMetrics,
    TrackPoint,
    VehicleConfig,
    VehicleStatus,
)

SECRET = "s3cret-pass"
FORBIDDEN_KEYS = {"password", "username", "onvif_url"}


def wire(body: dict[str, Any]) -> Any:
    """What the other side parses: the body through JSON text, as over HTTP."""
    return json.loads(json.dumps(body))


# strategies ---------------------------------------------------------------------------

times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=1))]))
numbers = st.floats(allow_nan=False, allow_infinity=False)
maybe_numbers = st.none() | numbers
words = st.text(max_size=20)
maybe_words = st.none() | words
uris = st.sampled_from([None, "rtsp://10.0.0.5:554/main", "http://10.0.0.5/snap.jpg?ch=1"])

sites = st.builds(Site, id=words, name=words)
streams = st.builds(
    StreamMetrics, at=times, fps=maybe_numbers, bitrate_kbps=maybe_numbers,
    keyframe_interval_s=maybe_numbers, luma_mean=maybe_numbers,
    frozen=st.none() | st.booleans(), expected_fps=maybe_numbers,
    baseline_bitrate_kbps=maybe_numbers,
)
sampled_profiles = st.builds(
    SampledProfile, token=words, uri=uris.filter(bool), width=st.none() | st.integers(),
    height=st.none() | st.integers(), fps=maybe_numbers, bitrate_kbps=st.none() | st.integers(),
)
facts = st.builds(
    DeviceFacts, manufacturer=words, model=words, firmware=words, serial=words,
    hardware_id=words, clock_offset_s=maybe_numbers, profiles=st.tuples(words, words),
    stream_uri=uris, snapshot_uri=uris, services=st.lists(words, max_size=3).map(tuple),
    sampled=st.none() | sampled_profiles,
)
# What the remote side can know of a config: no URL, user or password.
configs = st.builds(
    CameraConfig, id=words, name=words, site=words, kind=st.sampled_from(CameraKind),
    onvif_url=st.just(""), username=st.just(""), password=st.just(""), street=words,
    lat=maybe_numbers, lon=maybe_numbers, group=words,
)
maintenances = st.builds(Maintenance, since=times, until=times, reason=words, actor=words)
statuses = st.builds(
    CameraStatus, config=configs,
    state=st.sampled_from([s for s in HealthState if s is not HealthState.MAINTENANCE]),
    reason=st.sampled_from(HealthReason), detail=words, last_seen=st.none() | times,
    changed_at=st.none() | times, facts=st.none() | facts, stream=st.none() | streams,
    side=st.sampled_from(HealthSide), maintenance=st.none() | maintenances,
    flaps_per_hour=st.integers(0, 100), flapping=st.booleans(),
)
transitions = st.builds(
    HealthTransition, camera_id=words, at=times, old_state=st.sampled_from(HealthState),
    new_state=st.sampled_from(HealthState), reason=st.sampled_from(HealthReason),
    detail=words, side=st.sampled_from(HealthSide),
)
track_points = st.builds(TrackPoint, at=times, lat=numbers, lon=numbers, speed=maybe_numbers,
                         track=maybe_numbers, mode=st.sampled_from([2, 3]))
vehicles = st.builds(
    VehicleStatus,
    config=st.builds(VehicleConfig, id=words, name=words, site=words,
                     source=st.sampled_from(["/dev/pts/4", "tcp://127.0.0.1:2947"]),
                     camera=maybe_words),
    state=st.sampled_from(FixState), detail=words, position=st.none() | track_points,
    fix_seen_at=st.none() | times, changed_at=st.none() | times,
)
reads = st.builds(
    Read, id=st.integers(0, 10**9), plate=words, normalized=words, at=times, camera_id=words,
    source=words, confidence=maybe_numbers, country=maybe_words, region=maybe_words,
    unit=maybe_words, lat=maybe_numbers, lon=maybe_numbers, geotag=maybe_words,
    direction=maybe_words,
    # Images by URL: a stored one comes back as its API URL (tested below).
    images=st.sampled_from([(), (ReadImage(ImageKind.CROP, url="http://cam/crop.jpg"),)]),
    received_at=st.none() | times,
)
hits = st.builds(
    Hit, entry=st.builds(HotlistEntry, plate=words, list=words, category=words,
                         priority=st.integers(0, 100), covert=st.booleans()),
    match=st.sampled_from(MatchKind), substitutions=st.integers(0, 3),
)
alerts = st.builds(
    Alert, id=st.integers(1, 10**6), read=reads, hit=hits, state=st.sampled_from(AlertState),
    raised_at=times, updated_at=times, other_hits=st.lists(hits, max_size=2).map(tuple),
    duplicates=st.integers(0, 50), last_read_id=st.none() | st.integers(1, 10**6),
    reason=st.none() | st.sampled_from(RejectReason), reason_text=words, actor=words,
)
wanted = st.builds(WantedPlate, id=st.integers(1, 10**6), plate=words, reason=words,
                   created_by=words, created_at=times, expires_at=times,
                   priority=st.integers(0, 100))
hotlists = st.builds(HotlistInfo, name=words, entries=st.integers(0, 10**7),
                     covert=st.booleans(), source=words, loaded_at=times,
                     rejected=st.integers(0, 100))
positions = st.builds(PtzPosition, pan=maybe_numbers, tilt=maybe_numbers, zoom=maybe_numbers,
                      moving=st.none() | st.booleans())
presets = st.builds(PtzPresetInfo, token=words, name=words)
pairs = st.lists(st.tuples(words, words), max_size=3).map(tuple)
events = st.builds(CameraEvent, topic=words, time=st.none() | times, operation=words,
                   source=pairs, data=pairs)

ROUND_TRIPS = [
    (sites, shapes.site_json, shapes.site_from_json),
    (transitions, shapes.transition_json, shapes.transition_from_json),
    (track_points, shapes.track_point_json, shapes.track_point_from_json),
    (vehicles, shapes.vehicle_json, shapes.vehicle_from_json),
    (reads, shapes.read_json, shapes.read_from_json),
    (hits, shapes.hit_json, shapes.hit_from_json),
    (alerts, shapes.alert_json, shapes.alert_from_json),
    (wanted, shapes.wanted_json, shapes.wanted_from_json),
    (hotlists, shapes.hotlist_json, shapes.hotlist_from_json),
    (positions, shapes.ptz_position_json, shapes.ptz_position_from_json),
    (presets, shapes.ptz_preset_json, shapes.ptz_preset_from_json),
    (events, shapes.camera_event_json, shapes.camera_event_from_json),
    (statuses, shapes.camera_detail_json, shapes.camera_status_from_json),
]


@pytest.mark.parametrize(("strategy", "to_json", "from_json"), ROUND_TRIPS,
                         ids=[t[1].__name__ for t in ROUND_TRIPS])
def test_every_shape_survives_the_round_trip(strategy: Any, to_json: Any,
                                             from_json: Any) -> None:
    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(strategy)
    def check(obj: Any) -> None:
        assert from_json(wire(to_json(obj))) == obj

    check()


@settings(max_examples=60, deadline=None)
@given(statuses)
def test_the_camera_list_shape_keeps_state_stream_and_model(status: CameraStatus) -> None:
    back = shapes.camera_status_from_json(wire(shapes.camera_json(status)))
    # The list shape has no ONVIF facts but the model line the cameras table shows.
    assert back == dataclasses.replace(status, facts=back.facts)
    if status.facts is None:
        assert back.facts is None
    else:
        assert back.facts is not None
        assert (back.facts.manufacturer, back.facts.model) == (status.facts.manufacturer,
                                                              status.facts.model)
    assert shapes.camera_json(back) == shapes.camera_json(status)


def test_a_stored_read_image_comes_back_as_its_api_url() -> None:
    read = Read(7, "1-ABC-234", "1ABC234", datetime(2026, 3, 2, 10, 0, tzinfo=UTC), "ring-1",
                "citywatch", images=(ReadImage(ImageKind.OVERVIEW, path="images/7.jpg"),))
    back = shapes.read_from_json(wire(shapes.read_json(read)))
    assert back.images == (ReadImage(ImageKind.OVERVIEW, url="/api/reads/7/images/overview"),)


def report() -> Report:
    return Report(
        url="http://10.0.0.5/onvif/device_service",
        device=DeviceInformation("AXIS", "P3245-LVE", "10.12.1", "ACCC8E0001", "7a1"),
        clock_offset_s=-3.5,
        services=(OnvifService("http://www.onvif.org/ver10/device/wsdl",
                               "http://10.0.0.5/onvif/device_service", "2.60"),
                  OnvifService("http://www.onvif.org/ver20/ptz/wsdl",
                               "http://10.0.0.5/onvif/ptz", None)),
        profiles=(ProfileReport("profile_main", "mainStream", "H264", 1920, 1080, 25.0,
                                "rtsp://10.0.0.5/main", "http://10.0.0.5/snap.jpg"),
                  ProfileReport("profile_sub", "subStream", None, None, None, None,
                                None, None)),
        ptz=True, pullpoint=True, topics=("tns1:VideoSource/MotionAlarm",),
        stream=StreamProbe("rtsp://10.0.0.5/main", "h264", "High", 1920, 1080, 25.0, 25,
                           1.0, 4100.5, 120, 2.0),
        snapshot=Snapshot(b"\xff\xd8 jpeg bytes \xff\xd9", 1920, 1080, 0.31, "digest",
                          ("digest",)),
        findings=(Finding("warning", "clock_drift", "clock is 3.5 s behind"),
                  Finding("error", "stream_refused", "the main stream was refused")),
    )


def test_a_diagnose_report_survives_the_round_trip_but_its_jpeg_bytes() -> None:
    original = report()
    body = wire(shapes.report_json(original))
    assert body["errors"] == 1 and body["snapshot"]["bytes"] == len(original.snapshot.jpeg)
    # The CLI's `diagnose --json` keys are all there, with the same values.
    assert {k: body[k] for k in original.to_json() if k != "services"} == \
        {k: v for k, v in wire(original.to_json()).items() if k != "services"}
    assert original.snapshot is not None
    without_bytes = dataclasses.replace(original,
                                        snapshot=dataclasses.replace(original.snapshot, jpeg=b""))
    assert shapes.report_from_json(body) == without_bytes
    no_extras = dataclasses.replace(original, stream=None, snapshot=None, findings=())
    assert shapes.report_from_json(wire(shapes.report_json(no_extras))) == no_extras


# no credentials -------------------------------------------------------------------------


def keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


def test_no_shape_carries_a_credential() -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    config = CameraConfig("cam-9", "Kolonel Dusartplein", "police", CameraKind.FIXED,
                          f"http://admin:{SECRET}@10.0.0.5/onvif/device_service", "admin",
                          SECRET)
    device = DeviceFacts(
        "AXIS", "Q6075", "10.1", "SN1", "hw", 0.2, ("profile_main: main 1920x1080 H264",),
        f"rtsp://admin:{SECRET}@10.0.0.5:554/main", f"http://10.0.0.5/snap.jpg?pwd={SECRET}",
        ("http://www.onvif.org/ver10/device/wsdl",),
        SampledProfile("profile_sub", f"rtsp://admin:{SECRET}@10.0.0.5/sub", 640, 360, 12.0,
                       512),
    )
    status = CameraStatus(config, HealthState.OK, HealthReason.NONE, facts=device,
                          stream=StreamMetrics(at, 25.0, 4000.0, 1.0))
    vehicle = VehicleStatus(VehicleConfig("car-1", "Patrol 1", "police",
                                          f"tcp://gps:{SECRET}@10.0.0.9:2947", "cam-9"))
    bodies = [
        shapes.camera_json(status), shapes.camera_detail_json(status, Site("police", "Police")),
        shapes.vehicle_json(vehicle), shapes.report_json(report()),
        shapes.transition_json(HealthTransition("cam-9", at, HealthState.OK, HealthState.DOWN,
                                                HealthReason.UNREACHABLE, "timeout")),
    ]
    for body in bodies:
        assert not keys(body) & FORBIDDEN_KEYS
        text = json.dumps(body)
        assert SECRET not in text and "admin:" not in text
    detail = bodies[1]["facts"]
    assert detail["stream_uri"] == "rtsp://10.0.0.5:554/main"
    assert detail["snapshot_uri"] == "http://10.0.0.5/snap.jpg?pwd=***"
    assert bodies[1]["owner"] == {"id": "police", "name": "Police"}
    back = shapes.camera_status_from_json(wire(bodies[1]))
    assert (back.config.onvif_url, back.config.username, back.config.password) == ("", "", "")


# broken bodies --------------------------------------------------------------------------


def site_body() -> dict[str, Any]:
    return {"id": "city", "name": "City of Hasselt"}


@pytest.mark.parametrize(("body", "words_in_message"), [
    ({"id": "city"}, ["site", "'name'", "missing"]),
    ({"id": 3, "name": "x"}, ["site", "'id'", "string"]),
    ([], ["site", "object"]),
])
def test_a_broken_site_names_the_field(body: Any, words_in_message: list[str]) -> None:
    with pytest.raises(ApiShapeError) as caught:
        shapes.site_from_json(body)
    assert all(w in str(caught.value) for w in words_in_message)


def test_broken_fields_are_shape_errors() -> None:
    point = wire(shapes.track_point_json(TrackPoint(datetime(2026, 3, 2, tzinfo=UTC), 50.9,
                                                    5.3)))
    assert shapes.track_point_from_json(point).lat == 50.9
    for field, value in [("lat", True), ("lat", "50.9"), ("time", "2026-03-02T10:00:00"),
                         ("time", "yesterday"), ("mode", 2.5)]:
        with pytest.raises(ApiShapeError, match=field):
            shapes.track_point_from_json({**point, field: value})
    camera = wire(shapes.camera_json(CameraStatus(CameraConfig(
        "c", "C", "city", CameraKind.FIXED, "", "", ""))))
    with pytest.raises(ApiShapeError, match="'state' must be one of"):
        shapes.camera_status_from_json({**camera, "state": "on fire"})
    with pytest.raises(ApiShapeError, match=r"camera\.maintenance: field 'until' is missing"):
        shapes.camera_status_from_json(
            {**camera, "maintenance": {"since": "2026-03-02T10:00:00Z", "reason": "x",
                                       "actor": "t"}})
    event = {"topic": "tns1:VideoSource/MotionAlarm", "time": None, "operation": "Changed",
             "source": [["VideoSourceToken"]], "data": []}
    with pytest.raises(ApiShapeError, match="pairs"):
        shapes.camera_event_from_json(event)
    read = wire(shapes.read_json(Read(1, "A", "A", datetime(2026, 3, 2, tzinfo=UTC), "c",
                                      "citywatch")))
    with pytest.raises(ApiShapeError, match="unknown key 'thumbnail'"):
        shapes.read_from_json({**read, "images": {"thumbnail": "http://x"}})


def test_a_whole_number_is_accepted_where_a_number_is_expected() -> None:
    body = {"pan": 1, "tilt": -1, "zoom": 0, "moving": False}
    assert shapes.ptz_position_from_json(body) == PtzPosition(1.0, -1.0, 0.0, False)
