"""What the overview's panels say: counts per site, the worst cameras, the alert ticker,
patrol cars and hotlists, as one-line `Text`s cut to a width. Pure; readable without
colour (every state a symbol, colour only repeats it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo

from rich.text import Text

from hub.alpr_model import Alert, AlertState, HotlistInfo
from hub.model import CameraStatus, FixState, HealthState, Site, VehicleStatus
from tui.format import (
    FIX_STYLE,
    FIX_SYMBOL,
    FLAPPING_STYLE,
    FLAPPING_SYMBOL,
    STATE_STYLE,
    STATE_SYMBOL,
    age_label,
    clock_time,
    reason_label,
)
from tui.widgets.alpr_text import (
    ALERT_STYLE,
    ALERT_SYMBOL,
    COVERT_MARK,
    list_label,
    priority_style,
)

# The count columns of the sites panel, in the order of the cameras screen's summary.
SITE_STATES = (HealthState.OK, HealthState.DEGRADED, HealthState.DOWN, HealthState.UNKNOWN,
               HealthState.MAINTENANCE)
# Worst first: down before degraded; other states are not "worst cameras".
WORST_RANK = {HealthState.DOWN: 0, HealthState.DEGRADED: 1}
# Below this width a panel line drops its less important columns (site, seconds).
WIDE_LINE = 60


def fit(text: Text, width: int) -> Text:
    """`text` on one line of exactly `width` cells (cut with an ellipsis, padded)."""
    text.no_wrap = True
    text.end = ""
    if width <= 0:
        return Text("", end="")
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


def _col(text: Text, value: str, width: int, style: str = "", right: bool = False) -> None:
    """Append `value` cut or padded to `width` cells, then one space."""
    if len(value) > width:
        value = value[: max(0, width - 1)] + "…" if width > 0 else ""
    text.append(value.rjust(width) if right else value.ljust(width), style)
    text.append(" ")


# Sites ----------------------------------------------------------------------------------


class SiteCounts:
    """Cameras per site and shown state, kept up to date one changed camera at a time
    (a full count of 1,000 cameras on every tick would be the overview's main cost)."""

    def __init__(self) -> None:
        self._where: dict[str, tuple[str, HealthState, bool]] = {}
        self.counts: dict[str, Counter[HealthState]] = {}
        self.flapping: Counter[str] = Counter()

    def reset(self, statuses: Iterable[CameraStatus]) -> None:
        self._where.clear()
        self.counts.clear()
        self.flapping.clear()
        for status in statuses:
            self.take(status)

    def take(self, status: CameraStatus) -> None:
        self.drop(status.id)
        site, state = status.config.site, status.shown_state
        flapping = status.flapping and status.maintenance is None
        self._where[status.id] = (site, state, flapping)
        self.counts.setdefault(site, Counter())[state] += 1
        if flapping:
            self.flapping[site] += 1

    def drop(self, camera_id: str) -> None:
        old = self._where.pop(camera_id, None)
        if old is not None:
            site, state, flapping = old
            self.counts[site][state] -= 1
            if flapping:
                self.flapping[site] -= 1

    def totals(self) -> Counter[HealthState]:
        total: Counter[HealthState] = Counter()
        for counts in self.counts.values():
            total.update(counts)
        return total

    def site_ids(self, sites: Iterable[Site]) -> list[str]:
        """Known sites in the hub's order, then any other site a camera names."""
        known = [site.id for site in sites]
        return [*known, *sorted(set(self.counts) - set(known))]


def _count_width(width: int) -> int:
    # Five cells per count (up to 9999) when there is room; four (999) at 80 columns.
    return 5 if width >= 6 * 5 + 12 else 4


def sites_header(width: int) -> Text:
    """'site      ✔   ▲   ✘   ?   ⚒   ↯' over the count columns."""
    cw = _count_width(width)
    text = Text(end="")
    _col(text, "site", site_label_width(width) - 1, "dim")
    for state in SITE_STATES:
        text.append(STATE_SYMBOL[state].rjust(cw - 1) + " ", STATE_STYLE[state])
    text.append(FLAPPING_SYMBOL.rjust(cw - 1), FLAPPING_STYLE)
    return fit(text, width)


def site_line(label: str, counts: Counter[HealthState], flapping: int, width: int) -> Text:
    """One site: its counts by shown state and its flapping cameras; zeros dimmed."""
    cw = _count_width(width)
    text = Text(end="")
    _col(text, label, site_label_width(width) - 1, "bold")
    for state in SITE_STATES:
        n = counts[state]
        text.append(f"{n:>{cw - 1}} ", STATE_STYLE[state] if n else "dim")
    text.append(f"{flapping:>{cw - 1}}", FLAPPING_STYLE if flapping else "dim")
    return fit(text, width)


def site_label_width(width: int) -> int:
    """Cells of the site column (with its space) beside the six count columns (the
    last count has no space after it)."""
    return width - 6 * _count_width(width) + 1


def site_labels(sites: dict[str, str], width: int) -> dict[str, str]:
    """Site id -> what the panel calls it: every name if all fit, else every id (a mix
    of names and ids would read as two kinds of thing)."""
    room = site_label_width(width) - 1
    if all(name and len(name) <= room for name in sites.values()):
        return dict(sites)
    return {site_id: site_id for site_id in sites}


# Worst cameras ------------------------------------------------------------------------


def is_worst(status: CameraStatus) -> bool:
    """Down or degraded and not in maintenance (someone is on those already)."""
    return status.shown_state in WORST_RANK


def worst_key(status: CameraStatus) -> tuple[int, float, str, str]:
    """Down before degraded, then the longest in that state first."""
    since = status.changed_at.timestamp() if status.changed_at is not None else float("inf")
    return (WORST_RANK.get(status.shown_state, 9), since, status.config.name.lower(),
            status.id)


def spell_age(status: CameraStatus, now: datetime) -> str:
    """How long the camera is in its state: '7 min'; '—' without a time of change."""
    if status.changed_at is None:
        return "—"
    return age_label(max(0.0, (now - status.changed_at).total_seconds()))


def worst_line(status: CameraStatus, site: str, now: datetime, width: int) -> Text:
    """'✘ Havermarkt        unreachable    7 min' (+ the site when wide)."""
    state = status.shown_state
    text = Text(end="")
    symbol = FLAPPING_SYMBOL if status.flapping else STATE_SYMBOL.get(state, "?")
    text.append(f"{symbol} ", FLAPPING_STYLE if status.flapping else STATE_STYLE.get(state, ""))
    age = spell_age(status, now)
    reason_w = 16 if width >= WIDE_LINE else 12
    site_w = 10 if width >= WIDE_LINE else 0
    name_w = max(6, width - 2 - reason_w - 1 - 6 - 1 - (site_w + 1 if site_w else 0))
    _col(text, status.config.name, name_w)
    if site_w:
        _col(text, site, site_w, "dim")
    _col(text, reason_label(status), reason_w, STATE_STYLE.get(state, ""))
    text.append(age.rjust(6), "dim")
    return fit(text, width)


# Alerts -------------------------------------------------------------------------------


def newest_key(alert: Alert) -> tuple[float, int]:
    """Newest first (sort ascending on this)."""
    return (-alert.raised_at.timestamp(), -alert.id)


def ticker_line(
    alert: Alert, camera_name: Callable[[str], str], tz: tzinfo | None, width: int
) -> Text:
    """'09:29:40 ● 1-GHI-789   90 wanted/hit and run  Ring R70 Noord ALPR'; narrow,
    '09:29 ● 1-GHI-789   90 wanted    Ring R70 N…' (the list without its category)."""
    wide = width >= WIDE_LINE
    text = Text(end="")
    when = clock_time(alert.raised_at, tz)
    if not wide:
        when = when[:5]  # HH:MM: the seconds matter less than the camera's name
    text.append(when + " ", "dim")
    text.append(ALERT_SYMBOL.get(alert.state, "?") + " ", ALERT_STYLE.get(alert.state, ""))
    _col(text, alert.read.plate, 10, "bold")
    text.append(f"{alert.priority:>3} ", priority_style(alert.priority))
    rest = width - len(when) - 1 - 2 - 11 - 4
    if wide:
        _col(text, list_label(alert.hit), max(6, rest // 2))
    else:
        entry = alert.hit.entry
        _col(text, f"{COVERT_MARK} {entry.list}" if entry.covert else entry.list, 9)
    text.append(camera_name(alert.read.camera_id), "dim")
    return fit(text, width)


# Patrol cars --------------------------------------------------------------------------


def vehicle_line(status: VehicleStatus, now: datetime, width: int) -> Text:
    """'● Combi 1     fix        0.4 s' — the fix symbol as on the map, then the age."""
    text = Text(end="")
    state = status.state
    text.append(f"{FIX_SYMBOL.get(state, '?')} ", FIX_STYLE.get(state, ""))
    state_w = 9
    name_w = max(6, width - 2 - 1 - state_w - 1 - 7)
    _col(text, status.config.name, name_w)
    _col(text, state.value, state_w, FIX_STYLE.get(state, ""))
    text.append(age_label(status.fix_age_s(now)).rjust(7), "dim")
    return fit(text, width)


def vehicles_title(vehicles: Iterable[VehicleStatus]) -> str:
    """'Patrol cars  1/4 fix'."""
    statuses = list(vehicles)
    fixed = sum(1 for s in statuses if s.state is FixState.FIX)
    return f"Patrol cars  {fixed}/{len(statuses)} fix"


# Hotlists -----------------------------------------------------------------------------


def hotlists_summary(
    lists: list[HotlistInfo], wanted: int | None, tz: tzinfo | None, width: int
) -> Text:
    """One line: '4 lists · 182,578 entries · 2 wanted · ◆ 1 covert · loaded 07:30:00';
    the parts that do not fit are left out (from the end)."""
    entries = sum(h.entries for h in lists)
    parts = [(f"{len(lists)} lists", "bold"), (f"{entries:,} entries", ""),
             (f"{'…' if wanted is None else wanted} wanted", "bold")]
    covert = sum(1 for h in lists if h.covert)
    if covert:
        parts.append((f"{COVERT_MARK} {covert} covert", ""))
    if lists:
        parts.append((f"loaded {clock_time(max(h.loaded_at for h in lists), tz)}", "dim"))
    text = Text(end="")
    for index, (part, style) in enumerate(parts):
        sep = " · " if index else ""
        if index > 1 and len(text) + len(sep) + len(part) > width:
            break
        text.append(sep, "dim")
        text.append(part, style)
    return fit(text, width)


def hotlist_line(info: HotlistInfo, tz: tzinfo | None, width: int) -> Text:
    """'◆ intel          312  07:30:00'."""
    text = Text(end="")
    text.append(f"{COVERT_MARK if info.covert else ' '} ", "bold")
    name_w = max(6, width - 2 - 1 - 11 - 8)
    _col(text, info.name, name_w)
    _col(text, f"{info.entries:,}", 10, right=True)
    text.append(clock_time(info.loaded_at, tz), "dim")
    return fit(text, width)


def overview_title(title: str, totals: Counter[HealthState], new_alerts: int,
                   link: str = "") -> Text:
    """'citywatch  12 cameras ✔ 7 ▲ 1 ✘ 3 ? 1 · ● 4 new alerts'."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(title, style="bold")
    text.append(f"  {sum(totals.values())} cameras")
    for state in SITE_STATES:
        if state in (HealthState.OK, HealthState.DOWN) or totals[state]:
            text.append(f" {STATE_SYMBOL[state]} {totals[state]}", STATE_STYLE[state])
    text.append("  · ", "dim")
    plural = "" if new_alerts == 1 else "s"
    text.append(f"{ALERT_SYMBOL[AlertState.NEW]} {new_alerts} new alert{plural}",
                "bold" if new_alerts else "")
    if link:
        text.append(f"  · {link}", "dim")
    return text

