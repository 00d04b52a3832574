"""Data model of drivers.onvif and the parsing of answers into it (re-exported there)."""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult

from drivers.onvif_support import SERVICES, display_url, rewrite_xaddr

logger = logging.getLogger("drivers.onvif")

DEVICE_NS = SERVICES["devicemgmt"]["ns"]
MEDIA_NS = SERVICES["media"]["ns"]
_MEDIA2_NS = "http://www.onvif.org/ver20/media/wsdl"
# GetCapabilities categories -> service namespace (the Extension ones are in their own element).
CAPABILITY_NS = {
    "Analytics": SERVICES["analytics"]["ns"],
    "Device": DEVICE_NS,
    "Events": SERVICES["events"]["ns"],
    "Imaging": SERVICES["imaging"]["ns"],
    "Media": MEDIA_NS,
    "PTZ": SERVICES["ptz"]["ns"],
    "DeviceIO": SERVICES["deviceio"]["ns"],
    "Recording": SERVICES["recording"]["ns"],
    "Search": SERVICES["search"]["ns"],
    "Replay": SERVICES["replay"]["ns"],
    "Receiver": SERVICES["receiver"]["ns"],
    "Display": "http://www.onvif.org/ver10/display/wsdl",
    "AnalyticsDevice": "http://www.onvif.org/ver10/analyticsdevice/wsdl",
}


@dataclass(frozen=True)
class DeviceInformation:
    manufacturer: str
    model: str
    firmware_version: str
    serial_number: str
    hardware_id: str


@dataclass(frozen=True)
class MediaProfile:
    token: str
    name: str
    encoding: str | None
    width: int | None
    height: int | None
    fps: float | None
    bitrate_kbps: int | None
    ptz_configuration: str | None = None  # token of its PTZConfiguration, if any


@dataclass(frozen=True)
class OnvifService:
    namespace: str
    xaddr: str
    version: str | None


@dataclass(frozen=True)
class DeviceSnapshot:
    """Everything one full "connect" learns. URIs are those of the first (main) profile."""

    info: DeviceInformation
    clock_offset_s: float | None
    services: tuple[OnvifService, ...]
    profiles: tuple[MediaProfile, ...]
    stream_uri: str | None
    snapshot_uri: str | None


def text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _positive_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def parse_profile(raw: Any) -> MediaProfile:
    token = text(getattr(raw, "token", None))
    if not token:
        raise ValueError("a profile has no token")
    encoder = getattr(raw, "VideoEncoderConfiguration", None)
    resolution = getattr(encoder, "Resolution", None)
    rate = getattr(encoder, "RateControl", None)
    fps = _positive_int(getattr(rate, "FrameRateLimit", None))
    return MediaProfile(
        token=token,
        name=text(getattr(raw, "Name", None)),
        encoding=text(getattr(encoder, "Encoding", None)) or None,
        width=_positive_int(getattr(resolution, "Width", None)),
        height=_positive_int(getattr(resolution, "Height", None)),
        fps=float(fps) if fps else None,
        # 0 means "no limit" in ONVIF, not a measured rate.
        bitrate_kbps=_positive_int(getattr(rate, "BitrateLimit", None)),
        ptz_configuration=text(getattr(getattr(raw, "PTZConfiguration", None), "token", None))
        or None,
    )


def _service_entry(
    namespace: Any, xaddr: Any, version: str | None, device: SplitResult
) -> OnvifService | None:
    ns = text(namespace).replace(" ", "")
    url = rewrite_xaddr(str(xaddr or ""), device)
    if not ns or not url:
        return None
    if url != "".join(str(xaddr).split()):
        logger.debug("%s: rewrote XAddr %s -> %s", display_url(device.geturl()), text(xaddr), url)
    return OnvifService(namespace=ns, xaddr=url, version=version)


def parse_services(raw: Any, device: SplitResult) -> tuple[OnvifService, ...]:
    found: list[OnvifService] = []
    for item in raw or ():
        ver = getattr(item, "Version", None)
        major, minor = getattr(ver, "Major", None), getattr(ver, "Minor", None)
        version = (
            f"{major}.{minor:02d}" if isinstance(major, int) and isinstance(minor, int) else None
        )
        entry = _service_entry(
            getattr(item, "Namespace", None), getattr(item, "XAddr", None), version, device
        )
        if entry is not None:
            found.append(entry)
    return tuple(found)


def parse_capabilities(raw: Any, device: SplitResult) -> tuple[OnvifService, ...]:
    found: dict[str, OnvifService] = {}

    def add(namespace: str, xaddr: Any) -> None:
        entry = _service_entry(namespace, xaddr, None, device)
        if entry is not None and entry.namespace not in found:
            found[entry.namespace] = entry

    for category, namespace in CAPABILITY_NS.items():
        capability = getattr(raw, category, None)
        if capability is not None and getattr(capability, "XAddr", None):
            add(namespace, capability.XAddr)
    extension = getattr(raw, "Extension", None)
    for category, namespace in CAPABILITY_NS.items():
        capability = getattr(extension, category, None) if extension is not None else None
        if capability is not None and getattr(capability, "XAddr", None):
            add(namespace, capability.XAddr)
    # Extension children zeep could not bind stay raw lxml elements (vendor ones too).
    for element in getattr(extension, "_value_1", None) or ():
        tag = getattr(element, "tag", None)
        if not isinstance(tag, str) or "}" not in tag:
            continue
        element_ns, local = tag[1:].split("}", 1)
        xaddr = next((c.text for c in element.iter() if str(c.tag).endswith("}XAddr")), None)
        if xaddr:
            add(CAPABILITY_NS.get(local, element_ns), xaddr)
    if DEVICE_NS not in found:
        found[DEVICE_NS] = OnvifService(DEVICE_NS, device.geturl(), None)
    return tuple(found.values())


# -- PTZ ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PtzSpace:
    """One coordinate space a PTZ node supports, e.g. the generic absolute position space."""

    kind: str  # element name: "AbsolutePanTiltPositionSpace", "ContinuousZoomVelocitySpace", ...
    uri: str
    x_min: float | None
    x_max: float | None
    y_min: float | None = None
    y_max: float | None = None


@dataclass(frozen=True)
class PtzNode:
    token: str
    name: str
    spaces: tuple[PtzSpace, ...]
    max_presets: int | None
    home_supported: bool
    aux_commands: tuple[str, ...] = ()

    def supports(self, mode: str) -> bool:
        """Whether the node has a space for "absolute", "relative" or "continuous" moves."""
        prefix = mode.capitalize()
        return any(s.kind.startswith(prefix) for s in self.spaces)


@dataclass(frozen=True)
class PtzConfiguration:
    token: str
    name: str
    node_token: str
    default_timeout_s: float | None
    pan_limits: tuple[float, float] | None
    tilt_limits: tuple[float, float] | None
    zoom_limits: tuple[float, float] | None


@dataclass(frozen=True)
class PtzStatus:
    """Where the head is (generic spaces: pan/tilt -1..1, zoom 0..1 on most cameras).

    ``*_moving`` is None when the camera does not report MoveStatus (Hikvision omits it).
    """

    pan: float | None
    tilt: float | None
    zoom: float | None
    pan_tilt_moving: bool | None
    zoom_moving: bool | None
    error: str | None
    utc_time: dt.datetime | None

    @property
    def moving(self) -> bool | None:
        flags = [f for f in (self.pan_tilt_moving, self.zoom_moving) if f is not None]
        return any(flags) if flags else None


@dataclass(frozen=True)
class PtzPreset:
    token: str
    name: str  # "" when the camera has none for it (Hikvision's unused slots)
    pan: float | None = None
    tilt: float | None = None
    zoom: float | None = None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _seconds(value: Any) -> float | None:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return _float(value)


def _range(raw: Any, axis: str) -> tuple[float, float] | None:
    rng = getattr(raw, axis, None)
    lo, hi = _float(getattr(rng, "Min", None)), _float(getattr(rng, "Max", None))
    return None if lo is None or hi is None else (lo, hi)


def _pan_tilt_zoom(raw: Any) -> tuple[float | None, float | None, float | None]:
    pan_tilt, zoom = getattr(raw, "PanTilt", None), getattr(raw, "Zoom", None)
    return (
        _float(getattr(pan_tilt, "x", None)),
        _float(getattr(pan_tilt, "y", None)),
        _float(getattr(zoom, "x", None)),
    )


_SPACE_KINDS = (
    "AbsolutePanTiltPositionSpace",
    "AbsoluteZoomPositionSpace",
    "RelativePanTiltTranslationSpace",
    "RelativeZoomTranslationSpace",
    "ContinuousPanTiltVelocitySpace",
    "ContinuousZoomVelocitySpace",
    "PanTiltSpeedSpace",
    "ZoomSpeedSpace",
)


def parse_ptz_node(raw: Any) -> PtzNode:
    token = text(getattr(raw, "token", None))
    if not token:
        raise ValueError("a PTZ node has no token")
    supported = getattr(raw, "SupportedPTZSpaces", None)
    spaces: list[PtzSpace] = []
    for kind in _SPACE_KINDS:
        for item in getattr(supported, kind, None) or ():
            x, y = _range(item, "XRange"), _range(item, "YRange")
            spaces.append(PtzSpace(
                kind=kind, uri=text(getattr(item, "URI", None)),
                x_min=x[0] if x else None, x_max=x[1] if x else None,
                y_min=y[0] if y else None, y_max=y[1] if y else None,
            ))
    home = getattr(raw, "HomeSupported", None)
    return PtzNode(
        token=token,
        name=text(getattr(raw, "Name", None)),
        spaces=tuple(spaces),
        max_presets=_positive_int(getattr(raw, "MaximumNumberOfPresets", None)),
        home_supported=home is True or str(home).lower() == "true",
        aux_commands=tuple(
            t for t in (text(c) for c in getattr(raw, "AuxiliaryCommands", None) or ()) if t
        ),
    )


def parse_ptz_configuration(raw: Any) -> PtzConfiguration:
    token = text(getattr(raw, "token", None))
    if not token:
        raise ValueError("a PTZ configuration has no token")
    pan_tilt = getattr(getattr(raw, "PanTiltLimits", None), "Range", None)
    zoom = getattr(getattr(raw, "ZoomLimits", None), "Range", None)
    return PtzConfiguration(
        token=token,
        name=text(getattr(raw, "Name", None)),
        node_token=text(getattr(raw, "NodeToken", None)),
        default_timeout_s=_seconds(getattr(raw, "DefaultPTZTimeout", None)),
        pan_limits=_range(pan_tilt, "XRange"),
        tilt_limits=_range(pan_tilt, "YRange"),
        zoom_limits=_range(zoom, "XRange"),
    )


def _move_status(value: Any) -> bool | None:
    # ONVIF MoveStatus: IDLE | MOVING | UNKNOWN; anything else says nothing either.
    return {"MOVING": True, "IDLE": False}.get(text(value).upper())


def parse_ptz_status(raw: Any) -> PtzStatus:
    if raw is None:
        raise ValueError("GetStatus answered no PTZStatus")
    pan, tilt, zoom = _pan_tilt_zoom(getattr(raw, "Position", None))
    move = getattr(raw, "MoveStatus", None)
    utc = getattr(raw, "UtcTime", None)
    if isinstance(utc, dt.datetime) and utc.tzinfo is None:
        utc = utc.replace(tzinfo=dt.UTC)  # xs:dateTime without zone: cameras mean UTC here
    return PtzStatus(
        pan=pan,
        tilt=tilt,
        zoom=zoom,
        pan_tilt_moving=_move_status(getattr(move, "PanTilt", None)),
        zoom_moving=_move_status(getattr(move, "Zoom", None)),
        error=text(getattr(raw, "Error", None)) or None,
        utc_time=utc if isinstance(utc, dt.datetime) else None,
    )


def parse_ptz_preset(raw: Any) -> PtzPreset:
    token = text(getattr(raw, "token", None))
    if not token:
        raise ValueError("a PTZ preset has no token")
    pan, tilt, zoom = _pan_tilt_zoom(getattr(raw, "PTZPosition", None))
    return PtzPreset(token=token, name=text(getattr(raw, "Name", None)),
                     pan=pan, tilt=tilt, zoom=zoom)
