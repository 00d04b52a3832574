"""Pure formatting helpers: how states, times, models and URLs look in the TUI.

Everything here is readable without colour: a state is always a symbol and a word.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from urllib.parse import urlsplit, urlunsplit

from rich.text import Text

from hub.model import (
    CameraKind,
    CameraStatus,
    FixState,
    HealthReason,
    HealthState,
    StreamMetrics,
    VehicleStatus,
)

STATE_SYMBOL: dict[HealthState, str] = {
    HealthState.OK: "✔",
    HealthState.DEGRADED: "▲",  # a warning sign: still streaming, but poorly
    HealthState.DOWN: "✘",
    HealthState.UNKNOWN: "?",
    HealthState.MAINTENANCE: "⚒",  # someone is working on it: not an alarm
}

STATE_STYLE: dict[HealthState, str] = {
    HealthState.OK: "green",
    HealthState.DEGRADED: "orange1",  # amber
    # Grey, not yellow: the theme draws ANSI yellow orange, too close to amber, and
    # "unknown" (starting, not yet judged) is no alarm.
    HealthState.UNKNOWN: "grey62",
    HealthState.DOWN: "bold red",
    # Calm blue: known and looked after; not to be mistaken for green (ok).
    HealthState.MAINTENANCE: "dodger_blue1",
}

# Worst first: what an operator has to look at comes on top. Degraded ranks above
# unknown: a poor picture is a known problem, unknown is usually just "starting".
STATE_RANK: dict[HealthState, int] = {
    HealthState.DOWN: 0,
    HealthState.DEGRADED: 1,
    HealthState.UNKNOWN: 2,
    HealthState.OK: 3,
    HealthState.MAINTENANCE: 4,  # someone is on it already: last
}

# A flapping camera (hub/health.py: many outages in the last hour) carries this badge in
# place of its state in the table, so that each ok/down pair is not news of its own.
FLAPPING_SYMBOL = "↯"
FLAPPING_STYLE = "bold orange1"
FLAPPING_LABEL = f"{FLAPPING_SYMBOL} flapping"  # symbol and word: readable without colour
# The cameras table's state column is 10 wide: the table says "maint", the detail says
# it all.
TABLE_MAINTENANCE = f"{STATE_SYMBOL[HealthState.MAINTENANCE]} maint"

# Which stream metric a reason is about, so that the number can be highlighted.
REASON_METRIC: dict[HealthReason, str] = {
    HealthReason.LOW_FPS: "fps",
    HealthReason.LOW_BITRATE: "bitrate",
    HealthReason.NO_KEYFRAMES: "keyframes",
    HealthReason.BLACK: "luma",
    HealthReason.FROZEN: "frozen",
    HealthReason.STALLED: "age",
}

KIND_SHORT: dict[CameraKind, str] = {
    CameraKind.FIXED: "fixed",
    CameraKind.TEMPORARY: "temp",
    CameraKind.MOBILE: "mobile",
}


def state_label(state: HealthState) -> str:
    """Symbol and word, e.g. '✘ down'."""
    return f"{STATE_SYMBOL.get(state, '?')} {state.value}"


def state_text(state: HealthState) -> Text:
    """State label styled by severity (the symbol carries it without colour too)."""
    return Text(state_label(state), style=STATE_STYLE.get(state, ""), no_wrap=True)


def table_state_text(status: CameraStatus) -> Text:
    """The table's state cell: '⚒ maint' in maintenance, '↯ flapping' while flapping,
    else the state ('✘ down')."""
    if status.maintenance is not None:
        return Text(TABLE_MAINTENANCE, style=STATE_STYLE[HealthState.MAINTENANCE],
                    justify="left", no_wrap=True, overflow="ellipsis", end="")
    if status.flapping:
        return Text(FLAPPING_LABEL, style=FLAPPING_STYLE, justify="left", no_wrap=True,
                    overflow="ellipsis", end="")
    return Text(state_label(status.state), style=STATE_STYLE.get(status.state, ""),
                justify="left", no_wrap=True, overflow="ellipsis", end="")


def flaps_label(count: int) -> str:
    """'1 outage in the last hour', '6 outages in the last hour'."""
    return f"{count} outage{'' if count == 1 else 's'} in the last hour"


def _rate(value: float) -> str:
    return f"{value:.1f}" if value < 1 else f"{value:.0f}"


def reason_label(status: CameraStatus) -> str:
    """The reason in words ('stalled', 'black'), with the measured and expected frame
    rate for low fps ('low fps 3/25'); '—' while there is none."""
    reason = status.reason
    stream = status.stream
    if (
        reason is HealthReason.LOW_FPS
        and stream is not None
        and stream.fps is not None
        and stream.expected_fps
    ):
        return f"{reason.value} {_rate(stream.fps)}/{_rate(stream.expected_fps)}"
    return reason.value or "—"


def table_reason_text(status: CameraStatus) -> Text:
    """The table's reason cell. When the state cell shows a badge (maintenance, flapping)
    instead of the state, the real state comes first ('✘ stalled', '✔ ok'), and for a
    flapping camera its outage count before it ('6/h ✘ stalled')."""
    if status.maintenance is None and not status.flapping:
        return reason_text(status)
    state = status.state
    words = reason_label(status) if status.reason.value else state.value
    text = f"{STATE_SYMBOL.get(state, '?')} {words}"
    if status.flapping and status.maintenance is None:
        text = f"{status.flaps_per_hour}/h {text}"
    style = "" if state is HealthState.OK else STATE_STYLE.get(state, "")
    return Text(text, style=style, no_wrap=True, overflow="ellipsis", end="")


def reason_text(status: CameraStatus) -> Text:
    """Reason in the colour of the state it explains; dim '—' without one."""
    if not status.reason.value:
        return Text("—", style="dim", no_wrap=True, overflow="ellipsis", end="")
    style = "" if status.state is HealthState.OK else STATE_STYLE.get(status.state, "")
    return Text(reason_label(status), style=style, no_wrap=True, overflow="ellipsis", end="")


def metric_style(status: CameraStatus, metric: str) -> str:
    """Style of one stream number: the state's colour if the reason is about it."""
    if REASON_METRIC.get(status.reason) == metric:
        return STATE_STYLE.get(status.state, "")
    if status.state in (HealthState.DOWN, HealthState.UNKNOWN):
        return "dim"  # the last sample, not a live reading
    return ""


def fps_label(stream: StreamMetrics | None) -> str:
    """'25.0', '3.1', '120', or '—' without a sample or a value."""
    if stream is None or stream.fps is None:
        return "—"
    return f"{stream.fps:.0f}" if stream.fps >= 100 else f"{stream.fps:.1f}"


def kbps_label(stream: StreamMetrics | None) -> str:
    """Compact kbit/s for a narrow column: '512', '4.1M', '12.3M', '131M', or '—'.

    Mbit/s above 1000 kbit/s: variable bit rates wander by a few kbit/s on every
    sample, and a cell whose text does not change is not redrawn.
    """
    if stream is None or stream.bitrate_kbps is None:
        return "—"
    kbps = stream.bitrate_kbps
    if kbps < 999.5:
        return f"{kbps:.0f}"
    mbps = kbps / 1000
    return f"{mbps:.0f}M" if mbps >= 99.95 else f"{mbps:.1f}M"


def bitrate_label(kbps: float | None) -> str:
    """Bitrate with its unit for the detail view: '4096 kbit/s', '12.3 Mbit/s'."""
    if kbps is None:
        return "—"
    if kbps < 9999.5:
        return f"{kbps:.0f} kbit/s"
    return f"{kbps / 1000:.1f} Mbit/s"


def to_local(when: datetime, tz: tzinfo | None) -> datetime:
    """Timestamps without a zone are taken as UTC (the hub stores UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(tz)


def clock_time(when: datetime | None, tz: tzinfo | None = None) -> str:
    """HH:MM:SS in the display zone, or 'never'."""
    if when is None:
        return "never"
    return to_local(when, tz).strftime("%H:%M:%S")


def full_time(when: datetime | None, tz: tzinfo | None = None) -> str:
    """YYYY-MM-DD HH:MM:SS in the display zone, or 'never'."""
    if when is None:
        return "never"
    return to_local(when, tz).strftime("%Y-%m-%d %H:%M:%S")


def model_label(status: CameraStatus) -> str:
    """'Manufacturer Model' from ONVIF facts, or '—' while unknown."""
    facts = status.facts
    if facts is None:
        return "—"
    parts = [p for p in (facts.manufacturer, facts.model) if p]
    return " ".join(parts) or "—"


def strip_credentials(url: str | None) -> str:
    """Drop user:password@ from a URL so that no secret reaches the screen."""
    if not url:
        return "—"
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def haystack(status: CameraStatus, site_name: str = "") -> str:
    """Lower-case text a filter substring is matched against."""
    cfg = status.config
    fields = (
        cfg.name,
        cfg.site,
        site_name,
        model_label(status),
        status.state.value,
        status.shown_state.value,
        "flapping" if status.flapping else "",
        status.reason.value,
    )
    return "\n".join(fields).lower()


def matches(status: CameraStatus, query: str, site_name: str = "") -> bool:
    """Substring match (case-insensitive) over name, site, model, state and reason."""
    query = query.strip().lower()
    return not query or query in haystack(status, site_name)


# Vehicles: a fix state is always a symbol and a word too.
FIX_SYMBOL: dict[FixState, str] = {
    FixState.FIX: "●",
    FixState.NO_FIX: "○",
    FixState.STALE: "◌",
    FixState.NO_DEVICE: "✘",
}

FIX_STYLE: dict[FixState, str] = {
    FixState.FIX: "bold green",
    FixState.NO_FIX: "yellow",
    FixState.STALE: "yellow",
    FixState.NO_DEVICE: "bold red",
}


def fix_label(state: FixState) -> str:
    """Symbol and word, e.g. '◌ stale'."""
    return f"{FIX_SYMBOL.get(state, '?')} {state.value}"


def fix_text(state: FixState) -> Text:
    return Text(fix_label(state), style=FIX_STYLE.get(state, ""), no_wrap=True, end="")


def speed_label(status: VehicleStatus) -> str:
    """km/h of the current fix; '—' without a current fix or a speed."""
    pos = status.position
    if status.state is not FixState.FIX or pos is None or pos.speed is None:
        return "—"
    return f"{pos.speed * 3.6:.0f} km/h"


def age_label(seconds: float | None) -> str:
    """'0.4 s', '12 s', '3 min', '2 h', or 'never'."""
    if seconds is None:
        return "never"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"
