"""The camera wall: live snapshots of 4 or 9 cameras in a grid, paced so that what it
writes to the terminal fits an SSH link (tui/wall_budget.py).

Cameras come from a filter (like the cameras screen's) or from the latest alerts (the
distinct cameras of the newest alerts, newest first; the worst cameras when there are
none). Tiles fetch snapshots in turns, a few requests at a time, each with a timeout;
nothing is fetched while another screen covers the wall.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import Input, Static

from hub.alpr_model import Alert
from hub.errors import HubError
from hub.model import CameraStatus
from tui.app_of import app_of
from tui.format import STATE_RANK, matches
from tui.wall_budget import (
    MAX_IN_FLIGHT,
    MIN_TILE_INTERVAL_S,
    SNAPSHOT_TIMEOUT_S,
    TEXT_RESERVE_BYTES_PER_S,
    WALL_BYTES_PER_S,
    TileSlot,
    WallPacer,
    redraw_cost,
)
from tui.widgets.summary import SteadyFooter
from tui.widgets.wall_tile import WallTile

if TYPE_CHECKING:
    from tui.app import CitywatchApp

log = logging.getLogger(__name__)

ALERTS = "alerts"  # the source that follows the newest alerts
GRIDS = (2, 3)  # 2x2 or 3x3 tiles
# The pacer is asked this often which tiles may fetch: fine enough that a freed request
# slot is used soon, coarse enough to cost nothing.
PACE_TICK_S = 0.25
# Statuses, the alert cameras and the pictures' ages are looked at this often.
FOLLOW_TICK_S = 1.0


def latest_alert_cameras(alerts: Iterable[Alert]) -> list[str]:
    """Distinct cameras of the alerts, the camera of the newest alert first."""
    newest = sorted(alerts, key=lambda a: (a.raised_at, a.id), reverse=True)
    return list(dict.fromkeys(a.read.camera_id for a in newest))


def worst_first(statuses: Iterable[CameraStatus]) -> list[str]:
    """Worst state first (as the cameras screen sorts by state), then site and name."""
    return [s.id for s in sorted(statuses, key=lambda s: (
        STATE_RANK.get(s.shown_state, 9), s.config.site, s.config.name.lower(), s.id))]


def wall_matches(status: CameraStatus, query: str, site_name: str) -> bool:
    """The cameras screen's filter (name, site, model, state, reason), and the street."""
    street = status.config.street.lower()
    return matches(status, query, site_name) or query.strip().lower() in street


def choose_cameras(
    source: str,
    statuses: Mapping[str, CameraStatus],
    alerts: Iterable[Alert],
    site_name: Mapping[str, str],
) -> list[str]:
    """The cameras the wall shows, in order: `source` is ALERTS or a filter text."""
    if source == ALERTS:
        chosen = [c for c in latest_alert_cameras(alerts) if c in statuses]
        return chosen or worst_first(statuses.values())
    shown = (s for s in statuses.values()
             if wall_matches(s, source, site_name.get(s.config.site, "")))
    return [s.id for s in sorted(shown, key=lambda s: (s.config.name.lower(), s.id))]


class WallScreen(Screen[None]):
    """`WallScreen(source="alerts" | filter text, grid=2 | 3)`, pushed by the app."""

    DEFAULT_CSS = """
    WallScreen #wall-title {
        height: 1;
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    WallScreen #wall-grid {
        height: 1fr;
        grid-size: 2 2;
    }
    WallScreen #wall-filter {
        dock: bottom;
        display: none;
        height: 3;
        border: tall $accent;
    }
    """

    # The filter box is the only focusable widget: it must not take the keys on opening.
    AUTO_FOCUS = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("2", "grid(2)", "2x2"),
        Binding("3", "grid(3)", "3x3"),
        Binding("l", "latest", "Alerts"),
        Binding("slash", "open_filter", "Filter"),
        Binding("enter", "open_selected", "Open"),
        Binding("pagedown", "page(1)", "Page"),
        Binding("pageup", "page(-1)", "Page", show=False),
        Binding("up", "move(0, -1)", show=False),
        Binding("down", "move(0, 1)", show=False),
        Binding("left", "move(-1, 0)", show=False),
        Binding("right", "move(1, 0)", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]

    def __init__(
        self,
        source: str = ALERTS,
        grid: int = 2,
        *,
        bytes_per_s: float = WALL_BYTES_PER_S,
        min_interval_s: float = MIN_TILE_INTERVAL_S,
        max_in_flight: int = MAX_IN_FLIGHT,
        snapshot_timeout_s: float = SNAPSHOT_TIMEOUT_S,
    ) -> None:
        super().__init__(id="wall-screen")
        self.source = source
        self.grid = grid if grid in GRIDS else GRIDS[0]
        self.page = 0
        self.selected = 0
        self.snapshot_timeout_s = snapshot_timeout_s
        self.pacer = WallPacer(max(1.0, bytes_per_s - TEXT_RESERVE_BYTES_PER_S),
                               max_in_flight=max_in_flight, min_interval_s=min_interval_s)
        self.cameras: list[str] = []  # all chosen cameras; the page shows a slice
        self.fetching = False  # False while covered or gone: no new requests
        self.requests = 0  # snapshot requests made (tests)
        self._busy: set[int] = set()  # tiles with a request out
        self._started: dict[int, float] = {}  # tile -> monotonic time of its last request
        self._source_before_filter = source

    @property
    def capp(self) -> CitywatchApp:
        return app_of(self)

    def compose(self) -> ComposeResult:
        yield Static(id="wall-title")
        with Grid(id="wall-grid"):
            for index in range(max(GRIDS) ** 2):
                yield WallTile(index, tz=self.capp.tz)
        yield Input(id="wall-filter", placeholder="filter: name, street, site or state — "
                    "Enter keeps, Esc clears")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self._choose(reset=True)
        self.set_interval(PACE_TICK_S, self._pace, name="wall pace")
        self.set_interval(FOLLOW_TICK_S, self._follow, name="wall follow")
        self.fetching = True

    def on_screen_suspend(self) -> None:
        self._stop_fetching()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.fetching = True
            self._follow()  # catch up on what changed while covered

    def on_unmount(self) -> None:
        self._stop_fetching()

    def _stop_fetching(self) -> None:
        """No new requests; those out are cancelled (their tiles try again later)."""
        self.fetching = False
        for index in self._busy:
            self._started.pop(index, None)  # cut short: its turn comes again at once
        self.workers.cancel_group(self, "wall-fetch")

    # the pieces -----------------------------------------------------------------------

    @property
    def tiles(self) -> list[WallTile]:
        return list(self.query(WallTile))

    @property
    def shown_tiles(self) -> list[WallTile]:
        return self.tiles[: self.grid**2]

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(len(self.cameras) / self.grid**2))

    def selected_tile(self) -> WallTile:
        return self.tiles[self.selected]

    # which cameras ------------------------------------------------------------------------

    def _choose(self, reset: bool = False) -> None:
        """Choose the cameras again; the tiles follow. `reset`: back to the first page."""
        capp = self.capp
        sites = {site.id: site.name for site in capp.sites}
        self.cameras = choose_cameras(self.source, capp.statuses, capp.alerts.values(), sites)
        if reset:
            self.page = 0
            self.pacer.reset_turns()
        self.page = min(self.page, self.page_count - 1)
        self._assign()

    def _assign(self) -> None:
        """Put the page's cameras on the tiles; show as many tiles as the grid has."""
        capp = self.capp
        size = self.grid**2
        grid = self.query_one("#wall-grid", Grid)
        grid.styles.grid_size_columns = self.grid
        grid.styles.grid_size_rows = self.grid
        page = self.cameras[self.page * size : (self.page + 1) * size]
        self.selected = min(self.selected, size - 1)
        for index, tile in enumerate(self.tiles):
            tile.display = index < size
            camera_id = page[index] if index < len(page) else None
            status = capp.statuses.get(camera_id) if camera_id is not None else None
            if tile.camera_id != (camera_id if status is not None else None):
                self._started.pop(index, None)  # a new camera: fetch at its turn
            site = capp.site_name(status.config.site) if status is not None else ""
            tile.set_camera(status, site)
            tile.select(index == self.selected)
        self._show_title()

    def _show_title(self) -> None:
        what = f"filter “{self.source}”"
        if self.source == ALERTS:
            alerted = latest_alert_cameras(self.capp.alerts.values())
            what = "latest alerts" if alerted else "no alerts: worst cameras first"
        text = Text(no_wrap=True, end="")
        text.append("Camera wall", style="bold")
        text.append(f"  {what} · {len(self.cameras)} cameras · page "
                    f"{self.page + 1}/{self.page_count} · {self.grid}x{self.grid}")
        self.query_one("#wall-title", Static).update(text)

    def _follow(self) -> None:
        """Timer: statuses into the headers, the alert cameras, the pictures' ages."""
        if not self.is_current:
            return  # covered: caught up on resume
        capp = self.capp
        sites = {site.id: site.name for site in capp.sites}
        chosen = choose_cameras(self.source, capp.statuses, capp.alerts.values(), sites)
        if chosen != self.cameras:
            self.cameras = chosen
            self.page = min(self.page, self.page_count - 1)
            self._assign()  # and the title (its count)
        now = capp.clock()
        for tile in self.shown_tiles:
            camera_id = tile.camera_id
            status = capp.statuses.get(camera_id) if camera_id is not None else None
            if status is not None and status != tile.status:
                tile.update_status(status)
            tile.refresh_age(now)

    # fetching ------------------------------------------------------------------------------

    def _pace(self) -> None:
        """Timer: start the requests the pacer allows now."""
        if not self.fetching or not self.is_current:
            return
        slots = []
        for tile in self.shown_tiles:
            cells = tile.image_cells()
            slots.append(TileSlot(
                index=tile.index,
                cost=redraw_cost(*cells),
                wanted=tile.status is not None and not tile.is_down() and cells[0] > 0,
                busy=tile.index in self._busy,
                last_started=self._started.get(tile.index),
            ))
        for index in self.pacer.due(slots, len(self._busy)):
            tile = self.tiles[index]
            camera_id = tile.camera_id
            if camera_id is None:
                continue
            self._busy.add(index)
            self._started[index] = self.pacer.clock()
            self.requests += 1
            self.run_worker(self._fetch(tile, camera_id, slots[index].cost),
                            group="wall-fetch", exit_on_error=False)

    async def _fetch(self, tile: WallTile, camera_id: str, cost: int) -> None:
        """One snapshot for one tile; a failure is the tile's caption, never a stall."""
        drawn = False
        try:
            try:
                async with asyncio.timeout(self.snapshot_timeout_s):
                    jpeg = await self.capp.client.camera_snapshot(camera_id)
            except TimeoutError:  # before OSError: TimeoutError is one
                reason: str | None = "timeout"
            except (HubError, OSError) as exc:
                reason = str(exc) or type(exc).__name__
            else:
                reason = None
            if tile.camera_id != camera_id:
                return  # the tile shows another camera by now
            if reason is not None:
                log.info("wall snapshot of %s failed: %s", camera_id, reason)
                tile.failed(reason)
                return
            await tile.show_snapshot(jpeg, self.capp.clock(), self.capp.clock())
            drawn = True
        finally:
            self._busy.discard(tile.index)
            if not drawn:
                self.pacer.refund(cost)  # a line of text, not a picture

    # actions ------------------------------------------------------------------------------

    def action_back(self) -> None:
        box = self.query_one("#wall-filter", Input)
        if box.display:
            self._close_filter(keep=False)
        else:
            self.dismiss()

    def action_grid(self, size: int) -> None:
        if size in GRIDS and size != self.grid:
            first = self.page * self.grid**2 + self.selected  # keep that camera in view
            self.grid = size
            self.page = first // size**2
            self.selected = first % size**2
            self._assign()

    def action_latest(self) -> None:
        self.source = ALERTS
        self._choose(reset=True)

    def action_page(self, step: int) -> None:
        page = (self.page + step) % self.page_count
        if page != self.page:
            self.page = page
            self._assign()

    def action_move(self, dx: int, dy: int) -> None:
        n = self.grid
        row, col = divmod(self.selected, n)
        row, col = (row + dy) % n, (col + dx) % n
        self._select(row * n + col)

    def _select(self, index: int) -> None:
        self.selected = index
        for tile in self.shown_tiles:
            tile.select(tile.index == index)

    def action_open_selected(self) -> None:
        camera_id = self.selected_tile().camera_id
        if camera_id is not None:
            self.capp.open_camera(camera_id)

    def action_open_filter(self) -> None:
        box = self.query_one("#wall-filter", Input)
        self._source_before_filter = self.source
        box.value = "" if self.source == ALERTS else self.source
        box.display = True
        box.focus()

    def _close_filter(self, keep: bool) -> None:
        box = self.query_one("#wall-filter", Input)
        box.display = False
        self.set_focus(None)
        if not keep:
            self.source = self._source_before_filter
            self._choose(reset=True)

    @on(Input.Changed, "#wall-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if event.input.display:
            self.source = event.value.strip() or ALERTS
            self._choose(reset=True)

    @on(Input.Submitted, "#wall-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self._close_filter(keep=True)

    @on(WallTile.Clicked)
    def _tile_clicked(self, event: WallTile.Clicked) -> None:
        again = event.tile.index == self.selected
        self._select(event.tile.index)
        if again or event.chain >= 2:
            self.action_open_selected()
