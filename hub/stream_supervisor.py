"""One long-lived task per camera that samples its video stream for the health engine.

It waits until ONVIF facts name a stream (the cheapest H.264 profile, or the cheapest
H.265 one on an H.265-only camera: hub/supervisor.py `sampled_profile`), runs a
`drivers.stream.StreamSampler` on it with the camera's credentials and feeds every
sample and event to the camera's `HealthEngine`. When the sampler ends (server closed
the stream, refused, ...) it reconnects after a backoff; while ONVIF says the camera is
unreachable it pauses (the stream side then has no opinion), and when the stream URI
changes it starts over.

Only cancellation ends `StreamSupervisor.run`: a bug is logged and the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, cast

from drivers.stream import StreamEvent, StreamEventKind, StreamSample, StreamSampler
from hub.health import HealthEngine, Verdict
from hub.model import CameraConfig, SampledProfile
from hub.supervisor import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamTiming:
    """Reconnect pacing of the stream sampler; tests shrink these."""

    # Shorter than the ONVIF backoff (1 -> 5 -> 10 -> 60 s): a repaired stream must show
    # ok within 10 s (retry <= 3.6 s + connect + 4 s hold), and a refused attempt costs
    # one TCP connect and one RTSP request. A dead host is not retried at this pace: its
    # stream is paused while ONVIF finds it unreachable.
    backoff_steps_s: tuple[float, ...] = (1.0, 2.0, 3.0)
    # ±20 % jitter keeps cameras behind one failed RTSP server from reconnecting in lockstep.
    jitter: float = 0.2
    # While waiting for a stream URI or for ONVIF to come back, look again at least this
    # often even without a wake-up (the hub wakes the task on every ONVIF poll).
    idle_check_s: float = 5.0


Report = Callable[[Verdict], Awaitable[None]]


class Sampler(Protocol):
    """What the supervisor needs of a sampler: `drivers.stream.StreamSampler`'s interface."""

    url: str  # redacted, for log lines

    def samples(self) -> AsyncIterator[StreamSample | StreamEvent]: ...


class SamplerFactory(Protocol):
    """Makes a sampler: `StreamSampler` itself (in this process) or a worker pool's."""

    def __call__(self, url: str, *, username: str | None, password: str | None,
                 window_s: float, stall_after_s: float, pixel_interval_s: float,
                 open_timeout_s: float) -> Sampler: ...


class StreamSupervisor:
    """Samples one camera's stream for as long as the hub runs."""

    def __init__(
        self,
        config: CameraConfig,
        engine: HealthEngine,
        report: Report,
        timing: StreamTiming | None = None,
        clock: Callable[[], datetime] | None = None,
        sampler: SamplerFactory | None = None,
    ) -> None:
        self.config = config
        # Default: sample in this process; the hub passes a worker pool's factory instead.
        self._make_sampler: SamplerFactory = sampler or StreamSampler
        self._engine = engine
        self._report = report
        self._timing = timing or StreamTiming()
        self._now = clock or (lambda: datetime.now(UTC))
        self._backoff = Backoff(
            self._timing.backoff_steps_s, self._timing.jitter, random.Random(config.id)
        )
        self._wake = asyncio.Event()
        self._running = False  # the engine has been told about a running sampler

    def wake(self) -> None:
        """Something changed (an ONVIF poll): re-check whether and what to sample."""
        self._wake.set()

    async def run(self) -> None:
        """Sample, reconnect, pause; only cancellation ends it."""
        while True:
            try:
                profile = await self._wait_for_stream()
                ended = await self._sample(profile)
                delay = self._backoff.next_delay() if ended else 0.0
            except Exception:  # outermost loop: a bug must not end the camera's sampling
                log.exception("%s: unexpected error in stream task", self.config.name)
                # No opinion until sampling works again; published with the next change.
                self._engine.stream_stopped(self._now())
                self._running = False
                delay = self._backoff.next_delay()
            if delay:
                await asyncio.sleep(delay)

    async def _wait_for_stream(self) -> SampledProfile:
        """The profile to sample, once there is one and ONVIF does not say "unreachable"."""
        while True:
            profile = self._engine.sampled
            if profile is not None and not self._engine.stream_paused:
                return profile
            await self._stop("paused: camera unreachable" if profile else "no stream URI yet")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._timing.idle_check_s):
                    await self._wake.wait()

    async def _sample(self, profile: SampledProfile) -> bool:
        """Run one sampler session; True when it ended by itself (reconnect after backoff)."""
        t = self._engine.thresholds
        sampler = self._make_sampler(
            profile.uri,
            username=self.config.username,
            password=self.config.password,
            window_s=t.window_s,
            stall_after_s=t.stall_after_s,
            pixel_interval_s=t.pixel_interval_s,
            open_timeout_s=t.open_timeout_s,
        )
        # An async generator: closed here at once (cancel, break), not whenever GC runs,
        # so that its reader thread and socket go away with this task.
        samples = cast(AsyncGenerator[StreamSample | StreamEvent, None], sampler.samples())
        async with contextlib.aclosing(samples) as items:
            async for item in items:
                now = self._now()
                self._running = True
                if isinstance(item, StreamSample):
                    verdict = self._engine.stream_sample(now, item)
                    if item.packets:
                        self._backoff.reset()  # flowing again: the next outage starts at 1 s
                else:
                    verdict = self._engine.stream_event(now, item)
                    self._log_event(sampler, item)
                await self._report(verdict)
                if self._engine.stream_paused:
                    log.info("%s: stream paused while the camera is unreachable",
                             self.config.name)
                    await self._stop("paused: camera unreachable")
                    return False
                current = self._engine.sampled
                if current is None or current.uri != profile.uri:
                    log.info("%s: stream changed, sampling %s", self.config.name,
                             current.token if current else "nothing")
                    await self._stop("stream changed")
                    return False
        return True

    def _log_event(self, sampler: Sampler, event: StreamEvent) -> None:
        level = logging.DEBUG if event.kind is StreamEventKind.CONNECTED else logging.INFO
        log.log(level, "%s: stream %s: %s (%s)", self.config.name, event.kind, event.detail,
                sampler.url)

    async def _stop(self, why: str) -> None:
        if not self._running:
            return
        self._running = False
        log.debug("%s: stream sampling stopped: %s", self.config.name, why)
        await self._report(self._engine.stream_stopped(self._now()))
