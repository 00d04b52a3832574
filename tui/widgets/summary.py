"""The bars of the main screens: the counts by state and by site at the top of the
cameras screen, and a key footer that is rebuilt only when its keys change."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Footer, Static

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple[Text, int, int] | None = None  # text, width, wrapped lines

    def show_summary(self, text: Text) -> None:
        """Show `text`; the screen is laid out again only when its height changes.

        It changes with every camera update (twice a second in a city): a layout pass of
        the whole screen each time costs CPU that key presses then wait behind.
        """
        width = self.content_size.width
        lines = len(text.wrap(self.app.console, width)) if width else 0
        shown = self._shown
        if shown is not None and shown[0] == text and shown[1] == width:
            return
        same_height = shown is not None and shown[1:] == (width, lines) and width > 0
        self._shown = (text, width, lines)
        self.update(text, layout=not same_height)


# What a footer shows of one binding: key, label, action, enabled, tooltip.
ShownBinding = tuple[str, str, str, bool, str]


class SteadyFooter(Footer):
    """Textual's Footer, recomposed only when the keys it shows change.

    Footer rebuilds all its keys on every bindings update, and a screen switch sends
    several: ~50-80 key widgets mounted and styled per `a` or Esc, a good part of the
    switch's cost at city scale, for the same few keys each time.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown_keys: tuple[ShownBinding, ...] | None = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        will_compose = screen.app.app_focus and self.is_attached and screen is self.screen
        if will_compose and screen is not screen.app.screen:
            # Covered (or being covered): keys there are disabled meanwhile; whatever it
            # would show now is moot, and it is compared again once shown.
            return
        if will_compose:
            shown = tuple(
                (binding.key, binding.description, binding.action, enabled, tooltip)
                for _, binding, enabled, tooltip in screen.active_bindings.values()
                if binding.show
            )
            if shown == self._shown_keys:
                return
            self._shown_keys = shown
        super().bindings_changed(screen)
