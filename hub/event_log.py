"""The hub's numbered event stream: every camera, vehicle, read and alert change as one
event with a cursor, a backlog to resume from, and live fan-out to any number of
subscribers (the /api/events WebSockets, the MQTT publisher).

A cursor is "EPOCH:SEQ": EPOCH is random per EventLog (per hub run), SEQ increases by one
per event. A subscriber that comes back with the cursor of the last event it saw gets
exactly the events after it, as long as they are still in the backlog and the hub was not
restarted; otherwise it is told it could not resume and re-reads the state. A camera
change that repeats the camera's last event exactly is not an event.

The hub never waits for a subscriber: each has a bounded queue, and one that falls
EVENT_QUEUE_LIMIT events behind is dropped (SubscriberDropped); it reconnects with its
cursor and resumes from the backlog.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from hub.api_json import alert_json, camera_json, read_json, vehicle_json
from hub.errors import HubError
from hub.tasks import cancel_all

if TYPE_CHECKING:
    from hub.alpr_model import Alert, Read
    from hub.core import Hub

log = logging.getLogger(__name__)

# Events kept for resumption (issue 9): an event's data plus its frame are 1-3 KB, so at
# most ~30 MB; a TUI that lost its connection for a minute resumes without a re-read.
EVENT_BACKLOG = 10_000
# Events waiting for one subscriber before it is dropped: a healthy consumer is never
# more than a burst behind (a city-wide outage is a few hundred camera changes); a
# thousand queued means it stopped reading, and it can resume from the backlog.
EVENT_QUEUE_LIMIT = 1_000

# Event types. "camera_removed" is published by federation when an imported camera leaves.
CAMERA = "camera"
VEHICLE = "vehicle"
READ = "read"
ALERT = "alert"
CAMERA_REMOVED = "camera_removed"
STREAM_TYPES: tuple[str, ...] = (CAMERA, VEHICLE, READ, ALERT)

T = TypeVar("T")


class SubscriberDropped(HubError):
    """A subscriber fell EVENT_QUEUE_LIMIT events behind and was dropped; resubscribe
    with the cursor of the last event handled."""


@dataclass(frozen=True)
class Event:
    """One numbered event. `data` is the JSON shape of the new state (read-only: it is
    shared by every subscriber), made from `source` by `to_json` when first needed;
    `frame` is the /api/events text frame, serialised once, when first sent. Reads arrive
    by thousands per second and mostly have no stream subscriber: they cost neither until
    someone asks. The backlog keeps EVENT_BACKLOG events alive, and every full garbage
    collection walks them: an event holds its source object and a shared module-level
    function, not a closure (two more tracked objects per event, measured ~35 ms per full
    collection at 1,000 reads/s with closures)."""

    seq: int
    cursor: str
    type: str
    camera: str | None  # the camera it concerns (partner grants), None when none
    source: Any = field(repr=False, compare=False)
    to_json: Callable[[Any], Mapping[str, Any]] | None = field(repr=False, compare=False)

    @functools.cached_property
    def data(self) -> Mapping[str, Any]:
        if self.to_json is None:
            return cast(Mapping[str, Any], self.source)
        return self.to_json(self.source)

    @functools.cached_property
    def frame(self) -> str:
        return json.dumps({"type": self.type, "cursor": self.cursor, "data": self.data},
                          separators=(",", ":"), ensure_ascii=False)


def format_cursor(epoch: str, seq: int) -> str:
    return f"{epoch}:{seq}"


def parse_cursor(text: str) -> tuple[str, int] | None:
    """"EPOCH:SEQ" -> (epoch, seq); None when it is not a cursor."""
    epoch, sep, seq_text = text.partition(":")
    if not sep or not epoch or not seq_text.isdigit() or len(seq_text) > 18:
        return None
    return epoch, int(seq_text)


def camera_of(event_type: str, data: Mapping[str, Any]) -> str | None:
    """The camera an event's data is about, for per-camera grants."""
    value: Any = None
    if event_type in (CAMERA, CAMERA_REMOVED):
        value = data.get("id")
    elif event_type in (READ, VEHICLE):
        value = data.get("camera")
    elif event_type == ALERT:
        read = data.get("read")
        value = read.get("camera") if isinstance(read, Mapping) else None
    return value if isinstance(value, str) else None


class Subscription:
    """The live events of one subscriber: `async for event in subscription`. Ends when
    the log ends its subscriptions (hub shutdown); raises SubscriberDropped once the
    subscriber fell too far behind. `close()` when done."""

    def __init__(self, events: EventLog, limit: int) -> None:
        self._events = events
        self._limit = limit
        self._queue: deque[Event] = deque()
        self._wake = asyncio.Event()
        self._dropped = asyncio.Event()
        self._ended = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._dropped.is_set():
                raise SubscriberDropped(f"fell {self._limit} events behind")
            if self._queue:
                return self._queue.popleft()
            if self._ended:
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()

    @property
    def dropped(self) -> bool:
        return self._dropped.is_set()

    async def wait_dropped(self) -> None:
        """Returns when this subscriber is dropped (a sender blocked on a slow socket
        learns it here, without reading the queue)."""
        await self._dropped.wait()

    def close(self) -> None:
        self._events._unsubscribe(self)
        self._queue.clear()

    def _offer(self, event: Event) -> bool:
        if len(self._queue) >= self._limit:
            return False
        self._queue.append(event)
        self._wake.set()
        return True

    def _drop(self) -> None:
        self._queue.clear()
        self._dropped.set()
        self._wake.set()

    def _end(self) -> None:
        self._ended = True
        self._wake.set()


class EventLog:
    """Numbered events with a backlog and bounded live fan-out. `await start(hub)` follows
    the hub's camera, vehicle, read and alert changes; `publish()` adds any other event."""

    def __init__(self, backlog: int = EVENT_BACKLOG, queue_limit: int = EVENT_QUEUE_LIMIT) -> None:
        self.epoch = secrets.token_hex(8)
        self._seq = 0
        self._backlog: deque[Event] = deque(maxlen=backlog)
        self._queue_limit = queue_limit
        self._subs: set[Subscription] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0  # subscribers dropped for falling behind, since start
        # The data of each camera's last camera event: the hub republishes a camera's
        # unchanged status on every failed poll (hub.core applies every verdict), which
        # was 50 of 70 camera events/s at 1,000 down cameras (bench.tui_connect).
        self._last_camera: dict[str, Mapping[str, Any]] = {}
        self.repeats_skipped = 0  # camera changes not published: same data as the last

    @property
    def cursor(self) -> str:
        """The cursor of the newest event (SEQ 0 before the first)."""
        return format_cursor(self.epoch, self._seq)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def publish(self, event_type: str, data: Mapping[str, Any],
                camera: str | None = None) -> Event:
        """Number, keep and fan out one event; never waits. `camera` defaults to the
        camera named by the data (camera_of)."""
        camera = camera if camera is not None else camera_of(event_type, data)
        return self._publish(Event(self._next(), self._cursor_now(), event_type, camera, data,
                                   None))

    def publish_lazy(self, event_type: str, source: T, to_json: Callable[[T], Mapping[str, Any]],
                     camera: str | None) -> Event:
        """Like publish, with the data made by `to_json(source)` only when a subscriber or a
        resume needs it (`to_json` a module-level function: see Event)."""
        return self._publish(Event(self._next(), self._cursor_now(), event_type, camera, source,
                                   to_json))

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _cursor_now(self) -> str:
        return format_cursor(self.epoch, self._seq)

    def _publish(self, event: Event) -> Event:
        event_type = event.type
        self._backlog.append(event)
        if event_type == CAMERA and event.camera is not None:
            self._last_camera[event.camera] = event.data
        elif event_type == CAMERA_REMOVED and event.camera is not None:
            self._last_camera.pop(event.camera, None)
        behind = [sub for sub in self._subs if not sub._offer(event)]
        for sub in behind:
            self._subs.discard(sub)
            sub._drop()
            self.dropped += 1
            log.warning("events: a subscriber fell %d events behind and was dropped",
                        self._queue_limit)
        return event

    def subscribe(self, after: str | None) -> tuple[bool, list[Event], Subscription]:
        """(resumed, backlog, live): with `after` the cursor of the last event a subscriber
        saw, `backlog` is every event since (resumed=True), then `live` yields what comes
        next, with no gap and no repeat. resumed=False (no, malformed or a foreign cursor,
        or one older than the backlog): backlog is empty, live starts now."""
        live = Subscription(self, self._queue_limit)
        self._subs.add(live)  # in the same step as the backlog copy: nothing slips between
        backlog = self._since(after)
        return backlog is not None, backlog or [], live

    def _since(self, after: str | None) -> list[Event] | None:
        parsed = parse_cursor(after) if after else None
        if parsed is None:
            return None
        epoch, seq = parsed
        if epoch != self.epoch or seq > self._seq:
            return None
        first = self._backlog[0].seq if self._backlog else self._seq + 1
        if seq < first - 1:
            return None  # events after it have left the backlog
        return [e for e in self._backlog if e.seq > seq] if seq < self._seq else []

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    # following the hub ------------------------------------------------------------------

    async def start(self, hub: Hub) -> None:
        """Follow the hub's changes (subscribed now: nothing from here on is missed)."""
        from hub.local_client import LocalHubClient

        client = LocalHubClient(hub)
        self._follow(CAMERA, client.changes(), camera_json)
        self._follow(VEHICLE, client.vehicle_changes(), vehicle_json)
        self._follow_reads(hub.plates.read_changes())
        self._follow_alerts(client.alert_changes())
        self._follow(CAMERA_REMOVED, client.camera_removals(), _removed_json)

    def _follow(self, event_type: str, changes: AsyncIterator[T],
                to_json: Callable[[T], dict[str, Any]]) -> None:
        async def follow() -> None:
            async for item in changes:
                try:
                    data = to_json(item)
                    if event_type == CAMERA and self._repeats_last(data):
                        self.repeats_skipped += 1
                        continue
                    self.publish(event_type, data)
                except Exception:  # one bad object must not end the stream
                    log.exception("events: cannot publish a %s change", event_type)

        self._tasks.append(asyncio.create_task(follow(), name=f"events:{event_type}"))

    def _follow_reads(self, reads: AsyncIterator[Read]) -> None:
        async def follow() -> None:
            async for read in reads:
                self.publish_lazy(READ, read, read_json, read.camera_id)

        self._tasks.append(asyncio.create_task(follow(), name=f"events:{READ}"))

    def _follow_alerts(self, alerts: AsyncIterator[Alert]) -> None:
        """Alerts as lazy events too: a busy city folds hundreds of duplicates a minute."""
        async def follow() -> None:
            async for alert in alerts:
                self.publish_lazy(ALERT, alert, alert_json, alert.read.camera_id)

        self._tasks.append(asyncio.create_task(follow(), name=f"events:{ALERT}"))

    def _repeats_last(self, data: Mapping[str, Any]) -> bool:
        """The camera's last camera event said exactly this: nothing changed."""
        camera = data.get("id")
        return isinstance(camera, str) and self._last_camera.get(camera) == data

    def end_subscriptions(self) -> None:
        """End every live subscription (hub shutdown: streams close, clients reconnect)."""
        for sub in list(self._subs):
            sub._end()
        self._subs.clear()

    async def stop(self) -> None:
        """Stop following the hub and end every subscription."""
        await cancel_all(self._tasks)
        self._tasks.clear()
        self.end_subscriptions()


def _removed_json(camera_id: str) -> dict[str, Any]:
    return {"id": camera_id}
