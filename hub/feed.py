"""Fan-out of status changes to any number of slow or fast consumers.

`Feed` coalesces per key (a camera id, a vehicle id): a slow consumer skips stale
states of one object, never its last one, and never another object's change.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Hashable
from typing import Generic, TypeVar

from hub.alpr_model import Alert, Read
from hub.model import CameraStatus, VehicleStatus

T = TypeVar("T")


class _Subscription(Generic[T]):
    """Latest pending item per key."""

    def __init__(self) -> None:
        self.pending: dict[Hashable, T] = {}
        self.wakeup = asyncio.Event()
        self.closed = False


class Feed(Generic[T]):
    """Publishes each change to every subscriber, coalescing per `key(item)`."""

    def __init__(self, key: Callable[[T], Hashable]) -> None:
        self._key = key
        self._subs: set[_Subscription[T]] = set()

    def publish(self, item: T) -> None:
        key = self._key(item)
        for sub in self._subs:
            sub.pending[key] = item
            sub.wakeup.set()

    def close(self) -> None:
        """End every subscriber's iteration."""
        for sub in self._subs:
            sub.closed = True
            sub.wakeup.set()

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def subscribe(self) -> AsyncGenerator[T, None]:
        """Yield changes from the moment of this call until the feed closes."""
        sub: _Subscription[T] = _Subscription()
        self._subs.add(sub)  # registered now, not at first iteration: nothing slips through
        return self._iterate(sub)

    async def _iterate(self, sub: _Subscription[T]) -> AsyncGenerator[T, None]:
        try:
            while True:
                if not sub.pending:
                    if sub.closed:
                        return
                    await sub.wakeup.wait()
                    sub.wakeup.clear()
                    continue
                batch, sub.pending = sub.pending, {}
                for item in batch.values():
                    yield item
        finally:
            self._subs.discard(sub)


def _camera_id(status: CameraStatus) -> str:
    return status.id


def _vehicle_id(status: VehicleStatus) -> str:
    return status.id


class StatusFeed(Feed[CameraStatus]):
    """Camera status changes, coalesced per camera."""

    def __init__(self) -> None:
        super().__init__(_camera_id)


class VehicleFeed(Feed[VehicleStatus]):
    """Vehicle status changes (fix state and position), coalesced per vehicle."""

    def __init__(self) -> None:
        super().__init__(_vehicle_id)


def _alert_id(alert: Alert) -> int:
    return alert.id


def _read_id(read: Read) -> int:
    return read.id


class AlertFeed(Feed[Alert]):
    """New alerts and alert changes (transitions, folded duplicates), coalesced per alert."""

    def __init__(self) -> None:
        super().__init__(_alert_id)


class ReadFeed(Feed[Read]):
    """Every committed read (a read is never replaced, so nothing coalesces)."""

    def __init__(self) -> None:
        super().__init__(_read_id)


def _same(camera_id: str) -> str:
    return camera_id


class CameraRemovalFeed(Feed[str]):
    """Ids of cameras that left the hub (a partner revoked its grant of a federated
    camera); a camera removed twice before a consumer looks is announced once."""

    def __init__(self) -> None:
        super().__init__(_same)
