"""The alert queue and one alert's detail: single-key triage, reasons for rejects.

k (or space) acknowledges, y accepts, r rejects with a reason picked by digit, Enter
opens the detail with the plate crop; new alerts never move the list: a banner counts
them until g (or coming back to the queue) brings them in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from hub.alpr_model import Alert, AlertState, ImageKind
from tui.app_of import app_of
from tui.widgets.alert_table import AlertTable
from tui.widgets.alpr_text import ALERT_SYMBOL, COVERT_MARK, alert_rows, kv
from tui.widgets.plate_image import PlateImage
from tui.widgets.reason_picker import ReasonPicker, RejectChoice
from tui.widgets.summary import SteadyFooter

if TYPE_CHECKING:
    from tui.app import CitywatchApp

# The keys of triage, on the list and in the detail alike.
TRIAGE_BINDINGS: list[BindingType] = [
    Binding("k,space", "acknowledge", "Ack", key_display="k"),
    Binding("y", "accept", "Accept"),
    Binding("r", "reject", "Reject"),
]


def queue_title(alerts: list[Alert], loaded: bool, bell: bool, bell_priority: int) -> Text:
    """'Alerts  6 open  ● 4 new  ◐ 2 acked  ◆ 1 covert  bell ≥80 on'."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append("Alerts", style="bold")
    if not loaded:
        text.append("  loading…", style="dim")
        return text
    open_ = [a for a in alerts if a.state in (AlertState.NEW, AlertState.ACKNOWLEDGED)]
    new = sum(1 for a in open_ if a.state is AlertState.NEW)
    text.append(f"  {len(open_)} open  ")
    text.append(f"{ALERT_SYMBOL[AlertState.NEW]} {new} new", style="bold" if new else "")
    text.append(f"  {ALERT_SYMBOL[AlertState.ACKNOWLEDGED]} {len(open_) - new} acked")
    covert = sum(1 for a in open_ if a.covert)
    if covert:
        text.append(f"  {COVERT_MARK} {covert} covert")
    text.append(f"  bell ≥{bell_priority} {'on' if bell else 'off'}", style="dim")
    return text


def banner_text(above: int, below: int = 0) -> Text:
    """'▲ 3 new alerts above, 2 below — g goes to the top'."""
    plural = "" if (above or below) == 1 else "s"
    if not above:
        where = "below"
    elif below:
        where = f"above, {below} below"
    else:
        where = "above"
    return Text(
        f"▲ {above or below} new alert{plural} {where} — g goes to the top",
        style="bold reverse", end="",
    )


def triage(capp: CitywatchApp, alert: Alert | None, to: AlertState) -> None:
    """Acknowledge or accept in one key; reject asks for the reason first."""
    if alert is None:
        return
    if to is not AlertState.REJECTED:
        capp.transition_alert(alert.id, to)
        return
    alert_id = alert.id

    def picked(choice: RejectChoice | None) -> None:
        if choice is not None:
            reason, text = choice
            capp.transition_alert(alert_id, AlertState.REJECTED, reason, text)

    capp.push_screen(ReasonPicker(alert.read.plate), picked)


class AlertsScreen(Screen[None]):
    """The queue, live; sorted by priority then time; the selection never jumps."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        *TRIAGE_BINDINGS,
        Binding("g", "top", "Top", show=False),
        Binding("b", "toggle_bell", "Bell", show=False),
        Binding("s", "search", "Search", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]

    def __init__(self) -> None:
        super().__init__(id="alerts-screen")
        # New alerts merged in above the selection (coming back to the queue), not yet
        # looked at; the table's held alerts are counted besides these.
        self.unseen = 0
        self.shown = False  # on_mount has filled the table: ticks before that are moot

    @property
    def capp(self) -> CitywatchApp:
        return app_of(self)

    def compose(self) -> ComposeResult:
        capp = self.capp
        yield Static(id="alerts-title")
        yield Static(id="alerts-banner")
        yield AlertTable(id="alerts", tz=capp.tz, camera_name=capp.camera_name)
        yield SteadyFooter()

    @property
    def table(self) -> AlertTable:
        return self.query_one("#alerts", AlertTable)

    def on_mount(self) -> None:
        self.table.show(list(self.capp.alerts.values()))
        self.capp.dirty_alerts.clear()  # the table starts from these
        self.shown = True
        self._refresh_title()

    def current_alert(self) -> Alert | None:
        return self.table.current

    # updates ---------------------------------------------------------------------------

    def apply_alerts(self, alerts: list[Alert]) -> None:
        """New and changed alerts from the app's tick: changed rows are patched in
        place, new alerts held (the banner counts them)."""
        if not self.shown:
            return  # pushed but not mounted yet: on_mount shows every alert anyway
        self.table.apply(alerts)
        self._refresh_title()

    def on_screen_resume(self) -> None:
        # Hidden screens are not updated; catch up once when shown again (the screen is
        # drawn afresh then anyway, so the held alerts come in too).
        if self.shown:
            above = self.table.merge(self.capp.alerts)
            if above and self.table.cursor_row > 0:
                self.unseen += above
            self._refresh_title()

    def _refresh_title(self) -> None:
        capp = self.capp
        title = queue_title(
            list(capp.alerts.values()), capp.alerts_loaded, capp.bell_alerts, capp.bell_priority
        )
        # One line each, always: no layout pass, which would repaint the whole screen
        # (~20 KB at 80x24) on every update of the queue.
        self.query_one("#alerts-title", Static).update(title, layout=False)
        banner = self.query_one("#alerts-banner", Static)
        above, below = self.table.held_around_cursor()
        above += self.unseen
        banner.display = bool(above or below)  # a change of display does its own layout
        if above or below:
            banner.update(banner_text(above, below), layout=False)

    @on(DataTable.RowHighlighted, "#alerts")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row == 0 and self.unseen:
            self.unseen = 0
            self._refresh_title()

    @on(DataTable.RowSelected, "#alerts")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(AlertDetailScreen(int(event.row_key.value)))

    # actions ---------------------------------------------------------------------------

    def action_acknowledge(self) -> None:
        triage(self.capp, self.current_alert(), AlertState.ACKNOWLEDGED)

    def action_accept(self) -> None:
        triage(self.capp, self.current_alert(), AlertState.ACCEPTED)

    def action_reject(self) -> None:
        triage(self.capp, self.current_alert(), AlertState.REJECTED)

    def action_top(self) -> None:
        self.table.merge(self.capp.alerts)
        self.table.move_cursor(row=0, animate=False, scroll=True)
        self.unseen = 0
        self._refresh_title()

    def action_toggle_bell(self) -> None:
        capp = self.capp
        capp.bell_alerts = not capp.bell_alerts
        self._refresh_title()

    def action_search(self) -> None:
        self.capp.action_open_reads()

    def action_back(self) -> None:
        self.dismiss()


class AlertDetailScreen(Screen[None]):
    """One alert: the plate crop, the read, how it matched, every hit; live."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        *TRIAGE_BINDINGS,
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self, alert_id: int) -> None:
        super().__init__(id="alert-detail-screen")
        self.alert_id = alert_id
        self.shown = False

    @property
    def capp(self) -> CitywatchApp:
        return app_of(self)

    @property
    def alert(self) -> Alert | None:
        return self.capp.alerts.get(self.alert_id)

    def current_alert(self) -> Alert | None:
        return self.alert

    @property
    def image(self) -> PlateImage:
        return self.query_one("#alert-crop", PlateImage)

    def compose(self) -> ComposeResult:
        with Container(classes="alpr-detail"):
            yield PlateImage(id="alert-crop", classes="crop")
            with VerticalScroll(classes="alpr-info"):
                yield Static(id="alert-info")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.image.border_title = "Plate"
        self.shown = True
        self._render_alert()
        self.run_worker(self._load_image(), group="image", exclusive=True)

    async def _load_image(self) -> None:
        alert = self.alert
        if alert is None:
            await self.image.show(None)
            return
        try:
            data = await self.capp.client.read_image(alert.read.id, ImageKind.CROP)
        except Exception as exc:  # a broken hub must not take the UI down
            self.capp.report_error(f"image of read {alert.read.id}", exc)
            data = None
        await self.image.show(data)

    def _render_alert(self) -> None:
        alert = self.alert
        info = self.query_one("#alert-info", Static)
        if alert is None:
            info.update(Text("This alert is no longer known to the TUI.", style="dim italic"))
            return
        info.update(kv(alert_rows(alert, self.capp.camera_name, self.capp.tz)))

    def apply_alerts(self, alerts: list[Alert]) -> None:
        if self.shown and any(a.id == self.alert_id for a in alerts):
            self._render_alert()

    def on_screen_resume(self) -> None:
        if self.shown:
            self._render_alert()

    def action_acknowledge(self) -> None:
        triage(self.capp, self.current_alert(), AlertState.ACKNOWLEDGED)

    def action_accept(self) -> None:
        triage(self.capp, self.current_alert(), AlertState.ACCEPTED)

    def action_reject(self) -> None:
        triage(self.capp, self.current_alert(), AlertState.REJECTED)

    def action_back(self) -> None:
        self.dismiss()
