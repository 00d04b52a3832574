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
from tui.wall_budget import MIN_TILE_INTERVAL_S, WALL_BYTES_PER_S
from tui.widgets.alpr_text import (
    COVERT_MARK,
    DUPLICATE_MARK,
    IMPORTANT_PRIORITY,
    URGENT_PRIORITY,
)
from tui.widgets.overview_toasts import TOAST_EVERY_S

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Overview (home)",
        (
            ("Tab  ← →", "next / previous panel (worst cameras, alerts)"),
            ("↑ ↓  Enter", "move · open the camera or the alert under the cursor"),
            ("✔ ▲ ✘ ? ⚒ ↯", "sites: ok · degraded · down · unknown · maintenance · flapping"),
            ("c", "all cameras (table with filter and sort)"),
            ("a", "alerts (hotlist and wanted-plate hits)"),
            ("m", "map of patrol cars and cameras"),
            ("v", "camera wall: the cameras behind the latest alerts"),
            ("f", "find reads by plate"),
            ("w", "hotlists and wanted plates"),
            ("q", "quit"),
        ),
    ),
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
            ("v", "camera wall of the filtered cameras (no filter: the latest alerts')"),
            ("Enter in filter", "keep the filter, back to the table"),
            ("Esc", "clear the filter; without one, back to the overview"),
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
            ("Esc  q", "back"),
        ),
    ),
    (
        "Camera wall",
        (
            ("✔ ▲ ✘ ? ⚒", "tile title: ok · degraded · down · unknown · maintenance"),
            ("← → ↑ ↓  click", "select a tile"),
            ("Enter  double click", "open the selected camera"),
            ("2  3", "2x2 or 3x3 tiles"),
            ("PgDn PgUp", "next / previous page of cameras"),
            ("l", "the cameras behind the latest alerts (follows new ones)"),
            ("/", "filter by name, street, site, model, state or reason"),
            ("pacing", f"pictures refresh as fast as {WALL_BYTES_PER_S // 1000} KB/s of terminal "
             f"output allows (an SSH link), each at most every {MIN_TILE_INTERVAL_S:g} s"),
            ("Esc", "back"),
        ),
    ),
    (
        "Map",
        (
            ("● ○ ◌ ✘", "fix · no fix · stale (silent > 3 s) · no GPS device"),
            ("Esc  q", "back"),
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
    (
        "Anywhere",
        (
            ("A", "acknowledge the newest new alert (says which, or that there is none; "
             "not while typing)"),
            ("Esc", "back one screen, down to the overview"),
            ("Ctrl+T", "dark / light theme"),
            ("?", "this help"),
            ("Ctrl+P", "command palette: a camera by a few letters of name or street · "
             "diag <camera> · search <plate> · wanted <plate> · any screen by name"),
            ("Ctrl+Q", "quit"),
        ),
    ),
    (
        "Hit notifications",
        (
            ("toast", f"new hit: plate, list, PRIORITY, camera; red ≥ {URGENT_PRIORITY}, "
             f"amber ≥ {IMPORTANT_PRIORITY}; {COVERT_MARK} covert hits say so"),
            ("+N more", f"at most one toast every {TOAST_EVERY_S:g} s: the most urgent, and "
             "how many came meanwhile"),
        ),
    ),
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
