"""A camera's snapshot drawn in half-blocks, with a caption: when it was taken, its size,
or why there is none ("snapshot failed: ...")."""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.format import clock_time
from tui.widgets.plate_image import PlateImage


class SnapshotView(Vertical):
    """`show` a JPEG (decoded and scaled in a thread), or `failed` with a reason."""

    DEFAULT_CSS = """
    SnapshotView {
        height: auto;
    }
    SnapshotView > PlateImage {
        height: 8;
        width: 1fr;
    }
    SnapshotView > #snapshot-caption {
        height: 1;
        color: $text-muted;
    }
    """

    def compose(self) -> ComposeResult:
        yield PlateImage(id="snapshot-image", what="snapshot")
        yield Static(id="snapshot-caption")

    @property
    def image(self) -> PlateImage:
        return self.query_one("#snapshot-image", PlateImage)

    @property
    def ready(self) -> bool:
        """True once a snapshot (or a failure) is on screen."""
        return self.image.ready and bool(self.image.picture_size or self.image.message)

    def show_loading(self) -> None:
        self.image.show_message("loading snapshot…")

    async def show(self, jpeg: bytes, at: datetime, tz: tzinfo | None) -> None:
        """Draw `jpeg` taken at `at`; the previous picture stays until it is drawn."""
        await self.image.show(jpeg, keep_old=True)
        size = self.image.picture_size
        caption = Text(f"{clock_time(at, tz)}")
        if size is not None:
            caption.append(f" · {size[0]}x{size[1]}")
        caption.append(" · s refresh", style="dim")
        self.query_one("#snapshot-caption", Static).update(caption)

    def failed(self, reason: str) -> None:
        """No picture: an old one would pass for the current view."""
        self.image.show_message(f"snapshot failed: {reason}")
        self.query_one("#snapshot-caption", Static).update(Text("s retry", style="dim"))
