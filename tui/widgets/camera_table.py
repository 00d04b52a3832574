"""The cameras table: one row per camera, updated cell by cell, never rebuilt on updates."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar

from rich.console import JustifyMethod
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from hub.model import CameraStatus
from tui.format import (
    KIND_SHORT,
    clock_time,
    fps_label,
    kbps_label,
    metric_style,
    model_label,
    table_reason_text,
    table_state_text,
)
from tui.history import (
    TABLE_CELLS,
    TABLE_SPAN,
    RecentStates,
    aligned_end,
    bucket_states,
    strip_text,
)
from tui.widgets.row_cache import RowCacheTable


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    label: str
    min_width: int  # below this the column is dropped rather than squeezed
    max_width: int  # where growing stops adding anything useful
    priority: int  # narrow terminals keep the lowest numbers
    justify: JustifyMethod = "left"


PADDING = 2  # cell_padding=1 on either side of every column

# Display order. At 80 columns (79 after the scrollbar) priorities 0-5 fit exactly:
# name, state, reason, model (the vendor), site, seen. The stream numbers come next,
# from 86 columns: a legible name matters more, and "low fps 3/25" says it already.
COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("name", "Name", 19, 40, 0),
    ColumnSpec("site", "Site", 7, 14, 4),
    ColumnSpec("kind", "Kind", 6, 6, 7),
    ColumnSpec("model", "Model", 11, 36, 3),
    ColumnSpec("state", "State", 10, 10, 1),
    ColumnSpec("reason", "Reason", 12, 16, 2),  # "no keyframes", "low fps 3/25"
    ColumnSpec("fps", "fps", 4, 4, 6, "right"),
    ColumnSpec("kbps", "kbit/s", 6, 6, 8, "right"),
    ColumnSpec("recent", "Last hour", TABLE_CELLS, TABLE_CELLS, 9),
    ColumnSpec("seen", "Seen", 8, 8, 5),
)
SPECS: dict[str, ColumnSpec] = {c.key: c for c in COLUMNS}


def visible_columns(available: int) -> tuple[str, ...]:
    """Keys of the columns that fit `available` cells (padding included), in order.

    Strictly by priority: a column is shown only if every more important one is, so
    widening the terminal never hides a column.
    """
    chosen: set[str] = set()
    used = 0
    for spec in sorted(COLUMNS, key=lambda c: c.priority):
        used += spec.min_width + PADDING
        if used > available and chosen:  # the name stays, however narrow
            break
        chosen.add(spec.key)
    return tuple(c.key for c in COLUMNS if c.key in chosen)


def column_widths(available: int) -> dict[str, int]:
    """Content width of each visible column, in display order, for `available` cells
    (the table's width less its scrollbar; padding is counted here).

    Minimums first; then site and reason grow to their maximum, whatever is left is
    split between name and model.
    """
    keys = visible_columns(available)
    widths = {key: SPECS[key].min_width for key in keys}
    spare = max(0, available - sum(w + PADDING for w in widths.values()))

    def grow(key: str, limit: int) -> int:
        if key not in widths:
            return 0
        extra = max(0, min(limit, SPECS[key].max_width - widths[key]))
        widths[key] += extra
        return extra

    for key in ("site", "reason"):
        spare -= grow(key, spare)
    spare -= grow("name", spare // 2 if "model" in widths else spare)
    spare -= grow("model", spare)
    grow("name", spare)
    return widths


def _cell(value: str, style: str = "", justify: JustifyMethod = "left") -> Text:
    return Text(value, style=style, justify=justify, no_wrap=True, overflow="ellipsis", end="")


# What a cell looks like, to skip updates that change nothing: a number can change
# colour (dimmed when its camera goes down) without changing its text.
Look = tuple[str, object]


def _look(cell: Text) -> Look:
    return (cell.plain, cell.style)


class CameraTable(RowCacheTable):
    """Cameras by row key = camera id; `show` rebuilds (filter), `update` patches cells.

    Which columns are shown depends on the width; crossing a threshold rebuilds the
    table once (resizes are rare), updates never do.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", show=True),
    ]

    def __init__(
        self,
        *,
        tz: tzinfo | None = None,
        recent: RecentStates | None = None,
        clock: Callable[[], datetime] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(
            id=id, zebra_stripes=True, cursor_type="row", cell_padding=1, show_row_labels=False
        )
        self.tz = tz
        self.recent = recent  # states seen lately, for the "last hour" strip
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._statuses: dict[str, CameraStatus] = {}
        self._looks: dict[str, tuple[Look, ...]] = {}
        self._widths: dict[str, int] = {}
        # Strips change far less often than the stream numbers beside them.
        self._strips: dict[str, tuple[tuple[int, datetime], Text]] = {}

    # messages / events ---------------------------------------------------------------

    def on_mount(self) -> None:
        # The terminal's width is a good first guess; on_resize corrects it.
        self.fit_columns(self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self.fit_columns(event.size.width)

    # layout ----------------------------------------------------------------------------

    @property
    def column_keys(self) -> tuple[str, ...]:
        """Keys of the columns shown now, in display order."""
        return tuple(self._widths)

    def fit_columns(self, width: int) -> None:
        """Choose and size the columns for the widget's width."""
        scrollbar = self.styles.scrollbar_size_vertical or 0
        widths = column_widths(width - scrollbar)
        if widths == self._widths and self.columns:
            return
        same_columns = tuple(widths) == self.column_keys and bool(self.columns)
        self._widths = widths
        if not same_columns:
            self._rebuild_columns()
            return
        for key, column in self.columns.items():
            column.width = widths[str(key.value)]
            column.auto_width = False
        # DataTable has no public "resize column": drop its render caches and let it
        # recompute its virtual size on the next idle.
        self._require_update_dimensions = True
        self._clear_caches()
        self.refresh(layout=True)

    def _rebuild_columns(self) -> None:
        order = self.row_ids()
        keep = self.current_id
        self.clear(columns=True)
        for key, width in self._widths.items():
            spec = SPECS[key]
            self.add_column(Text(spec.label, justify=spec.justify), key=key, width=width)
        for camera_id in order:
            self.add_camera(self._statuses[camera_id])
        if keep is not None:
            self.select_camera(keep)

    # rows ------------------------------------------------------------------------------

    def cell_for(self, key: str, status: CameraStatus) -> Text:
        """The cell of one column for one camera."""
        cfg = status.config
        match key:
            case "name":
                return Text(cfg.name, no_wrap=True, overflow="ellipsis", end="")
            case "site":
                return _cell(cfg.site)
            case "kind":
                return _cell(KIND_SHORT.get(cfg.kind, str(cfg.kind)))
            case "model":
                return _cell(model_label(status))
            case "state":
                return table_state_text(status)
            case "reason":
                return table_reason_text(status)
            case "fps":
                return _cell(fps_label(status.stream), metric_style(status, "fps"), "right")
            case "kbps":
                style = metric_style(status, "bitrate")
                return _cell(kbps_label(status.stream), style, "right")
            case "recent":
                return self._strip(status.id)
            case "seen":
                return _cell(clock_time(status.last_seen, self.tz))
        raise KeyError(key)

    def _strip(self, camera_id: str) -> Text:
        if self.recent is None:
            return _cell("—", "dim")
        end = aligned_end(self.clock(), TABLE_SPAN / TABLE_CELLS)
        key = (self.recent.revision(camera_id), end)
        cached = self._strips.get(camera_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        points = self.recent.points(camera_id)
        text = strip_text(bucket_states(points, now=end, span=TABLE_SPAN, cells=TABLE_CELLS))
        self._strips[camera_id] = (key, text)
        return text

    def cells_for(self, status: CameraStatus) -> list[Text]:
        """The cells of the columns shown now, in display order."""
        return [self.cell_for(key, status) for key in self._widths]

    @property
    def current_id(self) -> str | None:
        """Camera id under the cursor, or None on an empty table."""
        if self.row_count == 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return row_key.value

    def has_camera(self, camera_id: str) -> bool:
        return camera_id in self._looks

    def row_ids(self) -> list[str]:
        """Camera ids in display order."""
        return [row.key.value for row in self.ordered_rows if row.key.value is not None]

    def select_camera(self, camera_id: str) -> bool:
        """Put the cursor on a camera; False if it is not shown."""
        try:
            index = self.get_row_index(camera_id)
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index, animate=False, scroll=True)
        return True

    def show(self, statuses: Iterable[CameraStatus]) -> None:
        """Rebuild with exactly these cameras in this order (used by filters only)."""
        keep = self.current_id
        self.clear()
        self._looks.clear()
        self._statuses.clear()
        for status in statuses:
            self.add_camera(status)
        if keep is None or not self.select_camera(keep):
            self.move_cursor(row=0, animate=False, scroll=True)

    def add_camera(self, status: CameraStatus) -> None:
        """Append one camera at the bottom (nothing above moves)."""
        cells = self.cells_for(status)
        self.add_row(*cells, key=status.id)
        self._statuses[status.id] = status
        self._looks[status.id] = tuple(_look(c) for c in cells)

    def remove_camera(self, camera_id: str) -> None:
        """Take a camera's row out (it left the hub); the rows below move up one."""
        if self._looks.pop(camera_id, None) is not None:
            keep = self.current_id
            self._statuses.pop(camera_id, None)
            self.remove_row(camera_id)
            if keep is not None and keep != camera_id:
                self.select_camera(keep)  # the cursor stays on its camera

    def update_camera(self, status: CameraStatus) -> int:
        """Patch only the cells that look different; returns how many changed."""
        old = self._looks.get(status.id)
        if old is None:
            return 0
        cells = self.cells_for(status)
        new = tuple(_look(c) for c in cells)
        changed = 0
        for key, before, after, cell in zip(self._widths, old, new, cells, strict=True):
            if before != after:
                self.update_cell(status.id, key, cell)
                changed += 1
        self._statuses[status.id] = status
        self._looks[status.id] = new
        return changed

    def sort_cameras(self, key: Callable[[str], Any]) -> None:
        """Reorder rows by key(camera_id), keeping the cursor on the same camera.

        place_rows, not DataTable.sort: one pass over the row keys instead of over every
        row's cells, and the rows keep their render caches (see RowCacheTable).
        """
        keep = self.current_id
        self.place_rows(sorted(self.row_ids(), key=key))
        if keep is not None:
            self.select_camera(keep)
