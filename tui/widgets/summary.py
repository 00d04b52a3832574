"""The line(s) at the top of the cameras screen: counts by state and by site."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Static

from hub.model import CameraStatus, HealthState, Site
from tui.format import FLAPPING_STYLE, FLAPPING_SYMBOL, STATE_STYLE, STATE_SYMBOL

_ORDER = (HealthState.OK, HealthState.DEGRADED, HealthState.DOWN, HealthState.UNKNOWN,
          HealthState.MAINTENANCE)
_ALWAYS = (HealthState.OK, HealthState.DOWN)


def count_states(
    statuses: Iterable[CameraStatus],
) -> tuple[Counter[HealthState], dict[str, Counter[HealthState]]]:
    """Totals by shown state (a camera in maintenance counts as that, not as down), and
    by site then state."""
    total: Counter[HealthState] = Counter()
    by_site: dict[str, Counter[HealthState]] = {}
    for status in statuses:
        total[status.shown_state] += 1
        by_site.setdefault(status.config.site, Counter())[status.shown_state] += 1
    return total, by_site


def summary_text(
    title: str,
    statuses: Iterable[CameraStatus],
    sites: Iterable[Site],
    *,
    sort_label: str = "",
    filter_text: str = "",
    shown: int | None = None,
) -> Text:
    """Title, totals, sort and filter; then a line with one group per site.

    While filtered the count reads 'shown/total cameras'; the state totals stay global.

    e.g. 'city 128✔ 1▲ 2✘ · police 97✔ 3✘ 1?' — zero counts other than ✔ are left out
    (in the totals, other than ✔ and ✘). Flapping cameras (outside maintenance) are
    counted in their state and once more as '↯ N flapping'.
    """
    statuses = list(statuses)
    total, by_site = count_states(statuses)
    flapping = sum(1 for s in statuses if s.flapping and s.maintenance is None)
    text = Text(no_wrap=False, end="")
    text.append(title, style="bold")
    count = sum(total.values())
    if filter_text and shown is not None:
        text.append(f"  {shown}/{count} cameras")
    else:
        text.append(f"  {count} cameras")
    for state in _ORDER:
        # "0 down" reassures; "0 degraded" and "0 unknown" only cost room at 80 columns.
        if state in _ALWAYS or total[state]:
            text.append(f" {STATE_SYMBOL[state]} {total[state]} {state.value}", STATE_STYLE[state])
    if flapping:
        text.append(f" {FLAPPING_SYMBOL} {flapping} flapping", FLAPPING_STYLE)
    if sort_label:
        text.append("  sort:", style="dim")
        text.append(f" {sort_label}")
    if filter_text:
        text.append("  /", style="dim")
        text.append(filter_text, style="bold reverse")
    text.append("\n")
    known = [site.id for site in sites]
    extra = sorted(set(by_site) - set(known))
    first = True
    for site_id in [*known, *extra]:
        counts = by_site.get(site_id)
        if not counts:
            continue
        if not first:
            text.append(" · ", style="dim")
        first = False
        text.append(site_id, style="bold")
        for state in _ORDER:
            if state is HealthState.OK or counts[state]:
                text.append(f" {counts[state]}{STATE_SYMBOL[state]}", STATE_STYLE[state])
    return text


class SummaryBar(Static):
    """Counts by state and by site; set `.text` via `show_summary`."""

    def show_summary(self, text: Text) -> None:
        self.update(text)
