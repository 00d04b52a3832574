"""One camera: state and why, health history, what it told us over ONVIF, its config."""

from __future__ import annotations

from datetime import tzinfo
from typing import ClassVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from hub.model import CameraStatus, HealthTransition
from tui.format import (
    STATE_STYLE,
    full_time,
    model_label,
    state_label,
    state_text,
    strip_credentials,
)

HISTORY_LIMIT = 50


def _kv(rows: list[tuple[str, RenderableType]]) -> Table:
    """Two columns: a dim label and its value (long values fold, never hide)."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="dim", no_wrap=True, min_width=10)
    grid.add_column(overflow="fold", ratio=1)
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def _lines(values: tuple[str, ...]) -> str:
    return "\n".join(values) if values else "—"


def title_text(status: CameraStatus) -> Text:
    """'Name  id  ✘ down · unreachable  Manufacturer Model' — the essentials in one line."""
    cfg = status.config
    text = Text(no_wrap=False, end="")
    text.append(cfg.name, style="bold")
    text.append(f"  {cfg.id}  ", style="dim")
    text.append_text(state_text(status.state))
    if status.reason.value:
        text.append(f" · {status.reason.value}", style=STATE_STYLE.get(status.state, ""))
    text.append(f"  {model_label(status)}")
    return text


def status_panel(status: CameraStatus, tz: tzinfo | None) -> Table:
    return _kv(
        [
            ("state", state_text(status.state)),
            ("reason", status.reason.value or "—"),
            ("detail", status.detail or "—"),
            ("last seen", full_time(status.last_seen, tz)),
            ("changed", full_time(status.changed_at, tz)),
        ]
    )


def facts_panel(status: CameraStatus) -> RenderableType:
    facts = status.facts
    if facts is None:
        return Text("not yet reached over ONVIF", style="dim italic")
    offset = "—" if facts.clock_offset_s is None else f"{facts.clock_offset_s:+.1f} s"
    return _kv(
        [
            ("manufacturer", facts.manufacturer or "—"),
            ("model", facts.model or "—"),
            ("firmware", facts.firmware or "—"),
            ("serial", facts.serial or "—"),
            ("hardware id", facts.hardware_id or "—"),
            ("clock offset", offset),
            ("profiles", _lines(facts.profiles)),
            ("stream URI", strip_credentials(facts.stream_uri)),
            ("snapshot URI", strip_credentials(facts.snapshot_uri)),
            ("services", _lines(facts.services)),
        ]
    )


def config_panel(status: CameraStatus, site_name: str) -> Table:
    cfg = status.config
    site = cfg.site if not site_name or site_name == cfg.site else f"{cfg.site} ({site_name})"
    if cfg.lat is not None and cfg.lon is not None:
        position = f"{cfg.lat:.5f}, {cfg.lon:.5f}"
    else:
        position = "—"
    # Never the password, and no user:password@ in the URL either.
    return _kv(
        [
            ("site", site),
            ("kind", cfg.kind.value),
            ("street", cfg.street or "—"),
            ("lat/lon", position),
            ("ONVIF URL", strip_credentials(cfg.onvif_url)),
        ]
    )


class CameraDetailScreen(Screen[None]):
    """Detail of one camera, live while open; Esc or q goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("r", "reload_history", "Reload history"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (120, "-wide"),
    ]

    def __init__(self, status: CameraStatus, *, site_name: str = "", tz: tzinfo | None = None):
        super().__init__(id="detail-screen")
        self.status = status
        self.site_name = site_name
        self.tz = tz
        self.history: list[HealthTransition] = []
        self.history_loaded = False
        self._history_for: tuple[object, ...] | None = None

    @property
    def camera_id(self) -> str:
        return self.status.id

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        with VerticalScroll(id="detail-body"):
            with Grid(id="detail-grid"):
                yield Static(id="detail-status", classes="panel")
                history = DataTable[Text](
                    id="history", zebra_stripes=True, cursor_type="row", show_cursor=False
                )
                history.border_title = "Health history"
                yield history
                yield Static(id="detail-facts", classes="panel")
                yield Static(id="detail-config", classes="panel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail-status").border_title = "Status"
        self.query_one("#detail-facts").border_title = "ONVIF"
        self.query_one("#detail-config").border_title = "Config"
        history = self.query_one("#history", DataTable)
        history.add_column("When", key="at")
        history.add_column("Change", key="change")
        history.add_column("Reason", key="reason")
        history.add_column("Detail", key="detail")
        self._render_status()
        self.action_reload_history()

    # live updates ----------------------------------------------------------------------

    def update_status(self, status: CameraStatus) -> None:
        """A newer status of this camera arrived: redraw, and reload history on a change."""
        if status.id != self.camera_id:
            return
        self.status = status
        self._render_status()
        if self._history_key(status) != self._history_for:
            self.action_reload_history()

    @staticmethod
    def _history_key(status: CameraStatus) -> tuple[object, ...]:
        return (status.state, status.reason, status.changed_at)

    def _render_status(self) -> None:
        status = self.status
        self.query_one("#detail-title", Static).update(title_text(status))
        self.query_one("#detail-status", Static).update(status_panel(status, self.tz))
        self.query_one("#detail-facts", Static).update(facts_panel(status))
        self.query_one("#detail-config", Static).update(config_panel(status, self.site_name))

    def action_reload_history(self) -> None:
        self._history_for = self._history_key(self.status)
        self.run_worker(self._load_history(), group="history", exclusive=True)

    async def _load_history(self) -> None:
        from tui.app import CitywatchApp

        app = self.app
        assert isinstance(app, CitywatchApp)
        try:
            history = await app.client.history(self.camera_id, HISTORY_LIMIT)
        except Exception as exc:  # a broken hub must not take the UI down
            app.report_error(f"history of {self.camera_id}", exc)
            self.history_loaded = True
            return
        self.history = list(history)
        self._fill_history()
        self.history_loaded = True

    def _fill_history(self) -> None:
        table = self.query_one("#history", DataTable)
        table.clear()
        for i, t in enumerate(self.history):
            change = Text(no_wrap=True, end="")
            change.append(state_label(t.old_state), STATE_STYLE.get(t.old_state, ""))
            change.append(" → ")
            change.append(state_label(t.new_state), STATE_STYLE.get(t.new_state, ""))
            table.add_row(
                Text(full_time(t.at, self.tz), no_wrap=True, end=""),
                change,
                Text(t.reason.value or "—", no_wrap=True, end=""),
                Text(t.detail or "", no_wrap=True, overflow="ellipsis", end=""),
                key=str(i),
            )
        if not self.history:
            table.add_row(Text("no changes recorded", style="dim"), "", "", "")

    def action_back(self) -> None:
        self.dismiss()
