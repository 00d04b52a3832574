"""From a vendor read to a committed read and its alerts.

`ReadPipeline.ingest` is the one path every read takes (HTTP API, webhooks, ONVIF
events): resolve the sender to our camera/vehicle, geotag mobile reads from the car's
GPS track, store images, match against the hotlists and wanted plates, decide which
hits fold into an open alert, commit read and alerts in one transaction, and only then
publish. The caller acknowledges the sender after `ingest` returned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from drivers.alpr import VendorRead
from hub.alpr_config import AlprSender
from hub.alpr_model import Alert, AlertState, Hit, ImageKind, Read, ReadImage
from hub.feed import AlertFeed, ReadFeed
from hub.geotag import Geotag
from hub.matcher import hit_rank
from hub.model import CameraConfig
from hub.plates import normalize
from hub.read_images import ReadImages
from hub.read_store import AlertDraft, ReadStore

log = logging.getLogger(__name__)

# Reads of the same plate at the same camera this close together are one event (a car
# waiting at a light is read again and again): later ones count as duplicates of the
# open alert instead of raising new ones. Five minutes spans a red light and a queue
# without hiding a car that comes back around the ring road.
FOLD_WINDOW = timedelta(minutes=5)

# The stages of ReadPipeline.stage_s, in path order.
STAGES = ("to_store", "store", "publish")

# Read -> alert latencies kept for the statistics: the last 10,000 alerts are minutes of a
# busy city, enough for a stable p99.
LATENCY_SAMPLES = 10_000


class PlateMatcher(Protocol):
    """Anything that finds a normalised plate on lists (hotlists, wanted plates)."""

    def match(self, plate: str, at: datetime, state: str | None = None) -> list[Hit]: ...


@dataclass(frozen=True)
class Ingested:
    """What became of one vendor read: the committed read and the alerts it raised or
    folded into."""

    read: Read
    alerts: tuple[Alert, ...]


class ReadPipeline:
    """Turns vendor reads into committed reads and alerts; see the module docstring."""

    def __init__(
        self,
        store: ReadStore,
        images: ReadImages,
        cameras: Sequence[CameraConfig],
        senders: Sequence[AlprSender],
        matchers: Callable[[], Sequence[PlateMatcher]],
        geotag: Callable[[str, datetime], Geotag],
        vehicle_of_camera: Callable[[str], str | None],
        known_vehicles: Collection[str],
        ready: asyncio.Event | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._images = images
        self._cameras = {c.id: c for c in cameras}
        self._senders = {(s.source, s.id): s for s in senders}
        self._matchers = matchers
        self._geotag = geotag
        self._vehicle_of_camera = vehicle_of_camera
        self._known_vehicles = frozenset(known_vehicles)
        self._ready = ready
        self._clock = clock or (lambda: datetime.now(UTC))
        self.alert_feed = AlertFeed()
        self.read_feed = ReadFeed()
        # Open alert per (entry plate, list, camera): (alert id, time of its latest read).
        self._fold: dict[tuple[str, str, str], tuple[int, datetime]] = {}
        # Keys whose first alert is being committed: a concurrent read waits for its id.
        self._pending: dict[tuple[str, str, str], asyncio.Future[int]] = {}
        self.counters = {"reads": 0, "alerts": 0, "folded": 0}
        # Seconds from a read's arrival to its alert being committed and published, for
        # the latest LATENCY_SAMPLES alerts (GET /api/stats; bench/ingest.py reads it).
        self.alert_latency_s: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        # Per read, seconds spent: from arrival to the store (request body, parsing,
        # geotag, matching, waiting for the event loop), in the store (queue, linger,
        # commit, back on the loop), and publishing (feeds, alerts). GET /api/stats.
        self.stage_s: dict[str, deque[float]] = {
            stage: deque(maxlen=LATENCY_SAMPLES) for stage in STAGES
        }

    async def restore(self) -> None:
        """Rebuild the fold windows from open alerts (after a restart)."""
        since = self._clock() - FOLD_WINDOW
        for alert in await self._store.open_alerts_since(since):
            key = _fold_key(alert.hit, alert.read.camera_id)
            self._fold[key] = (alert.id, alert.updated_at)

    async def ingest(
        self, vendor_reads: Sequence[VendorRead], arrived: float | None = None
    ) -> list[Ingested]:
        """Commit every read (concurrently, so they share group commits) and return them
        in the given order. `arrived` is the time.monotonic() the request came in (now if
        None). Raises StoreError if any could not be committed."""
        arrived = time.monotonic() if arrived is None else arrived
        if len(vendor_reads) == 1:  # the common case: no gather, no extra task
            return [await self._ingest_one(vendor_reads[0], arrived)]
        results = await asyncio.gather(*(self._ingest_one(v, arrived) for v in vendor_reads))
        return list(results)

    async def _ingest_one(self, vendor: VendorRead, arrived: float) -> Ingested:
        read = await self._to_read(vendor)
        if self._ready is not None and not self._ready.is_set():
            await self._ready.wait()  # hotlists still loading: matching now would miss hits
        hits = self._match(read)
        key = _fold_key(hits[0], read.camera_id) if hits else None
        drafts: list[AlertDraft] = []
        owner: asyncio.Future[int] | None = None
        if hits and key is not None:
            fold_into = await self._fold_target(key, read.at)
            if fold_into is None:
                owner = asyncio.get_running_loop().create_future()
                self._pending[key] = owner
            drafts.append(AlertDraft(hit=hits[0], other_hits=tuple(hits[1:]), fold_into=fold_into))
        to_store = time.monotonic()
        try:
            committed, alerts = await self._store.add(read, drafts)
        except BaseException as exc:
            if owner is not None and key is not None:
                self._pending.pop(key, None)
                failure = exc if isinstance(exc, Exception) else RuntimeError("cancelled")
                owner.set_exception(failure)
                owner.exception()  # retrieved: waiters see it, asyncio does not log it
            raise
        for alert in alerts:
            if key is not None:
                self._fold[key] = (alert.id, read.at)
            if owner is not None and not owner.done():
                owner.set_result(alert.id)
        if key is not None and self._pending.get(key) is owner:
            self._pending.pop(key, None)
        stored = time.monotonic()
        self.counters["reads"] += 1
        self.read_feed.publish(committed)
        for alert in alerts:
            self.counters["folded" if alert.duplicates else "alerts"] += 1
            self.alert_feed.publish(alert)
            self.alert_latency_s.append(time.monotonic() - arrived)
            if not alert.duplicates:
                log.info("%s: hit %s on %s (%s, %s)", alert.read.camera_id, alert.read.plate,
                         alert.hit.entry.list, alert.hit.match, alert.hit.entry.plate)
        stages = self.stage_s
        stages["to_store"].append(to_store - arrived)
        stages["store"].append(stored - to_store)
        stages["publish"].append(time.monotonic() - stored)
        return Ingested(committed, tuple(alerts))

    async def _fold_target(self, key: tuple[str, str, str], at: datetime) -> int | None:
        pending = self._pending.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except Exception:  # the first read failed to commit: this one raises its own alert
                return None
        known = self._fold.get(key)
        if known is not None and abs(at - known[1]) <= FOLD_WINDOW:
            return known[0]
        return None

    def forget_alert(self, alert: Alert) -> None:
        """An alert left the open states: later reads raise a new one."""
        if alert.state in (AlertState.NEW, AlertState.ACKNOWLEDGED):
            return
        key = _fold_key(alert.hit, alert.read.camera_id)
        if self._fold.get(key, (None,))[0] == alert.id:
            del self._fold[key]

    def _match(self, read: Read) -> list[Hit]:
        hits: list[Hit] = []
        for matcher in self._matchers():
            hits.extend(matcher.match(read.normalized, read.at, read.country))
        return sorted(hits, key=hit_rank)

    async def _to_read(self, vendor: VendorRead) -> Read:
        camera_id, vehicle = self._resolve(vendor)
        lat, lon, method = vendor.lat, vendor.lon, "reported" if vendor.lat is not None else None
        if lat is None:
            if vehicle is not None:
                tag = self._geotag(vehicle, vendor.at)
                lat, lon, method = tag.lat, tag.lon, tag.method.value
            elif camera_id in self._cameras:
                camera = self._cameras[camera_id]
                if camera.lat is not None:
                    lat, lon, method = camera.lat, camera.lon, "fixed"
        images = []
        for image in vendor.images:
            kind = ImageKind(image.kind)
            if image.jpeg is not None:
                path = await self._images.save(image.jpeg, vendor.at, kind.value)
                if path is not None:
                    images.append(ReadImage(kind, path=path))
            elif image.url:
                images.append(ReadImage(kind, url=image.url))
        upper = vendor.plate.upper()
        # Most reads are plain "1ABC234": normalize's per-character pass is for the rest.
        normalized = upper if upper.isalnum() else normalize(upper)
        return Read(
            id=0, plate=vendor.plate.strip(), normalized=normalized, at=vendor.at,
            camera_id=camera_id, source=vendor.source, confidence=vendor.confidence,
            country=vendor.country, region=vendor.region, unit=vehicle or vendor.unit,
            lat=lat, lon=lon, geotag=method, direction=vendor.direction,
            images=tuple(images), received_at=self._clock(),
        )

    def _resolve(self, vendor: VendorRead) -> tuple[str, str | None]:
        """Our camera id and the vehicle it rides on, from the sender's own ids."""
        sender_id = vendor.camera or vendor.unit or "unknown"
        sender = self._senders.get((vendor.source, sender_id))
        if sender is not None:
            vehicle = sender.vehicle or self._vehicle_of_camera(sender.camera)
            return sender.camera, vehicle
        if sender_id in self._cameras:
            camera_id = sender_id
        else:
            camera_id = f"{vendor.source}:{sender_id}"
        vehicle = self._vehicle_of_camera(camera_id)
        if vehicle is None and vendor.unit and vendor.unit in self._known_vehicles:
            vehicle = vendor.unit
        return camera_id, vehicle

    def alert_changed(self, alert: Alert) -> None:
        """Publish an alert changed elsewhere (a transition)."""
        self.forget_alert(alert)
        self.alert_feed.publish(alert)

    def close(self) -> None:
        self.alert_feed.close()
        self.read_feed.close()


def _fold_key(hit: Hit, camera_id: str) -> tuple[str, str, str]:
    return (hit.entry.plate, hit.entry.list, camera_id)

