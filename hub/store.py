"""SQLite store of cameras and their health history (WAL mode, versioned schema).

Every call runs on one dedicated thread that owns the connection, so the event loop
never blocks on disk and SQLite never sees two threads. A coroutine returns only
after its transaction committed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from hub.errors import StoreError
from hub.model import (
    CameraConfig,
    CameraStatus,
    FixState,
    HealthReason,
    HealthSide,
    HealthState,
    HealthTransition,
    Maintenance,
    TrackPoint,
    Vehicle,
    VehicleConfig,
    VehicleStatus,
)
from hub.store_checkpoint import WalCheckpointer
from hub.store_schema import MIGRATIONS

log = logging.getLogger(__name__)

T = TypeVar("T")

DB_FILENAME = "citywatch.sqlite3"

# Track points are stored at most one per second per vehicle: enough to replay a patrol
# and to geotag after a restart, 1/10 of what a 10 Hz receiver sends.
TRACK_MIN_INTERVAL_S = 1.0

# How long track points are kept: a week covers the usual questions ("where was car 3
# on Saturday night") without keeping a location history of officers for longer.
TRACK_RETENTION = timedelta(days=7)


class Store:
    """The hub's persistent state. Open with `await Store.open(data_dir)`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._db: sqlite3.Connection | None = None
        self._checkpointer: WalCheckpointer | None = None
        # Time of the last stored track point per vehicle (the downsampler's memory).
        self._last_point_at: dict[str, datetime] = {}

    @classmethod
    async def open(cls, data_dir: Path) -> Store:
        """Open (creating and migrating if needed) the store under `data_dir`."""
        store = cls(data_dir / DB_FILENAME)
        try:
            await store._run(store._open_sync)
        except StoreError:
            store._executor.shutdown(wait=False)
            raise
        return store

    async def close(self) -> None:
        """Close the connection and the store thread."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(connection, *args)` on the store thread (for modules that keep their own
        tables here, e.g. hub.read_store); sqlite3/OS errors become StoreError."""
        return await self._run(lambda: fn(self._conn, *args))

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable in WAL mode against process crashes (kill -9), which is
        # what "acknowledged only after commit" must survive.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        # Checkpoints happen on their own thread (hub/store_checkpoint.py), not inside a
        # commit that an acknowledgement waits for.
        db.execute("PRAGMA wal_autocheckpoint=0")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            db.close()
            raise sqlite3.DatabaseError(
                f"schema version {version} is newer than this citywatch ({len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
            log.info("store %s: migrated to schema %d", self.path, number)
        self._db = db
        self._checkpointer = WalCheckpointer(self.path)
        self._checkpointer.start()

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"{self.path}: store is closed")
        return self._db

    async def journal_mode(self) -> str:
        """The SQLite journal mode in effect ("wal")."""
        row = await self._run(lambda: self._conn.execute("PRAGMA journal_mode").fetchone())
        return str(row[0])

    async def upsert_cameras(self, cameras: list[CameraConfig]) -> None:
        """Insert or update the configured cameras (credentials are never stored here)."""

        def work() -> None:
            with self._conn:
                self._conn.executemany(
                    """
                    INSERT INTO cameras (id, name, site, kind, onvif_url, street, lat, lon)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET name=excluded.name, site=excluded.site,
                        kind=excluded.kind, onvif_url=excluded.onvif_url,
                        street=excluded.street, lat=excluded.lat, lon=excluded.lon
                    """,
                    [
                        (c.id, c.name, c.site, c.kind.value, c.onvif_url, c.street, c.lat, c.lon)
                        for c in cameras
                    ],
                )

        await self._run(work)

    async def record(self, status: CameraStatus, transition: HealthTransition | None) -> None:
        """Store a camera's current status (its maintenance too) and, in the same
        transaction, its transition."""

        def work() -> None:
            facts = status.facts
            with self._conn:
                self._conn.execute(
                    """
                    UPDATE cameras SET manufacturer=?, model=?, firmware=?, state=?, reason=?,
                        detail=?, last_seen=?, changed_at=?, side=?, maintenance_since=?,
                        maintenance_until=?, maintenance_reason=?, maintenance_actor=?
                    WHERE id=?
                    """,
                    (
                        facts.manufacturer if facts else None,
                        facts.model if facts else None,
                        facts.firmware if facts else None,
                        status.state.value,
                        status.reason.value,
                        status.detail,
                        _iso(status.last_seen),
                        _iso(status.changed_at),
                        status.side.value,
                        *_maintenance_row(status.maintenance),
                        status.id,
                    ),
                )
                if transition is not None:
                    self._conn.execute(
                        """
                        INSERT INTO health_transitions
                            (camera_id, at, old_state, new_state, reason, detail, side)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                        (
                            transition.camera_id,
                            transition.at.isoformat(),
                            transition.old_state.value,
                            transition.new_state.value,
                            transition.reason.value,
                            transition.detail,
                            transition.side.value,
                        ),
                    )

        await self._run(work)

    async def history(self, camera_id: str, limit: int = 50) -> list[HealthTransition]:
        """Latest transitions of one camera, newest first."""

        def work() -> list[HealthTransition]:
            rows = self._conn.execute(
                """
                SELECT camera_id, at, old_state, new_state, reason, detail, side
                FROM health_transitions WHERE camera_id=? ORDER BY at DESC, id DESC LIMIT ?
                """,
                (camera_id, limit),
            ).fetchall()
            return [
                HealthTransition(
                    camera_id=r[0],
                    at=datetime.fromisoformat(r[1]),
                    old_state=HealthState(r[2]),
                    new_state=HealthState(r[3]),
                    reason=HealthReason(r[4]),
                    detail=r[5],
                    side=HealthSide(r[6]),
                )
                for r in rows
            ]

        return await self._run(work)

    async def camera_states(self) -> dict[str, tuple[HealthState, HealthReason]]:
        """Stored state and reason of every camera (what a restarted hub last knew)."""

        def work() -> dict[str, tuple[HealthState, HealthReason]]:
            rows = self._conn.execute("SELECT id, state, reason FROM cameras").fetchall()
            return {r[0]: (HealthState(r[1]), HealthReason(r[2])) for r in rows}

        return await self._run(work)

    async def set_maintenance(
        self, camera_id: str, maintenance: Maintenance | None, actor: str, at: datetime
    ) -> None:
        """Store a camera's maintenance (None: ended) and audit who did it, in one
        transaction."""
        action = "camera.maintenance" if maintenance is not None else "camera.maintenance_end"
        detail = maintenance.reason if maintenance is not None else ""
        data = json.dumps([["until", _iso(maintenance.until)]] if maintenance is not None else [])

        def work() -> None:
            with self._conn:
                self._conn.execute(
                    """
                    UPDATE cameras SET maintenance_since=?, maintenance_until=?,
                        maintenance_reason=?, maintenance_actor=? WHERE id=?
                    """,
                    (*_maintenance_row(maintenance), camera_id),
                )
                self._conn.execute(
                    "INSERT INTO audit (at, actor, action, target, detail, data)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (utc_key(at), actor, action, f"camera:{camera_id}", detail, data),
                )

        await self._run(work)

    async def maintenance(self) -> dict[str, Maintenance]:
        """Every camera's stored maintenance (expired ones too: the hub drops them)."""

        def work() -> dict[str, Maintenance]:
            rows = self._conn.execute(
                """
                SELECT id, maintenance_since, maintenance_until, maintenance_reason,
                    maintenance_actor FROM cameras WHERE maintenance_until IS NOT NULL
                """
            ).fetchall()
            return {
                r[0]: Maintenance(since=datetime.fromisoformat(r[1]),
                                  until=datetime.fromisoformat(r[2]), reason=r[3], actor=r[4])
                for r in rows
            }

        return await self._run(work)

    async def outage_onsets(
        self, camera_ids: list[str], since: datetime
    ) -> dict[str, list[datetime]]:
        """When each camera went from ok to degraded or down since `since`, oldest first:
        what its flap count (hub/health.py) starts from after a restart."""

        def work() -> dict[str, list[datetime]]:
            out: dict[str, list[datetime]] = {}
            # One indexed query per camera (camera_id, at): no scan of the whole history.
            # The text bound is a second early (isoformat drops zero microseconds); the
            # exact cut is made on the parsed times.
            bound = (since - timedelta(seconds=1)).isoformat()
            for camera_id in camera_ids:
                rows = self._conn.execute(
                    """
                    SELECT at FROM health_transitions WHERE camera_id=? AND at >= ?
                        AND old_state='ok' AND new_state IN ('degraded', 'down') ORDER BY at
                    """,
                    (camera_id, bound),
                ).fetchall()
                times = [t for t in (datetime.fromisoformat(r[0]) for r in rows) if t >= since]
                if times:
                    out[camera_id] = times
            return out

        return await self._run(work)

    # vehicles ---------------------------------------------------------------------------

    async def upsert_vehicles(self, vehicles: list[VehicleConfig]) -> None:
        """Insert or update the configured vehicles."""

        def work() -> None:
            with self._conn:
                self._conn.executemany(
                    """
                    INSERT INTO vehicles (id, name, site, camera, source) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET name=excluded.name, site=excluded.site,
                        camera=excluded.camera, source=excluded.source
                    """,
                    [(v.id, v.name, v.site, v.camera, v.source) for v in vehicles],
                )

        await self._run(work)

    async def vehicles(self) -> list[Vehicle]:
        """Every vehicle ever configured, by id."""

        def work() -> list[Vehicle]:
            rows = self._conn.execute(
                "SELECT id, name, site, camera FROM vehicles ORDER BY id"
            ).fetchall()
            return [Vehicle(id=r[0], name=r[1], site=r[2], camera=r[3]) for r in rows]

        return await self._run(work)

    async def record_vehicle(self, status: VehicleStatus) -> None:
        """Store a vehicle's fix state (called on transitions, not on every fix)."""

        def work() -> None:
            with self._conn:
                self._conn.execute(
                    "UPDATE vehicles SET state=?, detail=?, changed_at=? WHERE id=?",
                    (status.state.value, status.detail, _iso(status.changed_at), status.id),
                )

        await self._run(work)

    async def vehicle_states(self) -> dict[str, FixState]:
        """Stored fix state of every vehicle."""

        def work() -> dict[str, FixState]:
            rows = self._conn.execute("SELECT id, state FROM vehicles").fetchall()
            return {r[0]: FixState(r[1]) for r in rows}

        return await self._run(work)

    def wants_track_point(self, vehicle_id: str, point: TrackPoint) -> bool:
        """Whether `add_track_point` would keep this point (≥ 1 s after the last kept)."""
        last = self._last_point_at.get(vehicle_id)
        if last is None or point.at < last:  # first, or the receiver clock went back
            return True
        return (point.at - last).total_seconds() >= TRACK_MIN_INTERVAL_S

    async def add_track_point(self, vehicle_id: str, point: TrackPoint) -> bool:
        """Store a fix, downsampled to at most one per TRACK_MIN_INTERVAL_S; True if kept."""
        if not self.wants_track_point(vehicle_id, point):
            return False
        self._last_point_at[vehicle_id] = point.at

        def work() -> None:
            with self._conn:
                self._conn.execute(
                    """
                    INSERT OR IGNORE INTO track_points
                        (vehicle_id, at, lat, lon, speed, track, mode)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                    (vehicle_id, utc_key(point.at), point.lat, point.lon, point.speed,
                     point.track, point.mode),
                )

        await self._run(work)
        return True

    async def track(
        self,
        vehicle_id: str,
        since: datetime,
        until: datetime | None = None,
        limit: int = 100_000,
    ) -> list[TrackPoint]:
        """Stored fixes of a vehicle with since <= at (< until), oldest first."""

        def work() -> list[TrackPoint]:
            upper = utc_key(until) if until is not None else "9999"
            rows = self._conn.execute(
                """
                SELECT at, lat, lon, speed, track, mode FROM track_points
                WHERE vehicle_id=? AND at >= ? AND at < ? ORDER BY at LIMIT ?
                """,
                (vehicle_id, utc_key(since), upper, limit),
            ).fetchall()
            return [
                TrackPoint(datetime.fromisoformat(r[0]), r[1], r[2], r[3], r[4], r[5])
                for r in rows
            ]

        return await self._run(work)

    async def purge_track_points(self, before: datetime) -> int:
        """Delete track points older than `before`; returns how many went."""

        def work() -> int:
            with self._conn:
                cur = self._conn.execute(
                    "DELETE FROM track_points WHERE at < ?", (utc_key(before),)
                )
                return cur.rowcount

        return await self._run(work)


def utc_key(value: datetime) -> str:
    """Fixed-width UTC ISO text: sorts like the times it stands for (naive = UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _maintenance_row(m: Maintenance | None) -> tuple[str | None, str | None, str, str]:
    if m is None:
        return (None, None, "", "")
    return (_iso(m.since), _iso(m.until), m.reason, m.actor)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
