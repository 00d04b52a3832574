"""The ONVIF PTZ service (ver20) of a simulated PTZ dome, moving on the virtual clock.

Positions are in the generic spaces (pan and tilt -1..1, zoom 0..1); the motion itself is in
simulator.ptz_motion. ContinuousMove runs at the asked velocity until its Timeout, a Stop or
a limit; AbsoluteMove, RelativeMove and GotoPreset run at the asked (else the default) speed
to their target, so GetStatus shows MOVING, then IDLE.

Answers are shaped like the recorded AXIS Q6045-E and HIKVISION DS-2DF7276-AEL domes
(tests/data/onvif/): node, configuration, status with MoveStatus and UtcTime, presets with
their position.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from lxml import etree

from simulator.onvif_events import parse_duration, utc_text
from simulator.ptz_motion import DEFAULT_TIMEOUT_S, MAX_PRESETS, Preset, PtzState
from simulator.soap import NS_TPTZ, action_not_supported, child_text, esc, invalid_arg

if TYPE_CHECKING:
    from simulator.onvif_camera import SimulatedCamera

__all__ = ["PTZ_HANDLERS", "PTZ_PATH", "PtzState", "is_ptz_model", "ptz_configuration"]

PTZ_PATH = "/onvif/ptz_service"
NODE_TOKEN = "PTZNode_1"
CONFIG_TOKEN = "PTZConfiguration_1"

# Models that are PTZ domes: Hikvision DS-2DE/DS-2DF, Dahua SD..., Axis Q60-Q62/P56/M50,
# Hanwha XNP/QNP, Bosch AUTODOME, and anything that says PTZ.
_PTZ_MODEL = re.compile(r"DS-2D[EF]|\bSD\d|AXIS (?:Q6[0-2]|P56|M50)|[XQ]NP-|AUTODOME|PTZ",
                        re.IGNORECASE)


def is_ptz_model(model: str) -> bool:
    """Whether a vendor model name is a PTZ dome (the default of SimulatedCamera.ptz)."""
    return _PTZ_MODEL.search(model) is not None


# ContinuousMove timeouts GetConfigurationOptions offers (the recorded Hikvision dome's).
PTZ_TIMEOUT_RANGE_S = (1, 600)
_PT = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/"
_Z = "http://www.onvif.org/ver10/tptz/ZoomSpaces/"
PT_POSITION = _PT + "PositionGenericSpace"
Z_POSITION = _Z + "PositionGenericSpace"
PT_TRANSLATION = _PT + "TranslationGenericSpace"
Z_TRANSLATION = _Z + "TranslationGenericSpace"
PT_VELOCITY = _PT + "VelocityGenericSpace"
Z_VELOCITY = _Z + "VelocityGenericSpace"
PT_SPEED = _PT + "GenericSpeedSpace"
Z_SPEED = _Z + "ZoomGenericSpeedSpace"

# ------------------------------------------------------------------ request parsing


def _child(el: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in el if isinstance(c.tag, str) and etree.QName(c).localname == name),
                None)


def _number(el: etree._Element, attr: str, fault: str) -> float:
    try:
        value = float(el.get(attr, ""))
    except ValueError:
        raise invalid_arg(fault, f"{etree.QName(el).localname}/@{attr} is not a number") from None
    if not math.isfinite(value):
        raise invalid_arg(fault, f"{etree.QName(el).localname}/@{attr} is not finite")
    return value


def _vector(body: etree._Element, name: str, spaces: tuple[str, str], fault: str,
            ) -> tuple[tuple[float, float] | None, float | None]:
    """PanTilt (x, y) and Zoom x of a PTZVector/PTZSpeed child, each None when absent."""
    el = _child(body, name)
    if el is None:
        return None, None
    pt = _child(el, "PanTilt")
    zoom = _child(el, "Zoom")
    for part, space in ((pt, spaces[0]), (zoom, spaces[1])):
        if part is not None and part.get("space") not in (None, "", space):
            raise invalid_arg(fault, f"Space not supported: {part.get('space')}")
    pan_tilt = None
    if pt is not None:
        pan_tilt = (_number(pt, "x", fault), _number(pt, "y", fault))
    return pan_tilt, None if zoom is None else _number(zoom, "x", fault)


def _in(value: float, lo: float, hi: float) -> bool:
    return lo <= value <= hi


def _speeds(body: etree._Element) -> tuple[float, float]:
    """Pan/tilt and zoom speed (GenericSpeedSpace 0..1); absent: DefaultPTZSpeed, 1."""
    pt, zoom = _vector(body, "Speed", (PT_SPEED, Z_SPEED), "ter:InvalidSpeed")
    pt = (1.0, 1.0) if pt is None else pt
    zoom = 1.0 if zoom is None else zoom
    if not all(_in(v, 0.0, 1.0) for v in (*pt, zoom)):
        raise invalid_arg("ter:InvalidSpeed", "The requested speed is out of bounds")
    return max(pt), zoom


def _state(cam: SimulatedCamera, body: etree._Element) -> PtzState:
    """The camera's PTZ state for the request's ProfileToken (every profile has PTZ)."""
    token = child_text(body, "ProfileToken")
    if not any(p.token == token for p in cam.spec.profiles):
        raise invalid_arg("ter:NoProfile", f"Profile token does not exist: {token}")
    return cam.ptz_state


def _absolute_allowed(state: PtzState, action: str) -> None:
    if state.continuous_only:
        raise action_not_supported(action)


# ------------------------------------------------------------------ answers


def _range(tag: str, lo: float, hi: float, uri: str, y: bool = True) -> str:
    yr = f"<tt:YRange><tt:Min>{lo:g}</tt:Min><tt:Max>{hi:g}</tt:Max></tt:YRange>" if y else ""
    return (f"<tt:{tag}><tt:URI>{uri}</tt:URI><tt:XRange><tt:Min>{lo:g}</tt:Min>"
            f"<tt:Max>{hi:g}</tt:Max></tt:XRange>{yr}</tt:{tag}>")


def _spaces(state: PtzState) -> str:
    """The coordinate spaces of the dome (GetNodes, GetConfigurationOptions)."""
    spaces = []
    if not state.continuous_only:
        spaces += [
            _range("AbsolutePanTiltPositionSpace", -1, 1, PT_POSITION),
            _range("AbsoluteZoomPositionSpace", 0, 1, Z_POSITION, y=False),
            _range("RelativePanTiltTranslationSpace", -1, 1, PT_TRANSLATION),
            _range("RelativeZoomTranslationSpace", -1, 1, Z_TRANSLATION, y=False),
        ]
    spaces += [
        _range("ContinuousPanTiltVelocitySpace", -1, 1, PT_VELOCITY),
        _range("ContinuousZoomVelocitySpace", -1, 1, Z_VELOCITY, y=False),
        _range("PanTiltSpeedSpace", 0, 1, PT_SPEED, y=False),
        _range("ZoomSpeedSpace", 0, 1, Z_SPEED, y=False),
    ]
    return "".join(spaces)


def _node(state: PtzState, tag: str) -> str:
    return (
        f'<{tag} token="{NODE_TOKEN}" FixedHomePosition="false"><tt:Name>PTZNODE</tt:Name>'
        f"<tt:SupportedPTZSpaces>{_spaces(state)}</tt:SupportedPTZSpaces>"
        f"<tt:MaximumNumberOfPresets>{MAX_PRESETS}</tt:MaximumNumberOfPresets>"
        f"<tt:HomeSupported>{'false' if state.continuous_only else 'true'}</tt:HomeSupported>"
        f"</{tag}>"
    )


def ptz_configuration(cam: SimulatedCamera, tag: str) -> str:
    """The one PTZConfiguration every profile of a PTZ camera uses (also in GetProfiles)."""
    return (
        f'<{tag} token="{CONFIG_TOKEN}"><tt:Name>PTZConfiguration</tt:Name>'
        f"<tt:UseCount>{len(cam.spec.profiles)}</tt:UseCount>"
        f"<tt:NodeToken>{NODE_TOKEN}</tt:NodeToken>"
        f"<tt:DefaultAbsolutePantTiltPositionSpace>{PT_POSITION}"
        "</tt:DefaultAbsolutePantTiltPositionSpace>"
        f"<tt:DefaultAbsoluteZoomPositionSpace>{Z_POSITION}</tt:DefaultAbsoluteZoomPositionSpace>"
        f"<tt:DefaultRelativePanTiltTranslationSpace>{PT_TRANSLATION}"
        "</tt:DefaultRelativePanTiltTranslationSpace>"
        f"<tt:DefaultRelativeZoomTranslationSpace>{Z_TRANSLATION}"
        "</tt:DefaultRelativeZoomTranslationSpace>"
        f"<tt:DefaultContinuousPanTiltVelocitySpace>{PT_VELOCITY}"
        "</tt:DefaultContinuousPanTiltVelocitySpace>"
        f"<tt:DefaultContinuousZoomVelocitySpace>{Z_VELOCITY}"
        "</tt:DefaultContinuousZoomVelocitySpace>"
        f'<tt:DefaultPTZSpeed><tt:PanTilt x="1" y="1" space="{PT_SPEED}"/>'
        f'<tt:Zoom x="1" space="{Z_SPEED}"/></tt:DefaultPTZSpeed>'
        f"<tt:DefaultPTZTimeout>PT{DEFAULT_TIMEOUT_S:g}S</tt:DefaultPTZTimeout>"
        f"<tt:PanTiltLimits>{_range('Range', -1, 1, PT_POSITION)}</tt:PanTiltLimits>"
        f"<tt:ZoomLimits>{_range('Range', 0, 1, Z_POSITION, y=False)}</tt:ZoomLimits>"
        f"</{tag}>"
    )


def _position(tag: str, pos: tuple[float, float, float]) -> str:
    return (f'<{tag}><tt:PanTilt x="{pos[0]:.6f}" y="{pos[1]:.6f}" space="{PT_POSITION}"/>'
            f'<tt:Zoom x="{pos[2]:.6f}" space="{Z_POSITION}"/></{tag}>')


def ptz_service_caps() -> str:
    return ('<tptz:Capabilities EFlip="false" Reverse="false" GetCompatibleConfigurations="false"'
            ' MoveStatus="true" StatusPosition="true"/>')


def get_service_capabilities(cam: SimulatedCamera, _: etree._Element) -> str:
    return ("<tptz:GetServiceCapabilitiesResponse>" + ptz_service_caps()
            + "</tptz:GetServiceCapabilitiesResponse>")


def get_nodes(cam: SimulatedCamera, _: etree._Element) -> str:
    return f"<tptz:GetNodesResponse>{_node(cam.ptz_state, 'tptz:PTZNode')}</tptz:GetNodesResponse>"


def get_node(cam: SimulatedCamera, body: etree._Element) -> str:
    token = child_text(body, "NodeToken")
    if token != NODE_TOKEN:
        raise invalid_arg("ter:NoEntity", f"No such node on the device: {token}")
    return f"<tptz:GetNodeResponse>{_node(cam.ptz_state, 'tptz:PTZNode')}</tptz:GetNodeResponse>"


def get_configurations(cam: SimulatedCamera, _: etree._Element) -> str:
    return ("<tptz:GetConfigurationsResponse>" + ptz_configuration(cam, "tptz:PTZConfiguration")
            + "</tptz:GetConfigurationsResponse>")


def get_configuration(cam: SimulatedCamera, body: etree._Element) -> str:
    token = child_text(body, "PTZConfigurationToken")
    if token != CONFIG_TOKEN:
        raise invalid_arg("ter:NoConfig", f"No such PTZ configuration: {token}")
    return ("<tptz:GetConfigurationResponse>" + ptz_configuration(cam, "tptz:PTZConfiguration")
            + "</tptz:GetConfigurationResponse>")


def get_configuration_options(cam: SimulatedCamera, body: etree._Element) -> str:
    """Spaces and ContinuousMove timeouts of the configuration (Profile S requires it of
    a PTZ device; both recorded domes in tests/data/onvif answer it in this shape)."""
    token = child_text(body, "ConfigurationToken")
    if token != CONFIG_TOKEN:
        raise invalid_arg("ter:NoConfig", f"No such PTZ configuration: {token}")
    lo, hi = PTZ_TIMEOUT_RANGE_S
    return (
        "<tptz:GetConfigurationOptionsResponse><tptz:PTZConfigurationOptions>"
        f"<tt:Spaces>{_spaces(cam.ptz_state)}</tt:Spaces>"
        f"<tt:PTZTimeout><tt:Min>PT{lo}S</tt:Min><tt:Max>PT{hi}S</tt:Max></tt:PTZTimeout>"
        "</tptz:PTZConfigurationOptions></tptz:GetConfigurationOptionsResponse>"
    )


def get_status(cam: SimulatedCamera, body: etree._Element) -> str:
    state = _state(cam, body)
    pt_moving, zoom_moving = state.moving()
    word = {True: "MOVING", False: "IDLE"}
    return (
        "<tptz:GetStatusResponse><tptz:PTZStatus>" + _position("tt:Position", state.position())
        + f"<tt:MoveStatus><tt:PanTilt>{word[pt_moving]}</tt:PanTilt>"
        f"<tt:Zoom>{word[zoom_moving]}</tt:Zoom></tt:MoveStatus>"
        f"<tt:UtcTime>{utc_text(cam.camera_now())}</tt:UtcTime>"
        "</tptz:PTZStatus></tptz:GetStatusResponse>"
    )


def continuous_move(cam: SimulatedCamera, body: etree._Element) -> str:
    state = _state(cam, body)
    pt, zoom = _vector(body, "Velocity", (PT_VELOCITY, Z_VELOCITY), "ter:InvalidVelocity")
    if pt is None and zoom is None:
        raise invalid_arg("ter:InvalidVelocity", "Velocity has neither PanTilt nor Zoom")
    if (pt is not None and not (_in(pt[0], -1, 1) and _in(pt[1], -1, 1))) or (
        zoom is not None and not _in(zoom, -1, 1)
    ):
        raise invalid_arg("ter:InvalidVelocity", "Velocity is out of bounds")
    timeout_text = child_text(body, "Timeout")
    timeout = DEFAULT_TIMEOUT_S
    if timeout_text:
        parsed = parse_duration(timeout_text)
        if parsed is None:
            raise invalid_arg("ter:TimeoutNotSupported", f"Invalid Timeout: {timeout_text}")
        timeout = parsed
    state.continuous(pt, zoom, timeout)
    return "<tptz:ContinuousMoveResponse/>"


def absolute_move(cam: SimulatedCamera, body: etree._Element) -> str:
    state = _state(cam, body)
    _absolute_allowed(state, "AbsoluteMove")
    pt, zoom = _vector(body, "Position", (PT_POSITION, Z_POSITION), "ter:InvalidPosition")
    if (pt is not None and not (_in(pt[0], -1, 1) and _in(pt[1], -1, 1))) or (
        zoom is not None and not _in(zoom, 0, 1)
    ):
        raise invalid_arg("ter:InvalidPosition", "The requested position is out of bounds")
    state.move_to(pt, zoom, *_speeds(body))
    return "<tptz:AbsoluteMoveResponse/>"


def relative_move(cam: SimulatedCamera, body: etree._Element) -> str:
    state = _state(cam, body)
    _absolute_allowed(state, "RelativeMove")
    pt, zoom = _vector(body, "Translation", (PT_TRANSLATION, Z_TRANSLATION),
                       "ter:InvalidTranslation")
    if (pt is not None and not (_in(pt[0], -1, 1) and _in(pt[1], -1, 1))) or (
        zoom is not None and not _in(zoom, -1, 1)
    ):
        raise invalid_arg("ter:InvalidTranslation", "The requested translation is out of bounds")
    pan, tilt, z = state.position()
    target_pt = None if pt is None else (pan + pt[0], tilt + pt[1])
    # Beyond a limit the dome stops at the limit (PtzState clamps), as real domes do.
    state.move_to(target_pt, None if zoom is None else z + zoom, *_speeds(body))
    return "<tptz:RelativeMoveResponse/>"


def stop(cam: SimulatedCamera, body: etree._Element) -> str:
    state = _state(cam, body)
    flags = {name: (child_text(body, name) or "true").lower() in ("true", "1")
             for name in ("PanTilt", "Zoom")}
    state.stop(flags["PanTilt"], flags["Zoom"])
    return "<tptz:StopResponse/>"


def get_presets(cam: SimulatedCamera, body: etree._Element) -> str:
    state = _state(cam, body)
    items = "".join(
        f'<tptz:Preset token="{esc(p.token)}"><tt:Name>{esc(p.name)}</tt:Name>'
        + _position("tt:PTZPosition", p.position) + "</tptz:Preset>"
        for p in state.presets.values()
    )
    return f"<tptz:GetPresetsResponse>{items}</tptz:GetPresetsResponse>"


def set_preset(cam: SimulatedCamera, body: etree._Element) -> str:
    state = _state(cam, body)
    token = state.set_preset(child_text(body, "PresetName"), child_text(body, "PresetToken"))
    return f"<tptz:SetPresetResponse><tptz:PresetToken>{esc(token)}</tptz:PresetToken>" \
           "</tptz:SetPresetResponse>"


def _preset(state: PtzState, body: etree._Element) -> Preset:
    token = child_text(body, "PresetToken")
    preset = state.presets.get(token or "")
    if preset is None:
        raise invalid_arg("ter:NoToken", f"No such preset: {token}")
    return preset


def goto_preset(cam: SimulatedCamera, body: etree._Element) -> str:
    state = _state(cam, body)
    pan, tilt, zoom = _preset(state, body).position
    state.move_to((pan, tilt), zoom, *_speeds(body))
    return "<tptz:GotoPresetResponse/>"


def remove_preset(cam: SimulatedCamera, body: etree._Element) -> str:
    state = _state(cam, body)
    del state.presets[_preset(state, body).token]
    return "<tptz:RemovePresetResponse/>"


def goto_home_position(cam: SimulatedCamera, body: etree._Element) -> str:
    state = _state(cam, body)
    _absolute_allowed(state, "GotoHomePosition")
    pan, tilt, zoom = state.home
    state.move_to((pan, tilt), zoom, *_speeds(body))
    return "<tptz:GotoHomePositionResponse/>"


def set_home_position(cam: SimulatedCamera, body: etree._Element) -> str:
    state = _state(cam, body)
    _absolute_allowed(state, "SetHomePosition")
    state.home = state.position()
    return "<tptz:SetHomePositionResponse/>"


PTZ_HANDLERS: dict[tuple[str, str], Callable[[SimulatedCamera, etree._Element], str]] = {
    (NS_TPTZ, name): handler
    for name, handler in (
        ("GetServiceCapabilities", get_service_capabilities),
        ("GetNodes", get_nodes),
        ("GetNode", get_node),
        ("GetConfigurations", get_configurations),
        ("GetConfiguration", get_configuration),
        ("GetConfigurationOptions", get_configuration_options),
        ("GetStatus", get_status),
        ("ContinuousMove", continuous_move),
        ("AbsoluteMove", absolute_move),
        ("RelativeMove", relative_move),
        ("Stop", stop),
        ("GetPresets", get_presets),
        ("SetPreset", set_preset),
        ("GotoPreset", goto_preset),
        ("RemovePreset", remove_preset),
        ("GotoHomePosition", goto_home_position),
        ("SetHomePosition", set_home_position),
    )
}
