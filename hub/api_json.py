"""JSON shapes of the hub's objects on the HTTP API and in `--json` CLI output.

One function per object (`*_json`); the inverse functions (`*_from_json`, used by the
TUI's remote client) live in hub.api_json_parse and are re-exported here, so a caller
imports both directions from this module. Times are ISO 8601 with a zone. Credentials are
never part of any shape: a camera's ONVIF URL, user name and password stay on the hub, and
URIs a camera reports lose their user:password@ part.

Importing this module must stay cheap (the TUI's remote client loads it): the ONVIF
driver types (PTZ, events, diagnose reports) are imported for annotations only.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.alpr_model import Alert, Hit, HotlistInfo, Read, WantedPlate
from hub.api_json_parse import (
    alert_from_json,
    camera_event_from_json,
    camera_status_from_json,
    hit_from_json,
    hotlist_from_json,
    ptz_position_from_json,
    ptz_preset_from_json,
    read_from_json,
    report_from_json,
    site_from_json,
    track_point_from_json,
    transition_from_json,
    vehicle_from_json,
    wanted_from_json,
)
from hub.model import (
    CameraStatus,
    DeviceFacts,
    HealthTransition,
    Site,
    StreamMetrics,
    TrackPoint,
    VehicleStatus,
)

if TYPE_CHECKING:  # annotations only: importing them loads the ONVIF drivers (~1 s)
    from hub.camera_control import CameraEvent, PtzPosition, PtzPresetInfo
    from hub.diagnose import Report

__all__ = [
    "alert_from_json",
    "alert_json",
    "camera_detail_json",
    "camera_event_from_json",
    "camera_event_json",
    "camera_json",
    "camera_status_from_json",
    "hit_from_json",
    "hit_json",
    "hotlist_from_json",
    "hotlist_json",
    "ptz_position_from_json",
    "ptz_position_json",
    "ptz_preset_from_json",
    "ptz_preset_json",
    "read_from_json",
    "read_json",
    "report_from_json",
    "report_json",
    "site_from_json",
    "site_json",
    "track_point_from_json",
    "track_point_json",
    "transition_from_json",
    "transition_json",
    "vehicle_from_json",
    "vehicle_json",
    "wanted_from_json",
    "wanted_json",
]

# Passwords shorter than this are not searched for in URIs: hiding "admin" wherever it
# occurs would mangle paths and hide nothing anyone could not guess (hub.diagnose agrees).
MIN_HIDDEN_SECRET = 6
# user[:password]@ of a URI's authority, up to its last "@" (passwords may hold one).
_USERINFO = re.compile(r"(?<=//)[^/?#]*@")


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _public_uri(uri: str | None, secret: str = "") -> str | None:
    """A URI a camera reported, without user:password@ and without the camera's password
    wherever else it appears (some firmwares put it in the query)."""
    if uri is None:
        return None
    # By pattern, not urlsplit: a camera may report a URI urlsplit refuses ("http://[x").
    uri = _USERINFO.sub("", uri)
    if len(secret) >= MIN_HIDDEN_SECRET:
        uri = uri.replace(secret, "***")
    return uri


# licence plates -------------------------------------------------------------------------


def read_json(read: Read) -> dict[str, Any]:
    return {
        "id": read.id,
        "plate": read.plate,
        "normalized": read.normalized,
        "time": _time(read.at),
        "camera": read.camera_id,
        "source": read.source,
        "confidence": read.confidence,
        "country": read.country,
        "region": read.region,
        "unit": read.unit,
        "lat": read.lat,
        "lon": read.lon,
        "geotag": read.geotag,
        "direction": read.direction,
        "images": {i.kind.value: (f"/api/reads/{read.id}/images/{i.kind.value}" if i.path
                                  else i.url) for i in read.images},
        "received_at": _time(read.received_at),
    }


def hit_json(hit: Hit) -> dict[str, Any]:
    entry = hit.entry
    return {
        "plate": entry.plate,
        "list": entry.list,
        "category": entry.category,
        "match": hit.match.value,
        "priority": entry.priority,
        "substitutions": hit.substitutions,
        "covert": entry.covert,
    }


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "state": alert.state.value,
        "priority": alert.priority,
        "raised_at": _time(alert.raised_at),
        "updated_at": _time(alert.updated_at),
        "read": read_json(alert.read),
        "hit": hit_json(alert.hit),
        "other_hits": [hit_json(h) for h in alert.other_hits],
        "duplicates": alert.duplicates,
        "last_read_id": alert.last_read_id,
        "reason": alert.reason.value if alert.reason else None,
        "reason_text": alert.reason_text,
        "actor": alert.actor,
    }


def wanted_json(wanted: WantedPlate) -> dict[str, Any]:
    return {
        "id": wanted.id,
        "plate": wanted.plate,
        "reason": wanted.reason,
        "created_by": wanted.created_by,
        "created_at": _time(wanted.created_at),
        "expires_at": _time(wanted.expires_at),
        "priority": wanted.priority,
    }


def hotlist_json(info: HotlistInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "entries": info.entries,
        "covert": info.covert,
        "source": info.source,
        "loaded_at": _time(info.loaded_at),
        "rejected": info.rejected,
    }


# sites and cameras ------------------------------------------------------------------------


def site_json(site: Site) -> dict[str, Any]:
    return {"id": site.id, "name": site.name}


def stream_json(stream: StreamMetrics) -> dict[str, Any]:
    return {
        "at": _time(stream.at),
        "fps": stream.fps,
        "bitrate_kbps": stream.bitrate_kbps,
        "keyframe_interval_s": stream.keyframe_interval_s,
        "luma_mean": stream.luma_mean,
        "frozen": stream.frozen,
        "expected_fps": stream.expected_fps,
        "baseline_bitrate_kbps": stream.baseline_bitrate_kbps,
    }


def camera_json(status: CameraStatus) -> dict[str, Any]:
    """A camera in lists and on the event stream: its state and latest stream sample
    (small: sent on every change). The ONVIF facts are in camera_detail_json."""
    config = status.config
    return {
        "id": config.id,
        "name": config.name,
        "site": config.site,
        "kind": config.kind.value,
        "street": config.street,
        "lat": config.lat,
        "lon": config.lon,
        "group": config.group,
        "state": status.state.value,
        # What operators see: "maintenance" over the real state while a technician works.
        "shown_state": status.shown_state.value,
        "maintenance": None if status.maintenance is None else {
            "since": _time(status.maintenance.since),
            "until": _time(status.maintenance.until),
            "reason": status.maintenance.reason,
            "actor": status.maintenance.actor,
        },
        "flaps_per_hour": status.flaps_per_hour,
        "flapping": status.flapping,
        "reason": status.reason.value,
        "side": status.side.value,
        "detail": status.detail,
        "last_seen": _time(status.last_seen),
        "changed_at": _time(status.changed_at),
        "manufacturer": status.facts.manufacturer if status.facts else None,
        "model": status.facts.model if status.facts else None,
        "fps": status.stream.fps if status.stream else None,
        "bitrate_kbps": status.stream.bitrate_kbps if status.stream else None,
        "stream": stream_json(status.stream) if status.stream else None,
    }


def facts_json(facts: DeviceFacts, secret: str = "") -> dict[str, Any]:
    """What the camera told us over ONVIF; `secret` (its password) is hidden in URIs."""
    sampled = facts.sampled
    return {
        "manufacturer": facts.manufacturer,
        "model": facts.model,
        "firmware": facts.firmware,
        "serial": facts.serial,
        "hardware_id": facts.hardware_id,
        "clock_offset_s": facts.clock_offset_s,
        "profiles": list(facts.profiles),
        "stream_uri": _public_uri(facts.stream_uri, secret),
        "snapshot_uri": _public_uri(facts.snapshot_uri, secret),
        "services": list(facts.services),
        "sampled": None if sampled is None else {
            "token": sampled.token,
            "uri": _public_uri(sampled.uri, secret),
            "width": sampled.width,
            "height": sampled.height,
            "fps": sampled.fps,
            "bitrate_kbps": sampled.bitrate_kbps,
        },
    }


def camera_detail_json(status: CameraStatus, owner: Site | None = None) -> dict[str, Any]:
    """camera_json plus the ONVIF facts and the owning site (GET /api/cameras/{camera})."""
    return {
        **camera_json(status),
        "facts": (facts_json(status.facts, status.config.password)
                  if status.facts is not None else None),
        "owner": site_json(owner) if owner is not None else None,
    }


def transition_json(transition: HealthTransition) -> dict[str, Any]:
    return {
        "camera": transition.camera_id,
        "at": _time(transition.at),
        "old_state": transition.old_state.value,
        "new_state": transition.new_state.value,
        "reason": transition.reason.value,
        "detail": transition.detail,
        "side": transition.side.value,
    }


# vehicles -------------------------------------------------------------------------------


def track_point_json(point: TrackPoint) -> dict[str, Any]:
    return {
        "time": _time(point.at),
        "lat": point.lat,
        "lon": point.lon,
        "speed": point.speed,
        "track": point.track,
        "mode": point.mode,
    }


def vehicle_json(status: VehicleStatus) -> dict[str, Any]:
    config = status.config
    return {
        "id": config.id,
        "name": config.name,
        "site": config.site,
        "camera": config.camera,
        # Where the hub reads the receiver (a pty, tcp://host:port, a log file).
        "source": _public_uri(config.source),
        "state": status.state.value,
        "detail": status.detail,
        "position": track_point_json(status.position) if status.position else None,
        "fix_seen_at": _time(status.fix_seen_at),
        "changed_at": _time(status.changed_at),
    }


# camera actions -------------------------------------------------------------------------


def ptz_position_json(position: PtzPosition) -> dict[str, Any]:
    return {"pan": position.pan, "tilt": position.tilt, "zoom": position.zoom,
            "moving": position.moving}


def ptz_preset_json(preset: PtzPresetInfo) -> dict[str, Any]:
    return {"token": preset.token, "name": preset.name}


def camera_event_json(event: CameraEvent) -> dict[str, Any]:
    """An ONVIF event; "kind" and "active" are derived from topic and data (read-only)."""
    return {
        "topic": event.topic,
        "time": _time(event.time),
        "operation": event.operation,
        "source": [[name, value] for name, value in event.source],
        "data": [[name, value] for name, value in event.data],
        "kind": event.kind,
        "active": event.active,
    }


def report_json(report: Report) -> dict[str, Any]:
    """The diagnose report: the keys of `citywatch diagnose --json` (Report.to_json) plus
    the URL, service versions and the snapshot's figures (not its bytes: GET snapshot)."""
    shot = report.snapshot
    body = report.to_json()
    body.update({
        "url": report.url,
        "services": [dataclasses.asdict(s) for s in report.services],
        "snapshot": None if shot is None else {
            "width": shot.width,
            "height": shot.height,
            "bytes": len(shot.jpeg),
            "elapsed_s": shot.elapsed_s,
            "auth": shot.auth,
            "offered": list(shot.offered),
        },
        "errors": len(report.errors),
    })
    return body
