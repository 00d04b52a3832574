"""The read store under steady writes: reads arriving together share a commit, and the
WAL is rewound although commits never pause (hub/store_checkpoint.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub import read_store
from hub.alpr_model import Read
from hub.read_store import ReadStore
from hub.store import Store
from hub.store_checkpoint import WalCheckpointer

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def _read(plate: str) -> Read:
    return Read(id=0, plate=plate, normalized=plate, at=T0, camera_id="ring-1",
                source="citywatch")


async def test_reads_arriving_together_share_a_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A linger longer than the reads' spread (one a millisecond for 20 ms): one batch.
    monkeypatch.setattr(read_store, "COMMIT_LINGER_S", 0.05)
    store = await Store.open(tmp_path)
    reads = ReadStore(store)
    await reads.start()
    try:
        async def one(i: int) -> int:
            await asyncio.sleep(0.001 * i)
            committed, _ = await reads.add(_read(f"1ABC{i:03d}"))
            return committed.id

        ids = await asyncio.gather(*(one(i) for i in range(20)))
        assert sorted(ids) == list(range(min(ids), min(ids) + 20))  # every read committed
        assert reads.transactions <= 2  # one commit each without the linger
    finally:
        await reads.close()
        await store.close()


def _steady_writes(path: Path, checkpointer: WalCheckpointer, seconds: float
                   ) -> tuple[int, int]:
    """Commit one row at a time, ~1 ms apart, while `checkpointer` runs; the WAL file's
    size half way and at the end (a rewound WAL is overwritten from its start: the file
    stops growing)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    wal = path.with_name(path.name + "-wal")
    checkpointer.start()
    half = 0
    try:
        start = time.monotonic()
        while (now := time.monotonic()) < start + seconds:
            db.execute("INSERT INTO t (v) VALUES (?)", ("x" * 200,))
            time.sleep(0.0005)  # commits ~1 ms apart (a busy hub's group commits)
            if not half and now > start + seconds / 2:
                half = wal.stat().st_size
        end = wal.stat().st_size  # (closing the last connection deletes the WAL)
    finally:
        checkpointer.stop()
        db.close()
    return half, end


def test_wal_is_rewound_under_steady_writes(tmp_path: Path) -> None:
    passive = WalCheckpointer(tmp_path / "a.db", interval=0.05, restart_frames=10**9)
    _, passive_end = _steady_writes(tmp_path / "a.db", passive, seconds=1.2)
    rewinding = WalCheckpointer(tmp_path / "b.db", interval=0.05, restart_frames=64)
    _, rewound_end = _steady_writes(tmp_path / "b.db", rewinding, seconds=1.2)
    assert passive.checkpoints >= 5 and rewinding.checkpoints >= 5
    # PASSIVE alone: the WAL only grows while commits never pause.
    assert passive.restarts == 0
    # RESTART once it is long: overwritten from its start, it stays a few intervals long.
    assert rewinding.restarts >= 3
    assert rewound_end * 3 < passive_end


def test_checkpointer_stops_with_its_thread(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "t.db").close()
    checkpointer = WalCheckpointer(tmp_path / "t.db", interval=0.01)
    checkpointer.start()
    time.sleep(0.05)
    checkpointer.stop()
    assert not any(t.name == "wal-checkpoint" and t.is_alive() for t in threading.enumerate())


def test_rows_are_inserted_in_statements_within_the_variable_limit() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 10)  # 5 rows of 2 per statement
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    rows = [(i, f"r{i}") for i in range(12)]
    read_store._insert_rows(db, "INSERT INTO t (a, b)", rows)
    read_store._insert_rows(db, "INSERT INTO t (a, b)", [])  # nothing to do: no statement
    assert len(statements) == 3  # 5 + 5 + 2 rows, not one statement per row
    assert db.execute("SELECT a, b FROM t ORDER BY a").fetchall() == rows


async def test_a_read_that_waited_for_a_commit_does_not_linger_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The linger counts from a read's arrival: a read queued while the previous batch was
    # being committed goes into the next commit at once, not a linger later.
    monkeypatch.setattr(read_store, "COMMIT_LINGER_S", 0.2)
    store = await Store.open(tmp_path)
    reads = ReadStore(store)
    await reads.start()
    try:
        first = asyncio.create_task(reads.add(_read("1ABC001")))
        await asyncio.sleep(0.25)  # past the first read's linger: its batch is committing
        started = time.monotonic()
        await reads.add(_read("1ABC002"))
        await first
        assert time.monotonic() - started < 0.2 + 0.15  # one linger at most, not two
        assert len(reads.queue_wait_s) == 2 and len(reads.commit_s) == 2
    finally:
        await reads.close()
        await store.close()
