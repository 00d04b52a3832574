"""GET /metrics: Prometheus text a real parser reads, with the hub's values."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.alpr_config import AlprConfig, HotlistFile
from hub.api import build_api
from hub.api_metrics import CameraFailureCounter
from hub.api_server import ApiServer
from hub.auth import Role, TokenAuthority, TokenStore
from hub.core import Hub
from hub.model import CameraConfig, CameraKind, HealthReason, HealthState, Site

ADMIN = "metrics-admin-t0ken"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, dict[Role, str]]]:
    hotlist = tmp_path / "national.csv"
    hotlist.write_text("plate,list,category,priority\n1-ABC-234,stolen,vehicle,80\n")
    # Nothing listens on port 9: the camera is down (unreachable) from its first check.
    camera = CameraConfig(id="gone-1", name="Gone", site="city", kind=CameraKind.FIXED,
                          onvif_url="http://127.0.0.1:9/onvif/device_service",
                          username="u", password="p")
    hub = await Hub.open([Site("city", "City")], [camera], tmp_path / "data",
                         stream_health=False,
                         alpr=AlprConfig(hotlists=(HotlistFile(hotlist, "national"),)))
    await hub.start()
    store = TokenStore(tmp_path / "data")
    tokens = {role: store.create(role.value, role, ["gone-1"] if role is Role.PARTNER else ())
              for role in (Role.OPERATOR, Role.TECHNICIAN, Role.PARTNER)}
    server = ApiServer(build_api(hub, TokenAuthority(store, ADMIN)), "127.0.0.1", 0)
    port = await server.start()
    try:
        yield f"http://127.0.0.1:{port}", tokens
    finally:
        await server.stop()
        await hub.stop()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_carry_the_hub_state(served: tuple[str, dict[Role, str]]) -> None:
    base, tokens = served
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        read = {"plate": "1ABC234", "time": datetime.now(UTC).isoformat(), "camera": "ring-1",
                "confidence": 0.9}
        async with http.post(base + "/api/reads", json=read,
                             headers={"Authorization": f"Bearer {ADMIN}"}) as response:
            assert response.status == 201
        for role, status in ((Role.OPERATOR, 403), (Role.PARTNER, 403), (Role.TECHNICIAN, 200)):
            async with http.get(base + "/metrics",
                                headers={"Authorization": f"Bearer {tokens[role]}"}) as answer:
                assert answer.status == status, role
                text = await answer.text()
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = _samples(text)
    assert samples[("citywatch_reads_total", ())] == 1
    assert samples[("citywatch_alerts_total", (("kind", "raised"),))] == 1
    cameras = {labels: v for (name, labels), v in samples.items() if name == "citywatch_cameras"}
    assert sum(cameras.values()) == 1 and all(dict(k)["site"] == "city" for k in cameras)
    latency = samples[("citywatch_read_to_alert_seconds", (("quantile", "0.5"),))]
    assert 0 < latency < 5
    assert samples[("citywatch_api_rejected_total", (("reason", "forbidden"),))] == 2


def test_failure_counter_counts_entries_not_repeats() -> None:
    counter = CameraFailureCounter()
    counter.observe("a", HealthState.DOWN, HealthReason.UNREACHABLE)
    counter.observe("a", HealthState.DOWN, HealthReason.UNREACHABLE)  # same outage
    counter.observe("a", HealthState.DOWN, HealthReason.AUTH_FAILED)  # a new cause
    counter.observe("a", HealthState.OK, HealthReason.NONE)
    counter.observe("a", HealthState.DOWN, HealthReason.UNREACHABLE)  # a new outage
    counter.observe("b", HealthState.DEGRADED, HealthReason.LOW_FPS)
    assert counter.by_reason == {"unreachable": 2, "auth failed": 1, "low fps": 1}
