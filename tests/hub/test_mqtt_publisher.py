"""MqttPublisher against a real Mosquitto broker on a free loopback port: alerts raised
through the hub arrive, covert hits do not, camera states are retained and published on
shown-state changes only, and publishing resumes after the broker restarts."""

from __future__ import annotations

import asyncio
import getpass
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from drivers.alpr import VendorRead
from hub.alpr_config import AlprConfig, HotlistFile
from hub.alpr_model import AlertState
from hub.api import build_api
from hub.api_server import ApiServer
from hub.core import Hub
from hub.event_log import EventLog
from hub.model import CameraConfig, CameraKind, Site
from hub.mqtt_publisher import (
    PASSWORD_ENV,
    MqttPublisher,
    install_mqtt,
    is_covert,
    parse_broker,
    topic_part,
)

MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="Mosquitto is not installed (apt-get install mosquitto)")

PREFIX = "cw-test"
MESSAGE_TIMEOUT_S = 10.0


class Broker:
    """One Mosquitto on a fixed port with persistence in a temporary directory (a
    restart keeps the test subscriber's session and its queued QoS 1 messages)."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {directory}/\n"
            # Run as root, mosquitto would switch to its own user, which cannot write here.
            f"user {getpass.getuser()}\n")
        self.log = directory / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        with self.log.open("ab") as out:
            self._process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)],
                                             stdout=out, stderr=subprocess.STDOUT)
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert self._process.poll() is None, self.log.read_text()
            time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen: {self.log.read_text()}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(5)
        self._process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    directory = tmp_path / "mqtt"
    directory.mkdir()
    running = Broker(directory)
    running.start()
    yield running
    running.stop()


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    national = tmp_path / "national.csv"
    national.write_text("plate,list,category,priority\n1-ABC-234,stolen,vehicle,80\n")
    secret = tmp_path / "secret.csv"
    secret.write_text("plate,list,category,priority\n9-SPY-999,watch,surveillance,90\n")
    camera = CameraConfig(id="police-1", name="Ring 1", site="police", kind=CameraKind.FIXED,
                          onvif_url="http://127.0.0.1:9/onvif/device_service",
                          username="admin", password="s3cret-pass")
    config = AlprConfig(hotlists=(HotlistFile(national, "national"),
                                  HotlistFile(secret, "secret", covert=True)))
    opened = await Hub.open([Site("police", "Police")], [camera], tmp_path / "data",
                            stream_health=False, alpr=config)
    await opened.plates.start()  # the camera supervisors stay off: the camera is fictional
    yield opened
    await opened.stop()


@pytest.fixture
async def events(hub: Hub) -> AsyncIterator[EventLog]:
    log = EventLog()
    await log.start(hub)
    yield log
    await log.stop()


@pytest.fixture
async def publisher(broker: Broker, events: EventLog) -> AsyncIterator[MqttPublisher]:
    running = MqttPublisher("127.0.0.1", broker.port, topic_prefix=PREFIX,
                            reconnect_delays_s=(0.2, 0.5))
    await running.start(events)
    yield running
    await running.stop()


async def raise_alert(hub: Hub, plate: str) -> int:
    read = VendorRead(plate=plate, at=datetime.now(UTC), source="citywatch", confidence=0.9,
                      country="BE", region=None, camera="police-1", unit=None, lat=None,
                      lon=None, direction=None)
    [ingested] = await hub.plates.ingest([read])
    assert ingested.alerts, plate
    return ingested.alerts[0].id


async def next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(MESSAGE_TIMEOUT_S):
        return await anext(aiter(client.messages))


def body(message: aiomqtt.Message) -> dict[str, Any]:
    assert isinstance(message.payload, bytes)
    decoded: dict[str, Any] = json.loads(message.payload)
    return decoded


async def wait_for(condition: Any, what: str) -> None:
    """Poll `condition` (a counter of the publisher: nothing to await on)."""
    async with asyncio.timeout(MESSAGE_TIMEOUT_S):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_alerts_are_published_and_covert_hits_withheld(
        broker: Broker, hub: Hub, publisher: MqttPublisher) -> None:
    await wait_for(lambda: publisher.connected, "connected")
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.subscribe(f"{PREFIX}/alerts/#", qos=1)
        covert = await raise_alert(hub, "9SPY999")
        open_alert = await raise_alert(hub, "1ABC234")
        message = await next_message(client)
        assert str(message.topic) == f"{PREFIX}/alerts/{open_alert}"
        assert message.qos == 1 and not message.retain
        alert = body(message)
        assert (alert["id"], alert["state"], alert["hit"]["list"]) == (open_alert, "new",
                                                                        "stolen")
        assert publisher.withheld == 1 and covert != open_alert
        # A transition is a change of the same alert, on the same topic.
        await hub.plates.transition(open_alert, AlertState.ACKNOWLEDGED, "desk")
        message = await next_message(client)
        assert str(message.topic) == f"{PREFIX}/alerts/{open_alert}"
        assert body(message)["state"] == "acknowledged"


async def test_camera_states_are_retained_and_sent_on_shown_state_changes_only(
        broker: Broker, hub: Hub, publisher: MqttPublisher, events: EventLog) -> None:
    await wait_for(lambda: publisher.connected, "connected")
    until = datetime.now(UTC) + timedelta(hours=1)
    await hub.set_maintenance("police-1", until, "lens cleaning", "tech")
    await hub.set_maintenance("police-1", until, "still cleaning", "tech")  # same shown state
    await wait_for(lambda: publisher.published >= 1, "published")
    await asyncio.sleep(0.3)
    assert publisher.published == 1
    # A subscriber that comes later gets the retained state at once.
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.subscribe(f"{PREFIX}/cameras/+/state", qos=1)
        message = await next_message(client)
        assert str(message.topic) == f"{PREFIX}/cameras/police-1/state" and message.retain
        state = body(message)
        assert state["shown_state"] == "maintenance"
        assert state["maintenance"]["reason"] == "lens cleaning"
        assert isinstance(message.payload, bytes) and b"s3cret" not in message.payload
        await hub.clear_maintenance("police-1", "tech")
        message = await next_message(client)
        assert body(message)["shown_state"] == "unknown" and not message.retain
        # A camera that leaves the hub clears its retained state.
        events.publish("camera_removed", {"id": "police-1"})
        message = await next_message(client)
        assert message.payload == b""
    assert publisher.dropped == 0


async def test_publishing_resumes_after_the_broker_restarts(
        broker: Broker, hub: Hub, publisher: MqttPublisher) -> None:
    await wait_for(lambda: publisher.connected, "connected")
    # A persistent session: the broker keeps our subscription and queues QoS 1 messages
    # for us while we are away, across its own restart.
    subscriber = aiomqtt.Client("127.0.0.1", broker.port, identifier="cw-test-subscriber",
                                clean_session=False)
    async with subscriber as client:
        await client.subscribe(f"{PREFIX}/alerts/#", qos=1)
        first = await raise_alert(hub, "1ABC234")
        assert body(await next_message(client))["id"] == first
    connections = publisher.connections

    broker.stop()
    await wait_for(lambda: not publisher.connected, "disconnected")
    await hub.plates.transition(first, AlertState.ACKNOWLEDGED, "desk")  # while the broker is away
    await asyncio.sleep(0.5)
    broker.start()
    await wait_for(lambda: publisher.connections > connections, "reconnected")
    async with subscriber as client:
        message = await next_message(client)
        assert body(message)["id"] == first and body(message)["state"] == "acknowledged"
    assert publisher.dropped == 0


def test_topics_and_the_covert_rule() -> None:
    assert topic_part("site/cam+1#") == "site_cam_1_"
    assert is_covert({"hit": {"covert": False}, "other_hits": [{"covert": True}]})
    assert not is_covert({"hit": {"covert": False}, "other_hits": []})


async def test_serve_installs_the_publisher_on_the_api_app(
        broker: Broker, hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "broker-pass")  # anonymous broker: ignored, not logged
    app = build_api(hub, "api-token")
    publisher = install_mqtt(app, f"127.0.0.1:{broker.port}", PREFIX)
    assert "broker-pass" not in repr(publisher)
    server = ApiServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        await wait_for(lambda: publisher.connected, "connected")
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.subscribe(f"{PREFIX}/alerts/#", qos=1)
            alert = await raise_alert(hub, "1ABC234")
            assert body(await next_message(client))["id"] == alert
    finally:
        await server.stop()
    assert not publisher.connected


def test_broker_addresses() -> None:
    assert parse_broker("mqtt.local") == ("mqtt.local", 1883)
    assert parse_broker("10.0.0.5:8883") == ("10.0.0.5", 8883)
    assert parse_broker("[::1]") == ("::1", 1883)
    with pytest.raises(ValueError, match="port"):
        parse_broker("mqtt.local:mqtt")


async def test_pending_messages_reach_the_broker_at_shutdown(
        broker: Broker, publisher: MqttPublisher, events: EventLog) -> None:
    """Alerts raised just before the hub stops still reach a connected broker."""
    await wait_for(lambda: publisher.connected, "connected")
    count = 300
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.subscribe(f"{PREFIX}/alerts/#", qos=1)
        for alert_id in range(1, count + 1):
            events.publish("alert", {"id": alert_id, "state": "new", "hit": {"covert": False}})
        events.end_subscriptions()  # what the API app does at shutdown, before cleanup
        await publisher.stop()
        received = {body(await next_message(client))["id"] for _ in range(count)}
    assert received == set(range(1, count + 1))
    assert publisher.published == count and publisher.dropped == 0


async def test_shutdown_without_a_broker_does_not_wait_and_counts_the_loss(
        broker: Broker, publisher: MqttPublisher, events: EventLog) -> None:
    await wait_for(lambda: publisher.connected, "connected")
    broker.stop()
    await wait_for(lambda: not publisher.connected, "disconnected")
    for alert_id in range(1, 6):
        events.publish("alert", {"id": alert_id, "state": "new", "hit": {"covert": False}})
    started = time.monotonic()
    await publisher.stop()
    assert time.monotonic() - started < 0.5
    assert publisher.dropped == 5 and publisher.published == 0
