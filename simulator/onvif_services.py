"""Answers of the ONVIF device service and the action table of the whole camera.

Each handler takes the camera and the request's Body element and returns the response
element as XML text. Time-independent answers are cached per camera.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from lxml import etree

from simulator.model import CameraQuirk
from simulator.onvif_events import event_service_caps, events_capabilities_tt
from simulator.onvif_media import (
    get_media_service_capabilities,
    get_profile,
    get_profiles,
    get_snapshot_uri,
    get_stream_uri,
    get_video_encoder_configuration,
    get_video_encoder_configurations,
    get_video_source_configurations,
    get_video_sources,
    media_service_caps,
)
from simulator.onvif_ptz import PTZ_HANDLERS, ptz_service_caps
from simulator.soap import (
    NS_TDS,
    NS_TEV,
    NS_TPTZ,
    NS_TRT,
    SoapFault,
    action_not_supported,
    child_text,
    esc,
    xml_bool,
)

if TYPE_CHECKING:
    from simulator.onvif_camera import SimulatedCamera

Handler = Callable[["SimulatedCamera", etree._Element], str]

CITY = "Hasselt"
# POSIX TZ of Belgium, as a camera configured for Europe/Brussels reports it.
TZ_POSIX = "CET-1CEST,M3.5.0,M10.5.0/3"
ONVIF_VERSION = (2, 60)


def _last_sunday(year: int, month: int) -> datetime:
    day = datetime(year, month + 1, 1, tzinfo=UTC) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def brussels_local(utc: datetime) -> tuple[datetime, bool]:
    """Local time in Belgium and whether DST applies (EU rule: last Sundays, 01:00 UTC)."""
    start = _last_sunday(utc.year, 3).replace(hour=1)
    end = _last_sunday(utc.year, 10).replace(hour=1)
    dst = start <= utc < end
    return utc + timedelta(hours=2 if dst else 1), dst


def _dt(tag: str, t: datetime) -> str:
    return (
        f"<tt:{tag}><tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute>"
        f"<tt:Second>{t.second}</tt:Second></tt:Time><tt:Date><tt:Year>{t.year}</tt:Year>"
        f"<tt:Month>{t.month}</tt:Month><tt:Day>{t.day}</tt:Day></tt:Date></tt:{tag}>"
    )


def _version() -> str:
    return f"<tt:Major>{ONVIF_VERSION[0]}</tt:Major><tt:Minor>{ONVIF_VERSION[1]}</tt:Minor>"


# ---------------------------------------------------------------- device service


def naive_clock_shape(camera_id: str) -> str:
    """How a NAIVE_TIME camera words its clock, fixed per camera (firmwares differ):
    "empty_tz" (TZ element empty, UTCDateTime = LocalDateTime = its wall clock) or
    "local_only" (no TimeZone, no UTCDateTime, only LocalDateTime)."""
    return ("empty_tz", "local_only")[hashlib.sha256(camera_id.encode()).digest()[0] % 2]


def _naive_date_and_time(cam: SimulatedCamera) -> str:
    # Set up without a time zone: its wall clock is all it knows, and it is meant as UTC.
    wall = cam.camera_now().astimezone(UTC)
    if naive_clock_shape(cam.spec.id) == "empty_tz":
        zone = "<tt:TimeZone><tt:TZ></tt:TZ></tt:TimeZone>"
        times = _dt("UTCDateTime", wall) + _dt("LocalDateTime", wall)
    else:
        zone, times = "", _dt("LocalDateTime", wall)
    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false"
        f"</tt:DaylightSavings>{zone}{times}"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def get_system_date_and_time(cam: SimulatedCamera, _: etree._Element) -> str:
    if CameraQuirk.NAIVE_TIME in cam.quirks:
        return _naive_date_and_time(cam)
    utc = cam.camera_now().astimezone(UTC)
    local, dst = brussels_local(utc)
    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        f"<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>{xml_bool(dst)}"
        f"</tt:DaylightSavings><tt:TimeZone><tt:TZ>{TZ_POSIX}</tt:TZ></tt:TimeZone>"
        f"{_dt('UTCDateTime', utc)}{_dt('LocalDateTime', local)}"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def get_device_information(cam: SimulatedCamera, _: etree._Element) -> str:
    v = cam.spec.vendor
    return (
        "<tds:GetDeviceInformationResponse>"
        f"<tds:Manufacturer>{esc(v.manufacturer)}</tds:Manufacturer>"
        f"<tds:Model>{esc(v.model)}</tds:Model>"
        f"<tds:FirmwareVersion>{esc(v.firmware)}</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{esc(cam.serial)}</tds:SerialNumber>"
        f"<tds:HardwareId>{esc(v.hardware_id)}</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


def _device_capabilities_tt(cam: SimulatedCamera) -> str:
    return (
        f"<tt:Device><tt:XAddr>{esc(cam.advertise(cam.onvif_url))}</tt:XAddr>"
        "<tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false"
        "</tt:ZeroConfiguration><tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false"
        "</tt:DynDNS></tt:Network>"
        "<tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>true"
        "</tt:DiscoveryBye><tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>"
        "false</tt:SystemBackup><tt:SystemLogging>false</tt:SystemLogging>"
        "<tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>"
        f"<tt:SupportedVersions>{_version()}</tt:SupportedVersions></tt:System>"
        "<tt:IO><tt:InputConnectors>0</tt:InputConnectors><tt:RelayOutputs>0"
        "</tt:RelayOutputs></tt:IO>"
        "<tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2>"
        "<tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>"
        "false</tt:AccessPolicyConfig><tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>"
        "false</tt:SAMLToken><tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false"
        "</tt:RELToken></tt:Security></tt:Device>"
    )


def _media_capabilities_tt(cam: SimulatedCamera) -> str:
    return (
        f"<tt:Media><tt:XAddr>{esc(cam.advertise(cam.media_url))}</tt:XAddr>"
        "<tt:StreamingCapabilities>"
        "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
        "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities>"
        "<tt:Extension><tt:ProfileCapabilities><tt:MaximumNumberOfProfiles>"
        f"{len(cam.spec.profiles)}</tt:MaximumNumberOfProfiles></tt:ProfileCapabilities>"
        "</tt:Extension></tt:Media>"
    )


def get_capabilities(cam: SimulatedCamera, body: etree._Element) -> str:
    categories = {
        (c.text or "").strip()
        for c in body
        if isinstance(c.tag, str) and etree.QName(c).localname == "Category"
    } or {"All"}
    parts = []
    if categories & {"All", "Device"}:
        parts.append(_device_capabilities_tt(cam))
    if cam.event_service and categories & {"All", "Events"}:
        parts.append(events_capabilities_tt(cam.advertise(cam.events_url),
                                            CameraQuirk.NO_PULLPOINT not in cam.quirks))
    if categories & {"All", "Media"}:
        parts.append(_media_capabilities_tt(cam))
    if cam.ptz and categories & {"All", "PTZ"}:
        parts.append(f"<tt:PTZ><tt:XAddr>{esc(cam.advertise(cam.ptz_url))}</tt:XAddr></tt:PTZ>")
    if not parts:
        # Asked only for services this camera does not have (Events, PTZ, Imaging, ...).
        raise SoapFault(
            "Receiver",
            ("ter:ActionNotSupported", "ter:NoSuchService"),
            f"No such service: {', '.join(sorted(categories))}",
        )
    return (
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        + "".join(parts)
        + "</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


def _device_service_caps() -> str:
    return (
        "<tds:Capabilities>"
        '<tds:Network IPFilter="false" ZeroConfiguration="false" IPVersion6="false" '
        'DynDNS="false" HostnameFromDHCP="false" NTP="1"/>'
        '<tds:Security TLS1.0="false" TLS1.1="false" TLS1.2="false" '
        'OnboardKeyGeneration="false" AccessPolicyConfig="false" DefaultAccessPolicy="true" '
        'Dot1X="false" RemoteUserHandling="false" X.509Token="false" SAMLToken="false" '
        'KerberosToken="false" UsernameToken="true" HttpDigest="true" RELToken="false"/>'
        '<tds:System DiscoveryResolve="false" DiscoveryBye="true" RemoteDiscovery="false" '
        'SystemBackup="false" SystemLogging="false" FirmwareUpgrade="false"/>'
        "</tds:Capabilities>"
    )


def get_services(cam: SimulatedCamera, body: etree._Element) -> str:
    include = (child_text(body, "IncludeCapability") or "false").lower() in ("true", "1")
    services = [
        (NS_TDS, cam.onvif_url, _device_service_caps()),
        (NS_TRT, cam.media_url, media_service_caps(cam)),
    ]
    if cam.event_service:
        services.append((NS_TEV, cam.events_url,
                         event_service_caps(CameraQuirk.NO_PULLPOINT not in cam.quirks)))
    if cam.ptz:
        services.append((NS_TPTZ, cam.ptz_url, ptz_service_caps()))
    parts = []
    for ns, xaddr, caps in services:
        caps_xml = f"<tds:Capabilities>{caps}</tds:Capabilities>" if include else ""
        parts.append(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace>"
            f"<tds:XAddr>{esc(cam.advertise(xaddr))}"
            f"</tds:XAddr>{caps_xml}<tds:Version>{_version()}</tds:Version></tds:Service>"
        )
    return "<tds:GetServicesResponse>" + "".join(parts) + "</tds:GetServicesResponse>"


def get_device_service_capabilities(cam: SimulatedCamera, _: etree._Element) -> str:
    return (
        "<tds:GetServiceCapabilitiesResponse>"
        + _device_service_caps()
        + "</tds:GetServiceCapabilitiesResponse>"
    )


def get_scopes(cam: SimulatedCamera, _: etree._Element) -> str:
    spec = cam.spec
    fixed = [
        "onvif://www.onvif.org/type/video_encoder",
        "onvif://www.onvif.org/type/Network_Video_Transmitter",
        "onvif://www.onvif.org/Profile/Streaming",
        f"onvif://www.onvif.org/hardware/{quote(spec.vendor.model, safe='')}",
    ]
    if any(p.encoding == "H265" for p in spec.profiles):
        fixed.append("onvif://www.onvif.org/Profile/T")
    if cam.ptz:
        fixed.append("onvif://www.onvif.org/type/ptz")  # as the recorded PTZ domes say
    configurable = [
        f"onvif://www.onvif.org/name/{quote(spec.name, safe='')}",
        f"onvif://www.onvif.org/location/city/{quote(CITY, safe='')}",
        f"onvif://www.onvif.org/location/site/{quote(spec.site, safe='')}",
        f"onvif://www.onvif.org/location/street/{quote(spec.street, safe='')}",
    ]
    items = [("Fixed", s) for s in fixed] + [("Configurable", s) for s in configurable]
    return (
        "<tds:GetScopesResponse>"
        + "".join(
            f"<tds:Scopes><tt:ScopeDef>{d}</tt:ScopeDef><tt:ScopeItem>{esc(s)}</tt:ScopeItem>"
            "</tds:Scopes>"
            for d, s in items
        )
        + "</tds:GetScopesResponse>"
    )


def get_network_interfaces(cam: SimulatedCamera, _: etree._Element) -> str:
    # Behind NAT the camera knows only its LAN address (a /24 like home routers hand out).
    nat = CameraQuirk.NAT_XADDR in cam.quirks
    address, prefix = (cam.lan_host, 24) if nat else (cam.host, 8)
    return (
        '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0">'
        "<tt:Enabled>true</tt:Enabled><tt:Info><tt:Name>eth0</tt:Name>"
        f"<tt:HwAddress>{esc(cam.mac)}</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>"
        "<tt:Link><tt:AdminSettings><tt:AutoNegotiation>true</tt:AutoNegotiation>"
        "<tt:Speed>100</tt:Speed><tt:Duplex>Full</tt:Duplex></tt:AdminSettings>"
        "<tt:OperSettings><tt:AutoNegotiation>true</tt:AutoNegotiation><tt:Speed>100"
        "</tt:Speed><tt:Duplex>Full</tt:Duplex></tt:OperSettings>"
        "<tt:InterfaceType>6</tt:InterfaceType></tt:Link>"
        "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:Manual>"
        f"<tt:Address>{esc(address)}</tt:Address><tt:PrefixLength>{prefix}</tt:PrefixLength>"
        "</tt:Manual><tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>"
        "</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>"
    )


def get_hostname(cam: SimulatedCamera, _: etree._Element) -> str:
    return (
        "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
        f"<tt:Name>{esc(cam.hostname)}</tt:Name></tds:HostnameInformation>"
        "</tds:GetHostnameResponse>"
    )


# Real domes say "Rebooting in 90 seconds" (Hikvision) or "Rebooting in 5 seconds." (Axis).
def system_reboot(cam: SimulatedCamera, _: etree._Element) -> str:
    seconds = cam.schedule_reboot()
    return (
        "<tds:SystemRebootResponse>"
        f"<tds:Message>Rebooting in {seconds:.0f} seconds</tds:Message>"
        "</tds:SystemRebootResponse>"
    )


# Handlers by (namespace of the Body's first child, local name).
HANDLERS: dict[tuple[str, str], Handler] = {
    (NS_TDS, "GetSystemDateAndTime"): get_system_date_and_time,
    (NS_TDS, "GetDeviceInformation"): get_device_information,
    (NS_TDS, "GetCapabilities"): get_capabilities,
    (NS_TDS, "GetServices"): get_services,
    (NS_TDS, "GetServiceCapabilities"): get_device_service_capabilities,
    (NS_TDS, "GetScopes"): get_scopes,
    (NS_TDS, "GetNetworkInterfaces"): get_network_interfaces,
    (NS_TDS, "GetHostname"): get_hostname,
    (NS_TDS, "SystemReboot"): system_reboot,
    (NS_TRT, "GetProfiles"): get_profiles,
    (NS_TRT, "GetProfile"): get_profile,
    (NS_TRT, "GetStreamUri"): get_stream_uri,
    (NS_TRT, "GetSnapshotUri"): get_snapshot_uri,
    (NS_TRT, "GetVideoEncoderConfigurations"): get_video_encoder_configurations,
    (NS_TRT, "GetVideoEncoderConfiguration"): get_video_encoder_configuration,
    (NS_TRT, "GetVideoSources"): get_video_sources,
    (NS_TRT, "GetVideoSourceConfigurations"): get_video_source_configurations,
    (NS_TRT, "GetServiceCapabilities"): get_media_service_capabilities,
    **PTZ_HANDLERS,
}

# Answers that never change for a camera (cached after the first request).
STATIC_ACTIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (NS_TDS, "GetDeviceInformation"),
        (NS_TDS, "GetScopes"),
        (NS_TDS, "GetNetworkInterfaces"),
        (NS_TDS, "GetHostname"),
        (NS_TDS, "GetServiceCapabilities"),
        (NS_TRT, "GetProfiles"),
        (NS_TRT, "GetVideoEncoderConfigurations"),
        (NS_TRT, "GetVideoSources"),
        (NS_TRT, "GetVideoSourceConfigurations"),
        (NS_TRT, "GetServiceCapabilities"),
    }
)

# ONVIF Core: GetSystemDateAndTime must answer without credentials, so clients can
# learn the device clock before signing anything.
UNAUTHENTICATED: frozenset[tuple[str, str]] = frozenset({(NS_TDS, "GetSystemDateAndTime")})


def dispatch(cam: SimulatedCamera, namespace: str, action: str, body: etree._Element) -> str:
    """Answer one action, or raise the fault a camera sends for an unknown one."""
    handler = HANDLERS.get((namespace, action))
    if handler is None or (namespace == NS_TPTZ and not cam.ptz):
        raise action_not_supported(action)
    key = (namespace, action)
    if key in STATIC_ACTIONS:
        cached = cam.response_cache.get(key)
        if cached is None:
            cached = cam.response_cache[key] = handler(cam, body)
        return cached
    return handler(cam, body)
