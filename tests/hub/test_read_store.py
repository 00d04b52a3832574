from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.alpr_model import (
    ALERT_TRANSITIONS,
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
from hub.errors import AlertTransitionError, StoreError, WantedPlateError
from hub.read_store import AlertDraft, ReadStore
from hub.store import Store

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def make_read(plate: str = "1ABC234", minutes: float = 0, **fields: object) -> Read:
    base = Read(0, plate, plate, T0 + timedelta(minutes=minutes), "cam-1", "citywatch")
    return replace(base, **fields)  # type: ignore[arg-type]


FULL_READ = Read(
    id=0, plate="1-ABC-234", normalized="1ABC234", at=T0, camera_id="city-fixed-001",
    source="openalpr", confidence=0.9375, country="BE", region="VLG", unit="car-3",
    lat=50.93061, lon=5.33781, geotag="interpolated", direction="N",
    images=(ReadImage(ImageKind.CROP, path="alpr/2026/03/02/1.jpg"),
            ReadImage(ImageKind.OVERVIEW, url="http://cam/1/overview.jpg")),
    received_at=T0 + timedelta(seconds=1.5),
)
ENTRY = HotlistEntry(
    plate="1ABC234", list="stolen", category="car", priority=80, state="BE", covert=True,
    effective=T0 - timedelta(days=3), expiry=T0 + timedelta(days=30),
    extra=(("case", "PV-123"), ("note", "grey Golf; armed?")),
)
HIT = Hit(ENTRY, MatchKind.LOOKALIKE, substitutions=1)
OTHER = Hit(replace(ENTRY, list="uninsured", priority=40, covert=False, effective=None,
                    expiry=None, extra=()), MatchKind.EXACT)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path)
    yield opened
    await opened.close()


@pytest.fixture
async def reads(store: Store) -> AsyncIterator[ReadStore]:
    read_store = ReadStore(store)
    await read_store.start()
    yield read_store
    await read_store.close()


async def test_read_and_alert_round_trip(reads: ReadStore) -> None:
    read, alerts = await reads.add(FULL_READ, [AlertDraft(HIT, (OTHER,))])
    assert read.id > 0 and read == replace(FULL_READ, id=read.id)
    assert await reads.read(read.id) == read
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert == Alert(id=alert.id, read=read, hit=HIT, state=AlertState.NEW,
                          raised_at=T0, updated_at=T0, other_hits=(OTHER,))
    assert await reads.alert(alert.id) == alert
    assert await reads.alerts() == [alert]
    assert (await reads.alert(alert.id)).read.at.tzinfo is not None  # type: ignore[union-attr]
    assert await reads.read(read.id + 100) is None
    assert await reads.alert(alert.id + 100) is None


async def test_group_commit_coalesces_concurrent_adds(reads: ReadStore) -> None:
    results = await asyncio.gather(*(reads.add(make_read(f"1ABC{i:03d}", i)) for i in range(500)))
    ids = [read.id for read, _ in results]
    assert len(set(ids)) == 500
    assert [read.normalized for read, _ in results] == [f"1ABC{i:03d}" for i in range(500)]
    assert await reads.count_reads() == 500
    assert 1 <= reads.transactions < 500
    assert (await reads.read(ids[-1])) == results[-1][0]


async def test_failed_transaction_rejects_every_caller_of_the_batch(
    reads: ReadStore, store: Store
) -> None:
    def add_trigger(conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON reads WHEN NEW.plate = 'BOOM'"
            " BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )

    await store.run(add_trigger)
    before = reads.transactions
    batch = [make_read(f"1ABC{i:03d}", i) for i in range(20)] + [make_read("BOOM")]
    outcomes = await asyncio.gather(*(reads.add(r) for r in batch), return_exceptions=True)
    assert all(isinstance(o, StoreError) for o in outcomes), outcomes
    assert await reads.count_reads() == 0  # nothing of the batch half-written
    assert reads.transactions == before
    read, _ = await reads.add(make_read("2XYZ999"))  # the writer survives
    assert await reads.read(read.id) == read


async def test_add_needs_start_and_close_drains(store: Store) -> None:
    read_store = ReadStore(store)
    with pytest.raises(StoreError):
        await read_store.add(make_read())
    await read_store.start()
    pending = [asyncio.create_task(read_store.add(make_read(f"1ABC{i:03d}"))) for i in range(50)]
    await asyncio.sleep(0)  # queued, not yet committed
    await read_store.close()
    assert all(task.done() and task.result()[0].id > 0 for task in pending)
    assert await read_store.count_reads() == 50
    with pytest.raises(StoreError):
        await read_store.add(make_read())


async def test_fold_counts_duplicates_into_an_open_alert(reads: ReadStore) -> None:
    first, (alert,) = await reads.add(make_read(minutes=0), [AlertDraft(HIT, ())])
    second, (folded,) = await reads.add(make_read(minutes=2), [AlertDraft(HIT, (), alert.id)])
    assert folded.id == alert.id
    assert folded.duplicates == 1 and folded.last_read_id == second.id
    assert folded.updated_at == T0 + timedelta(minutes=2)
    assert folded.read == first and folded.raised_at == T0
    assert await reads.alert(alert.id) == folded
    # a closed alert is not folded into: the read raises a new one
    await reads.transition_alert(alert.id, AlertState.ACCEPTED, "op", T0 + timedelta(minutes=3))
    await reads.transition_alert(alert.id, AlertState.CLOSED, "op", T0 + timedelta(minutes=4))
    third, (fresh,) = await reads.add(make_read(minutes=5), [AlertDraft(HIT, (), alert.id)])
    assert fresh.id != alert.id and fresh.read == third and fresh.state is AlertState.NEW


async def test_transitions_follow_the_table(reads: ReadStore) -> None:
    states = list(AlertState)
    for old in states:
        for new in states:
            _, (alert,) = await reads.add(make_read(), [AlertDraft(HIT, ())])
            path = {
                AlertState.NEW: [],
                AlertState.ACKNOWLEDGED: [AlertState.ACKNOWLEDGED],
                AlertState.ACCEPTED: [AlertState.ACCEPTED],
                AlertState.REJECTED: [AlertState.REJECTED],
                AlertState.CLOSED: [AlertState.ACCEPTED, AlertState.CLOSED],
            }[old]
            for step in path:
                await reads.transition_alert(
                    alert.id, step, "op", T0,
                    RejectReason.MISREAD if step is AlertState.REJECTED else None)
            reason = RejectReason.OTHER if new is AlertState.REJECTED else None
            if new in ALERT_TRANSITIONS[old]:
                moved = await reads.transition_alert(alert.id, new, "op", T0, reason)
                assert moved.state is new
            else:
                with pytest.raises(AlertTransitionError, match=f"from {old} to {new}"):
                    await reads.transition_alert(alert.id, new, "op", T0, reason)
                assert (await reads.alert(alert.id)).state is old  # type: ignore[union-attr]


async def test_reject_needs_a_reason_and_is_audited(reads: ReadStore) -> None:
    _, (alert,) = await reads.add(make_read(), [AlertDraft(HIT, ())])
    with pytest.raises(AlertTransitionError, match="reason"):
        await reads.transition_alert(alert.id, AlertState.REJECTED, "op", T0)
    with pytest.raises(AlertTransitionError, match="reason"):
        await reads.transition_alert(alert.id, AlertState.ACCEPTED, "op", T0,
                                     RejectReason.MISREAD)
    with pytest.raises(AlertTransitionError, match="does not exist"):
        await reads.transition_alert(alert.id + 1, AlertState.ACKNOWLEDGED, "op", T0)
    at = T0 + timedelta(minutes=1)
    rejected = await reads.transition_alert(
        alert.id, AlertState.REJECTED, "alice", at, RejectReason.WRONG_STATE, "NL plate")
    assert rejected.state is AlertState.REJECTED and rejected.actor == "alice"
    assert rejected.reason is RejectReason.WRONG_STATE and rejected.reason_text == "NL plate"
    assert rejected.updated_at == at
    closed = await reads.transition_alert(alert.id, AlertState.CLOSED, "bob", at)
    assert closed.reason is RejectReason.WRONG_STATE and closed.actor == "bob"
    log = await reads.audit(f"alert:{alert.id}")
    assert [(e.action, e.actor, e.detail) for e in log] == [
        ("alert.closed", "bob", ""),
        ("alert.rejected", "alice", "wrong state: NL plate"),
        ("alert.acknowledged", "alice", "implicit, with rejected"),  # NEW -> REJECTED
    ]
    assert log[1].at == at and dict(log[1].data) == {"from": "acknowledged", "to": "rejected"}
    assert await reads.alerts() == []  # closed is not open
    assert [a.id for a in await reads.alerts(open_only=False)] == [alert.id]


async def test_alerts_order_priority_then_newest(reads: ReadStore) -> None:
    low = Hit(replace(ENTRY, priority=10), MatchKind.EXACT)
    _, (a,) = await reads.add(make_read(minutes=0), [AlertDraft(HIT, ())])
    _, (b,) = await reads.add(make_read(minutes=1), [AlertDraft(low, ())])
    _, (c,) = await reads.add(make_read(minutes=2), [AlertDraft(HIT, ())])
    assert [x.id for x in await reads.alerts()] == [c.id, a.id, b.id]
    await reads.transition_alert(c.id, AlertState.ACKNOWLEDGED, "op", T0 + timedelta(hours=1))
    assert [x.id for x in await reads.alerts(limit=2)] == [c.id, a.id]  # acknowledged is open
    recent = await reads.open_alerts_since(T0 + timedelta(minutes=1))
    assert [x.id for x in recent] == [c.id, b.id]


async def test_wanted_add_remove_expire_audited(reads: ReadStore) -> None:
    w1 = await reads.add_wanted("1-abc-234", "robbery", "alice", T0, T0 + timedelta(days=1))
    w2 = await reads.add_wanted("2xy*99", "missing", "bob", T0 + timedelta(minutes=1),
                                T0 + timedelta(days=7), priority=70)
    assert (w1.plate, w1.priority, w2.plate) == ("1ABC234", 90, "2XY*99")
    assert await reads.wanted(T0 + timedelta(hours=1)) == [w2, w1]
    assert await reads.wanted(T0 + timedelta(days=2)) == [w2]  # w1 expired
    await reads.remove_wanted(w2.id, "carol", T0 + timedelta(hours=2))
    assert await reads.wanted(T0 + timedelta(hours=3)) == [w1]
    with pytest.raises(WantedPlateError, match="already expired"):
        await reads.remove_wanted(w2.id, "carol", T0 + timedelta(hours=4))
    with pytest.raises(WantedPlateError, match="does not exist"):
        await reads.remove_wanted(999, "carol", T0)
    for bad in ("", "**", "1A?C"):
        with pytest.raises(WantedPlateError):
            await reads.add_wanted(bad, "x", "a", T0, T0 + timedelta(days=1))
    with pytest.raises(WantedPlateError, match="expires"):
        await reads.add_wanted("1ABC234", "x", "a", T0, T0)
    log = await reads.audit()
    assert [(e.action, e.target, e.actor) for e in log] == [
        ("wanted.removed", f"wanted:{w2.id}", "carol"),
        ("wanted.added", f"wanted:{w2.id}", "bob"),
        ("wanted.added", f"wanted:{w1.id}", "alice"),
    ]
    assert log[2].detail == "1ABC234: robbery"


async def test_lookups_for_wanted_plates(reads: ReadStore) -> None:
    for minute, plate in enumerate(["1ABC234", "IA8C234", "1ABC235", "1ABX234", "2XYZ999"]):
        await reads.add(make_read(plate, minute))
    found = await reads.reads_by_canonical(["1A8C234"], T0)
    assert [r.normalized for r in found] == ["IA8C234", "1ABC234"]
    assert await reads.reads_by_canonical(["1A8C234"], T0 + timedelta(minutes=2)) == []
    found = await reads.reads_matching_wildcard("1A8*234", T0)
    assert [r.normalized for r in found] == ["1ABX234", "IA8C234", "1ABC234"]
    found = await reads.reads_matching_wildcard("1A8*234", T0, limit=1)
    assert [r.normalized for r in found] == ["1ABX234"]
    assert await reads.reads_matching_wildcard("*XY*", T0) == []  # exactly one per `*`


async def test_purge_returns_image_paths_and_keeps_alert_reads(
    reads: ReadStore, store: Store
) -> None:
    crop = (ReadImage(ImageKind.CROP, path="alpr/old.jpg"),
            ReadImage(ImageKind.OVERVIEW, url="http://cam/x.jpg"))
    old, _ = await reads.add(make_read("1ABC111", 0, images=crop))
    evidence, (alert,) = await reads.add(
        make_read("1ABC222", 1, images=(ReadImage(ImageKind.CROP, path="alpr/alert.jpg"),)),
        [AlertDraft(HIT, ())])
    new, _ = await reads.add(make_read("1ABC333", 60, images=(
        ReadImage(ImageKind.CROP, path="alpr/new.jpg"),)))
    paths = await reads.purge_reads(T0 + timedelta(minutes=30))
    assert paths == ["alpr/old.jpg"]
    assert await reads.read(old.id) is None
    assert await reads.read(evidence.id) == evidence
    assert (await reads.alert(alert.id)) == alert
    assert await reads.count_reads() == 2
    assert [r.id for r in await reads.search("1ABC*")] == [new.id, evidence.id]

    def fts_ids(conn: sqlite3.Connection) -> list[int]:
        return [row[0] for row in conn.execute(
            "SELECT rowid FROM reads_fts WHERE reads_fts MATCH '\"ABC\"' ORDER BY rowid")]

    assert await store.run(fts_ids) == [evidence.id, new.id]
    assert await reads.purge_reads(T0 + timedelta(minutes=30)) == []
