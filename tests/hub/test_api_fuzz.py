"""Schemathesis fuzzes the running API from its own OpenAPI document: whatever it sends,
no answer is a 5xx, and no route answers without the token (`ignored_auth`).

A real hub with one simulated PTZ dome serves on a loopback port in this test's event
loop; schemathesis runs as a subprocess (its own requests, its own interpreter)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from hub.alpr_config import AlprConfig, HotlistFile
from hub.api import all_routes, build_api
from hub.api_openapi import openapi_path
from hub.api_server import ApiServer
from hub.core import Hub
from hub.model import CameraConfig, CameraKind, Site
from simulator.vendors import VENDOR_PROFILES
from tests.conftest import PASSWORD, USER, StartCamera, make_spec

TOKEN = "fuzz-t0ken"
SCHEMATHESIS = Path(sys.executable).with_name("st")

# Slow by design, not by failure: a diagnose probes the camera for seconds and an
# evidence export records a clip; fuzzing them would spend the whole budget waiting.
SLOW_PATHS = r"(/diagnose$|/api/evidence$)"

# Examples per operation and the whole run's budget: enough to try every parameter kind
# and malformed bodies on every route, bounded for the normal test suite.
MAX_EXAMPLES = 12
MAX_TIME_S = 60


@dataclasses.dataclass
class Served:
    base: str
    hub: Hub


@pytest.fixture
async def served(start_camera: StartCamera, tmp_path: Path) -> AsyncIterator[Served]:
    dome = await start_camera(
        dataclasses.replace(make_spec(), vendor=VENDOR_PROFILES["axis"].models[2]))
    hotlist = tmp_path / "national.csv"
    hotlist.write_text("plate,list,category,priority\n1-ABC-234,stolen,vehicle,80\n")
    camera = CameraConfig(id="dome-1", name="Grote Markt dome", site="city",
                          kind=CameraKind.FIXED, onvif_url=dome.onvif_url, username=USER,
                          password=PASSWORD)
    hub = await Hub.open([Site("city", "City")], [camera], tmp_path / "data",
                         stream_health=False,
                         alpr=AlprConfig(hotlists=(HotlistFile(hotlist, "national"),)))
    await hub.start()
    server = ApiServer(build_api(hub, TOKEN), "127.0.0.1", 0)
    port = await server.start()
    try:
        yield Served(f"http://127.0.0.1:{port}", hub)
    finally:
        await server.stop()
        await hub.stop()


async def test_openapi_document_lists_exactly_the_routes(served: Served) -> None:
    async with aiohttp.ClientSession() as http:  # no token: the document is public
        async with http.get(served.base + "/api/openapi.json") as response:
            assert response.status == 200
            document = await response.json()
    documented = {(method.upper(), path) for path, ops in document["paths"].items()
                  for method in ops}
    registered = {(r.method, openapi_path(r.path)) for r in all_routes()}
    assert documented == registered
    reads = document["paths"]["/api/reads"]
    assert set(reads) == {"get", "post"} and "operator" in reads["get"]["x-roles"]


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed")
async def test_fuzzing_the_api_finds_no_server_error(served: Served, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "run", f"{served.base}/api/openapi.json",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--checks", "not_a_server_error,ignored_auth",
        "--exclude-path-regex", SLOW_PATHS,
        "--max-examples", str(MAX_EXAMPLES), "--max-time", str(MAX_TIME_S),
        "--phases", "examples,coverage,fuzzing", "--workers", "2", "--seed", "9",
        "--request-timeout", "20", "--generation-database", "none", "--no-color",
        "--report", "json", "--report-json-path", str(report),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,  # schemathesis keeps a .schemathesis folder where it runs
    )
    output, _ = await asyncio.wait_for(process.communicate(), MAX_TIME_S + 120)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    summary = json.loads(report.read_text())
    print(text[-1500:])  # schemathesis's own summary: operations, test cases, failures
    assert TOKEN not in text
    # The run really exercised the API (a broken document would test nothing and pass).
    assert "operations" in json.dumps(summary) or "Operations" in text
    assert served.hub.cameras()[0].config.id == "dome-1"  # still serving after the run
