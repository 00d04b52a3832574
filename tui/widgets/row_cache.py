"""A DataTable with per-row render caches and cheap row placement (the cameras table and
the alert queue build on it)."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text, TextType
from textual._two_way_dict import TwoWayDict
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.widgets import DataTable
from textual.widgets._data_table import Row
from textual.widgets.data_table import ColumnKey, RowKey

SegmentLines = list[list[Segment]]


class RowCacheTable(DataTable[Text]):
    """A DataTable whose render caches are kept per row, and whose rows can be placed
    in any order without measuring them (every column here has a fixed width).

    DataTable keys its cell, row and line caches on one table-wide update counter: any
    cell update (20/s in a 1,000-camera city) or added row throws away every rendered
    cell, so each key press then renders the whole visible table again, and `add_row`
    measures every cell of every new row. Here the cell and row caches are keyed by the
    row's index and its own version instead. Textual has no public API for this, hence
    its private fields (Textual 8.x, pinned).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._row_versions: dict[RowKey, int] = {}

    # render caches ---------------------------------------------------------------------

    def _row_version(self, row_key: RowKey, row_index: int) -> tuple[RowKey, int, int]:
        # The row's key too: DataTable caches a row's renderables by index alone.
        return (row_key, row_index, self._row_versions.get(row_key, 0))

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> SegmentLines:
        found = (self._header_row_key if row_index == -1
                 else self._row_locations.get_key(row_index))
        row_key = found if found is not None else self._header_row_key
        table_wide = self._update_count
        self._update_count = self._row_version(row_key, row_index)  # type: ignore[assignment]
        try:
            return super()._render_cell(row_index, column_index, base_style, width,
                                        cursor, hover)
        finally:
            self._update_count = table_wide

    def _render_line_in_row(self, row_key: RowKey, line_no: int, base_style: Style,
                            cursor_location: Coordinate, hover_location: Coordinate,
                            ) -> tuple[SegmentLines, SegmentLines]:
        found = self._row_locations.get(row_key)
        row_index = -1 if found is None else found
        table_wide = self._update_count
        self._update_count = self._row_version(row_key, row_index)  # type: ignore[assignment]
        try:
            return super()._render_line_in_row(row_key, line_no, base_style,
                                               cursor_location, hover_location)
        finally:
            self._update_count = table_wide

    # cells and rows --------------------------------------------------------------------

    def set_cell(self, row_key: str, column_key: str, value: Text) -> None:
        """Set one cell and repaint only its row, and only if that row is on screen.

        DataTable.update_cell ends in a whole-widget refresh: every visible row is
        rendered again and re-sent to the terminal (~12 KB at 80x24; 20 changes/s in a
        1,000-camera city made 25 KB/s over SSH for rows nobody could see).
        """
        key = RowKey(row_key)
        self._data[key][ColumnKey(column_key)] = value
        self._row_versions[key] = self._row_versions.get(key, 0) + 1
        self._line_cache.clear()  # keyed by screen line: cheap to rebuild from the rows
        # refresh_row would sum the heights of every row above (O(rows) per cell, 1,000
        # rows); ours are all one line high.
        y = (self._row_locations.get(key) or 0) + (self.header_height if self.show_header else 0)
        row = Region(0, y, max(self.size.width, self.virtual_size.width), 1)
        if self.window_region.overlaps(row):  # off screen: nothing to send
            self.refresh(row.translate(-self.scroll_offset))

    def update_cell(
        self,
        row_key: RowKey | str,
        column_key: ColumnKey | str,
        value: Text,
        *,
        update_width: bool = False,
    ) -> None:
        """DataTable.update_cell, repainting only the cell's row (see set_cell)."""
        if update_width:
            self._bump(RowKey(str(getattr(row_key, "value", row_key))))
            super().update_cell(row_key, column_key, value, update_width=True)
            return
        self.set_cell(str(getattr(row_key, "value", row_key)),
                      str(getattr(column_key, "value", column_key)), value)

    def add_row(self, *cells: Text, height: int | None = 1, key: str | None = None,
                label: TextType | None = None) -> RowKey:
        if key is not None:
            self._bump(RowKey(key))  # a key used before: its old renders are stale
        return super().add_row(*cells, height=height, key=key, label=label)

    def _bump(self, key: RowKey) -> None:
        self._row_versions[key] = self._row_versions.get(key, 0) + 1

    def put_row(self, key: str, cells: list[Text]) -> None:
        """Add or replace a one-line row's cells without placing or measuring it;
        `place_rows` then puts every row in order."""
        row_key = RowKey(key)
        self._data[row_key] = dict(zip(self.columns, cells, strict=True))
        if row_key not in self.rows:
            self.rows[row_key] = Row(row_key, 1)
        self._bump(row_key)

    def place_rows(self, keys: list[str]) -> None:
        """Show exactly these rows (put before), in this order; others are dropped.

        One pass over the rows instead of DataTable.sort/remove_row (each O(rows)) and
        add_row's measuring of every cell (~0.1 ms a row): merging a thousand alerts
        into the queue took a good part of a second.
        """
        wanted = [RowKey(k) for k in keys]
        for row_key in set(self.rows) - set(wanted):
            del self.rows[row_key]
            del self._data[row_key]
        self._row_locations = TwoWayDict({key: i for i, key in enumerate(wanted)})
        self._update_count += 1  # row offsets and order changed
        self._line_cache.clear()
        header = self.header_height if self.show_header else 0
        width = sum(c.get_render_width(self) for c in self.columns.values())
        self.virtual_size = Size(width + self._row_label_column_width, len(wanted) + header)
        self.refresh()
