"""The ONVIF event service of a simulated camera: PullPoint subscriptions with plate events.

What a client sees is what a Profile M camera sends (ONVIF Core "Event handling", the
Analytics service's ``tns1:RuleEngine/Recognition/LicensePlate``):

- ``GetEventProperties`` lists the plate topic and the motion topic;
- ``CreatePullPointSubscription`` answers a subscription address on the camera's own HTTP
  server (``/onvif/events/subscription/<n>``), ``CurrentTime`` and ``TerminationTime``;
- ``PullMessages`` posted to that address long-polls: it answers as soon as messages are
  queued, or after its ``Timeout`` with none, at most ``MessageLimit`` at a time;
- ``Renew`` and ``Unsubscribe`` (WS-BaseNotification) act on that address;
- an unknown, unsubscribed or expired subscription answers a fault.

Lifetimes and timeouts are kept in *real* seconds, while every time the camera reports is on
its own (virtual) clock: a client that renews at half-life by its own clock must not be cut
off because a scenario runs 60 times faster (the same choice as the WS-Security window in
simulator.soap). Each subscription queues at most `MAX_QUEUED_MESSAGES`; when a client stops
pulling, the oldest messages are dropped, as a camera with a full event buffer does.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from lxml import etree

from simulator.soap import NS_TEV, NS_WSNT, SoapFault, action_not_supported, child_text, esc

if TYPE_CHECKING:
    from simulator.onvif_camera import SimulatedCamera

log = logging.getLogger(__name__)

EVENTS_PATH = "/onvif/event_service"
SUBSCRIPTION_PREFIX = "/onvif/events/subscription/"
NS_TNS1 = "http://www.onvif.org/ver10/topics"
NS_WSTOP = "http://docs.oasis-open.org/wsn/t-1"
PLATE_TOPIC = "tns1:RuleEngine/Recognition/LicensePlate"
MOTION_TOPIC = "tns1:VideoSource/MotionAlarm"
CONCRETE_DIALECT = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
# The analytics rule that produces the plate events (Profile M names it per configuration).
PLATE_RULE = "LicensePlateRecognition"

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
# Per-subscription queue: a minute of plates at a busy ANPR lane, bounded so a client that
# subscribed and went away cannot grow the camera's memory.
MAX_QUEUED_MESSAGES = 1000
# Live subscriptions per camera; embedded cameras allow a handful (Hikvision: 5-10).
MAX_PULL_POINTS = 10

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float | None:
    """Seconds of an xsd:duration without years or months ("PT60S", "P1DT2H"), else None."""
    match = _DURATION.match(text.strip())
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return (
        parts.get("d", 0.0) * 86400 + parts.get("h", 0.0) * 3600
        + parts.get("m", 0.0) * 60 + parts.get("s", 0.0)
    )


def utc_text(t: datetime) -> str:
    """An xsd:dateTime in UTC with a Z, whole seconds as most cameras send it."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_text_ms(t: datetime) -> str:
    # Event times carry milliseconds: two plates within a second must stay ordered.
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class PlateEvent:
    """One licence-plate recognition as the camera's analytics report it."""

    plate: str
    at: datetime  # on the camera's clock
    country: str | None  # ISO 3166-1 alpha-2
    likelihood: float  # 0..1
    plate_type: str | None = "Normal"
    issuing_entity: str | None = None  # region / state, e.g. "VLG"
    video_source: str = "VideoSource_1"
    rule: str = PLATE_RULE


def plate_notification(event: PlateEvent) -> str:
    """A wsnt:NotificationMessage carrying `event` in the Profile M layout."""
    likelihood = f"{min(1.0, max(0.0, event.likelihood)):.3f}"
    info = [f'<tt:PlateNumber Likelihood="{likelihood}">{esc(event.plate)}</tt:PlateNumber>']
    if event.plate_type:
        info.append(f"<tt:PlateType>{esc(event.plate_type)}</tt:PlateType>")
    if event.country:
        info.append(f"<tt:CountryCode>{esc(event.country)}</tt:CountryCode>")
    if event.issuing_entity:
        info.append(f"<tt:IssuingEntity>{esc(event.issuing_entity)}</tt:IssuingEntity>")
    return (
        f'<wsnt:NotificationMessage><wsnt:Topic Dialect="{CONCRETE_DIALECT}" '
        f'xmlns:tns1="{NS_TNS1}">{PLATE_TOPIC}</wsnt:Topic><wsnt:Message>'
        f'<tt:Message UtcTime="{_utc_text_ms(event.at)}" PropertyOperation="Changed">'
        f'<tt:Source><tt:SimpleItem Name="VideoSource" Value="{esc(event.video_source)}"/>'
        f'<tt:SimpleItem Name="Rule" Value="{esc(event.rule)}"/></tt:Source>'
        '<tt:Data><tt:ElementItem Name="LicensePlateInfo"><tt:LicensePlateInfo>'
        + "".join(info)
        + "</tt:LicensePlateInfo></tt:ElementItem></tt:Data></tt:Message></wsnt:Message>"
        "</wsnt:NotificationMessage>"
    )


def resource_unknown(what: str) -> SoapFault:
    """The fault for a subscription that does not exist (any more).

    WS-ResourceFramework names it wsrf-rw:ResourceUnknownFault; the shared envelope does not
    declare that prefix, so the code is the ONVIF equivalent and the reason names the WSRF
    fault (clients re-subscribe on either).
    """
    return SoapFault(
        "Sender",
        ("ter:InvalidArgVal", "ter:ResourceUnknown"),
        f"wsrf-rw:ResourceUnknownFault: {what}",
    )


@dataclass
class Subscription:
    """One PullPoint: its queue and its lifetime (a monotonic deadline, real seconds)."""

    number: int
    expires: float
    messages: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_QUEUED_MESSAGES))
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    closed: bool = False

    @property
    def path(self) -> str:
        return f"{SUBSCRIPTION_PREFIX}{self.number}"

    def alive(self, now: float) -> bool:
        return not self.closed and now < self.expires

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()  # a pending PullMessages answers (with the fault) at once


class EventService:
    """The event service of one camera (see the module doc)."""

    def __init__(self, camera: SimulatedCamera) -> None:
        self.camera = camera
        self._subscriptions: dict[str, Subscription] = {}  # by path
        self._numbers = itertools.count(1)

    # ------------------------------------------------------------ camera side

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """Live subscriptions (expired ones are forgotten here)."""
        self._purge()
        return tuple(self._subscriptions.values())

    def publish(self, event: PlateEvent) -> int:
        """Queue `event` on every live subscription; returns how many got it."""
        message = plate_notification(event)
        delivered = 0
        for sub in self.subscriptions:
            if len(sub.messages) == sub.messages.maxlen:
                sub.dropped += 1  # deque drops the oldest on append
            sub.messages.append(message)
            sub.wakeup.set()
            delivered += 1
        return delivered

    def drop_all(self) -> None:
        """Forget every subscription, as a reboot does; pending pulls answer with a fault."""
        for sub in self._subscriptions.values():
            sub.close()
        self._subscriptions.clear()

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
        if namespace == NS_TEV and action == "GetServiceCapabilities":
            return f"<tev:GetServiceCapabilitiesResponse>{event_service_caps()}" + (
                "</tev:GetServiceCapabilitiesResponse>"
            )
        if namespace == NS_TEV and action == "CreatePullPointSubscription":
            return self._create(body)
        if namespace == NS_TEV and action == "PullMessages":
            return await self._pull_messages(self._find(path), body)
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
        return utc_text(now), utc_text(now + timedelta(seconds=round(left)))

    def _create(self, body: etree._Element) -> str:
        self._purge()
        if len(self._subscriptions) >= MAX_PULL_POINTS:
            raise SoapFault(
                "Receiver",
                ("ter:Action", "ter:TooManySubscriptions"),
                f"At most {MAX_PULL_POINTS} pull points",
            )
        seconds = self._lifetime(body, "InitialTerminationTime")
        sub = Subscription(number=next(self._numbers), expires=time.monotonic() + seconds)
        self._subscriptions[sub.path] = sub
        current, termination = self._times(sub)
        log.debug("%s: subscription %d for %.0f s", self.camera.spec.name, sub.number, seconds)
        return (
            "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
            f"<wsa:Address>{esc(self.camera.base_url + sub.path)}</wsa:Address>"
            "</tev:SubscriptionReference>"
            f"<wsnt:CurrentTime>{current}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{termination}</wsnt:TerminationTime>"
            "</tev:CreatePullPointSubscriptionResponse>"
        )

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


def event_service_caps() -> str:
    """tev:Capabilities as GetServices(IncludeCapability) and GetServiceCapabilities say."""
    return (
        '<tev:Capabilities WSSubscriptionPolicySupport="false" WSPullPointSupport="true" '
        'WSPausableSubscriptionManagerInterfaceSupport="false" MaxNotificationProducers="0" '
        f'MaxPullPoints="{MAX_PULL_POINTS}" PersistentNotificationStorage="false"/>'
    )


def events_capabilities_tt(xaddr: str) -> str:
    """The tt:Events element of GetCapabilities."""
    return (
        f"<tt:Events><tt:XAddr>{esc(xaddr)}</tt:XAddr>"
        "<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
        "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
        "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
        "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>"
    )


def get_event_properties() -> str:
    """The topic set: licence-plate recognition (Profile M) and motion."""
    return (
        f'<tev:GetEventPropertiesResponse xmlns:tns1="{NS_TNS1}" xmlns:wstop="{NS_WSTOP}">'
        "<tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/"
        "topicns.xml</tev:TopicNamespaceLocation>"
        "<wsnt:FixedTopicSet>true</wsnt:FixedTopicSet>"
        "<wstop:TopicSet><tns1:RuleEngine><tns1:Recognition>"
        '<tns1:LicensePlate wstop:topic="true"><tt:MessageDescription IsProperty="false">'
        '<tt:Source><tt:SimpleItemDescription Name="VideoSource" Type="tt:ReferenceToken"/>'
        '<tt:SimpleItemDescription Name="Rule" Type="xsd:string"/></tt:Source>'
        '<tt:Data><tt:ElementItemDescription Name="LicensePlateInfo" '
        'Type="tt:LicensePlateInfo"/></tt:Data>'
        "</tt:MessageDescription></tns1:LicensePlate></tns1:Recognition></tns1:RuleEngine>"
        '<tns1:VideoSource><tns1:MotionAlarm wstop:topic="true">'
        '<tt:MessageDescription IsProperty="true"><tt:Source><tt:SimpleItemDescription '
        'Name="Source" Type="tt:ReferenceToken"/></tt:Source><tt:Data>'
        '<tt:SimpleItemDescription Name="State" Type="xsd:boolean"/></tt:Data>'
        "</tt:MessageDescription></tns1:MotionAlarm></tns1:VideoSource></wstop:TopicSet>"
        f"<wsnt:TopicExpressionDialect>{CONCRETE_DIALECT}</wsnt:TopicExpressionDialect>"
        "<wsnt:TopicExpressionDialect>http://docs.oasis-open.org/wsn/t-1/TopicExpression/"
        "ConcreteSet</wsnt:TopicExpressionDialect>"
        "<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/"
        "messageContentFilter/ItemFilter</tev:MessageContentFilterDialect>"
        "<tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/"
        "onvif.xsd</tev:MessageContentSchemaLocation>"
        "</tev:GetEventPropertiesResponse>"
    )


# Actions the event service answers (dispatched asynchronously: PullMessages long-polls).
EVENT_ACTIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (NS_TEV, "GetEventProperties"),
        (NS_TEV, "GetServiceCapabilities"),
        (NS_TEV, "CreatePullPointSubscription"),
        (NS_TEV, "PullMessages"),
        (NS_TEV, "SetSynchronizationPoint"),
        (NS_WSNT, "Renew"),
        (NS_WSNT, "Unsubscribe"),
    }
)
