"""The keys, one screen; any of Esc, q or ? closes it."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from hub.health_thresholds import FLAPPING_CLEAR_PER_HOUR, FLAPPING_PER_HOUR
from tui.widgets.alpr_text import COVERT_MARK, DUPLICATE_MARK

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Cameras",
        (
            ("↑ ↓ PgUp PgDn", "move"),
            ("Enter", "open the camera"),
            ("✔ ▲ ✘ ?", "ok · degraded (streams, but poorly) · down · unknown"),
            ("⚒ maint", "in maintenance (failures recorded, not counted down); "
             "the real state beside it"),
            ("↯ flapping", f"{FLAPPING_PER_HOUR}+ outages in the last hour (until fewer than "
             f"{FLAPPING_CLEAR_PER_HOUR}): N/h and the state now beside it"),
            ("s", "sort: name → site → state (worst first) → last seen (stalest first)"),
            ("/", "filter by name, site, model, state or reason (live)"),
            ("Enter in filter", "keep the filter, back to the table"),
            ("Esc", "clear the filter"),
            ("m", "map of patrol cars and cameras"),
            ("a", "alerts (hotlist and wanted-plate hits)"),
            ("f", "find reads by plate (search as you type)"),
            ("w", "hotlists and wanted plates"),
            ("q", "quit"),
        ),
    ),
    (
        "Camera detail",
        (
            ("▁ ▄ █ ? ·", "history strip: ok · degraded · down · unknown · no history"),
            ("z", "zoom the history strip: 24 h → 6 h → 1 h"),
            ("r", "reload the health history"),
            ("← → ↑ ↓", "PTZ: pan / tilt a short step (press again to keep moving)"),
            ("+ =  -", "PTZ: zoom in · zoom out"),
            ("1-9", "PTZ: go to that preset (numbered on the PTZ line)"),
            ("s", "refresh the snapshot (it also refreshes every 5 s)"),
            ("g", "diagnose the camera: findings (✘ error ▲ warning • info) and facts"),
            ("R", "reboot the camera (asks first)"),
            ("M", "maintenance: 1 h · 4 h · 24 h · other, with a reason; e ends it"),
            ("» ! ■ ◆ ▭ ◇", "events: motion · tamper · video loss · digital input · plate · "
             "analytics"),
            ("PgUp PgDn", "scroll the panels"),
            ("Esc  q", "back to the cameras"),
        ),
    ),
    (
        "Map",
        (
            ("● ○ ◌ ✘", "fix · no fix · stale (silent > 3 s) · no GPS device"),
            ("Esc  q", "back to the cameras"),
        ),
    ),
    (
        "Alerts",
        (
            ("● ◐ ✔ ✘ ■", "new · acknowledged · accepted · rejected · closed"),
            ("= ≈ *", "matched exactly · by look-alike characters (0/O, 8/B…) · wildcard"),
            (
                f"{COVERT_MARK}  {DUPLICATE_MARK}N",
                "covert list (not shown on patrol units) · N later reads folded in",
            ),
            ("k  Space", "acknowledge the selected alert"),
            ("y", "accept (a real hit)"),
            ("r then 1-5", "reject: misread · wrong state · vehicle mismatch · duplicate · other"),
            ("Enter", "detail: plate crop, read, every hit, camera, position"),
            ("g", "to the top (where new alerts arrive; the list never jumps)"),
            ("b", "terminal bell for new alerts of priority ≥ 80: on/off"),
            ("s", "search reads"),
            ("Esc", "back"),
        ),
    ),
    (
        "Reads search",
        (
            ("1AB  1AB*  *23?", "fragment anywhere · * any run · ? one character"),
            ("↓  Enter", "to the results; Enter on a read opens it"),
            ("Esc", "back to typing, then back"),
        ),
    ),
    (
        "Hotlists & wanted",
        (
            ("n", "new wanted plate (plate, reason, 1-100 days); shows where it was seen"),
            ("d", "remove the selected wanted plate (asks first)"),
            ("Tab", "between the tables"),
            ("Esc", "back"),
        ),
    ),
    ("Anywhere", (("?", "this help"), ("Ctrl+P", "command palette"), ("Ctrl+Q", "quit"))),
)


def keys_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for section, rows in KEYS:
        table.add_row(f"[u]{section}[/u]", "")
        for key, what in rows:
            table.add_row(key, what)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(keys_table(), id="help-keys")

    def on_mount(self) -> None:
        self.query_one("#help-body").border_title = "Keys"

    def action_close(self) -> None:
        self.dismiss()
