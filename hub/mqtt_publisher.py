"""Publishes alerts and camera health changes to an MQTT broker (e.g. Mosquitto), for
systems outside the control room: dashboards, building automation, other hubs.

Topics (PREFIX defaults to "citywatch"):
  PREFIX/alerts/<id>          alert_json of every alert change, QoS 1, not retained
  PREFIX/cameras/<id>/state   camera_json when the shown state changes, QoS 1, retained;
                              an empty retained message when the camera leaves the hub
Alerts with a covert hit (best or other) are never published: covert lists reach the
control room only.

The hub never waits for the broker: changes wait in a bounded set of pending messages
(one per topic: only the newest state of an alert or camera matters), the oldest are
dropped and counted when the broker stays away, and the connection is retried with
backoff. After every reconnection the retained camera states are published again (a
restarted broker without persistence has lost them). At shutdown the pending messages
get DRAIN_TIMEOUT_S to reach a connected broker; what is left then is counted as dropped.

`serve --mqtt HOST[:PORT]` uses install_mqtt(app, ...) on the API app, whose EventLog
(hub.api_events) it follows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import secrets
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiomqtt
from aiohttp import web

from hub.api_events import EVENT_LOG_KEY
from hub.api_server import parse_listen
from hub.event_log import (
    ALERT,
    CAMERA,
    CAMERA_REMOVED,
    Event,
    EventLog,
    SubscriberDropped,
    Subscription,
)
from hub.tasks import cancel_all

log = logging.getLogger(__name__)

DEFAULT_PORT = 1883
DEFAULT_PREFIX = "citywatch"
# Pending messages (distinct topics) while the broker is slow or away: every camera of
# a large city plus the alerts of an hour-long outage; past it the oldest are dropped.
PENDING_LIMIT = 5_000
# Reconnect waits after the n-th failure in a row (the last repeats): a restarted
# broker is back in seconds; 30 s caps the load of a hub knocking on a dead one.
RECONNECT_DELAYS_S: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)
RECONNECT_JITTER = 0.2  # +-20 %: hubs of several sites do not reconnect in lockstep
# Connect and PUBACK timeout: a broker on the network answers in milliseconds.
MQTT_TIMEOUT_S = 10.0
QOS = 1  # at least once: an alert must not vanish on a flaky link
# At shutdown, how long the messages still pending may take to reach a connected broker:
# the last alerts before a restart are the ones an operator is waiting for, but a broker
# that is gone must not hold the hub's shutdown (its grace is a few seconds).
DRAIN_TIMEOUT_S = 2.0
# Broker credentials come from the environment, never the command line (`ps` shows it).
USERNAME_ENV = "CITYWATCH_MQTT_USERNAME"
PASSWORD_ENV = "CITYWATCH_MQTT_PASSWORD"

# Characters that would change a topic's meaning (levels, wildcards).
_TOPIC_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_", "\0": "_"})


@dataclass(frozen=True)
class MqttMessage:
    topic: str
    payload: bytes
    retain: bool


def parse_broker(text: str) -> tuple[str, int]:
    """"HOST[:PORT]" -> (host, port), port 1883 by default; ValueError with a reason."""
    if ":" not in text.strip("[]") or text.endswith("]"):
        host = text.strip("[]")
        if not host:
            raise ValueError("expected HOST[:PORT]")
        return host, DEFAULT_PORT
    return parse_listen(text)


def install_mqtt(app: web.Application, broker: str,
                 topic_prefix: str = DEFAULT_PREFIX) -> MqttPublisher:
    """Publish the API app's events to `broker` ("HOST[:PORT]") while the app runs
    (`serve --mqtt`); credentials from $CITYWATCH_MQTT_USERNAME / _PASSWORD. Raises
    ValueError for an unusable address."""
    host, port = parse_broker(broker)
    publisher = MqttPublisher(host, port, topic_prefix, os.environ.get(USERNAME_ENV) or None,
                              os.environ.get(PASSWORD_ENV) or None)

    async def start(app: web.Application) -> None:
        await publisher.start(app[EVENT_LOG_KEY])

    async def stop(_: web.Application) -> None:
        await publisher.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app[MQTT_PUBLISHER_KEY] = publisher
    return publisher


def topic_part(text: str) -> str:
    """An id as one topic level."""
    return text.translate(_TOPIC_UNSAFE) or "_"


def is_covert(alert: Mapping[str, Any]) -> bool:
    """Whether an alert_json has a hit from a covert list (best or other)."""
    hits = [alert.get("hit") or {}, *(alert.get("other_hits") or [])]
    return any(isinstance(h, Mapping) and h.get("covert") for h in hits)


class MqttPublisher:
    """`await start(event_log)` publishes from then on; `await stop()` at shutdown.
    `connected`, `connections` (successful connects), `published`, `dropped`, `withheld`
    (covert alerts) and `last_error` say how it goes."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, topic_prefix: str = DEFAULT_PREFIX,
                 username: str | None = None, password: str | None = None, *,
                 pending_limit: int = PENDING_LIMIT,
                 reconnect_delays_s: Sequence[float] = RECONNECT_DELAYS_S) -> None:
        self.host, self.port = host, port
        self.prefix = topic_prefix.strip("/") or DEFAULT_PREFIX
        self._username, self._password = username, password
        self._identifier = f"citywatch-hub-{secrets.token_hex(4)}"
        self._pending_limit = pending_limit
        self._delays = tuple(reconnect_delays_s) or RECONNECT_DELAYS_S
        self._pending: OrderedDict[str, MqttMessage] = OrderedDict()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()  # nothing pending and no publish in flight
        self._drained.set()
        self._retained: dict[str, MqttMessage] = {}  # last published state per camera topic
        self._shown: dict[str, str] = {}  # camera id -> shown state last queued
        self._cursor: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = False
        self.last_error: str | None = None
        self.published = 0
        self.dropped = 0
        self.withheld = 0
        self.connections = 0

    def __repr__(self) -> str:  # never the password
        return f"MqttPublisher({self.host}:{self.port}, prefix={self.prefix!r})"

    async def start(self, events: EventLog) -> None:
        """Follow `events` (from now on) and connect to the broker in the background."""
        _, _, live = events.subscribe(None)
        self._tasks = [
            asyncio.create_task(self._follow(events, live), name="mqtt:follow"),
            asyncio.create_task(self._connection(), name="mqtt:connection"),
        ]
        log.info("mqtt: publishing to %s:%s under %s/", self.host, self.port, self.prefix)

    async def stop(self, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Stop following; first give the pending messages `drain_timeout_s` to reach the
        broker if it is connected (those still pending then are counted in `dropped`)."""
        # One turn of the loop lets the follow task take what the event log already queued
        # for it (it takes a queued backlog without suspending).
        await asyncio.sleep(0)
        if self.connected and not self._drained.is_set():
            try:
                async with asyncio.timeout(drain_timeout_s):
                    await self._drained.wait()
            except TimeoutError:
                log.warning("mqtt: broker %s:%s: %d messages not sent at shutdown",
                            self.host, self.port, len(self._pending))
        await cancel_all(self._tasks)
        self._tasks.clear()
        self.dropped += len(self._pending)
        self._pending.clear()

    # events -> pending messages --------------------------------------------------------

    async def _follow(self, events: EventLog, live: Subscription) -> None:
        try:
            while True:
                try:
                    async for event in live:
                        self._take(event)
                    return  # the event log ended (hub shutdown)
                except SubscriberDropped:
                    # Cannot happen while _take stays synchronous; resume rather than stop.
                    live.close()
                    resumed, backlog, live = events.subscribe(self._cursor)
                    if not resumed:
                        log.warning("mqtt: fell behind the event log; some changes are lost")
                    for event in backlog:
                        self._take(event)
        finally:
            live.close()

    def _take(self, event: Event) -> None:
        self._cursor = event.cursor
        data = event.data
        if event.type == ALERT:
            if is_covert(data):
                self.withheld += 1
                return
            topic = f"{self.prefix}/alerts/{topic_part(str(data.get('id')))}"
            self._queue(MqttMessage(topic, _payload(data), retain=False))
        elif event.type == CAMERA and event.camera is not None:
            shown = str(data.get("shown_state"))
            if self._shown.get(event.camera) == shown:
                return  # fps, bitrate or detail changed: not news for a state topic
            self._shown[event.camera] = shown
            self._queue(MqttMessage(self._state_topic(event.camera), _payload(data),
                                    retain=True))
        elif event.type == CAMERA_REMOVED and event.camera is not None:
            self._shown.pop(event.camera, None)
            topic = self._state_topic(event.camera)
            self._retained.pop(topic, None)
            self._queue(MqttMessage(topic, b"", retain=True))  # clears the retained state

    def _state_topic(self, camera_id: str) -> str:
        return f"{self.prefix}/cameras/{topic_part(camera_id)}/state"

    def _queue(self, message: MqttMessage) -> None:
        self._pending.pop(message.topic, None)  # the newer state replaces and goes last
        self._pending[message.topic] = message
        self._drained.clear()
        while len(self._pending) > self._pending_limit:
            self._pending.popitem(last=False)
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("mqtt: broker %s:%s not keeping up; %d messages dropped so far",
                            self.host, self.port, self.dropped)
        self._wake.set()

    def _requeue(self, message: MqttMessage) -> None:
        """Put back a message that was not acknowledged, first in line, unless a newer
        one for its topic is waiting."""
        if message.topic not in self._pending:
            self._pending[message.topic] = message
            self._pending.move_to_end(message.topic, last=False)
            self._drained.clear()

    # pending messages -> broker --------------------------------------------------------

    async def _connection(self) -> None:
        failures = 0
        while True:
            try:
                client = aiomqtt.Client(
                    self.host, self.port, username=self._username, password=self._password,
                    identifier=self._identifier, timeout=MQTT_TIMEOUT_S)
                async with client:
                    self.connected = True
                    self.connections += 1
                    log.info("mqtt: connected to %s:%s", self.host, self.port)
                    failures = 0
                    for message in self._retained.values():
                        self._requeue(message)  # a restarted broker may have lost them
                    await self._serve(client)
            except (aiomqtt.MqttError, OSError) as exc:
                self.last_error = str(exc) or type(exc).__name__
            finally:
                self.connected = False
            delay = self._delays[min(failures, len(self._delays) - 1)]
            delay *= 1 + random.uniform(-RECONNECT_JITTER, RECONNECT_JITTER)
            failures += 1
            log.warning("mqtt: broker %s:%s: %s; retrying in %.1f s",
                        self.host, self.port, self.last_error, delay)
            await asyncio.sleep(delay)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Publish until the connection fails. A QoS 1 publish in flight would otherwise
        wait out its PUBACK timeout after the broker went away; the client's message
        iterator (we subscribe to nothing) raises at once on a disconnection."""
        tasks = [asyncio.create_task(self._publish_pending(client), name="mqtt:publish"),
                 asyncio.create_task(_until_disconnected(client), name="mqtt:watch")]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises the connection's MqttError
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _publish_pending(self, client: aiomqtt.Client) -> None:
        while True:
            if not self._pending:
                self._drained.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            _, message = self._pending.popitem(last=False)
            try:
                await client.publish(message.topic, message.payload, qos=QOS,
                                     retain=message.retain, timeout=MQTT_TIMEOUT_S)
            except (aiomqtt.MqttError, asyncio.CancelledError):  # not acknowledged
                self._requeue(message)
                raise
            self.published += 1
            if message.retain and message.payload:
                self._retained[message.topic] = message


async def _until_disconnected(client: aiomqtt.Client) -> None:
    async for _ in client.messages:
        pass  # nothing is subscribed: this only ends with the connection
    raise aiomqtt.MqttError("the broker closed the connection")


MQTT_PUBLISHER_KEY: web.AppKey[MqttPublisher] = web.AppKey("citywatch_mqtt", MqttPublisher)


def _payload(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
