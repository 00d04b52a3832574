"""The row table both plate lists (alerts, reads) build on: one row per object, Enter
opens it, times shown in the app's zone, cameras by name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable


class PlateTable(DataTable[Text]):
    """A zebra-striped row-cursor table keyed by object id, with the camera-name lookup."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Detail", show=True),
    ]

    def __init__(
        self,
        *,
        tz: tzinfo | None = None,
        camera_name: Callable[[str], str] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(
            id=id, zebra_stripes=True, cursor_type="row", cell_padding=1, show_row_labels=False
        )
        self.tz = tz
        self.camera_name: Callable[[str], str] = camera_name or (lambda camera_id: camera_id)
