"""The alerts screen: live queue, one-key triage, reasons, detail, never jumping."""

from __future__ import annotations

import getpass

from textual.pilot import Pilot

from hub.alpr_model import AlertState, ImageKind, RejectReason
from tests.tui.conftest import OPERATOR, T0, FakeHub, new_alert, wait_until
from tests.tui.test_app import plain
from tui.app import CitywatchApp
from tui.screens.alerts import AlertDetailScreen, AlertsScreen
from tui.screens.cameras import CamerasScreen
from tui.widgets.alert_table import COLUMNS, PADDING, AlertTable, column_widths
from tui.widgets.alpr_text import DUPLICATE_MARK
from tui.widgets.reason_picker import ReasonPicker

SIZE = (80, 24)
ACK, ACCEPTED, REJECTED = AlertState.ACKNOWLEDGED, AlertState.ACCEPTED, AlertState.REJECTED


async def open_alerts(pilot: Pilot[None]) -> AlertsScreen:
    app = pilot.app
    assert isinstance(app, CitywatchApp)
    await wait_until(pilot, lambda: app.alerts_loaded)
    await pilot.press("a")
    screen = app.screen
    assert isinstance(screen, AlertsScreen)
    await wait_until(pilot, lambda: screen.table.row_count == len(app.alerts))
    return screen


def cell(table: AlertTable, alert_id: int, column: str) -> str:
    return table.get_cell(str(alert_id), column).plain


async def go_to(pilot: Pilot[None], table: AlertTable, alert_id: int) -> None:
    await pilot.press(*["down"] * table.row_ids().index(alert_id))
    assert table.current_id == alert_id


def notifications(app: CitywatchApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_opens_the_queue_sorted_by_priority_then_newest(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        table = screen.table
        # 90 (20 s ago), 90 (40 s), 90 (5 min), 70, 40, 20.
        assert table.row_ids() == [1, 2, 3, 4, 5, 6]
        assert cell(table, 1, "state") == "● new"
        assert cell(table, 3, "state") == "◐ acked"
        assert cell(table, 3, "match") == "≈ 1ABC234"  # look-alike: read 1-A8C-234
        assert cell(table, 5, "match") == "* 2QRS3*1"
        assert cell(table, 2, "match") == "= 1ABC234"
        assert cell(table, 4, "list") == "◆ intel/observation"  # covert marker
        assert cell(table, 2, "dups") == f"{DUPLICATE_MARK}2"
        assert cell(table, 1, "dups") == ""
        assert cell(table, 2, "time") == "09:29:20"
        assert cell(table, 2, "camera") == "Ring R70 Noord ALPR"
        assert cell(table, 2, "pri") == "90"
        title = plain(screen.query_one("#alerts-title"))  # type: ignore[arg-type]
        assert "6 open" in title and "● 4 new" in title and "◆ 1 covert" in title
        assert hub.alert_calls == ["alerts"]
        await pilot.press("escape")
        assert isinstance(alpr_app.screen, CamerasScreen)


async def test_columns_fit_80_columns(alpr_app: CitywatchApp) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        table = screen.table
        needed = sum(col.get_render_width(table) for col in table.columns.values())
        assert needed <= table.size.width
        assert len(table.columns) == 8


def test_column_widths_grow_with_space() -> None:
    narrow, wide = column_widths(79), column_widths(159)
    assert sum(w + PADDING for w in narrow.values()) <= 79
    assert sum(w + PADDING for w in wide.values()) <= 159
    assert all(wide[c.key] >= narrow[c.key] for c in COLUMNS)
    assert wide["camera"] > narrow["camera"] and wide["match"] >= 20
    assert sum(w + PADDING for w in column_widths(70).values()) <= 70  # camera, list give way


async def test_acknowledge_in_one_key(alpr_app: CitywatchApp, hub: FakeHub) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        table = screen.table
        await go_to(pilot, table, 2)
        await pilot.press("k")
        await wait_until(pilot, lambda: cell(table, 2, "state") == "◐ acked")
        assert hub.transition_calls == [(2, ACK, OPERATOR, None, "")]
        assert table.current_id == 2  # still on the same alert
        await pilot.press("down", "space")  # space does it too
        await wait_until(pilot, lambda: len(hub.transition_calls) == 2)
        assert hub.transition_calls[1] == (3, ACK, OPERATOR, None, "")


async def test_accept_in_one_key(alpr_app: CitywatchApp, hub: FakeHub) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        await pilot.press("y")
        await wait_until(pilot, lambda: cell(screen.table, 1, "state") == "✔ accepted")
        assert hub.transition_calls == [(1, ACCEPTED, OPERATOR, None, "")]
        assert alpr_app.alerts[1].actor == OPERATOR


async def test_reject_with_a_reason_in_two_keys(alpr_app: CitywatchApp, hub: FakeHub) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        await go_to(pilot, screen.table, 3)
        await pilot.press("r")
        assert isinstance(alpr_app.screen, ReasonPicker)
        await pilot.press("1")
        await wait_until(pilot, lambda: cell(screen.table, 3, "state") == "✘ rejected")
        assert hub.transition_calls == [(3, REJECTED, OPERATOR, RejectReason.MISREAD, "")]
        assert alpr_app.screen is screen


async def test_reject_other_asks_for_text_and_escape_cancels(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        await pilot.press("r", "escape")
        assert alpr_app.screen is screen
        assert hub.transition_calls == []
        await pilot.press("r", "5", "enter")  # "other" without text is refused
        picker = alpr_app.screen
        assert isinstance(picker, ReasonPicker)
        assert "needs a few words" in plain(picker.query_one("#reason-hint"))  # type: ignore[arg-type]
        await pilot.press(*"plate 12", "enter")  # digits are text now
        await wait_until(pilot, lambda: len(hub.transition_calls) == 1)
        assert hub.transition_calls == [(1, REJECTED, OPERATOR, RejectReason.OTHER, "plate 12")]


async def test_refused_transition_is_a_notification(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        await go_to(pilot, screen.table, 3)  # already acknowledged
        await pilot.press("k")
        await wait_until(pilot, lambda: bool(notifications(alpr_app)))
        assert "cannot become acknowledged" in notifications(alpr_app)[0]
        assert alpr_app.screen is screen and alpr_app.is_running
        assert cell(screen.table, 3, "state") == "◐ acked"


async def test_new_alert_above_keeps_the_selection(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        table = screen.table
        await go_to(pilot, table, 2)
        hub.push_alert(new_alert(7, "1-NEW-777", 95))  # sorts first
        hub.push_alert(new_alert(8, "1-LOW-888", 10))  # sorts last
        banner = screen.query_one("#alerts-banner")
        await wait_until(pilot, lambda: banner.display)
        assert "1 new alert above, 1 below" in plain(banner)  # type: ignore[arg-type]
        assert table.row_ids() == [1, 2, 3, 4, 5, 6]  # the list does not move
        assert table.current_id == 2  # the operator's alert is still selected
        await pilot.press("k")  # acts on the selected alert, not on the newcomer
        await wait_until(pilot, lambda: len(hub.transition_calls) == 1)
        assert hub.transition_calls[0][0] == 2
        await pilot.press("g")  # brings the new ones in
        assert table.row_ids() == [7, 1, 2, 3, 4, 5, 6, 8]
        assert table.current_id == 7
        assert screen.unseen == 0 and not banner.display


async def test_bell_rings_for_new_urgent_alerts_only(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    rings: list[int] = []
    alpr_app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        assert rings == []  # alerts already open at start are not news
        hub.push_alert(new_alert(7, "1-NEW-777", 95))
        hub.push_alert(new_alert(8, "1-LOW-888", 40))
        await wait_until(pilot, lambda: 8 in alpr_app.alerts)
        assert rings == [1]
        await pilot.press("b")  # bell off
        assert "bell ≥80 off" in plain(screen.query_one("#alerts-title"))  # type: ignore[arg-type]
        hub.push_alert(new_alert(9, "1-HOT-999", 99))
        await wait_until(pilot, lambda: 9 in alpr_app.alerts)
        assert rings == [1]


async def test_enter_opens_the_detail_with_the_crop(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        await go_to(pilot, screen.table, 3)
        await pilot.press("enter")
        detail = alpr_app.screen
        assert isinstance(detail, AlertDetailScreen) and detail.alert_id == 3
        await wait_until(pilot, lambda: detail.image.ready)
        assert hub.image_calls == [(104, ImageKind.CROP)]
        line = detail.image.render_line(1).text
        assert line and set(line) == {"▀"}  # drawn with half blocks
        info = plain(detail.query_one("#alert-info"))  # type: ignore[arg-type]
        for expected in (
            "≈ 1ABC234 lookalike on stolen/vehicle, priority 90 (1 substitution)",
            "1-A8C-234",
            "62%",
            "Ring R70 Zuid ALPR (cam-007)",
            "50.93700, 5.34500 (fixed)",
            "by jan",
        ):
            assert expected in info
        await pilot.press("y")  # triage works from the detail too
        await wait_until(pilot, lambda: "✔ accepted" in plain(detail.query_one("#alert-info")))  # type: ignore[arg-type]
        assert hub.transition_calls == [(3, ACCEPTED, OPERATOR, None, "")]
        await pilot.press("escape")
        assert alpr_app.screen is screen
        await wait_until(pilot, lambda: cell(screen.table, 3, "state") == "✔ accepted")


async def test_detail_of_a_covert_hit_says_so(alpr_app: CitywatchApp) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(pilot)
        await go_to(pilot, screen.table, 4)
        await pilot.press("enter")
        detail = alpr_app.screen
        assert isinstance(detail, AlertDetailScreen)
        info = plain(detail.query_one("#alert-info"))  # type: ignore[arg-type]
        assert "◆ covert list: not shown on patrol units" in info
        assert "= 1TUV654 exact on uninsured/insurance" in info  # the other hit
        await pilot.press("escape", "escape")
        assert isinstance(alpr_app.screen, CamerasScreen)


async def test_alerts_key_only_on_the_main_screen(alpr_app: CitywatchApp) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        await pilot.press("m")  # map: `a` means nothing there
        await pilot.press("a")
        assert not isinstance(alpr_app.screen, AlertsScreen)


def test_operator_defaults_to_the_login_name(hub: FakeHub) -> None:
    app = CitywatchApp(hub, home="cameras", tz=None, clock=lambda: T0)
    assert app.operator == getpass.getuser()
    assert CitywatchApp(hub, home="cameras", operator="an").operator == "an"


async def test_queue_is_kept_and_catches_up_when_opened_again(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    # The queue screen is built once (installed): reopening it must not rebuild it, and
    # alerts that came while it was closed must be in it when it is shown again.
    async with alpr_app.run_test(size=SIZE) as pilot:
        first = await open_alerts(pilot)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(alpr_app.screen, CamerasScreen))
        hub.push_alert(new_alert(7, "1-NEW-777", 95))
        await wait_until(pilot, lambda: 7 in alpr_app.alerts)
        again = await open_alerts(pilot)
        assert again is first
        await wait_until(pilot, lambda: 7 in again.table.row_ids())
        assert again.table.row_ids()[0] == 7
