"""One long-lived task per camera: connect over ONVIF, poll, reconnect with backoff."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from drivers.errors import (
    OnvifAuthError,
    OnvifError,
    OnvifProtocolError,
    OnvifTimeout,
    OnvifUnreachable,
)
from drivers.onvif import DeviceSnapshot, OnvifDevice
from drivers.onvif_model import MediaProfile
from hub.health import HealthEngine, Verdict
from hub.model import CameraConfig, DeviceFacts, HealthReason, SampledProfile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SupervisorTiming:
    """How often to poll and how to back off; tests shrink these."""

    # A dead camera must show down within 10 s: poll every 3 s, and the second
    # failure (after the first 1 s backoff step) turns it down.
    poll_interval_s: float = 3.0
    # Backoff between reconnects, per DESIGN.md "Health model": 1 → 5 → 10 → 60 s.
    backoff_steps_s: tuple[float, ...] = (1.0, 5.0, 10.0, 60.0)
    # ±20 % jitter keeps 200 cameras behind one dead uplink from reconnecting in lockstep.
    jitter: float = 0.2
    # Per-call ONVIF timeout; a real camera answers in well under a second.
    call_timeout_s: float = 5.0


REASON_BY_ERROR: dict[type[OnvifError], HealthReason] = {
    OnvifUnreachable: HealthReason.UNREACHABLE,
    OnvifAuthError: HealthReason.AUTH_FAILED,
    OnvifTimeout: HealthReason.TIMEOUT,
    OnvifProtocolError: HealthReason.PROTOCOL_ERROR,
}


def reason_for(exc: OnvifError) -> HealthReason:
    """The health reason an ONVIF error stands for."""
    for cls, reason in REASON_BY_ERROR.items():
        if isinstance(exc, cls):
            return reason
    return HealthReason.PROTOCOL_ERROR


def facts_from(snapshot: DeviceSnapshot, sampled: SampledProfile | None = None) -> DeviceFacts:
    """Keep what operators (and the stream health sampler) need from a full ONVIF connect."""
    profiles = tuple(
        f"{p.token}: {p.name} {p.width or '?'}x{p.height or '?'} {p.encoding or '?'}"
        for p in snapshot.profiles
    )
    return DeviceFacts(
        manufacturer=snapshot.info.manufacturer,
        model=snapshot.info.model,
        firmware=snapshot.info.firmware_version,
        serial=snapshot.info.serial_number,
        hardware_id=snapshot.info.hardware_id,
        clock_offset_s=snapshot.clock_offset_s,
        profiles=profiles,
        stream_uri=snapshot.stream_uri,
        snapshot_uri=snapshot.snapshot_uri,
        services=tuple(s.namespace for s in snapshot.services),
        sampled=sampled,
    )


def cheapest_profile(profiles: tuple[MediaProfile, ...]) -> MediaProfile | None:
    """The profile to sample for health: the lowest-resolution H.264 one, else the
    lowest-resolution one of any codec (H.265-only cameras).

    Stream health reads every packet and decodes an occasional keyframe: on the sub
    stream that costs a fraction of the main stream, and it fails the same way.
    """
    h264 = [p for p in profiles if (p.encoding or "").upper() == "H264"]
    return min(h264 or profiles, key=_pixels, default=None)


def _pixels(profile: MediaProfile) -> float:
    """Picture size; unknown sizes sort last (they may well be the main stream)."""
    return (profile.width or 0) * (profile.height or 0) or float("inf")


async def sampled_profile(
    name: str, device: OnvifDevice, snapshot: DeviceSnapshot
) -> SampledProfile | None:
    """The cheapest profile with its stream URI (one more GetStreamUri if not the first)."""
    profile = cheapest_profile(snapshot.profiles)
    if profile is None:
        return None
    main = snapshot.profiles[0]
    uri = snapshot.stream_uri
    if profile is not main:
        try:
            uri = await device.stream_uri(profile.token)
        except OnvifProtocolError as exc:
            log.info("%s: no stream URI for %s, sampling the main stream: %s",
                     name, profile.token, exc)
            profile = main
    if uri is None:
        return None
    return SampledProfile(
        token=profile.token, uri=uri, width=profile.width, height=profile.height,
        fps=profile.fps, bitrate_kbps=profile.bitrate_kbps,
    )


class Backoff:
    """Reconnect delays that grow step by step, with jitter, until reset."""

    def __init__(self, steps: tuple[float, ...], jitter: float, rng: random.Random) -> None:
        self._steps = steps
        self._jitter = jitter
        self._rng = rng
        self._attempt = 0

    def reset(self) -> None:
        self._attempt = 0

    def next_delay(self) -> float:
        step = self._steps[min(self._attempt, len(self._steps) - 1)]
        self._attempt += 1
        return step * (1 + self._rng.uniform(-self._jitter, self._jitter))


class CameraSupervisor:
    """Keeps one camera's ONVIF session alive and reports every poll to the health engine."""

    def __init__(
        self,
        config: CameraConfig,
        engine: HealthEngine,
        report: Callable[[Verdict], Awaitable[None]],
        timing: SupervisorTiming,
    ) -> None:
        self.config = config
        self._engine = engine
        self._report = report
        self._timing = timing
        self._backoff = Backoff(timing.backoff_steps_s, timing.jitter, random.Random(config.id))

    async def run(self) -> None:
        """Poll forever; only cancellation ends it."""
        device: OnvifDevice | None = None
        try:
            while True:
                try:
                    if device is None:
                        device = self._new_device()
                        # The driver limits how many full connects run at once.
                        snapshot = await device.snapshot()
                        facts = facts_from(
                            snapshot, await sampled_profile(self.config.name, device, snapshot)
                        )
                        await self._report(self._engine.onvif_success(_now(), facts))
                    else:
                        await device.check()
                        await self._report(self._engine.onvif_success(_now()))
                    self._backoff.reset()
                    delay = self._timing.poll_interval_s
                except OnvifError as exc:
                    log.info("%s: poll failed: %s", self.config.name, exc)
                    await self._report(
                        self._engine.onvif_failure(_now(), reason_for(exc), str(exc))
                    )
                    await _close_quietly(device)
                    device = None
                    delay = self._backoff.next_delay()
                except Exception as exc:  # outermost loop: a bug must not kill the camera task
                    log.exception("%s: unexpected error in camera task", self.config.name)
                    detail = f"internal error: {type(exc).__name__}"
                    await self._report(
                        self._engine.onvif_failure(_now(), HealthReason.PROTOCOL_ERROR, detail)
                    )
                    await _close_quietly(device)
                    device = None
                    delay = self._backoff.next_delay()
                await asyncio.sleep(delay)
        finally:
            await _close_quietly(device)

    def _new_device(self) -> OnvifDevice:
        return OnvifDevice(
            self.config.onvif_url,
            self.config.username,
            self.config.password,
            timeout_s=self._timing.call_timeout_s,
        )


async def _close_quietly(device: OnvifDevice | None) -> None:
    if device is None:
        return
    try:
        await device.close()
    except OnvifError as exc:
        log.debug("closing ONVIF session failed: %s", exc)


def _now() -> datetime:
    return datetime.now(UTC)
