"""`citywatch diagnose` names each vendor quirk of a simulated camera as a finding (issue 4),
and still reports the camera's facts right."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime

import pytest

import hub.diagnose
from hub.diagnose import Finding, Report, diagnose
from hub.diagnose_command import EXIT_FINDINGS, format_report
from simulator.clock import VirtualClock
from simulator.model import CameraQuirk, CameraSpec
from tests.conftest import PASSWORD, USER, StartCamera, make_spec
from tests.hub.test_diagnose import run

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def clock() -> VirtualClock:
    # Our real time: a camera's clock offset is then what the camera is set to be off.
    return VirtualClock(datetime.now(UTC))


def quirky(*quirks: CameraQuirk, **kwargs: float) -> CameraSpec:
    return dataclasses.replace(make_spec(**kwargs), quirks=frozenset(quirks))


def finding(report: Report, code: str) -> Finding:
    [found] = [f for f in report.findings if f.code == code]
    return found


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


async def test_naive_time(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.NAIVE_TIME, clock_offset_s=-40))
    report = await diagnose(cam.onvif_url, USER, PASSWORD)
    naive = finding(report, "naive_time")
    assert naive.severity == "info" and "UTC" in naive.message
    # Read as UTC, the clock offset comes out right (and is itself a finding).
    assert report.clock_offset_s is not None and abs(report.clock_offset_s + 40) < 2
    assert finding(report, "clock_drift").severity == "warning"


async def test_a_zoned_clock_is_not_naive(start_camera: StartCamera) -> None:
    cam = await start_camera(make_spec())
    report = await diagnose(cam.onvif_url, USER, PASSWORD)
    assert not codes(report) & {"naive_time", "auth_digest_only", "getcapabilities_broken",
                                "xaddr_unreachable", "xaddr_other_host", "snapshot_broken"}


async def test_digest_only(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.DIGEST_ONLY))
    report = await diagnose(cam.onvif_url, USER, PASSWORD)
    digest = finding(report, "auth_digest_only")
    assert digest.severity == "warning" and "Digest" in digest.message
    assert report.device.model == cam.spec.vendor.model
    assert report.snapshot is not None and report.snapshot.auth == "digest"
    assert [p.stream_uri for p in report.profiles] == [
        cam.stream_uri_for(p.token) for p in cam.spec.profiles
    ]


async def test_digest_only_cli_reports_it_readably(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.DIGEST_ONLY))
    code, out, err = await asyncio.to_thread(
        run, cam.base_url, "--user", USER, "--password", PASSWORD, "--json")
    report = json.loads(out)
    assert err == "" and code == EXIT_FINDINGS  # no RTSP server: stream_failed
    [digest] = [f for f in report["findings"] if f["code"] == "auth_digest_only"]
    assert digest["severity"] == "warning"
    assert PASSWORD not in out


@pytest.mark.parametrize("quirk", [CameraQuirk.NAT_XADDR, CameraQuirk.WRONG_PORT_XADDR])
async def test_foreign_xaddrs(start_camera: StartCamera, quirk: CameraQuirk) -> None:
    cam = await start_camera(quirky(quirk))
    report = await diagnose(cam.onvif_url, USER, PASSWORD)
    # The driver used the reached address: profiles and snapshot work.
    assert [p.snapshot_uri for p in report.profiles] == [
        cam.snapshot_url_for(p.token) for p in cam.spec.profiles
    ]
    assert report.snapshot is not None
    assert all(s.xaddr.startswith(cam.base_url) for s in report.services)
    if quirk is CameraQuirk.NAT_XADDR:
        found = finding(report, "xaddr_unreachable")
        assert f"{cam.lan_host}:{cam.port}" in found.message and "private" in found.message
    else:
        [found] = [f for f in report.findings
                   if f.code in ("xaddr_unreachable", "xaddr_other_host")]
        assert "127.0.0.1:80" in found.message
    assert found.severity == "warning"


async def test_getcapabilities_fails(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.GETCAPABILITIES_FAILS))
    report = await diagnose(cam.onvif_url, USER, PASSWORD)
    broken = finding(report, "getcapabilities_broken")
    assert broken.severity == "info" and "ActionNotSupported" in broken.message
    assert {s.xaddr for s in report.services} == {cam.onvif_url, cam.media_url}
    assert len(report.profiles) == 2


async def test_h265_only(start_camera: StartCamera) -> None:
    cam = await start_camera(quirky(CameraQuirk.H265_ONLY))
    report = await diagnose(cam.onvif_url, USER, PASSWORD)
    assert finding(report, "h265_only").severity == "warning"
    assert {p.encoding for p in report.profiles} == {"H265"}
    # The H.265 stream is probed now; no RTSP server plays behind this camera (an H.265
    # stream that plays: tests/hub/test_diagnose.py test_h265_only_camera_stream_is_probed).
    assert report.stream is None and "stream_failed" in codes(report)


async def test_snapshot_stall(
    start_camera: StartCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    cam = await start_camera(quirky(CameraQuirk.SNAPSHOT_STALL))
    monkeypatch.setattr(hub.diagnose, "SNAPSHOT_TIMEOUT_S", 1.0)
    report = await diagnose(cam.onvif_url, USER, PASSWORD)
    broken = finding(report, "snapshot_broken")
    assert broken.severity == "error" and "stalled" in broken.message
    assert report.snapshot is None
    assert "stalled" in format_report(report)  # the readable report says it too
