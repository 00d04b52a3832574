"""How alerts, hits and reads look in the TUI: pure functions, readable without colour.

Every alert state has a symbol and a word, every match kind a symbol and a word; colour
only repeats what the symbol already says.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

from rich.console import JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from hub.alpr_model import Alert, AlertState, Hit, MatchKind, Read
from tui.format import clock_time, full_time, to_local

ALERT_SYMBOL: dict[AlertState, str] = {
    AlertState.NEW: "●",  # full: nobody has looked at it yet
    AlertState.ACKNOWLEDGED: "◐",  # half: seen, not decided
    AlertState.ACCEPTED: "✔",
    AlertState.REJECTED: "✘",
    AlertState.CLOSED: "■",
}

# Short words: the state column must fit 80 columns beside seven others.
ALERT_WORD: dict[AlertState, str] = {
    AlertState.NEW: "new",
    AlertState.ACKNOWLEDGED: "acked",
    AlertState.ACCEPTED: "accepted",
    AlertState.REJECTED: "rejected",
    AlertState.CLOSED: "closed",
}

ALERT_STYLE: dict[AlertState, str] = {
    AlertState.NEW: "bold",
    AlertState.ACKNOWLEDGED: "",
    AlertState.ACCEPTED: "green",
    AlertState.REJECTED: "dim",
    AlertState.CLOSED: "dim",
}

MATCH_SYMBOL: dict[MatchKind, str] = {
    MatchKind.EXACT: "=",
    MatchKind.LOOKALIKE: "≈",
    MatchKind.WILDCARD: "*",
}

COVERT_MARK = "◆"  # hits of a covert list: never shown on patrol units
DUPLICATE_MARK = "\u00d7"  # the multiplication sign: 3 folded reads show as that sign and 3

# Priorities at or above these are drawn as urgent / important (0-100 scale).
URGENT_PRIORITY = 80
IMPORTANT_PRIORITY = 50


def cell(value: str, style: str = "", justify: JustifyMethod = "left") -> Text:
    """A table cell: one line, cut with an ellipsis."""
    return Text(value, style=style, justify=justify, no_wrap=True, overflow="ellipsis", end="")


def alert_state_label(state: AlertState) -> str:
    """Symbol and word, e.g. '◐ acked'."""
    return f"{ALERT_SYMBOL.get(state, '?')} {ALERT_WORD.get(state, state.value)}"


def alert_state_text(state: AlertState) -> Text:
    return cell(alert_state_label(state), ALERT_STYLE.get(state, ""))


def priority_style(priority: int) -> str:
    if priority >= URGENT_PRIORITY:
        return "bold red"
    if priority >= IMPORTANT_PRIORITY:
        return "orange1"
    return ""


def match_label(hit: Hit, words: bool = False) -> str:
    """'≈ 1ABC234', with the kind spelled out when there is room: '≈ 1ABC234 lookalike'."""
    label = f"{MATCH_SYMBOL.get(hit.match, '?')} {hit.entry.plate}"
    return f"{label} {hit.match.value}" if words else label


def list_label(hit: Hit) -> str:
    """'stolen/vehicle', '◆ intel/observation' for a covert list."""
    entry = hit.entry
    name = f"{entry.list}/{entry.category}" if entry.category else entry.list
    return f"{COVERT_MARK} {name}" if entry.covert else name


def duplicates_label(alert: Alert) -> str:
    return f"{DUPLICATE_MARK}{alert.duplicates}" if alert.duplicates else ""


def alert_order(alert: Alert) -> tuple[int, float, int]:
    """Sort key of the alert queue: highest priority first, then newest."""
    return (-alert.priority, -alert.raised_at.timestamp(), -alert.id)


def confidence_label(confidence: float | None) -> str:
    return "—" if confidence is None else f"{confidence * 100:.0f}%"


def geotag_label(read: Read) -> str:
    """How the position was obtained: 'fixed', 'interpolated', ...; '—' without one."""
    return read.geotag or "—"


def position_label(read: Read) -> str:
    if read.lat is None or read.lon is None:
        return f"— ({geotag_label(read)})"
    return f"{read.lat:.5f}, {read.lon:.5f} ({geotag_label(read)})"


def short_time(when: datetime, tz: tzinfo | None) -> str:
    """'03-14 09:29': enough to tell reads of the last days apart in one line."""
    return to_local(when, tz).strftime("%m-%d %H:%M")


def read_time(read: Read, tz: tzinfo | None, wide: bool = False) -> str:
    return full_time(read.at, tz) if wide else clock_time(read.at, tz)


def hit_line(hit: Hit) -> Text:
    """One hit in words: '= 1ABC234 exact on stolen/vehicle, priority 90 (1 substitution)'."""
    text = Text(no_wrap=False, end="")
    text.append(match_label(hit, words=True), style="bold")
    text.append(f" on {list_label(hit)}, priority {hit.entry.priority}")
    if hit.substitutions:
        plural = "" if hit.substitutions == 1 else "s"
        text.append(f" ({hit.substitutions} substitution{plural})", style="dim")
    if hit.entry.state:
        text.append(f" · for {hit.entry.state}", style="dim")
    return text


def kv(rows: list[tuple[str, RenderableType]]) -> Table:
    """Two columns: a dim label and its value (long values fold, never hide)."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="dim", no_wrap=True, min_width=10)
    grid.add_column(overflow="fold", ratio=1)
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def read_rows(
    read: Read, camera_name: Callable[[str], str], tz: tzinfo | None
) -> list[tuple[str, RenderableType]]:
    """What the operator needs to know about one read, label by label."""
    name = camera_name(read.camera_id)
    camera = f"{name} ({read.camera_id})" if name and name != read.camera_id else read.camera_id
    country = " / ".join(p for p in (read.country, read.region) if p) or "—"
    return [
        ("plate", Text(read.plate, style="bold")),
        ("normalised", read.normalized),
        ("confidence", confidence_label(read.confidence)),
        ("country", country),
        ("seen", full_time(read.at, tz)),
        ("camera", camera),
        ("unit", read.unit or "—"),
        ("position", position_label(read)),
        ("direction", read.direction or "—"),
        ("source", read.source),
    ]


def alert_rows(
    alert: Alert, camera_name: Callable[[str], str], tz: tzinfo | None
) -> list[tuple[str, RenderableType]]:
    """The alert itself: state, who, how it matched, every hit, duplicates."""
    state = Text(alert_state_label(alert.state), style=ALERT_STYLE.get(alert.state, ""))
    if alert.actor:
        state.append(f" by {alert.actor}", style="dim")
    if alert.reason is not None:
        reason = alert.reason.value + (f": {alert.reason_text}" if alert.reason_text else "")
        state.append(f" · {reason}")
    hits = Text("\n", end="").join(hit_line(h) for h in (alert.hit, *alert.other_hits))
    priority = Text(end="")
    priority.append(str(alert.priority), style=priority_style(alert.priority))
    if alert.covert:
        priority.append(f"  {COVERT_MARK} covert list: not shown on patrol units", style="bold")
    duplicates = "none"
    if alert.duplicates:
        duplicates = f"{DUPLICATE_MARK}{alert.duplicates} later reads folded in"
        if alert.last_read_id is not None:
            duplicates += f" (last read {alert.last_read_id})"
    return [
        ("alert", f"#{alert.id}"),
        ("state", state),
        ("priority", priority),
        ("matched", hits),
        ("raised", full_time(alert.raised_at, tz)),
        ("updated", full_time(alert.updated_at, tz)),
        ("duplicates", duplicates),
        *read_rows(alert.read, camera_name, tz),
    ]
