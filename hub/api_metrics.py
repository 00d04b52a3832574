"""GET /metrics: the hub's state for Prometheus (text exposition format, official client).

Values are read from the hub at scrape time (a custom collector), so a scrape costs one
pass over the cameras and nothing between scrapes. Counters that need history (camera
failures by reason) are kept by a small task following the hub's status feed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.api_routes import TECHNICIANS, ApiContext, Route
from hub.model import HealthReason, HealthState
from hub.tasks import cancel_all

# The Prometheus text format's content type (version 0.0.4), which every scraper reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class CameraFailureCounter:
    """Counts cameras entering a failure, by reason, from the hub's status feed (the feed
    coalesces per camera, so a failure shorter than one feed delivery may go uncounted)."""

    def __init__(self) -> None:
        self.by_reason: Counter[str] = Counter()
        self._last: dict[str, HealthReason] = {}

    def observe(self, camera_id: str, state: HealthState, reason: HealthReason) -> None:
        failing = state in (HealthState.DEGRADED, HealthState.DOWN)
        if failing and self._last.get(camera_id) != reason:
            self.by_reason[reason.value] += 1
        self._last[camera_id] = reason if failing else HealthReason.NONE


class HubCollector(Collector):
    """Turns the hub's current state into metric families at each scrape."""

    def __init__(self, api: ApiContext, failures: CameraFailureCounter) -> None:
        self._api = api
        self._failures = failures

    def collect(self) -> Iterator[Metric]:
        hub = self._api.hub
        cameras = GaugeMetricFamily("citywatch_cameras", "Cameras by site and shown state",
                                    labels=["site", "state"])
        counts: Counter[tuple[str, str]] = Counter(
            (c.config.site, c.shown_state.value) for c in hub.cameras())
        for (site, state), n in sorted(counts.items()):
            cameras.add_metric([site, state], n)
        yield cameras

        pipeline = hub.plates.counters()
        yield CounterMetricFamily("citywatch_reads", "Reads committed", pipeline["reads"])
        alerts = CounterMetricFamily("citywatch_alerts", "Alerts raised or folded",
                                     labels=["kind"])
        alerts.add_metric(["raised"], pipeline["alerts"])
        alerts.add_metric(["folded"], pipeline["folded"])
        yield alerts

        latency = hub.plates.alert_latency()
        quantiles = GaugeMetricFamily(
            "citywatch_read_to_alert_seconds",
            "Read arrival to alert committed and published, over the latest alerts",
            labels=["quantile"])
        for q, key in (("0.5", "p50_ms"), ("0.99", "p99_ms"), ("1", "max_ms")):
            value = latency[key]
            if value is not None:
                quantiles.add_metric([q], float(value) / 1000)
        yield quantiles

        failures = CounterMetricFamily("citywatch_camera_failures",
                                       "Cameras entering a failure (driver errors), by reason",
                                       labels=["reason"])
        for reason, n in sorted(self._failures.by_reason.items()):
            failures.add_metric([reason], n)
        yield failures

        rejected = CounterMetricFamily("citywatch_api_rejected",
                                       "API requests refused, by reason", labels=["reason"])
        for reason, n in sorted(self._api.rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected


_REGISTRY_KEY: web.AppKey[CollectorRegistry] = web.AppKey("citywatch_metrics",
                                                          CollectorRegistry)


def install(app: web.Application, api: ApiContext) -> None:
    """A registry of this app's own (never the process-global one: two hubs in one process,
    as in tests, must not mix), and the task counting failures."""
    failures = CameraFailureCounter()
    registry = CollectorRegistry(auto_describe=True)
    registry.register(HubCollector(api, failures))
    app[_REGISTRY_KEY] = registry
    tasks: list[asyncio.Task[None]] = []

    async def follow(_: web.Application) -> None:
        for status in api.hub.cameras():
            failures.observe(status.config.id, status.state, status.reason)

        async def run() -> None:
            async for status in api.client.changes():
                failures.observe(status.config.id, status.state, status.reason)

        tasks.append(asyncio.create_task(run(), name="metrics-failures"))

    async def stop(_: web.Application) -> None:
        await cancel_all(tasks)

    app.on_startup.append(follow)
    app.on_cleanup.append(stop)


async def _metrics(request: web.Request) -> web.Response:
    registry = request.app[_REGISTRY_KEY]
    body = generate_latest(registry)  # microseconds for a few hundred series
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


ROUTES: tuple[Route, ...] = (
    Route("GET", "/metrics", _metrics, TECHNICIANS,
          "Prometheus metrics: cameras by state, reads, alerts, read-to-alert latency, "
          "camera failures, refused requests",
          doc={"responses": {"200": {"description": "Prometheus text format",
                                     "content": {"text/plain": {}}}}}),
)

