"""Domain model of licence-plate recognition: reads, hotlists, hits, wanted plates, alerts.

These are the hub's own objects. A vendor payload (drivers/alpr.py) becomes a `Read`
at ingestion; hotlist files become `HotlistEntry`s; a read that matches an entry raises
an `Alert`, whose life is the `AlertState` machine below, audited per transition.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class MatchKind(enum.StrEnum):
    """How a read matched a hotlist entry, best first."""

    EXACT = "exact"  # normalised texts are equal
    LOOKALIKE = "lookalike"  # equal after mapping look-alike characters (0/O/D/Q, 1/I, ...)
    WILDCARD = "wildcard"  # the entry has `*` (one unknown character) and the rest matches


class ImageKind(enum.StrEnum):
    """What a read's image shows."""

    CROP = "crop"  # the plate alone, as the camera's OCR saw it
    OVERVIEW = "overview"  # the scene with the vehicle


@dataclass(frozen=True)
class ReadImage:
    """An image of a read: stored under the data directory (`path`) or only linked (`url`)."""

    kind: ImageKind
    path: str | None = None  # relative to the data directory
    url: str | None = None


@dataclass(frozen=True)
class Read:
    """One licence-plate read, as committed. `plate` is kept as the camera saw it.

    `id` is 0 until the store has committed the read.
    """

    id: int
    plate: str  # as seen (vendor text, whitespace trimmed)
    normalized: str  # uppercase, separators stripped: what search and matching use
    at: datetime  # aware, UTC: when the camera saw the plate
    camera_id: str  # our camera id, or "<source>:<sender's id>" for an unknown sender
    source: str  # "citywatch", "openalpr", "platerecognizer", "onvif"
    confidence: float | None = None  # 0..1
    country: str | None = None  # as given (ISO 3166 alpha-2 where the vendor gives it)
    region: str | None = None
    unit: str | None = None  # vehicle / unit id for mobile cameras
    lat: float | None = None
    lon: float | None = None
    geotag: str | None = None  # "fixed", "reported" or a hub.geotag.GeotagMethod value
    direction: str | None = None
    images: tuple[ReadImage, ...] = ()
    received_at: datetime | None = None

    def image(self, kind: ImageKind) -> ReadImage | None:
        """The first image of `kind`, if any."""
        return next((i for i in self.images if i.kind is kind), None)


@dataclass(frozen=True)
class HotlistEntry:
    """One plate on a hotlist. `plate` is normalised and may contain `*` (one unknown char)."""

    plate: str
    list: str  # the hotlist's name ("stolen", "uninsured", "wanted", ...)
    category: str = ""
    priority: int = 50  # 0..100, higher is more urgent
    state: str | None = None  # PlateState / country the entry is for; None = any
    covert: bool = False  # hits are not sent to patrol-unit outputs
    effective: datetime | None = None  # not before (aware UTC); None = always
    expiry: datetime | None = None  # not after (aware UTC); None = never
    extra: tuple[tuple[str, str], ...] = ()  # further fields of the source file, in order

    def active(self, at: datetime) -> bool:
        """Whether the entry applies to a read at `at`."""
        if self.effective is not None and at < self.effective:
            return False
        return self.expiry is None or at <= self.expiry


@dataclass(frozen=True)
class Hit:
    """A read matched an entry: how, and with how many look-alike substitutions."""

    entry: HotlistEntry
    match: MatchKind
    substitutions: int = 0  # characters that differ (look-alike swaps, wildcard positions)


@dataclass(frozen=True)
class HotlistInfo:
    """A loaded hotlist as the control room sees it."""

    name: str
    entries: int
    covert: bool
    source: str  # file it was loaded from
    loaded_at: datetime
    rejected: int = 0  # lines of the file that could not be used


@dataclass(frozen=True)
class WantedPlate:
    """A plate an operator is looking for, matched against new reads until it expires."""

    id: int
    plate: str  # normalised; may contain `*`
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    priority: int = 90

    def entry(self) -> HotlistEntry:
        """The plate as an entry of the "wanted" list, for the matcher."""
        return HotlistEntry(
            plate=self.plate, list="wanted", category=self.reason, priority=self.priority,
            effective=self.created_at, expiry=self.expires_at,
            extra=(("wanted_id", str(self.id)), ("created_by", self.created_by)),
        )


class AlertState(enum.StrEnum):
    """Life of an alert; allowed moves are in ALERT_TRANSITIONS."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CLOSED = "closed"


# An operator may accept or reject straight from NEW (that acknowledges it too).
ALERT_TRANSITIONS: dict[AlertState, frozenset[AlertState]] = {
    AlertState.NEW: frozenset(
        {AlertState.ACKNOWLEDGED, AlertState.ACCEPTED, AlertState.REJECTED}
    ),
    AlertState.ACKNOWLEDGED: frozenset({AlertState.ACCEPTED, AlertState.REJECTED}),
    AlertState.ACCEPTED: frozenset({AlertState.CLOSED}),
    AlertState.REJECTED: frozenset({AlertState.CLOSED}),
    AlertState.CLOSED: frozenset(),
}


class RejectReason(enum.StrEnum):
    """Why an operator rejected a hit (required for REJECTED)."""

    MISREAD = "misread"
    WRONG_STATE = "wrong state"
    VEHICLE_MISMATCH = "vehicle mismatch"
    DUPLICATE = "duplicate"
    OTHER = "other"


@dataclass(frozen=True)
class Alert:
    """A hit raised for operators. Later reads of the same plate at the same camera
    within the fold window are counted in `duplicates` instead of raising new alerts."""

    id: int
    read: Read  # the first read that raised it
    hit: Hit  # the best hit of that read
    state: AlertState
    raised_at: datetime
    updated_at: datetime
    other_hits: tuple[Hit, ...] = ()  # further (lower-ranked) hits of the same read
    duplicates: int = 0
    last_read_id: int | None = None
    reason: RejectReason | None = None
    reason_text: str = ""
    actor: str = ""  # who made the last transition

    @property
    def priority(self) -> int:
        return self.hit.entry.priority

    @property
    def covert(self) -> bool:
        return self.hit.entry.covert


@dataclass(frozen=True)
class AuditEntry:
    """Who did what, when: every alert transition and wanted-plate change."""

    at: datetime
    actor: str
    action: str  # "alert.acknowledged", "wanted.added", ...
    target: str  # "alert:12", "wanted:3"
    detail: str = ""
    data: tuple[tuple[str, str], ...] = field(default=())
