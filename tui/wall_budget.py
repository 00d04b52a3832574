"""Refresh pacing for the camera wall: which tiles may fetch a new snapshot now, so that
what the wall writes to the terminal stays within a byte budget an SSH link can carry.

A token bucket in bytes: each tile redraw is charged its estimated cost (from its cell
count) when its snapshot is requested; tiles take turns (round-robin), at most
`max_in_flight` requests are out at once, and a tile is not refreshed more often than
`min_interval_s`. Pure bookkeeping, no Textual: the screen calls `due` on a timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Issue 10 caps the TUI's steady terminal output at 20 KB/s over SSH; the wall takes
# 12 KB/s of it and leaves the rest for the app's other redraws (notifications, the
# footer, a remote link's title) and for key echo.
WALL_BYTES_PER_S = 12_000
# Of the wall's budget, this is kept for its text: the tiles' headers and captions (an
# age caption changes at most every AGE_STEP_S, ~150 bytes for a border line each).
TEXT_RESERVE_BYTES_PER_S = 1_000
# Bytes written per picture cell on a redraw: "▀" in a 24-bit foreground on a 24-bit
# background, one SGR sequence per cell when neighbours differ, e.g.
# "\x1b[38;2;112;151;203;48;2;71;70;76m▀" (~40 bytes). Measured once (tests/tui/
# test_wall.py's TerminalCounter renders each screen update for a truecolor terminal as
# Textual writes it, the bytes bench/tui_scale_app.py's tmux pipe-pane counts), one
# tile's picture redrawn, bytes per drawn picture cell:
#   random noise (no cell merges with the next, the worst case): 44.6 at 200x60 3x3
#   (40.7 KB), 43.7 at 200x60 2x2 (104 KB), 45.2 at 160x48 3x3 (23.3 KB), 50.0 at
#   80x24 3x3 (2.8 KB, mostly line overhead); the CameraHub street JPEG (flat areas
#   merge): 14-16, real cameras lie between. The worst case is charged, per cell of the
#   picture area (the picture fits inside it, the rest is blank) ...
BYTES_PER_IMAGE_CELL = 44
# ... plus per line: the cursor move and the blank padding beside the centred picture.
BYTES_PER_LINE = 80
# The bucket holds this many seconds of budget (or one tile's cost if that is more: a
# 2x2 wall at 200x60). It starts empty when the wall opens, so over any stretch from
# then on the bytes charged stay within the budget.
BURST_S = 2.0
# Snapshot requests out at once: a stalling camera holds one slot until its timeout,
# the others keep drawing.
MAX_IN_FLIGHT = 3
# A preview, not video: like the camera detail (tui/widgets/camera_panel.py), a tile is
# refreshed at most this often; a camera encodes one JPEG per refresh.
MIN_TILE_INTERVAL_S = 5.0
# A snapshot that takes longer than this counts as failed ("snapshot failed: timeout").
SNAPSHOT_TIMEOUT_S = 8.0


def redraw_cost(cells_w: int, cells_h: int) -> int:
    """Estimated bytes written to the terminal for redrawing a picture of that many cells."""
    if cells_w <= 0 or cells_h <= 0:
        return 0
    return cells_w * cells_h * BYTES_PER_IMAGE_CELL + cells_h * BYTES_PER_LINE


@dataclass(frozen=True)
class TileSlot:
    """What the pacer needs to know of one tile."""

    index: int
    cost: int  # bytes its next redraw is expected to write
    wanted: bool = True  # False: nothing to fetch (no camera, camera down)
    busy: bool = False  # a request for it is out
    last_started: float | None = None  # monotonic time of its last request


class WallPacer:
    """Token bucket + round-robin over the tiles.

    `due(slots, in_flight)` returns the tiles to fetch now and charges them; `refund`
    gives back the cost of a redraw that did not happen (a failed fetch draws a line
    of text instead).
    """

    def __init__(
        self,
        bytes_per_s: float = WALL_BYTES_PER_S - TEXT_RESERVE_BYTES_PER_S,
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
        min_interval_s: float = MIN_TILE_INTERVAL_S,
        burst_s: float = BURST_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bytes_per_s = bytes_per_s
        self.max_in_flight = max_in_flight
        self.min_interval_s = min_interval_s
        self.capacity = bytes_per_s * burst_s
        self.clock = clock
        self.tokens = 0.0  # no burst when the wall opens: see BURST_S
        self.charged = 0  # bytes charged in all (tests compare it with what was written)
        self._cursor = 0
        self._refilled_at: float | None = None  # set by the first `due`

    def _refill(self, now: float, cap: float) -> None:
        if self._refilled_at is None:  # the first call: the wall just opened
            self._refilled_at = now
        elapsed = max(0.0, now - self._refilled_at)
        self._refilled_at = now
        self.tokens = min(cap, self.tokens + elapsed * self.bytes_per_s)

    def due(self, slots: Sequence[TileSlot], in_flight: int) -> list[int]:
        """Indexes of the tiles to refresh now, in turn order; they are charged."""
        now = self.clock()
        wanted = [slot for slot in slots if slot.wanted]
        # A tile dearer than the bucket makes room for itself: it waits for its cost
        # (never a debt), so the bytes charged never run ahead of the budget.
        self._refill(now, max([self.capacity, *(slot.cost for slot in wanted)]))
        picked: list[int] = []
        count = len(slots)
        if not count:
            return picked
        start = self._cursor % count
        for step in range(count):
            if in_flight + len(picked) >= self.max_in_flight:
                break
            slot = slots[(start + step) % count]
            if not slot.wanted or slot.busy:
                continue
            if slot.last_started is not None and now - slot.last_started < self.min_interval_s:
                continue
            if self.tokens < slot.cost:
                break  # its turn: later tiles do not overtake it
            self.tokens -= slot.cost
            self.charged += slot.cost
            picked.append(slot.index)
            self._cursor = (start + step + 1) % count
        return picked

    def refund(self, amount: int) -> None:
        """A charged redraw did not happen (the fetch failed or was cancelled)."""
        if amount > 0:
            self.tokens += amount
            self.charged -= amount

    def reset_turns(self) -> None:
        """The tiles changed (page, grid, source): start the turns at the first."""
        self._cursor = 0
