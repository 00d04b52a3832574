"""The cameras screen: counts at the top, the cameras table, a filter line, the footer.

Esc clears the filter first, then goes back (to the overview, the home screen)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Input

from hub.model import CameraStatus
from tui.app_of import app_of
from tui.format import STATE_RANK, matches
from tui.widgets.camera_table import CameraTable
from tui.widgets.summary import SteadyFooter, SummaryBar, summary_text

if TYPE_CHECKING:
    from tui.app import CitywatchApp

SortKey = Callable[[CameraStatus], Any]


def _by_name(s: CameraStatus) -> Any:
    return (s.config.name.lower(), s.id)


def _by_site(s: CameraStatus) -> Any:
    return (s.config.site, s.config.name.lower(), s.id)


def _by_state(s: CameraStatus) -> Any:
    return (STATE_RANK.get(s.shown_state, 9), s.config.site, s.config.name.lower(), s.id)


def _by_last_seen(s: CameraStatus) -> Any:
    # Stalest first: never seen, then the oldest sighting.
    seen = s.last_seen.timestamp() if s.last_seen is not None else float("-inf")
    return (seen, s.config.name.lower(), s.id)


SORTS: tuple[tuple[str, SortKey], ...] = (
    ("name", _by_name),
    ("site", _by_site),
    ("state", _by_state),
    ("last seen", _by_last_seen),
)


class CamerasScreen(Screen[None]):
    """Every camera in one table; live, sortable, filterable."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit", "Quit"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("slash", "open_filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter"),
        # When the filter is clear: back to the overview (the app's Esc; shown here so that
        # the footer says where Esc leads). A second binding of a key is only tried, and
        # shown, while the first is disabled.
        Binding("escape", "app.go_back", "Back"),
        Binding("m", "app.open_map", "Map"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]

    def __init__(self) -> None:
        super().__init__(id="cameras-screen")
        self.sort_index = 0
        self.filter_text = ""

    @property
    def capp(self) -> CitywatchApp:
        return app_of(self)

    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        capp = self.capp
        yield CameraTable(id="cameras", tz=capp.tz, recent=capp.recent, clock=capp.clock)
        yield Input(
            id="filter",
            placeholder="filter: name, site, model, state or reason — Esc clears",
        )
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.rebuild()

    def on_screen_resume(self) -> None:
        # Changes that came while another screen covered this one (see CitywatchApp).
        capp = self.capp
        if capp.covered_dirty and self.is_mounted:
            dirty, capp.covered_dirty = capp.covered_dirty, set()
            self.apply_changes(dirty)

    # the pieces ------------------------------------------------------------------------

    @property
    def table(self) -> CameraTable:
        return self.query_one("#cameras", CameraTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    @property
    def sort_name(self) -> str:
        return SORTS[self.sort_index][0]

    def _matches(self, status: CameraStatus) -> bool:
        return matches(status, self.filter_text, self.capp.site_name(status.config.site))

    def _visible(self) -> list[CameraStatus]:
        key = SORTS[self.sort_index][1]
        return sorted((s for s in self.capp.statuses.values() if self._matches(s)), key=key)

    # updates ---------------------------------------------------------------------------

    def rebuild(self) -> None:
        """Show the cameras that match the filter, in sort order (filter changes only)."""
        self.table.show(self._visible())
        self.refresh_summary()

    def apply_changes(self, camera_ids: Iterable[str]) -> None:
        """Patch the rows of changed cameras; nothing moves under the cursor.

        A camera that starts to match the filter is appended at the bottom; one that
        stops matching stays (with its new state) until the filter or sort changes.
        """
        table = self.table
        statuses = self.capp.statuses
        for camera_id in camera_ids:
            status = statuses.get(camera_id)
            if status is None:  # the camera left the hub
                if table.has_camera(camera_id):
                    table.remove_camera(camera_id)
                continue
            if table.has_camera(camera_id):
                table.update_camera(status)
            elif self._matches(status):
                table.add_camera(status)
        self.refresh_summary()

    def refresh_summary(self) -> None:
        capp = self.capp
        text = summary_text(
            capp.title,
            capp.statuses.values(),
            capp.sites,
            sort_label=self.sort_name,
            filter_text=self.filter_text,
            shown=self.table.row_count,
        )
        self.query_one("#summary", SummaryBar).show_summary(text)

    # actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            # Only offered (and shown in the footer) while there is a filter to clear.
            return bool(self.filter_text or self.filter_input.display)
        return True

    def action_cycle_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        key = SORTS[self.sort_index][1]
        statuses = self.capp.statuses

        def by_id(camera_id: str) -> Any:
            status = statuses.get(camera_id)
            return key(status) if status is not None else ()

        self.table.sort_cameras(by_id)
        self.refresh_summary()  # the summary line names the sort; no toast needed

    def action_open_filter(self) -> None:
        box = self.filter_input
        box.display = True
        box.focus()
        self.refresh_bindings()

    def action_clear_filter(self) -> None:
        box = self.filter_input
        box.display = False
        self.table.focus()
        had_filter = bool(self.filter_text)
        self.filter_text = ""
        box.value = ""  # its Changed message then finds nothing to do
        if had_filter:
            self.rebuild()
        self.refresh_bindings()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if event.value == self.filter_text:
            return
        self.filter_text = event.value
        self.rebuild()
        self.refresh_bindings()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.filter_input.display = False
        self.table.focus()

    @on(DataTable.RowSelected, "#cameras")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.capp.open_camera(event.row_key.value)
