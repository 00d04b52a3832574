"""Judging a scenario's expectations on what the hub showed (hub/scenario_observer.py).

Every expectation has a window of real time: from its anchor (a timeline phase as the
player carried it out, a scenario time, or the run's start) for `within_s` real seconds,
or to the end of the run. A verdict says whether the hub showed the expected thing in
that window, how long after the anchor it did (latency), and otherwise what it showed.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from hub.alpr_model import Alert, Read
from hub.errors import HubError
from hub.model import CameraStatus, FixState, HealthReason, HealthState, VehicleStatus
from hub.plates import normalize
from hub.scenario_observer import HubObserver, Seen
from simulator.timeline_model import AppliedEvent, Expectation, ExpectKind, Phase

log = logging.getLogger(__name__)

S = TypeVar("S")

# A read search may go over the network (a remote client).
SEARCH_TIMEOUT_S = 10.0
# Reads of one plate a scenario could produce, with margin: the search is newest first.
SEARCH_LIMIT = 1000
# Changes listed in a failure's detail before "and N more".
MAX_CHANGES = 5

# As operators see them (CameraStatus.shown_state): "maintenance" included.
CAMERA_STATES = tuple(s.value for s in HealthState)
CAMERA_REASONS = tuple(r.value for r in HealthReason if r is not HealthReason.NONE)
VEHICLE_STATES = tuple(s.value for s in FixState)


@dataclass(frozen=True)
class Verdict:
    """How one expectation fared: passed, after how many real seconds, and why not."""

    expectation: Expectation
    passed: bool
    latency_s: float | None
    detail: str


@dataclass(frozen=True)
class _Window:
    start: float  # monotonic
    end: float  # monotonic: start + within, or the run's end
    stop: float  # what was observed of it: min(end, run's end)
    closed: bool  # the run lasted until the window's end

    def offset(self, real: float) -> str:
        return f"{real - self.start:+.1f} s"


# Vocabulary ------------------------------------------------------------------------


def _unknown(key: str, value: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, known, n=1)
    if close:
        return f'{key} "{value}": unknown (did you mean "{close[0]}"?)'
    return f'{key} "{value}": unknown (known: {", ".join(repr(k) for k in known)})'


def vocabulary_problems(expectations: Sequence[Expectation]) -> list[tuple[Expectation, str]]:
    """States and reasons the hub does not know, with a message naming the known words."""
    problems: list[tuple[Expectation, str]] = []
    for e in expectations:
        if e.kind in (ExpectKind.CAMERA, ExpectKind.CAMERAS):
            if e.state is not None and e.state not in CAMERA_STATES:
                problems.append((e, _unknown("state", e.state, CAMERA_STATES)))
            if e.reason is not None and e.reason not in CAMERA_REASONS:
                problems.append((e, _unknown("reason", e.reason, CAMERA_REASONS)))
        elif e.kind is ExpectKind.VEHICLE:
            if e.state is not None and e.state not in VEHICLE_STATES:
                problems.append((e, _unknown("state", e.state, VEHICLE_STATES)))
    return problems


# Descriptions ----------------------------------------------------------------------


def _seconds(s: float) -> str:
    return f"{s:g} s"


def describe_expectation(e: Expectation) -> str:
    """One line of what is expected, e.g. 'camera c-012 down (stalled) within 10 s after
    stall-1'. Contains no real times: the same for every run of a scenario."""
    window = (
        f"within {_seconds(e.within_s)} {e.anchor.describe()}"
        if e.within_s is not None
        else f"{e.anchor.describe()} until the run ends"
    )
    on_list = f" on {e.list}" if e.list else ""
    match e.kind:
        case ExpectKind.CAMERA:
            reason = f" ({e.reason})" if e.reason else ""
            return f"camera {e.camera} {e.state}{reason} {window}"
        case ExpectKind.CAMERAS:
            site = f" of site {e.site}" if e.site else ""
            return f"at least {e.at_least} cameras{site} {e.state} {window}"
        case ExpectKind.VEHICLE:
            return f"vehicle {e.vehicle} {e.state} {window}"
        case ExpectKind.ALERT:
            return f"alert for {e.plate}{on_list} {window}"
        case ExpectKind.NO_ALERT:
            return f"no alert for {e.plate}{on_list} {window}"
        case ExpectKind.READ:
            at = f" at {e.camera}" if e.camera else ""
            return f"read of {e.plate}{at} {window}"
    return f"{e.kind} {window}"  # pragma: no cover - every kind is matched above


# Judging ---------------------------------------------------------------------------


async def judge(
    expectations: Sequence[Expectation],
    observer: HubObserver,
    anchors: Mapping[tuple[str, Phase], AppliedEvent],
    start_real: float,
    real_at: Callable[[float], float],
    end_real: float,
) -> list[Verdict]:
    """A verdict per expectation, in order, on what `observer` recorded until `end_real`.

    `anchors` are the timeline phases as carried out; `real_at` maps scenario time to
    monotonic time; `start_real` anchors expectations without `after`/`at`."""
    verdicts = []
    for e in expectations:
        window = _window(e, anchors, start_real, real_at, end_real)
        if isinstance(window, str):
            verdicts.append(Verdict(e, False, None, window))
            continue
        verdicts.append(await _judge_in(e, observer, window))
    return verdicts


def _window(
    e: Expectation,
    anchors: Mapping[tuple[str, Phase], AppliedEvent],
    start_real: float,
    real_at: Callable[[float], float],
    end_real: float,
) -> _Window | str:
    """The expectation's window, or why it has none (its anchor was not carried out)."""
    if e.anchor.event is not None:
        name = e.anchor.event + (".end" if e.anchor.end else "")
        applied = anchors.get((e.anchor.event, Phase.END if e.anchor.end else Phase.START))
        if applied is None:
            return f"{name} was not carried out"
        if not applied.ok:
            return f"{name} failed: {applied.detail}" if applied.detail else f"{name} failed"
        start = applied.real
    elif e.anchor.at_s is not None:
        start = real_at(e.anchor.at_s)
    else:
        start = start_real
    if start > end_real:
        return "run ended before the window opened"
    end = start + e.within_s if e.within_s is not None else end_real
    return _Window(start=start, end=end, stop=min(end, end_real), closed=end <= end_real)


async def _judge_in(e: Expectation, observer: HubObserver, w: _Window) -> Verdict:
    match e.kind:
        case ExpectKind.CAMERA:
            return _judge_camera(e, observer, w)
        case ExpectKind.CAMERAS:
            return _judge_cameras(e, observer, w)
        case ExpectKind.VEHICLE:
            return _judge_vehicle(e, observer, w)
        case ExpectKind.ALERT | ExpectKind.NO_ALERT:
            return _judge_alert(e, observer, w)
        case ExpectKind.READ:
            return await _judge_read(e, observer, w)
    return Verdict(e, False, None, f"unknown kind {e.kind}")  # pragma: no cover


def _not_closed(w: _Window, e: Expectation) -> str:
    within = _seconds(e.within_s) if e.within_s is not None else "the run"
    return f"run ended before the window closed ({w.stop - w.start:.1f} s of {within})"


def _at(history: Sequence[Seen[S]], real: float) -> int | None:
    """Index of the last item seen at or before `real`."""
    found = None
    for i, seen in enumerate(history):
        if seen.real > real:
            break
        found = i
    return found


def _no_near_miss(item: object) -> str | None:
    return None


def _state_history(
    e: Expectation,
    history: Sequence[Seen[S]],
    w: _Window,
    label: Callable[[S], str],
    wanted: Callable[[S], bool],
    want: str,
    near: Callable[[S], str | None] = _no_near_miss,
) -> Verdict:
    """Pass at the first moment in the window an item is `wanted`; else say what it was.
    `near` names a near miss (right state, wrong reason), reported before anything else."""
    first = _at(history, w.start)
    if first is not None and wanted(history[first].item):
        return Verdict(e, True, 0.0, f"{label(history[first].item)} at the window's start")
    during = [s for s in history if w.start < s.real <= w.stop]
    for seen in during:
        if wanted(seen.item):
            detail = f"{label(seen.item)} at {w.offset(seen.real)}"
            return Verdict(e, True, seen.real - w.start, detail)
    if first is not None and (miss := near(history[first].item)) is not None:
        return Verdict(e, False, None, f"{label(history[first].item)} at the start, {miss}")
    for seen in during:
        if (miss := near(seen.item)) is not None:
            detail = f"{label(seen.item)} at {w.offset(seen.real)}, {miss}"
            return Verdict(e, False, None, detail)
    # Not reached: what it was at the start, then each change of label in the window.
    initial = label(history[first].item) if first is not None else "not seen"
    changes: list[tuple[float, str]] = []
    last = initial
    for seen in during:
        if (text := label(seen.item)) != last:
            changes.append((seen.real, text))
            last = text
    if not changes:
        story = f"{initial} throughout"
    else:
        shown = ", ".join(f"{text} at {w.offset(real)}" for real, text in changes[:MAX_CHANGES])
        more = f" and {len(changes) - MAX_CHANGES} more" if len(changes) > MAX_CHANGES else ""
        story = f"{initial}, then {shown}{more}"
    if not w.closed:
        return Verdict(e, False, None, f"{_not_closed(w, e)}: {story}")
    within = _seconds(e.within_s) if e.within_s is not None else "the run"
    return Verdict(e, False, None, f"never {want} within {within}: {story}")


def _camera_label(status: CameraStatus) -> str:
    shown = status.shown_state
    return f"{shown} ({status.reason})" if status.reason else str(shown)


def _judge_camera(e: Expectation, observer: HubObserver, w: _Window) -> Verdict:
    history = observer.cameras.get(e.camera or "")
    if not history:
        return Verdict(e, False, None, f"camera {e.camera} is not known to the hub")

    def wanted(status: CameraStatus) -> bool:
        return status.shown_state == e.state and (e.reason is None or status.reason == e.reason)

    def near(status: CameraStatus) -> str | None:
        if e.reason is not None and status.shown_state == e.state:
            return f"not {e.reason}"
        return None

    want = f"{e.state} ({e.reason})" if e.reason else str(e.state)
    return _state_history(e, history, w, _camera_label, wanted, want, near)


def _vehicle_label(status: VehicleStatus) -> str:
    return str(status.state)


def _judge_vehicle(e: Expectation, observer: HubObserver, w: _Window) -> Verdict:
    history = observer.vehicles.get(e.vehicle or "")
    if not history:
        return Verdict(e, False, None, f"vehicle {e.vehicle} is not known to the hub")

    def wanted(status: VehicleStatus) -> bool:
        return status.state == e.state

    return _state_history(e, history, w, _vehicle_label, wanted, str(e.state))


def _judge_cameras(e: Expectation, observer: HubObserver, w: _Window) -> Verdict:
    scope = {
        cid: history for cid, history in observer.cameras.items()
        if history and (e.site is None or history[-1].item.config.site == e.site)
    }
    site = f" of site {e.site}" if e.site else ""
    if not scope:
        return Verdict(e, False, None, f"no cameras{site} known to the hub")
    need = e.at_least or 1
    inside: dict[str, bool] = {}
    for cid, history in scope.items():
        i = _at(history, w.start)
        inside[cid] = i is not None and history[i].item.shown_state == e.state
    count = sum(inside.values())
    if count >= need:
        return Verdict(e, True, 0.0, f"{count} {e.state} at the window's start")
    best, best_real = count, w.start
    changes = sorted(
        ((s.real, cid, s.item.shown_state == e.state) for cid, history in scope.items()
         for s in history if w.start < s.real <= w.stop),
        key=lambda c: c[0],
    )
    for real, cid, now_in in changes:
        count += int(now_in) - int(inside[cid])
        inside[cid] = now_in
        if count >= need:
            return Verdict(e, True, real - w.start, f"{count} {e.state} at {w.offset(real)}")
        if count > best:
            best, best_real = count, real
    when = "at the window's start" if best_real == w.start else f"at {w.offset(best_real)}"
    story = f"at most {best} of {len(scope)} cameras{site} {e.state} ({when}), {need} needed"
    if not w.closed:
        return Verdict(e, False, None, f"{_not_closed(w, e)}: {story}")
    return Verdict(e, False, None, story)


# Alerts and reads ------------------------------------------------------------------


@dataclass(frozen=True)
class _Raised:
    """An alert being raised, or a read folded into it, at monotonic `real`."""

    real: float
    alert: Alert
    folded: bool


def _alert_events(observer: HubObserver) -> list[_Raised]:
    """New alerts (first sighting) and folded duplicates, in time order. An alert of the
    snapshot was raised before observing began: its own raise time counts."""
    events: list[_Raised] = []
    duplicates: dict[int, int] = {}
    for seen in observer.alerts:
        alert = seen.item
        if alert.id not in duplicates:
            real = seen.real
            if seen.real <= observer.started:
                real = min(real, observer.monotonic_of(alert.raised_at))
            events.append(_Raised(real, alert, False))
        elif alert.duplicates > duplicates[alert.id]:
            events.append(_Raised(seen.real, alert, True))
        duplicates[alert.id] = max(duplicates.get(alert.id, 0), alert.duplicates)
    events.sort(key=lambda r: r.real)
    return events


def _alert_plate_matches(alert: Alert, plate: str) -> bool:
    return plate in (
        normalize(alert.hit.entry.plate), normalize(alert.read.plate), alert.read.normalized,
    )


def _alert_lists(alert: Alert) -> list[str]:
    return [alert.hit.entry.list, *(h.entry.list for h in alert.other_hits)]


def _alert_on(alert: Alert, name: str | None) -> bool:
    return name is None or name.casefold() in (n.casefold() for n in _alert_lists(alert))


def _describe_raised(r: _Raised, w: _Window) -> str:
    folded = " (folded read)" if r.folded else ""
    return f"alert #{r.alert.id} on {r.alert.hit.entry.list}{folded} at {w.offset(r.real)}"


def _judge_alert(e: Expectation, observer: HubObserver, w: _Window) -> Verdict:
    plate = normalize(e.plate or "")
    for_plate = [r for r in _alert_events(observer) if _alert_plate_matches(r.alert, plate)]
    matching = [r for r in for_plate if _alert_on(r.alert, e.list)]
    in_window = [r for r in matching if w.start <= r.real <= w.stop]
    if e.kind is ExpectKind.NO_ALERT:
        if in_window:
            return Verdict(e, False, None, _describe_raised(in_window[0], w))
        if not w.closed:
            return Verdict(e, False, None, _not_closed(w, e))
        return Verdict(e, True, None, "none raised")
    if in_window:
        first = in_window[0]
        return Verdict(e, True, first.real - w.start, _describe_raised(first, w))
    on_list = f" on {e.list}" if e.list else ""
    lead = _not_closed(w, e) if not w.closed else (
        f"no alert for {e.plate}{on_list} within {_seconds(e.within_s or 0)}"
        if e.within_s is not None else f"no alert for {e.plate}{on_list} until the run ended"
    )
    # Near misses: the plate's alerts outside the window or on another list.
    if for_plate:
        shown = "; ".join(_describe_raised(r, w) for r in for_plate[:3])
        return Verdict(e, False, None, f"{lead}; seen: {shown}")
    return Verdict(e, False, None, lead)


async def _judge_read(e: Expectation, observer: HubObserver, w: _Window) -> Verdict:
    plate = normalize(e.plate or "")
    at = f" at {e.camera}" if e.camera else ""
    try:
        async with asyncio.timeout(SEARCH_TIMEOUT_S):
            reads = await observer.client.search_reads(
                plate, camera_id=e.camera, limit=SEARCH_LIMIT
            )
    except TimeoutError:
        return Verdict(e, False, None, f"read search for {plate} timed out")
    except HubError as exc:
        return Verdict(e, False, None, f"read search for {plate} failed: {exc}")
    timed: list[tuple[float, Read]] = sorted(
        ((observer.monotonic_of(r.received_at), r) for r in reads
         if r.received_at is not None and r.normalized == plate
         and (e.camera is None or r.camera_id == e.camera)),
        key=lambda t: t[0],
    )
    for real, read in timed:
        if w.start <= real <= w.stop:
            return Verdict(
                e, True, real - w.start,
                f"read #{read.id} {read.plate} at {read.camera_id} at {w.offset(real)}",
            )
    lead = _not_closed(w, e) if not w.closed else (
        f"no read of {e.plate}{at} within {_seconds(e.within_s)}"
        if e.within_s is not None else f"no read of {e.plate}{at} until the run ended"
    )
    if timed:
        shown = "; ".join(
            f"#{read.id} at {read.camera_id} at {w.offset(real)}" for real, read in timed[:3]
        )
        return Verdict(e, False, None, f"{lead}; reads: {shown}")
    return Verdict(e, False, None, lead)
