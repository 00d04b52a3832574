"""Following one feed of the hub (camera changes, vehicles, alerts) for as long as the app
runs: errors become notifications and a new subscription, never a dead feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# Waits before subscribing again after a feed failed: quick for a blip, then patient.
RESUBSCRIBE_DELAYS = (1.0, 5.0, 10.0, 60.0)


async def follow_feed(
    report_error: Callable[[str, BaseException], None],
    what: str,
    first: AsyncIterator[T] | None,
    subscribe: Callable[[], AsyncIterator[T] | None],
    catch_up: Callable[[], Awaitable[object]],
    take: Callable[[T], None],
) -> bool:
    """Consume one feed of the hub for as long as it runs: resubscribe with backoff after
    an error and `catch_up` on what was missed meanwhile. Returns when the hub ends the
    feed (True) or never (cancelled with the app)."""
    failures = 0
    changes = first
    while True:
        if changes is None:
            changes = subscribe()
            if changes is not None and failures:
                await catch_up()
        if changes is not None:
            try:
                async for item in changes:
                    failures = 0
                    take(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the UI boundary: any client error is reported
                report_error(f"following {what}", exc)
            else:
                return True
        changes = None
        delay = RESUBSCRIBE_DELAYS[min(failures, len(RESUBSCRIBE_DELAYS) - 1)]
        failures += 1
        await asyncio.sleep(delay)
