"""Health thresholds: named defaults, and overrides per camera group (hub TOML `[health]`).

Every number the health engine (hub/health.py, hub/health_rules.py) judges by is a field
of `HealthThresholds`. The defaults are the constants below, each with the reason for its
value; the targets they serve (DESIGN.md "Health model", issue 5): a stall is reported
within 5 s, a frozen or black picture within 10 s, recovery within 10 s, and one state
change per fault, not a storm.

This module is a leaf (no hub imports), so that the config loader can use it freely.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# -- hysteresis ------------------------------------------------------------------------

# A DOWN-level problem (no stream, black, frozen, ONVIF failing) must persist this long
# before the camera turns down. Measured from the problem's onset as the evidence shows
# it (a stall from the last packet), so: stall (watchdog 2 s) -> down at 3 s + one hub tick,
# inside the 5 s target, while a 2.5 s network hiccup causes nothing.
DOWN_AFTER_S = 3.0
# DEGRADED-level problems (low fps, low bit rate, no keyframes) wait longer: they are also
# the first symptoms of a freeze or a black picture (the bit rate collapses at once), which
# the pixel checks confirm within about 8 s. Waiting 10 s lets the real cause win, so a
# freeze is one change (ok -> down), not two (ok -> degraded -> down). Nobody needs to be
# told about a low frame rate within seconds.
DEGRADED_AFTER_S = 10.0
# Hold before announcing recovery. Longer than the stall watchdog, so a stream that
# reconnects and then sends nothing is never announced as back; short enough that a
# repaired camera shows ok within 10 s (fault off -> next keyframe <= 2 s -> sample <= 2 s
# -> 4 s hold -> one tick).
OK_AFTER_S = 4.0
# ONVIF answers come one poll at a time (every 3 s, then 1 s after a failure): two
# failed polls in a row count as confirmed even before DOWN_AFTER_S has passed. A single
# failed poll is often a blip (a busy camera, a switch rebooting).
FAILURES_BEFORE_DOWN = 2

# -- flapping --------------------------------------------------------------------------

# Outages (ok -> degraded or down) are counted over this sliding window: "per hour".
FLAP_WINDOW_S = 3600.0
# This many outages within the window make a camera "flapping": one real incident gives
# one outage, a reboot or a technician's work two or three; four or more in an hour is a
# pattern (a loose connector, a failing PoE port, a saturated uplink), and every further
# pair of ok/down is noise the operator should see as one badge, not as news.
FLAPPING_PER_HOUR = 4
# ...and the badge goes only when fewer than this many remain in the window (hysteresis):
# at most one outage in the last hour. Clearing at 3 would let a camera that keeps
# failing every 15-20 min blink the badge on and off.
FLAPPING_CLEAR_PER_HOUR = 2

# -- stream sampling (drivers/stream.py StreamSampler) ---------------------------------

# One sample (and at most one feed update for the TUI) per camera this often: short
# enough for the detection targets, long enough to hold a few keyframes' worth of packets.
WINDOW_S = 2.0
# No packet for this long on an open connection is a stall (Genetec says "transmission
# lost" after 5 s; with DOWN_AFTER_S measured from the last packet, 2 s keeps us at 3 s).
STALL_AFTER_S = 2.0
# Decode a keyframe at most this often, for black/frozen: below the usual 2 s GOP, so a
# typical camera has every keyframe looked at and a freeze (3 identical keyframes) shows
# within about 6 s. The decode is one small picture; 1.5 s keeps it well under 1 % CPU.
PIXEL_INTERVAL_S = 1.5
# How long opening a stream may take (RTSP handshake + first packets).
OPEN_TIMEOUT_S = 10.0

# -- stream rules ----------------------------------------------------------------------

# Low frame rate: below 40 % of the expected rate. Cameras halve their rate on their own
# in low light (slow shutter, 25 -> 12.5 fps): that is not a fault; a drop to a fifth is.
LOW_FPS_RATIO = 0.4
# Below this the frame rate is low whatever is expected (no reference known yet).
MIN_FPS = 1.0
# Low bit rate: below a quarter of the camera's own learned baseline. Variable bit rate
# moves with the scene (night, an empty street) by a factor of two to three; an encoder
# that starves (a tenth) is a fault.
LOW_BITRATE_RATIO = 0.25
# Below this the bit rate is low whatever the baseline (even 160x90 H.264 needs more).
MIN_BITRATE_KBPS = 8.0
# No keyframe for three usual keyframe intervals: one late or missing IDR is normal
# (encoders insert them adaptively), three in a row means a decoder joining now cannot start.
KEYFRAME_FACTOR = 3.0
# Without a usual interval (not learned yet), no keyframe for this long is a problem.
KEYFRAME_MAX_S = 10.0
# Healthy windows the baselines (bit rate, frame rate without an ONVIF rate, keyframe
# interval) are learned from before they are used: 5 x 2 s. A median of five ignores
# one odd window (a scene cut, the first window after connecting).
BASELINE_WINDOWS = 5


@dataclass(frozen=True)
class HealthThresholds:
    """Everything the health engine judges one camera by. Defaults: the constants above."""

    down_after_s: float = DOWN_AFTER_S
    degraded_after_s: float = DEGRADED_AFTER_S
    ok_after_s: float = OK_AFTER_S
    onvif_failures: int = FAILURES_BEFORE_DOWN
    stream: bool = True  # sample the camera's video stream at all
    window_s: float = WINDOW_S
    stall_after_s: float = STALL_AFTER_S
    pixel_interval_s: float = PIXEL_INTERVAL_S  # 0: no pixel checks (no black/frozen)
    open_timeout_s: float = OPEN_TIMEOUT_S
    low_fps_ratio: float = LOW_FPS_RATIO  # 0: the rule is off (event-driven cameras)
    min_fps: float = MIN_FPS  # 0: no absolute floor
    low_bitrate_ratio: float = LOW_BITRATE_RATIO  # 0: the rule is off
    min_bitrate_kbps: float = MIN_BITRATE_KBPS  # 0: no absolute floor
    keyframe_factor: float = KEYFRAME_FACTOR  # 0: the rule is off
    keyframe_max_s: float = KEYFRAME_MAX_S
    baseline_windows: int = BASELINE_WINDOWS
    flapping_per_hour: int = FLAPPING_PER_HOUR
    flapping_clear_per_hour: int = FLAPPING_CLEAR_PER_HOUR

    def problems(self) -> list[tuple[str, str]]:
        """(key, message) for every value that cannot work; empty when all is well."""
        found: list[tuple[str, str]] = []
        for key in ("down_after_s", "degraded_after_s", "ok_after_s", "pixel_interval_s",
                    "min_fps", "min_bitrate_kbps"):
            if getattr(self, key) < 0:
                found.append((key, "must be 0 or more"))
        for key in ("window_s", "stall_after_s", "open_timeout_s", "keyframe_max_s"):
            if getattr(self, key) <= 0:
                found.append((key, "must be more than 0"))
        for key in ("low_fps_ratio", "low_bitrate_ratio"):
            if not 0 <= getattr(self, key) < 1:
                found.append((key, "must be from 0 (off) to below 1"))
        if self.keyframe_factor != 0 and self.keyframe_factor < 1:
            found.append(("keyframe_factor", "must be 0 (off) or at least 1"))
        for key in ("onvif_failures", "baseline_windows", "flapping_per_hour",
                    "flapping_clear_per_hour"):
            if getattr(self, key) < 1:
                found.append((key, "must be at least 1"))
        if 0 < self.ok_after_s <= self.stall_after_s:
            # A reconnect that never delivers a packet would be announced as recovered
            # before the stall watchdog could say otherwise.
            found.append(("ok_after_s", "must be more than stall_after_s"))
        if self.flapping_clear_per_hour > self.flapping_per_hour:
            found.append(("flapping_clear_per_hour", "must not be more than flapping_per_hour"))
        return found


DEFAULT_THRESHOLDS = HealthThresholds()

_FIELDS = {f.name: f for f in dataclasses.fields(HealthThresholds)}


def thresholds_from(
    table: Mapping[str, Any], base: HealthThresholds
) -> tuple[HealthThresholds, list[tuple[str, str]]]:
    """`base` with the values of a TOML table applied; (thresholds, [(key, problem)]).

    Unknown keys and values of the wrong type are problems; so are combinations that
    cannot work (`HealthThresholds.problems`). On problems, `base` is returned.
    """
    found: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    for key, value in table.items():
        spec = _FIELDS.get(key)
        if spec is None:
            found.append((key, "unknown key"))
        elif spec.type == "bool":
            if isinstance(value, bool):
                values[key] = value
            else:
                found.append((key, "must be true or false"))
        elif isinstance(value, bool) or not isinstance(value, int | float):
            found.append((key, "must be a number"))
        elif spec.type == "int":
            if isinstance(value, int):
                values[key] = value
            else:
                found.append((key, "must be a whole number"))
        else:
            values[key] = float(value)
    if found:
        return base, found
    result = dataclasses.replace(base, **values)
    found = result.problems()
    return (base, found) if found else (result, [])


@dataclass(frozen=True)
class HealthPolicy:
    """Thresholds for every camera: defaults and per-group overrides (CameraConfig.group)."""

    default: HealthThresholds = DEFAULT_THRESHOLDS
    groups: Mapping[str, HealthThresholds] = field(default_factory=dict)

    def for_group(self, group: str) -> HealthThresholds:
        return self.groups.get(group, self.default)
