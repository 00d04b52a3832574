"""Reads search as you type, read detail with its crop, and the half-block image."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from textual.pilot import Pilot

from hub.alpr_model import ImageKind
from tests.tui.conftest import PLATE_JPEG, FakeHub, wait_until
from tests.tui.test_app import plain
from tui.app import SEARCH_KEY, CitywatchApp
from tui.screens.cameras import CamerasScreen
from tui.screens.reads import HINT, ReadDetailScreen, ReadsScreen
from tui.widgets.plate_image import UPPER_HALF, ImageUnreadable, decode, fit, scale, strips

SIZE = (80, 24)


async def open_search(pilot: Pilot[None]) -> ReadsScreen:
    await pilot.press(SEARCH_KEY)
    screen = pilot.app.screen
    assert isinstance(screen, ReadsScreen)
    return screen


def message(screen: ReadsScreen) -> str:
    return plain(screen.message)


async def test_results_as_you_type(alpr_app: CitywatchApp, hub: FakeHub) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_search(pilot)
        assert HINT in message(screen)
        await pilot.press(*"1ab")
        await wait_until(pilot, lambda: screen.pattern == "1ab")
        assert screen.table.row_ids() == [102, 107, 108]  # newest first
        assert "3 reads match 1ab" in message(screen)
        # Debounced: typing three characters quickly is (nearly always) one search.
        assert hub.search_calls[-1] == "1ab" and len(hub.search_calls) <= 2
        row = [c.plain for c in screen.table.get_row("102")]
        assert row == ["2025-03-14 09:29:20", "1-ABC-234", "Ring R70 Noord ALPR", "94%", "BE",
                       "fixed"]
        assert [c.plain for c in screen.table.get_row("108")][3:5] == ["—", "—"]
        await pilot.press("backspace", "backspace", "backspace")
        await wait_until(pilot, lambda: screen.pattern == "")
        assert screen.table.row_count == 0 and HINT in message(screen)


async def test_too_short_a_pattern_is_an_inline_message(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_search(pilot)
        await pilot.press(*"1A")
        await wait_until(pilot, lambda: screen.pattern == "1A")
        text = message(screen)
        assert "too short" in text and HINT in text
        assert screen.table.row_count == 0
        await pilot.press("*")  # a prefix pattern is fine
        await wait_until(pilot, lambda: screen.pattern == "1A*")
        assert screen.table.row_ids() == [102, 104, 107, 108]
        assert "too short" not in message(screen)


async def test_a_slow_older_answer_never_overwrites_a_newer_one(
    alpr_app: CitywatchApp, hub: FakeHub
) -> None:
    hub.search_delays["1AB"] = 0.6
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_search(pilot)
        await pilot.press(*"1AB")
        # in flight (a loaded machine may also have searched "1A" before the debounce)
        await wait_until(pilot, lambda: "1AB" in hub.search_calls)
        await pilot.press("C")
        await wait_until(pilot, lambda: screen.pattern == "1ABC")
        assert screen.table.row_ids() == [102]
        await pilot.pause(0.8)  # the slow answer's time has come and gone
        assert screen.pattern == "1ABC" and screen.table.row_ids() == [102]
        assert "1 read match 1ABC" in message(screen)


async def test_enter_shows_the_read_with_its_crop(alpr_app: CitywatchApp, hub: FakeHub) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_search(pilot)
        await pilot.press(*"GHI")
        await wait_until(pilot, lambda: screen.pattern == "GHI")
        assert screen.table.row_ids() == [101, 110, 112]
        await pilot.press("enter", "down", "enter")  # to the results, second read, open
        detail = pilot.app.screen
        assert isinstance(detail, ReadDetailScreen) and detail.read.id == 110
        await wait_until(pilot, lambda: detail.image.ready)
        assert hub.image_calls == [(110, ImageKind.CROP)]
        assert detail.image.render_line(0).text.startswith(UPPER_HALF)
        info = plain(detail.query_one("#read-info"))  # type: ignore[arg-type]
        assert "Ring R70 Zuid ALPR (cam-007)" in info and "95%" in info
        await pilot.press("escape")  # detail -> results
        assert pilot.app.screen is screen and screen.table.has_focus
        await pilot.press("escape")  # results -> typing
        assert not screen.table.has_focus
        await pilot.press("escape")  # -> cameras
        assert isinstance(pilot.app.screen, CamerasScreen)


async def test_a_read_without_image_says_so(alpr_app: CitywatchApp, hub: FakeHub) -> None:
    async with alpr_app.run_test(size=SIZE) as pilot:
        screen = await open_search(pilot)
        await pilot.press(*"ABE")
        await wait_until(pilot, lambda: screen.table.row_ids() == [108])
        await pilot.press("enter", "enter")
        detail = pilot.app.screen
        assert isinstance(detail, ReadDetailScreen)
        await wait_until(pilot, lambda: detail.image.ready)
        assert detail.image.message == "no image"
        assert detail.image.render_line(0).text.startswith("no image")


# the image ---------------------------------------------------------------------------------


def test_decode_and_scale_keep_the_aspect_ratio() -> None:
    img = decode(PLATE_JPEG)
    assert img.size == (96, 24) and img.mode == "RGB"
    assert fit(96, 24, 40, 10) == (40, 10)  # 4:1 -> 40 wide, 10 pixels = 5 lines
    assert fit(96, 24, 80, 5) == (40, 10)  # height-bound
    assert fit(10, 10, 0, 5) == (0, 0)
    rows = scale(img, 40, 10)
    assert len(rows) == 10 and {len(r) for r in rows} == {40}


def test_strips_are_half_blocks_with_top_and_bottom_colours() -> None:
    red, blue = (255, 0, 0), (0, 0, 255)
    lines = strips([(red, red), (blue, blue), (red, blue)])
    assert [line.text for line in lines] == [UPPER_HALF * 2, UPPER_HALF * 2]
    first = next(iter(lines[0])).style
    assert first is not None and first.color is not None and first.bgcolor is not None
    assert first.color.triplet == red and first.bgcolor.triplet == blue
    last = next(iter(lines[1])).style  # a lone last row has no bottom pixel
    assert last is not None and last.bgcolor is None


def test_undecodable_bytes_raise_a_named_error() -> None:
    with pytest.raises(ImageUnreadable):
        decode(b"not a jpeg")
    out = io.BytesIO()
    Image.new("RGB", (4, 2), (9, 9, 9)).save(out, format="PNG")
    assert decode(out.getvalue()).size == (4, 2)  # any format Pillow reads
