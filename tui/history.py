"""Health over time: transitions → a strip of cells, each the worst state in its bucket.

Pure functions (timeline, bucketing, text) plus `RecentStates`, the small per-camera
memory of states the TUI saw live, which feeds the table's "last hour" column.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from rich.text import Text

from hub.model import CameraStatus, HealthState, HealthTransition
from tui.format import STATE_STYLE

# (since, state): the camera was in `state` from `since` until the next point (or now).
Point = tuple[datetime, HealthState]

# Bars rise with severity, so the strip reads without colour; "·" is "no history"
# (before the first known transition), which is not the hub saying "unknown".
STRIP_GLYPH: dict[HealthState, str] = {
    HealthState.OK: "▁",
    HealthState.DEGRADED: "▄",
    HealthState.DOWN: "█",
    HealthState.UNKNOWN: "?",
}
NO_HISTORY = "·"

# Worst first. Unlike the table's sort, unknown comes last: it is no verdict, only the
# moments before one (hub start-up), and must not hide the ok that followed seconds later.
STRIP_RANK: dict[HealthState, int] = {
    HealthState.DOWN: 0,
    HealthState.DEGRADED: 1,
    HealthState.OK: 2,
    HealthState.UNKNOWN: 3,
}

# The table's compact strip: the last hour in 6-minute cells.
TABLE_SPAN = timedelta(hours=1)
TABLE_CELLS = 10


def utc(when: datetime) -> datetime:
    """Hub timestamps without a zone are UTC; make them comparable with aware ones."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def worst(states: Iterable[HealthState]) -> HealthState | None:
    """The worst verdict among `states` (unknown only without one); None for none."""
    return min(states, key=lambda s: STRIP_RANK.get(s, 99), default=None)


def aligned_end(now: datetime, width: timedelta) -> datetime:
    """The end of the bucket `now` falls in, buckets aligned on the epoch (UTC).

    A strip ending there keeps its cells on the clock (09:00-09:30, ...) and changes
    only when a bucket starts or a state changes, not on every tick.
    """
    step = width.total_seconds()
    end = math.ceil(utc(now).timestamp() / step) * step
    return datetime.fromtimestamp(end, UTC)


def timeline(
    transitions: Sequence[HealthTransition],
    current: HealthState | None = None,
    changed_at: datetime | None = None,
) -> list[Point]:
    """Oldest-first (since, state) points from transitions (any order) and the current
    state, which extends to now even if the history does not have its transition yet."""
    # Stable sort: transitions arrive newest first, equal times keep their real order.
    ordered = sorted(reversed(transitions), key=lambda t: utc(t.at))
    points: list[Point] = [(utc(t.at), t.new_state) for t in ordered]
    if current is not None:
        since = utc(changed_at) if changed_at is not None else None
        if points and (since is None or since <= points[-1][0]):
            if points[-1][1] is not current:
                points.append((points[-1][0], current))
        elif since is not None:
            points.append((since, current))
    return points


def bucket_states(
    points: Sequence[Point], *, now: datetime, span: timedelta, cells: int
) -> list[HealthState | None]:
    """The worst state (see `worst`) in each of `cells` equal buckets of [now - span, now).

    A state lasts from its point to the next one (the last to `now`); a bucket takes
    the worst state that held for any part of it, even for an instant; the current
    state always reaches the last bucket. Buckets before the first point are None.
    """
    now = utc(now)
    start = now - span
    width = span / cells
    out: list[list[HealthState]] = [[] for _ in range(cells)]
    for i, (since, state) in enumerate(points):
        until = points[i + 1][0] if i + 1 < len(points) else now
        # A hub clock ahead of ours puts changes in our future: count them as now.
        since, until = min(since, now), min(until, now)
        if until < start or (until == start and since < until):
            continue  # over before the window
        a, b = max(since, start), until
        first = min((a - start) // width, cells - 1)
        # The bucket of the instant just before `b`: b itself starts the next one.
        last = max(first, -((start - b) // width) - 1)
        for k in range(first, min(last, cells - 1) + 1):
            out[k].append(state)
    return [worst(states) for states in out]


def strip_text(states: Sequence[HealthState | None]) -> Text:
    """One glyph per bucket, coloured by state (one span per run of equal cells)."""
    text = Text(no_wrap=True, end="")
    for state, run in itertools.groupby(states):
        count = len(list(run))
        if state is None:
            text.append(NO_HISTORY * count, style="dim")
        else:
            text.append(STRIP_GLYPH.get(state, "?") * count, style=STATE_STYLE.get(state, ""))
    return text


def legend_text() -> Text:
    """'▁ ok  ▄ degraded  █ down  ? unknown  · no history', styled like the strip."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for state in (HealthState.OK, HealthState.DEGRADED, HealthState.DOWN, HealthState.UNKNOWN):
        text.append(STRIP_GLYPH[state], style=STATE_STYLE.get(state, ""))
        text.append(f" {state.value}  ", style="dim")
    text.append(f"{NO_HISTORY} no history", style="dim")
    return text


def span_label(span: timedelta) -> str:
    """'24 h', '6 h', '60 min'."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 and minutes > 60 else f"{minutes} min"


def _ago(delta: timedelta, span: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    hours = span > timedelta(hours=1) and minutes % 60 == 0
    return f"-{minutes // 60}h" if hours else f"-{minutes}m"


def axis_text(span: timedelta, cells: int, ticks: int = 4) -> Text:
    """Relative times under a strip of `cells`: '-24h   -18h   -12h   -6h   now'.

    Label k starts at the cell whose left edge it names; labels that would collide
    with the previous one or with "now" are left out.
    """
    line = [" "] * cells
    step = max(1, cells // ticks)
    free = 0
    for k in range(0, cells, step):
        label = _ago(span - span * k / cells, span)
        if k < free:
            continue
        if k + len(label) > cells - 4:  # keep room for " now"
            break
        line[k : k + len(label)] = list(label)
        free = k + len(label) + 1
    if cells >= 3:
        line[cells - 3 :] = list("now")
    return Text("".join(line), style="dim", no_wrap=True, end="")


class RecentStates:
    """Per camera, the states seen lately, as (since, state) points, oldest first.

    Bounded in points per camera; cheap enough to update on every status change.
    """

    def __init__(self, keep: int = 64) -> None:
        self._keep = keep
        self._points: dict[str, deque[Point]] = {}
        self._revisions: dict[str, int] = {}

    def revision(self, camera_id: str) -> int:
        """Changes whenever the camera's points do (a cache key for its strip)."""
        return self._revisions.get(camera_id, 0)

    def _touch(self, camera_id: str) -> None:
        self._revisions[camera_id] = self._revisions.get(camera_id, 0) + 1

    def observe(self, status: CameraStatus, seen_at: datetime) -> bool:
        """Record the camera's state if it changed; True if a point was added."""
        points = self._points.setdefault(status.id, deque(maxlen=self._keep))
        since = utc(status.changed_at) if status.changed_at is not None else utc(seen_at)
        if points and points[-1][1] is status.state:
            return False
        if points and since < points[-1][0]:
            since = points[-1][0]  # never go back in time: order is what we saw
        points.append((since, status.state))
        self._touch(status.id)
        return True

    def seed(self, camera_id: str, transitions: Sequence[HealthTransition]) -> None:
        """Fill in what happened before we watched, from the hub's history."""
        known = self._points.get(camera_id, deque())
        older = timeline(transitions)
        if known:
            older = [p for p in older if p[0] < known[0][0]]
        merged: deque[Point] = deque(maxlen=self._keep)
        for point in [*older, *known]:
            if not merged or merged[-1][1] is not point[1]:
                merged.append(point)
        self._points[camera_id] = merged
        self._touch(camera_id)

    def points(self, camera_id: str) -> list[Point]:
        return list(self._points.get(camera_id, ()))

    def changed_since(self, when: datetime) -> list[str]:
        """Cameras with a point at or after `when` (their strips move as time passes)."""
        when = utc(when)
        return [cid for cid, pts in self._points.items() if pts and pts[-1][0] >= when]
