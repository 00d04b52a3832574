"""The hub: runs a supervisor per camera, keeps their status, stores and publishes changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from drivers.onvif import warm_up
from hub.alpr_config import AlprConfig
from hub.camera_control import CameraControl
from hub.config import PartnerConfig
from hub.errors import CameraActionError
from hub.federation import Federation
from hub.feed import CameraRemovalFeed, StatusFeed, VehicleFeed
from hub.geotag import Geotag, GeotagMethod, geotag
from hub.gps_supervisor import GpsSupervisor, GpsTiming, ReaderFactory
from hub.health import TICK_S, HealthEngine, Verdict, maintenance_problem
from hub.health_thresholds import FLAP_WINDOW_S, HealthPolicy
from hub.model import (
    CameraConfig,
    CameraStatus,
    HealthTransition,
    Maintenance,
    Site,
    TrackPoint,
    VehicleConfig,
    VehicleStatus,
)
from hub.periodic import PURGE_INTERVAL_S, every
from hub.plate_desk import PlateDesk
from hub.plate_events import PlateEventSupervisor
from hub.store import TRACK_RETENTION, Store
from hub.stream_supervisor import SamplerFactory, StreamSupervisor, StreamTiming
from hub.stream_workers import StreamWorkerPool
from hub.supervisor import CameraSupervisor, SupervisorTiming
from hub.vehicles import VehicleTracker, VehicleUpdate

log = logging.getLogger(__name__)


class Hub:
    """The application core for a set of cameras. Use `await Hub.open(...)`, then `start()`."""

    def __init__(
        self,
        sites: list[Site],
        cameras: list[CameraConfig],
        store: Store,
        timing: SupervisorTiming | None = None,
        vehicles: Sequence[VehicleConfig] = (),
        *,
        gps_timing: GpsTiming | None = None,
        gps_reader: ReaderFactory | None = None,
        stream_health: bool = True,
        health: HealthPolicy | None = None,
        stream_timing: StreamTiming | None = None,
        alpr: AlprConfig | None = None,
        stream_workers: int = 0,
        plate_clock: Callable[[], datetime] | None = None,
        partners: Sequence[PartnerConfig] = (),
    ) -> None:
        """`partners`: hubs whose granted cameras this hub shows too (hub/federation.py).
        `plate_clock`: the time the plate desk stamps and judges by (wanted plates'
        validity, the alert fold window, received times); default the wall clock. A hub
        watching a simulated city passes the city's virtual clock, whose time its reads
        carry."""
        self.store = store
        self.timing = timing or SupervisorTiming()
        self.gps_timing = gps_timing or GpsTiming()
        self.feed = StatusFeed()
        self._published: dict[str, CameraStatus] = {}  # last status published per camera
        self.camera_removals = CameraRemovalFeed()
        self.federation = Federation(partners, self.feed.publish, self.camera_removals.publish)
        self.sites = list(sites) + self.federation.sites()
        self.vehicle_feed = VehicleFeed()
        self._configs = {c.id: c for c in cameras}
        # Camera health: thresholds by group; stream sampling unless switched off here
        # (tests with many cameras) or for the camera's group (`stream = false`).
        self.health = health or HealthPolicy()
        self.stream_health = stream_health
        self.stream_timing = stream_timing or StreamTiming()
        self._trackers = {
            c.id: HealthEngine(CameraStatus(config=c), self.health.for_group(c.group))
            for c in cameras
        }
        self._streams: dict[str, StreamSupervisor] = {}
        # Stream samplers in this many worker processes (hub/stream_workers.py), so that
        # their PyAV threads do not contend for this process's GIL; 0: in this process.
        self._stream_pool = (StreamWorkerPool(stream_workers)
                             if stream_health and stream_workers > 0 else None)
        self._vehicles = {v.id: VehicleTracker(v) for v in vehicles}
        self._vehicle_of_camera = {v.camera: v.id for v in vehicles if v.camera}
        self._gps_reader = gps_reader
        self._tasks: list[asyncio.Task[None]] = []
        # A technician's on-demand actions, on sessions of their own (not the pollers').
        self.control = CameraControl(cameras, partners=self.federation)
        self.plates = PlateDesk(
            store, store.path.parent, cameras, alpr or AlprConfig(), self.geotag,
            self.vehicle_of_camera, list(self._vehicles), clock=plate_clock,
        )

    @classmethod
    async def open(
        cls,
        sites: list[Site],
        cameras: list[CameraConfig],
        data_dir: Path,
        timing: SupervisorTiming | None = None,
        vehicles: Sequence[VehicleConfig] = (),
        *,
        gps_timing: GpsTiming | None = None,
        gps_reader: ReaderFactory | None = None,
        stream_health: bool = True,
        health: HealthPolicy | None = None,
        stream_timing: StreamTiming | None = None,
        alpr: AlprConfig | None = None,
        stream_workers: int = 0,
        plate_clock: Callable[[], datetime] | None = None,
        partners: Sequence[PartnerConfig] = (),
    ) -> Hub:
        """Open the store under `data_dir` and register the cameras and vehicles in it."""
        store = await Store.open(data_dir)
        await store.upsert_cameras(cameras)
        await store.upsert_vehicles(list(vehicles))
        hub = cls(
            sites, cameras, store, timing, vehicles, gps_timing=gps_timing, gps_reader=gps_reader,
            stream_health=stream_health, health=health, stream_timing=stream_timing, alpr=alpr,
            stream_workers=stream_workers, plate_clock=plate_clock, partners=partners,
        )
        await hub._restore()
        return hub

    async def _restore(self) -> None:
        """What the store keeps across a restart: maintenance, and the last hour's outages
        (the flap count; counted from the history, nothing stored for it)."""
        now = datetime.now(UTC)
        kept = await self.store.maintenance()
        onsets = await self.store.outage_onsets(
            list(self._trackers), now - timedelta(seconds=FLAP_WINDOW_S))
        for camera_id, engine in self._trackers.items():
            maintenance = kept.get(camera_id)
            if maintenance is not None and maintenance.until > now:
                engine.set_maintenance(maintenance)
            engine.seed_flaps(onsets.get(camera_id, ()), now)

    async def start(self) -> None:
        """Start the plate desk, the partner links, one supervisor task per camera and
        one per vehicle."""
        await self.plates.start()
        await self.federation.start()
        for vehicle_id, vtracker in self._vehicles.items():
            gps = GpsSupervisor(vtracker, self._apply_vehicle, self.gps_timing, self._gps_reader)
            self._tasks.append(asyncio.create_task(gps.run(), name=f"vehicle:{vehicle_id}"))
        if self._vehicles:
            purge = every(PURGE_INTERVAL_S, self._purge_tracks, "purging track points")
            self._tasks.append(asyncio.create_task(purge, name="track purge"))
        if not self._trackers:
            return
        # WSDL parsing is blocking and done once per process: keep it off the loop.
        await asyncio.to_thread(warm_up)
        sampler: SamplerFactory | None = None
        if self._stream_pool is not None:
            await self._stream_pool.start()
            sampler = self._stream_pool.sampler
        for camera_id, engine in self._trackers.items():
            config = self._configs[camera_id]
            if self.stream_health and engine.thresholds.stream:
                stream = StreamSupervisor(config, engine, self._apply, self.stream_timing,
                                          sampler=sampler)
                self._streams[camera_id] = stream
                self._tasks.append(
                    asyncio.create_task(stream.run(), name=f"stream:{camera_id}")
                )
            supervisor = CameraSupervisor(
                config, engine, self._onvif_report(camera_id), self.timing
            )
            self._tasks.append(asyncio.create_task(supervisor.run(), name=f"camera:{camera_id}"))
        self._tasks.append(asyncio.create_task(self._health_ticks(), name="health ticks"))
        self._start_plate_events()
        log.info(
            "hub: supervising %d cameras (%d streams sampled), %d vehicles",
            len(self._trackers), len(self._streams), len(self._vehicles),
        )

    def _start_plate_events(self) -> None:
        """One event subscription per camera whose plates arrive as ONVIF events."""
        cameras = {s.camera for s in self.plates.config.senders if s.source == "onvif"}
        for camera_id in sorted(cameras):
            config = self._configs.get(camera_id)
            if config is None:
                log.warning("alpr: onvif sender for unknown camera %s", camera_id)
                continue
            events = PlateEventSupervisor(config, self.plates.ingest)
            self._tasks.append(asyncio.create_task(events.run(), name=f"plates:{camera_id}"))

    async def stop(self) -> None:
        """Cancel every camera task, end subscriptions and close the store."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.control.close()
        await self.federation.stop()
        if self._stream_pool is not None:  # after the stream tasks: they stop their samplers
            await self._stream_pool.stop()
        await self.plates.stop()
        self.feed.close()
        self.camera_removals.close()
        self.vehicle_feed.close()
        await self.store.close()

    async def _apply(self, verdict: Verdict) -> None:
        # Stored first: a change is only shown once it is committed.
        if verdict.store:
            await self.store.record(verdict.status, verdict.transition)
        if verdict.transition is not None:
            t = verdict.transition
            log.info(
                "%s: %s -> %s (%s) %s",
                t.camera_id, t.old_state, t.new_state, t.reason or "-", t.detail,
            )
        status = verdict.status
        # A down camera's every failed poll gives the same status again: publishing it
        # would wake every subscriber (TUI, event stream, MQTT) for nothing.
        if verdict.transition is None and self._published.get(status.id) == status:
            return
        self._published[status.id] = status
        self.feed.publish(status)

    def _onvif_report(self, camera_id: str) -> Callable[[Verdict], Awaitable[None]]:
        """Apply an ONVIF verdict, then let the camera's stream task re-check (pause/resume)."""

        async def report(verdict: Verdict) -> None:
            await self._apply(verdict)
            stream = self._streams.get(camera_id)
            if stream is not None:
                stream.wake()

        return report

    async def _health_ticks(self) -> None:
        """Re-evaluate every camera each TICK_S: hysteresis ripens with time alone."""
        while True:
            await asyncio.sleep(TICK_S)
            now = datetime.now(UTC)
            for engine in self._trackers.values():
                try:
                    verdict = engine.tick(now)
                    if verdict is not None:
                        await self._apply(verdict)
                except Exception:  # one camera's bug must not stop the others' clock
                    log.exception("%s: health evaluation failed", engine.status.config.name)

    # maintenance ------------------------------------------------------------------------

    def _engine(self, camera_id: str) -> HealthEngine:
        engine = self._trackers.get(camera_id)
        if engine is None and self.federation.owns(camera_id):
            raise self.federation.read_only(camera_id, "maintenance")
        if engine is None:
            raise CameraActionError(f"unknown camera {camera_id!r}")
        return engine

    async def set_maintenance(
        self, camera_id: str, until: datetime, reason: str, actor: str
    ) -> CameraStatus:
        """Put a camera in maintenance until `until` (audited); its health is still judged
        and stored, but it shows as in maintenance and is no outage. Raises
        CameraActionError for an unknown camera or an unusable request."""
        engine = self._engine(camera_id)
        now = datetime.now(UTC)
        problem = maintenance_problem(now, until, reason)
        if problem is not None:
            raise CameraActionError(f"{engine.status.config.name}: maintenance: {problem}")
        maintenance = Maintenance(since=now, until=until.astimezone(UTC), reason=reason.strip(),
                                  actor=actor)
        return await self._maintain(engine, maintenance, actor, now)

    async def clear_maintenance(self, camera_id: str, actor: str) -> CameraStatus:
        """End a camera's maintenance now (audited): it shows its real state again."""
        engine = self._engine(camera_id)
        return await self._maintain(engine, None, actor, datetime.now(UTC))

    async def _maintain(self, engine: HealthEngine, maintenance: Maintenance | None,
                        actor: str, now: datetime) -> CameraStatus:
        # In memory first: a status recorded meanwhile (an ONVIF poll) carries it too.
        before = engine.status.maintenance
        verdict = engine.set_maintenance(maintenance)
        try:
            await self.store.set_maintenance(engine.status.id, maintenance, actor, now)
        except Exception:
            engine.set_maintenance(before)
            raise
        name = engine.status.config.name
        if maintenance is not None:
            log.info("%s: maintenance until %s by %s: %s", name, maintenance.until.isoformat(),
                     actor, maintenance.reason)
        else:
            log.info("%s: maintenance ended by %s", name, actor)
        self._published[verdict.status.id] = verdict.status
        self.feed.publish(verdict.status)
        return verdict.status

    def cameras(self) -> list[CameraStatus]:
        """Current status of every camera: ours in configuration order, then the ones
        partners grant us."""
        return [t.status for t in self._trackers.values()] + self.federation.cameras()

    def camera(self, camera_id: str) -> CameraStatus | None:
        tracker = self._trackers.get(camera_id)
        return tracker.status if tracker else self.federation.camera(camera_id)

    async def history(self, camera_id: str, limit: int = 50) -> list[HealthTransition]:
        """Latest transitions, newest first (a partner's camera: from the partner)."""
        if camera_id not in self._trackers and self.federation.owns(camera_id):
            return await self.federation.history(camera_id, limit)
        return await self.store.history(camera_id, limit)

    # vehicles ---------------------------------------------------------------------------

    async def _apply_vehicle(self, update: VehicleUpdate) -> None:
        status = update.status
        if update.transition is not None:
            t = update.transition
            await self.store.record_vehicle(status)
            log.info("%s: %s -> %s %s", status.config.name, t.old_state, t.new_state, t.detail)
        if update.point is not None:
            await self.store.add_track_point(status.id, update.point)  # downsampled there
        self.vehicle_feed.publish(status)

    async def _purge_tracks(self) -> None:
        """Delete track points older than TRACK_RETENTION."""
        gone = await self.store.purge_track_points(datetime.now(UTC) - TRACK_RETENTION)
        if gone:
            log.info("purged %d track points older than %s", gone, TRACK_RETENTION)

    def vehicles(self) -> list[VehicleStatus]:
        """Current status of every vehicle, in configuration order."""
        return [t.status for t in self._vehicles.values()]

    def vehicle(self, vehicle_id: str) -> VehicleStatus | None:
        tracker = self._vehicles.get(vehicle_id)
        return tracker.status if tracker else None

    def vehicle_of_camera(self, camera_id: str) -> str | None:
        """The vehicle a mobile camera rides on, if any."""
        return self._vehicle_of_camera.get(camera_id)

    def recent_track(self, vehicle_id: str, since: datetime | None = None) -> list[TrackPoint]:
        """Fixes in memory (full rate, about the last hour), oldest first."""
        tracker = self._vehicles.get(vehicle_id)
        return tracker.track(since) if tracker else []

    async def track(self, vehicle_id: str, since: datetime) -> list[TrackPoint]:
        """Fixes since `since`: the store (1/s) before the memory ring starts, then the ring."""
        ring = self.recent_track(vehicle_id)
        if vehicle_id not in self._vehicles:
            return []
        if ring and ring[0].at <= since:
            return [p for p in ring if p.at >= since]
        until = ring[0].at if ring else None
        older = await self.store.track(vehicle_id, since, until)
        return older + ring

    def geotag(self, vehicle_id: str, at: datetime) -> Geotag:
        """Position of `vehicle_id` at `at` (a read's time) from the in-memory track."""
        tracker = self._vehicles.get(vehicle_id)
        if tracker is None:
            return Geotag(None, None, GeotagMethod.NO_FIX, None)
        return geotag(at, tracker.track())
