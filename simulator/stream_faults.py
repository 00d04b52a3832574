"""Faults of a simulated RTSP stream and which pre-encoded variant each one selects."""

from __future__ import annotations

import enum

from simulator.video import Variant


class StreamFault(enum.StrEnum):
    """Switchable at run time, per stream path or for every stream of a camera id.

    OFFLINE       the camera's RTSP service is down: requests for the path get 503 and the
                  connection is closed, as with REFUSE (all cameras share one port, so the
                  TCP connection itself cannot be refused per camera; FFmpeg classifies
                  503 as refused, a reset before the answer as invalid data); active
                  sessions' connections are reset (RST) when it is switched on.
                  SimulatedCamera sets it while it is OFFLINE or stopped.
    REFUSE        requests for the path get 503 and the connection is closed; active
                  sessions on the path are closed when it is switched on.
    AUTH_CHANGE   the configured credentials no longer match: 401; active sessions are closed
                  when it is switched on (a camera whose password changes drops them).
                  SimulatedCamera sets it while it has the WRONG_PASSWORD fault.
    STALL         the TCP connection stays open and RTSP requests are answered, but no more
                  RTP/RTCP packets are sent; when it ends, sending resumes at a keyframe.
    DISCONNECT    the TCP connections of active sessions are closed now; while it stays on,
                  a new session is closed after `RtspServer.disconnect_after_s` of playing.
    FREEZE        identical frames (one picture repeated).
    BLACK         black frames.
    FPS_DROP      one frame in five is sent (timestamps stay those of the real frame slots).
    BITRATE_DROP  the low-bit-rate encode (a tenth of the configured bit rate).
    NO_KEYFRAMES  IDR frames after the first one of a session are not sent: only P frames.
    """

    OFFLINE = "offline"
    REFUSE = "refuse"
    AUTH_CHANGE = "auth_change"
    STALL = "stall"
    DISCONNECT = "disconnect"
    FREEZE = "freeze"
    BLACK = "black"
    FPS_DROP = "fps_drop"
    BITRATE_DROP = "bitrate_drop"
    NO_KEYFRAMES = "no_keyframes"


# First match wins when several picture faults are on at once.
_VARIANT_PRIORITY: tuple[tuple[StreamFault, Variant], ...] = (
    (StreamFault.BLACK, Variant.BLACK),
    (StreamFault.FREEZE, Variant.FROZEN),
    (StreamFault.FPS_DROP, Variant.FPS_DROP),
    (StreamFault.BITRATE_DROP, Variant.LOW_BITRATE),
)


def variant_for(faults: frozenset[StreamFault]) -> Variant:
    """The encoded variant a stream with these faults sends."""
    for fault, variant in _VARIANT_PRIORITY:
        if fault in faults:
            return variant
    return Variant.NORMAL


class FaultTable:
    """Faults switched on per key (a stream path or a camera id) and per origin (who
    switched them: a tester, the camera itself); a stream has the union of its path's
    and its camera's."""

    def __init__(self) -> None:
        self._on: dict[str, dict[str, set[StreamFault]]] = {}

    def set(self, key: str, fault: StreamFault, on: bool, origin: str) -> bool:
        """Switch `fault` at `key` for `origin`; True if that changed anything."""
        faults = self._on.setdefault(key, {}).setdefault(origin, set())
        changed = (fault in faults) != on
        if on:
            faults.add(fault)
        else:
            faults.discard(fault)
        return changed

    def at(self, key: str) -> frozenset[StreamFault]:
        """Faults switched on at exactly `key` (any origin)."""
        return frozenset(f for faults in self._on.get(key, {}).values() for f in faults)

    def effective(self, path: str) -> frozenset[StreamFault]:
        """Faults of a stream path: those at the path and at each of its prefixes."""
        parts = path.split("/")
        out: set[StreamFault] = set()
        for i in range(1, len(parts) + 1):
            out |= self.at("/".join(parts[:i]))
        return frozenset(out)
