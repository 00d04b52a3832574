"""EventLog on its own: numbering, resumption from a cursor, bounded fan-out."""

from __future__ import annotations

import asyncio
import json

import pytest

from hub.event_log import (
    ALERT,
    CAMERA,
    CAMERA_REMOVED,
    READ,
    EventLog,
    SubscriberDropped,
    camera_of,
    parse_cursor,
)


def cam(camera_id: str, state: str = "ok") -> dict[str, object]:
    return {"id": camera_id, "state": state}


async def test_events_are_numbered_and_serialised_once() -> None:
    log = EventLog()
    first = log.publish(CAMERA, cam("c1"))
    second = log.publish(CAMERA, cam("c2", "down"))
    assert (first.seq, second.seq) == (1, 2)
    assert first.cursor == f"{log.epoch}:1" and log.cursor == second.cursor
    assert json.loads(second.frame) == {"type": "camera", "cursor": second.cursor,
                                        "data": {"id": "c2", "state": "down"}}
    assert second.camera == "c2"
    assert EventLog().epoch != log.epoch  # another run, another epoch


async def test_resume_gives_exactly_the_events_after_the_cursor() -> None:
    log = EventLog()
    events = [log.publish(CAMERA, cam(f"c{i}")) for i in range(5)]
    resumed, backlog, live = log.subscribe(events[1].cursor)
    assert resumed and [e.seq for e in backlog] == [3, 4, 5]
    later = log.publish(CAMERA, cam("c9"))
    assert await asyncio.wait_for(anext(live), 1) == later
    live.close()
    assert log.subscriber_count == 0
    # At the head: resumed with nothing missed.
    resumed, backlog, live = log.subscribe(later.cursor)
    assert resumed and backlog == []
    live.close()


@pytest.mark.parametrize("after", [None, "", "nonsense", "0123abcd:1", "x:y"])
async def test_unknown_cursors_do_not_resume(after: str | None) -> None:
    log = EventLog()
    log.publish(CAMERA, cam("c1"))
    resumed, backlog, live = log.subscribe(after)
    assert not resumed and backlog == []
    live.close()


async def test_a_cursor_from_the_future_or_older_than_the_backlog_does_not_resume() -> None:
    log = EventLog(backlog=3)
    events = [log.publish(CAMERA, cam(f"c{i}")) for i in range(6)]
    assert not log.subscribe(f"{log.epoch}:99")[0]
    assert not log.subscribe(events[1].cursor)[0]  # 3 and on are kept, 3 itself is gone
    resumed, backlog, _ = log.subscribe(events[2].cursor)  # 4, 5, 6 are all there
    assert resumed and [e.seq for e in backlog] == [4, 5, 6]


async def test_a_slow_subscriber_is_dropped_and_the_others_keep_up() -> None:
    log = EventLog(queue_limit=3)
    _, _, slow = log.subscribe(None)
    _, _, fast = log.subscribe(None)
    got = []
    for i in range(5):
        log.publish(READ, {"id": i, "camera": "c1"})
        got.append((await asyncio.wait_for(anext(fast), 1)).data["id"])
    assert got == [0, 1, 2, 3, 4]
    assert slow.dropped and log.dropped == 1 and log.subscriber_count == 1
    with pytest.raises(SubscriberDropped):
        await anext(slow)
    await asyncio.wait_for(slow.wait_dropped(), 1)


async def test_ending_the_subscriptions_ends_the_iteration_after_what_is_queued() -> None:
    log = EventLog()
    _, _, live = log.subscribe(None)
    log.publish(CAMERA, cam("c1"))
    log.end_subscriptions()
    assert [e.seq async for e in live] == [1]


def test_the_camera_of_every_event_type() -> None:
    assert camera_of(CAMERA_REMOVED, {"id": "p-1"}) == "p-1"
    assert camera_of(ALERT, {"read": {"camera": "c7"}}) == "c7"
    assert camera_of(READ, {"camera": "c8"}) == "c8"
    assert camera_of("vehicle", {"camera": None}) is None
    assert parse_cursor("ab:12") == ("ab", 12) and parse_cursor("ab:-1") is None


async def test_a_lazy_event_keeps_its_source_not_a_closure() -> None:
    # Backlog events stay alive for thousands of reads and every full garbage collection
    # walks them: a lazy event holds the object and a shared function, made into data once.
    log = EventLog()
    made: list[dict[str, object]] = []

    def to_json(item: dict[str, object]) -> dict[str, object]:
        made.append(item)
        return {"id": item["id"], "camera": "c9"}

    source = {"id": 7}
    event = log.publish_lazy(READ, source, to_json, "c9")
    assert event.source is source and event.to_json is to_json and made == []
    assert event.data == {"id": 7, "camera": "c9"} and event.data is event.data
    assert made == [source]  # made once
    assert json.loads(event.frame)["data"] == {"id": 7, "camera": "c9"}
    assert event.camera == "c9" and event.seq == 1 and event.cursor == log.cursor
