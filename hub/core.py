"""The hub: runs a supervisor per camera, keeps their status, stores and publishes changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from drivers.onvif import warm_up
from hub.feed import StatusFeed
from hub.health import HealthTracker, Verdict
from hub.model import CameraConfig, CameraStatus, HealthTransition, Site
from hub.store import Store
from hub.supervisor import CameraSupervisor, SupervisorTiming

log = logging.getLogger(__name__)


class Hub:
    """The application core for a set of cameras. Use `await Hub.open(...)`, then `start()`."""

    def __init__(
        self,
        sites: list[Site],
        cameras: list[CameraConfig],
        store: Store,
        timing: SupervisorTiming | None = None,
    ) -> None:
        self.sites = list(sites)
        self.store = store
        self.timing = timing or SupervisorTiming()
        self.feed = StatusFeed()
        self._configs = {c.id: c for c in cameras}
        self._trackers = {c.id: HealthTracker(CameraStatus(config=c)) for c in cameras}
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(
        cls,
        sites: list[Site],
        cameras: list[CameraConfig],
        data_dir: Path,
        timing: SupervisorTiming | None = None,
    ) -> Hub:
        """Open the store under `data_dir` and register the cameras in it."""
        store = await Store.open(data_dir)
        await store.upsert_cameras(cameras)
        return cls(sites, cameras, store, timing)

    async def start(self) -> None:
        """Start one supervisor task per camera."""
        # WSDL parsing is blocking and done once per process: keep it off the loop.
        await asyncio.to_thread(warm_up)
        for camera_id, tracker in self._trackers.items():
            supervisor = CameraSupervisor(
                self._configs[camera_id], tracker, self._apply, self.timing
            )
            self._tasks.append(asyncio.create_task(supervisor.run(), name=f"camera:{camera_id}"))
        log.info("hub: supervising %d cameras", len(self._tasks))

    async def stop(self) -> None:
        """Cancel every camera task, end subscriptions and close the store."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.feed.close()
        await self.store.close()

    async def _apply(self, verdict: Verdict) -> None:
        # Stored first: a change is only shown once it is committed.
        await self.store.record(verdict.status, verdict.transition)
        if verdict.transition is not None:
            t = verdict.transition
            log.info(
                "%s: %s -> %s (%s) %s",
                t.camera_id, t.old_state, t.new_state, t.reason or "-", t.detail,
            )
        self.feed.publish(verdict.status)

    def cameras(self) -> list[CameraStatus]:
        """Current status of every camera, in configuration order."""
        return [t.status for t in self._trackers.values()]

    def camera(self, camera_id: str) -> CameraStatus | None:
        tracker = self._trackers.get(camera_id)
        return tracker.status if tracker else None


class LocalHubClient:
    """`HubClient` for a hub running in the same process (the demo)."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def sites(self) -> list[Site]:
        return list(self._hub.sites)

    def cameras(self) -> list[CameraStatus]:
        return self._hub.cameras()

    def camera(self, camera_id: str) -> CameraStatus | None:
        return self._hub.camera(camera_id)

    async def history(self, camera_id: str, limit: int = 50) -> list[HealthTransition]:
        return await self._hub.store.history(camera_id, limit)

    def changes(self) -> AsyncIterator[CameraStatus]:
        return self._hub.feed.subscribe()
