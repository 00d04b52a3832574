"""The camera table's per-row render caches: a patched cell re-renders its row only,
and what is drawn always matches the data, also after sorting."""

from __future__ import annotations

import dataclasses

from hub.model import HealthReason, HealthState
from tests.tui.conftest import FakeHub
from tests.tui.test_app import SIZE, settle, table_of
from tui.app import CitywatchApp
from tui.widgets.camera_table import CameraTable


def drawn_names(table: CameraTable) -> list[str]:
    """The name column as drawn, row by row (the header line skipped)."""
    rows = min(table.row_count, table.size.height - 1)
    return [table.render_line(y + 1).text[1:13] for y in range(rows)]


def names_in_order(table: CameraTable) -> list[str]:
    return [table.get_cell(cid, "name").plain.ljust(12)[:12] for cid in table.row_ids()]


async def test_drawn_rows_follow_sorts_and_patches(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = table_of(app)
        assert drawn_names(table) == names_in_order(table)[: len(drawn_names(table))]
        for _ in range(3):  # every sort: what is drawn is what the rows hold
            await pilot.press("s")
            await pilot.pause()
            assert drawn_names(table) == names_in_order(table)[: len(drawn_names(table))]
        status = hub.camera("cam-002")
        assert status is not None
        hub.push(dataclasses.replace(status, state=HealthState.DOWN,
                                     reason=HealthReason.STALLED))
        await settle(pilot, app)
        y = table.get_row_index("cam-002") + 1
        assert "down" in table.render_line(y).text


async def test_a_patch_renders_only_its_row_again(app: CitywatchApp, hub: FakeHub) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = table_of(app)
        for y in range(1, table.size.height):
            table.render_line(y)  # everything on screen rendered and cached
        cached = len(table._plain_rows)
        status = hub.camera("cam-002")
        assert status is not None
        hub.push(dataclasses.replace(status, state=HealthState.DOWN,
                                     reason=HealthReason.STALLED))
        await settle(pilot, app)
        for y in range(1, table.size.height):
            table.render_line(y)
        # Only cam-002's row was rendered again (DataTable alone: every visible cell).
        assert len(table._plain_rows) - cached == 1
