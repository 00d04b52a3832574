"""Loaded hotlists and the wanted plates; n adds a wanted plate, d ends one.

A new wanted plate is searched back through the recent reads by the hub; what it found
is shown here at once ("seen 3 times: …"), Enter on one opens the read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.widgets.data_table import CellDoesNotExist

from hub.alpr_model import HotlistInfo, Read, WantedPlate
from tui.app_of import app_of
from tui.format import full_time
from tui.widgets.alpr_text import COVERT_MARK, cell, short_time
from tui.widgets.confirm import Confirm
from tui.widgets.read_table import ReadTable
from tui.widgets.wanted_form import Added, WantedForm

if TYPE_CHECKING:
    from tui.app import CitywatchApp

# key, label, width: 10+28+12+19 + 8 padding fits 80 columns inside the panel border.
WANTED_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("plate", "Plate", 10),
    ("reason", "Reason", 28),
    ("by", "By", 10),
    ("expires", "Expires", 19),
)
# How many search-back reads are named in the one-line summary.
SUMMARY_READS = 3


def searchback_text(
    wanted: WantedPlate, seen: list[Read], camera_name: Callable[[str], str], tz: tzinfo | None
) -> Text:
    """'1ABC234 is wanted. Seen 3 times: 03-14 09:29 Ring R70 Noord ALPR, …'."""
    text = Text(end="")
    text.append(wanted.plate, style="bold")
    text.append(" is wanted. ")
    if not seen:
        text.append("Not seen in the recent reads.", style="dim")
        return text
    times = "once" if len(seen) == 1 else f"{len(seen)} times"
    text.append(f"Seen {times}", style="bold")
    named = [f"{short_time(r.at, tz)} {camera_name(r.camera_id)}" for r in seen[:SUMMARY_READS]]
    text.append(": " + ", ".join(named))
    if len(seen) > SUMMARY_READS:
        text.append(", …")
    return text


class HotlistsScreen(Screen[None]):
    """Two tables (hotlists, wanted plates) and the last search-back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("n", "add_wanted", "New wanted"),
        Binding("d", "remove_wanted", "Remove wanted"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]

    def __init__(self, add_plate: str | None = None) -> None:
        """`add_plate`: open the wanted-plate form at once with this plate filled in ("" for
        an empty form; the command palette's "Add wanted plate")."""
        super().__init__(id="hotlists-screen")
        self.wanted: list[WantedPlate] = []
        self.wanted_loaded = False
        self.last_added: Added | None = None
        self._add_plate = add_plate

    @property
    def capp(self) -> CitywatchApp:
        return app_of(self)

    def compose(self) -> ComposeResult:
        capp = self.capp
        with Vertical(id="hotlists-panel", classes="alpr-panel"):
            yield DataTable[Text](id="hotlists", cursor_type="row", zebra_stripes=True)
        with Vertical(id="wanted-panel", classes="alpr-panel"):
            yield DataTable[Text](id="wanted", cursor_type="row", zebra_stripes=True)
        with Vertical(id="searchback-panel", classes="alpr-panel"):
            yield Static(id="searchback")
            yield ReadTable(id="searchback-reads", tz=capp.tz, camera_name=capp.camera_name)
        yield Footer()

    @property
    def wanted_table(self) -> DataTable[Text]:
        return self.query_one("#wanted", DataTable)

    @property
    def searchback_reads(self) -> ReadTable:
        return self.query_one("#searchback-reads", ReadTable)

    def on_mount(self) -> None:
        self.query_one("#hotlists-panel").border_title = "Hotlists"
        self.query_one("#wanted-panel").border_title = "Wanted plates"
        self.query_one("#searchback-panel").display = False
        hotlists = self.query_one("#hotlists", DataTable)
        for key, label in (
            ("name", "List"),
            ("entries", "Entries"),
            ("covert", "Covert"),
            ("loaded", "Loaded"),
            ("rejected", "Rejected"),
        ):
            hotlists.add_column(label, key=key)
        # Fixed widths: rows come and go, auto widths would not follow.
        for key, label, width in WANTED_COLUMNS:
            self.wanted_table.add_column(label, key=key, width=width)
        try:
            lists = self.capp.client.hotlists()
        except Exception as exc:
            self.capp.report_error("loading hotlists", exc)
            lists = []
        for info in lists:
            hotlists.add_row(*self.hotlist_cells(info), key=info.name)
        self.query_one("#hotlists-panel").border_subtitle = f"{len(lists)} loaded"
        self.reload_wanted()
        self.wanted_table.focus()
        if self._add_plate is not None:
            # After the first refresh: the form opens over this screen, not before it.
            self.call_after_refresh(self.open_wanted_form, self._add_plate)

    def hotlist_cells(self, info: HotlistInfo) -> list[Text]:
        tz = self.capp.tz
        covert = f"{COVERT_MARK} covert" if info.covert else "—"
        rejected = f"{info.rejected} lines" if info.rejected else "—"
        return [
            cell(info.name, "bold"),
            cell(f"{info.entries:,}", justify="right"),
            cell(covert, "bold" if info.covert else "dim"),
            cell(full_time(info.loaded_at, tz)),
            cell(rejected, "orange1" if info.rejected else "dim", justify="right"),
        ]

    def wanted_cells(self, wanted: WantedPlate) -> list[Text]:
        return [
            cell(wanted.plate, "bold"),
            cell(wanted.reason),
            cell(wanted.created_by),
            cell(full_time(wanted.expires_at, self.capp.tz)),
        ]

    # wanted plates ---------------------------------------------------------------------

    def reload_wanted(self) -> None:
        self.run_worker(self._load_wanted(), group="wanted", exclusive=True)

    async def _load_wanted(self) -> None:
        try:
            wanted = await self.capp.client.wanted()
        except Exception as exc:
            self.capp.report_error("loading wanted plates", exc)
            return
        self.wanted = list(wanted)
        table = self.wanted_table
        table.clear()  # a handful of rows, changed by this operator only
        for item in self.wanted:
            table.add_row(*self.wanted_cells(item), key=str(item.id))
        self.query_one("#wanted-panel").border_subtitle = f"{len(self.wanted)} active"
        self.wanted_loaded = True

    @property
    def current_wanted(self) -> WantedPlate | None:
        table = self.wanted_table
        if table.row_count == 0:
            return None
        try:
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return next((w for w in self.wanted if str(w.id) == row_key.value), None)

    async def action_add_wanted(self) -> None:
        await self.open_wanted_form()

    async def open_wanted_form(self, plate: str = "") -> WantedForm:
        """The wanted-plate form; with `plate` filled in, typing starts at the reason."""
        form = WantedForm()
        await self.app.push_screen(form, self._added)
        if plate:
            form.query_one("#wanted-plate", Input).value = plate
            form.query_one("#wanted-reason", Input).focus()
        return form

    def _added(self, added: Added | None) -> None:
        if added is None:
            return
        self.last_added = added
        wanted, seen = added
        text = searchback_text(wanted, seen, self.capp.camera_name, self.capp.tz)
        self.query_one("#searchback", Static).update(text)
        panel = self.query_one("#searchback-panel")
        panel.border_title = f"Search-back · {wanted.plate}"
        panel.display = True
        reads = self.searchback_reads
        reads.display = bool(seen)
        reads.show(seen)
        self.reload_wanted()

    def action_remove_wanted(self) -> None:
        wanted = self.current_wanted
        if wanted is None:
            self.notify("No wanted plate selected.", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._remove(wanted), group="remove")

        question = f"Stop looking for {wanted.plate} ({wanted.reason})?"
        self.app.push_screen(Confirm(question, "Remove wanted plate"), answered)

    async def _remove(self, wanted: WantedPlate) -> None:
        capp = self.capp
        try:
            await capp.client.remove_wanted(wanted.id, capp.operator)
        except Exception as exc:
            capp.report_error(f"removing wanted plate {wanted.plate}", exc)
            return
        await self._load_wanted()

    @on(DataTable.RowSelected, "#searchback-reads")
    def _read_selected(self, event: DataTable.RowSelected) -> None:
        from tui.screens.reads import ReadDetailScreen

        if event.row_key.value is None:
            return
        read = self.searchback_reads.read(int(event.row_key.value))
        if read is not None:
            self.app.push_screen(ReadDetailScreen(read))

    def action_back(self) -> None:
        self.dismiss()
