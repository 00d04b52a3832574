"""Toasts for new hotlist hits, app-wide: one at once for the first hit, then at most one
every TOAST_EVERY_S summarising what came meanwhile ("+N more"), so that a burst of
50 alerts/s cannot bury the screen under notifications."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.notifications import SeverityLevel

from hub.alpr_model import Alert
from tui.widgets.alpr_text import COVERT_MARK, IMPORTANT_PRIORITY, URGENT_PRIORITY, list_label

# At most one hit toast per this many seconds: long enough to read one, short enough
# that an operator hears of a new hit within a tick or two of it.
TOAST_EVERY_S = 2.0
# How long a hit toast stays: a few toasts at most are on screen at once.
TOAST_TIMEOUT_S = 6.0

Notify = Callable[[str, str, SeverityLevel], None]


def hit_severity(priority: int) -> SeverityLevel:
    """Urgent hits are errors (red), important ones warnings, the rest information."""
    if priority >= URGENT_PRIORITY:
        return "error"
    if priority >= IMPORTANT_PRIORITY:
        return "warning"
    return "information"


def hit_toast(lead: Alert, more: list[Alert], camera_name: Callable[[str], str]) -> tuple[str, str]:
    """(title, message) of a toast about `lead` (the most urgent) and `more` others."""
    covert = lead.covert
    title = f"{COVERT_MARK} covert hit — not for patrol units" if covert else "hotlist hit"
    message = (f"{lead.read.plate}  {list_label(lead.hit)}  PRIORITY {lead.priority}\n"
               f"{camera_name(lead.read.camera_id)}")
    if more:
        covert_more = sum(1 for a in more if a.covert)
        extra = f" ({covert_more} covert)" if covert_more else ""
        message += f"\n+{len(more)} more{extra} — a: alerts"
    return title, message


class HitToaster:
    """Collects new live alerts and shows them as throttled toasts via `notify`."""

    def __init__(
        self,
        notify: Notify,
        camera_name: Callable[[str], str],
        *,
        every: float = TOAST_EVERY_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._notify = notify
        self._camera_name = camera_name
        self._every = every
        self._now = now
        self._pending: list[Alert] = []
        self._last: float | None = None
        self.shown = 0  # toasts shown (tests, benchmarks)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, alert: Alert) -> None:
        """A new hit arrived: shown at once if no toast was shown lately, else held."""
        self._pending.append(alert)
        self.flush()

    def flush(self) -> None:
        """Show what is held if the last toast is old enough (the app's tick calls it)."""
        if not self._pending:
            return
        now = self._now()
        if self._last is not None and now - self._last < self._every:
            return
        pending, self._pending = self._pending, []
        lead = max(pending, key=lambda a: (a.priority, a.raised_at, a.id))
        more = [a for a in pending if a is not lead]
        title, message = hit_toast(lead, more, self._camera_name)
        severity = hit_severity(max(a.priority for a in pending))
        self._last = now
        self.shown += 1
        self._notify(title, message, severity)
