"""Evidence export end to end: a simulated camera (ONVIF + RTSP) and a simulated ALPR unit
posting to a real hub's API; the bundle is asked for over HTTP with an operator token,
checked file by file, verified, tampered with, and its export found in the audit log."""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest

from drivers.stream_reader import with_credentials
from hub.alpr_config import AlprConfig, HotlistFile
from hub.api import build_api
from hub.api_server import ApiServer
from hub.auth import Role, TokenAuthority, TokenStore
from hub.core import Hub
from hub.evidence import MANIFEST, sha256, verify
from hub.evidence_command import add_evidence_parser, run_evidence
from hub.model import CameraConfig, CameraKind, Site
from hub.supervisor import SupervisorTiming
from simulator.alpr_plates import PlateTraffic
from simulator.alpr_unit import AlprUnit, RetryPolicy
from simulator.clock import VirtualClock
from simulator.model import StreamProfile
from simulator.onvif_camera import SimulatedCamera
from simulator.rtsp_server import RtspServer, StreamFault
from simulator.scenario_alpr import AlprHotlist, AlprSpec, AlprTraffic, AlprUnitSpec
from tests.conftest import PASSWORD, make_spec

BOOTSTRAP = "bootstrap-t0ken"
CAMERA = "ring-alpr-1"
PLATE = "1-ABC-234"
CLIP_S = 3
PROFILE = StreamProfile("main", "mainStream", 320, 180, 10, "H264", 256)
FAST_ONVIF = SupervisorTiming(poll_interval_s=0.5, backoff_steps_s=(0.2, 0.5), jitter=0.0,
                              call_timeout_s=2.0)
FAST_RETRY = RetryPolicy(initial_s=0.05, max_s=0.2, max_server_errors=3, connect_s=2,
                         total_s=5)


@dataclass
class Rig:
    hub: Hub
    camera: SimulatedCamera
    server: RtspServer
    base: str
    tokens: dict[str, str]  # role name -> token
    http: aiohttp.ClientSession
    alert_id: int = 0

    async def export(self, body: dict[str, Any], role: str = "operator"
                     ) -> tuple[int, bytes, aiohttp.typedefs.LooseHeaders]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        async with self.http.post(self.base + "/api/evidence", json=body,
                                  headers=headers) as response:
            return response.status, await response.read(), response.headers


async def until(cond: Any, limit_s: float = 20.0) -> Any:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = await cond()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
async def rig(tmp_path: Path, video_cache: Path) -> AsyncIterator[Rig]:
    clock = VirtualClock(datetime.now(UTC))
    server = RtspServer(clock, cache_dir=video_cache)
    spec = replace(make_spec(CAMERA), profiles=(PROFILE,))
    server.add_stream(f"{CAMERA}/{PROFILE.token}", PROFILE, username=spec.username,
                      password=spec.password)
    await server.start()
    camera = SimulatedCamera(spec, clock, rtsp_port=server.port)
    await camera.start()
    hotlist = tmp_path / "national.csv"
    hotlist.write_text(f"plate,list,category,priority\n{PLATE},stolen,vehicle,80\n")
    data = tmp_path / "data"
    config = CameraConfig(id=CAMERA, name="R70 ALPR", site="city", kind=CameraKind.FIXED,
                          onvif_url=camera.onvif_url, username=spec.username,
                          password=spec.password)
    hub = await Hub.open([Site("city", "Stad Hasselt")], [config], data, FAST_ONVIF,
                         stream_health=False,
                         alpr=AlprConfig(hotlists=(HotlistFile(hotlist, "national"),)))
    await hub.start()
    store = TokenStore(data)
    tokens = {"operator": store.create("ann", Role.OPERATOR),
              "partner": store.create("uhasselt", Role.PARTNER, [CAMERA]),
              "admin": BOOTSTRAP}
    api = ApiServer(build_api(hub, TokenAuthority(store, BOOTSTRAP)), "127.0.0.1", 0)
    port = await api.start()
    base = f"http://127.0.0.1:{port}"
    unit_spec = AlprUnitSpec(id="alpr-r70", camera=CAMERA, format="citywatch",
                             reads_per_minute=1.0, sender_id=4321)
    alpr = AlprSpec((unit_spec,), AlprTraffic(misread_share=0.0, hotlist_share=0.0),
                    AlprHotlist((PLATE,), 5))
    unit = AlprUnit(unit_spec, PlateTraffic(alpr, 1), clock, retry=FAST_RETRY)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        rig = Rig(hub, camera, server, base, tokens, http)
        try:
            await asyncio.wait_for(hub.plates._hotlists_ready.wait(), 10)
            unit.deliver_to(base, BOOTSTRAP)
            await unit.inject(PLATE)

            async def alert() -> int:
                alerts = await hub.plates.alerts()
                return alerts[0].id if alerts else 0

            rig.alert_id = await until(alert)

            async def facts() -> bool:
                status = hub.camera(CAMERA)
                return status is not None and status.facts is not None

            await until(facts)
            yield rig
        finally:
            await unit.stop()
            await api.stop()
            await hub.stop()
            await camera.stop()
            await server.stop()


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def cli(*argv: str) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    add_evidence_parser(parser.add_subparsers(dest="command"))
    return run_evidence(parser.parse_args(["evidence", *argv]))


async def test_alert_bundle_has_every_part_and_verifies(rig: Rig, tmp_path: Path) -> None:
    await rig.hub.plates.transition(rig.alert_id, _state("acknowledged"), "ann")
    status, data, headers = await rig.export({"alert": rig.alert_id, "clip_s": CLIP_S})
    assert status == 200, data
    assert headers["Content-Type"] == "application/zip"
    files = unzip(data)
    manifest = json.loads(files[MANIFEST])
    read_id = json.loads(files["alert.json"])["read"]["id"]
    assert set(files) == {MANIFEST, "alert.json", "hits.json", "audit.json", "snapshot.jpg",
                          "clip.mp4", f"reads/read-{read_id}.json",
                          f"images/read-{read_id}-crop.jpg"}
    assert manifest["subject"] == {"alert": rig.alert_id}
    assert manifest["exported_by"] == "ann" and manifest["camera"] == CAMERA
    assert manifest["not_included"] == {}
    assert {f["path"] for f in manifest["files"]} == set(files) - {MANIFEST}
    for entry in manifest["files"]:
        body = files[entry["path"]]
        assert (entry["size"], entry["sha256"]) == (len(body), sha256(body))
    assert headers["X-Evidence-Manifest-SHA256"] == sha256(files[MANIFEST])
    assert json.loads(files["hits.json"])[0]["plate"] == "1ABC234"
    assert json.loads(files[f"reads/read-{read_id}.json"])["camera"] == CAMERA
    assert files[f"images/read-{read_id}-crop.jpg"].startswith(b"\xff\xd8")
    assert files["snapshot.jpg"].startswith(b"\xff\xd8")
    trail = json.loads(files["audit.json"])
    assert [(e["actor"], e["action"]) for e in trail] == [("ann", "alert.acknowledged")]
    # No credential anywhere in the bundle.
    everything = b"".join(files.values())
    assert PASSWORD.encode() not in everything and BOOTSTRAP.encode() not in everything
    # The clip: the camera's own H.264, at least N-1 s of packets, not re-encoded.
    assert manifest["clip"]["codec"] == "h264" and manifest["clip"]["re_encoded"] is False
    with av.open(io.BytesIO(files["clip.mp4"])) as clip:
        stream = clip.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 180)
        packets = [p for p in clip.demux(stream) if p.size]
        sps_pps = bytes(stream.codec_context.extradata or b"")
    assert packets[0].is_keyframe
    assert float((packets[-1].dts - packets[0].dts) * stream.time_base) >= CLIP_S - 1
    live = await _live_parameter_sets(rig)
    assert live and all(unit in sps_pps for unit in live)  # the camera's own SPS/PPS
    # Verified as a zip; the export is in the audit log with the manifest's hash.
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(data)
    result = verify(bundle)
    assert result.ok and result.checked == len(files) - 1
    assert await asyncio.to_thread(cli, "verify", str(bundle)) == 0
    [export] = [e for e in await rig.hub.plates.reads.audit(f"alert:{rig.alert_id}")
                if e.action == "evidence.export"]
    assert export.actor == "ann"
    assert dict(export.data)["manifest_sha256"] == sha256(files[MANIFEST])


def _state(name: str) -> Any:
    from hub.alpr_model import AlertState

    return AlertState(name)


async def _live_parameter_sets(rig: Rig) -> list[bytes]:
    """SPS and PPS of the stream the simulator serves (its SDP's sprop-parameter-sets),
    read in a thread: the simulator answers on this loop."""
    status = rig.hub.camera(CAMERA)
    assert status is not None and status.facts is not None and status.facts.stream_uri
    uri = with_credentials(status.facts.stream_uri, status.config.username, PASSWORD)

    def read() -> bytes:
        with av.open(uri, options={"rtsp_transport": "tcp"}, timeout=10) as source:
            return bytes(source.streams.video[0].codec_context.extradata or b"")

    extradata = await asyncio.to_thread(read)
    parts = extradata.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01")
    return [p for p in parts if p]


async def test_tampering_is_named_and_cli_exports_unpacked(rig: Rig, tmp_path: Path) -> None:
    out = tmp_path / "unpacked"
    code = await asyncio.to_thread(
        cli, "export", "--alert", str(rig.alert_id), "--clip-seconds", "2", "-o", str(out),
        "--connect", rig.base, "--token", rig.tokens["operator"])
    assert code == 0
    assert (out / MANIFEST).is_file() and (out / "clip.mp4").is_file()
    assert verify(out).ok
    snapshot = out / "snapshot.jpg"
    flipped = bytearray(snapshot.read_bytes())
    flipped[len(flipped) // 2] ^= 0x01
    snapshot.write_bytes(bytes(flipped))
    (out / "audit.json").unlink()
    (out / "note.txt").write_text("added later")
    result = verify(out)
    assert not result.ok
    assert result.changed == ("snapshot.jpg",)
    assert result.missing == ("audit.json",)
    assert result.extra == ("note.txt",)
    assert await asyncio.to_thread(cli, "verify", str(out), "--json") == 1
    assert await asyncio.to_thread(cli, "verify", str(tmp_path / "nothing-here")) == 2


async def test_unreachable_camera_still_gives_a_bundle_with_reasons(rig: Rig) -> None:
    await rig.camera.stop()  # ONVIF and snapshots gone; and its RTSP service:
    rig.server.set_fault(f"{CAMERA}/{PROFILE.token}", StreamFault.OFFLINE, True)
    now = datetime.now(UTC)
    status, data, _ = await rig.export({"camera": CAMERA, "clip_s": 2,
                                        "from": (now - timedelta(minutes=10)).isoformat(),
                                        "to": (now + timedelta(minutes=1)).isoformat()})
    assert status == 200, data
    files = unzip(data)
    manifest = json.loads(files[MANIFEST])
    assert manifest["clip"] is None
    assert manifest["not_included"]["clip"].startswith("not recorded: ")
    assert "refused" in manifest["not_included"]["clip"]
    assert manifest["not_included"]["snapshot"].startswith("not taken: ")
    assert "clip.mp4" not in files and "snapshot.jpg" not in files
    # The range's read, its alert and the health history are there all the same.
    assert any(name.startswith("reads/read-") for name in files)
    assert f"alerts/alert-{rig.alert_id}.json" in files
    assert isinstance(json.loads(files["health.json"]), list)
    assert PASSWORD.encode() not in b"".join(files.values())
    audits = await rig.hub.plates.reads.audit(f"camera:{CAMERA}")
    assert [e.action for e in audits] == ["evidence.export"]
    assert "clip" in audits[0].detail


@pytest.mark.parametrize(("body", "role", "status"), [
    ({"alert": 1}, "partner", 403),
    ({"alert": 999}, "operator", 404),
    ({"camera": "nope", "from": "2026-03-02T08:00:00Z", "to": "2026-03-02T09:00:00Z"},
     "operator", 404),
    ({"camera": CAMERA, "from": "2026-03-02T09:00:00Z", "to": "2026-03-02T08:00:00Z"},
     "operator", 400),
    ({"alert": 1, "clip_s": 61}, "operator", 400),
    ({"camera": CAMERA}, "operator", 400),
    ({"alert": 2**70}, "operator", 400),
    ({"camera": CAMERA, "from": "0001-01-01T00:00:00+01:00", "to": "0001-01-01T01:00:00+01:00"},
     "operator", 400),
])
async def test_refusals(rig: Rig, body: dict[str, Any], role: str, status: int) -> None:
    got, data, _ = await rig.export(body, role)
    assert got == status, data
    assert "error" in json.loads(data)
    audits = await rig.hub.plates.reads.audit()
    assert not [e for e in audits if e.action == "evidence.export"]


def test_cli_export_refuses_bad_command_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CITYWATCH_TOKEN", raising=False)
    out = str(tmp_path / "b.zip")
    assert cli("export", "--camera", CAMERA, "-o", out, "--token", "t") == 2
    assert "--from and --to" in capsys.readouterr().err
    assert cli("export", "--alert", "1", "--from", "2h", "-o", out, "--token", "t") == 2
    assert cli("export", "--alert", "1", "--clip-seconds", "0", "-o", out, "--token", "t") == 2
    assert cli("export", "--alert", "1", "-o", out) == 2
    assert "CITYWATCH_TOKEN" in capsys.readouterr().err
    # No hub listening: one line on stderr, exit 1, the token not in it.
    assert cli("export", "--alert", "1", "-o", out, "--token", "s3cret-tok",
               "--connect", "http://127.0.0.1:9") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unreachable" in err and "s3cret-tok" not in err
    assert not (tmp_path / "b.zip").exists()
