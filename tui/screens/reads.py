"""Search the recent reads as you type; Enter shows one read with its plate crop.

Each keystroke restarts one debounced search worker (exclusive: the previous search is
cancelled), and a result is only shown if it answers the latest text, so a slow answer
to an earlier keystroke can never overwrite a newer one.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from hub.alpr_model import ImageKind, Read
from hub.errors import SearchPatternError
from tui.app_of import app_of
from tui.widgets.alpr_text import kv, read_rows
from tui.widgets.plate_image import PlateImage
from tui.widgets.read_table import ReadTable

if TYPE_CHECKING:
    from tui.app import CitywatchApp

# Wait this long after a keystroke before searching: typing "1ABC" is one search.
DEBOUNCE_S = 0.15
# Results shown for one pattern; the hub sorts newest first.
SEARCH_LIMIT = 100
HINT = "type at least 3 characters or a prefix like 1AB*"


def count_text(pattern: str, count: int) -> Text:
    if not count:
        return Text(f"no reads match {pattern}", style="dim", end="")
    more = "+" if count >= SEARCH_LIMIT else ""
    plural = "" if count == 1 else "s"
    return Text(f"{count}{more} read{plural} match {pattern}, newest first", end="")


def error_text(message: str) -> Text:
    text = Text(f"✘ {message}", style="bold red", end="")
    text.append(f" — {HINT}", style="")
    return text


class ReadsScreen(Screen[None]):
    """An input line, the reads that match it, a message line."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("down", "to_results", "Results", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]

    def __init__(self, query: str = "") -> None:
        """`query`: text to type and search at once (the command palette's
        "Search reads for 1AB")."""
        super().__init__(id="reads-screen")
        self.pattern = ""  # the text the shown results (or error) answer
        self.searches = 0  # searches that reached the hub
        self._latest = ""  # the text typed last
        self._initial_query = query

    @property
    def capp(self) -> CitywatchApp:
        return app_of(self)

    def compose(self) -> ComposeResult:
        capp = self.capp
        yield Input(id="reads-query", placeholder="plate, fragment or pattern: 1AB*, *23?, ABC")
        yield Static(Text(HINT, style="dim"), id="reads-message")
        yield ReadTable(id="reads", tz=capp.tz, camera_name=capp.camera_name)
        yield Footer()

    @property
    def table(self) -> ReadTable:
        return self.query_one("#reads", ReadTable)

    @property
    def message(self) -> Static:
        return self.query_one("#reads-message", Static)

    def on_mount(self) -> None:
        box = self.query_one("#reads-query", Input)
        box.border_title = "Find reads"
        box.focus()
        if self._initial_query:
            self.search_for(self._initial_query)

    def search_for(self, text: str) -> None:
        """Type `text` into the search line (replacing what is there): it is searched as if
        typed, and the cursor waits at its end for more."""
        box = self.query_one("#reads-query", Input)
        box.value = text
        box.cursor_position = len(text)
        box.focus()

    @on(Input.Changed, "#reads-query")
    def _changed(self, event: Input.Changed) -> None:
        text = event.value.strip()
        if text == self._latest:
            return
        self._latest = text
        if not text:
            self.workers.cancel_group(self, "search")
            self.pattern = ""
            self.table.show([])
            self.message.update(Text(HINT, style="dim"))
            return
        self.run_worker(self._search(text), group="search", exclusive=True)

    async def _search(self, text: str) -> None:
        await asyncio.sleep(DEBOUNCE_S)
        if text != self._latest:
            return
        self.searches += 1
        try:
            reads = await self.capp.client.search_reads(text, limit=SEARCH_LIMIT)
        except SearchPatternError as exc:
            if text == self._latest:
                self.pattern = text
                self.table.show([])
                self.message.update(error_text(str(exc)))
            return
        except Exception as exc:
            self.capp.report_error("searching reads", exc)
            return
        if text != self._latest:
            return  # an answer to an older keystroke
        self.pattern = text
        self.table.show(reads)
        self.message.update(count_text(text, len(reads)))

    @on(Input.Submitted, "#reads-query")
    def _submitted(self, event: Input.Submitted) -> None:
        self.action_to_results()

    def action_to_results(self) -> None:
        if self.table.row_count:
            self.table.focus()

    @on(DataTable.RowSelected, "#reads")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is None:
            return
        read = self.table.read(int(event.row_key.value))
        if read is not None:
            self.app.push_screen(ReadDetailScreen(read))

    def action_back(self) -> None:
        # From the results, Esc goes back to typing; from the input, back out.
        if self.table.has_focus:
            self.query_one("#reads-query", Input).focus()
        else:
            self.dismiss()


class ReadDetailScreen(Screen[None]):
    """One read: the plate crop and everything the hub knows about the read."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self, read: Read) -> None:
        super().__init__(id="read-detail-screen")
        self.read = read

    @property
    def capp(self) -> CitywatchApp:
        return app_of(self)

    @property
    def image(self) -> PlateImage:
        return self.query_one("#read-crop", PlateImage)

    def compose(self) -> ComposeResult:
        with Container(classes="alpr-detail"):
            yield PlateImage(id="read-crop", classes="crop")
            with VerticalScroll(classes="alpr-info"):
                yield Static(id="read-info")
        yield Footer()

    def on_mount(self) -> None:
        self.image.border_title = "Plate"
        capp = self.capp
        self.query_one("#read-info", Static).update(
            kv(read_rows(self.read, capp.camera_name, capp.tz))
        )
        self.run_worker(self._load_image(), group="image", exclusive=True)

    async def _load_image(self) -> None:
        try:
            data = await self.capp.client.read_image(self.read.id, ImageKind.CROP)
        except Exception as exc:  # a broken hub must not take the UI down
            self.capp.report_error(f"image of read {self.read.id}", exc)
            data = None
        await self.image.show(data)

    def action_back(self) -> None:
        self.dismiss()
