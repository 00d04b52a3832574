"""The alert queue: one row per alert, highest priority first then newest.

Rows are patched cell by cell; a new alert is appended and the rows re-sorted with the
cursor kept on the alert it was on, so that the list never jumps under the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from hub.alpr_model import Alert, AlertState
from tui.format import clock_time, full_time
from tui.widgets.alpr_text import (
    alert_order,
    alert_state_text,
    cell,
    duplicates_label,
    list_label,
    match_label,
    priority_style,
)
from tui.widgets.camera_table import set_cell
from tui.widgets.plate_table import PlateTable

PADDING = 2  # cell_padding=1 on either side


@dataclass(frozen=True)
class AlertColumn:
    key: str
    label: str
    width: int  # at 80 columns
    max_width: int  # where growing stops helping


# 8 columns, 62 cells + 16 padding: fits 79 (80 less the scrollbar).
COLUMNS: tuple[AlertColumn, ...] = (
    AlertColumn("pri", "Pri", 3, 3),
    AlertColumn("state", "State", 10, 10),
    AlertColumn("plate", "Read", 9, 14),
    AlertColumn("match", "Matched", 11, 22),  # wide: "≈ 1ABC234 lookalike"
    AlertColumn("list", "List", 10, 30),
    AlertColumn("camera", "Camera", 8, 32),
    AlertColumn("time", "Time", 8, 19),  # wide: the date too
    AlertColumn("dups", "Dup", 3, 4),
)
# Who gets the spare width first, once every column has its 80-column width.
GROW_ORDER = ("match", "time", "plate", "list", "camera", "dups")
WORDS_FROM = 20  # the match column spells out the kind from this width
DATE_FROM = 19  # the time column shows the date from this width


def column_widths(available: int) -> dict[str, int]:
    """Content width of each column for `available` cells (padding counted here)."""
    widths = {c.key: c.width for c in COLUMNS}
    spare = available - sum(w + PADDING for w in widths.values())
    maxima = {c.key: c.max_width for c in COLUMNS}
    for key in GROW_ORDER:
        if spare <= 0:
            break
        extra = min(spare, maxima[key] - widths[key])
        widths[key] += extra
        spare -= extra
    if spare < 0:  # narrower than 80: the camera and list give way first
        for key in ("camera", "list", "plate"):
            cut = min(-spare, widths[key] - 4)
            widths[key] -= cut
            spare += cut
    return widths


class PriorityCell(Text):
    """The priority cell carries its alert's sort key, so that DataTable.sort can use it."""

    order: tuple[int, float, int] = (0, 0.0, 0)


class AlertTable(PlateTable):
    """Alerts by row key = str(alert id)."""

    def __init__(self, **kwargs: Any) -> None:  # PlateTable's keywords
        super().__init__(**kwargs)
        self._alerts: dict[int, Alert] = {}
        self._looks: dict[int, tuple[str, ...]] = {}
        self._widths: dict[str, int] = {}

    def on_mount(self) -> None:
        self.fit_columns(self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self.fit_columns(event.size.width)

    def fit_columns(self, width: int) -> None:
        scrollbar = self.styles.scrollbar_size_vertical or 0
        widths = column_widths(width - scrollbar)
        if widths == self._widths and self.columns:
            return
        self._widths = widths
        keep = self.current_id
        alerts = sorted(self._alerts.values(), key=alert_order)
        self.clear(columns=True)
        self._alerts.clear()
        self._looks.clear()
        for column in COLUMNS:
            self.add_column(column.label, key=column.key, width=widths[column.key])
        for alert in alerts:
            self._append(alert)
        if keep is not None:
            self.select_alert(keep)

    # cells -----------------------------------------------------------------------------

    def cells_for(self, alert: Alert) -> list[Text]:
        widths = self._widths
        name = self.camera_name(alert.read.camera_id) or alert.read.camera_id
        when = alert.raised_at
        wide = widths["time"] >= DATE_FROM
        time = full_time(when, self.tz) if wide else clock_time(when, self.tz)
        pri = PriorityCell(
            str(alert.priority), style=priority_style(alert.priority), justify="right", end=""
        )
        pri.order = alert_order(alert)
        return [
            pri,
            alert_state_text(alert.state),
            cell(alert.read.plate, "bold" if alert.state is AlertState.NEW else ""),
            cell(match_label(alert.hit, words=widths["match"] >= WORDS_FROM)),
            cell(list_label(alert.hit), "bold" if alert.covert else ""),
            cell(name),
            cell(time),
            cell(duplicates_label(alert), justify="right"),
        ]

    # rows ------------------------------------------------------------------------------

    @property
    def current_id(self) -> int | None:
        """Alert id under the cursor, or None on an empty table."""
        if self.row_count == 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return int(row_key.value) if row_key.value is not None else None

    @property
    def current(self) -> Alert | None:
        alert_id = self.current_id
        return None if alert_id is None else self._alerts.get(alert_id)

    def alert(self, alert_id: int) -> Alert | None:
        return self._alerts.get(alert_id)

    def row_ids(self) -> list[int]:
        """Alert ids in display order."""
        return [int(row.key.value) for row in self.ordered_rows if row.key.value is not None]

    def select_alert(self, alert_id: int) -> bool:
        try:
            index = self.get_row_index(str(alert_id))
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index, animate=False, scroll=True)
        return True

    def _append(self, alert: Alert) -> None:
        cells = self.cells_for(alert)
        self.add_row(*cells, key=str(alert.id))
        self._alerts[alert.id] = alert
        self._looks[alert.id] = tuple(c.markup for c in cells)

    def show(self, alerts: list[Alert]) -> None:
        """Start over with these alerts (screen opened)."""
        self.clear()
        self._alerts.clear()
        self._looks.clear()
        for alert in sorted(alerts, key=alert_order):
            self._append(alert)
        self.move_cursor(row=0, animate=False, scroll=True)

    def apply(self, alerts: list[Alert]) -> int:
        """Patch changed alerts, add new ones in order; returns how many new ones landed
        above the cursor. The cursor stays on the alert it was on."""
        keep = self.current_id
        keep_alert = None if keep is None else self._alerts.get(keep)
        added: list[Alert] = []
        for alert in alerts:
            old = self._alerts.get(alert.id)
            if old is None:
                self._append(alert)
                added.append(alert)
            elif old != alert:
                self._patch(alert)
        if not added:
            return 0
        self.sort("pri", key=lambda c: c.order if isinstance(c, PriorityCell) else ())
        if keep is None or not self.select_alert(keep):
            self.move_cursor(row=0, animate=False, scroll=True)
            return 0
        if keep_alert is None:
            return 0
        mark = alert_order(keep_alert)
        return sum(1 for a in added if alert_order(a) < mark)

    def _patch(self, alert: Alert) -> None:
        cells = self.cells_for(alert)
        new = tuple(c.markup for c in cells)
        old = self._looks.get(alert.id, ())
        for index, (column, c) in enumerate(zip(COLUMNS, cells, strict=True)):
            if index >= len(old) or old[index] != new[index]:
                set_cell(self, str(alert.id), column.key, c)  # repaints only this row
        self._alerts[alert.id] = alert
        self._looks[alert.id] = new
