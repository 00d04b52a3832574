"""ReadPipeline: sender mapping, geotags, images and alert folding, on a real store."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from drivers.alpr import VendorImage, VendorRead
from hub.alpr_config import AlprSender
from hub.alpr_model import AlertState, HotlistEntry, ImageKind, RejectReason
from hub.geotag import Geotag, GeotagMethod
from hub.hotlists import entries_from
from hub.matcher import Matcher
from hub.model import CameraConfig, CameraKind
from hub.read_images import ReadImages
from hub.read_pipeline import FOLD_WINDOW, ReadPipeline
from hub.read_store import ReadStore
from hub.store import Store

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

RING = CameraConfig("ring-1", "Ring Noord", "city", CameraKind.FIXED, "http://x/onvif", "u",
                    "p", lat=50.94, lon=5.34)
CAR_CAM = CameraConfig("car-1-cam", "Car 1", "police", CameraKind.MOBILE, "http://y/onvif",
                       "u", "p")


def vendor(plate: str, at: datetime = T0, camera: str | None = "ring-1",
           source: str = "citywatch", images: tuple[VendorImage, ...] = ()) -> VendorRead:
    return VendorRead(plate=plate, at=at, source=source, confidence=0.9, country="BE",
                      region=None, camera=camera, unit=None, lat=None, lon=None, direction=None,
                      images=images)


class Pipeline:
    def __init__(self, pipeline: ReadPipeline, store: ReadStore,
                 geotags: list[tuple[str, datetime]]) -> None:
        self.pipeline, self.store, self.geotags = pipeline, store, geotags


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Pipeline]:
    store = await Store.open(tmp_path)
    reads = ReadStore(store)
    await reads.start()
    entries = [HotlistEntry("1ABC234", "stolen", "vehicle", 80),
               HotlistEntry("9XYZ*99", "wanted-partial", "", 60)]
    matcher = Matcher([entries_from(entries, "test")])
    asked: list[tuple[str, datetime]] = []

    def geotag(vehicle: str, at: datetime) -> Geotag:
        asked.append((vehicle, at))
        return Geotag(50.93, 5.33, GeotagMethod.INTERPOLATED, 0.4)

    pipeline = ReadPipeline(
        reads, ReadImages(tmp_path), [RING, CAR_CAM],
        [AlprSender("openalpr", "1234", "ring-1"), AlprSender("citywatch", "unit-7", "car-1-cam",
                                                              "car-1")],
        matchers=lambda: [matcher], geotag=geotag,
        vehicle_of_camera=lambda c: "car-1" if c == "car-1-cam" else None,
        known_vehicles={"car-1"}, clock=lambda: T0,
    )
    yield Pipeline(pipeline, reads, asked)
    await reads.close()
    await store.close()


async def test_a_vendor_camera_number_maps_to_our_camera_and_its_position(setup: Pipeline) -> None:
    [done] = await setup.pipeline.ingest([vendor("D2651BF", camera="1234", source="openalpr")])
    assert done.read.camera_id == "ring-1"
    assert (done.read.lat, done.read.lon, done.read.geotag) == (50.94, 5.34, "fixed")
    [unknown] = await setup.pipeline.ingest([vendor("D2651BF", camera="999", source="openalpr")])
    assert unknown.read.camera_id == "openalpr:999" and unknown.read.geotag is None


async def test_a_patrol_car_read_is_geotagged_from_its_track(setup: Pipeline) -> None:
    at = T0 + timedelta(seconds=3)
    [done] = await setup.pipeline.ingest([vendor("1XYZ555", at=at, camera="unit-7")])
    assert setup.geotags == [("car-1", at)]
    assert done.read.unit == "car-1" and done.read.geotag == "interpolated"
    assert (done.read.lat, done.read.lon) == (50.93, 5.33)
    stored = await setup.store.read(done.read.id)
    assert stored == done.read


async def test_a_reported_position_wins_over_the_track(setup: Pipeline) -> None:
    read = vendor("1XYZ555", camera="unit-7")
    read = dataclasses.replace(read, lat=50.0, lon=5.0)
    [done] = await setup.pipeline.ingest([read])
    assert done.read.geotag == "reported" and setup.geotags == []


async def test_images_are_stored_and_placeholders_dropped(setup: Pipeline, tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGB", (40, 10)).save(out, "JPEG")
    images = (VendorImage("crop", out.getvalue(), None), VendorImage("overview", b"...", None))
    [done] = await setup.pipeline.ingest([vendor("1ABC999", images=images)])
    crop = done.read.image(ImageKind.CROP)
    assert crop is not None and crop.path is not None
    assert (tmp_path / crop.path).read_bytes() == out.getvalue()
    assert done.read.image(ImageKind.OVERVIEW) is None


async def test_hits_fold_within_the_window_and_not_after(setup: Pipeline) -> None:
    [first] = await setup.pipeline.ingest([vendor("1-ABC-234")])
    [alert] = first.alerts
    assert alert.hit.match.value == "exact" and alert.state is AlertState.NEW
    [again] = await setup.pipeline.ingest([vendor("IABC234", at=T0 + timedelta(minutes=1))])
    assert [a.id for a in again.alerts] == [alert.id] and again.alerts[0].duplicates == 1
    [other_camera] = await setup.pipeline.ingest([vendor("1ABC234", camera="unit-7")])
    assert other_camera.alerts[0].id != alert.id
    later = T0 + timedelta(minutes=1) + FOLD_WINDOW + timedelta(seconds=1)
    [late] = await setup.pipeline.ingest([vendor("1ABC234", at=later)])
    assert late.alerts[0].id not in (alert.id, other_camera.alerts[0].id)


async def test_concurrent_reads_of_one_plate_raise_one_alert(setup: Pipeline) -> None:
    reads = [vendor("1ABC234", at=T0 + timedelta(seconds=i)) for i in range(20)]
    done = await setup.pipeline.ingest(reads)
    ids = {a.id for d in done for a in d.alerts}
    assert len(ids) == 1
    [alert] = await setup.store.alerts()
    assert alert.duplicates == 19


async def test_a_closed_alert_is_not_folded_into(setup: Pipeline) -> None:
    [first] = await setup.pipeline.ingest([vendor("1ABC234")])
    alert = first.alerts[0]
    rejected = await setup.store.transition_alert(alert.id, AlertState.REJECTED, "ann", T0,
                                                  reason=RejectReason.MISREAD)
    setup.pipeline.alert_changed(rejected)
    [again] = await setup.pipeline.ingest([vendor("1ABC234", at=T0 + timedelta(seconds=30))])
    assert again.alerts[0].id != alert.id and again.alerts[0].duplicates == 0


async def test_wildcard_entries_hit(setup: Pipeline) -> None:
    [done] = await setup.pipeline.ingest([vendor("9XYZ199")])
    assert [(a.hit.match.value, a.hit.entry.plate) for a in done.alerts] == [
        ("wildcard", "9XYZ*99")]


async def test_ingest_waits_for_hotlists_being_loaded(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    reads = ReadStore(store)
    await reads.start()
    ready = asyncio.Event()
    matcher = Matcher([entries_from([HotlistEntry("1ABC234", "stolen")], "t")])
    pipeline = ReadPipeline(reads, ReadImages(tmp_path), [RING], [], lambda: [matcher],
                            geotag=lambda v, t: Geotag(None, None, GeotagMethod.NO_FIX, None),
                            vehicle_of_camera=lambda c: None, known_vehicles=(), ready=ready)
    task = asyncio.create_task(pipeline.ingest([vendor("1ABC234")]))
    await asyncio.sleep(0.05)
    assert not task.done()
    ready.set()
    [done] = await asyncio.wait_for(task, 5)
    assert len(done.alerts) == 1
    await reads.close()
    await store.close()


async def test_every_read_is_timed_per_stage(setup: Pipeline) -> None:
    await setup.pipeline.ingest([vendor("1ABC234"), vendor("7QQQ777")], arrived=0.0)
    stages = setup.pipeline.stage_s
    assert [len(stages[s]) for s in ("to_store", "store", "publish")] == [2, 2, 2]
    # arrived=0.0 is long before now: the first stage carries the whole wait.
    assert min(stages["to_store"]) > 1.0
    assert all(0 <= t < 5.0 for s in ("store", "publish") for t in stages[s])
    assert len(setup.store.queue_wait_s) == 2 and len(setup.store.commit_s) >= 1
