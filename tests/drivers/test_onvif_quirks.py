"""drivers.onvif against simulated cameras with real vendors' quirks (issue 4): each test
points the real driver at a camera with one quirk and checks it still gets the right values."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from drivers.errors import OnvifAuthError, OnvifTimeout
from drivers.onvif import OnvifDevice
from drivers.onvif_events import OnvifPlateEvents
from drivers.onvif_snapshot import fetch_snapshot
from drivers.onvif_support import rewrite_media_uri
from simulator.model import CameraFault, CameraQuirk, CameraSpec
from simulator.onvif_camera import SimulatedCamera
from simulator.onvif_services import naive_clock_shape
from tests.conftest import PASSWORD, USER, StartCamera, make_spec

pytestmark = pytest.mark.timeout(60)


def quirky(*quirks: CameraQuirk, cam_id: str = "hst-cam-007", **kwargs: object) -> CameraSpec:
    return dataclasses.replace(make_spec(cam_id, **kwargs),  # type: ignore[arg-type]
                               quirks=frozenset(quirks))


def expected_offset(cam: SimulatedCamera) -> float:
    """Camera clock minus ours, as the driver should measure it."""
    return (cam.camera_now() - datetime.now(UTC)).total_seconds()


def id_with_shape(shape: str) -> str:
    return next(f"cam-{n}" for n in range(100) if naive_clock_shape(f"cam-{n}") == shape)


@pytest.mark.parametrize("shape", ["empty_tz", "local_only"])
async def test_naive_time_is_taken_as_utc(start_camera: StartCamera, shape: str) -> None:
    cam = await start_camera(quirky(CameraQuirk.NAIVE_TIME, cam_id=id_with_shape(shape),
                                    clock_offset_s=3600))
    async with OnvifDevice(cam.onvif_url, USER, PASSWORD) as device:
        offset = await device.clock_offset()
        assert abs(offset - expected_offset(cam)) < 2
        # WS-Security dated on that clock is accepted: the login works.
        snap = await device.snapshot()
        assert snap.info.model == cam.spec.vendor.model
        assert snap.clock_offset_s is not None


async def test_naive_times_in_answers_are_utc(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.NAIVE_TIME))
    cam.ptz = True
    async with OnvifDevice(cam.onvif_url, USER, PASSWORD) as device:
        status = await device.ptz().status()
    assert status.utc_time is not None and status.utc_time.tzinfo is not None
    assert abs((status.utc_time - cam.camera_now()).total_seconds()) < 2


async def test_naive_plate_event_times_are_utc(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.NAIVE_TIME))
    cam.event_service = True
    cam.response_cache.clear()
    at = datetime(2025, 3, 14, 8, 31, 2, 125000, tzinfo=UTC)
    async with OnvifPlateEvents(cam.onvif_url, USER, PASSWORD, pull_timeout_s=2) as events:
        await events.subscribe()
        cam.publish_plate("1-ABC-123", at, "BE", 0.87)
        async with asyncio.timeout(5):
            reads = await events.pull()
    assert [(r.plate, r.at) for r in reads] == [("1-ABC-123", at)]


async def test_digest_only_camera(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.DIGEST_ONLY))
    async with OnvifDevice(cam.onvif_url, USER, PASSWORD) as device:
        snap = await device.snapshot()
        info = await device.check()
    assert snap.info.model == info.model == cam.spec.vendor.model
    assert [p.token for p in snap.profiles] == [p.token for p in cam.spec.profiles]
    assert snap.stream_uri == cam.stream_uri_for(cam.spec.profiles[0].token)
    assert snap.clock_offset_s is not None
    assert abs(snap.clock_offset_s - expected_offset(cam)) < 2
    shot = await fetch_snapshot(snap.snapshot_uri or "", USER, PASSWORD)
    assert shot.auth == "digest" and shot.digest_only


async def test_digest_only_camera_with_a_wrong_password(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.DIGEST_ONLY))
    async with OnvifDevice(cam.onvif_url, USER, PASSWORD + "x") as device:
        with pytest.raises(OnvifAuthError):
            await device.snapshot()
    async with OnvifDevice(cam.onvif_url, USER, PASSWORD) as device:
        await device.check()
        await cam.set_fault(CameraFault.WRONG_PASSWORD, True)
        with pytest.raises(OnvifAuthError):
            await device.check()


@pytest.mark.parametrize("quirk", [CameraQuirk.NAT_XADDR, CameraQuirk.WRONG_PORT_XADDR])
async def test_foreign_xaddrs_are_rewritten(start_camera: StartCamera,
                                            quirk: CameraQuirk) -> None:
    cam = await start_camera(quirky(quirk))
    cam.ptz = True
    async with OnvifDevice(cam.onvif_url, USER, PASSWORD) as device:
        snap = await device.snapshot()
        main = cam.spec.profiles[0].token
        assert {s.xaddr for s in snap.services} == {
            cam.onvif_url, cam.media_url, cam.ptz_url
        }
        assert snap.stream_uri == cam.stream_uri_for(main)
        assert snap.snapshot_uri == cam.snapshot_url_for(main)
        status = await device.ptz().status()  # the PTZ XAddr was advertised foreign too
        assert status.pan is not None
    shot = await fetch_snapshot(snap.snapshot_uri or "", USER, PASSWORD)
    assert shot.width > 0


async def test_getcapabilities_failing_is_not_needed(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.GETCAPABILITIES_FAILS))
    cam.ptz = True
    async with OnvifDevice(cam.onvif_url, USER, PASSWORD) as device:
        snap = await device.snapshot()
        presets = await device.ptz().presets()
    assert {s.xaddr for s in snap.services} == {cam.onvif_url, cam.media_url, cam.ptz_url}
    assert snap.stream_uri == cam.stream_uri_for(cam.spec.profiles[0].token)
    assert presets[0].name == "Overview"


async def test_h265_only_profiles(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.H265_ONLY))
    async with OnvifDevice(cam.onvif_url, USER, PASSWORD) as device:
        snap = await device.snapshot()
    assert [(p.token, p.encoding) for p in snap.profiles] == [
        ("profile_main", "H265"), ("profile_sub", "H265")
    ]


async def test_stalled_snapshot_gives_up_in_time(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.SNAPSHOT_STALL))
    async with OnvifDevice(cam.onvif_url, USER, PASSWORD) as device:
        snap = await device.snapshot()
    assert snap.snapshot_uri == cam.snapshot_url
    started = time.monotonic()
    with pytest.raises(OnvifTimeout) as caught:
        await fetch_snapshot(cam.snapshot_url, USER, PASSWORD, timeout_s=1.0)
    assert time.monotonic() - started < 2.0
    assert "stalled" in caught.value.message and "0 of " in caught.value.message
    assert PASSWORD not in str(caught.value)


def test_media_uris_follow_a_wrong_port_only_when_the_device_service_has_it() -> None:
    device = urlsplit("http://10.1.2.3:8080/onvif/device_service")
    wrong = frozenset({("10.1.2.3", 80)})
    uri = "http://10.1.2.3/snapshot/1.jpg?x=1"
    assert rewrite_media_uri(uri, device, wrong) == "http://10.1.2.3:8080/snapshot/1.jpg?x=1"
    # Without that evidence, another port of the same host is the camera's own choice
    # (cheap cameras serve ONVIF on 8899 and snapshots on 80).
    assert rewrite_media_uri(uri, device) == uri
    rtsp = "rtsp://10.1.2.3:554/stream1"
    assert rewrite_media_uri(rtsp, device, wrong) == rtsp
