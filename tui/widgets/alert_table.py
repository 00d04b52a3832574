"""The alert queue: one row per alert, highest priority first then newest.

Rows are patched cell by cell. New alerts are held back while the queue is on screen
(the screen's banner counts them) and merged in when the operator asks (g) or comes
back to the queue: the list never jumps under the cursor, and 25 new alerts a second
do not re-send the whole table to the terminal each time (a row added anywhere changes
the table's virtual size, which repaints all of it).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
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
from tui.widgets.plate_table import PlateTable
from tui.widgets.row_cache import RowCacheTable

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


Order = tuple[int, float, int]
# What a cell looks like, to skip updates that change nothing (Text.markup, the first
# way, took half of merging a thousand alerts).
Look = tuple[str, object, tuple[object, ...]]


def _look(cell: Text) -> Look:
    return (cell.plain, cell.style, tuple(cell.spans))


class AlertTable(PlateTable, RowCacheTable):
    """Alerts by row key = str(alert id); new alerts wait in `held` until `merge`."""

    def __init__(self, **kwargs: Any) -> None:  # PlateTable's keywords
        super().__init__(**kwargs)
        self._alerts: dict[int, Alert] = {}  # shown
        self._looks: dict[int, tuple[Look, ...]] = {}
        self._order: list[tuple[Order, int]] = []  # shown, in display order
        self._widths: dict[str, int] = {}
        self.held: dict[int, Alert] = {}  # arrived while shown, not in the table yet

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
        alerts = list(self._alerts.values())
        self.clear(columns=True)
        for column in COLUMNS:
            self.add_column(column.label, key=column.key, width=widths[column.key])
        self._show_rows(alerts)
        if keep is not None:
            self.select_alert(keep)

    # cells -----------------------------------------------------------------------------

    def cells_for(self, alert: Alert) -> list[Text]:
        widths = self._widths
        name = self.camera_name(alert.read.camera_id) or alert.read.camera_id
        when = alert.raised_at
        wide = widths["time"] >= DATE_FROM
        time = full_time(when, self.tz) if wide else clock_time(when, self.tz)
        pri = Text(
            str(alert.priority), style=priority_style(alert.priority), justify="right", end=""
        )
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

    def _put(self, alert: Alert) -> None:
        cells = self.cells_for(alert)
        self.put_row(str(alert.id), cells)
        self._alerts[alert.id] = alert
        self._looks[alert.id] = tuple(_look(c) for c in cells)

    def _show_rows(self, alerts: list[Alert]) -> None:
        """Exactly these alerts, in queue order (the cursor is the caller's)."""
        self._alerts.clear()
        self._looks.clear()
        for alert in alerts:
            self._put(alert)
        self._order = sorted((alert_order(a), a.id) for a in alerts)
        self.place_rows([str(i) for _, i in self._order])

    def show(self, alerts: list[Alert]) -> None:
        """Start over with these alerts (screen opened)."""
        self.held.clear()
        self._show_rows(alerts)
        self.move_cursor(row=0, animate=False, scroll=True)

    def held_around_cursor(self) -> tuple[int, int]:
        """How many held alerts sort above the selected one, and how many below."""
        current = self.current
        if current is None:
            return len(self.held), 0
        mark = alert_order(current)
        above = sum(1 for a in self.held.values() if alert_order(a) < mark)
        return above, len(self.held) - above

    def apply(self, alerts: list[Alert]) -> None:
        """Patch the shown alerts that changed; hold new ones back (see `merge`). An
        empty queue takes them at once: there is nothing to jump under the cursor."""
        for alert in alerts:
            old = self._alerts.get(alert.id)
            if old is None:
                self.held[alert.id] = alert
            elif old != alert:
                self._patch(alert)
        if self.held and self.row_count == 0:
            self.merge()

    def merge(self, known: Mapping[int, Alert] | None = None) -> int:
        """Bring the held alerts into the table, and, given the app's `known` alerts,
        catch up on every change and drop the alerts the app has forgotten. The cursor
        stays on its alert; returns how many new alerts landed above it."""
        keep = self.current
        mark = alert_order(keep) if keep is not None else None
        new = list(self.held.values())
        self.held.clear()
        gone: list[int] = []
        if known is not None:
            new += [a for i, a in known.items() if i not in self._alerts]
            gone = [i for i in self._alerts if i not in known]
            for alert_id in gone:
                del self._alerts[alert_id]
                del self._looks[alert_id]
            for alert in known.values():
                old = self._alerts.get(alert.id)
                if old is not None and old != alert:
                    self._patch(alert)
            if gone:
                dropped = set(gone)
                self._order = [entry for entry in self._order if entry[1] not in dropped]
        added = {a.id: a for a in new if a.id not in self._alerts}
        if not added and not gone:
            return 0
        for alert in added.values():
            self._put(alert)
            bisect.insort(self._order, (alert_order(alert), alert.id))
        self.place_rows([str(i) for _, i in self._order])
        if keep is None or not self.select_alert(keep.id):
            self.move_cursor(row=0, animate=False, scroll=True)
            return 0
        assert mark is not None
        return sum(1 for a in added.values() if alert_order(a) < mark)

    def _patch(self, alert: Alert) -> None:
        cells = self.cells_for(alert)
        new = tuple(_look(c) for c in cells)
        old = self._looks.get(alert.id, ())
        for index, (column, c) in enumerate(zip(COLUMNS, cells, strict=True)):
            if index >= len(old) or old[index] != new[index]:
                self.set_cell(str(alert.id), column.key, c)  # repaints only this row
        self._alerts[alert.id] = alert
        self._looks[alert.id] = new
