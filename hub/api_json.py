"""JSON shapes of the hub's objects on the HTTP API and in `--json` CLI output.

One function per object; the TUI's remote client (issue 9) reads the same shapes.
Credentials are never part of any shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.alpr_model import Alert, Hit, HotlistInfo, Read, WantedPlate
from hub.model import CameraStatus


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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


def camera_json(status: CameraStatus) -> dict[str, Any]:
    config = status.config
    return {
        "id": config.id,
        "name": config.name,
        "site": config.site,
        "kind": config.kind.value,
        "street": config.street,
        "lat": config.lat,
        "lon": config.lon,
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
        "detail": status.detail,
        "last_seen": _time(status.last_seen),
        "changed_at": _time(status.changed_at),
        "manufacturer": status.facts.manufacturer if status.facts else None,
        "model": status.facts.model if status.facts else None,
        "fps": status.stream.fps if status.stream else None,
        "bitrate_kbps": status.stream.bitrate_kbps if status.stream else None,
    }
