"""The home screen: counts per site, the worst cameras, the live alert ticker, patrol
cars and hotlists, all on one screen (80x24 up to a wall display).

Live from the app's tick while it is on top: changed cameras adjust the counts one by
one, changed alerts are merged into the newest few; panels patch only the lines whose
text changed. Covered, it is not updated; it catches up in full when shown again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import OptionList, Static

from hub.alpr_model import Alert, AlertState, HotlistInfo
from hub.model import CameraStatus, HealthState
from tui.app_of import app_of
from tui.widgets.overview_panels import LineList, LinePanel
from tui.widgets.overview_text import (
    SiteCounts,
    hotlist_line,
    hotlists_summary,
    is_worst,
    newest_key,
    overview_title,
    site_labels,
    site_line,
    sites_header,
    spell_age,
    ticker_line,
    vehicle_line,
    vehicles_title,
    worst_key,
    worst_line,
)
from tui.widgets.summary import SteadyFooter

if TYPE_CHECKING:
    from tui.app import CitywatchApp

# Ages ("down for 7 min", "last fix 3.2 s") grow without news from the hub: redrawn
# this often (as the map does).
AGE_REFRESH_S = 1.0
# The wanted plates are counted by asking the hub; they change by an operator's hand,
# so rarely that a count this old is fine.
WANTED_REFRESH_S = 30.0
# Newest alerts kept for the ticker: more than any terminal shows.
TICKER_KEEP = 100


class OverviewScreen(Screen[None]):
    """Sites, worst cameras, alerts, patrol cars and hotlists; Enter opens a line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "app.open_cameras", "Cameras"),
        Binding("m", "app.open_map", "Map"),
        Binding("v", "app.open_wall", "Wall"),
        # Not in the footer: 80 columns hold no more keys; the help lists it.
        Binding("A", "app.ack_newest_alert", "Ack newest", key_display="A", show=False),
        Binding("tab", "app.focus_next", "Next panel", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous panel", show=False),
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self) -> None:
        super().__init__(id="overview-screen")
        self.counts = SiteCounts()
        self.worst_ids: set[str] = set()
        self.newest: list[Alert] = []
        self.new_alert_ids: set[int] = set()
        self.hotlists: list[HotlistInfo] = []
        self.wanted_count: int | None = None
        self._ages_at: datetime | None = None
        self._title: Text | None = None
        # Lines made for the objects shown, reused while the object (frozen, replaced
        # on change), the width and the age are the same: at 50 alerts/s most lines of
        # the ticker only move down.
        self._alert_lines: dict[int, tuple[Alert, int, Text]] = {}
        self._worst_lines: dict[str, tuple[CameraStatus, int, str, Text]] = {}
        self.shown = False  # on_mount has read everything: ticks before that are moot

    @property
    def capp(self) -> CitywatchApp:
        return app_of(self)

    def compose(self) -> ComposeResult:
        yield Static(id="overview-title")
        with Grid(id="overview-grid"):
            # Grid order (app.tcss): 80x24 [sites | worst] / [cars | alerts] / hotlists;
            # wide [sites | worst | cars] / [alerts, two columns | hotlists].
            yield LinePanel(id="ov-sites", classes="ov-panel")
            yield LineList(id="ov-worst", classes="ov-panel")
            yield LinePanel(id="ov-cars", classes="ov-panel")
            yield LineList(id="ov-alerts", classes="ov-panel")
            yield LinePanel(id="ov-hotlists", classes="ov-panel")
        yield SteadyFooter()

    # the pieces ------------------------------------------------------------------------

    @property
    def sites_panel(self) -> LinePanel:
        return self.query_one("#ov-sites", LinePanel)

    @property
    def worst_list(self) -> LineList:
        return self.query_one("#ov-worst", LineList)

    @property
    def alert_list(self) -> LineList:
        return self.query_one("#ov-alerts", LineList)

    @property
    def cars_panel(self) -> LinePanel:
        return self.query_one("#ov-cars", LinePanel)

    @property
    def hotlists_panel(self) -> LinePanel:
        return self.query_one("#ov-hotlists", LinePanel)

    def on_mount(self) -> None:
        self.sites_panel.border_title = "Sites"
        self.worst_list.border_title = "Worst cameras"
        self.alert_list.border_title = "Alerts"
        self.hotlists_panel.border_title = "Hotlists"
        self.catch_up()
        self.shown = True
        self.set_interval(WANTED_REFRESH_S, self._refresh_wanted, name="wanted count")
        self._count_wanted()
        self.worst_list.focus()

    def on_resize(self) -> None:
        # Panel widths and heights come from the layout: redraw once it is done.
        self.call_after_refresh(self.redraw)

    def on_screen_resume(self) -> None:
        if self.shown:
            self.catch_up()
            self._count_wanted()

    # updates ---------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Read everything afresh from the app (start, and when shown again)."""
        capp = self.capp
        statuses = capp.statuses.values()
        self.counts.reset(statuses)
        self.worst_ids = {s.id for s in statuses if is_worst(s)}
        alerts = capp.alerts.values()
        self.newest = sorted(alerts, key=newest_key)[:TICKER_KEEP]
        self.new_alert_ids = {a.id for a in alerts if a.state is AlertState.NEW}
        self._load_hotlists()
        self.redraw()

    def redraw(self) -> None:
        if not self.is_mounted:
            return
        self._draw_title()
        self._draw_sites()
        self._draw_worst()
        self._draw_alerts()
        self._draw_cars()
        self._draw_hotlists()

    def apply_changes(self, camera_ids: Iterable[str]) -> None:
        """Changed cameras (the app's tick): counts and the worst list follow."""
        statuses = self.capp.statuses
        for camera_id in camera_ids:
            status = statuses.get(camera_id)
            if status is None:  # the camera left the hub
                self.counts.drop(camera_id)
                self.worst_ids.discard(camera_id)
                continue
            self.counts.take(status)
            if is_worst(status):
                self.worst_ids.add(camera_id)
            else:
                self.worst_ids.discard(camera_id)
        self._draw_title()
        self._draw_sites()
        self._draw_worst()

    def apply_alerts(self, alerts: list[Alert]) -> None:
        """New and changed alerts (the app's tick): merged into the newest few."""
        if not self.shown:
            return
        changed = {a.id: a for a in alerts}
        for alert in alerts:
            if alert.state is AlertState.NEW:
                self.new_alert_ids.add(alert.id)
            else:
                self.new_alert_ids.discard(alert.id)
        kept = [changed.pop(a.id, a) for a in self.newest]
        self.newest = sorted([*kept, *changed.values()], key=newest_key)[:TICKER_KEEP]
        self._draw_title()
        self._draw_alerts()

    def apply_vehicles(self) -> None:
        """Vehicles changed: the panel is a few lines, drawn again (unchanged: no-op)."""
        self._draw_cars()

    def refresh_ages(self, force: bool = False) -> None:
        """At most once a second: the ages of the worst cameras and of the fixes."""
        now = self.capp.clock()
        if not force and self._ages_at is not None:
            if (now - self._ages_at).total_seconds() < AGE_REFRESH_S:
                return
        self._ages_at = now
        self._draw_worst()
        self._draw_cars()

    def refresh_title(self) -> None:
        """The app's title changed (a remote hub's link)."""
        if self.is_mounted:
            self._draw_title()

    # drawing ---------------------------------------------------------------------------

    def _draw_title(self) -> None:
        text = overview_title(self.capp.title, self.counts.totals(), len(self.new_alert_ids))
        if text == self._title:
            return
        self._title = text
        # One line, always: no layout pass (it would repaint the whole screen).
        self.query_one("#overview-title", Static).update(text, layout=False)

    def _draw_sites(self) -> None:
        panel = self.sites_panel
        width = panel.line_width
        names = {site.id: site.name for site in self.capp.sites}
        shown = [site_id for site_id in self.counts.site_ids(self.capp.sites)
                 if sum(self.counts.counts.get(site_id, {}).values())]
        labels = site_labels({site_id: names.get(site_id, "") for site_id in shown}, width)
        lines = [sites_header(width)]
        for site_id in shown:
            lines.append(site_line(labels[site_id], self.counts.counts[site_id],
                                   self.counts.flapping[site_id], width))
        panel.show_lines(lines)

    def _draw_worst(self) -> None:
        listing = self.worst_list
        statuses = self.capp.statuses
        ranked = sorted((statuses[i] for i in self.worst_ids if i in statuses), key=worst_key)
        shown = ranked[: listing.capacity]
        now, width = self.capp.clock(), listing.line_width
        cache, self._worst_lines = self._worst_lines, {}
        lines = []
        for status in shown:
            age = spell_age(status, now)
            hit = cache.get(status.id)
            if hit is not None and hit[0] is status and hit[1] == width and hit[2] == age:
                line = hit[3]
            else:
                line = worst_line(status, status.config.site, now, width)
            self._worst_lines[status.id] = (status, width, age, line)
            lines.append(line)
        listing.show_lines([s.id for s in shown], lines)
        down = sum(1 for s in ranked if s.shown_state is HealthState.DOWN)
        listing.border_subtitle = (f"{down} down · {len(ranked) - down} degraded"
                                   if ranked else "none: all well")

    def _draw_alerts(self) -> None:
        listing = self.alert_list
        capp = self.capp
        shown = self.newest[: listing.capacity]
        width = listing.line_width
        cache, self._alert_lines = self._alert_lines, {}
        lines = []
        for alert in shown:
            hit = cache.get(alert.id)
            if hit is not None and hit[0] is alert and hit[1] == width:
                line = hit[2]
            else:
                line = ticker_line(alert, capp.camera_name, capp.tz, width)
            self._alert_lines[alert.id] = (alert, width, line)
            lines.append(line)
        listing.show_lines([str(a.id) for a in shown], lines)
        new = len(self.new_alert_ids)
        listing.border_title = f"Alerts  ● {new} new" if capp.alerts_loaded else "Alerts"
        listing.border_subtitle = "Enter opens · A acks newest" if new else ""

    def _draw_cars(self) -> None:
        panel = self.cars_panel
        vehicles = sorted(self.capp.vehicles.values(), key=lambda v: v.config.name.lower())
        now, width = self.capp.clock(), panel.line_width
        panel.border_title = vehicles_title(vehicles)
        lines = [vehicle_line(v, now, width) for v in vehicles]
        if not lines:
            lines = [Text("no patrol cars", style="dim", end="")]
        panel.show_lines(lines)

    def _draw_hotlists(self) -> None:
        panel = self.hotlists_panel
        width, tz = panel.line_width, self.capp.tz
        lines = [hotlists_summary(self.hotlists, self.wanted_count, tz, width)]
        room = panel.capacity - 1
        if room > 0:
            lines += [hotlist_line(h, tz, width) for h in self.hotlists[:room]]
        panel.show_lines(lines)

    # hotlists and wanted plates --------------------------------------------------------

    def _load_hotlists(self) -> None:
        try:
            self.hotlists = list(self.capp.client.hotlists())
        except Exception as exc:  # the UI boundary: any hub error is a notification
            self.capp.report_error("loading hotlists", exc)

    def _refresh_wanted(self) -> None:
        """Every WANTED_REFRESH_S: the hotlists (a reload on the hub) and the wanted count."""
        if self.app.screen is self:  # hidden: read again when shown
            self._load_hotlists()
            self._draw_hotlists()
            self._count_wanted()

    @work(group="wanted-count", exclusive=True, exit_on_error=False)
    async def _count_wanted(self) -> None:
        try:
            wanted = await self.capp.client.wanted()
        except Exception as exc:  # the UI boundary: any hub error is a notification
            self.capp.report_error("counting wanted plates", exc)
            return
        if len(wanted) != self.wanted_count:
            self.wanted_count = len(wanted)
            self._draw_hotlists()

    # keys ------------------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#ov-worst")
    def _worst_selected(self, event: OptionList.OptionSelected) -> None:
        camera_id = self.worst_list.key_at(event.option_index)
        if camera_id is not None:
            self.capp.open_camera(camera_id)

    @on(OptionList.OptionSelected, "#ov-alerts")
    def _alert_selected(self, event: OptionList.OptionSelected) -> None:
        from tui.screens.alerts import AlertDetailScreen

        alert_id = self.alert_list.key_at(event.option_index)
        if alert_id is not None:
            self.app.push_screen(AlertDetailScreen(int(alert_id)))
