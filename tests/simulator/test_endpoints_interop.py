"""An ONVIF client that is not ours reads every camera listed in `citywatch sim --endpoints`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from onvif import ONVIFCamera
from zeep.exceptions import Fault

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "scenarios" / "small.toml"


@pytest.fixture
def sim_endpoints(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`citywatch sim small.toml --endpoints FILE` as a real subprocess."""
    path = tmp_path / "endpoints.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "sim", str(SMALL), "--endpoints", str(path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not path.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "endpoints file never written"
            time.sleep(0.1)
        yield json.loads(path.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "Traceback" not in err


async def read_camera(entry: dict[str, Any], password: str) -> dict[str, Any]:
    url = urlsplit(entry["onvif"])
    cam = ONVIFCamera(url.hostname, url.port, entry["username"], password, adjust_time=True)
    try:
        await cam.update_xaddrs()
        device = await cam.create_devicemgmt_service()
        info = await device.GetDeviceInformation()
        media = await cam.create_media_service()
        profiles = await media.GetProfiles()
        uris = []
        for profile in profiles:
            answer = await media.GetStreamUri(
                {
                    "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                    "ProfileToken": profile.token,
                }
            )
            uris.append(answer.Uri)
        return {"manufacturer": info.Manufacturer, "model": info.Model, "uris": uris}
    finally:
        await cam.close()


async def test_third_party_client_reads_every_camera(sim_endpoints: dict[str, Any]) -> None:
    cameras = sim_endpoints["cameras"]
    assert len(cameras) >= 6
    healthy = [c for c in cameras if not c.get("faults")]
    assert healthy and len(healthy) < len(cameras)  # small.toml has one broken camera
    results = await asyncio.gather(*(read_camera(c, c["password"]) for c in healthy))
    for entry, result in zip(healthy, results, strict=True):
        assert result["manufacturer"]
        assert result["model"] == entry["model"]
        assert entry["rtsp"] in result["uris"]


async def test_third_party_client_is_refused_with_wrong_password(
    sim_endpoints: dict[str, Any],
) -> None:
    entry = next(c for c in sim_endpoints["cameras"] if not c.get("faults"))
    with pytest.raises(Fault) as info:
        await read_camera(entry, entry["password"] + "-wrong")
    subcodes = [q.localname for q in (info.value.subcodes or [])]
    assert "NotAuthorized" in subcodes, (info.value, subcodes)


async def test_offline_camera_refuses_connections(sim_endpoints: dict[str, Any]) -> None:
    broken = [c for c in sim_endpoints["cameras"] if "offline" in c.get("faults", [])]
    assert broken
    url = urlsplit(broken[0]["onvif"])
    with pytest.raises(ConnectionRefusedError):
        _, writer = await asyncio.open_connection(url.hostname, url.port)
        writer.close()


def test_sim_exits_cleanly_and_closes_ports(tmp_path: Path) -> None:
    path = tmp_path / "ep.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "sim", str(SMALL), "--endpoints", str(path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 20
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    ports = [urlsplit(c["onvif"]).port for c in json.loads(path.read_text())["cameras"]]
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 0
    import socket

    for port in ports:
        with pytest.raises(ConnectionRefusedError), socket.create_connection(
            ("127.0.0.1", port), timeout=2
        ):
            pass
