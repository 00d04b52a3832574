"""Motion of a simulated PTZ dome on the virtual clock: axes, presets, home position.

Each axis moves in a straight line at a constant rate from the moment a move is asked, so
its position is a pure function of the virtual clock (no task ticks): ContinuousMove runs
at a velocity until its timeout, a stop or a limit; absolute moves run at a speed to their
target. Positions are in the ONVIF generic spaces: pan and tilt -1..1, zoom 0..1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.soap import SoapFault, invalid_arg

if TYPE_CHECKING:
    from simulator.clock import VirtualClock

# Generic units per scenario second at velocity/speed 1. Pan -1..1 spans 360 degrees, so
# 1.0/s is 180 deg/s: between the DS-2DF7276's 160 deg/s manual and 240 deg/s preset speeds.
PAN_TILT_MAX_RATE = 1.0
# A 30x zoom goes wide to tele in about 4 s on real domes.
ZOOM_MAX_RATE = 0.25
# ContinuousMove without Timeout stops after this (Hikvision's DefaultPTZTimeout, PT300S).
DEFAULT_TIMEOUT_S = 300.0
# Both recorded domes allow 256 presets.
MAX_PRESETS = 256
# A Speed of 0 would never arrive; domes crawl at their slowest instead (0.1 deg/s ~ 0.001).
MIN_SPEED = 0.001
# ONVIF's tt:Name type (preset names included) is at most 64 characters.
MAX_PRESET_NAME = 64


@dataclass
class _Axis:
    """One axis moving in a straight line from (t0, start) at `rate` until t_end (= `end`)."""

    lo: float
    hi: float
    start: float = 0.0
    t0: float = 0.0
    rate: float = 0.0
    t_end: float = 0.0
    end: float = 0.0

    def at(self, t: float) -> float:
        if self.rate == 0.0 or t >= self.t_end:
            return self.end if self.rate else self.start
        return min(self.hi, max(self.lo, self.start + self.rate * (t - self.t0)))

    def moving(self, t: float) -> bool:
        return self.rate != 0.0 and t < self.t_end

    def hold(self, t: float, value: float | None = None) -> None:
        v = self.at(t) if value is None else value
        self.start = self.end = min(self.hi, max(self.lo, v))
        self.t0 = self.t_end = t
        self.rate = 0.0

    def run(self, t: float, rate: float, duration: float) -> None:
        """Move at `rate` for `duration` seconds, or until the limit in that direction."""
        v = self.at(t)
        if rate != 0.0:
            limit = self.hi if rate > 0 else self.lo
            duration = min(duration, (limit - v) / rate)
        if rate == 0.0 or duration <= 0:
            self.hold(t, v)
            return
        self.start, self.t0, self.rate = v, t, rate
        self.t_end, self.end = t + duration, min(self.hi, max(self.lo, v + rate * duration))

    def go(self, t: float, target: float, rate: float) -> None:
        """Move to `target` (clamped) at `rate` (> 0)."""
        v = self.at(t)
        target = min(self.hi, max(self.lo, target))
        if target == v:
            self.hold(t, v)
            return
        self.start, self.t0 = v, t
        self.rate = math.copysign(rate, target - v)
        self.t_end, self.end = t + abs(target - v) / rate, target


@dataclass
class Preset:
    token: str
    name: str
    position: tuple[float, float, float]


class PtzState:
    """Position, motion and presets of one dome. Times are virtual-clock seconds."""

    def __init__(self, clock: VirtualClock, *, continuous_only: bool = False) -> None:
        self.clock = clock
        # Quirk: some domes take only ContinuousMove (no absolute/relative spaces).
        self.continuous_only = continuous_only
        self.axes = (_Axis(-1.0, 1.0), _Axis(-1.0, 1.0), _Axis(0.0, 1.0))
        self.home = (0.0, 0.0, 0.0)
        self.presets: dict[str, Preset] = {}
        self._next_token = 1

    def position(self) -> tuple[float, float, float]:
        t = self.clock.elapsed()
        pan, tilt, zoom = (a.at(t) for a in self.axes)
        return pan, tilt, zoom

    def moving(self) -> tuple[bool, bool]:
        """(pan/tilt moving, zoom moving)."""
        t = self.clock.elapsed()
        return self.axes[0].moving(t) or self.axes[1].moving(t), self.axes[2].moving(t)

    def continuous(self, pt: tuple[float, float] | None, zoom: float | None,
                   timeout_s: float) -> None:
        t = self.clock.elapsed()
        if pt is not None:
            self.axes[0].run(t, pt[0] * PAN_TILT_MAX_RATE, timeout_s)
            self.axes[1].run(t, pt[1] * PAN_TILT_MAX_RATE, timeout_s)
        if zoom is not None:
            self.axes[2].run(t, zoom * ZOOM_MAX_RATE, timeout_s)

    def move_to(self, pt: tuple[float, float] | None, zoom: float | None,
                pt_speed: float, zoom_speed: float) -> None:
        """Pan and tilt travel together (both arrive at once), like a dome's preset move."""
        t = self.clock.elapsed()
        if pt is not None:
            dx = abs(pt[0] - self.axes[0].at(t))
            dy = abs(pt[1] - self.axes[1].at(t))
            longest = max(dx, dy)
            rate = max(pt_speed, MIN_SPEED) * PAN_TILT_MAX_RATE
            for axis, target, d in ((self.axes[0], pt[0], dx), (self.axes[1], pt[1], dy)):
                if d and longest:
                    axis.go(t, target, rate * d / longest)
                else:
                    axis.hold(t)
        if zoom is not None:
            self.axes[2].go(t, zoom, max(zoom_speed, MIN_SPEED) * ZOOM_MAX_RATE)

    def stop(self, pan_tilt: bool = True, zoom: bool = True) -> None:
        t = self.clock.elapsed()
        for axis in self.axes[:2] if pan_tilt else ():
            axis.hold(t)
        if zoom:
            self.axes[2].hold(t)

    def set_preset(self, name: str | None, token: str | None) -> str:
        if token is not None and token not in self.presets:
            raise invalid_arg("ter:NoToken", f"No such preset: {token}")
        if name is not None:
            if not name or len(name) > MAX_PRESET_NAME:
                raise invalid_arg("ter:InvalidPresetName", "Preset name is empty or too long")
            if any(p.name == name and p.token != token for p in self.presets.values()):
                raise invalid_arg("ter:PresetExist", f"Preset name already exists: {name}")
        if token is None:
            if len(self.presets) >= MAX_PRESETS:
                raise SoapFault("Receiver", ("ter:Action", "ter:TooManyPresets"),
                                "Maximum number of presets reached")
            while str(self._next_token) in self.presets:
                self._next_token += 1
            token = str(self._next_token)
            self._next_token += 1
        old = self.presets.get(token)
        label = name if name is not None else (old.name if old else f"Preset {token}")
        self.presets[token] = Preset(token, label, self.position())
        return token

    def add_preset(self, name: str, position: tuple[float, float, float]) -> str:
        """A preset an installer left on the dome (set up without moving it)."""
        token = self.set_preset(name, None)
        self.presets[token].position = position
        return token

    def power_cycle(self) -> None:
        """A dome calibrates at boot and parks at its home position; presets are kept."""
        t = self.clock.elapsed()
        for axis, value in zip(self.axes, self.home, strict=True):
            axis.hold(t, value)
