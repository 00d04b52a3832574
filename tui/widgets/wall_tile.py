"""One tile of the camera wall: a header in its border (state symbol, camera name, site),
the camera's snapshot in half-blocks (tui/widgets/plate_image.py draws it, decoding and
scaling in a thread), and a caption line: the picture's time and age, or why there is
none ("snapshot failed: timeout", "camera down: unreachable").

Only the image and the caption line repaint on their own: the header is in the border,
so a change to it repaints the whole tile (a state change or a selection, both rare).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Static

from hub.model import CameraStatus, HealthState
from tui.format import (
    FLAPPING_SYMBOL,
    STATE_STYLE,
    STATE_SYMBOL,
    age_label,
    clock_time,
    reason_label,
)
from tui.widgets.plate_image import PlateImage

# Ages are shown in steps this long below two minutes: a caption that changes every
# second would repaint nine lines a second for nothing an operator reads.
AGE_STEP_S = 10.0
SELECTED_MARK = "▶"  # the selected tile says so without colour too


def age_caption(taken_at: datetime, now: datetime, tz: tzinfo | None) -> str:
    """'09:30:00 · just now', '09:30:00 · 20 s ago', '09:30:00 · 3 min ago'."""
    age = max(0.0, (now - taken_at).total_seconds())
    if age < AGE_STEP_S:
        ago = "just now"
    else:
        shown = age if age >= 120 else age // AGE_STEP_S * AGE_STEP_S
        ago = f"{age_label(shown)} ago"
    return f"{clock_time(taken_at, tz)} · {ago}"


def header_text(status: CameraStatus | None, site_name: str, selected: bool) -> Text:
    """'▶ ✘ Havermarkt · Stad Hasselt': selection mark, state symbol, name, site."""
    text = Text(no_wrap=True, end="")
    if selected:
        text.append(f"{SELECTED_MARK} ", style="bold")
    if status is None:
        text.append("—", style="dim")
        return text
    state = status.shown_state
    text.append(STATE_SYMBOL.get(state, "?"), style=STATE_STYLE.get(state, ""))
    if status.flapping:
        text.append(FLAPPING_SYMBOL, style=STATE_STYLE.get(state, ""))
    text.append(f" {status.config.name}", style="bold")
    if site_name:
        text.append(f" · {site_name}", style="dim")
    return text


class CentredImage(PlateImage):
    """A PlateImage whose picture is centred in its cells (the tile is wider than the
    picture's aspect ratio allows)."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if not self.picture_size:
            return strip
        width = self.size.width
        top = max(0, (self.size.height - len(self._lines)) // 2)
        if y < top or y >= top + len(self._lines):
            return Strip.blank(width, self.rich_style)
        line = self._lines[y - top]
        left = max(0, (width - line.cell_length) // 2)
        pad = Strip.blank(left, self.rich_style)
        return Strip.join([pad, line]).extend_cell_length(width, self.rich_style)


class WallTile(Vertical):
    """One camera's picture on the wall; `set_camera` decides which one."""

    DEFAULT_CSS = """
    WallTile {
        border: round $primary-muted;
        border-title-color: $text;
        height: 1fr;
        width: 1fr;
    }
    WallTile.-selected {
        border: heavy $accent;
        border-title-style: bold;
    }
    WallTile > CentredImage {
        height: 1fr;
        width: 1fr;
    }
    WallTile > .tile-caption {
        height: 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    class Clicked(Message):
        """The tile was clicked; `chain` 2 is a double click."""

        def __init__(self, tile: WallTile, chain: int) -> None:
            super().__init__()
            self.tile = tile
            self.chain = chain

    def __init__(self, index: int, *, tz: tzinfo | None) -> None:
        super().__init__(id=f"tile-{index}")
        self.index = index
        self.tz = tz
        self.status: CameraStatus | None = None
        self.site_name = ""
        self.selected = False
        self.taken_at: datetime | None = None  # when the picture shown was fetched
        self.failure: str | None = None  # why there is no picture
        self.draws = 0  # pictures drawn (tests wait on it)
        self._caption = ""
        self._header: Text | None = None

    def compose(self) -> ComposeResult:
        yield CentredImage(what="wall snapshot")
        yield Static(classes="tile-caption")

    def on_mount(self) -> None:
        if self.status is None:  # no camera (yet): not "loading"
            self.image.show_message("")
            self._refresh_header()

    @property
    def camera_id(self) -> str | None:
        return None if self.status is None else self.status.id

    @property
    def image(self) -> CentredImage:
        return self.query_one(CentredImage)

    @property
    def caption(self) -> str:
        return self._caption

    @property
    def header(self) -> str:
        """The header in the border, as plain text."""
        return "" if self._header is None else self._header.plain

    def image_cells(self) -> tuple[int, int]:
        """(width, height) in cells of the picture area."""
        size = self.image.size
        return (size.width, size.height)

    def is_down(self) -> bool:
        return self.status is not None and self.status.state is HealthState.DOWN

    # what the tile shows --------------------------------------------------------------

    def set_camera(self, status: CameraStatus | None, site_name: str) -> None:
        """Show `status`'s camera; a different camera starts without a picture."""
        if self.camera_id != (None if status is None else status.id):
            self.taken_at = None
            self.failure = None
            if status is None:
                self.image.show_message("")
                self._set_caption("")
            else:
                self.image.show_message("loading snapshot…")
                self._set_caption("waiting for a turn")
        self.status = status
        self.site_name = site_name
        self._refresh_header()
        if self.is_down():
            self.camera_down()

    def update_status(self, status: CameraStatus) -> None:
        """The camera's status changed: its header, and no old picture of a down camera."""
        was_down = self.is_down()
        self.status = status
        self._refresh_header()
        if self.is_down() and not was_down:
            self.camera_down()
        elif was_down and not self.is_down():
            self.image.show_message("loading snapshot…")
            self._set_caption("back up: waiting for a turn")

    def select(self, selected: bool) -> None:
        if selected != self.selected:
            self.selected = selected
            self.set_class(selected, "-selected")
            self._refresh_header()

    def camera_down(self) -> None:
        """A down camera is not asked for pictures; an old one would pass for now."""
        assert self.status is not None
        reason = reason_label(self.status) if self.status.reason.value else "down"
        self.taken_at = None
        self.failure = f"camera down: {reason}"
        self.image.show_message(f"{STATE_SYMBOL[HealthState.DOWN]} camera down")
        self._set_caption(self.failure)

    async def show_snapshot(self, jpeg: bytes, at: datetime, now: datetime) -> None:
        """Draw `jpeg` fetched at `at` (the old picture stays until the new one is drawn)."""
        await self.image.show(jpeg, keep_old=True)
        self.draws += 1
        if self.image.picture_size is None:  # unreadable: PlateImage says so
            self.taken_at = None
            self.failure = "snapshot unreadable"
            self._set_caption(self.failure)
            return
        self.taken_at = at
        self.failure = None
        self._set_caption(age_caption(at, now, self.tz))

    def failed(self, reason: str) -> None:
        """No picture: an old one would pass for the current view."""
        self.draws += 1
        self.taken_at = None
        self.failure = f"snapshot failed: {reason}"
        self.image.show_message("no picture")
        self._set_caption(self.failure)

    def refresh_age(self, now: datetime) -> None:
        """Redraw the caption when the picture's age moved to the next step."""
        if self.taken_at is not None:
            self._set_caption(age_caption(self.taken_at, now, self.tz))

    def _set_caption(self, text: str) -> None:
        if text != self._caption:
            self._caption = text
            self.query_one(".tile-caption", Static).update(Text(text, no_wrap=True))

    def _refresh_header(self) -> None:
        header = header_text(self.status, self.site_name, self.selected)
        if header != self._header:  # a border title repaints the whole tile
            self._header = header
            self.border_title = header

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Clicked(self, event.chain))
