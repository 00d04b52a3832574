"""A camera's health transitions, newest first: when, old → new, reason, detail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from rich.text import Text
from textual import events
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from hub.model import HealthTransition
from tui.format import STATE_STYLE, full_time, state_label

_DETAIL = ColumnKey("detail")


class TransitionTable(DataTable[Text]):
    """Read-only list of transitions; the detail column takes the width that is left,
    so long details end in '…' instead of adding a horizontal scrollbar."""

    def __init__(self, *, tz: tzinfo | None = None, id: str | None = None) -> None:
        super().__init__(id=id, zebra_stripes=True, cursor_type="row", show_cursor=False)
        self.tz = tz

    def on_mount(self) -> None:
        self.add_column("When", key="at")
        self.add_column("Change", key="change")
        self.add_column("Reason", key="reason")
        self.add_column("Detail", key="detail")

    def on_resize(self, event: events.Resize) -> None:
        self.fit_detail(event.size.width)

    def fit_detail(self, width: int | None = None) -> None:
        column = self.columns.get(_DETAIL)
        if column is None:
            return
        width = self.size.width if width is None else width
        others = sum(c.get_render_width(self) for key, c in self.columns.items() if key != _DETAIL)
        scrollbar = self.styles.scrollbar_size_vertical or 0
        fit = max(8, width - others - scrollbar - 2 * self.cell_padding)
        if not column.auto_width and column.width == fit:
            return
        column.auto_width = False
        column.width = fit
        # No public "resize column" in DataTable: drop its caches, recompute on idle.
        self._require_update_dimensions = True
        self._clear_caches()
        self.refresh(layout=True)

    def show(self, transitions: Sequence[HealthTransition]) -> None:
        """Replace the rows with these transitions (newest first)."""
        self.clear()
        for i, t in enumerate(transitions):
            change = Text(no_wrap=True, end="")
            change.append(state_label(t.old_state), STATE_STYLE.get(t.old_state, ""))
            change.append(" → ")
            change.append(state_label(t.new_state), STATE_STYLE.get(t.new_state, ""))
            reason_style = STATE_STYLE.get(t.new_state, "") if t.reason.value else ""
            self.add_row(
                Text(full_time(t.at, self.tz), no_wrap=True, end=""),
                change,
                Text(t.reason.value or "—", style=reason_style, no_wrap=True, end=""),
                Text(t.detail or "", no_wrap=True, overflow="ellipsis", end=""),
                key=str(i),
            )
        if not transitions:
            self.add_row(Text("no changes recorded", style="dim"), Text(), Text(), Text())
        self.fit_detail()
