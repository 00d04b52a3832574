"""drivers.onvif against real recorded camera responses (tests/data/onvif/), replayed on 127.0.0.1.

Expected values are read from the recorded XML here, never typed in by hand.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from lxml import etree

from drivers.errors import (
    DriverError,
    OnvifAuthError,
    OnvifError,
    OnvifProtocolError,
    OnvifTimeout,
    OnvifUnreachable,
)
from drivers.onvif import DEFAULT_TIMEOUT_S, OnvifDevice, warm_up
from drivers.onvif_support import camera_utc, display_url, posix_tz_offset, rewrite_media_uri
from drivers.onvif_support import rewrite_xaddr as _rewrite_xaddr

from .conftest import CAMERAS, DATA, TT, ReplayCamera, ReplayFactory, fault_status, fault_xml

TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
PASSWORD = "Pw-Z9x!unique-4711"

pytestmark = pytest.mark.timeout(60)


def xml(camera: str, name: str) -> etree._Element:
    return etree.parse(str(DATA / camera / name)).getroot()


def load(path: Path) -> bytes:
    return path.read_bytes()


def norm(text: str | None) -> str:
    return " ".join((text or "").split())


def expected_info(camera: str) -> dict[str, str]:
    root = xml(camera, "GetDeviceInformation.xml")
    return {
        name: norm(root.findtext(f".//{{{TDS}}}{name}"))
        for name in ("Manufacturer", "Model", "FirmwareVersion", "SerialNumber", "HardwareId")
    }


def expected_profiles(camera: str) -> list[tuple[str, str | None, int | None, int | None]]:
    root = xml(camera, "GetProfiles.xml")
    out = []
    for profile in root.iter(f"{{{TRT}}}Profiles"):
        encoder = profile.find(f"{{{TT}}}VideoEncoderConfiguration")
        encoding = width = height = None
        if encoder is not None:
            encoding = norm(encoder.findtext(f"{{{TT}}}Encoding")) or None
            width = int(encoder.findtext(f"{{{TT}}}Resolution/{{{TT}}}Width") or 0) or None
            height = int(encoder.findtext(f"{{{TT}}}Resolution/{{{TT}}}Height") or 0) or None
        out.append((profile.get("token") or "", encoding, width, height))
    return out


def recorded_uri(cam: ReplayCamera, camera: str, name: str) -> str | None:
    path = DATA / camera / name
    if not path.is_file():
        return None
    uri = etree.parse(str(path)).getroot().findtext(f".//{{{TT}}}Uri")
    return "".join(cam.rewrite(uri or "").split())


def recorded_clock(camera: str) -> dt.datetime:
    utc = xml(camera, "GetSystemDateAndTime.xml").find(f".//{{{TT}}}UTCDateTime")
    assert utc is not None

    def field(path: str) -> int:
        return int(utc.findtext(f"{{{TT}}}{path}") or 0)

    return dt.datetime(
        field(f"Date/{{{TT}}}Year"),
        field(f"Date/{{{TT}}}Month"),
        field(f"Date/{{{TT}}}Day"),
        field(f"Time/{{{TT}}}Hour"),
        field(f"Time/{{{TT}}}Minute"),
        field(f"Time/{{{TT}}}Second"),
        tzinfo=dt.UTC,
    )


def fault_subcodes(body: bytes) -> list[str]:
    root = etree.fromstring(body)
    values = root.iterfind(f".//{{{SOAP12}}}Subcode/{{{SOAP12}}}Value")
    return [norm(v.text).rsplit(":", 1)[-1] for v in values]


def all_faults() -> list[tuple[str, Path]]:
    return [
        (cam, path) for cam in CAMERAS for path in sorted((DATA / cam / "faults").glob("*.xml"))
    ]


# -- every camera, end to end -----------------------------------------------------------------


@pytest.mark.parametrize("camera", CAMERAS)
async def test_snapshot_matches_recording(replay: ReplayFactory, camera: str) -> None:
    cam = await replay(camera)
    async with OnvifDevice(cam.url, "admin", PASSWORD) as device:
        snap = await device.snapshot()

    info = expected_info(camera)
    assert snap.info.manufacturer == info["Manufacturer"]
    assert snap.info.model == info["Model"]
    assert snap.info.firmware_version == info["FirmwareVersion"]
    assert snap.info.serial_number == info["SerialNumber"]
    assert snap.info.hardware_id == info["HardwareId"]

    profiles = expected_profiles(camera)
    assert profiles, "fixture has profiles"
    assert [(p.token, p.encoding, p.width, p.height) for p in snap.profiles] == profiles

    assert snap.stream_uri == recorded_uri(cam, camera, "GetStreamUri.xml")
    # gsoap-camera's GetSnapshotUri answer is malformed (it lives in malformed/): no URI.
    assert snap.snapshot_uri == recorded_uri(cam, camera, "GetSnapshotUri.xml")

    expected_offset = recorded_clock(camera).timestamp() - time.time()
    assert snap.clock_offset_s is not None
    assert abs(snap.clock_offset_s - expected_offset) < 5

    assert snap.services
    for service in snap.services:
        assert service.xaddr.startswith(f"http://127.0.0.1:{cam.port}/"), service
    # Only the replay listener was ever asked; Axis faults on GetServices -> GetCapabilities.
    actions = [action for _path, action in cam.requests]
    assert actions[:2] == ["GetSystemDateAndTime", "GetServices"]
    faulted = (DATA / camera / "faults" / "GetServices.xml").is_file() and not (
        DATA / camera / "GetServices.xml"
    ).is_file()
    assert ("GetCapabilities" in actions) == faulted


@pytest.mark.parametrize("camera", ["axis-q6045-e", "hikvision-ds-2df7276-ael"])
async def test_private_xaddrs_are_rewritten_to_the_reached_address(
    replay: ReplayFactory, camera: str
) -> None:
    # The camera advertises a foreign address (TEST-NET-1, never routed) as if behind NAT;
    # the driver must stay on the host:port it reached.
    cam = await replay(camera, advertise="192.0.2.10:8080")
    async with OnvifDevice(cam.url, "admin", PASSWORD, timeout_s=2) as device:
        snap = await device.snapshot()
    for service in snap.services:
        assert urlsplit(service.xaddr).netloc == f"127.0.0.1:{cam.port}"
    assert snap.stream_uri is not None
    stream = urlsplit(snap.stream_uri)
    assert (stream.scheme, stream.hostname) == ("rtsp", "127.0.0.1")
    assert stream.port == 8080  # rtsp keeps its own port, only the host is ours
    assert snap.snapshot_uri is not None
    assert urlsplit(snap.snapshot_uri).netloc == f"127.0.0.1:{cam.port}"
    assert {path for path, _ in cam.requests} <= {urlsplit(s.xaddr).path for s in snap.services} | {
        "/onvif/device_service"
    }


# -- faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("camera", "fault"), all_faults(), ids=[f"{c}/{p.stem}" for c, p in all_faults()]
)
async def test_recorded_faults_become_typed_errors(
    replay: ReplayFactory, camera: str, fault: Path
) -> None:
    body = load(fault)
    cam = await replay(camera, overrides={"GetDeviceInformation": (fault_status(body), body)})
    subcodes = fault_subcodes(body)
    async with OnvifDevice(cam.url, "admin", PASSWORD, timeout_s=2) as device:
        with pytest.raises(OnvifError) as caught:
            await device.check()
    err = caught.value
    assert "GetDeviceInformation" in str(err)
    assert err.operation == "GetDeviceInformation"
    if "NotAuthorized" in subcodes:
        assert isinstance(err, OnvifAuthError)
    else:
        assert type(err) is OnvifProtocolError
        assert list(err.fault_subcodes) == subcodes
    assert isinstance(err.__cause__, Exception)
    assert PASSWORD not in str(err)


async def test_trendnet_real_not_authorized_answer(replay: ReplayFactory) -> None:
    body = load(DATA / "trendnet-tv-ip320pi" / "faults" / "GetDeviceInformation.xml")
    cam = await replay("trendnet-tv-ip320pi", overrides={"GetDeviceInformation": (400, body)})
    async with OnvifDevice(cam.url, "admin", PASSWORD) as device:
        with pytest.raises(OnvifAuthError, match="GetDeviceInformation"):
            await device.snapshot()


async def test_unknown_action_is_not_supported(replay: ReplayFactory) -> None:
    cam = await replay("gsoap-camera")
    async with OnvifDevice(cam.url, "admin", PASSWORD) as device:
        await device.connect()
        cam.folder = DATA / "malformed"  # has no GetProfiles: the replay answers ActionNotSupported
        with pytest.raises(OnvifProtocolError) as caught:
            await device.profiles()
    assert caught.value.not_supported
    assert str(caught.value).startswith("GetProfiles: SOAP fault")


# -- malformed XML --------------------------------------------------------------------------------

MALFORMED = sorted((DATA / "malformed").glob("*.xml"))


async def _call_op(device: OnvifDevice, operation: str) -> Any:
    if operation == "GetSystemDateAndTime":
        return await device.clock_offset()
    if operation == "GetCapabilities":
        return await device.connect()
    if operation == "GetDeviceInformation":
        return await device.check()
    if operation == "GetProfiles":
        return await device.profiles()
    if operation == "GetStreamUri":
        return await device.stream_uri("main")
    if operation == "GetSnapshotUri":
        return await device.snapshot_uri("main")
    raise AssertionError(operation)


@pytest.mark.parametrize(
    "operation",
    [
        "GetSystemDateAndTime",
        "GetCapabilities",
        "GetDeviceInformation",
        "GetProfiles",
        "GetStreamUri",
        "GetSnapshotUri",
    ],
)
@pytest.mark.parametrize("bad", MALFORMED, ids=[p.name for p in MALFORMED])
async def test_malformed_xml_is_a_protocol_error_naming_the_operation(
    replay: ReplayFactory, bad: Path, operation: str
) -> None:
    overrides = {operation: (200, load(bad))}
    if operation == "GetCapabilities":  # reached only when GetServices fails, like on an Axis
        overrides["GetServices"] = (500, fault_xml("Receiver", "ActionNotSupported", "X", "no"))
    cam = await replay("gsoap-camera", overrides=overrides)
    async with OnvifDevice(cam.url, "admin", PASSWORD, timeout_s=2) as device:
        with pytest.raises(OnvifProtocolError) as caught:
            await asyncio.wait_for(_call_op(device, operation), 10)
    assert str(caught.value).startswith(f"{operation}: ")
    assert "well-formed" in str(caught.value)


async def test_malformed_snapshot_uri_does_not_fail_the_snapshot(replay: ReplayFactory) -> None:
    bad = load(DATA / "malformed" / "GetSnapshotUri.xml")
    cam = await replay("hikvision-ds-2cd2012-i", overrides={"GetSnapshotUri": (200, bad)})
    async with OnvifDevice(cam.url, "admin", PASSWORD) as device:
        snap = await device.snapshot()
    assert snap.snapshot_uri is None
    assert snap.stream_uri == recorded_uri(cam, "hikvision-ds-2cd2012-i", "GetStreamUri.xml")


# -- network failures ---------------------------------------------------------------------------


async def test_closed_port_is_unreachable_quickly(closed_port_url: str) -> None:
    started = time.perf_counter()
    async with OnvifDevice(closed_port_url, "admin", PASSWORD, timeout_s=3) as device:
        with pytest.raises(OnvifUnreachable, match="GetSystemDateAndTime"):
            await device.snapshot()
    assert time.perf_counter() - started < 1.5


async def test_silent_server_times_out_within_timeout(silent_server: str) -> None:
    started = time.perf_counter()
    async with OnvifDevice(silent_server, "admin", PASSWORD, timeout_s=0.5) as device:
        with pytest.raises(OnvifTimeout, match="GetSystemDateAndTime"):
            await device.connect()
    assert 0.4 < time.perf_counter() - started < 1.5


async def test_slow_answer_times_out(replay: ReplayFactory) -> None:
    cam = await replay("hikvision-ds-2cd2012-i")
    async with OnvifDevice(cam.url, "admin", PASSWORD, timeout_s=0.4) as device:
        await device.connect()
        cam.delay_s = 2
        started = time.perf_counter()
        with pytest.raises(OnvifTimeout, match="GetDeviceInformation"):
            await device.check()
        assert time.perf_counter() - started < 1.2


def test_default_timeout_is_sane() -> None:
    assert 1 <= DEFAULT_TIMEOUT_S <= 10


# -- WS-Security, clock, password changes -------------------------------------------------------


@pytest.mark.parametrize("offset_s", [3 * 3600.0, -5.5 * 3600, 0.0])
async def test_camera_hours_off_still_authenticates(replay: ReplayFactory, offset_s: float) -> None:
    cam = await replay(
        "hikvision-ds-2df7276-ael", clock_offset_s=offset_s, credentials=("admin", PASSWORD)
    )
    async with OnvifDevice(cam.url, "admin", PASSWORD) as device:
        snap = await device.snapshot()
        assert snap.clock_offset_s is not None
        assert abs(snap.clock_offset_s - offset_s) < 2
        assert snap.info.model == expected_info("hikvision-ds-2df7276-ael")["Model"]
        assert (await device.check()).model == snap.info.model


async def test_check_notices_password_change_and_closed_port(replay: ReplayFactory) -> None:
    cam = await replay("axis-q6045-e", clock_offset_s=7200.0, credentials=("root", PASSWORD))
    async with OnvifDevice(cam.url, "root", PASSWORD, timeout_s=2) as device:
        await device.snapshot()
        await device.check()
        cam.credentials = ("root", "changed-by-someone")
        with pytest.raises(OnvifAuthError, match="GetDeviceInformation"):
            await device.check()
        cam.credentials = ("root", PASSWORD)
        await device.check()
        await cam.stop()
        started = time.perf_counter()
        with pytest.raises(OnvifUnreachable, match="GetDeviceInformation"):
            await device.check()
        assert time.perf_counter() - started < 1.5


async def test_wrong_password_is_an_auth_error(replay: ReplayFactory) -> None:
    cam = await replay("hikvision-ds-2cd2012-i", credentials=("admin", "the-real-one"))
    async with OnvifDevice(cam.url, "admin", PASSWORD) as device:
        with pytest.raises(OnvifAuthError):
            await device.snapshot()


async def test_local_time_only_clock_uses_the_posix_zone(replay: ReplayFactory) -> None:
    # A camera that reports only LocalDateTime (no UTCDateTime, times without time zone).
    root = xml("hikvision-ds-2cd2012-i", "GetSystemDateAndTime.xml")
    utc = root.find(f".//{{{TT}}}UTCDateTime")
    assert utc is not None
    utc.getparent().remove(utc)  # type: ignore[union-attr]
    body = etree.tostring(root)
    cam = await replay("hikvision-ds-2cd2012-i", overrides={"GetSystemDateAndTime": (200, body)})
    local = root.find(f".//{{{TT}}}LocalDateTime")
    assert local is not None
    async with OnvifDevice(cam.url, "admin", PASSWORD) as device:
        snap = await device.snapshot()
    tz = norm(root.findtext(f".//{{{TT}}}TZ"))  # "CST7:00:00": UTC = local + 7 h
    assert tz.startswith("CST7")
    local_dt = dt.datetime(
        *(int(local.findtext(f".//{{{TT}}}{n}") or 0) for n in ("Year", "Month", "Day")),
        *(int(local.findtext(f".//{{{TT}}}{n}") or 0) for n in ("Hour", "Minute", "Second")),
        tzinfo=dt.UTC,
    )
    expected = (local_dt + dt.timedelta(hours=7)).timestamp() - time.time()
    assert snap.clock_offset_s is not None
    assert abs(snap.clock_offset_s - expected) < 5


async def test_missing_clock_is_tolerated_by_connect(replay: ReplayFactory) -> None:
    body = fault_xml("Receiver", "ActionNotSupported", "X", "no clock")
    cam = await replay("gsoap-camera", overrides={"GetSystemDateAndTime": (500, body)})
    async with OnvifDevice(cam.url, "admin", PASSWORD) as device:
        snap = await device.snapshot()
        assert snap.clock_offset_s is None
        with pytest.raises(OnvifProtocolError, match="GetSystemDateAndTime"):
            await device.clock_offset()


# -- secrets and logging ----------------------------------------------------------------------


async def test_password_never_in_errors_or_logs(
    replay: ReplayFactory,
    closed_port_url: str,
    silent_server: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    bad = load(DATA / "malformed" / "Error.xml")
    cam = await replay(
        "axis-q6045-e",
        credentials=("root", "other"),
        overrides={"GetSystemDateAndTime": (200, bad)},
    )
    url_with_secret = cam.url.replace("http://", f"http://root:{PASSWORD}@")
    for url, timeout_s in ((url_with_secret, 2.0), (closed_port_url, 2.0), (silent_server, 0.3)):
        async with OnvifDevice(url, "root", PASSWORD, timeout_s=timeout_s) as device:
            assert PASSWORD not in repr(device) and PASSWORD not in device.url
            for call in (device.snapshot, device.check, device.clock_offset):
                with pytest.raises(DriverError) as caught:
                    await call()
                errors.append(caught.value)
    kinds = {type(e) for e in errors}
    assert {OnvifAuthError, OnvifUnreachable, OnvifTimeout, OnvifProtocolError} <= kinds
    for err in errors:
        chain: BaseException | None = err
        while chain is not None:
            assert PASSWORD not in str(chain) and PASSWORD not in repr(chain)
            chain = chain.__cause__
    assert PASSWORD not in caplog.text
    assert any(r.name == "drivers.onvif" for r in caplog.records)


def test_importing_the_driver_leaves_root_logging_alone() -> None:
    code = "import logging, drivers.onvif; r = logging.getLogger(); print(len(r.handlers), r.level)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path.cwd()
    ).stdout.split()
    assert out == ["0", str(logging.WARNING)]


# -- helpers ------------------------------------------------------------------------------------


def test_rewrite_rules() -> None:
    device = urlsplit("http://127.0.0.1:8123/onvif/device_service")
    rewrite = _rewrite_xaddr
    assert rewrite(" http://10.0.0.5/onvif/Media\n", device) == "http://127.0.0.1:8123/onvif/Media"
    assert rewrite("http://127.0.0.1:80/onvif/PTZ", device) == "http://127.0.0.1:8123/onvif/PTZ"
    assert rewrite("http://127.0.0.1:8123:8123/x?a=1", device) == "http://127.0.0.1:8123/x?a=1"
    assert rewrite("http://127.0.0.1:8123/onvif/x", device) == "http://127.0.0.1:8123/onvif/x"
    assert rewrite("not a url", device) is None
    assert (
        rewrite_media_uri("rtsp://u:p@192.168.1.9:554/s?x=1", device)
        == "rtsp://u:p@127.0.0.1:554/s?x=1"
    )
    assert rewrite_media_uri("http://192.168.1.9/snap", device) == "http://127.0.0.1:8123/snap"
    assert rewrite_media_uri("rtsp://127.0.0.1:8554/live", device) == "rtsp://127.0.0.1:8554/live"
    assert display_url("http://admin:pw@10.0.0.1:80/onvif?user=a&pass=b") == (
        "http://10.0.0.1:80/onvif"
    )


def test_posix_time_zones_of_the_recordings() -> None:
    hours = {
        "CST7:00:00": 7,
        "CST+7:00:00DST01:00:00,M3.2.0/02:00:00,M11.1.0/02:00:00": 7,
        "MST7MDT,M3.2.0,M11.1.0": 7,
        "CET-1CEST,M3.5.0,M10.5.0/3": -1,
        "<+0530>-5:30": -5.5,
    }
    for tz, h in hours.items():
        assert posix_tz_offset(tz) == dt.timedelta(hours=h), tz
    assert posix_tz_offset("MoroccoStandardTime0") == dt.timedelta(0)
    assert posix_tz_offset("") is None

    class Clock:
        UTCDateTime = None
        LocalDateTime = None

    with pytest.raises(ValueError):
        camera_utc(Clock())


def test_bad_url_is_rejected() -> None:
    with pytest.raises(ValueError):
        OnvifDevice("rtsp://127.0.0.1/x", "a", "b")


# -- many devices at once -------------------------------------------------------------------------


async def test_fifty_devices_connect_concurrently(replay: ReplayFactory) -> None:
    await asyncio.to_thread(warm_up)
    cams = [await replay(camera) for camera in CAMERAS]
    devices = [OnvifDevice(cams[i % len(cams)].url, "admin", PASSWORD) for i in range(50)]
    started = time.perf_counter()
    snaps = await asyncio.gather(*(d.snapshot() for d in devices))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(d.close() for d in devices))
    assert all(s.profiles for s in snaps)
    assert elapsed < 10, elapsed
