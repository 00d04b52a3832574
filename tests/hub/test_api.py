"""The hub's HTTP API end to end: a real hub (no cameras), its API on a loopback port,
real HTTP requests with aiohttp's client, vendor payloads from tests/data/alpr."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from hub.alpr_config import AlprConfig, HotlistFile
from hub.api import build_api
from hub.api_server import ApiServer
from hub.core import Hub

TOKEN = "t0ken-for-tests"
DATA = Path(__file__).resolve().parent.parent / "data" / "alpr"
VENDOR_ENDPOINTS = {"openalpr": "/api/webhooks/openalpr",
                    "platerecognizer": "/api/webhooks/platerecognizer"}

HOTLIST_CSV = """plate,list,category,priority
1-ABC-234,stolen,vehicle,80
2XYZ999,uninsured,insurance,40
"""


@dataclass
class Api:
    hub: Hub
    base: str
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, *, token: str | None = TOKEN,
                   **kwargs: Any) -> tuple[int, Any]:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.base + path, headers=headers,
                                     **kwargs) as response:
            body = await response.read()
            if response.content_type == "application/json":
                return response.status, json.loads(body)
            return response.status, body


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    hotlist = tmp_path / "national.csv"
    hotlist.write_text(HOTLIST_CSV)
    config = AlprConfig(hotlists=(HotlistFile(hotlist, "national"),))
    hub = await Hub.open([], [], tmp_path / "data", alpr=config)
    await hub.start()
    server = ApiServer(build_api(hub, TOKEN), "127.0.0.1", 0)
    port = await server.start()
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield Api(hub, f"http://127.0.0.1:{port}", http)
    await server.stop()
    await hub.stop()


def our_read(plate: str, camera: str = "ring-1", at: datetime | None = None,
             **extra: Any) -> dict[str, Any]:
    at = at or datetime.now(UTC)
    return {"plate": plate, "time": at.isoformat(), "camera": camera, "confidence": 0.9,
            "country": "BE", **extra}


async def test_requests_without_the_token_are_refused(api: Api) -> None:
    status, body = await api.call("GET", "/api/alerts", token=None)
    assert status == 401 and "token" in body["error"]
    status, _ = await api.call("POST", "/api/reads", token="wrong", json=our_read("1ABC234"))
    assert status == 401
    # The query-string token is for webhook senders only, never for the rest of the API.
    status, _ = await api.call("GET", f"/api/alerts?token={TOKEN}", token=None)
    assert status == 401
    status, _ = await api.call("POST", f"/api/webhooks/openalpr?token={TOKEN}", token=None,
                               data=(DATA / "openalpr" / "heartbeat_v2_docs.json").read_bytes())
    assert status == 200
    assert await api.hub.plates.reads.count_reads() == 0


async def test_a_read_is_committed_before_it_is_acknowledged_and_found(api: Api) -> None:
    status, body = await api.call("POST", "/api/reads", json=our_read("1-abc-999"))
    assert status == 201
    read_id = body["reads"][0]["id"]
    stored = await api.hub.plates.reads.read(read_id)
    assert stored is not None and stored.plate == "1-abc-999" and stored.normalized == "1ABC999"
    status, body = await api.call("GET", "/api/reads", params={"q": "1ab*"})
    assert status == 200 and [r["id"] for r in body["reads"]] == [read_id]
    assert body["reads"][0]["geotag"] is None  # unknown camera, no position given


@pytest.mark.parametrize("vendor", sorted(VENDOR_ENDPOINTS))
async def test_every_vendor_sample_ingests_and_is_found(api: Api, vendor: str) -> None:
    files = sorted((DATA / vendor).glob("*.json"))
    assert files
    for path in files:
        status, body = await api.call("POST", VENDOR_ENDPOINTS[vendor], data=path.read_bytes(),
                                      headers={"Content-Type": "application/json"})
        assert status in (200, 201), (path.name, body)
        for ack in body["reads"]:
            fragment = ack["plate"].upper()[:4]
            status, found = await api.call("GET", "/api/reads", params={"q": fragment + "*"})
            assert ack["id"] in [r["id"] for r in found["reads"]], (path.name, fragment)
    assert await api.hub.plates.reads.count_reads() >= 1


async def test_heartbeats_and_empty_results_are_accepted_but_not_reads(api: Api) -> None:
    status, body = await api.call(
        "POST", "/api/webhooks/openalpr",
        data=(DATA / "openalpr" / "heartbeat_v2_docs.json").read_bytes(),
    )
    assert status == 200 and body["accepted"] == 0
    assert await api.hub.plates.reads.count_reads() == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/reads", b"{not json"),
        ("/api/reads", b"[1, 2, 3]"),
        ("/api/reads", json.dumps({"time": "2026-11-26T08:00:00Z", "camera": "x"}).encode()),
        ("/api/reads", json.dumps(our_read("1ABC234", at=datetime(2026, 11, 26))).encode()),
        ("/api/webhooks/openalpr", b'{"data_type": "alpr_group"}'),
        ("/api/webhooks/platerecognizer", b"\x00\xff garbage"),
    ],
)
async def test_malformed_bodies_get_a_json_4xx_and_the_server_goes_on(
    api: Api, path: str, body: bytes
) -> None:
    status, answer = await api.call("POST", path, data=body,
                                    headers={"Content-Type": "application/json"})
    assert 400 <= status < 500 and answer["error"]
    assert "Traceback" not in answer["error"]
    status, stats = await api.call("GET", "/api/stats")
    assert status == 200 and sum(stats["rejected"].values()) == 1
    status, _ = await api.call("POST", "/api/reads", json=our_read("1ABC777"))
    assert status == 201
    assert await api.hub.plates.reads.count_reads() == 1


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 32), (200, 200, 40)).save(out, "JPEG")
    return out.getvalue()


async def test_platerecognizer_multipart_keeps_the_image(api: Api) -> None:
    sample = json.loads((DATA / "platerecognizer" / "stream_webhook_recognition_tester.json")
                        .read_text())
    form = aiohttp.FormData()
    form.add_field("json", json.dumps(sample))
    jpeg = _jpeg()
    form.add_field("upload", jpeg, filename="car.jpg", content_type="image/jpeg")
    status, body = await api.call("POST", "/api/webhooks/platerecognizer", data=form)
    assert status == 201
    read_id = body["reads"][0]["id"]
    status, image = await api.call("GET", f"/api/reads/{read_id}/images/overview")
    assert status == 200 and image == jpeg
    status, _ = await api.call("GET", f"/api/reads/{read_id}/images/crop")
    assert status == 404


async def test_a_hotlist_hit_raises_one_alert_and_folds_duplicates(api: Api) -> None:
    await asyncio.wait_for(api.hub.plates._hotlists_ready.wait(), 10)
    now = datetime.now(UTC)
    status, body = await api.call("POST", "/api/reads", json=our_read("1ABC234", at=now))
    assert status == 201
    [alert_id] = body["reads"][0]["alerts"]
    # The same car, read again at the same camera, misread: folded into the same alert.
    status, body = await api.call(
        "POST", "/api/reads", json=our_read("IABC234", at=now + timedelta(seconds=20))
    )
    assert body["reads"][0]["alerts"] == [alert_id]
    status, body = await api.call("GET", "/api/alerts")
    [alert] = body["alerts"]
    assert alert["id"] == alert_id and alert["duplicates"] == 1
    # The CSV's own list column names the list (not the name it was imported under).
    assert alert["hit"] == {"plate": "1ABC234", "list": "stolen", "category": "vehicle",
                            "match": "exact", "priority": 80, "substitutions": 0,
                            "covert": False}
    assert alert["state"] == "new" and alert["read"]["plate"] == "1ABC234"


async def test_alert_workflow_is_enforced_and_audited(api: Api) -> None:
    await asyncio.wait_for(api.hub.plates._hotlists_ready.wait(), 10)
    _, body = await api.call("POST", "/api/reads", json=our_read("2-XYZ-999"))
    [alert_id] = body["reads"][0]["alerts"]
    path = f"/api/alerts/{alert_id}/transitions"
    status, body = await api.call("POST", path, json={"to": "closed", "actor": "ann"})
    assert status == 409 and "new" in body["error"]
    status, body = await api.call("POST", path, json={"to": "acknowledged", "actor": "ann"})
    assert status == 200 and body["state"] == "acknowledged" and body["actor"] == "hub/ann"
    status, body = await api.call("POST", path, json={"to": "rejected", "actor": "ann"})
    assert status == 409 and "reason" in body["error"]
    status, body = await api.call("POST", path, json={"to": "rejected", "actor": "bob",
                                                      "reason": "misread", "text": "2 vs Z"})
    assert status == 200 and body["reason"] == "misread" and body["reason_text"] == "2 vs Z"
    audit = await api.hub.plates.reads.audit(f"alert:{alert_id}")
    assert [(e.actor, e.action) for e in audit] == [("hub/bob", "alert.rejected"),
                                                   ("hub/ann", "alert.acknowledged")]
    _, body = await api.call("GET", "/api/alerts")
    assert body["alerts"] == []  # rejected is no longer open
    _, body = await api.call("GET", "/api/alerts", params={"all": "1"})
    assert [a["state"] for a in body["alerts"]] == ["rejected"]


async def test_a_wanted_plate_searches_back_and_hits_the_next_read(api: Api) -> None:
    earlier = datetime.now(UTC) - timedelta(hours=3)
    _, body = await api.call("POST", "/api/reads", json=our_read("1-QRS-555", at=earlier))
    seen_id = body["reads"][0]["id"]
    status, body = await api.call("POST", "/api/wanted", json={
        "plate": "1QRS555", "reason": "missing person's car", "days": 3, "actor": "ann"})
    assert status == 201
    assert [r["id"] for r in body["seen"]] == [seen_id]
    changes = api.hub.plates.alert_changes()
    sent = asyncio.get_running_loop().time()
    status, body = await api.call("POST", "/api/reads", json=our_read("1QR5555"))
    alert = await asyncio.wait_for(anext(changes), 1.0)
    assert asyncio.get_running_loop().time() - sent < 1.0
    assert alert.hit.entry.list == "wanted" and alert.hit.match.value == "lookalike"
    assert body["reads"][0]["alerts"] == [alert.id]


async def test_wanted_plate_validation(api: Api) -> None:
    for bad in ({"plate": "1Q", "reason": "x", "days": 3},
                {"plate": "1QRS555", "reason": "", "days": 3},
                {"plate": "1QRS555", "reason": "x", "days": 101},
                {"plate": "1QRS555", "reason": "x", "days": 0}):
        status, body = await api.call("POST", "/api/wanted", json=bad)
        assert status == 400 and body["error"], bad
    _, body = await api.call("GET", "/api/wanted")
    assert body["wanted"] == []


async def test_retention_purges_old_reads_and_their_images(api: Api) -> None:
    import base64

    old = datetime.now(UTC) - timedelta(days=91)  # past the 90-day default
    crop = base64.b64encode(_jpeg()).decode()
    _, body = await api.call("POST", "/api/reads",
                             json=our_read("1-OLD-111", at=old, images={"crop": crop}))
    old_id = body["reads"][0]["id"]
    _, body = await api.call("POST", "/api/reads", json=our_read("1-NEW-222"))
    new_id = body["reads"][0]["id"]
    stored = await api.hub.plates.reads.read(old_id)
    assert stored is not None and stored.images
    image = api.hub.store.path.parent / str(stored.images[0].path)
    assert image.exists()
    assert await api.hub.plates.purge_once() == 1
    assert not image.exists()
    assert await api.hub.plates.reads.read(old_id) is None
    assert await api.hub.plates.reads.read(new_id) is not None
