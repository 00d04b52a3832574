"""Shared by the event driver tests: simulated cameras with the event service, and a
collector that runs an events() iterator in a task (the `rtsp` and `make_camera`
fixtures are in tests/drivers/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from drivers.onvif_camera_events import CameraEvent, OnvifCameraEvents
from simulator.onvif_camera import SimulatedCamera

FAST_BACKOFF = (0.05, 0.1)
MakeCamera = Callable[..., Awaitable[SimulatedCamera]]


class Collector:
    """Runs events() in a task and hands out the events."""

    def __init__(self, client: OnvifCameraEvents) -> None:
        self.queue: asyncio.Queue[CameraEvent] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(client))

    async def _run(self, client: OnvifCameraEvents) -> None:
        async for event in client.events():
            await self.queue.put(event)

    async def until(self, found: Callable[[CameraEvent], bool],
                    within_s: float = 3.0) -> list[CameraEvent]:
        got: list[CameraEvent] = []
        async with asyncio.timeout(within_s):
            while not got or not found(got[-1]):
                got.append(await self.queue.get())
        return got

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
