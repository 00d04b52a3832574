"""Reads in a table: time, plate, camera, confidence, country, geotag. Results of a
search are replaced as a whole (a new pattern is a new list, at most a few hundred)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import events
from textual.widgets.data_table import CellDoesNotExist

from hub.alpr_model import Read
from tui.widgets.alpr_text import cell, confidence_label, geotag_label, read_time
from tui.widgets.plate_table import PlateTable

# key, label, width; the camera column takes what is left (18 at 80 columns, less the
# scrollbar: 19+10+4+4+12 + 6 columns of padding = 61).
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("time", "Time", 19),
    ("plate", "Plate", 10),
    ("camera", "Camera", 14),
    ("conf", "Conf", 4),
    ("country", "Ctry", 4),
    ("geotag", "Geotag", 12),
)
PADDING = 2
CAMERA_MAX = 40  # wider names add nothing
CAMERA_MIN = 8


class ReadTable(PlateTable):
    """Reads by row key = str(read id); `show` replaces the rows."""

    def __init__(self, **kwargs: Any) -> None:  # PlateTable's keywords
        super().__init__(**kwargs)
        self._reads: dict[int, Read] = {}
        self._camera_width = 0

    def on_mount(self) -> None:
        # The terminal's width is a first guess; on_resize corrects it.
        self.fit_columns(self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self.fit_columns(event.size.width)

    def fit_columns(self, width: int) -> None:
        """Give the camera column what the others leave; rebuild only if that changed
        (a resize: rare, and a result list is short)."""
        fixed = sum(w + PADDING for key, _, w in COLUMNS if key != "camera")
        scrollbar = self.styles.scrollbar_size_vertical or 0
        camera = max(CAMERA_MIN, min(CAMERA_MAX, width - scrollbar - fixed - PADDING))
        if camera == self._camera_width and self.columns:
            return
        self._camera_width = camera
        reads = list(self._reads.values())
        self.clear(columns=True)
        for key, label, w in COLUMNS:
            self.add_column(label, key=key, width=camera if key == "camera" else w)
        self.show(reads)

    def cells_for(self, read: Read) -> list[Text]:
        name = self.camera_name(read.camera_id) or read.camera_id
        return [
            cell(read_time(read, self.tz, wide=True)),
            cell(read.plate, "bold"),
            cell(name),
            cell(confidence_label(read.confidence), justify="right"),
            cell(read.country or "—"),
            cell(geotag_label(read)),
        ]

    def show(self, reads: Iterable[Read]) -> None:
        self.clear()
        self._reads.clear()
        for read in reads:
            self._reads[read.id] = read
            self.add_row(*self.cells_for(read), key=str(read.id))
        self.move_cursor(row=0, animate=False, scroll=True)

    def read(self, read_id: int) -> Read | None:
        return self._reads.get(read_id)

    @property
    def current(self) -> Read | None:
        if self.row_count == 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return None if row_key.value is None else self._reads.get(int(row_key.value))

    def row_ids(self) -> list[int]:
        return [int(row.key.value) for row in self.ordered_rows if row.key.value is not None]
