"""PTZ control of one ONVIF camera (PTZ service ver20) through ``drivers.onvif.OnvifDevice``.

``OnvifPtz`` uses the PTZ XAddr the device advertises (GetServices, else GetCapabilities, with
the device's XAddr rewriting) and the media profile that carries a PTZConfiguration::

    ptz = device.ptz()
    await ptz.continuous_move(pan=0.5, tilt=0.0, timeout_s=2)
    status = await ptz.status()
    token = await ptz.set_preset("Entrance")

Coordinates are in the generic spaces (pan/tilt -1..1, zoom 0..1; velocities and speeds as a
fraction of the dome's maximum), which every recorded camera supports. Every request runs
under the device's timeout; failures are ``drivers.errors.OnvifError`` subclasses, a camera
without PTZ (or without the move asked for) raises ``OnvifNotSupported``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from drivers.errors import OnvifNotSupported, OnvifProtocolError
from drivers.onvif_model import (
    PtzConfiguration,
    PtzNode,
    PtzPreset,
    PtzStatus,
    parse_ptz_configuration,
    parse_ptz_node,
    parse_ptz_preset,
    parse_ptz_status,
    text,
)

if TYPE_CHECKING:
    from drivers.onvif import OnvifDevice

__all__ = [
    "PTZ_NS",
    "OnvifPtz",
    "PtzConfiguration",
    "PtzNode",
    "PtzPreset",
    "PtzStatus",
]

logger = logging.getLogger(__name__)

PTZ_NS = "http://www.onvif.org/ver20/ptz/wsdl"
# Fault subcodes meaning "this camera cannot do that" (ONVIF Core 5.11.2, and what the
# recorded cameras send); ter:Action alone is a generic failure, not "unsupported".
_UNSUPPORTED = {"ActionNotSupported", "NotSupported", "NoSuchService", "InvalidOperation"}
# Longest ContinuousMove Timeout we ask for: an operator's client that dies mid-move must
# not leave the dome turning for the camera's default (Axis: 2147 s).
MAX_MOVE_TIMEOUT_S = 3600.0

T = TypeVar("T")


def _clamp(value: float, lo: float, hi: float, what: str) -> float:
    if value != value:  # NaN
        raise ValueError(f"{what} is not a number")
    return min(hi, max(lo, float(value)))


class OnvifPtz:
    """PTZ of ``device`` for ``profile_token`` (None: the first profile with PTZ)."""

    def __init__(self, device: OnvifDevice, profile_token: str | None = None) -> None:
        self.device = device
        self._profile_token = profile_token

    def __repr__(self) -> str:
        return f"OnvifPtz({self.device.url!r}, profile={self._profile_token!r})"

    # -- plumbing ---------------------------------------------------------------------------

    async def _request(self, operation: str, params: dict[str, Any] | None = None) -> Any:
        if not await self.device.has_service(PTZ_NS):
            raise OnvifNotSupported(
                f"{operation}: device advertises no PTZ service",
                operation=operation,
                device=self.device.url,
            )
        try:
            return await self.device.request("ptz", operation, params)
        except OnvifNotSupported:
            raise
        except OnvifProtocolError as exc:
            if _UNSUPPORTED & set(exc.fault_subcodes):
                raise OnvifNotSupported(
                    exc.message, operation=operation, device=self.device.url,
                    fault_code=exc.fault_code, fault_subcodes=exc.fault_subcodes,
                ) from exc
            raise

    def _parse(self, operation: str, parse: Callable[[Any], T], raw: Any) -> T:
        try:
            return parse(raw)
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise OnvifProtocolError(
                f"{operation}: response lacks expected fields ({exc})",
                operation=operation,
                device=self.device.url,
            ) from exc

    async def profile_token(self) -> str:
        """The media profile PTZ requests name: the given one, else the first with PTZ."""
        if self._profile_token is None:
            profiles = await self.device.profiles()
            if not profiles:
                raise OnvifProtocolError(
                    "GetProfiles: the device has no media profile",
                    operation="GetProfiles",
                    device=self.device.url,
                )
            # A dome without a PTZConfiguration in any profile still gets the first one:
            # the camera answers ter:NoPTZProfile if it really needs one.
            chosen = next((p for p in profiles if p.ptz_configuration), profiles[0])
            self._profile_token = chosen.token
        return self._profile_token

    async def _profile_request(self, operation: str, params: dict[str, Any] | None = None) -> Any:
        request = {"ProfileToken": await self.profile_token(), **(params or {})}
        return await self._request(operation, request)

    # -- configuration --------------------------------------------------------------------

    async def nodes(self) -> tuple[PtzNode, ...]:
        raw = await self._request("GetNodes")
        return tuple(self._parse("GetNodes", parse_ptz_node, n) for n in raw or ())

    async def configurations(self) -> tuple[PtzConfiguration, ...]:
        raw = await self._request("GetConfigurations")
        return tuple(
            self._parse("GetConfigurations", parse_ptz_configuration, c) for c in raw or ()
        )

    # -- moves -----------------------------------------------------------------------------

    async def status(self) -> PtzStatus:
        raw = await self._profile_request("GetStatus")
        return self._parse("GetStatus", parse_ptz_status, raw)

    async def continuous_move(
        self, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0,
        timeout_s: float | None = None,
    ) -> None:
        """Move at a velocity (each -1..1 of the maximum) until stop() or ``timeout_s``
        (None: the camera's DefaultPTZTimeout)."""
        params: dict[str, Any] = {"Velocity": _vector(
            _clamp(pan, -1, 1, "pan"), _clamp(tilt, -1, 1, "tilt"), _clamp(zoom, -1, 1, "zoom")
        )}
        if timeout_s is not None:
            seconds = _clamp(timeout_s, 0.0, MAX_MOVE_TIMEOUT_S, "timeout_s")
            params["Timeout"] = dt.timedelta(seconds=seconds)
        await self._profile_request("ContinuousMove", params)

    async def stop(self, pan_tilt: bool = True, zoom: bool = True) -> None:
        await self._profile_request("Stop", {"PanTilt": pan_tilt, "Zoom": zoom})

    async def absolute_move(
        self, pan: float | None = None, tilt: float | None = None, zoom: float | None = None,
        speed: float | None = None,
    ) -> None:
        """Move to a position; pan and tilt go together (both or neither), zoom alone too.
        ``speed`` 0..1 of the maximum (None: the camera's default)."""
        if (pan is None) != (tilt is None):  # one axis only: keep the other where it is
            now = await self.status()
            pan, tilt = (now.pan if pan is None else pan), (now.tilt if tilt is None else tilt)
        await self._profile_request("AbsoluteMove", {
            "Position": _vector(pan, tilt, zoom), **_speed(speed),
        })

    async def relative_move(
        self, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0, speed: float | None = None
    ) -> None:
        """Move by a translation (generic units; the camera stops at its limits)."""
        await self._profile_request("RelativeMove", {
            "Translation": _vector(pan, tilt, zoom), **_speed(speed),
        })

    # -- presets ---------------------------------------------------------------------------

    async def presets(self) -> tuple[PtzPreset, ...]:
        raw = await self._profile_request("GetPresets")
        return tuple(self._parse("GetPresets", parse_ptz_preset, p) for p in raw or ())

    async def set_preset(self, name: str | None = None, token: str | None = None) -> str:
        """Store the current position as a new preset (or overwrite ``token``); its token."""
        params: dict[str, Any] = {}
        if name is not None:
            params["PresetName"] = name
        if token is not None:
            params["PresetToken"] = token
        raw = await self._profile_request("SetPreset", params)
        result = text(raw if isinstance(raw, str) else getattr(raw, "PresetToken", raw))
        if not result:
            raise OnvifProtocolError(
                "SetPreset: response has no PresetToken", operation="SetPreset",
                device=self.device.url,
            )
        return result

    async def goto_preset(self, token: str, speed: float | None = None) -> None:
        await self._profile_request("GotoPreset", {"PresetToken": token, **_speed(speed)})

    async def remove_preset(self, token: str) -> None:
        await self._profile_request("RemovePreset", {"PresetToken": token})

    async def goto_home(self, speed: float | None = None) -> None:
        await self._profile_request("GotoHomePosition", _speed(speed))


def _vector(pan: float | None, tilt: float | None, zoom: float | None) -> dict[str, Any]:
    vector: dict[str, Any] = {}
    if pan is not None or tilt is not None:
        vector["PanTilt"] = {"x": float(pan or 0.0), "y": float(tilt or 0.0)}
    if zoom is not None:
        vector["Zoom"] = {"x": float(zoom)}
    return vector


def _speed(speed: float | None) -> dict[str, Any]:
    if speed is None:
        return {}
    s = _clamp(speed, 0.0, 1.0, "speed")
    return {"Speed": {"PanTilt": {"x": s, "y": s}, "Zoom": {"x": s}}}
