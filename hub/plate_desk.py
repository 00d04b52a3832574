"""Everything about plates a hub does, behind one object: ingestion, hotlists, wanted
plates, alerts and their workflow, search, retention.

The `Hub` owns one `PlateDesk`; the HTTP API and the in-process client call it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from drivers.alpr import VendorRead
from hub.alpr_config import AlprConfig
from hub.alpr_model import (
    Alert,
    AlertState,
    HotlistEntry,
    HotlistInfo,
    ImageKind,
    Read,
    RejectReason,
    WantedPlate,
)
from hub.errors import AlertTransitionError, HotlistError
from hub.geotag import Geotag
from hub.hotlist_library import HotlistLibrary
from hub.hotlists import entries_from
from hub.matcher import Matcher
from hub.model import CameraConfig
from hub.periodic import PURGE_INTERVAL_S, every
from hub.read_images import ReadImages
from hub.read_pipeline import Ingested, PlateMatcher, ReadPipeline
from hub.read_store import ReadStore
from hub.store import Store
from hub.wanted import WantedPlates

log = logging.getLogger(__name__)

# The hotlist directory is checked this often for lists imported by `citywatch hotlist
# import` while the hub runs: a new national list applies within a minute.
HOTLIST_WATCH_INTERVAL_S = 30.0

# Garbage collector thresholds (allocations before a young collection; young collections
# per middle one; middle per full one). Python's 700/10/10 ran ~30 young collections a
# second at 1,000 reads/s, each walking every live request object, and a middle one every
# ~0.4 s (~16 ms): ~8 % of the hub's CPU and pauses in the read -> alert path. Reads make
# little cyclic garbage (none found in a run), so collecting ten times less often costs
# memory only briefly, and cuts GC time ~5x (measured with bench.ingest's paced run).
GC_THRESHOLDS = (10_000, 20, 100)


def build_matcher(entries: Sequence[HotlistEntry]) -> PlateMatcher:
    """A matcher over a few entries (wanted plates)."""
    return Matcher([entries_from(list(entries), "wanted")])


class PlateDesk:
    """The hub's plate side. `await start()` before use, `await stop()` at the end."""

    def __init__(
        self,
        store: Store,
        data_dir: Path,
        cameras: Sequence[CameraConfig],
        config: AlprConfig,
        geotag: Callable[[str, datetime], Geotag],
        vehicle_of_camera: Callable[[str], str | None],
        known_vehicles: Collection[str],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock or (lambda: datetime.now(UTC))
        self.reads = ReadStore(store)
        self.images = ReadImages(data_dir)
        self.library = HotlistLibrary(data_dir)
        self._hotlists: PlateMatcher = build_matcher(())
        self._hotlist_infos: list[HotlistInfo] = []
        self._hotlists_ready = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self.wanted_plates = WantedPlates(self.reads, build_matcher, self._clock)
        self.pipeline = ReadPipeline(
            self.reads, self.images, cameras, config.senders,
            matchers=lambda: (self._hotlists, self.wanted_plates.matcher()),
            geotag=geotag, vehicle_of_camera=vehicle_of_camera, known_vehicles=known_vehicles,
            ready=self._hotlists_ready, clock=self._clock,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._library_stamp: object = None

    async def start(self) -> None:
        """Open the read store, load wanted plates, and load hotlists in the background
        (reads arriving meanwhile wait for them rather than miss a hit)."""
        gc.set_threshold(*GC_THRESHOLDS)
        await self.reads.start()
        await self.wanted_plates.load()
        await self.pipeline.restore()
        self._tasks.append(asyncio.create_task(self._first_load(), name="hotlists"))
        purge = every(PURGE_INTERVAL_S, self.purge_once, "purging reads")
        self._tasks.append(asyncio.create_task(purge, name="read purge"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.pipeline.close()
        await self.reads.close()

    # hotlists -------------------------------------------------------------------------

    async def _first_load(self) -> None:
        for hotlist in self.config.hotlists:
            try:
                await asyncio.to_thread(
                    self.library.import_file, hotlist.path, hotlist.name, hotlist.covert
                )
            except HotlistError as exc:
                log.error("hotlist %s: not imported: %s", hotlist.name, exc)
        try:
            await self.reload_hotlists()
        except HotlistError as exc:
            log.error("hotlists: %s", exc)
        finally:
            self._hotlists_ready.set()
        while True:
            await asyncio.sleep(HOTLIST_WATCH_INTERVAL_S)
            try:
                if await asyncio.to_thread(self._library_files) != self._library_stamp:
                    await self.reload_hotlists()
            except HotlistError as exc:
                log.error("hotlists: reload failed, the previous lists stay: %s", exc)

    async def reload_hotlists(self) -> list[HotlistInfo]:
        """Load every imported list in a thread and swap them in at once."""
        async with self._reload_lock:
            stamp = await asyncio.to_thread(self._library_files)
            matcher, infos = await self.library.load_all()
            self._hotlists, self._hotlist_infos = matcher, list(infos)
            self._library_stamp = stamp
            del matcher
            # A national list is millions of long-lived objects; without this every full
            # collection walks them all, a pause of a few hundred ms that lands on reads
            # being acknowledged (bench/ingest.py p99). One collection now (~0.1 s, on a
            # reload only) frees the previous lists; freeze moves the rest out of reach of
            # later collections. Frozen objects are still freed by reference counting.
            gc.collect()
            gc.freeze()
        log.info("hotlists: %d lists, %d entries", len(infos), sum(i.entries for i in infos))
        return list(infos)

    def hotlists(self) -> list[HotlistInfo]:
        return list(self._hotlist_infos)

    def _library_files(self) -> frozenset[tuple[str, int, int]]:
        """Name, size and mtime of every file of the library: changes when a list is
        imported or removed by `citywatch hotlist` beside the running hub."""
        try:
            return frozenset(
                (p.name, p.stat().st_size, p.stat().st_mtime_ns)
                for p in self.library.root.iterdir() if p.is_file()
            )
        except OSError:
            return frozenset()

    # reads ----------------------------------------------------------------------------

    async def ingest(
        self, reads: Sequence[VendorRead], arrived: float | None = None
    ) -> list[Ingested]:
        """Commit reads and their alerts; see ReadPipeline."""
        return await self.pipeline.ingest(reads, arrived)

    def alert_latency(self) -> dict[str, float | int | None]:
        """Read arrival -> alert committed and published, over the latest alerts (ms)."""
        return _summary(self.pipeline.alert_latency_s, "alerts")

    def stage_latency(self) -> dict[str, dict[str, float | int | None]]:
        """Where a read's time goes, over the latest reads (ms): to_store (arrival to the
        store: body, parsing, matching), store (of which queue_wait: linger and the
        previous commit, per read; commit: one group commit and back on the loop, per
        batch), publish (feeds and alerts after the commit)."""
        stages = self.pipeline.stage_s
        return {
            "to_store": _summary(stages["to_store"], "reads"),
            "store": _summary(stages["store"], "reads"),
            "store_queue_wait": _summary(self.reads.queue_wait_s, "reads"),
            "store_commit": _summary(self.reads.commit_s, "batches"),
            "publish": _summary(stages["publish"], "reads"),
        }

    async def search(
        self, pattern: str, since: datetime | None = None, camera_id: str | None = None,
        limit: int = 100,
    ) -> list[Read]:
        return await self.reads.search(pattern, since, camera_id, limit)

    async def read_image(self, read_id: int, kind: ImageKind) -> bytes | None:
        read = await self.reads.read(read_id)
        image = read.image(kind) if read is not None else None
        if image is None or image.path is None:
            return None
        return await self.images.load(image.path)

    def counters(self) -> dict[str, int]:
        return dict(self.pipeline.counters)

    def read_changes(self) -> AsyncIterator[Read]:
        return self.pipeline.read_feed.subscribe()

    # alerts ---------------------------------------------------------------------------

    async def alerts(self, limit: int = 200, open_only: bool = True) -> list[Alert]:
        return await self.reads.alerts(limit, open_only)

    def alert_changes(self) -> AsyncIterator[Alert]:
        return self.pipeline.alert_feed.subscribe()

    async def transition(
        self, alert_id: int, to: AlertState, actor: str, reason: RejectReason | None = None,
        text: str = "",
    ) -> Alert:
        """Move an alert (audited) and tell every watcher."""
        if not actor.strip():
            raise AlertTransitionError("an alert transition needs the operator's name")
        alert = await self.reads.transition_alert(
            alert_id, to, actor.strip(), self._clock(), reason, text
        )
        self.pipeline.alert_changed(alert)
        log.info("alert %d: %s by %s %s", alert.id, alert.state, actor, reason or "")
        return alert

    # wanted plates --------------------------------------------------------------------

    def wanted(self) -> list[WantedPlate]:
        return self.wanted_plates.plates()

    async def add_wanted(
        self, plate: str, reason: str, days: int, actor: str
    ) -> tuple[WantedPlate, list[Read]]:
        return await self.wanted_plates.add(plate, reason, days, actor)

    async def remove_wanted(self, wanted_id: int, actor: str) -> None:
        await self.wanted_plates.remove(wanted_id, actor)

    # retention ------------------------------------------------------------------------

    async def purge_once(self) -> int:
        """Delete reads older than the retention and their image files; returns how many
        image files went (reads that raised an alert are kept as its evidence)."""
        paths = await self.reads.purge_reads(self._clock() - self.config.retention)
        return await self.images.delete(paths)


def _summary(samples_s: Iterable[float], counted: str) -> dict[str, float | int | None]:
    """{counted: n, p50_ms, p99_ms, max_ms} of durations in seconds."""
    samples = sorted(samples_s)
    if not samples:
        return {counted: 0, "p50_ms": None, "p99_ms": None, "max_ms": None}

    def pct(q: float) -> float:
        return round(samples[min(len(samples) - 1, int(len(samples) * q))] * 1000, 2)

    return {counted: len(samples), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": round(samples[-1] * 1000, 2)}
