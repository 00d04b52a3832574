"""SQL rows of reads and alerts <-> the domain objects (hub.alpr_model), for
hub.read_store. Times are hub.store UTC keys; images and hits are JSON."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.alpr_model import (
    Alert,
    AlertState,
    Hit,
    HotlistEntry,
    ImageKind,
    MatchKind,
    Read,
    ReadImage,
    RejectReason,
)
from hub.read_search import MAX_KEYS_PER_QUERY
from hub.store import utc_key

READ_COLUMNS = (
    "reads.id, reads.plate, reads.normalized, reads.at, reads.camera_id, reads.source,"
    " reads.confidence, reads.country, reads.region, reads.unit, reads.lat, reads.lon,"
    " reads.geotag, reads.direction, reads.images, reads.received_at"
)
ALERT_COLUMNS = (
    "alerts.id, alerts.state, alerts.raised_at, alerts.updated_at, alerts.hit,"
    " alerts.other_hits, alerts.duplicates, alerts.last_read_id, alerts.reason,"
    " alerts.reason_text, alerts.actor, " + READ_COLUMNS
)
ALERT_FROM = "alerts JOIN reads ON reads.id = alerts.read_id"


def reads_by_id(conn: sqlite3.Connection, ids: list[int]) -> list[Read]:
    """The reads of `ids`, in the order of `ids`."""
    found: dict[int, Read] = {}
    for start in range(0, len(ids), MAX_KEYS_PER_QUERY):
        chunk = ids[start : start + MAX_KEYS_PER_QUERY]
        marks = ", ".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT {READ_COLUMNS} FROM reads WHERE id IN ({marks})", chunk
        ):
            found[row[0]] = read_from_row(row)
    return [found[i] for i in ids if i in found]


def select_alerts(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[Alert]:
    return [alert_from_row(row) for row in conn.execute(sql, params).fetchall()]


def alert_by_id(conn: sqlite3.Connection, alert_id: int) -> Alert | None:
    row = conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM {ALERT_FROM} WHERE alerts.id = ?", (alert_id,)
    ).fetchone()
    return alert_from_row(row) if row is not None else None


def key(value: datetime | None) -> str | None:
    return utc_key(value) if value is not None else None


def dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def pairs(items: list[list[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in items)


def images_json(images: tuple[ReadImage, ...]) -> str:
    return json.dumps([{"kind": i.kind.value, "path": i.path, "url": i.url} for i in images])


def read_from_row(r: Sequence[Any]) -> Read:
    images = tuple(
        ReadImage(ImageKind(i["kind"]), i.get("path"), i.get("url")) for i in json.loads(r[14])
    )
    return Read(
        id=r[0], plate=r[1], normalized=r[2], at=dt(r[3]), camera_id=r[4], source=r[5],
        confidence=r[6], country=r[7], region=r[8], unit=r[9], lat=r[10], lon=r[11],
        geotag=r[12], direction=r[13], images=images,
        received_at=dt(r[15]) if r[15] is not None else None,
    )


def alert_from_row(r: Sequence[Any]) -> Alert:
    return Alert(
        id=r[0], state=AlertState(r[1]), raised_at=dt(r[2]), updated_at=dt(r[3]),
        hit=hit_from_doc(json.loads(r[4])),
        other_hits=tuple(hit_from_doc(h) for h in json.loads(r[5])),
        duplicates=r[6], last_read_id=r[7],
        reason=RejectReason(r[8]) if r[8] is not None else None,
        reason_text=r[9], actor=r[10], read=read_from_row(r[11:]),
    )


def hit_doc(hit: Hit) -> dict[str, Any]:
    e = hit.entry
    return {
        "match": hit.match.value, "substitutions": hit.substitutions,
        "entry": {
            "plate": e.plate, "list": e.list, "category": e.category, "priority": e.priority,
            "state": e.state, "covert": e.covert, "effective": key(e.effective),
            "expiry": key(e.expiry), "extra": [list(pair) for pair in e.extra],
        },
    }


def hit_from_doc(doc: dict[str, Any]) -> Hit:
    e = doc["entry"]
    entry = HotlistEntry(
        plate=e["plate"], list=e["list"], category=e["category"], priority=e["priority"],
        state=e["state"], covert=e["covert"],
        effective=dt(e["effective"]) if e["effective"] else None,
        expiry=dt(e["expiry"]) if e["expiry"] else None, extra=pairs(e["extra"]),
    )
    return Hit(entry=entry, match=MatchKind(doc["match"]), substitutions=doc["substitutions"])
