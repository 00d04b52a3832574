from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.errors import StoreError
from hub.model import (
    CameraConfig,
    CameraStatus,
    HealthReason,
    HealthState,
    HealthTransition,
)
from hub.store import DB_FILENAME, MIGRATIONS, Store

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


async def test_wal_mode_schema_version_and_no_password(
    tmp_path: Path, camera_config: CameraConfig
) -> None:
    store = await Store.open(tmp_path)
    try:
        assert await store.journal_mode() == "wal"
        await store.upsert_cameras([camera_config])
    finally:
        await store.close()
    raw = (tmp_path / DB_FILENAME).read_bytes()
    assert camera_config.password.encode() not in raw
    reopened = await Store.open(tmp_path)  # migrations are idempotent
    try:
        states = await reopened.camera_states()
        assert states == {camera_config.id: (HealthState.UNKNOWN, HealthReason.NONE)}
    finally:
        await reopened.close()
    import sqlite3

    with sqlite3.connect(tmp_path / DB_FILENAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


async def test_transitions_are_kept_newest_first(
    tmp_path: Path, camera_config: CameraConfig
) -> None:
    store = await Store.open(tmp_path)
    try:
        await store.upsert_cameras([camera_config])
        status = CameraStatus(config=camera_config)
        steps = [
            (HealthState.UNKNOWN, HealthState.OK, HealthReason.NONE, ""),
            (HealthState.OK, HealthState.DOWN, HealthReason.UNREACHABLE, "refused"),
            (HealthState.DOWN, HealthState.OK, HealthReason.NONE, ""),
        ]
        for minute, (old, new, reason, detail) in enumerate(steps):
            when = T0.replace(minute=minute)
            status = replace(status, state=new, reason=reason, detail=detail, changed_at=when)
            await store.record(
                status, HealthTransition(camera_config.id, when, old, new, reason, detail)
            )
        history = await store.history(camera_config.id)
        assert [h.new_state for h in history] == [
            HealthState.OK,
            HealthState.DOWN,
            HealthState.OK,
        ]
        assert history[1].reason is HealthReason.UNREACHABLE
        assert history[1].detail == "refused"
        assert history[0].at == T0.replace(minute=2)
        assert len(await store.history(camera_config.id, limit=1)) == 1
        assert (await store.camera_states())[camera_config.id] == (
            HealthState.OK,
            HealthReason.NONE,
        )
    finally:
        await store.close()


async def test_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / DB_FILENAME) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StoreError, match="newer than this citywatch"):
        await Store.open(tmp_path)


async def test_unwritable_data_dir_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError):
        await Store.open(blocker / "sub")


async def test_wal_is_checkpointed_off_the_writer(tmp_path: Path) -> None:
    """Commits never checkpoint (autocheckpoint off); the checkpointer thread does, so the
    WAL's frames get copied back to the database file."""
    import sqlite3

    from hub.store_checkpoint import WalCheckpointer

    store = await Store.open(tmp_path)
    try:
        autocheckpoint = await store.run(
            lambda db: db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        )
        assert autocheckpoint == 0

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("CREATE TABLE IF NOT EXISTS filler (x TEXT)")
                db.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 2000)

        await store.run(write)
        # ~1 MB written: all of it still in the WAL, none in the database file.
        before = store.path.stat().st_size
        assert before < 200_000
        checkpointer = WalCheckpointer(store.path, interval=0.05)
        checkpointer.start()
        for _ in range(100):  # up to 5 s on a busy machine
            if checkpointer.checkpoints >= 2:
                break
            await asyncio.sleep(0.05)
        checkpointer.stop()
        assert checkpointer.checkpoints >= 2
        assert store.path.stat().st_size > before + 900_000
    finally:
        await store.close()
