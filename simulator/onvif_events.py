"""The ONVIF event service of a simulated camera: PullPoint subscriptions and their events.

What a client sees is what a Profile M camera sends (ONVIF Core "Event handling", the
Analytics service's ``tns1:RuleEngine/Recognition/LicensePlate``), plus the motion, tamper,
signal-loss and digital-input properties of simulator.onvif_event_topics:

- ``GetEventProperties`` lists every topic the camera can send;
- ``CreatePullPointSubscription`` answers a subscription address on the camera's own HTTP
  server (``/onvif/events/subscription/<n>``), ``CurrentTime`` and ``TerminationTime``; it
  honours a ``Filter`` TopicExpression (ConcreteSet: ``|`` alternatives, ``//.`` subtrees),
  and queues one ``Initialized`` message per property with its present value, as real
  cameras do, then ``Changed`` ones;
- ``PullMessages`` posted to that address long-polls: it answers as soon as messages are
  queued, or after its ``Timeout`` with none, at most ``MessageLimit`` at a time;
- ``Renew`` and ``Unsubscribe`` (WS-BaseNotification) act on that address;
- ``Subscribe`` (WS-BaseNotification, ONVIF Core 9.2 "Basic Notification Interface") makes a
  push subscription: the same messages (Initialized, then Changed) are POSTed as SOAP 1.2
  ``wsnt:Notify`` to the ConsumerReference address, each POST bounded by
  `NOTIFY_TIMEOUT_S`; `MAX_DELIVERY_FAILURES` failed POSTs in a row, or the termination
  time, end it. It works with NO_PULLPOINT too: that is how such cameras are used;
- an unknown, unsubscribed or expired subscription answers a fault.

Lifetimes and timeouts are kept in *real* seconds, while every time the camera reports is on
its own (virtual) clock: a client that renews at half-life by its own clock must not be cut
off because a scenario runs 60 times faster (the same choice as the WS-Security window in
simulator.soap). Each subscription queues at most `MAX_QUEUED_MESSAGES`; when a client stops
pulling, the oldest messages are dropped, as a camera with a full event buffer does.

The property states move only while a subscription lives (a ticker task runs then, and a
delivery task per push subscription with its own HTTP session): 230 cameras nobody listens
to cost nothing. Quirks (simulator.model.CameraQuirk): NO_PULLPOINT
says WSPullPointSupport="false" and faults CreatePullPointSubscription (and PullMessages)
with ter:ActionNotSupported; NO_WS_ADDRESSING gives a SubscriptionReference with only its Address
(the envelope headers are left out by simulator.onvif_camera); NAIVE_TIME writes CurrentTime,
TerminationTime and UtcTime without a zone.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from lxml import etree

from simulator.event_subscription import (
    MAX_DELIVERY_FAILURES,
    MAX_QUEUED_MESSAGES,
    NOTIFY_TIMEOUT_S,
    SUBSCRIPTION_PREFIX,
    Subscription,
    deliver_notifications,
    parse_duration,
    resource_unknown,
    utc_text,
)
from simulator.model import CameraQuirk
from simulator.onvif_event_topics import (
    PLATE_TOPIC,
    CameraStates,
    PlateEvent,
    StateChange,
    get_event_properties,
    parse_topic_filter,
    plate_notification,
    state_messages,
)
from simulator.soap import (
    NS_TEV,
    NS_WSNT,
    SoapFault,
    action_not_supported,
    child_text,
    esc,
)

if TYPE_CHECKING:
    from simulator.onvif_camera import SimulatedCamera

log = logging.getLogger(__name__)

EVENTS_PATH = "/onvif/event_service"
# Namespace of the ReferenceParameters of a subscription (informative: the address alone
# names the subscription, as on Hikvision; Axis puts its SubscriptionId there).
NS_SUBSCRIPTION = "urn:citywatch:simulator:events"

# Subscription lifetime when CreatePullPointSubscription names none; Hikvision and Axis
# default to a minute or more, 60 s makes a client that never renews visible in tests.
DEFAULT_TERMINATION_S = 60.0
# Longest lifetime granted per request: a client that vanishes frees its slot within 10 min.
MAX_TERMINATION_S = 600.0
# A long-poll is capped like cameras cap it (clients ask for 10-60 s); more only ties up a
# connection the camera could need for others.
MAX_PULL_TIMEOUT_S = 60.0
# Messages per PullMessages answer at most (ONVIF lets the device cap MessageLimit).
MAX_MESSAGE_LIMIT = 100
# Live subscriptions per camera; embedded cameras allow a handful (Hikvision: 5-10).
MAX_PULL_POINTS = 10
# Push subscriptions (Subscribe) per camera: Hikvision and TRENDnet advertise
# MaxNotificationProducers="10".
MAX_PUSH_SUBSCRIPTIONS = 10
# Real seconds between looks at the property states while subscribed: changes get their
# exact (virtual) time anyway; this only bounds how late a client hears of them.
TICK_S = 0.25



class EventService:
    """The event service of one camera (see the module doc)."""

    def __init__(self, camera: SimulatedCamera) -> None:
        self.camera = camera
        self._subscriptions: dict[str, Subscription] = {}  # by path
        self._numbers = itertools.count(1)
        self._states: CameraStates | None = None  # made on first use: the camera is half built
        self._ticker: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ camera side

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """Live subscriptions (expired ones are forgotten here)."""
        self._purge()
        return tuple(self._subscriptions.values())

    @property
    def states(self) -> CameraStates:
        """The motion / tamper / signal-loss / digital-input states behind the events."""
        if self._states is None:
            self._states = CameraStates(self.camera)
        return self._states

    def _quirk(self, quirk: CameraQuirk) -> bool:
        return quirk in self.camera.spec.quirks

    def publish(self, event: PlateEvent) -> int:
        """Queue `event` on every live subscription; returns how many got it."""
        message = plate_notification(event, naive=self._quirk(CameraQuirk.NAIVE_TIME))
        return sum(sub.queue(PLATE_TOPIC, message) for sub in self.subscriptions)

    def set_digital_input(self, token: str, on: bool) -> int:
        """Set a digital input (a door contact closing); subscribers get a Changed message.
        Returns how many messages were queued. Raises ValueError for an unknown input."""
        change = self.states.set_input(token, on)
        if change is None or not self.subscriptions:
            return 0
        return self._publish_changes([change])

    def _publish_changes(self, changes: list[StateChange], operation: str = "Changed") -> int:
        naive = self._quirk(CameraQuirk.NAIVE_TIME)
        delivered = 0
        for change in changes:
            at = self.states.camera_time(change.at_s)
            for topic, message in state_messages(change, at, operation, naive):
                delivered += sum(sub.queue(topic, message) for sub in self.subscriptions)
        return delivered

    async def _tick(self) -> None:
        """Move the property states along while anybody subscribes; then end."""
        while self.subscriptions:
            self._publish_changes(self.states.advance())
            await asyncio.sleep(TICK_S)

    def _start_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(
                self._tick(), name=f"events {self.camera.spec.id}"
            )

    def drop_all(self) -> None:
        """Forget every subscription, as a reboot does; pending pulls answer with a fault."""
        for sub in self._subscriptions.values():
            sub.close()
        self._subscriptions.clear()
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for task in self._deliveries:
            task.cancel()  # a POST in flight is abandoned, as by a camera switched off

    def _purge(self) -> None:
        now = time.monotonic()
        for path, sub in list(self._subscriptions.items()):
            if not sub.alive(now):
                sub.close()
                del self._subscriptions[path]

    # ------------------------------------------------------------ SOAP side

    async def dispatch(
        self, namespace: str, action: str, body: etree._Element, path: str
    ) -> str:
        """Answer one event-service action posted to `path` (service or subscription)."""
        if namespace == NS_TEV and action == "GetEventProperties":
            return get_event_properties()
        pullpoint = not self._quirk(CameraQuirk.NO_PULLPOINT)
        if namespace == NS_TEV and action == "GetServiceCapabilities":
            return f"<tev:GetServiceCapabilitiesResponse>{event_service_caps(pullpoint)}" + (
                "</tev:GetServiceCapabilitiesResponse>"
            )
        if namespace == NS_WSNT and action == "Subscribe":
            return self._subscribe(body)
        if namespace == NS_TEV and action == "CreatePullPointSubscription":
            if not pullpoint:
                # As firmware without a pull point: the event service exists (topics, caps,
                # base notification), the pull point does not.
                raise action_not_supported(action)
            return self._create(body)
        if namespace == NS_TEV and action == "PullMessages":
            sub = self._find(path)
            if sub.consumer is not None:
                raise action_not_supported(action)  # a push subscription is not pulled
            return await self._pull_messages(sub, body)
        if namespace == NS_TEV and action == "SetSynchronizationPoint":
            self._find(path)
            return "<tev:SetSynchronizationPointResponse/>"
        if namespace == NS_WSNT and action == "Renew":
            return self._renew(self._find(path), body)
        if namespace == NS_WSNT and action == "Unsubscribe":
            sub = self._find(path)
            sub.close()
            self._subscriptions.pop(sub.path, None)
            log.debug("%s: subscription %d unsubscribed", self.camera.spec.name, sub.number)
            return "<wsnt:UnsubscribeResponse/>"
        raise action_not_supported(action)

    def _find(self, path: str) -> Subscription:
        if not path.startswith(SUBSCRIPTION_PREFIX):
            raise resource_unknown("not a subscription address")
        self._purge()
        sub = self._subscriptions.get(path)
        if sub is None:
            raise resource_unknown("no such subscription (unsubscribed or expired)")
        return sub

    def _lifetime(self, body: etree._Element, name: str) -> float:
        """Seconds asked for by a duration or an absolute time in `name`, bounded."""
        text = child_text(body, name)
        if not text:
            return DEFAULT_TERMINATION_S
        seconds = parse_duration(text)
        if seconds is None:
            try:
                until = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise SoapFault(
                    "Sender",
                    ("ter:InvalidArgVal",),
                    f"wsntw:UnacceptableTerminationTimeFault: {name} is not a duration or time",
                ) from None
            if until.tzinfo is None:
                until = until.replace(tzinfo=UTC)
            seconds = (until - self.camera.camera_now()).total_seconds()
        if seconds <= 0:
            raise SoapFault(
                "Sender",
                ("ter:InvalidArgVal",),
                f"wsntw:UnacceptableTerminationTimeFault: {name} is in the past",
            )
        return min(seconds, MAX_TERMINATION_S)

    def _times(self, sub: Subscription) -> tuple[str, str]:
        now = self.camera.camera_now()
        left = max(0.0, sub.expires - time.monotonic())
        naive = self._quirk(CameraQuirk.NAIVE_TIME)
        return utc_text(now, naive), utc_text(now + timedelta(seconds=round(left)), naive)

    def _new_subscription(self, body: etree._Element, consumer: str | None) -> Subscription:
        """A subscription for a Create/Subscribe `body`, with its Initialized messages
        queued; faults when the camera has no room left."""
        self._purge()
        push = consumer is not None
        limit = MAX_PUSH_SUBSCRIPTIONS if push else MAX_PULL_POINTS
        if sum((s.consumer is not None) == push for s in self._subscriptions.values()) >= limit:
            raise SoapFault(
                "Receiver",
                ("ter:Action", "ter:TooManySubscriptions"),
                f"At most {limit} {'push subscriptions' if push else 'pull points'}",
            )
        seconds = self._lifetime(body, "InitialTerminationTime")
        expression = child_text(body, "TopicExpression") or ""
        sub = Subscription(
            number=next(self._numbers), expires=time.monotonic() + seconds,
            topics=parse_topic_filter(expression), consumer=consumer,
        )
        # States first moved to now (the older subscribers hear of those changes), then
        # this one's Initialized messages with the present values.
        self._publish_changes(self.states.advance())
        self._subscriptions[sub.path] = sub
        naive = self._quirk(CameraQuirk.NAIVE_TIME)
        for change in self.states.current():
            at = self.states.camera_time(change.at_s)
            for topic, message in state_messages(change, at, "Initialized", naive):
                sub.queue(topic, message)
        self._start_ticker()
        log.debug("%s: subscription %d for %.0f s", self.camera.spec.name, sub.number, seconds)
        return sub

    def _create(self, body: etree._Element) -> str:
        sub = self._new_subscription(body, None)
        current, termination = self._times(sub)
        reference = "" if self._quirk(CameraQuirk.NO_WS_ADDRESSING) else (
            f'<wsa:ReferenceParameters><sim:SubscriptionId xmlns:sim="{NS_SUBSCRIPTION}">'
            f"{sub.number}</sim:SubscriptionId></wsa:ReferenceParameters>"
        )
        return (
            "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
            f"<wsa:Address>{esc(self.camera.advertise(self.camera.base_url + sub.path))}"
            "</wsa:Address>"
            f"{reference}</tev:SubscriptionReference>"
            f"<wsnt:CurrentTime>{current}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{termination}</wsnt:TerminationTime>"
            "</tev:CreatePullPointSubscriptionResponse>"
        )

    def _subscribe(self, body: etree._Element) -> str:
        """wsnt:Subscribe: a push subscription delivering to the ConsumerReference."""
        consumer = child_text(body, "Address") or ""  # ConsumerReference comes first
        if not consumer.startswith(("http://", "https://")):
            raise SoapFault(
                "Sender",
                ("ter:InvalidArgVal",),
                "wsntw:SubscribeCreationFailedFault: ConsumerReference is not an HTTP address",
            )
        sub = self._new_subscription(body, consumer)
        task = asyncio.get_running_loop().create_task(
            self._deliver(sub), name=f"notify {self.camera.spec.id} {sub.number}"
        )
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)
        current, termination = self._times(sub)
        return (
            "<wsnt:SubscribeResponse><wsnt:SubscriptionReference>"
            f"<wsa:Address>{esc(self.camera.advertise(self.camera.base_url + sub.path))}"
            "</wsa:Address></wsnt:SubscriptionReference>"
            f"<wsnt:CurrentTime>{current}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{termination}</wsnt:TerminationTime>"
            "</wsnt:SubscribeResponse>"
        )

    async def _deliver(self, sub: Subscription) -> None:
        """Push subscription `sub`'s messages to its consumer until it ends; then forget it."""
        address = self.camera.advertise(self.camera.base_url + sub.path)
        await deliver_notifications(sub, self.camera.spec.name, address)
        self._subscriptions.pop(sub.path, None)

    def _renew(self, sub: Subscription, body: etree._Element) -> str:
        seconds = self._lifetime(body, "TerminationTime")
        sub.expires = time.monotonic() + seconds
        current, termination = self._times(sub)
        return (
            f"<wsnt:RenewResponse><wsnt:TerminationTime>{termination}</wsnt:TerminationTime>"
            f"<wsnt:CurrentTime>{current}</wsnt:CurrentTime></wsnt:RenewResponse>"
        )

    async def _pull_messages(self, sub: Subscription, body: etree._Element) -> str:
        timeout_text = child_text(body, "Timeout") or ""
        timeout_s = parse_duration(timeout_text)
        if timeout_s is None:
            raise SoapFault("Sender", ("ter:InvalidArgVal",), "Timeout is not a duration")
        try:
            limit = int(child_text(body, "MessageLimit") or "1")
        except ValueError:
            raise SoapFault(
                "Sender", ("ter:InvalidArgVal",), "MessageLimit is not a number"
            ) from None
        limit = min(max(limit, 1), MAX_MESSAGE_LIMIT)
        deadline = time.monotonic() + min(timeout_s, MAX_PULL_TIMEOUT_S)
        while not sub.messages:
            # Waits no longer than the subscription lives: an expired one answers empty,
            # and the next request learns it is gone.
            remaining = min(deadline, sub.expires) - time.monotonic()
            if sub.closed or remaining <= 0:
                break
            sub.wakeup.clear()
            try:
                async with asyncio.timeout(remaining):
                    await sub.wakeup.wait()
            except TimeoutError:
                break
        if sub.closed:
            raise resource_unknown("subscription ended while waiting")
        batch = [sub.messages.popleft() for _ in range(min(limit, len(sub.messages)))]
        current, termination = self._times(sub)
        return (
            f"<tev:PullMessagesResponse><tev:CurrentTime>{current}</tev:CurrentTime>"
            f"<tev:TerminationTime>{termination}</tev:TerminationTime>"
            + "".join(batch)
            + "</tev:PullMessagesResponse>"
        )


def event_service_caps(pullpoint: bool = True) -> str:
    """tev:Capabilities as GetServices(IncludeCapability) and GetServiceCapabilities say
    (`pullpoint` False: the NO_PULLPOINT quirk)."""
    return (
        '<tev:Capabilities WSSubscriptionPolicySupport="false" '
        f'WSPullPointSupport="{str(pullpoint).lower()}" '
        'WSPausableSubscriptionManagerInterfaceSupport="false" '
        f'MaxNotificationProducers="{MAX_PUSH_SUBSCRIPTIONS}" '
        f'MaxPullPoints="{MAX_PULL_POINTS}" PersistentNotificationStorage="false"/>'
    )


def events_capabilities_tt(xaddr: str, pullpoint: bool = True) -> str:
    """The tt:Events element of GetCapabilities (`pullpoint` False: NO_PULLPOINT)."""
    return (
        f"<tt:Events><tt:XAddr>{esc(xaddr)}</tt:XAddr>"
        "<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
        f"<tt:WSPullPointSupport>{str(pullpoint).lower()}</tt:WSPullPointSupport>"
        "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
        "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>"
    )


# Actions the event service answers (dispatched asynchronously: PullMessages long-polls).
EVENT_ACTIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (NS_TEV, "GetEventProperties"),
        (NS_TEV, "GetServiceCapabilities"),
        (NS_TEV, "CreatePullPointSubscription"),
        (NS_TEV, "PullMessages"),
        (NS_TEV, "SetSynchronizationPoint"),
        (NS_WSNT, "Subscribe"),
        (NS_WSNT, "Renew"),
        (NS_WSNT, "Unsubscribe"),
    }
)


__all__ = [
    "EVENTS_PATH",
    "EVENT_ACTIONS",
    "MAX_DELIVERY_FAILURES",
    "MAX_QUEUED_MESSAGES",
    "NOTIFY_TIMEOUT_S",
    "SUBSCRIPTION_PREFIX",
    "EventService",
    "PlateEvent",
    "event_service_caps",
    "events_capabilities_tt",
    "parse_duration",
    "utc_text",
]
