"""Answers of the ONVIF media service (Profile S), built from string templates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from simulator.model import StreamProfile
from simulator.onvif_ptz import ptz_configuration
from simulator.soap import child_text, esc, invalid_arg

if TYPE_CHECKING:
    from simulator.onvif_camera import SimulatedCamera

VIDEO_SOURCE = "VideoSource_1"
VIDEO_SOURCE_CONFIG = "VideoSourceConfig_1"


def encoder_token(index: int) -> str:
    return f"VideoEncoderConfig_{index + 1}"


def _max_resolution(cam: SimulatedCamera) -> tuple[int, int]:
    best = max(cam.spec.profiles, key=lambda p: p.width * p.height)
    return best.width, best.height


def _source_config(cam: SimulatedCamera, tag: str) -> str:
    w, h = _max_resolution(cam)
    return (
        f'<{tag} token="{VIDEO_SOURCE_CONFIG}"><tt:Name>VideoSourceConfig</tt:Name>'
        f"<tt:UseCount>{len(cam.spec.profiles)}</tt:UseCount>"
        f"<tt:SourceToken>{VIDEO_SOURCE}</tt:SourceToken>"
        f'<tt:Bounds x="0" y="0" width="{w}" height="{h}"/></{tag}>'
    )


def _encoder_config(index: int, p: StreamProfile, tag: str) -> str:
    codec = ""
    if p.encoding == "H264":
        codec = (
            f"<tt:H264><tt:GovLength>{p.fps * 2}</tt:GovLength>"
            "<tt:H264Profile>Main</tt:H264Profile></tt:H264>"
        )
    return (
        f'<{tag} token="{encoder_token(index)}"><tt:Name>VideoEncoder_{index + 1}</tt:Name>'
        f"<tt:UseCount>1</tt:UseCount><tt:Encoding>{esc(p.encoding)}</tt:Encoding>"
        f"<tt:Resolution><tt:Width>{p.width}</tt:Width><tt:Height>{p.height}</tt:Height>"
        "</tt:Resolution><tt:Quality>5</tt:Quality><tt:RateControl>"
        f"<tt:FrameRateLimit>{p.fps}</tt:FrameRateLimit><tt:EncodingInterval>1"
        f"</tt:EncodingInterval><tt:BitrateLimit>{p.bitrate_kbps}</tt:BitrateLimit>"
        f"</tt:RateControl>{codec}<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type>"
        "<tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port>"
        "<tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
        f"<tt:SessionTimeout>PT60S</tt:SessionTimeout></{tag}>"
    )


def _profile(cam: SimulatedCamera, index: int, p: StreamProfile, tag: str) -> str:
    return (
        f'<{tag} token="{esc(p.token)}" fixed="true"><tt:Name>{esc(p.name)}</tt:Name>'
        + _source_config(cam, "tt:VideoSourceConfiguration")
        + _encoder_config(index, p, "tt:VideoEncoderConfiguration")
        + (ptz_configuration(cam, "tt:PTZConfiguration") if cam.ptz else "")
        + f"</{tag}>"
    )


def _find_profile(cam: SimulatedCamera, body: etree._Element) -> tuple[int, StreamProfile]:
    token = child_text(body, "ProfileToken")
    for i, p in enumerate(cam.spec.profiles):
        if p.token == token:
            return i, p
    raise invalid_arg("ter:NoProfile", f"Profile token does not exist: {token}")


def get_profiles(cam: SimulatedCamera, _: etree._Element) -> str:
    return (
        "<trt:GetProfilesResponse>"
        + "".join(_profile(cam, i, p, "trt:Profiles") for i, p in enumerate(cam.spec.profiles))
        + "</trt:GetProfilesResponse>"
    )


def get_profile(cam: SimulatedCamera, body: etree._Element) -> str:
    i, p = _find_profile(cam, body)
    return f"<trt:GetProfileResponse>{_profile(cam, i, p, 'trt:Profile')}</trt:GetProfileResponse>"


def _media_uri(uri: str, timeout: str) -> str:
    return (
        f"<trt:MediaUri><tt:Uri>{esc(uri)}</tt:Uri><tt:InvalidAfterConnect>false"
        "</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
        f"<tt:Timeout>{timeout}</tt:Timeout></trt:MediaUri>"
    )


def get_stream_uri(cam: SimulatedCamera, body: etree._Element) -> str:
    _, p = _find_profile(cam, body)
    protocol = child_text(body, "Protocol")
    if protocol not in (None, "", "RTSP", "TCP"):
        # Only RTSP (RTP over RTSP/TCP) is served; HTTP tunnelling is not.
        raise invalid_arg("ter:InvalidStreamSetup", f"Unsupported transport: {protocol}")
    uri = _media_uri(cam.advertise(cam.stream_uri_for(p.token)), "PT60S")
    return f"<trt:GetStreamUriResponse>{uri}</trt:GetStreamUriResponse>"


def get_snapshot_uri(cam: SimulatedCamera, body: etree._Element) -> str:
    _, p = _find_profile(cam, body)
    uri = _media_uri(cam.advertise(cam.snapshot_url_for(p.token)), "PT0S")
    return f"<trt:GetSnapshotUriResponse>{uri}</trt:GetSnapshotUriResponse>"


def get_video_encoder_configurations(cam: SimulatedCamera, _: etree._Element) -> str:
    return (
        "<trt:GetVideoEncoderConfigurationsResponse>"
        + "".join(
            _encoder_config(i, p, "trt:Configurations") for i, p in enumerate(cam.spec.profiles)
        )
        + "</trt:GetVideoEncoderConfigurationsResponse>"
    )


def get_video_encoder_configuration(cam: SimulatedCamera, body: etree._Element) -> str:
    token = child_text(body, "ConfigurationToken")
    for i, p in enumerate(cam.spec.profiles):
        if encoder_token(i) == token:
            return (
                "<trt:GetVideoEncoderConfigurationResponse>"
                + _encoder_config(i, p, "trt:Configuration")
                + "</trt:GetVideoEncoderConfigurationResponse>"
            )
    raise invalid_arg("ter:NoConfig", f"Configuration token does not exist: {token}")


def get_video_sources(cam: SimulatedCamera, _: etree._Element) -> str:
    w, h = _max_resolution(cam)
    fps = max(p.fps for p in cam.spec.profiles)
    return (
        f'<trt:GetVideoSourcesResponse><trt:VideoSources token="{VIDEO_SOURCE}">'
        f"<tt:Framerate>{fps}</tt:Framerate><tt:Resolution><tt:Width>{w}</tt:Width>"
        f"<tt:Height>{h}</tt:Height></tt:Resolution></trt:VideoSources>"
        "</trt:GetVideoSourcesResponse>"
    )


def get_video_source_configurations(cam: SimulatedCamera, _: etree._Element) -> str:
    return (
        "<trt:GetVideoSourceConfigurationsResponse>"
        + _source_config(cam, "trt:Configurations")
        + "</trt:GetVideoSourceConfigurationsResponse>"
    )


def media_service_caps(cam: SimulatedCamera) -> str:
    return (
        '<trt:Capabilities SnapshotUri="true" Rotation="false" OSD="false">'
        f'<trt:ProfileCapabilities MaximumNumberOfProfiles="{len(cam.spec.profiles)}"/>'
        '<trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true" '
        'NonAggregateControl="false"/></trt:Capabilities>'
    )


def get_media_service_capabilities(cam: SimulatedCamera, _: etree._Element) -> str:
    return (
        "<trt:GetServiceCapabilitiesResponse>"
        + media_service_caps(cam)
        + "</trt:GetServiceCapabilitiesResponse>"
    )
