"""A DataTable with per-row render caches and cheap row placement (the cameras table and
the alert queue build on it)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text, TextType
from textual._two_way_dict import TwoWayDict
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.renderables.styled import Styled
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets._data_table import Row
from textual.widgets.data_table import ColumnKey, RowKey

SegmentLines = list[list[Segment]]

# Rendered cells kept by what they show (text, styles, width), whatever row they are in:
# a sort or a screen switch moves rows to new indices, and most cells (states, sites,
# models, clock times) look like cells rendered before. 200x60 shows ~600 cells; the
# zebra stripes and the cursor make up to ~4 looks of each.
LOOK_CACHE_SIZE = 8192
# Rows' cells kept by the row's look (key, version, zebra colour, cursor, widths) wherever
# the row is: a screen of rows (60 at 200x60) in a few looks each (cursor, stripe), for
# the rows of several sorts and both screens' worth of alerts.
PLAIN_ROW_CACHE_SIZE = 2048
# Mouse meta styles by (row, column): the cells of the rows on screen and some around.
META_CACHE_SIZE = 4096


def text_look(cell: object) -> Hashable | None:
    """Everything that decides how a Text cell renders; None for other renderables."""
    if not isinstance(cell, Text):
        return None
    return (cell.plain, cell.style, tuple(cell.spans), cell.justify, cell.overflow,
            cell.no_wrap, cell.end, cell.tab_size)


def one_line_cell(console: Console, options: ConsoleOptions, cell: Text, width: int,
                  padding: int, pre_style: Style, post_style: Style) -> SegmentLines | None:
    """What DataTable renders for a one-line Text cell (`console.render_lines` of
    Styled(Padding(cell, (0, padding)), pre_style, post_style), `options` of height 1
    and no_wrap), by the same Rich steps without the renderable protocol around them:
    ~4x faster. None for what it does not cover (tabs, line breaks, no room)."""
    inner = width - 2 * padding
    plain = cell.plain
    if inner < 1 or cell.end not in ("", "\n") or "\n" in plain or "\t" in plain:
        return None
    null = console.get_style("none")  # Padding's style
    segments = list(cell.__rich_console__(console, options.update_width(inner)))
    line = next(iter(Segment.split_and_crop_lines(segments, inner, pad=True, style=null,
                                                  include_new_lines=False)),
                None)
    if line is None:
        return None
    if padding:
        pad = Segment(" " * padding, null)
        line = [pad, *line, pad]
    styled = list(Segment.apply_style(line, pre_style or None, post_style or None))
    return [list(Segment.adjust_line_length(styled, width))]


def with_meta(line: list[Segment], meta: Style) -> list[Segment]:
    """The line with `meta` added to every style, as DataTable adds a cell's mouse meta
    (to its pre-style, which ends up in every segment but control codes)."""
    return [Segment(text, None if control else (style + meta if style else meta), control)
            for text, style, control in line]


class RowCacheTable(DataTable[Text]):
    """A DataTable whose render caches are kept per row, and whose rows can be placed
    in any order without measuring them (every column here has a fixed width).

    DataTable keys its cell, row and line caches on one table-wide update counter: any
    cell update (20/s in a 1,000-camera city) or added row throws away every rendered
    cell, so each key press then renders the whole visible table again, and `add_row`
    measures every cell of every new row. Here the cell and row caches are keyed by the
    row's index and its own version instead; below those, rendered cells are kept by
    their look (see `text_look`), so a row that moved (sort, new alerts above it) reuses
    its cells, and new one-line cells skip most of Rich's machinery (`one_line_cell`);
    a style update that changes nothing (every screen switch) keeps the caches. Textual
    has no public API for this, hence its private fields (Textual 8.2.8, pinned).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before DataTable's __init__: its watchers clear the caches already.
        self._row_styles: dict[tuple[str, Style], Style] = {}
        self._look_cache: LRUCache[Hashable, SegmentLines] = LRUCache(LOOK_CACHE_SIZE)
        self._plain_rows: LRUCache[Hashable, SegmentLines] = LRUCache(PLAIN_ROW_CACHE_SIZE)
        self._metas: LRUCache[tuple[int, int], Style] = LRUCache(META_CACHE_SIZE)
        super().__init__(*args, **kwargs)
        self._row_versions: dict[RowKey, int] = {}
        self._styles_seen: Hashable | None = None  # what the cached renders were drawn with
        self._styles_to_check = False

    # styles ----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        """Keep the render caches unless the styles really changed (checked on render).

        DataTable drops every cache on each style update, and Textual sends one to the
        tables of both screens on every screen switch (focus, :blur), for styles that
        come out the same: ~600 cells rendered again at 200x60 per `a` or Esc.
        """
        Widget.notify_style_update(self)  # its own style caches; DataTable's are below
        self._styles_cache.clear()
        self._get_styles_to_render_cell.cache_clear()
        self._row_styles.clear()
        self._styles_to_check = True
        self.refresh()

    def _styles_drawn_with(self) -> Hashable:
        """Every style the cached renders depend on."""
        components = sorted(self.COMPONENT_CLASSES)
        return (
            self.rich_style,
            self.background_colors,
            tuple(self.get_component_rich_style(name) for name in components),
            tuple(self.get_component_styles(name).rich_style for name in components),
        )

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._styles_to_check:
            self._styles_to_check = False
            styles = self._styles_drawn_with()
            if styles != self._styles_seen:
                self._styles_seen = styles
                self._clear_caches()
        return super().render_lines(crop)

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._look_cache.clear()
        self._plain_rows.clear()
        self._row_styles.clear()

    # render caches ---------------------------------------------------------------------

    def _row_version(self, row_key: RowKey, row_index: int) -> tuple[RowKey, int, int]:
        # The row's key too: DataTable caches a row's renderables by index alone.
        return (row_key, row_index, self._row_versions.get(row_key, 0))

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> SegmentLines:
        """DataTable._render_cell (Textual 8.2.8), cached per row version, and below that
        by look: the row and column (mouse meta) are added to a cell rendered once."""
        row_key = self._row_key_at(row_index)
        column_key = self._column_locations.get_key(column_index)
        # DataTable's key, its table-wide update count replaced by the row's version.
        key: Any = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor,
                    self._row_version(row_key, row_index), self._pseudo_class_state)
        cached = self._cell_render_cache.get(key)
        if cached is None:
            plain = self._cell_look(row_index, column_index, base_style, width, cursor, hover)
            cached = [with_meta(line, self._cell_meta(row_index, column_index))
                      for line in plain]
            self._cell_render_cache[key] = cached
        return cached

    def _row_key_at(self, row_index: int) -> RowKey:
        found = self._header_row_key if row_index == -1 else self._row_locations.get_key(row_index)
        return found if found is not None else self._header_row_key

    def _cell_meta(self, row_index: int, column_index: int) -> Style:
        """The mouse meta DataTable gives a cell (which cell a click is on); the same
        Style object each time, so that Rich's cache of added styles finds it."""
        key = (row_index, column_index)
        meta = self._metas.get(key)
        if meta is None:
            meta = self._metas[key] = Style.from_meta({"row": row_index, "column": column_index})
        return meta

    def _cell_look(self, row_index: int, column_index: int, base_style: Style, width: int,
                   cursor: bool, hover: bool) -> SegmentLines:
        """A cell's lines as DataTable renders them, less the mouse meta."""
        is_header = row_index == -1
        is_label = column_index == -1
        row_key = self._row_key_at(row_index)
        table_wide = self._update_count
        # DataTable caches a row's renderables by (update count, index): by version here.
        self._update_count = self._row_version(row_key, row_index)  # type: ignore[assignment]
        try:
            row_label, row_cells = self._get_row_renderables(row_index)
        finally:
            self._update_count = table_wide
        cell = (row_label if row_label is not None else "") if is_label else row_cells[column_index]
        is_fixed = (not is_header and not is_label
                    and (row_index < self.fixed_rows or column_index < self.fixed_columns))
        component_style, post_style = self._get_styles_to_render_cell(
            is_header, is_label, is_fixed, hover, cursor, self.show_cursor,
            self._show_hover_cursor, self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        if is_header:
            row_height = self.header_height
        else:
            row = self.rows[row_key]
            # An auto-height row not measured yet: rendered unbounded to measure it.
            row_height = 0 if row.auto_height and row.height == 0 else row.height
        return self._render_look(cell, width, row_height, base_style + component_style,
                                 post_style)

    def _render_look(self, cell: RenderableType, width: int, row_height: int,
                     pre_style: Style, post_style: Style) -> SegmentLines:
        """A cell's lines without its mouse meta, from the look cache when it can."""
        look = text_look(cell)
        key = (look, width, row_height, self.cell_padding, pre_style, post_style)
        if look is not None:
            cached = self._look_cache.get(key)
            if cached is not None:
                return cached
        lines = None
        if isinstance(cell, Text) and row_height == 1:
            options = self.app.console_options.update_dimensions(width, 1).update(no_wrap=True)
            lines = one_line_cell(self.app.console, options, cell, width, self.cell_padding,
                                  pre_style, post_style)
        if lines is None:
            options = self.app.console_options
            options = (options.update_width(width) if row_height == 0
                       else options.update_dimensions(width, row_height))
            if row_height == 1:
                options = options.update(no_wrap=True)
            lines = self.app.console.render_lines(
                Styled(Padding(cell, (0, self.cell_padding)), pre_style=pre_style,
                       post_style=post_style),
                options,
            )
        if look is not None:
            self._look_cache[key] = lines
        return lines

    def _render_line_in_row(self, row_key: RowKey, line_no: int, base_style: Style,
                            cursor_location: Coordinate, hover_location: Coordinate,
                            ) -> tuple[SegmentLines, SegmentLines]:
        """DataTable._render_line_in_row (Textual 8.2.8); for the plain tables here (a
        row cursor, nothing fixed, no labels) without what it recomputes for every row
        (component styles, column lists) and cached by whether the cursor is on the row
        rather than where the cursor is: a cursor move renders two rows, not all."""
        found = self._row_locations.get(row_key)
        row_index = -1 if found is None else found
        if not self._rows_are_plain():
            table_wide = self._update_count
            self._update_count = self._row_version(row_key, row_index)  # type: ignore[assignment]
            try:
                return super()._render_line_in_row(row_key, line_no, base_style,
                                                   cursor_location, hover_location)
            finally:
                self._update_count = table_wide
        at = Coordinate(row_index, 0)
        cursor = self._should_highlight(cursor_location, at, "row")
        # The hover row looks like any other unless the hover cursor shows: one look
        # less to cache for the row under a mouse that is not being used.
        hover = (self._should_highlight(hover_location, at, "row") and self.show_cursor
                 and self._show_hover_cursor)
        row_style = self._get_row_style(row_index, base_style)
        widths = tuple(column.get_render_width(self) for column in self.ordered_columns)
        look = (row_key, self._row_versions.get(row_key, 0), line_no, base_style,
                row_style, cursor, hover, self.show_cursor, self._show_hover_cursor,
                self._pseudo_class_state, widths, self.size.width)
        placed_key: Any = (look, row_index)
        placed = self._row_render_cache.get(placed_key)
        if placed is not None:
            return placed
        # The row's cells as they look wherever the row is (cached by its look); only
        # the mouse meta names its place. A sort, or new alerts merged above, moves
        # every row on screen: this reuses their cells instead of rendering them again.
        cells = self._plain_rows.get(look)
        if cells is None:
            cells = [self._cell_look(row_index, column_index, row_style, width, cursor,
                                     hover)[line_no]
                     for column_index, width in enumerate(widths)]
            self._plain_rows[look] = cells
        row = [with_meta(line, self._cell_meta(row_index, column_index))
               for column_index, line in enumerate(cells)]
        # The rest of the widget's width, styled as the row (DataTable's "extend").
        extend, _ = self._get_styles_to_render_cell(
            row_index == -1, False, False, hover, cursor, self.show_cursor,
            self._show_hover_cursor, False, False)
        rest = max(0, self.size.width - sum(widths) - self._row_label_column_width)
        out_of_bounds = Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        row.append([Segment(" " * rest, row_style + extend + out_of_bounds)])
        placed = ([], row)
        self._row_render_cache[placed_key] = placed
        return placed

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        """DataTable's, computed once per kind of row (each call resolves the component
        styles afresh, and it is called for every row rendered)."""
        if row_index == -1:
            kind = "header"
        elif row_index < self.fixed_rows:
            kind = "fixed"
        else:
            kind = ("odd" if row_index % 2 else "even") if self.zebra_stripes else "plain"
        key = (kind, base_style)
        style = self._row_styles.get(key)
        if style is None:
            style = self._row_styles[key] = super()._get_row_style(row_index, base_style)
        return style

    def _rows_are_plain(self) -> bool:
        """Rows whose look does not depend on their index beyond the zebra stripes."""
        return (self.cursor_type == "row" and not self.fixed_rows and not self.fixed_columns
                and not self._should_render_row_labels)

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
