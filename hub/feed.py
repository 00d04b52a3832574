"""Fan-out of camera status changes to any number of slow or fast consumers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hub.model import CameraStatus


class _Subscription:
    """Latest pending status per camera: a slow consumer skips stale states, never the last."""

    def __init__(self) -> None:
        self.pending: dict[str, CameraStatus] = {}
        self.wakeup = asyncio.Event()
        self.closed = False


class StatusFeed:
    """Publishes each status change to every subscriber, coalescing per camera."""

    def __init__(self) -> None:
        self._subs: set[_Subscription] = set()

    def publish(self, status: CameraStatus) -> None:
        for sub in self._subs:
            sub.pending[status.id] = status
            sub.wakeup.set()

    def close(self) -> None:
        """End every subscriber's iteration."""
        for sub in self._subs:
            sub.closed = True
            sub.wakeup.set()

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def subscribe(self) -> AsyncIterator[CameraStatus]:
        """Yield changes from the moment of this call until the feed closes."""
        sub = _Subscription()
        self._subs.add(sub)  # registered now, not at first iteration: nothing slips through
        return self._iterate(sub)

    async def _iterate(self, sub: _Subscription) -> AsyncIterator[CameraStatus]:
        try:
            while True:
                if not sub.pending:
                    if sub.closed:
                        return
                    await sub.wakeup.wait()
                    sub.wakeup.clear()
                    continue
                batch, sub.pending = sub.pending, {}
                for status in batch.values():
                    yield status
        finally:
            self._subs.discard(sub)
