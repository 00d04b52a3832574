"""Plays a scenario's timeline on a running SimulatedCity, on its virtual clock.

    player = TimelinePlayer(city, scenario_events, operator=add_wanted_plate)
    applied = await player.run()        # returns once the last phase is carried out

Every event has a START phase at `at_s`; a fault or GPS fault with a duration, a reboot and
a move also have an END phase at `at_s + duration_s` (fault off, camera back). Phases are
carried out in planned order: by scenario time; at the same time an END goes before a
START (a fault that ends as another starts on the same camera leaves the new one on), then
in file order. Each phase runs as its own task started when it is due, so one that takes a
while (a stream fault waits until its picture is prepared) does not hold back the next;
`applied` still lists them in planned order.

WANTED events are operator actions: the player awaits the `operator` callback (whoever
runs the scenario adds the plate through the hub) and records what it returned.

A phase that cannot be carried out (unknown camera, port taken, operator failed, ...)
is recorded with ok=False and why; the player goes on. Every `detail` is deterministic
text (no real times, ports or sequence numbers): two runs give the same lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.city_control import os_message
from simulator.errors import ControlError
from simulator.model import CameraFault
from simulator.stream_faults import StreamFault
from simulator.timeline_model import (
    AppliedEvent,
    FaultEvent,
    GpsEvent,
    MoveEvent,
    Phase,
    PlateEvent,
    RebootEvent,
    TimelineEvent,
    WantedEvent,
)

if TYPE_CHECKING:
    from simulator.city import SimulatedCity

__all__ = ["PHASE_TIMEOUT_S", "Operator", "OperatorError", "TimelinePlayer", "planned_phases"]

log = logging.getLogger(__name__)

Operator = Callable[[WantedEvent], Awaitable[str]]
# Real seconds one phase may take: a stream fault waits for its picture to be encoded
# (2-4 s for 1080p on a small machine), the operator for the hub's answer.
PHASE_TIMEOUT_S = 30.0
_CAMERA_FAULTS = frozenset(f.value for f in CameraFault)
_STREAM_FAULTS = frozenset(f.value for f in StreamFault)


class OperatorError(Exception):
    """An operator action (WANTED) could not be performed; the message says why."""


@dataclass(frozen=True)
class _Planned:
    event: TimelineEvent
    phase: Phase
    at_s: float
    index: int  # position in the file

    @property
    def key(self) -> tuple[float, int, int]:
        return (self.at_s, 0 if self.phase is Phase.END else 1, self.index)


def _end_at(event: TimelineEvent) -> float | None:
    if isinstance(event, FaultEvent | GpsEvent):
        return None if event.duration_s is None else event.at_s + event.duration_s
    if isinstance(event, RebootEvent | MoveEvent):
        return event.at_s + event.duration_s
    return None


def planned_phases(
    events: Sequence[TimelineEvent], until_s: float | None = None
) -> list[tuple[TimelineEvent, Phase, float]]:
    """Every phase of `events` as (event, phase, scenario time), in the order the player
    carries them out; phases at or after `until_s` are left out."""
    out: list[_Planned] = []
    for i, ev in enumerate(events):
        out.append(_Planned(ev, Phase.START, ev.at_s, i))
        end = _end_at(ev)
        if end is not None:
            out.append(_Planned(ev, Phase.END, end, i))
    out = [p for p in out if until_s is None or p.at_s < until_s]
    out.sort(key=lambda p: p.key)
    return [(p.event, p.phase, p.at_s) for p in out]


def _secs(seconds: float) -> str:
    return f"{round(seconds, 1):g} s"


def _where(lat: float, lon: float, street: str | None) -> str:
    pos = f"({lat:.5f}, {lon:.5f})"
    return f"{street} {pos}" if street else pos


class TimelinePlayer:
    """Carries out the phases of a timeline on a city (see the module doc)."""

    def __init__(
        self,
        city: SimulatedCity,
        events: Sequence[TimelineEvent],
        *,
        on_applied: Callable[[AppliedEvent], None] | None = None,
        operator: Operator | None = None,
    ) -> None:
        """`on_applied`: called with each phase as it is recorded (in planned order).
        `operator`: performs WANTED events; its return value is the phase's detail."""
        self.city = city
        self.events = tuple(events)
        self.on_applied = on_applied
        self.operator = operator
        self.applied: list[AppliedEvent] = []

    async def run(self, until_s: float | None = None) -> list[AppliedEvent]:
        """Carry out every phase when the virtual clock reaches it (at once when it is
        already past); returns `applied`. Phases at or after `until_s` are not played.
        Never raises but CancelledError (phases still running are cancelled too)."""
        results: asyncio.Queue[asyncio.Task[AppliedEvent] | None] = asyncio.Queue()
        collector = asyncio.create_task(self._collect(results), name="timeline-collect")
        started: list[asyncio.Task[AppliedEvent]] = []
        try:
            for event, phase, at_s in planned_phases(self.events, until_s):
                await self._sleep_until(at_s)
                task = asyncio.create_task(self._carry_out(event, phase, at_s),
                                           name=f"timeline-{event.id}-{phase.value}")
                started.append(task)
                results.put_nowait(task)
            results.put_nowait(None)
            await collector
        finally:
            tasks: list[asyncio.Task[object]] = [*started, collector]
            for pending in tasks:
                pending.cancel()
            for pending in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
        return self.applied

    async def _sleep_until(self, at_s: float) -> None:
        wait = self.city.clock.real_at(at_s) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        # The event loop may wake a hair early (its clock resolution); the phase must not.
        wait = self.city.clock.real_at(at_s) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait + 0.001)

    async def _collect(
        self, results: asyncio.Queue[asyncio.Task[AppliedEvent] | None]
    ) -> None:
        """Record the phases in planned order as each has been carried out."""
        while (task := await results.get()) is not None:
            applied = await task
            self.applied.append(applied)
            if self.on_applied is not None:
                try:
                    self.on_applied(applied)
                except Exception:
                    # Someone else's callback: the timeline goes on without it.
                    log.exception("timeline: on_applied failed for %s", applied.event.id)

    async def _carry_out(self, event: TimelineEvent, phase: Phase, at_s: float) -> AppliedEvent:
        try:
            async with asyncio.timeout(PHASE_TIMEOUT_S):
                ok, detail = True, await self._phase(event, phase)
        except (ControlError, OperatorError) as exc:
            ok, detail = False, str(exc)
        except TimeoutError:  # before OSError, whose subclass it is
            ok, detail = False, f"not done after {PHASE_TIMEOUT_S:g} s (real time)"
        except OSError as exc:
            ok, detail = False, os_message(exc)
        except Exception as exc:
            # Outermost boundary of a phase (the operator is someone else's code): the
            # timeline goes on, and the report says what went wrong.
            log.exception("timeline %s %s failed", event.id, phase.value)
            ok, detail = False, f"internal error: {type(exc).__name__}: {exc}"
        level = logging.INFO if ok else logging.WARNING
        log.log(level, "timeline %s %s at %.1f s: %s%s", event.id, phase.value, at_s,
                "" if ok else "failed: ", detail)
        return AppliedEvent(event, phase, at_s, time.monotonic(), ok, detail)

    async def _phase(self, event: TimelineEvent, phase: Phase) -> str:
        """Carry out one phase; returns what was done. Raises ControlError, OSError,
        OperatorError, ..."""
        start = phase is Phase.START
        if isinstance(event, FaultEvent):
            return await self._fault(event, start)
        if isinstance(event, RebootEvent):
            if start:
                await self.city.reboot_camera(event.camera)
                return f"{event.camera} rebooting: offline for {_secs(event.duration_s)}"
            await self.city.camera_back(event.camera)
            return f"{event.camera} back after {_secs(event.duration_s)}"
        if isinstance(event, MoveEvent):
            where = _where(event.lat, event.lon, event.street)
            if start:
                await self.city.move_camera(event.camera, event.lat, event.lon, event.street)
                return (f"{event.camera} taken down: offline for {_secs(event.duration_s)}, "
                        f"moving to {where}")
            await self.city.camera_back(event.camera)
            return f"{event.camera} back at {where}"
        if isinstance(event, GpsEvent):
            await self.city.set_gps_fault(event.vehicle, event.fault, start)
            return self._switched(event.fault, f"the GPS of {event.vehicle}", start,
                                  event.duration_s)
        if isinstance(event, PlateEvent):
            return await self._plate(event)
        return await self._wanted(event)

    async def _fault(self, event: FaultEvent, on: bool) -> str:
        # "offline" is both a camera and a stream fault: the camera fault is meant.
        if event.fault in _CAMERA_FAULTS:
            await self.city.set_camera_fault(event.camera, event.fault, on)
            where = event.camera
        elif event.fault in _STREAM_FAULTS:
            await self.city.set_stream_fault(event.camera, event.fault, on)
            where = f"every stream of {event.camera}"
        else:
            raise ControlError(f"unknown fault {event.fault!r}")
        return self._switched(event.fault, where, on, event.duration_s)

    @staticmethod
    def _switched(fault: str, where: str, on: bool, duration_s: float | None) -> str:
        if not on:
            return f"{fault} off on {where}"
        return f"{fault} on {where}" + ("" if duration_s is None else
                                        f" for {_secs(duration_s)}")

    async def _plate(self, event: PlateEvent) -> str:
        unit = self.city.alpr.unit(event.unit)
        read = await unit.inject(event.plate, event.seen, event.confidence, event.country)
        how = ("" if read.seen.text == event.plate
               else f" as {read.seen.text} ({read.seen.kind.value})")
        hot = ", on the hotlist" if read.hotlisted else ""
        return (f"{event.plate} ({read.truth.country}) read by {event.unit}{how}, "
                f"confidence {read.seen.confidence:g}{hot}")

    async def _wanted(self, event: WantedEvent) -> str:
        if self.operator is None:
            raise OperatorError("no operator")
        detail = await self.operator(event)
        return detail or f"{event.plate} added to the wanted plates"
