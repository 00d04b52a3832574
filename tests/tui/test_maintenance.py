"""Pilot tests of maintenance (the detail's M key, the form, the badge in table, summary and
detail) and of the flapping badge."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from textual.widgets import Static

from hub.errors import CameraActionError
from hub.model import CameraStatus, HealthState, Maintenance
from tests.tui.camera_hub import BROKEN_CAMERA, SIZE, CameraHub
from tests.tui.conftest import T0, wait_until
from tests.tui.test_app import plain, summary_of, table_of
from tests.tui.test_camera_detail import make_app, open_detail
from tui.screens.detail import CameraDetailScreen
from tui.widgets.maintenance_form import MaintenanceForm, duration_label, parse_duration

OK_CAMERA = "cam-001"


class MaintenanceHub(CameraHub):
    """CameraHub plus maintenance, recording every call."""

    def __init__(self) -> None:
        super().__init__()
        self.set_calls: list[tuple[str, datetime, str, str]] = []
        self.clear_calls: list[tuple[str, str]] = []
        self.refuse: str | None = None

    async def set_maintenance(
        self, camera_id: str, until: datetime, reason: str, actor: str
    ) -> CameraStatus:
        self.set_calls.append((camera_id, until, reason, actor))
        if self.refuse is not None:
            raise CameraActionError(self.refuse)
        status = dataclasses.replace(
            self._cameras[camera_id], maintenance=Maintenance(T0, until, reason, actor))
        self.push(status)
        return status

    async def clear_maintenance(self, camera_id: str, actor: str) -> CameraStatus:
        self.clear_calls.append((camera_id, actor))
        status = dataclasses.replace(self._cameras[camera_id], maintenance=None)
        self.push(status)
        return status


def text_of(screen: CameraDetailScreen, selector: str) -> str:
    return plain(screen.query_one(selector, Static))


async def test_the_key_opens_the_form_and_the_camera_shows_maintenance() -> None:
    hub = MaintenanceHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        down_before = summary_of(app)
        assert "✘ 3 down" in down_before
        screen = await open_detail(pilot, app, BROKEN_CAMERA)
        await pilot.press("M")
        await wait_until(pilot, lambda: isinstance(app.screen, MaintenanceForm))
        await pilot.press("2")  # 4 h
        await pilot.press(*"new switch", "enter")
        await wait_until(pilot, lambda: bool(hub.set_calls) and app.screen is screen)
        camera_id, until, reason, actor = hub.set_calls[0]
        assert (camera_id, reason, actor) == (BROKEN_CAMERA, "new switch", "tester")
        left = until - datetime.now(UTC)
        assert timedelta(hours=4) - timedelta(seconds=30) < left <= timedelta(hours=4)

        await wait_until(pilot, lambda: "⚒ maintenance" in text_of(screen, "#detail-title"))
        title = text_of(screen, "#detail-title")
        assert "⚒ maintenance · ✘ down · unreachable" in title  # the real state beside it
        panel = text_of(screen, "#detail-status")
        assert "maintenance" in panel and "new switch · by tester" in panel

        await pilot.press("escape")
        table = table_of(app)
        await wait_until(pilot, lambda: table.get_cell(BROKEN_CAMERA, "state").plain
                         == "⚒ maint")
        assert table.get_cell(BROKEN_CAMERA, "reason").plain.startswith("✘ unreachable")
        summary = summary_of(app)
        assert "✘ 2 down" in summary and "⚒ 1 maintenance" in summary


async def test_a_typed_duration_a_refusal_and_esc() -> None:
    hub = MaintenanceHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, app, OK_CAMERA)
        await pilot.press("M")
        await wait_until(pilot, lambda: isinstance(app.screen, MaintenanceForm))
        form = app.screen
        assert isinstance(form, MaintenanceForm)
        await pilot.press("4", *"soon", "enter")
        await pilot.pause()
        assert "a duration like 90m" in plain(form.query_one("#maintenance-hint", Static))
        box = form.query_one("#maintenance-duration")
        box.value = ""  # type: ignore[attr-defined]
        await pilot.press(*"90m", "enter")
        await wait_until(pilot, lambda: bool(form.query("#maintenance-reason")))
        assert form.duration == timedelta(minutes=90)
        hub.refuse = "Grote Markt: maintenance: the end time is not in the future"
        await pilot.press(*"lens", "enter")
        await wait_until(pilot, lambda: "not in the future"
                         in plain(form.query_one("#maintenance-hint", Static)))
        assert app.screen is form  # still open with what was typed
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        assert len(hub.set_calls) == 1
        assert hub._cameras[OK_CAMERA].maintenance is None


async def test_e_ends_a_running_maintenance() -> None:
    hub = MaintenanceHub()
    hub.push(dataclasses.replace(
        hub._cameras[OK_CAMERA],
        maintenance=Maintenance(T0, T0 + timedelta(hours=1), "cleaning", "jan")))
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, app, OK_CAMERA)
        await wait_until(pilot, lambda: "⚒ maintenance" in text_of(screen, "#detail-title"))
        await pilot.press("M")
        await wait_until(pilot, lambda: isinstance(app.screen, MaintenanceForm))
        assert "until 2025-03-14 10:30:00 (cleaning, jan)" in plain(
            app.screen.query_one("#maintenance-choices", Static))
        await pilot.press("e")
        await wait_until(pilot, lambda: hub.clear_calls == [(OK_CAMERA, "tester")]
                         and app.screen is screen)
        await wait_until(pilot, lambda: "⚒" not in text_of(screen, "#detail-title"))


async def test_the_flapping_badge_replaces_the_state() -> None:
    hub = MaintenanceHub()
    app = make_app(hub)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        hub.push(dataclasses.replace(hub._cameras[OK_CAMERA], flaps_per_hour=6, flapping=True))
        table = table_of(app)
        await wait_until(pilot, lambda: table.get_cell(OK_CAMERA, "state").plain
                         == "↯ flapping")
        assert table.get_cell(OK_CAMERA, "reason").plain == "6/h ✔ ok"
        assert "↯ 1 flapping" in summary_of(app)
        # Each further pair changes only the state beside the badge, not the badge.
        hub.set_state(OK_CAMERA, HealthState.DOWN)
        await wait_until(pilot, lambda: table.get_cell(OK_CAMERA, "reason").plain
                         == "6/h ✘ down")
        assert table.get_cell(OK_CAMERA, "state").plain == "↯ flapping"

        screen = await open_detail(pilot, app, OK_CAMERA)
        assert "↯ flapping" in text_of(screen, "#detail-title")
        assert "↯ flapping: 6 outages in the last hour" in text_of(screen, "#detail-status")


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("90m", 90), ("2h", 120), ("1h30m", 90), ("1.5h", 90), ("3d", 3 * 1440), ("4", 240),
     (" 2 h ", 120), ("", None), ("soon", None), ("0h", None), ("8d", None), ("h", None)],
)
def test_parse_duration(text: str, minutes: int | None) -> None:
    got = parse_duration(text)
    assert (None if got is None else got.total_seconds() / 60) == minutes


def test_duration_label() -> None:
    assert duration_label(timedelta(minutes=90)) == "1 h 30 min"
    assert duration_label(timedelta(days=3)) == "3 d"
