"""Connect to every camera of a simulated city: our driver vs. the library's ONVIFCamera.

Both read device information, profiles and stream URIs of every camera without faults,
concurrently (at most 24 at a time for each, the driver's own limit), in one run, so the
ratio is comparable on a noisy machine. The simulator runs in a child process so that
its CPU is not counted.

    .venv/bin/python -m bench.onvif_connect [--scenario scenarios/hasselt.toml]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from onvif import ONVIFCamera

from drivers.onvif import OnvifDevice, warm_up

REPO = Path(__file__).resolve().parent.parent
CONCURRENCY = 24


async def ours(entry: dict[str, Any]) -> str:
    async with OnvifDevice(entry["onvif"], entry["username"], entry["password"]) as dev:
        snap = await dev.snapshot()
        return snap.info.model


async def library(entry: dict[str, Any]) -> str:
    url = urlsplit(entry["onvif"])
    cam = ONVIFCamera(url.hostname, url.port, entry["username"], entry["password"],
                      adjust_time=True)
    try:
        await cam.update_xaddrs()
        info = await (await cam.create_devicemgmt_service()).GetDeviceInformation()
        media = await cam.create_media_service()
        profiles = await media.GetProfiles()
        await media.GetStreamUri({
            "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
            "ProfileToken": profiles[0].token,
        })
        return str(info.Model)
    finally:
        await cam.close()


async def run_all(fn: Any, cameras: list[dict[str, Any]]) -> dict[str, float]:
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(entry: dict[str, Any]) -> bool:
        async with slots:
            return await fn(entry) == entry["model"]

    cpu0, t0 = time.process_time(), time.monotonic()
    ok = await asyncio.gather(*(one(c) for c in cameras))
    return {
        "cameras": len(cameras),
        "correct": sum(ok),
        "wall_s": round(time.monotonic() - t0, 3),
        "cpu_s": round(time.process_time() - cpu0, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "hasselt.toml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ep = Path(tmp) / "endpoints.json"
        sim = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "sim", str(args.scenario), "--endpoints", str(ep)],
            stdout=subprocess.DEVNULL,
        )
        try:
            while not ep.exists():
                if sim.poll() is not None:
                    raise SystemExit("simulator exited early")
                time.sleep(0.1)
            cameras = [c for c in json.loads(ep.read_text())["cameras"] if not c["faults"]]
            t0 = time.monotonic()
            warm_up()
            warm_s = time.monotonic() - t0
            result_ours = asyncio.run(run_all(ours, cameras))
            result_lib = asyncio.run(run_all(library, cameras))
        finally:
            sim.send_signal(signal.SIGTERM)
            sim.wait(timeout=30)
    print(json.dumps({
        "warm_up_s": round(warm_s, 3),
        "ours": result_ours,
        "library_ONVIFCamera": result_lib,
        "cpu_ratio_library_over_ours": round(result_lib["cpu_s"] / result_ours["cpu_s"], 2),
    }))


if __name__ == "__main__":
    main()
