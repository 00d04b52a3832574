"""Every ONVIF event of a camera (motion, tamper, video loss, digital input, plates, ...).

``parse_notifications`` turns a PullMessagesResponse, a Notify or an RTSP metadata-stream
document (``tt:MetadataStream``) into `CameraEvent`s: normalised topic, UTC time,
PropertyOperation, Source and Data items. ``OnvifCameraEvents`` subscribes with the shared
PullPoint machinery (drivers.onvif_pullpoint: renew, re-subscribe with backoff), or, on a
camera without a PullPoint, by WS-BaseNotification push (drivers.onvif_notify), and yields
them::

    async with OnvifCameraEvents(url, user, password) as camera:
        async for event in camera.events():
            if event.kind == "motion" and event.active:
                ...

Topics are compared by local names: vendors prefix the same ONVIF topic differently and
add their own namespaces (``tns1:RuleEngine/tnsajax:MotionDetector/Detection``), so `kind`
is read from a table of topic patterns copied from the recorded cameras
(tests/data/onvif/events). Times without a zone (firmware that forgets the "Z") are taken
as UTC. A malformed message is counted and skipped; a malformed document counts as one;
nothing here raises on what a camera sends.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from drivers.onvif_notify import PushFallbackClient
from drivers.onvif_pullpoint import OnvifEventsUnsupported

logger = logging.getLogger(__name__)

NS_WSNT = "http://docs.oasis-open.org/wsn/b-2"
NS_TT = "http://www.onvif.org/ver10/schema"
# Canonical prefixes of the topic namespaces seen in the field: a topic reads the same
# whatever prefix the camera's document bound.
TOPIC_PREFIXES = {
    "http://www.onvif.org/ver10/topics": "tns1",
    "http://www.axis.com/2009/event/topics": "tnsaxis",
    "http://www.hikvision.com/2011/event/topics": "tnshik",
    "http://ajax.systems/onvif/topics": "tnsajax",
}
# Most messages one document may hold: a PullMessages answer is capped by MessageLimit
# (<= 100 here); more is a broken or hostile camera, the rest is counted as rejected.
MAX_MESSAGES_PER_DOCUMENT = 1000
# ElementItem content kept as text at most (a vendor may embed a picture).
MAX_ELEMENT_CHARS = 4096
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
    remove_blank_text=True,
)

# kind by the topic's local path ("RuleEngine/CellMotionDetector/Motion"); first match wins.
# Tamper comes before motion: Tapo reports tamper under CellMotionDetector.
KIND_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), kind) for pattern, kind in (
        (r"(^|/)LicensePlate$", "plate"),
        (r"^RuleEngine/VehicleDetector/Vehicle$", "plate"),  # Hikvision ANPR
        (r"(^|/)Tamper(Detector)?(/|$)|^VideoSource/GlobalSceneChange(/|$)", "tamper"),
        (r"^VideoSource/(SignalLoss|VideoLoss)$", "video_loss"),
        (r"^Device/Trigger/(DigitalInput|AlarmIn)$", "digital_input"),
        (r"^Device/IO/(Port|VirtualInput)$", "digital_input"),  # Axis I/O ports
        (r"^VideoSource/MotionAlarm$", "motion"),
        (r"^RuleEngine/[^/]*Motion[^/]*Detector/Motion$", "motion"),
        (r"^RuleEngine/MotionDetector/", "motion"),  # Ajax
        (r"^VideoAnalytics/MotionDetection$", "motion"),  # Axis
        (r"^CameraApplicationPlatform/VMD/", "motion"),  # Axis VMD4
        (r"^Device/Sensor/PIR$", "motion"),  # a PIR detector senses movement
        (r"^RuleEngine/|^CameraApplicationPlatform/", "analytics"),
    )
)
# Data items that carry the on/off state of a property, lower-cased.
STATE_ITEMS = ("ismotion", "istamper", "state", "logicalstate", "active", "detected",
               "isinside")
_TRUE = frozenset({"true", "1", "active", "on"})
_FALSE = frozenset({"false", "0", "inactive", "off"})


@dataclass(frozen=True)
class CameraEvent:
    """One ONVIF notification of a camera, as the driver understood it."""

    topic: str  # normalised "tns1:VideoSource/MotionAlarm" form
    time: dt.datetime | None  # UTC, aware (naive camera times taken as UTC)
    operation: str  # "Initialized" | "Changed" | "Deleted" | "" (PropertyOperation)
    source: tuple[tuple[str, str], ...]  # SimpleItem Name/Value pairs of Source
    data: tuple[tuple[str, str], ...]  # SimpleItems (ElementItem: name -> its XML) of Data

    @property
    def kind(self) -> str:
        """"motion" | "tamper" | "video_loss" | "digital_input" | "plate" | "analytics" |
        "other", from the topic (KIND_PATTERNS)."""
        path = "/".join(part.rpartition(":")[2] for part in self.topic.split("/"))
        for pattern, kind in KIND_PATTERNS:
            if pattern.search(path):
                return kind
        return "other"

    @property
    def active(self) -> bool | None:
        """The state item's value (IsMotion, State, IsTamper, LogicalState, ...), None when
        the event has none (or it is not a boolean)."""
        for name, value in self.data:
            lowered = name.lower()
            if lowered in STATE_ITEMS or (lowered.startswith("is") and len(lowered) > 2):
                word = value.strip().lower()
                if word in _TRUE:
                    return True
                if word in _FALSE:
                    return False
        return None

    def item(self, name: str) -> str | None:
        """The value of a Source or Data item by name, None when absent."""
        return next((v for n, v in (*self.source, *self.data) if n == name), None)


def parse_notifications(xml: bytes) -> tuple[tuple[CameraEvent, ...], int]:
    """Every wsnt:NotificationMessage of a PullMessagesResponse (or Notify, or a metadata
    stream <tt:MetadataStream>) -> events, plus the number rejected as malformed."""
    if re.search(rb"<!DOCTYPE", xml[:4096], re.IGNORECASE):
        return (), 1  # no DTDs: defuses entity expansion and external entities
    try:
        root = etree.fromstring(xml, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return (), 1
    if root is None:
        return (), 1
    events: list[CameraEvent] = []
    rejected = 0
    for index, notification in enumerate(root.iter(f"{{{NS_WSNT}}}NotificationMessage")):
        if index >= MAX_MESSAGES_PER_DOCUMENT:
            rejected += 1
            continue
        event = _event(notification)
        if event is None:
            rejected += 1
        else:
            events.append(event)
    return tuple(events), rejected


def _event(notification: Any) -> CameraEvent | None:
    topic_element = notification.find(f"{{{NS_WSNT}}}Topic")
    message = notification.find(f"{{{NS_WSNT}}}Message/{{{NS_TT}}}Message")
    if topic_element is None or message is None:
        return None
    topic = normalise_topic("".join((topic_element.text or "").split()), topic_element.nsmap)
    if not topic:
        return None
    source = _simple_items(message.find(f"{{{NS_TT}}}Source"))
    data_element = message.find(f"{{{NS_TT}}}Data")
    simple = _simple_items(data_element)
    if source is None or simple is None:
        return None
    data = simple + _element_items(data_element)
    return CameraEvent(
        topic=topic,
        time=utc_time(message.get("UtcTime")),
        operation=(message.get("PropertyOperation") or "").strip(),
        source=source,
        data=data,
    )


def normalise_topic(text: str, nsmap: dict[str | None, str]) -> str:
    """`text` with each segment's prefix replaced by the canonical one of its namespace;
    a segment in the namespace of the one before it loses its (redundant) prefix."""
    parts = []
    previous: str | None = None
    for segment in filter(None, text.split("/")):
        prefix, colon, name = segment.rpartition(":")
        namespace = nsmap.get(prefix) if colon else None
        if not colon:
            parts.append(name)
            continue
        if namespace is not None and namespace == previous:
            parts.append(name)
            continue
        canonical = TOPIC_PREFIXES.get(namespace or "", prefix)
        parts.append(f"{canonical}:{name}")
        previous = namespace
    return "/".join(parts)


def _simple_items(parent: Any) -> tuple[tuple[str, str], ...] | None:
    """Name/Value of the SimpleItems of `parent` (none: ()); None when one lacks a Name."""
    if parent is None:
        return ()
    items = []
    for item in parent.iterchildren(f"{{{NS_TT}}}SimpleItem"):
        name = item.get("Name")
        if not name:
            return None
        items.append((name, item.get("Value") or ""))
    return tuple(items)


def _element_items(parent: Any) -> tuple[tuple[str, str], ...]:
    if parent is None:
        return ()
    items = []
    for item in parent.iterchildren(f"{{{NS_TT}}}ElementItem"):
        inner = "".join(
            etree.tostring(child, encoding="unicode") for child in item
            if isinstance(child.tag, str)
        )
        items.append((item.get("Name") or "", inner[:MAX_ELEMENT_CHARS]))
    return tuple(items)


def utc_time(text: str | None) -> dt.datetime | None:
    """An xsd:dateTime as aware UTC (no zone: UTC), None when absent or unreadable."""
    if not text:
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Python before 3.11 rejects other fraction lengths; cameras send 0-9 digits.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


class OnvifCameraEvents(PushFallbackClient):
    """Every event of one camera's event service (see the module doc).

    Options beyond PullPointClient's: `consumer_host`, `consumer_port` (where the camera
    calls back in push mode, drivers.onvif_notify); `mode` says "pullpoint" or "push".
    """

    def _decode(self, raw: bytes) -> tuple[CameraEvent, ...]:
        events, rejected = parse_notifications(raw)
        if rejected:
            self.rejected_messages += rejected
            logger.warning("%s: %d malformed event message(s) skipped", self.url, rejected)
        return events

    async def pull(self) -> tuple[CameraEvent, ...]:
        """One long-poll (subscribing or renewing first when due): the events of its answer.
        Raises OnvifError subclasses when the subscription is unusable."""
        return await self.pull_parsed(self._decode)

    async def events(self) -> AsyncGenerator[CameraEvent, None]:
        """Subscribe (PullPoint), long-poll, renew, re-subscribe with backoff; yields every
        event. Without a PullPoint, the same by push notification (wsnt:Subscribe, `mode`
        "push"). Ends by raising OnvifEventsUnsupported (camera with neither) or
        OnvifAuthError; other errors are retried."""
        async for event in self._follow_events(self.pull, self._decode):
            yield event


__all__ = [
    "KIND_PATTERNS",
    "CameraEvent",
    "OnvifCameraEvents",
    "OnvifEventsUnsupported",
    "normalise_topic",
    "parse_notifications",
    "utc_time",
]
