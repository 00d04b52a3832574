"""One camera: state and why, snapshot and PTZ, diagnose findings, health history, live
events, stream, what it told us over ONVIF, config. The panels with actions are widgets
(tui/widgets/camera_panel.py, findings_view.py, event_list.py); this screen binds the keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import ClassVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from hub.client import HubClient
from hub.model import CameraStatus, HealthTransition
from tui.app_of import app_of
from tui.format import (
    FLAPPING_LABEL,
    FLAPPING_STYLE,
    STATE_STYLE,
    STATE_SYMBOL,
    age_label,
    bitrate_label,
    clock_time,
    flaps_label,
    full_time,
    metric_style,
    model_label,
    reason_label,
    reason_text,
    state_text,
    strip_credentials,
)
from tui.history import span_label, timeline, utc
from tui.widgets.camera_panel import CameraPanel
from tui.widgets.confirm import Confirm
from tui.widgets.event_list import MAX_EVENTS, EventList
from tui.widgets.findings_view import FindingsView
from tui.widgets.health_strip import ZOOMS, HealthStrip
from tui.widgets.maintenance_form import MaintenanceForm
from tui.widgets.transitions import TransitionTable

HISTORY_LIMIT = 50
# Velocity of a PTZ key press, a fraction of the dome's maximum (the hub moves in bursts).
PTZ_SPEED = 0.5
# The stream panel shows the age of the last sample, which grows without any update.
AGE_REFRESH_S = 1.0


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
    """'Name  id  ✘ down · unreachable  Manufacturer Model' — the essentials in one line;
    '⚒ maintenance · ✘ down …' in maintenance, '… ↯ flapping' while flapping."""
    cfg = status.config
    text = Text(no_wrap=False, end="")
    text.append(cfg.name, style="bold")
    text.append(f"  {cfg.id}  ", style="dim")
    if status.maintenance is not None:
        text.append_text(state_text(status.shown_state))
        text.append(" · ")
    text.append_text(state_text(status.state))
    if status.reason.value:
        text.append(f" · {reason_label(status)}", style=STATE_STYLE.get(status.state, ""))
    if status.flapping:
        text.append("  ")
        text.append(FLAPPING_LABEL, style=FLAPPING_STYLE)
    text.append(f"  {model_label(status)}")
    return text


def maintenance_text(status: CameraStatus, tz: tzinfo | None) -> Text | None:
    """'⚒ until 2025-03-14 12:30:00 · new lens · by jan', or None outside maintenance."""
    m = status.maintenance
    if m is None:
        return None
    shown = status.shown_state
    text = Text(STATE_SYMBOL.get(shown, "?"), style=STATE_STYLE.get(shown, ""), end="")
    text.append(f" until {full_time(m.until, tz)} · {m.reason} · by {m.actor}")
    return text


def status_panel(status: CameraStatus, tz: tzinfo | None) -> Table:
    rows: list[tuple[str, RenderableType]] = [
        ("state", state_text(status.state)),
        ("reason", reason_text(status)),
        ("detail", status.detail or "—"),
        ("last seen", full_time(status.last_seen, tz)),
        ("changed", full_time(status.changed_at, tz)),
    ]
    maintenance = maintenance_text(status, tz)
    if maintenance is not None:
        rows.insert(1, ("maintenance", maintenance))
    if status.flaps_per_hour:
        flaps = Text(flaps_label(status.flaps_per_hour))
        if status.flapping:
            flaps = Text.assemble((FLAPPING_LABEL, FLAPPING_STYLE), ": ", flaps)
        rows.append(("outages", flaps))
    return _kv(rows)


def _profile_label(status: CameraStatus) -> str:
    """'Profile_2 640x360 ≤25 fps ≤1024 kbit/s': the profile the hub samples."""
    sampled = status.facts.sampled if status.facts is not None else None
    if sampled is None:
        return "—"
    parts = [sampled.token]
    if sampled.width and sampled.height:
        parts.append(f"{sampled.width}x{sampled.height}")
    if sampled.fps:
        parts.append(f"≤{sampled.fps:g} fps")
    if sampled.bitrate_kbps:
        parts.append(f"≤{sampled.bitrate_kbps} kbit/s")
    return " ".join(parts)


def stream_panel(status: CameraStatus, now: datetime, tz: tzinfo | None) -> RenderableType:
    """The latest stream sample; the number the reason is about in the state's colour."""
    stream = status.stream
    if stream is None:
        return Text("no stream sample yet", style="dim italic")

    def value(text: str, metric: str, reference: str = "") -> Text:
        out = Text(text, style=metric_style(status, metric))
        if reference:
            out.append(f"  {reference}", style="dim")
        return out

    fps = "—" if stream.fps is None else f"{stream.fps:.1f}"
    expected = f"expected {stream.expected_fps:g}" if stream.expected_fps else ""
    baseline = stream.baseline_bitrate_kbps
    usual = f"usually {bitrate_label(baseline)}" if baseline else ""
    gop = "—" if stream.keyframe_interval_s is None else f"every {stream.keyframe_interval_s:.1f} s"
    luma = "—" if stream.luma_mean is None else f"{stream.luma_mean:.0f} of 255"
    frozen = {None: "—", True: "yes", False: "no"}[stream.frozen]
    age = (utc(now) - utc(stream.at)).total_seconds()
    sample = f"{clock_time(stream.at, tz)} ({age_label(max(0.0, age))} ago)"
    return _kv(
        [
            ("fps", value(fps, "fps", expected)),
            ("bitrate", value(bitrate_label(stream.bitrate_kbps), "bitrate", usual)),
            ("keyframes", value(gop, "keyframes")),
            ("luma", value(luma, "luma")),
            ("frozen", value(frozen, "frozen")),
            ("sample", value(sample, "age")),
            ("profile", Text(_profile_label(status))),
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
    """Detail of one camera, live while open (snapshot refresh, events); Esc or q goes back."""

    # PTZ keys are priority bindings: the body (a scroll view) and the history table would
    # take the arrows otherwise. The body scrolls with PgUp/PgDn and the mouse.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("r", "reload_history", "Reload history", show=False),
        Binding("z", "zoom_history", "Zoom history", show=False),
        Binding("left", f"ptz({-PTZ_SPEED}, 0, 0)", "PTZ", key_display="←↑↓→", show=False,
                priority=True),
        Binding("right", f"ptz({PTZ_SPEED}, 0, 0)", "PTZ right", show=False, priority=True),
        Binding("up", f"ptz(0, {PTZ_SPEED}, 0)", "PTZ up", show=False, priority=True),
        Binding("down", f"ptz(0, {-PTZ_SPEED}, 0)", "PTZ down", show=False, priority=True),
        Binding("plus,equals_sign", f"ptz(0, 0, {PTZ_SPEED})", "Zoom in", show=False),
        Binding("minus", f"ptz(0, 0, {-PTZ_SPEED})", "Zoom out", show=False),
        *[Binding(str(n), f"preset({n})", f"Preset {n}", show=False) for n in range(1, 10)],
        Binding("s", "snapshot", "Snapshot"),
        Binding("g", "diagnose", "Diagnose"),
        Binding("R", "reboot", "Reboot"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        # After Help: at 80 columns the footer has no room left, and the help lists it.
        Binding("M", "maintenance", "Maintenance"),
    ]
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (120, "-wide"),
    ]

    class HistoryLoaded(Message):
        """A camera's health history arrived from the hub (others may reuse it)."""

        def __init__(self, camera_id: str, transitions: Sequence[HealthTransition]) -> None:
            super().__init__()
            self.camera_id = camera_id
            self.transitions = list(transitions)

    def __init__(
        self,
        status: CameraStatus,
        *,
        site_name: str = "",
        tz: tzinfo | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(id="detail-screen")
        self.status = status
        self.site_name = site_name
        self.tz = tz
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.history: list[HealthTransition] = []
        self.history_loaded = False
        self._history_for: tuple[object, ...] | None = None

    @property
    def camera_id(self) -> str:
        return self.status.id

    def compose(self) -> ComposeResult:
        client = self._client()
        yield Static(id="detail-title")
        with VerticalScroll(id="detail-body"):
            with Grid(id="detail-grid"):
                yield Static(id="detail-status", classes="panel")
                yield CameraPanel(client, self.camera_id, tz=self.tz, clock=self.clock,
                                  id="camera-panel", classes="panel")
                yield FindingsView(id="findings", classes="panel")
                with Vertical(id="history-panel", classes="panel"):
                    yield HealthStrip(id="strip")
                    yield TransitionTable(id="history", tz=self.tz)
                yield EventList(id="events", classes="panel", tz=self.tz)
                yield Static(id="detail-stream", classes="panel")
                yield Static(id="detail-facts", classes="panel")
                yield Static(id="detail-config", classes="panel")
        yield Footer()

    def _client(self) -> HubClient:
        app = app_of(self)
        return app.client

    def on_mount(self) -> None:
        self.query_one("#detail-status").border_title = "Status"
        self.query_one("#detail-stream").border_title = "Stream"
        self.query_one("#detail-facts").border_title = "ONVIF"
        self.query_one("#detail-config").border_title = "Config"
        camera = self.camera_panel
        camera.border_title = "Camera"
        camera.border_subtitle = "←↑↓→ move · +/- zoom · 1-9 preset · s refresh"
        self.query_one("#events").border_title = f"Events · last {MAX_EVENTS}"
        findings = self.query_one("#findings", FindingsView)
        findings.border_title = "Diagnose"
        findings.border_subtitle = "g run"
        self.query_one("#events", EventList).follow(self._client(), self.camera_id)
        self._title_history()
        self._render_status()
        self.action_reload_history()
        self.set_interval(AGE_REFRESH_S, self._tick, name="sample age")

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

    @property
    def strip(self) -> HealthStrip:
        return self.query_one("#strip", HealthStrip)

    def _tick(self) -> None:
        now = self.clock()
        self.strip.now = now
        self.query_one("#detail-stream", Static).update(stream_panel(self.status, now, self.tz))

    def _render_status(self) -> None:
        status = self.status
        now = self.clock()
        self.query_one("#detail-title", Static).update(title_text(status))
        self.query_one("#detail-status", Static).update(status_panel(status, self.tz))
        self.query_one("#detail-stream", Static).update(stream_panel(status, now, self.tz))
        self.query_one("#detail-facts", Static).update(facts_panel(status))
        self.query_one("#detail-config", Static).update(config_panel(status, self.site_name))
        strip = self.strip
        strip.now = now
        strip.points = tuple(timeline(self.history, status.state, status.changed_at))

    def _title_history(self) -> None:
        span = span_label(self.strip.span)
        panel = self.query_one("#history-panel")
        panel.border_title = f"Health history · last {span}"
        panel.border_subtitle = "z zoom · r reload"

    def action_zoom_history(self) -> None:
        self.strip.zoom = (self.strip.zoom + 1) % len(ZOOMS)
        self._title_history()

    def action_reload_history(self) -> None:
        self._history_for = self._history_key(self.status)
        self.run_worker(self._load_history(), group="history", exclusive=True)

    async def _load_history(self) -> None:
        app = app_of(self)
        try:
            history = await app.client.history(self.camera_id, HISTORY_LIMIT)
        except Exception as exc:  # a broken hub must not take the UI down
            app.report_error(f"history of {self.camera_id}", exc)
            self.history_loaded = True
            return
        self.history = list(history)
        self.query_one("#history", TransitionTable).show(self.history)
        status = self.status
        self.strip.points = tuple(timeline(self.history, status.state, status.changed_at))
        self.post_message(self.HistoryLoaded(self.camera_id, self.history))
        self.history_loaded = True

    def action_back(self) -> None:
        self.dismiss()

    # camera actions ---------------------------------------------------------------------

    @property
    def camera_panel(self) -> CameraPanel:
        return self.query_one("#camera-panel", CameraPanel)

    def action_ptz(self, pan: float, tilt: float, zoom: float) -> None:
        self.camera_panel.move(pan, tilt, zoom)

    def action_preset(self, number: int) -> None:
        self.camera_panel.goto_preset(number)

    def action_snapshot(self) -> None:
        self.camera_panel.refresh_snapshot()

    def action_diagnose(self) -> None:
        self.query_one("#findings", FindingsView).run(self._client(), self.camera_id)

    def action_reboot(self) -> None:
        app = app_of(self)
        name = self.status.config.name

        def answered(yes: bool | None) -> None:
            if yes:
                self.camera_panel.reboot(app.operator)

        self.app.push_screen(
            Confirm(f"Reboot {name}? It is offline until it is back (often a minute or two).",
                    title="Reboot camera"),
            answered,
        )

    def action_maintenance(self) -> None:
        """Put the camera in maintenance (or end it): a small form makes the call."""

        def done(status: CameraStatus | None) -> None:
            if status is not None:
                self.update_status(status)

        self.app.push_screen(MaintenanceForm(self.status, self.tz), done)
