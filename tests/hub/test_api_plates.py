"""GET /api/stats: where a read's time goes (hub/api_plates.py, PlateDesk.stage_latency)."""

from __future__ import annotations

from tests.hub.test_api import Api, api, our_read

__all__ = ["api"]  # the fixture, used by name


async def test_stats_break_the_read_path_into_stages(api: Api) -> None:
    for plate in ("1ABC777", "1ABC778", "1ABC779"):
        status, _ = await api.call("POST", "/api/reads", json=our_read(plate))
        assert status == 201
    status, stats = await api.call("GET", "/api/stats")
    assert status == 200
    stages = stats["read_stages"]
    assert list(stages) == ["to_store", "store", "store_queue_wait", "store_commit", "publish"]
    for name in ("to_store", "store", "store_queue_wait", "publish"):
        assert stages[name]["reads"] == 3
        assert 0 <= stages[name]["p50_ms"] <= stages[name]["p99_ms"] <= stages[name]["max_ms"]
    assert 1 <= stages["store_commit"]["batches"] <= 3
    # The store stage holds its queue wait: a read waits in the queue inside it.
    assert stages["store"]["max_ms"] >= stages["store_queue_wait"]["p50_ms"]
