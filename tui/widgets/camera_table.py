"""The cameras table: one row per camera, updated cell by cell, never rebuilt on updates."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from hub.model import CameraStatus
from tui.format import KIND_SHORT, STATE_STYLE, clock_time, model_label, state_label


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    label: str
    min_width: int  # what fits an 80-column terminal
    max_width: int  # where growing stops adding anything useful


# At 80 columns: 7 columns x 2 cells of padding + 1 scrollbar + 65 of content.
COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("name", "Name", 13, 40),
    ColumnSpec("site", "Site", 7, 14),
    ColumnSpec("kind", "Kind", 6, 6),
    ColumnSpec("model", "Model", 11, 36),
    ColumnSpec("state", "State", 9, 9),
    ColumnSpec("reason", "Reason", 11, 14),
    ColumnSpec("seen", "Seen", 8, 8),
)
COLUMN_KEYS: tuple[str, ...] = tuple(c.key for c in COLUMNS)


def column_widths(available: int) -> dict[str, int]:
    """Share `available` content cells between the columns: minimums first, then grow.

    Small columns grow to their maximum first (in table order), whatever is left goes
    to the name, then the model.
    """
    widths = {c.key: c.min_width for c in COLUMNS}
    spare = max(0, available - sum(widths.values()))
    for key in ("site", "reason"):
        spec = next(c for c in COLUMNS if c.key == key)
        grow = min(spare, spec.max_width - widths[key])
        widths[key] += grow
        spare -= grow
    # Split what is left between name and model, each up to its maximum.
    name_spec = next(c for c in COLUMNS if c.key == "name")
    model_spec = next(c for c in COLUMNS if c.key == "model")
    name_grow = min(spare // 2, name_spec.max_width - widths["name"])
    widths["name"] += name_grow
    spare -= name_grow
    model_grow = min(spare, model_spec.max_width - widths["model"])
    widths["model"] += model_grow
    spare -= model_grow
    widths["name"] += min(spare, name_spec.max_width - widths["name"])
    return widths


class NameCell(Text):
    """The name cell knows its camera, so that DataTable.sort can sort by camera."""

    camera_id: str = ""

    @classmethod
    def for_camera(cls, camera_id: str, name: str) -> NameCell:
        cell = cls(name, no_wrap=True, overflow="ellipsis", end="")
        cell.camera_id = camera_id
        return cell


def _cell(value: str, style: str = "") -> Text:
    return Text(value, style=style, no_wrap=True, overflow="ellipsis", end="")


class CameraTable(DataTable[Text]):
    """Cameras by row key = camera id; `show` rebuilds (filter), `update` patches cells."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", show=True),
    ]

    def __init__(self, *, tz: tzinfo | None = None, id: str | None = None) -> None:
        super().__init__(
            id=id, zebra_stripes=True, cursor_type="row", cell_padding=1, show_row_labels=False
        )
        self.tz = tz
        self._plain: dict[str, tuple[str, ...]] = {}
        self._widths: dict[str, int] = column_widths(0)

    # messages / events ---------------------------------------------------------------

    def on_mount(self) -> None:
        for spec in COLUMNS:
            self.add_column(spec.label, key=spec.key, width=self._widths[spec.key])

    def on_resize(self, event: events.Resize) -> None:
        self.fit_columns(event.size.width)

    # layout ----------------------------------------------------------------------------

    def fit_columns(self, width: int) -> None:
        """Give the columns the width of the widget (content cells, not padding)."""
        scrollbar = self.styles.scrollbar_size_vertical or 0
        available = width - scrollbar - 2 * self.cell_padding * len(COLUMNS)
        widths = column_widths(available)
        if widths == self._widths:
            return
        self._widths = widths
        for key, column in self.columns.items():
            column.width = widths[str(key.value)]
            column.auto_width = False
        # DataTable has no public "resize column": drop its render caches and let it
        # recompute its virtual size on the next idle.
        self._require_update_dimensions = True
        self._clear_caches()
        self.refresh(layout=True)

    # rows ------------------------------------------------------------------------------

    def cells_for(self, status: CameraStatus) -> list[Text]:
        cfg = status.config
        state_style = STATE_STYLE.get(status.state, "")
        return [
            NameCell.for_camera(cfg.id, cfg.name),
            _cell(cfg.site),
            _cell(KIND_SHORT.get(cfg.kind, str(cfg.kind))),
            _cell(model_label(status)),
            _cell(state_label(status.state), state_style),
            _cell(status.reason.value or "—", "dim" if not status.reason.value else ""),
            _cell(clock_time(status.last_seen, self.tz)),
        ]

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
        return camera_id in self._plain

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
        self._plain.clear()
        for status in statuses:
            self.add_camera(status)
        if keep is None or not self.select_camera(keep):
            self.move_cursor(row=0, animate=False, scroll=True)

    def add_camera(self, status: CameraStatus) -> None:
        """Append one camera at the bottom (nothing above moves)."""
        cells = self.cells_for(status)
        self.add_row(*cells, key=status.id)
        self._plain[status.id] = tuple(c.plain for c in cells)

    def update_camera(self, status: CameraStatus) -> int:
        """Patch only the cells whose text changed; returns how many changed."""
        old = self._plain.get(status.id)
        if old is None:
            return 0
        cells = self.cells_for(status)
        new = tuple(c.plain for c in cells)
        changed = 0
        for key, before, after, cell in zip(COLUMN_KEYS, old, new, cells, strict=True):
            if before != after:
                self.update_cell(status.id, key, cell)
                changed += 1
        self._plain[status.id] = new
        return changed

    def sort_cameras(self, key: Callable[[str], Any]) -> None:
        """Reorder rows by key(camera_id), keeping the cursor on the same camera."""
        keep = self.current_id

        def by_camera(cell: NameCell) -> Any:
            return key(cell.camera_id)

        self.sort("name", key=by_camera)
        if keep is not None:
            self.select_camera(keep)
