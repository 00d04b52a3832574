"""Housekeeping jobs of the hub that run at start and then at a fixed pace."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# Retention purges (track points, reads) run at start and then this often: an hour keeps
# the store within an hour of its retention without the purge showing up in any load.
PURGE_INTERVAL_S = 3600.0


async def every(interval_s: float, job: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `job` now and then every `interval_s` until cancelled; a failing run is
    logged and the next one still comes."""
    while True:
        try:
            await job()
        except Exception:  # housekeeping must keep running whatever one pass hit
            log.exception("%s failed", what)
        await asyncio.sleep(interval_s)
