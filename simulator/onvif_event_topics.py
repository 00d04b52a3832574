"""What a simulated camera's event service can say: the topic catalogue and the state events.

Topics and item names are those real cameras declare in GetEventProperties (the Hikvision
recordings in tests/data/onvif/*/GetEventProperties.xml, ONVIF Core "Topic structure"):

- ``tns1:VideoSource/MotionAlarm`` (Source, State) and ``tns1:RuleEngine/CellMotionDetector/
  Motion`` (VideoSourceConfigurationToken, VideoAnalyticsConfigurationToken, Rule, IsMotion):
  Hikvision and Tapo send both for one motion;
- ``tns1:RuleEngine/TamperDetector/Tamper`` (... IsTamper);
- ``tns1:VideoSource/SignalLoss`` (Source, State);
- ``tns1:Device/Trigger/DigitalInput`` (InputToken, LogicalState);
- ``tns1:RuleEngine/Recognition/LicensePlate`` (Profile M, not a property: `PlateEvent`,
  `plate_notification`).

``Filter`` TopicExpressions of CreatePullPointSubscription are matched by `topic_matches`.

`CameraStates` holds the states behind the property topics and says when they change, on
the camera's virtual clock: motion from a seeded per-camera process (a passing vehicle keeps
the detector active a few seconds, every 10-60 s), tamper while a stream of the camera is
BLACK, signal loss while one STALLs or is DISCONNECTed (the RTSP server's fault table, as the
camera's encoder would notice), digital inputs as a scenario or test sets them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from simulator.soap import esc
from simulator.stream_faults import StreamFault

if TYPE_CHECKING:
    from simulator.onvif_camera import SimulatedCamera

NS_TNS1 = "http://www.onvif.org/ver10/topics"
NS_WSTOP = "http://docs.oasis-open.org/wsn/t-1"
CONCRETE_DIALECT = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"

PLATE_TOPIC = "tns1:RuleEngine/Recognition/LicensePlate"
MOTION_TOPIC = "tns1:VideoSource/MotionAlarm"
CELL_MOTION_TOPIC = "tns1:RuleEngine/CellMotionDetector/Motion"
TAMPER_TOPIC = "tns1:RuleEngine/TamperDetector/Tamper"
SIGNAL_LOSS_TOPIC = "tns1:VideoSource/SignalLoss"
DIGITAL_INPUT_TOPIC = "tns1:Device/Trigger/DigitalInput"

# The analytics rule that produces the plate events (Profile M names it per configuration).
PLATE_RULE = "LicensePlateRecognition"
# Tokens the messages name: those of simulator.onvif_media, and the analytics configuration
# and rule names Hikvision firmware uses (recorded in the Tapo/Hikvision notifications).
VIDEO_SOURCE = "VideoSource_1"
VIDEO_SOURCE_CONFIG = "VideoSourceConfig_1"
ANALYTICS_CONFIG = "VideoAnalyticsToken"
MOTION_RULE = "MyMotionDetectorRule"
TAMPER_RULE = "MyTamperDetectorRule"
# One alarm input, as on most fixed cameras (a door contact, a PIR).
DIGITAL_INPUTS: tuple[str, ...] = ("DigitalInput_1",)

# Motion: a vehicle passing keeps the detector active this many scenario seconds...
MOTION_ACTIVE_S = (2.0, 6.0)
# ...and the next one comes after this much quiet (a side street, not a motorway).
MOTION_GAP_S = (10.0, 60.0)
TAMPER_FAULTS = frozenset({StreamFault.BLACK})  # lens covered or sprayed: a black picture
SIGNAL_LOSS_FAULTS = frozenset({StreamFault.STALL, StreamFault.DISCONNECT})

SIMPLE = "SimpleItemDescription"
ELEMENT = "ElementItemDescription"


@dataclass(frozen=True)
class TopicSpec:
    """One topic of GetEventProperties: its message description."""

    topic: str
    is_property: bool
    source: tuple[tuple[str, str], ...]  # (Name, Type) of Source SimpleItems
    data: tuple[tuple[str, str, str], ...]  # (Name, Type, SIMPLE | ELEMENT) of Data items


_RULE_SOURCE = (
    ("VideoSourceConfigurationToken", "tt:ReferenceToken"),
    ("VideoAnalyticsConfigurationToken", "tt:ReferenceToken"),
    ("Rule", "xsd:string"),
)
CATALOGUE: tuple[TopicSpec, ...] = (
    TopicSpec(PLATE_TOPIC, False,
              (("VideoSource", "tt:ReferenceToken"), ("Rule", "xsd:string")),
              (("LicensePlateInfo", "tt:LicensePlateInfo", ELEMENT),)),
    TopicSpec(MOTION_TOPIC, True, (("Source", "tt:ReferenceToken"),),
              (("State", "xsd:boolean", SIMPLE),)),
    TopicSpec(SIGNAL_LOSS_TOPIC, True, (("Source", "tt:ReferenceToken"),),
              (("State", "xsd:boolean", SIMPLE),)),
    TopicSpec(CELL_MOTION_TOPIC, True, _RULE_SOURCE, (("IsMotion", "xsd:boolean", SIMPLE),)),
    TopicSpec(TAMPER_TOPIC, True, _RULE_SOURCE, (("IsTamper", "xsd:boolean", SIMPLE),)),
    TopicSpec(DIGITAL_INPUT_TOPIC, True, (("InputToken", "tt:ReferenceToken"),),
              (("LogicalState", "xsd:boolean", SIMPLE),)),
)


def _description(spec: TopicSpec) -> str:
    source = "".join(
        f'<tt:SimpleItemDescription Name="{n}" Type="{t}"/>' for n, t in spec.source
    )
    data = "".join(f'<tt:{kind} Name="{n}" Type="{t}"/>' for n, t, kind in spec.data)
    prop = "true" if spec.is_property else "false"
    return (
        f'<tt:MessageDescription IsProperty="{prop}"><tt:Source>{source}</tt:Source>'
        f"<tt:Data>{data}</tt:Data></tt:MessageDescription>"
    )


_Tree = dict[str, "_Tree"]


def topic_set() -> str:
    """The wstop:TopicSet of every topic in CATALOGUE, as nested tns1 elements."""
    tree: _Tree = {}
    leaves: dict[tuple[str, ...], TopicSpec] = {}
    for spec in CATALOGUE:
        path = tuple(spec.topic.split(":", 1)[1].split("/"))
        leaves[path] = spec
        node = tree
        for part in path:
            node = node.setdefault(part, {})

    def render(node: _Tree, prefix: tuple[str, ...]) -> str:
        out = []
        for name, children in node.items():
            path = (*prefix, name)
            spec = leaves.get(path)
            inner = _description(spec) if spec else ""
            mark = ' wstop:topic="true"' if spec else ""
            out.append(f"<tns1:{name}{mark}>{inner}{render(children, path)}</tns1:{name}>")
        return "".join(out)

    return f"<wstop:TopicSet>{render(tree, ())}</wstop:TopicSet>"


def get_event_properties() -> str:
    """The GetEventPropertiesResponse body: every topic the camera can send."""
    return (
        f'<tev:GetEventPropertiesResponse xmlns:tns1="{NS_TNS1}" xmlns:wstop="{NS_WSTOP}">'
        "<tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/"
        "topicns.xml</tev:TopicNamespaceLocation>"
        "<wsnt:FixedTopicSet>true</wsnt:FixedTopicSet>"
        + topic_set()
        + f"<wsnt:TopicExpressionDialect>{CONCRETE_DIALECT}</wsnt:TopicExpressionDialect>"
        "<wsnt:TopicExpressionDialect>http://docs.oasis-open.org/wsn/t-1/TopicExpression/"
        "ConcreteSet</wsnt:TopicExpressionDialect>"
        "<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/"
        "messageContentFilter/ItemFilter</tev:MessageContentFilterDialect>"
        "<tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/"
        "onvif.xsd</tev:MessageContentSchemaLocation>"
        "</tev:GetEventPropertiesResponse>"
    )


def time_text(t: datetime, *, naive: bool = False, ms: bool = False) -> str:
    """An xsd:dateTime in UTC; `naive`: without the "Z" (the NAIVE_TIME quirk); `ms`: with
    milliseconds (event times: two events within a second must stay ordered)."""
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if ms:
        text += f".{t.microsecond // 1000:03d}"
    return text if naive else text + "Z"


def notification(
    topic: str, utc_time: str, operation: str,
    source: tuple[tuple[str, str], ...], data: tuple[tuple[str, str], ...],
) -> str:
    """A wsnt:NotificationMessage with SimpleItems (the layout of the recorded cameras)."""
    def items(pairs: tuple[tuple[str, str], ...]) -> str:
        return "".join(
            f'<tt:SimpleItem Name="{esc(n)}" Value="{esc(v)}"/>' for n, v in pairs
        )

    return (
        f'<wsnt:NotificationMessage><wsnt:Topic Dialect="{CONCRETE_DIALECT}" '
        f'xmlns:tns1="{NS_TNS1}">{topic}</wsnt:Topic><wsnt:Message>'
        f'<tt:Message UtcTime="{utc_time}" PropertyOperation="{operation}">'
        f"<tt:Source>{items(source)}</tt:Source><tt:Data>{items(data)}</tt:Data>"
        "</tt:Message></wsnt:Message></wsnt:NotificationMessage>"
    )


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


def plate_notification(event: PlateEvent, naive: bool = False) -> str:
    """A wsnt:NotificationMessage carrying `event` in the Profile M layout (`naive`: its
    time without a zone)."""
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
        f'<tt:Message UtcTime="{time_text(event.at, naive=naive, ms=True)}" '
        'PropertyOperation="Changed">'
        f'<tt:Source><tt:SimpleItem Name="VideoSource" Value="{esc(event.video_source)}"/>'
        f'<tt:SimpleItem Name="Rule" Value="{esc(event.rule)}"/></tt:Source>'
        '<tt:Data><tt:ElementItem Name="LicensePlateInfo"><tt:LicensePlateInfo>'
        + "".join(info)
        + "</tt:LicensePlateInfo></tt:ElementItem></tt:Data></tt:Message></wsnt:Message>"
        "</wsnt:NotificationMessage>"
    )


def parse_topic_filter(expression: str) -> tuple[str, ...]:
    """The alternatives of a ConcreteSet TopicExpression ("a|b//."), whitespace removed."""
    return tuple(p for p in ("".join(a.split()) for a in expression.split("|")) if p)


def topic_matches(topic: str, alternatives: tuple[str, ...]) -> bool:
    """Whether `topic` is one of the alternatives or below one ending in "//."."""
    for alt in alternatives:
        if alt.endswith("//."):
            if topic == alt[:-3] or topic.startswith(alt[:-3] + "/"):
                return True
        elif topic == alt:
            return True
    return False


def _bool(on: bool) -> str:
    return "true" if on else "false"


@dataclass(frozen=True)
class StateChange:
    """A property's value at a scenario moment (seconds since the clock's start)."""

    property: str  # "motion" | "tamper" | "signal_loss" | "input:<token>"
    on: bool
    at_s: float


def state_messages(
    change: StateChange, at: datetime, operation: str, naive: bool
) -> list[tuple[str, str]]:
    """(topic, notification) of one property state (motion: both motion topics)."""
    stamp = time_text(at, naive=naive, ms=True)
    value = _bool(change.on)
    rule_source = (
        ("VideoSourceConfigurationToken", VIDEO_SOURCE_CONFIG),
        ("VideoAnalyticsConfigurationToken", ANALYTICS_CONFIG),
    )
    if change.property == "motion":
        return [
            (MOTION_TOPIC, notification(MOTION_TOPIC, stamp, operation,
                                        (("Source", VIDEO_SOURCE),), (("State", value),))),
            (CELL_MOTION_TOPIC, notification(CELL_MOTION_TOPIC, stamp, operation,
                                             (*rule_source, ("Rule", MOTION_RULE)),
                                             (("IsMotion", value),))),
        ]
    if change.property == "tamper":
        return [(TAMPER_TOPIC, notification(TAMPER_TOPIC, stamp, operation,
                                            (*rule_source, ("Rule", TAMPER_RULE)),
                                            (("IsTamper", value),)))]
    if change.property == "signal_loss":
        return [(SIGNAL_LOSS_TOPIC, notification(SIGNAL_LOSS_TOPIC, stamp, operation,
                                                 (("Source", VIDEO_SOURCE),),
                                                 (("State", value),)))]
    token = change.property.removeprefix("input:")
    return [(DIGITAL_INPUT_TOPIC, notification(DIGITAL_INPUT_TOPIC, stamp, operation,
                                               (("InputToken", token),),
                                               (("LogicalState", value),)))]


def motion_passes(seed: str) -> Iterator[tuple[float, float]]:
    """(start, end) scenario seconds of every motion period, from the clock's start."""
    rng = random.Random(seed)
    t = 0.0
    while True:
        start = t + rng.uniform(*MOTION_GAP_S)
        end = start + rng.uniform(*MOTION_ACTIVE_S)
        yield start, end
        t = end


class CameraStates:
    """The property states of one camera and their changes (see the module doc).

    `advance()` is only called while somebody subscribes: a camera nobody listens to costs
    nothing, and catching up after a quiet hour skips the passes nobody saw."""

    def __init__(
        self, camera: SimulatedCamera,
        stream_faults: Callable[[], frozenset[StreamFault]] | None = None,
    ) -> None:
        self.camera = camera
        self._stream_faults = stream_faults or self._rtsp_faults
        self._passes = motion_passes(f"citywatch-motion:{camera.seed}:{camera.spec.id}")
        self._pass = next(self._passes)
        self._t = 0.0  # scenario seconds up to which the states are known
        self.states: dict[str, bool] = {
            "motion": False, "tamper": False, "signal_loss": False,
            **{f"input:{token}": False for token in DIGITAL_INPUTS},
        }

    def _rtsp_faults(self) -> frozenset[StreamFault]:
        rtsp = self.camera.rtsp
        if rtsp is None:
            return frozenset()
        out: set[StreamFault] = set()
        for token in self.camera.served_profiles:
            out |= rtsp.faults(f"{self.camera.spec.id}/{token}")
        return frozenset(out)

    def camera_time(self, at_s: float) -> datetime:
        """Scenario seconds as a time on the camera's own clock (with its drift)."""
        return self.camera.camera_now() + timedelta(seconds=at_s - self.camera.clock.elapsed())

    def current(self) -> list[StateChange]:
        """Every property's present value (for the Initialized messages)."""
        now = self.camera.clock.elapsed()
        return [StateChange(name, on, now) for name, on in self.states.items()]

    def advance(self) -> list[StateChange]:
        """Move the states to now; the changes on the way, in time order."""
        now = self.camera.clock.elapsed()
        changes: list[StateChange] = []
        if now < self._t:
            return changes
        while self._pass[0] <= now:
            start, end = self._pass
            if start >= self._t:  # not a pass already half reported
                changes.append(StateChange("motion", True, start))
            if end > now:
                break
            changes.append(StateChange("motion", False, end))
            self._pass = next(self._passes)
        faults = self._stream_faults()
        changes.append(StateChange("tamper", bool(faults & TAMPER_FAULTS), now))
        changes.append(StateChange("signal_loss", bool(faults & SIGNAL_LOSS_FAULTS), now))
        self._t = now
        return [c for c in changes if self._set(c)]

    def set_input(self, token: str, on: bool) -> StateChange | None:
        """Set a digital input; the change, or None when it already was in that state."""
        if token not in DIGITAL_INPUTS:
            raise ValueError(f"no digital input {token!r} (inputs: {', '.join(DIGITAL_INPUTS)})")
        change = StateChange(f"input:{token}", on, self.camera.clock.elapsed())
        return change if self._set(change) else None

    def _set(self, change: StateChange) -> bool:
        if self.states.get(change.property) == change.on:
            return False
        self.states[change.property] = change.on
        return True


# WS-BaseNotification's action URI of a Notify (WS-BaseNotification 1.3, bw-2 WSDL).
NOTIFY_ACTION = "http://docs.oasis-open.org/wsn/bw-2/NotificationConsumer/Notify"


def notify_body(messages: list[str] | tuple[str, ...]) -> str:
    """The wsnt:Notify a camera POSTs to a consumer, holding `messages` (the same
    wsnt:NotificationMessage elements a PullMessagesResponse carries)."""
    return "<wsnt:Notify>" + "".join(messages) + "</wsnt:Notify>"


def notify_header(consumer: str, subscription: str) -> str:
    """WS-Addressing headers of a Notify: To the consumer, as real cameras send them
    (Hikvision and Axis add the subscription's reference; the address says it here)."""
    return (
        f"<wsa:Action>{esc(NOTIFY_ACTION)}</wsa:Action>"
        f"<wsa:To>{esc(consumer)}</wsa:To>"
        f"<wsa:From><wsa:Address>{esc(subscription)}</wsa:Address></wsa:From>"
    )
