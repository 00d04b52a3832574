"""SQLite store of cameras and their health history (WAL mode, versioned schema).

Every call runs on one dedicated thread that owns the connection, so the event loop
never blocks on disk and SQLite never sees two threads. A coroutine returns only
after its transaction committed.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from hub.errors import StoreError
from hub.model import (
    CameraConfig,
    CameraStatus,
    HealthReason,
    HealthState,
    HealthTransition,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DB_FILENAME = "citywatch.sqlite3"

# Ordered migrations; the index + 1 is the schema version they bring the file to.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE cameras (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        site         TEXT NOT NULL,
        kind         TEXT NOT NULL,
        onvif_url    TEXT NOT NULL,
        street       TEXT NOT NULL DEFAULT '',
        lat          REAL,
        lon          REAL,
        manufacturer TEXT,
        model        TEXT,
        firmware     TEXT,
        state        TEXT NOT NULL DEFAULT 'unknown',
        reason       TEXT NOT NULL DEFAULT '',
        detail       TEXT NOT NULL DEFAULT '',
        last_seen    TEXT,
        changed_at   TEXT
    );
    CREATE TABLE health_transitions (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        camera_id  TEXT NOT NULL REFERENCES cameras(id),
        at         TEXT NOT NULL,
        old_state  TEXT NOT NULL,
        new_state  TEXT NOT NULL,
        reason     TEXT NOT NULL,
        detail     TEXT NOT NULL
    );
    CREATE INDEX health_transitions_camera_at ON health_transitions(camera_id, at DESC);
    """,
)


class Store:
    """The hub's persistent state. Open with `await Store.open(data_dir)`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._db: sqlite3.Connection | None = None

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

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable in WAL mode against process crashes (kill -9), which is
        # what "acknowledged only after commit" must survive.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
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
        """Store a camera's current status and, in the same transaction, its transition."""

        def work() -> None:
            facts = status.facts
            with self._conn:
                self._conn.execute(
                    """
                    UPDATE cameras SET manufacturer=?, model=?, firmware=?, state=?, reason=?,
                        detail=?, last_seen=?, changed_at=? WHERE id=?
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
                        status.id,
                    ),
                )
                if transition is not None:
                    self._conn.execute(
                        """
                        INSERT INTO health_transitions
                            (camera_id, at, old_state, new_state, reason, detail)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """,
                        (
                            transition.camera_id,
                            transition.at.isoformat(),
                            transition.old_state.value,
                            transition.new_state.value,
                            transition.reason.value,
                            transition.detail,
                        ),
                    )

        await self._run(work)

    async def history(self, camera_id: str, limit: int = 50) -> list[HealthTransition]:
        """Latest transitions of one camera, newest first."""

        def work() -> list[HealthTransition]:
            rows = self._conn.execute(
                """
                SELECT camera_id, at, old_state, new_state, reason, detail
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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
