"""Persistence of licence-plate reads, alerts, wanted plates and the audit log.

Everything runs on the hub.store thread (one SQLite connection). Reads are written by
group commit: concurrent `add` calls are queued and a writer task commits them in one
transaction per batch, so thousands of reads per second cost one commit per batch,
and each caller still returns only once its read is durable.

Retention: `purge_reads` keeps the reads alerts were raised on (their images are the
alert's evidence); an alert's `last_read_id` may name a purged read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from hub import read_search
from hub.alpr_model import (
    ALERT_TRANSITIONS,
    Alert,
    AlertState,
    AuditEntry,
    Hit,
    Read,
    RejectReason,
    WantedPlate,
)
from hub.errors import AlertTransitionError, StoreError, WantedPlateError
from hub.plates import canonical, normalize
from hub.read_rows import (
    ALERT_COLUMNS,
    ALERT_FROM,
    alert_by_id,
    dt,
    hit_doc,
    images_json,
    key,
    pairs,
    reads_by_id,
    select_alerts,
)
from hub.store import Store, utc_key

log = logging.getLogger(__name__)

# Reads per transaction at most: at 5,000 reads/s a batch holds 0.1 s of reads (one
# commit instead of 500), and one batch's transaction stays in the tens of milliseconds.
BATCH_MAX = 500
# How long the writer waits for more reads after the first of a batch. A transaction's
# cost is mostly per commit, not per read (measured on the 2-core bench machine: 270 us
# and ~14 WAL pages for a commit of one read, 48 us and under one page per read in
# batches of 20), so at 1,000 reads/s one-read transactions cost a third of a core and
# 40 MB/s of WAL. Waiting 4 ms gathers ~5 reads per commit; the latency it adds is well
# inside the 50 ms read -> alert budget. It counts from the first read's arrival: reads
# that queued while the previous batch committed have waited already.
COMMIT_LINGER_S = 0.004

# Samples kept per stage statistic (queue wait, commit): the latest 10,000 are ten seconds
# of reads at 1,000 reads/s, enough for a stable p99 of a benchmark run.
STAGE_SAMPLES = 10_000

# Reads deleted per purge transaction: other store work (ingest) gets the thread between
# chunks instead of waiting behind a day's worth of deletes.
PURGE_CHUNK = 10_000

_OPEN = (AlertState.NEW.value, AlertState.ACKNOWLEDGED.value)


@dataclass(frozen=True)
class AlertDraft:
    """What the matcher found for a read: a new alert, or a duplicate of an open one."""

    hit: Hit  # best hit of the read
    other_hits: tuple[Hit, ...] = ()  # further hits of the same read
    # An open alert to count the read on (duplicates += 1) instead of raising a new one;
    # if that alert is no longer open when the read is written, a new alert is raised.
    fold_into: int | None = None


@dataclass
class _Pending:
    read: Read
    drafts: tuple[AlertDraft, ...]
    done: asyncio.Future[tuple[Read, list[Alert]]]
    queued_at: float  # time.monotonic() of the add


class ReadStore:
    """Reads, alerts, wanted plates and audit log in the hub's SQLite store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self.transactions = 0  # committed group-commit transactions (for tests and stats)
        # Where a read's time goes in here, for GET /api/stats: seconds from `add` to its
        # batch being taken (linger, and the previous batch's commit), per read; seconds
        # from a batch being taken to its commit being back on the event loop, per batch.
        self.queue_wait_s: deque[float] = deque(maxlen=STAGE_SAMPLES)
        self.commit_s: deque[float] = deque(maxlen=STAGE_SAMPLES)

    # group commit -------------------------------------------------------------------

    async def start(self) -> None:
        """Start the writer task that `add` needs."""
        if self._writer is None:
            self._closing = False
            self._writer = asyncio.create_task(self._write_loop(), name="read-store-writer")

    async def close(self) -> None:
        """Commit what is queued, then stop the writer (the Store stays open)."""
        if self._writer is None:
            return
        self._closing = True
        self._queue.put_nowait(None)
        writer, self._writer = self._writer, None
        await writer

    async def add(
        self, read: Read, drafts: Sequence[AlertDraft] = ()
    ) -> tuple[Read, list[Alert]]:
        """Commit a read and its alerts (new or folded); returns them with their ids.

        Raises StoreError if the transaction holding the read failed (nothing of it is
        written). Cancelling the caller does not withdraw a queued read.
        """
        if self._writer is None or self._closing:
            raise StoreError("read store is not started (or closing)")
        done: asyncio.Future[tuple[Read, list[Alert]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.put_nowait(_Pending(read, tuple(drafts), done, time.monotonic()))
        return await done

    async def _write_loop(self) -> None:
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is None:
                return
            # Let concurrent reads join the batch, counting from the first read's arrival:
            # one that queued while the previous batch committed has waited long enough.
            linger = first.queued_at + COMMIT_LINGER_S - time.monotonic()
            if linger > 0 and self._queue.qsize() < BATCH_MAX - 1 and not self._closing:
                await asyncio.sleep(linger)
            batch = [first]
            while len(batch) < BATCH_MAX and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            await self._commit(batch)

    async def _commit(self, batch: list[_Pending]) -> None:
        items = [(p.read, p.drafts) for p in batch]
        taken = time.monotonic()
        self.queue_wait_s.extend(taken - p.queued_at for p in batch)
        try:
            results = await self._store.run(_write_batch, items)
        except asyncio.CancelledError:
            _fail(batch, StoreError("read store writer was cancelled"))
            raise
        except Exception as exc:  # the writer must outlive any failure, or adds would hang
            log.warning("read batch of %d not written: %s", len(batch), exc)
            _fail(batch, exc if isinstance(exc, StoreError) else StoreError(str(exc)))
            return
        self.transactions += 1
        self.commit_s.append(time.monotonic() - taken)
        for pending, result in zip(batch, results, strict=True):
            if not pending.done.done():
                pending.done.set_result(result)

    # reads --------------------------------------------------------------------------

    async def read(self, read_id: int) -> Read | None:
        """One read by id."""
        reads = await self._store.run(reads_by_id, [read_id])
        return reads[0] if reads else None

    async def search(
        self,
        pattern: str,
        since: datetime | None = None,
        camera_id: str | None = None,
        limit: int = 100,
    ) -> list[Read]:
        """Reads whose plate matches `pattern` (`*`, `?`, or a fragment), newest first.

        Raises SearchPatternError for an empty pattern, or one too short for any index
        without a `since` within read_search.SHORT_PATTERN_MAX_WINDOW of the newest read.
        """
        parsed = read_search.parse_search(pattern)
        return await self._store.run(_search, parsed, key(since), camera_id, limit, True)

    async def explain_search(
        self, pattern: str, since: datetime | None = None, camera_id: str | None = None
    ) -> list[str]:
        """EXPLAIN QUERY PLAN lines of the queries `search` would run (for tests)."""
        parsed = read_search.parse_search(pattern)
        return await self._store.run(read_search.explain, parsed, key(since), camera_id)

    async def reads_by_canonical(
        self, canonical_keys: Sequence[str], since: datetime, limit: int = 1000
    ) -> list[Read]:
        """Reads whose canonical plate is one of `canonical_keys`, from `since`, newest first."""
        def work(conn: sqlite3.Connection) -> list[Read]:
            keys = list(canonical_keys)
            return reads_by_id(
                conn, read_search.by_canonical_ids(conn, keys, utc_key(since), limit)
            )

        return await self._store.run(work)

    async def reads_matching_wildcard(
        self, canonical_pattern: str, since: datetime, limit: int = 1000
    ) -> list[Read]:
        """Reads whose canonical plate matches `canonical_pattern` (`*` = exactly one
        character), from `since`, newest first."""
        parsed = read_search.parse_wanted(canonical_pattern)
        return await self._store.run(_search, parsed, utc_key(since), None, limit, False)

    async def count_reads(self) -> int:
        """How many reads are stored."""
        return await self._store.run(
            lambda conn: int(conn.execute("SELECT count(*) FROM reads").fetchone()[0])
        )

    async def purge_reads(self, before: datetime) -> list[str]:
        """Delete reads older than `before` (except those alerts were raised on) and their
        index rows; returns the image paths of the deleted reads, for the caller to delete."""
        paths: list[str] = []
        while True:
            chunk = await self._store.run(_purge_chunk, utc_key(before), PURGE_CHUNK)
            paths.extend(chunk[1])
            if chunk[0] < PURGE_CHUNK:
                return paths

    # alerts -------------------------------------------------------------------------

    async def alert(self, alert_id: int) -> Alert | None:
        """One alert by id."""
        return await self._store.run(alert_by_id, alert_id)

    async def alerts(self, limit: int = 200, open_only: bool = True) -> list[Alert]:
        """Alerts by priority (highest first), then newest; `open_only`: NEW/ACKNOWLEDGED."""
        where = f"WHERE alerts.state IN {_OPEN}" if open_only else ""
        sql = (
            f"SELECT {ALERT_COLUMNS} FROM {ALERT_FROM} {where}"
            " ORDER BY alerts.priority DESC, alerts.raised_at DESC, alerts.id DESC LIMIT ?"
        )
        return await self._store.run(select_alerts, sql, (limit,))

    async def open_alerts_since(self, since: datetime) -> list[Alert]:
        """Open alerts updated (raised, folded or moved) at or after `since`, newest first:
        what a restarted pipeline needs to keep folding duplicates."""
        sql = (
            f"SELECT {ALERT_COLUMNS} FROM {ALERT_FROM}"
            f" WHERE alerts.state IN {_OPEN} AND alerts.updated_at >= ?"
            " ORDER BY alerts.raised_at DESC, alerts.id DESC"
        )
        return await self._store.run(select_alerts, sql, (utc_key(since),))

    async def transition_alert(
        self,
        alert_id: int,
        to: AlertState,
        actor: str,
        at: datetime,
        reason: RejectReason | None = None,
        text: str = "",
    ) -> Alert:
        """Move an alert and audit it, in one transaction. Raises AlertTransitionError for
        an unknown alert, a move ALERT_TRANSITIONS does not allow, a REJECTED without a
        reason or a reason on anything else."""
        if to is AlertState.REJECTED and reason is None:
            raise AlertTransitionError(f"alert {alert_id}: rejecting needs a reason")
        if to is not AlertState.REJECTED and reason is not None:
            raise AlertTransitionError(f"alert {alert_id}: a reason is only for rejecting")
        return await self._store.run(_transition, alert_id, to, actor, utc_key(at), reason, text)

    # wanted plates and audit --------------------------------------------------------

    async def add_wanted(
        self,
        plate: str,
        reason: str,
        actor: str,
        created_at: datetime,
        expires_at: datetime,
        priority: int = 90,
    ) -> WantedPlate:
        """Store (and audit) a wanted plate; `plate` is normalised, `*` = one unknown char.
        Raises WantedPlateError for an empty plate, `?`, a bad priority or expiry."""
        norm = normalize(plate, keep_wildcards=True)
        if "?" in norm or not norm.replace("*", ""):
            raise WantedPlateError(f"wanted plate {plate!r}: give plate characters (* = one)")
        if not 0 <= priority <= 100:
            raise WantedPlateError(f"wanted plate {plate!r}: priority {priority} not in 0..100")
        if expires_at <= created_at:
            raise WantedPlateError(f"wanted plate {plate!r}: expires before it starts")
        wanted = WantedPlate(0, norm, reason, actor, created_at, expires_at, priority)
        return await self._store.run(_add_wanted, wanted)

    async def remove_wanted(self, wanted_id: int, actor: str, at: datetime) -> None:
        """End a wanted plate now (expires_at = at; the row is kept) and audit it.
        Raises WantedPlateError if it does not exist or has already expired."""
        await self._store.run(_remove_wanted, wanted_id, actor, utc_key(at))

    async def wanted(self, active_at: datetime) -> list[WantedPlate]:
        """Wanted plates not expired at `active_at`, newest first."""

        def work(conn: sqlite3.Connection) -> list[WantedPlate]:
            rows = conn.execute(
                "SELECT id, plate, reason, created_by, created_at, expires_at, priority"
                " FROM wanted WHERE expires_at > ? ORDER BY created_at DESC, id DESC",
                (utc_key(active_at),),
            ).fetchall()
            return [
                WantedPlate(r[0], r[1], r[2], r[3], dt(r[4]), dt(r[5]), r[6])
                for r in rows
            ]

        return await self._store.run(work)

    async def audit(self, target: str | None = None, limit: int = 200) -> list[AuditEntry]:
        """Audit entries (of one target, e.g. "alert:12"), newest first."""

        def work(conn: sqlite3.Connection) -> list[AuditEntry]:
            where, params = ("WHERE target = ?", (target, limit)) if target else ("", (limit,))
            rows = conn.execute(
                f"SELECT at, actor, action, target, detail, data FROM audit {where}"
                " ORDER BY at DESC, id DESC LIMIT ?",
                params,
            ).fetchall()
            return [
                AuditEntry(dt(r[0]), r[1], r[2], r[3], r[4], pairs(json.loads(r[5])))
                for r in rows
            ]

        return await self._store.run(work)


def _fail(batch: list[_Pending], exc: StoreError) -> None:
    """Reject every caller of a batch whose transaction did not commit."""
    for pending in batch:
        if not pending.done.done():
            error = StoreError(str(exc))
            error.__cause__ = exc
            pending.done.set_exception(error)


# Everything below runs on the store thread. ------------------------------------------


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One explicit transaction (the store's connection is in autocommit mode)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


_READ_COLUMNS = (
    "at, camera_id, plate, normalized, canonical, source, confidence, country, region, unit,"
    " lat, lon, geotag, direction, images, received_at"
)


def _write_batch(
    conn: sqlite3.Connection, items: list[tuple[Read, tuple[AlertDraft, ...]]]
) -> list[tuple[Read, list[Alert]]]:
    with _transaction(conn):
        reads = [read for read, _ in items]
        ats = [utc_key(read.at) for read in reads]
        _insert_rows(
            conn, f"INSERT INTO reads ({_READ_COLUMNS})",
            [(at, r.camera_id, r.plate, r.normalized, canonical(r.normalized), r.source,
              r.confidence, r.country, r.region, r.unit, r.lat, r.lon, r.geotag, r.direction,
              images_json(r.images) if r.images else "[]", key(r.received_at))
             for at, r in zip(ats, reads, strict=True)],
        )
        # AUTOINCREMENT ids are consecutive within this (the only) writer's transaction.
        last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'reads'").fetchone()
        ids = range(int(last[0]) - len(items) + 1, int(last[0]) + 1)
        _insert_rows(
            conn, "INSERT INTO reads_fts (rowid, text)",
            [(i, read_search.index_text(r.normalized)) for i, r in zip(ids, reads, strict=True)],
        )
        newest: dict[int, str] = {}
        chars: set[str] = set()
        for read_id, at, read in zip(ids, ats, reads, strict=True):
            block = read_id >> read_search.BLOCK_BITS
            newest[block] = max(at, newest.get(block, at))
            chars.update(read.normalized)
        _insert_rows(
            conn, "INSERT INTO read_blocks (block, max_at)", list(newest.items()),
            " ON CONFLICT (block) DO UPDATE SET max_at = max(max_at, excluded.max_at)",
        )
        _insert_rows(conn, "INSERT OR IGNORE INTO read_alphabet (ch)", [(ch,) for ch in chars])
        return [
            _write_alerts(conn, replace(read, id=read_id), at, drafts)
            for read_id, at, (read, drafts) in zip(ids, ats, items, strict=True)
        ]


def _insert_rows(
    conn: sqlite3.Connection, head: str, rows: Sequence[tuple[object, ...]], tail: str = ""
) -> None:
    """`head VALUES (..), (..), .. tail` for all `rows`, in as few statements as this
    SQLite's bound-variable limit allows (999 in old builds, 32,766 since 3.32).

    Not executemany: that steps SQLite once per row, releasing and retaking the GIL each
    time, and while the event loop runs Python each retake can wait for the interpreter's
    switch interval (5 ms): commits of a dozen reads took tens of ms at 1,000 reads/s."""
    if not rows:
        return
    width = len(rows[0])
    per_statement = max(1, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width)
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        values = ", ".join(["(" + ", ".join("?" * width) + ")"] * len(chunk))
        conn.execute(f"{head} VALUES {values}{tail}", [v for row in chunk for v in row])


def _write_alerts(
    conn: sqlite3.Connection, read: Read, at: str, drafts: tuple[AlertDraft, ...]
) -> tuple[Read, list[Alert]]:
    """Raise or fold the alerts of a stored read."""
    alerts: list[Alert] = []
    for draft in drafts:
        if draft.fold_into is not None:
            folded = conn.execute(
                "UPDATE alerts SET duplicates = duplicates + 1, last_read_id = ?,"
                f" updated_at = ? WHERE id = ? AND state IN {_OPEN}",
                (read.id, at, draft.fold_into),
            )
            if folded.rowcount:
                alerts.append(_must_alert(conn, draft.fold_into))
                continue
        cur = conn.execute(
            "INSERT INTO alerts (read_id, state, priority, raised_at, updated_at, hit,"
            " other_hits) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (read.id, AlertState.NEW.value, draft.hit.entry.priority, at, at,
             json.dumps(hit_doc(draft.hit)), json.dumps([hit_doc(h) for h in draft.other_hits])),
        )
        alerts.append(Alert(
            id=int(cur.lastrowid or 0), read=read, hit=draft.hit, state=AlertState.NEW,
            raised_at=read.at, updated_at=read.at, other_hits=draft.other_hits,
        ))
    return read, alerts


def _search(
    conn: sqlite3.Connection, pattern: read_search.Pattern, since: str | None,
    camera_id: str | None, limit: int, bounded: bool,
) -> list[Read]:
    return reads_by_id(
        conn, read_search.search_ids(conn, pattern, since, camera_id, limit, bounded)
    )


def _purge_chunk(conn: sqlite3.Connection, before: str, chunk: int) -> tuple[int, list[str]]:
    with _transaction(conn):
        rows = conn.execute(
            "SELECT id, normalized, images FROM reads INDEXED BY reads_at WHERE at < ?"
            " AND id NOT IN (SELECT read_id FROM alerts) ORDER BY at LIMIT ?",
            (before, chunk),
        ).fetchall()
        # Contentless FTS5: an index row is removed by handing back what it indexed.
        conn.executemany(
            "INSERT INTO reads_fts (reads_fts, rowid, text) VALUES ('delete', ?, ?)",
            [(r[0], read_search.index_text(r[1])) for r in rows],
        )
        conn.executemany("DELETE FROM reads WHERE id = ?", [(r[0],) for r in rows])
        conn.execute(
            "DELETE FROM read_blocks WHERE block < (SELECT min(id) FROM reads) >> ?",
            (read_search.BLOCK_BITS,),
        )
    paths = [image["path"] for r in rows for image in json.loads(r[2]) if image.get("path")]
    return len(rows), paths


def _must_alert(conn: sqlite3.Connection, alert_id: int) -> Alert:
    alert = alert_by_id(conn, alert_id)
    if alert is None:
        raise AlertTransitionError(f"alert {alert_id} does not exist")
    return alert


def _transition(
    conn: sqlite3.Connection, alert_id: int, to: AlertState, actor: str, at: str,
    reason: RejectReason | None, text: str,
) -> Alert:
    with _transaction(conn):
        row = conn.execute("SELECT state FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            raise AlertTransitionError(f"alert {alert_id} does not exist")
        old = AlertState(row[0])
        if to not in ALERT_TRANSITIONS[old]:
            raise AlertTransitionError(f"alert {alert_id}: cannot go from {old} to {to}")
        target = f"alert:{alert_id}"
        if old is AlertState.NEW and to is not AlertState.ACKNOWLEDGED:
            # Accepting or rejecting straight from NEW acknowledges too: the log says so.
            _audit(conn, at, actor, f"alert.{AlertState.ACKNOWLEDGED}", target,
                   f"implicit, with {to}", (("from", old), ("to", AlertState.ACKNOWLEDGED)))
            old = AlertState.ACKNOWLEDGED
        detail = ": ".join(part for part in (reason.value if reason else "", text) if part)
        _audit(conn, at, actor, f"alert.{to}", target, detail, (("from", old), ("to", to)))
        conn.execute(
            "UPDATE alerts SET state = ?, updated_at = ?, actor = ?, reason = coalesce(?, reason),"
            " reason_text = CASE WHEN ? = '' THEN reason_text ELSE ? END WHERE id = ?",
            (to.value, at, actor, reason.value if reason else None, text, text, alert_id),
        )
        return _must_alert(conn, alert_id)


def _audit(
    conn: sqlite3.Connection, at: str, actor: str, action: str, target: str, detail: str,
    data: tuple[tuple[str, str], ...] = (),
) -> None:
    conn.execute(
        "INSERT INTO audit (at, actor, action, target, detail, data) VALUES (?, ?, ?, ?, ?, ?)",
        (at, actor, action, target, detail, json.dumps([[k, str(v)] for k, v in data])),
    )


def _add_wanted(conn: sqlite3.Connection, wanted: WantedPlate) -> WantedPlate:
    with _transaction(conn):
        cur = conn.execute(
            "INSERT INTO wanted (plate, reason, created_by, created_at, expires_at, priority)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (wanted.plate, wanted.reason, wanted.created_by, utc_key(wanted.created_at),
             utc_key(wanted.expires_at), wanted.priority),
        )
        stored = replace(wanted, id=int(cur.lastrowid or 0))
        _audit(conn, utc_key(wanted.created_at), wanted.created_by, "wanted.added",
               f"wanted:{stored.id}", f"{stored.plate}: {stored.reason}",
               (("plate", stored.plate), ("expires_at", utc_key(stored.expires_at)),
                ("priority", str(stored.priority))))
    return stored


def _remove_wanted(conn: sqlite3.Connection, wanted_id: int, actor: str, at: str) -> None:
    with _transaction(conn):
        row = conn.execute(
            "SELECT plate, expires_at FROM wanted WHERE id = ?", (wanted_id,)
        ).fetchone()
        if row is None:
            raise WantedPlateError(f"wanted plate {wanted_id} does not exist")
        if row[1] <= at:
            raise WantedPlateError(f"wanted plate {wanted_id} ({row[0]}) has already expired")
        conn.execute("UPDATE wanted SET expires_at = ? WHERE id = ?", (at, wanted_id))
        _audit(conn, at, actor, "wanted.removed", f"wanted:{wanted_id}", row[0],
               (("plate", row[0]), ("was_expiring", row[1])))
