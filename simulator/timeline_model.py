"""What a scenario's `[[timeline]]` and `[[expect]]` sections become once validated.

Times in a timeline are scenario time (seconds after the scenario's start on the virtual
clock). Expectation windows (`within`) are real seconds: the hub under test runs in real
time, as it does in production, so how fast it notices something does not scale with the
simulator's speed (docs/scenarios.md "Timeline and expectations").

The simulator plays the device events (simulator/timeline.py); operator actions (WANTED)
are handed to whoever runs the scenario, who performs them through the hub's interface.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EventKind(enum.StrEnum):
    """Kinds of `[[timeline]]` entries (the `kind` key)."""

    FAULT = "fault"  # a camera or stream fault on a camera, optionally for a duration
    REBOOT = "reboot"  # the camera goes offline (subscriptions dropped) and comes back
    GPS = "gps"  # a GPS receiver fault on a vehicle, optionally for a duration
    PLATE = "plate"  # a given plate passes an ALPR unit (read as `seen` if set)
    MOVE = "move"  # a temporary camera is taken down and set up at another position
    WANTED = "wanted"  # an operator adds a wanted plate (performed through the hub)


@dataclass(frozen=True)
class FaultEvent:
    """`fault` on `camera` from `at_s`; off again after `duration_s` (None: stays on).
    `fault` is a CameraFault value (offline, wrong_password, slow) or a StreamFault value
    (stall, freeze, black, fps_drop, ...) applied to every stream of the camera."""

    id: str
    at_s: float
    line: int | None
    camera: str
    fault: str
    duration_s: float | None = None
    kind: EventKind = EventKind.FAULT


@dataclass(frozen=True)
class RebootEvent:
    """The camera reboots: offline for `duration_s` (drawn 20-40 s from the seed when the
    file does not say), event subscriptions forgotten, then back."""

    id: str
    at_s: float
    line: int | None
    camera: str
    duration_s: float
    kind: EventKind = EventKind.REBOOT


@dataclass(frozen=True)
class GpsEvent:
    """GPS receiver fault (outage, jump, corrupt, unplug) on `vehicle`'s receiver."""

    id: str
    at_s: float
    line: int | None
    vehicle: str
    fault: str
    duration_s: float | None = None
    kind: EventKind = EventKind.GPS


@dataclass(frozen=True)
class PlateEvent:
    """`plate` passes ALPR unit `unit`; the unit reads `seen` (default: the plate) with
    `confidence` and delivers it in its format like any other read."""

    id: str
    at_s: float
    line: int | None
    unit: str
    plate: str
    seen: str | None = None
    confidence: float = 0.92
    country: str | None = None  # ISO alpha-2; None: guessed from the plate's format
    kind: EventKind = EventKind.PLATE


@dataclass(frozen=True)
class MoveEvent:
    """A temporary camera is unplugged for `duration_s` (transport) and comes back at
    `lat`/`lon` (and `street`), which its ONVIF location scopes then say."""

    id: str
    at_s: float
    line: int | None
    camera: str
    lat: float
    lon: float
    street: str | None
    duration_s: float
    kind: EventKind = EventKind.MOVE


@dataclass(frozen=True)
class WantedEvent:
    """An operator adds `plate` to the wanted plates for `days` days with `reason`."""

    id: str
    at_s: float
    line: int | None
    plate: str
    reason: str
    days: int = 1
    kind: EventKind = EventKind.WANTED


TimelineEvent = FaultEvent | RebootEvent | GpsEvent | PlateEvent | MoveEvent | WantedEvent


class Phase(enum.StrEnum):
    START = "start"
    END = "end"  # a FAULT/GPS with a duration switched off, a REBOOT/MOVE camera back


@dataclass(frozen=True)
class AppliedEvent:
    """One phase of a timeline event as the player carried it out."""

    event: TimelineEvent
    phase: Phase
    at_s: float  # planned scenario time of this phase
    real: float  # time.monotonic() when it took effect
    ok: bool = True
    detail: str = ""  # what was done, or why it could not be done (ok False)


class ExpectKind(enum.StrEnum):
    """Kinds of `[[expect]]` entries (the `kind` key)."""

    CAMERA = "camera"  # camera reaches state (and reason) within the window
    CAMERAS = "cameras"  # at least N cameras (of a site) in state within the window
    VEHICLE = "vehicle"  # vehicle reaches fix state within the window
    ALERT = "alert"  # an alert for plate (on list) is raised within the window
    NO_ALERT = "no_alert"  # no alert for plate during the window
    READ = "read"  # a read of plate (at camera) is stored within the window


@dataclass(frozen=True)
class Anchor:
    """Where an expectation's window starts: a timeline event's start or end, a scenario
    time, or (all None) the moment the hub has started."""

    event: str | None = None  # timeline event id
    end: bool = False  # the end phase of that event ("id.end")
    at_s: float | None = None  # scenario time

    def describe(self) -> str:
        if self.event is not None:
            return f"after {self.event}{'.end' if self.end else ''}"
        if self.at_s is not None:
            return f"after {format_scenario_time(self.at_s)}"
        return "after the start"


@dataclass(frozen=True)
class Expectation:
    """One `[[expect]]` entry. `within_s`: real seconds after the anchor (None: until the
    run ends). Fields a kind does not use are None."""

    id: str
    kind: ExpectKind
    line: int | None
    anchor: Anchor
    within_s: float | None
    camera: str | None = None
    vehicle: str | None = None
    state: str | None = None  # camera: ok|degraded|down|unknown; vehicle: fix|no fix|...
    reason: str | None = None  # camera: a health reason ("stalled", "auth failed", ...)
    site: str | None = None  # cameras: only this site's
    at_least: int | None = None  # cameras: how many
    plate: str | None = None  # alert / no_alert / read
    list: str | None = None  # alert: hotlist name ("wanted" for wanted plates)


def format_scenario_time(seconds: float) -> str:
    """Scenario seconds as HH:MM:SS (how timelines write them)."""
    s = round(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
