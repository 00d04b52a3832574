"""Domain objects of the simulated city, shared by the scenario loader and the devices."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class CameraKind(enum.StrEnum):
    """The "triangle" of a city camera network."""

    FIXED = "fixed"
    TEMPORARY = "temporary"
    MOBILE = "mobile"


class CameraFault(enum.StrEnum):
    """Faults a simulated ONVIF camera can be switched into at run time."""

    OFFLINE = "offline"  # port closed: connection refused
    WRONG_PASSWORD = "wrong_password"  # the camera's password was changed behind our back
    SLOW = "slow"  # every answer takes several seconds


class CameraQuirk(enum.StrEnum):
    """Standing behaviours of real vendors' firmware a simulated camera can have (issue 4).

    Unlike faults they are not switched at run time: a scenario gives them to a camera group
    (`quirks = [...]`). The hub must cope with each, and `citywatch diagnose` names it."""

    NAIVE_TIME = "naive_time"  # date/times without a zone ("2026-03-02T11:00:00"), meant UTC
    DIGEST_ONLY = "digest_only"  # SOAP needs HTTP Digest; a WS-Security header alone gets 401
    NAT_XADDR = "nat_xaddr"  # XAddrs and URIs name the camera's private LAN address
    WRONG_PORT_XADDR = "wrong_port_xaddr"  # XAddrs name port 80 while it listens elsewhere
    NO_PULLPOINT = "no_pullpoint"  # event service without PullPoint (WSPullPointSupport false)
    NO_WS_ADDRESSING = "no_ws_addressing"  # answers carry no wsa:Action / wsa:RelatesTo
    GETCAPABILITIES_FAILS = "getcapabilities_fails"  # GetCapabilities faults; GetServices works
    H265_ONLY = "h265_only"  # every media profile is H.265
    SNAPSHOT_STALL = "snapshot_stall"  # the snapshot URI answers headers, then never the body


@dataclass(frozen=True)
class VendorIdentity:
    """What a camera says about itself in GetDeviceInformation and its scopes."""

    manufacturer: str
    model: str
    firmware: str
    hardware_id: str


@dataclass(frozen=True)
class StreamProfile:
    """One media profile of a camera (resolution, frame rate, codec)."""

    token: str
    name: str
    width: int
    height: int
    fps: int
    encoding: str = "H264"  # "H264" | "H265" | "JPEG"
    bitrate_kbps: int = 2048


@dataclass(frozen=True)
class CameraSpec:
    """Everything needed to run one simulated camera, derived from a scenario."""

    id: str
    name: str
    site: str
    kind: CameraKind
    street: str
    lat: float
    lon: float
    vendor: VendorIdentity
    username: str
    password: str
    profiles: tuple[StreamProfile, ...]
    # Faults active from the start ("a few cameras configured broken").
    faults: frozenset[CameraFault] = field(default_factory=frozenset)
    # Seconds the camera's own clock is off from the virtual clock (real cameras drift).
    clock_offset_s: float = 0.0
    # Extra delay per answer while the SLOW fault is on.
    slow_delay_s: float = 4.0
    # A PTZ dome? None: decided by the vendor model (simulator.onvif_ptz.is_ptz_model).
    ptz: bool | None = None
    # Quirk of cheap domes: only ContinuousMove (no absolute/relative spaces).
    ptz_continuous_only: bool = False
    # Standing vendor behaviours (see CameraQuirk).
    quirks: frozenset[CameraQuirk] = field(default_factory=frozenset)


# --- patrol cars and their GPS receivers --------------------------------------------------


class ReceiverKind(enum.StrEnum):
    """NMEA dialect of a simulated GPS receiver (see simulator/nmea_receiver.py)."""

    UBLOX = "ublox"  # u-blox M8/M9: GN talker, NMEA 4.10, multi-GNSS
    SIRF = "sirf"  # SiRFstar III: GP talker only, 1 Hz, NMEA 3.0
    QUECTEL = "quectel"  # Quectel L76 (MTK): GP/GL talkers, NMEA 4.1 RMC, ZDA


class GpsFault(enum.StrEnum):
    """Faults a simulated GPS receiver can be switched into at run time."""

    OUTAGE = "outage"  # no fix (tunnel): RMC status V, GGA quality 0, empty fields
    JUMP = "jump"  # positions displaced by a few hundred metres while on
    CORRUPT = "corrupt"  # a share of sentences with bad checksums, truncated or spliced
    UNPLUG = "unplug"  # pty and TCP server gone; back at the same path/port when off


@dataclass(frozen=True)
class ReceiverProfile:
    """Which receiver a vehicle carries and how often it reports."""

    kind: ReceiverKind
    rate_hz: int = 1  # 1, 5 or 10 epochs per (virtual) second


@dataclass(frozen=True)
class GpsOutage:
    """A scheduled loss of fix, e.g. a tunnel, in scenario seconds from the start."""

    at_s: float
    duration_s: float
    kind: str = "tunnel"

    def covers(self, elapsed_s: float) -> bool:
        return self.at_s <= elapsed_s < self.at_s + self.duration_s


@dataclass(frozen=True)
class VehicleSpec:
    """A patrol car: the route it drives, how fast, and the GPS receiver it carries."""

    id: str
    name: str
    site: str
    route: str  # a name of simulator/streets.py ROUTES, or "waypoints"
    waypoints: tuple[tuple[float, float], ...]  # closed polyline (lat, lon): last == first
    receiver: ReceiverProfile
    camera: str | None = None  # id of the mobile ALPR camera on the car
    cruise_kmh: float = 40.0
    stops: int = 2  # stops per lap (traffic lights, calls), placed by the seed
    stop_s: float = 20.0
    outages: tuple[GpsOutage, ...] = ()
    seed: int = 0  # the scenario seed: motion and sky are deterministic in (seed, id)
