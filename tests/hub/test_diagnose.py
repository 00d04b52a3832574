"""`citywatch diagnose`: the real driver against simulated cameras and replayed real ones."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from lxml import etree

import hub.diagnose
from hub.diagnose import Report, diagnose, redact_uri
from hub.diagnose_command import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_UNREACHABLE,
    add_diagnose_parser,
    format_report,
    run_diagnose,
    split_url,
)
from simulator.city import SimulatedCity
from simulator.clock import VirtualClock
from simulator.model import CameraFault, StreamProfile
from simulator.onvif_camera import SimulatedCamera
from simulator.rtsp_server import RtspServer
from simulator.scenario import load_scenario
from simulator.stream_faults import StreamFault
from tests.conftest import PASSWORD, USER, StartCamera, make_spec
from tests.drivers.conftest import CAMERAS, DATA, TT, ReplayCamera, free_port

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "scenarios" / "small.toml"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
REPORT_KEYS = {"device", "clock_offset_s", "services", "profiles", "ptz", "events", "stream",
               "findings"}
PROFILE_KEYS = {"token", "name", "encoding", "width", "height", "fps", "stream_uri",
                "snapshot_uri"}


@pytest.fixture
def clock() -> VirtualClock:
    # Our real time: a camera's clock offset is then what the camera is set to be off.
    return VirtualClock(datetime.now(UTC))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="citywatch")
    add_diagnose_parser(root.add_subparsers(dest="command"))
    return root


def run(*argv: str) -> tuple[int, str, str]:
    """`citywatch diagnose ARGV` (it runs an event loop of its own)."""
    args = parser().parse_args(["diagnose", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = run_diagnose(args, out, err)
    return code, out.getvalue(), err.getvalue()


async def run_async(*argv: str) -> tuple[int, str, str]:
    """`run` off the event loop, which serves the simulated cameras meanwhile."""
    return await asyncio.to_thread(run, *argv)


def codes(report: Report | dict[str, Any]) -> set[str]:
    if isinstance(report, Report):
        return {f.code for f in report.findings}
    return {f["code"] for f in report["findings"]}


# -- simulated city -------------------------------------------------------------------------


@pytest.fixture
async def city(video_cache: Path) -> AsyncIterator[SimulatedCity]:
    # Starting now: the cameras' clocks then agree with ours, as a healthy city's do.
    scenario = dataclasses.replace(load_scenario(SMALL), start=datetime.now(UTC))
    c = SimulatedCity(scenario, video_cache_dir=video_cache, prewarm=False)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


@pytest.fixture(scope="session")
def video_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.getbasetemp() / "citywatch-video"
    path.mkdir(exist_ok=True)
    return path


def with_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return parts._replace(netloc=netloc).geturl()


async def test_healthy_city_camera_json(city: SimulatedCity) -> None:
    cam = city.cameras["dump-001"]  # 1280x720 main stream: the cheapest to encode
    spec = cam.spec
    code, out, err = await run_async(
        with_user(cam.onvif_url, spec.username, spec.password), "--json"
    )
    assert err == ""
    report = json.loads(out)
    assert set(report) == REPORT_KEYS
    assert report["device"] == {
        "manufacturer": spec.vendor.manufacturer,
        "model": spec.vendor.model,
        "firmware": spec.vendor.firmware,
        "serial": cam.serial,
        "hardware": spec.vendor.hardware_id,
    }
    assert [p["token"] for p in report["profiles"]] == [p.token for p in spec.profiles]
    for entry, profile in zip(report["profiles"], spec.profiles, strict=True):
        assert set(entry) == PROFILE_KEYS
        assert (entry["encoding"], entry["width"], entry["height"], entry["fps"]) == (
            profile.encoding, profile.width, profile.height, float(profile.fps))
        assert entry["stream_uri"] == cam.stream_uri_for(profile.token)
        assert entry["snapshot_uri"] == cam.snapshot_url_for(profile.token)
    stream = report["stream"]
    main = spec.profiles[0]
    assert stream["codec"] == "h264"
    assert (stream["width"], stream["height"]) == (main.width, main.height)
    assert stream["packets"] > 0 and abs(stream["fps"] - main.fps) < 3
    assert report["ptz"] is False
    assert all(s["xaddr"].startswith(cam.base_url) for s in report["services"])
    # A healthy camera: nothing worth a finding; its event service offers PullPoint.
    assert codes(report) == set()
    assert report["events"]["pullpoint"] is True
    assert {"tns1:VideoSource/MotionAlarm", "tns1:Device/Trigger/DigitalInput"} <= set(
        report["events"]["topics"])
    assert code == EXIT_OK
    assert spec.password not in out


async def test_offline_stream_is_an_error(city: SimulatedCity) -> None:
    cam = city.cameras["dump-001"]
    await city.set_stream_fault("dump-001", StreamFault.OFFLINE, True)
    code, out, _ = await run_async(cam.onvif_url, "--user", cam.spec.username, "--password",
                                   cam.spec.password, "--json")
    report = json.loads(out)
    assert code == EXIT_FINDINGS
    assert report["stream"] is None
    [finding] = [f for f in report["findings"] if f["code"] == "stream_failed"]
    assert finding["severity"] == "error" and "profile_1" in finding["message"]
    assert cam.spec.password not in out


async def test_offline_camera_is_unreachable(city: SimulatedCity) -> None:
    cam = city.cameras["centre-002"]  # offline from the start (small.toml)
    code, out, err = await run_async(cam.onvif_url, "--user", cam.spec.username,
                                     "--password", cam.spec.password)
    assert (code, out) == (EXIT_UNREACHABLE, "")
    assert err.count("\n") == 1 and "unreachable" in err and "Traceback" not in err


# -- single simulated cameras ---------------------------------------------------------------


async def test_clock_an_hour_off_is_reported_and_login_still_works(
    start_camera: StartCamera,
) -> None:
    cam = await start_camera(make_spec(clock_offset_s=3600))
    report = await diagnose(cam.onvif_url, USER, PASSWORD)
    assert report.clock_offset_s is not None
    assert abs(report.clock_offset_s - 3600) < 5
    assert report.device.manufacturer == cam.spec.vendor.manufacturer  # logged in
    [drift] = [f for f in report.findings if f.code == "clock_drift"]
    assert drift.severity == "warning"
    said = re.search(r"\(([+-]\d+\.\d) s\)", drift.message)
    assert said is not None and abs(float(said.group(1)) - 3600) < 5, drift.message
    assert len(report.profiles) == 2


async def test_wrong_password_exits_2_without_leaking(start_camera: StartCamera) -> None:
    cam = await start_camera(make_spec())
    wrong = "Wr0ng-Pa55!"
    code, out, err = await run_async(cam.onvif_url, "--user", USER, "--password", wrong)
    assert (code, out) == (EXIT_UNREACHABLE, "")
    assert err.startswith("citywatch diagnose: login refused") and err.count("\n") == 1
    assert wrong not in err and PASSWORD not in err and "Traceback" not in err


async def test_password_changed_on_the_camera_exits_2(start_camera: StartCamera) -> None:
    cam = await start_camera(make_spec(faults=frozenset({CameraFault.WRONG_PASSWORD})))
    code, _, err = await run_async(with_user(cam.onvif_url, USER, PASSWORD))
    assert code == EXIT_UNREACHABLE and "login refused" in err and PASSWORD not in err


async def test_closed_port_exits_2() -> None:
    url = f"http://127.0.0.1:{free_port()}/onvif/device_service"
    code, out, err = await run_async(url, "--user", USER, "--password", PASSWORD, "--json")
    assert (code, out) == (EXIT_UNREACHABLE, "")
    assert "unreachable" in err and err.count("\n") == 1


async def test_password_from_the_environment(
    start_camera: StartCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    cam = await start_camera(make_spec())
    monkeypatch.setenv("CITYWATCH_PASSWORD", PASSWORD)
    # No RTSP server behind this camera: its stream fails, which is an error finding.
    code, out, err = await run_async(cam.base_url, "--user", USER, "--json")
    assert err == ""
    report = json.loads(out)
    assert report["device"]["model"] == cam.spec.vendor.model
    assert "stream_failed" in codes(report)
    assert code == EXIT_FINDINGS


async def test_h265_only_camera_stream_is_probed(
    clock: VirtualClock, tmp_path_factory: pytest.TempPathFactory
) -> None:
    rtsp = RtspServer(clock, cache_dir=tmp_path_factory.getbasetemp() / "citywatch-video")
    spec = dataclasses.replace(
        make_spec(), profiles=(StreamProfile("hevc_sub", "sub", 320, 180, 10, "H265", 256),)
    )
    cam = SimulatedCamera(spec, clock, rtsp=rtsp)
    await rtsp.start()
    await cam.start()
    try:
        report = await diagnose(cam.onvif_url, USER, PASSWORD)
    finally:
        await cam.stop()
        await rtsp.stop()
    assert "h265_only" in codes(report) and "stream_failed" not in codes(report)
    assert [(p.token, p.encoding) for p in report.profiles] == [("hevc_sub", "H265")]
    assert report.stream is not None
    assert (report.stream.codec, report.stream.width, report.stream.height) == ("hevc", 320, 180)
    assert report.stream.fps is not None and abs(report.stream.fps - 10) < 1.5


async def test_event_service_with_pullpoint_and_topics(start_camera: StartCamera) -> None:
    cam = await start_camera(make_spec())
    cam.event_service = True
    cam.response_cache.clear()
    report = await diagnose(cam.onvif_url, USER, PASSWORD)
    assert report.pullpoint
    assert "tns1:RuleEngine/Recognition/LicensePlate" in report.topics
    assert "no_pullpoint" not in codes(report)
    assert not cam.events.subscriptions  # the test subscription was given back


async def test_camera_without_events_has_no_pullpoint(start_camera: StartCamera) -> None:
    cam = await start_camera(make_spec())
    report = await diagnose(cam.onvif_url, USER, PASSWORD)
    assert not report.pullpoint and report.topics == ()
    [finding] = [f for f in report.findings if f.code == "no_pullpoint"]
    assert finding.severity == "warning"


async def test_snapshot_slow_and_stalling(
    start_camera: StartCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    cam = await start_camera(make_spec())
    monkeypatch.setattr(hub.diagnose, "SNAPSHOT_SLOW_S", 0.0)
    report = await diagnose(cam.onvif_url, USER, PASSWORD)
    assert report.snapshot is not None and report.snapshot.width == 1280
    assert "snapshot_slow" in codes(report)
    # A camera whose answers take longer than the snapshot bound: broken, an error.
    monkeypatch.setattr(hub.diagnose, "SNAPSHOT_TIMEOUT_S", 0.2)
    await cam.set_fault(CameraFault.SLOW, True)  # 0.3 s per answer (make_spec)
    report = await diagnose(cam.onvif_url, USER, PASSWORD)
    [broken] = [f for f in report.findings if f.code == "snapshot_broken"]
    assert broken.severity == "error" and "0.2 s" in broken.message


async def test_readable_report_has_aligned_sections(start_camera: StartCamera) -> None:
    cam = await start_camera(make_spec(clock_offset_s=-30))
    text = format_report(await diagnose(cam.onvif_url, USER, PASSWORD))
    lines = text.splitlines()
    labels = [line.split(" ", 1)[0] for line in lines if line[:1] != " "]
    assert labels == ["Camera", "Device", "Clock", "Services", "Profiles", "Snapshots", "PTZ",
                      "Events", "Stream", "Findings", "Result"]
    # every value starts in the same column
    assert {len(line) - len(line[11:]) for line in lines} == {11}
    assert all(line[10] == " " for line in lines)
    assert "manufacturer  AXIS" in text
    assert "WARNING  clock_drift" in text and "ERROR    stream_failed" in text
    assert text.splitlines()[-1].startswith("Result     errors found: 1 errors")
    assert PASSWORD not in text


def test_split_url() -> None:
    assert split_url("http://u%40x:p%3Aw@10.0.0.5:8080") == (
        "http://10.0.0.5:8080/onvif/device_service", "u@x", "p:w")
    assert split_url("10.0.0.5/onvif/services") == ("http://10.0.0.5/onvif/services", None, None)
    with pytest.raises(ValueError):
        split_url("rtsp://10.0.0.5/stream")


def test_bad_url_exits_2() -> None:
    code, out, err = run("ftp://camera/x")
    assert (code, out) == (EXIT_UNREACHABLE, "") and "http(s)" in err


# -- replay of recorded real cameras -------------------------------------------------------

Replay = Callable[..., Awaitable[ReplayCamera]]


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    started: list[ReplayCamera] = []

    async def start(camera: str, **kwargs: Any) -> ReplayCamera:
        cam = ReplayCamera(DATA / camera, **kwargs)
        await cam.start()
        started.append(cam)
        return cam

    yield start
    for cam in started:
        await cam.stop()


def recorded(camera: str, name: str) -> etree._Element:
    return etree.parse(str(DATA / camera / name)).getroot()


def norm(text: str | None) -> str:
    return " ".join((text or "").split())


@pytest.mark.parametrize("camera", CAMERAS)
async def test_replayed_real_camera_reports_what_was_recorded(
    replay: Replay, camera: str
) -> None:
    cam = await replay(camera, clock_offset_s=0.0)
    code, out, err = await run_async(cam.url, "--user", "admin", "--password", "x", "--json")
    assert "Traceback" not in err
    report = json.loads(out)
    info = recorded(camera, "GetDeviceInformation.xml")
    assert report["device"] == {
        key: norm(info.findtext(f".//{{{TDS}}}{name}"))
        for key, name in (("manufacturer", "Manufacturer"), ("model", "Model"),
                          ("firmware", "FirmwareVersion"), ("serial", "SerialNumber"),
                          ("hardware", "HardwareId"))
    }
    profiles = recorded(camera, "GetProfiles.xml")
    expected = []
    for profile in profiles.iter(f"{{{TRT}}}Profiles"):
        encoder = profile.find(f"{{{TT}}}VideoEncoderConfiguration")
        assert encoder is not None
        expected.append((
            profile.get("token"), norm(profile.findtext(f"{{{TT}}}Name")),
            norm(encoder.findtext(f"{{{TT}}}Encoding")),
            int(encoder.findtext(f"{{{TT}}}Resolution/{{{TT}}}Width") or 0),
            int(encoder.findtext(f"{{{TT}}}Resolution/{{{TT}}}Height") or 0),
        ))
    assert [(p["token"], p["name"], p["encoding"], p["width"], p["height"])
            for p in report["profiles"]] == expected
    # The camera was recorded answering GetStreamUri once: that URI, for every profile,
    # with the recorded LAN address replaced by the replay listener's.
    uri = recorded(camera, "GetStreamUri.xml").findtext(f".//{{{TT}}}Uri")
    stream_uri = "".join(cam.rewrite(uri or "").split())
    assert stream_uri.startswith("rtsp://127.0.0.1")
    assert {p["stream_uri"] for p in report["profiles"]} == {stream_uri}
    assert abs(report["clock_offset_s"]) < 5
    # Nothing plays RTSP behind a replay: the stream is an error, so exit 1, not a crash.
    assert "stream_failed" in codes(report)
    assert code == EXIT_FINDINGS


@pytest.mark.parametrize("camera", ["axis-q6045-e", "hikvision-ds-2df7276-ael"])
async def test_replayed_camera_behind_nat_reports_foreign_xaddrs(
    replay: Replay, camera: str
) -> None:
    # XAddrs advertise an address we cannot reach (TEST-NET-1, never routed).
    cam = await replay(camera, advertise="192.0.2.10:8080")
    report = await diagnose(cam.url, "admin", "x")
    [finding] = [f for f in report.findings if f.code == "xaddr_unreachable"]
    assert "192.0.2.10:8080" in finding.message and f"127.0.0.1:{cam.port}" in finding.message
    assert finding.severity == "warning"
    # ... and the diagnosis went on at the reached address.
    assert all(urlsplit(s.xaddr).netloc == f"127.0.0.1:{cam.port}" for s in report.services)
    assert report.profiles and report.device.model
    assert report.ptz  # both are PTZ domes, advertising the PTZ service


async def test_replayed_camera_with_private_xaddr_reports_private(replay: Replay) -> None:
    cam = await replay("hikvision-ds-2cd2012-i", advertise="192.168.1.64")
    report = await diagnose(cam.url, "admin", "x")
    [finding] = [f for f in report.findings if f.code == "xaddr_unreachable"]
    assert "private" in finding.message and "192.168.1.64:80" in finding.message


def test_uris_lose_their_secrets_but_nothing_else() -> None:
    secret = "S3cret&<pass>"
    assert redact_uri(f"rtsp://admin:{quote(secret)}@10.0.0.5/live?x=1", secret) == (
        "rtsp://admin:***@10.0.0.5/live?x=1")
    assert redact_uri(f"http://10.0.0.5/snap.jpg?user=admin&pwd={quote(secret)}", secret) == (
        "http://10.0.0.5/snap.jpg?user=admin&pwd=***")
    # A short password is not hunted for in ordinary text ("1280x720" stays readable).
    assert redact_uri("http://10.0.0.5/image.cgi?resolution=1280x720", "x") == (
        "http://10.0.0.5/image.cgi?resolution=1280x720")
