"""The report of a scenario run: every timeline phase carried out, every verdict.

The text holds no real times or ports, so two runs of a scenario with the same seed give
the same event lines and the same PASS/FAIL lines up to the latency at their end (and the
offsets in a failure's detail).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hub.scenario_verdict import Verdict, describe_expectation
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
    format_scenario_time,
)


def format_duration(seconds: float) -> str:
    """Scenario seconds as the timeline writes durations: "2m", "27s", "1h30m"."""
    s = round(seconds)
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{sec}s" if sec else ""]
    return "".join(parts) or "0s"


def _for(duration_s: float | None) -> str:
    return f" ({format_duration(duration_s)})" if duration_s is not None else ""


def describe_event(event: TimelineEvent, phase: Phase) -> str:
    """What a timeline phase does, from the event alone (no real times, no ports)."""
    end = phase is Phase.END
    match event:
        case FaultEvent():
            if end:
                return f"fault {event.fault} off on {event.camera}"
            return f"fault {event.fault} on {event.camera}{_for(event.duration_s)}"
        case RebootEvent():
            if end:
                return f"{event.camera} back from reboot"
            return f"reboot {event.camera}{_for(event.duration_s)}"
        case GpsEvent():
            if end:
                return f"gps {event.fault} off on {event.vehicle}"
            return f"gps {event.fault} on {event.vehicle}{_for(event.duration_s)}"
        case PlateEvent():
            seen = f" read as {event.seen}" if event.seen else ""
            country = f" {event.country}" if event.country else ""
            return (
                f"plate {event.plate}{country} at {event.unit}{seen}"
                f" ({event.confidence:.2f})"
            )
        case MoveEvent():
            where = f"{event.street} " if event.street else ""
            place = f"{where}({event.lat:.5f}, {event.lon:.5f})"
            if end:
                return f"{event.camera} set up at {place}"
            return f"move {event.camera} to {place}{_for(event.duration_s)}"
        case WantedEvent():
            days = "1 day" if event.days == 1 else f"{event.days} days"
            return f"wanted {event.plate} for {days}: {event.reason}"
    return str(event.kind)  # pragma: no cover - every event type is matched above


def _phase_id(applied: AppliedEvent) -> str:
    return applied.event.id + (".end" if applied.phase is Phase.END else "")


def _ordered(applied: Sequence[AppliedEvent]) -> list[AppliedEvent]:
    # By plan, stable: two phases planned at the same time keep the player's order.
    return sorted(applied, key=lambda a: a.at_s)


def _latency(latency_s: float | None) -> str:
    if latency_s is None:
        return ""
    # Alerts come in tens of milliseconds: "0.0 s" would hide how fast.
    return f"{latency_s:.2f} s" if latency_s < 1 else f"{latency_s:.1f} s"


def report_text(
    name: str,
    seed: int,
    speed: float,
    applied: Sequence[AppliedEvent],
    verdicts: Sequence[Verdict],
    checked: bool,
) -> str:
    """The report as text lines (see the module docstring); no real times in it."""
    lines = [f"scenario {name}  seed {seed}  speed {speed:g}", "", "events"]
    phases = _ordered(applied)
    width = max((len(_phase_id(a)) for a in phases), default=0)
    for a in phases:
        line = (
            f"  {format_scenario_time(a.at_s)}  {_phase_id(a):<{width}}  "
            f"{describe_event(a.event, a.phase)}"
        )
        if not a.ok:
            line += f"  FAILED: {a.detail or 'not carried out'}"
        lines.append(line)
    if not phases:
        lines.append("  (none)")
    lines += ["", "expectations"]
    width = max((len(v.expectation.id) for v in verdicts), default=0)
    for v in verdicts:
        head = f"  {'PASS' if v.passed else 'FAIL'}  {v.expectation.id:<{width}}  "
        text = describe_expectation(v.expectation)
        if v.passed:
            lines.append(f"{head}{text}  {_latency(v.latency_s)}".rstrip())
        else:
            lines.append(f"{head}{text} — {v.detail}")
    if not verdicts:
        lines.append("  (none)")
    passed = sum(v.passed for v in verdicts)
    failed = len(verdicts) - passed
    noun = "expectation" if len(verdicts) == 1 else "expectations"
    summary = f"{len(verdicts)} {noun}: {passed} passed, {failed} failed"
    if failed and not checked:
        summary += " (not checked)"
    lines += ["", summary]
    return "\n".join(lines) + "\n"


def report_json(
    name: str,
    seed: int,
    speed: float,
    applied: Sequence[AppliedEvent],
    verdicts: Sequence[Verdict],
    checked: bool,
    real_at: Callable[[float], float] | None = None,
) -> dict[str, Any]:
    """The report as JSON-ready data. `late_s`: real seconds a phase was carried out
    after its plan (needs `real_at`, scenario time -> monotonic; else None)."""
    events = []
    for a in _ordered(applied):
        late = round(a.real - real_at(a.at_s), 3) if real_at is not None else None
        events.append({
            "at": format_scenario_time(a.at_s),
            "at_s": a.at_s,
            "id": a.event.id,
            "kind": str(a.event.kind),
            "phase": str(a.phase),
            "ok": a.ok,
            "description": describe_event(a.event, a.phase),
            "detail": a.detail,
            "late_s": late,
        })
    expectations = [
        {
            "id": v.expectation.id,
            "kind": str(v.expectation.kind),
            "description": describe_expectation(v.expectation),
            "passed": v.passed,
            "latency_s": round(v.latency_s, 3) if v.latency_s is not None else None,
            "detail": v.detail,
        }
        for v in verdicts
    ]
    passed = sum(v.passed for v in verdicts)
    return {
        "scenario": name,
        "seed": seed,
        "speed": speed,
        "checked": checked,
        "events": events,
        "expectations": expectations,
        "passed": passed,
        "failed": len(verdicts) - passed,
    }
