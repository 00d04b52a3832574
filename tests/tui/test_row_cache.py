"""RowCacheTable's render shortcuts draw exactly what DataTable draws: the one-line cell
renderer against Rich's own pipeline, cells reused by look with their own row and column
(mouse meta), and caches that survive a screen switch but not a real style change."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.padding import Padding
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.renderables.styled import Styled

from tests.tui.test_app import SIZE, table_of
from tui.app import CitywatchApp
from tui.widgets.row_cache import RowCacheTable, one_line_cell

CONSOLE = Console(width=200, color_system="truecolor", force_terminal=True, legacy_windows=False)
STYLES = [Style(), Style(bold=True), Style(color="#aabbcc", bgcolor="#112233"),
          Style(color="red", italic=True), Style.from_meta({"x": 1})]
WORDS = st.text(alphabet=st.sampled_from(list("ab 1Z·—✔▲✘漢字😀é")), max_size=30)


def rich_cell(cell: Text, width: int, padding: int, pre: Style, post: Style) -> list:
    """What DataTable._render_cell renders for a one-line cell."""
    options = CONSOLE.options.update_dimensions(width, 1).update(no_wrap=True)
    return CONSOLE.render_lines(Styled(Padding(cell, (0, padding)), pre_style=pre,
                                       post_style=post), options)


@st.composite
def cells(draw: st.DrawFn) -> Text:
    plain = draw(WORDS)
    text = Text(plain, style=draw(st.sampled_from(["", "bold", "dim", "red on blue"])),
                justify=draw(st.sampled_from([None, "left", "right", "center", "full"])),
                overflow=draw(st.sampled_from([None, "ellipsis", "crop", "fold"])),
                no_wrap=draw(st.sampled_from([None, True])), end=draw(st.sampled_from(["", "\n"])))
    for _ in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, len(plain)))
        text.stylize(draw(st.sampled_from(["bold", "italic", "green"])), start,
                     draw(st.integers(start, len(plain))))
    return text


@settings(max_examples=300, deadline=None)
@given(cell=cells(), width=st.integers(1, 24), padding=st.integers(0, 2),
       pre=st.sampled_from(STYLES), post=st.sampled_from(STYLES))
def test_one_line_cell_renders_what_rich_renders(cell: Text, width: int, padding: int,
                                                 pre: Style, post: Style) -> None:
    options = CONSOLE.options.update_dimensions(width, 1).update(no_wrap=True)
    fast = one_line_cell(CONSOLE, options, cell.copy(), width, padding, pre, post)
    if fast is not None:
        assert fast == rich_cell(cell.copy(), width, padding, pre, post)


def test_one_line_cell_leaves_line_breaks_and_tabs_to_rich() -> None:
    options = CONSOLE.options.update_dimensions(10, 1).update(no_wrap=True)
    for plain in ("two\nlines", "a\tb"):
        assert one_line_cell(CONSOLE, options, Text(plain), 10, 1, Style(), Style()) is None
    assert one_line_cell(CONSOLE, options, Text("x"), 2, 1, Style(), Style()) is None  # no room


class Table(RowCacheTable):
    pass


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Table(zebra_stripes=True, cursor_type="row", cell_padding=1)


def rendered(table: RowCacheTable) -> list[object]:
    """The rendered rows' cells in the table's cache (compared by identity)."""
    cache = table._plain_rows
    return [cache[key] for key in list(cache.keys())]


def meta_of(table: RowCacheTable, y: int, x: int) -> dict[str, object]:
    """The mouse meta of the segment at (x, y) of the table as drawn."""
    at = 0
    for segment in table.render_line(y):
        at += segment.cell_length
        if at > x:
            return dict(segment.style.meta) if segment.style else {}
    return {}


async def test_cells_reused_by_look_carry_their_own_row_and_column() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(Table)
        table.add_column("A", key="a", width=6)
        table.add_column("B", key="b", width=6)
        for n in range(4):
            table.add_row(Text("same", end=""), Text(f"r{n}", end=""), key=f"k{n}")
        await pilot.pause()
        lines = [table.render_line(y).text for y in range(1, 5)]
        # rows 0 and 2 look alike in column A (same text, same zebra colour): one render
        assert lines[0][:8] == lines[2][:8]
        for row in range(4):
            assert meta_of(table, row + 1, 1) == {"row": row, "column": 0}
            assert meta_of(table, row + 1, 9) == {"row": row, "column": 1}
        table.place_rows(["k3", "k2", "k1", "k0"])  # every row moves
        await pilot.pause()
        assert [table.render_line(y).text[8:12].strip() for y in range(1, 5)] == \
            ["r3", "r2", "r1", "r0"]
        for row in range(4):
            assert meta_of(table, row + 1, 1) == {"row": row, "column": 0}


async def test_styles_applied_again_unchanged_keep_the_rendered_cells(
        app: CitywatchApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = table_of(app)
        for y in range(1, table.size.height):
            table.render_line(y)
        before = rendered(table)  # held: their ids cannot be reused meanwhile
        assert before
        app.update_styles(table)  # what a screen switch does (focus, blur)
        await pilot.pause()
        for y in range(1, table.size.height):
            table.render_line(y)
        # The same renders, not new ones (DataTable alone drops them all).
        assert {id(lines) for lines in before} <= {id(lines) for lines in rendered(table)}


async def test_a_real_style_change_drops_the_caches() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(Table)
        table.add_column("A", key="a", width=6)
        table.add_row(Text("cell", end=""), key="k0")
        await pilot.pause()
        before = table.render_line(1)
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        after = table.render_line(1)
        assert after.text == before.text
        assert after != before  # drawn again in the new colours, not from the cache



async def test_a_cursor_move_renders_two_rows_again() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(Table)
        table.add_column("A", key="a", width=6)
        for n in range(8):
            table.add_row(Text(f"r{n}", end=""), key=f"k{n}")
        await pilot.pause()
        for y in range(1, 9):
            table.render_line(y)
        rows = len(table._row_render_cache)
        table.move_cursor(row=3)
        await pilot.pause()
        for y in range(1, 9):
            table.render_line(y)
        # The row the cursor left and the one it reached (DataTable alone: all eight).
        assert len(table._row_render_cache) - rows == 2
        assert "r3" in table.render_line(4).text


async def test_moved_rows_reuse_their_cells_and_draw_as_a_fresh_table(
        monkeypatch: object) -> None:
    order = ["k2", "k3", "k0", "k1"]  # moved by two: each row keeps its zebra colour

    def fill(table: Table, keys: list[str]) -> None:
        table.add_column("A", key="a", width=6)
        table.add_column("B", key="b", width=6)
        for key in keys:
            table.add_row(Text(key, end=""), Text(f"{key}!", style="bold", end=""), key=key)

    app, fresh_app = TableApp(), TableApp()
    async with app.run_test(size=(40, 8)) as pilot, \
            fresh_app.run_test(size=(40, 8)) as fresh_pilot:
        table, fresh = app.query_one(Table), fresh_app.query_one(Table)
        fill(table, ["k0", "k1", "k2", "k3"])
        fill(fresh, order)
        table.move_cursor(row=2)  # on k2, which the reorder puts where fresh's cursor is
        await pilot.pause()
        await fresh_pilot.pause()
        for y in range(1, 5):
            table.render_line(y)
        looked = []
        original = Table._cell_look

        def counting(self: Table, *args: object) -> object:
            looked.append(args)
            return original(self, *args)

        monkeypatch.setattr(Table, "_cell_look", counting)  # type: ignore[attr-defined]
        table.place_rows(order)
        table.move_cursor(row=0)
        await pilot.pause()
        drawn = [list(table.render_line(y)) for y in range(5)]
        assert looked == []  # every cell came from the rows' own cache
        assert drawn == [list(fresh.render_line(y)) for y in range(5)]  # styles and meta too
