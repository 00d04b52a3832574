"""Data model of drivers.onvif and the parsing of answers into it (re-exported there)."""

from __future__ import annotations

import logging
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
