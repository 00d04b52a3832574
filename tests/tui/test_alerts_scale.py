"""The alert queue under a stream of alerts: the list holds still while shown, new alerts
are counted and merged on request, forgotten ones leave at the merge."""

from __future__ import annotations

import dataclasses

from hub.alpr_model import AlertState
from tests.tui.conftest import FakeHub, new_alert, wait_until
from tests.tui.test_alerts import SIZE, open_alerts
from tests.tui.test_app import plain
from tui.app import CitywatchApp
from tui.screens.alerts import banner_text


def test_banner_counts_above_and_below() -> None:
    assert banner_text(1).plain == "▲ 1 new alert above — g goes to the top"
    assert banner_text(3, 2).plain == "▲ 3 new alerts above, 2 below — g goes to the top"
    assert banner_text(0, 1).plain == "▲ 1 new alert below — g goes to the top"


async def test_new_alerts_are_held_while_changes_are_patched(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        table = screen.table
        await pilot.press("down")  # on alert 2: new urgent ones sort above it
        for aid in range(10, 16):
            hub.push_alert(new_alert(aid, f"1-NEW-{aid:03d}", 95))
        acked = dataclasses.replace(alpr_app.alerts[4], state=AlertState.ACKNOWLEDGED,
                                    actor="colleague")
        hub.push_alert(acked)
        await wait_until(pilot, lambda: len(table.held) == 6)
        await wait_until(pilot, lambda: table.get_cell("4", "state").plain == "◐ acked")
        assert table.row_ids() == [1, 2, 3, 4, 5, 6]  # no row added, none moved
        assert table.current_id == 2
        banner = screen.query_one("#alerts-banner")
        await wait_until(pilot, lambda: "6 new alerts above" in plain(banner))  # type: ignore[arg-type]
        await pilot.press("g")
        assert table.row_ids() == [15, 14, 13, 12, 11, 10, 1, 2, 3, 4, 5, 6]
        assert table.current_id == 15 and not table.held
        assert table.get_cell("4", "state").plain == "◐ acked"


async def test_merge_drops_alerts_the_app_forgot(alpr_app: CitywatchApp, hub: FakeHub) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        table = screen.table
        del alpr_app.alerts[5]  # as the app does past ALERT_KEEP with handled alerts
        assert 5 in table.row_ids()
        await pilot.press("g")
        assert table.row_ids() == [1, 2, 3, 4, 6]
        assert table.current_id == 1


async def test_an_empty_queue_shows_new_alerts_at_once(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    hub._alerts.clear()
    async with alpr_app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: alpr_app.alerts_loaded)
        await pilot.press("a")
        screen = alpr_app.screen
        hub.push_alert(new_alert(7, "1-NEW-777", 95))
        await wait_until(pilot, lambda: screen.table.row_ids() == [7])  # type: ignore[attr-defined]
        assert screen.table.current_id == 7  # type: ignore[attr-defined]
