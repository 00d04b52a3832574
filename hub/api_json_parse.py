"""The inverse of hub.api_json: the hub's objects back from their JSON shapes (the TUI's
remote client reads the API with these). Import them from hub.api_json.

Every function raises hub.errors.ApiShapeError, naming the shape and the field, when a
field is missing or of the wrong type, so a hub of another version or a broken proxy gives
one readable error instead of a KeyError deep in the TUI. What a shape leaves out comes
back empty: a camera's ONVIF URL, user and password (the remote side never gets them), a
read image's stored path (its API URL instead), a snapshot's bytes in a diagnose report.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

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

if TYPE_CHECKING:  # annotations only: importing them loads the ONVIF drivers (~1 s)
    from hub.camera_control import CameraEvent, PtzPosition, PtzPresetInfo
    from hub.diagnose import Report

E = TypeVar("E", bound=enum.Enum)


class _Fields:
    """Typed access to one JSON object of `shape`; every failure is an ApiShapeError."""

    def __init__(self, data: object, shape: str) -> None:
        if not isinstance(data, dict):
            raise ApiShapeError(f"{shape}: expected an object, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.shape = shape

    def _get(self, key: str, kinds: tuple[type, ...], what: str, nullable: bool) -> Any:
        if key not in self.data:
            raise ApiShapeError(f"{self.shape}: field {key!r} is missing")
        value = self.data[key]
        if value is None and nullable:
            return None
        # bool is an int in Python, never a number in our shapes.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ApiShapeError(
                f"{self.shape}: field {key!r} must be {what}, got {type(value).__name__}"
            )
        return value

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str) -> str:
        value: str = self._get(key, (str,), "a string", False)
        return value

    def opt_text(self, key: str) -> str | None:
        value: str | None = self._get(key, (str,), "a string or null", True)
        return value

    def whole(self, key: str) -> int:
        value: int = self._get(key, (int,), "a whole number", False)
        return value

    def opt_whole(self, key: str) -> int | None:
        value: int | None = self._get(key, (int,), "a whole number or null", True)
        return value

    def number(self, key: str) -> float:
        return float(self._get(key, (int, float), "a number", False))

    def opt_number(self, key: str) -> float | None:
        value = self._get(key, (int, float), "a number or null", True)
        return None if value is None else float(value)

    def flag(self, key: str) -> bool:
        value: bool = self._get(key, (bool,), "true or false", False)
        return value

    def opt_flag(self, key: str) -> bool | None:
        value: bool | None = self._get(key, (bool,), "true, false or null", True)
        return value

    def items(self, key: str) -> list[Any]:
        value: list[Any] = self._get(key, (list,), "a list", False)
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        items = self.items(key)
        if not all(isinstance(item, str) for item in items):
            raise ApiShapeError(f"{self.shape}: field {key!r} must be a list of strings")
        return tuple(items)

    def pairs(self, key: str) -> tuple[tuple[str, str], ...]:
        """A list of [name, value] string pairs (ordered, names may repeat)."""
        pairs = []
        for item in self.items(key):
            if not (isinstance(item, list) and len(item) == 2
                    and all(isinstance(part, str) for part in item)):
                raise ApiShapeError(f"{self.shape}: field {key!r} must hold [name, value] "
                                    "pairs of strings")
            pairs.append((item[0], item[1]))
        return tuple(pairs)

    def obj(self, key: str) -> _Fields:
        return _Fields(self._get(key, (dict,), "an object", False), f"{self.shape}.{key}")

    def opt_obj(self, key: str) -> _Fields | None:
        value = self._get(key, (dict,), "an object or null", True)
        return None if value is None else _Fields(value, f"{self.shape}.{key}")

    def time(self, key: str) -> datetime:
        value = self._parse_time(key, self.text(key))
        return value

    def opt_time(self, key: str) -> datetime | None:
        text = self.opt_text(key)
        return None if text is None else self._parse_time(key, text)

    def _parse_time(self, key: str, text: str) -> datetime:
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ApiShapeError(f"{self.shape}: field {key!r} is not an ISO 8601 time: "
                                f"{text[:40]!r}") from exc
        if value.tzinfo is None:
            raise ApiShapeError(f"{self.shape}: field {key!r} has no time zone")
        return value

    def enum(self, key: str, kind: type[E]) -> E:
        text = self.text(key)
        try:
            return kind(text)
        except ValueError as exc:
            names = ", ".join(repr(m.value) for m in kind)
            raise ApiShapeError(f"{self.shape}: field {key!r} must be one of {names}, "
                                f"got {text[:40]!r}") from exc

    def enum_key(self, key: str, kind: type[E]) -> E:
        """A key of this object that names a member of `kind` (read images by kind)."""
        try:
            return kind(key)
        except ValueError as exc:
            raise ApiShapeError(f"{self.shape}: unknown key {key[:40]!r}") from exc

    def opt_enum(self, key: str, kind: type[E]) -> E | None:
        return None if self._get(key, (str,), "a string or null", True) is None \
            else self.enum(key, kind)


# licence plates -------------------------------------------------------------------------


def read_from_json(data: object) -> Read:
    f = _Fields(data, "read")
    images = f.obj("images")
    return Read(
        id=f.whole("id"), plate=f.text("plate"), normalized=f.text("normalized"),
        at=f.time("time"), camera_id=f.text("camera"), source=f.text("source"),
        confidence=f.opt_number("confidence"), country=f.opt_text("country"),
        region=f.opt_text("region"), unit=f.opt_text("unit"), lat=f.opt_number("lat"),
        lon=f.opt_number("lon"), geotag=f.opt_text("geotag"), direction=f.opt_text("direction"),
        # A stored image comes back as its API URL (/api/reads/{id}/images/{kind}).
        images=tuple(ReadImage(images.enum_key(key, ImageKind), url=images.opt_text(key))
                     for key in images.data),
        received_at=f.opt_time("received_at"),
    )


def hit_from_json(data: object) -> Hit:
    """A hit; its entry has what the shape carries (no state, validity or extra fields)."""
    f = _Fields(data, "hit")
    entry = HotlistEntry(plate=f.text("plate"), list=f.text("list"), category=f.text("category"),
                         priority=f.whole("priority"), covert=f.flag("covert"))
    return Hit(entry, f.enum("match", MatchKind), f.whole("substitutions"))


def alert_from_json(data: object) -> Alert:
    f = _Fields(data, "alert")
    return Alert(
        id=f.whole("id"), read=read_from_json(f.obj("read").data),
        hit=hit_from_json(f.obj("hit").data), state=f.enum("state", AlertState),
        raised_at=f.time("raised_at"), updated_at=f.time("updated_at"),
        other_hits=tuple(hit_from_json(h) for h in f.items("other_hits")),
        duplicates=f.whole("duplicates"), last_read_id=f.opt_whole("last_read_id"),
        reason=f.opt_enum("reason", RejectReason), reason_text=f.text("reason_text"),
        actor=f.text("actor"),
    )


def wanted_from_json(data: object) -> WantedPlate:
    f = _Fields(data, "wanted")
    return WantedPlate(
        id=f.whole("id"), plate=f.text("plate"), reason=f.text("reason"),
        created_by=f.text("created_by"), created_at=f.time("created_at"),
        expires_at=f.time("expires_at"), priority=f.whole("priority"),
    )


def hotlist_from_json(data: object) -> HotlistInfo:
    f = _Fields(data, "hotlist")
    return HotlistInfo(name=f.text("name"), entries=f.whole("entries"), covert=f.flag("covert"),
                       source=f.text("source"), loaded_at=f.time("loaded_at"),
                       rejected=f.whole("rejected"))


# sites and cameras ----------------------------------------------------------------------


def site_from_json(data: object) -> Site:
    f = _Fields(data, "site")
    return Site(id=f.text("id"), name=f.text("name"))


def _stream(f: _Fields) -> StreamMetrics:
    return StreamMetrics(
        at=f.time("at"), fps=f.opt_number("fps"), bitrate_kbps=f.opt_number("bitrate_kbps"),
        keyframe_interval_s=f.opt_number("keyframe_interval_s"),
        luma_mean=f.opt_number("luma_mean"), frozen=f.opt_flag("frozen"),
        expected_fps=f.opt_number("expected_fps"),
        baseline_bitrate_kbps=f.opt_number("baseline_bitrate_kbps"),
    )


def _facts(f: _Fields) -> DeviceFacts:
    sampled = f.opt_obj("sampled")
    return DeviceFacts(
        manufacturer=f.text("manufacturer"), model=f.text("model"), firmware=f.text("firmware"),
        serial=f.text("serial"), hardware_id=f.text("hardware_id"),
        clock_offset_s=f.opt_number("clock_offset_s"), profiles=f.strings("profiles"),
        stream_uri=f.opt_text("stream_uri"), snapshot_uri=f.opt_text("snapshot_uri"),
        services=f.strings("services"),
        sampled=None if sampled is None else SampledProfile(
            token=sampled.text("token"), uri=sampled.text("uri"), width=sampled.opt_whole("width"),
            height=sampled.opt_whole("height"), fps=sampled.opt_number("fps"),
            bitrate_kbps=sampled.opt_whole("bitrate_kbps"),
        ),
    )


def _summary_facts(f: _Fields) -> DeviceFacts | None:
    """Facts from a camera_json without "facts": only manufacturer and model are known
    (what the cameras table shows); the detail route has the rest."""
    manufacturer, model = f.opt_text("manufacturer"), f.opt_text("model")
    if manufacturer is None and model is None:
        return None
    return DeviceFacts(manufacturer=manufacturer or "", model=model or "", firmware="",
                       serial="", hardware_id="", clock_offset_s=None, profiles=(),
                       stream_uri=None, snapshot_uri=None, services=())


def camera_status_from_json(data: object) -> CameraStatus:
    """A camera from camera_json or camera_detail_json. Its config has no ONVIF URL, user
    or password: the remote side never gets them."""
    f = _Fields(data, "camera")
    config = CameraConfig(
        id=f.text("id"), name=f.text("name"), site=f.text("site"),
        kind=f.enum("kind", CameraKind), onvif_url="", username="", password="",
        street=f.text("street"), lat=f.opt_number("lat"), lon=f.opt_number("lon"),
        group=f.text("group"),
    )
    maintenance = f.opt_obj("maintenance")
    stream = f.opt_obj("stream")
    if f.has("facts"):
        facts_fields = f.opt_obj("facts")
        facts = None if facts_fields is None else _facts(facts_fields)
    else:
        facts = _summary_facts(f)
    return CameraStatus(
        config=config, state=f.enum("state", HealthState),
        reason=f.enum("reason", HealthReason), detail=f.text("detail"),
        last_seen=f.opt_time("last_seen"), changed_at=f.opt_time("changed_at"),
        facts=facts, stream=None if stream is None else _stream(stream),
        side=f.enum("side", HealthSide),
        maintenance=None if maintenance is None else Maintenance(
            since=maintenance.time("since"), until=maintenance.time("until"),
            reason=maintenance.text("reason"), actor=maintenance.text("actor"),
        ),
        flaps_per_hour=f.whole("flaps_per_hour"), flapping=f.flag("flapping"),
    )


def transition_from_json(data: object) -> HealthTransition:
    f = _Fields(data, "transition")
    return HealthTransition(
        camera_id=f.text("camera"), at=f.time("at"),
        old_state=f.enum("old_state", HealthState), new_state=f.enum("new_state", HealthState),
        reason=f.enum("reason", HealthReason), detail=f.text("detail"),
        side=f.enum("side", HealthSide),
    )


# vehicles -------------------------------------------------------------------------------


def track_point_from_json(data: object) -> TrackPoint:
    f = _Fields(data, "track point")
    return TrackPoint(at=f.time("time"), lat=f.number("lat"), lon=f.number("lon"),
                      speed=f.opt_number("speed"), track=f.opt_number("track"),
                      mode=f.whole("mode"))


def vehicle_from_json(data: object) -> VehicleStatus:
    f = _Fields(data, "vehicle")
    position = f.opt_obj("position")
    return VehicleStatus(
        config=VehicleConfig(id=f.text("id"), name=f.text("name"), site=f.text("site"),
                             source=f.text("source"), camera=f.opt_text("camera")),
        state=f.enum("state", FixState), detail=f.text("detail"),
        position=None if position is None else track_point_from_json(position.data),
        fix_seen_at=f.opt_time("fix_seen_at"), changed_at=f.opt_time("changed_at"),
    )


# camera actions (driver types imported when first parsed: they load the ONVIF stack) ----


def ptz_position_from_json(data: object) -> PtzPosition:
    from hub.camera_control import PtzPosition

    f = _Fields(data, "PTZ position")
    return PtzPosition(pan=f.opt_number("pan"), tilt=f.opt_number("tilt"),
                       zoom=f.opt_number("zoom"), moving=f.opt_flag("moving"))


def ptz_preset_from_json(data: object) -> PtzPresetInfo:
    from hub.camera_control import PtzPresetInfo

    f = _Fields(data, "PTZ preset")
    return PtzPresetInfo(token=f.text("token"), name=f.text("name"))


def camera_event_from_json(data: object) -> CameraEvent:
    """A camera event ("kind" and "active" are derived from topic and data again)."""
    from hub.camera_control import CameraEvent

    f = _Fields(data, "camera event")
    return CameraEvent(topic=f.text("topic"), time=f.opt_time("time"),
                       operation=f.text("operation"), source=f.pairs("source"),
                       data=f.pairs("data"))


def report_from_json(data: object) -> Report:
    """A diagnose report; its snapshot (if one was fetched) has no JPEG bytes."""
    from drivers.onvif_model import DeviceInformation, OnvifService
    from drivers.onvif_snapshot import Snapshot
    from drivers.stream import StreamProbe
    from hub.diagnose import Finding, ProfileReport, Report

    f = _Fields(data, "report")
    device = f.obj("device")
    events = f.obj("events")
    stream = f.opt_obj("stream")
    shot = f.opt_obj("snapshot")
    services = [_Fields(s, "report.services[]") for s in f.items("services")]
    profiles = [_Fields(p, "report.profiles[]") for p in f.items("profiles")]
    findings = [_Fields(x, "report.findings[]") for x in f.items("findings")]
    return Report(
        url=f.text("url"),
        device=DeviceInformation(
            manufacturer=device.text("manufacturer"), model=device.text("model"),
            firmware_version=device.text("firmware"), serial_number=device.text("serial"),
            hardware_id=device.text("hardware"),
        ),
        clock_offset_s=f.opt_number("clock_offset_s"),
        services=tuple(OnvifService(s.text("namespace"), s.text("xaddr"), s.opt_text("version"))
                       for s in services),
        profiles=tuple(ProfileReport(
            token=p.text("token"), name=p.text("name"), encoding=p.opt_text("encoding"),
            width=p.opt_whole("width"), height=p.opt_whole("height"), fps=p.opt_number("fps"),
            stream_uri=p.opt_text("stream_uri"), snapshot_uri=p.opt_text("snapshot_uri"),
        ) for p in profiles),
        ptz=f.flag("ptz"), pullpoint=events.flag("pullpoint"), topics=events.strings("topics"),
        stream=None if stream is None else StreamProbe(
            url=stream.text("url"), codec=stream.text("codec"),
            profile=stream.opt_text("profile"), width=stream.whole("width"),
            height=stream.whole("height"), fps=stream.opt_number("fps"),
            gop=stream.opt_whole("gop"),
            keyframe_interval_s=stream.opt_number("keyframe_interval_s"),
            bitrate_kbps=stream.opt_number("bitrate_kbps"), packets=stream.whole("packets"),
            seconds=stream.number("seconds"),
        ),
        snapshot=None if shot is None else Snapshot(
            jpeg=b"", width=shot.whole("width"), height=shot.whole("height"),
            elapsed_s=shot.number("elapsed_s"), auth=shot.text("auth"),
            offered=shot.strings("offered"),
        ),
        findings=tuple(Finding(x.text("severity"), x.text("code"), x.text("message"))
                       for x in findings),
    )
