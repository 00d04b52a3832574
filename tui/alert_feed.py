"""The alerts of the hub in the TUI: read at start, followed live, patched into the alert
screens on the tick; the operator's transitions (and `A`, the newest one acknowledged) go
to the hub in workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from textual.app import App
from textual.notifications import SeverityLevel

from hub.alpr_model import Alert, AlertState, RejectReason
from hub.errors import AlertTransitionError, ApiForbidden
from tui.feeds import follow_feed
from tui.screens.alerts import AlertDetailScreen, AlertsScreen
from tui.screens.overview import OverviewScreen
from tui.widgets.alpr_text import list_label
from tui.widgets.overview_toasts import TOAST_TIMEOUT_S, HitToaster

if TYPE_CHECKING:
    from hub.client import HubClient

# Alerts read when the TUI starts (the hub sorts them, most urgent first).
ALERT_LIMIT = 200
# Alerts kept in memory; beyond this the oldest handled ones are forgotten (the hub
# keeps them all), so that a long shift cannot grow the TUI without bound.
ALERT_KEEP = 2000
# The alert queue is patched every this many ticks (1 s at the default tick). Patches are
# cheap (changed cells only; new alerts are held under a "N new" banner), so this bounds
# the title/banner repaints. The operator's own triage is shown at once.
ALERT_APPLY_EVERY = 2
# Alerts in these states are done with: the first to forget when over ALERT_KEEP.
HANDLED = frozenset({AlertState.ACCEPTED, AlertState.REJECTED, AlertState.CLOSED})


class AlertFeed(App[None]):
    """The alert side of `CitywatchApp`."""

    # Set by CitywatchApp.
    client: HubClient
    operator: str
    ticks: int
    bell_alerts: bool
    bell_priority: int
    alerts: dict[int, Alert]
    dirty_alerts: set[int]
    alerts_loaded: bool
    _alert_changes: AsyncIterator[Alert] | None
    _acking: set[int]
    hit_toasts: HitToaster

    if TYPE_CHECKING:
        def report_error(self, what: str, exc: BaseException) -> None: ...

    def _subscribe_alerts(self) -> AsyncIterator[Alert] | None:
        try:
            return self.client.alert_changes()
        except Exception as exc:
            self.report_error("subscribing to alerts", exc)
            return None

    async def _load_alerts(self) -> bool:
        """(Re)read the open alerts; those that differ are marked dirty."""
        try:
            alerts = await self.client.alerts(limit=ALERT_LIMIT)
        except ApiForbidden:
            self.notify("This token's role may not see alerts: the alert queue stays "
                        "empty.", title="alerts", severity="warning", timeout=8)
            self.alerts_loaded = True
            return True  # nothing to catch up on either
        except Exception as exc:
            self.report_error("loading alerts", exc)
            return False
        for alert in alerts:
            self.take_alert(alert, live=False)
        self.alerts_loaded = True
        return True

    def take_alert(self, alert: Alert, live: bool = True) -> None:
        """Record the newest version of an alert; ring for a new urgent one if asked."""
        old = self.alerts.get(alert.id)
        if old == alert or (old is not None and old.updated_at > alert.updated_at):
            return  # nothing new, or older news than what we have
        self.alerts[alert.id] = alert
        self.dirty_alerts.add(alert.id)
        if (
            live
            and old is None
            and self.bell_alerts
            and alert.state is AlertState.NEW
            and alert.priority >= self.bell_priority
        ):
            self.bell()
        if live and old is None and alert.state is AlertState.NEW:
            self.hit_toasts.add(alert)
        if len(self.alerts) > ALERT_KEEP:
            self._forget_handled()

    def _forget_handled(self) -> None:
        handled = sorted(
            (a for a in self.alerts.values() if a.state in HANDLED), key=lambda a: a.updated_at
        )
        for alert in handled[: len(self.alerts) - ALERT_KEEP]:
            del self.alerts[alert.id]
            self.dirty_alerts.discard(alert.id)

    async def _follow_alerts(self) -> None:
        """The one long-lived consumer of `client.alert_changes()`; the open alerts are
        read first (and again after a lost subscription)."""
        changes, self._alert_changes = self._alert_changes, None
        await self._load_alerts()
        await follow_feed(self.report_error, "alerts", changes, self._subscribe_alerts,
                          self._load_alerts, self.take_alert)

    def _apply_alerts(self, now: bool = False) -> None:
        """Patch changed alerts into the alert screen on top; hidden ones catch up when
        shown again (on_screen_resume), so the dirty set is simply dropped for them.
        Every ALERT_APPLY_EVERY ticks, or `now`."""
        if not self.dirty_alerts or (not now and self.ticks % ALERT_APPLY_EVERY):
            return
        dirty, self.dirty_alerts = self.dirty_alerts, set()
        screen = self.screen
        if not isinstance(screen, AlertsScreen | AlertDetailScreen | OverviewScreen):
            return
        alerts = [self.alerts[i] for i in sorted(dirty) if i in self.alerts]
        try:
            with self.batch_update():
                screen.apply_alerts(alerts)
        except Exception as exc:
            self.report_error("applying alert changes", exc)

    def transition_alert(
        self,
        alert_id: int,
        to: AlertState,
        reason: RejectReason | None = None,
        text: str = "",
    ) -> None:
        """Ask the hub to move an alert, as the operator; the answer arrives in a worker."""
        self.run_worker(
            self._transition(alert_id, to, reason, text), group="transitions", exit_on_error=False
        )

    async def _transition(
        self, alert_id: int, to: AlertState, reason: RejectReason | None, text: str
    ) -> None:
        try:
            alert = await self.client.transition_alert(
                alert_id, to, self.operator, reason=reason, text=text
            )
        except AlertTransitionError as exc:
            self.notify(str(exc), title=f"alert #{alert_id} not {to.value}", severity="warning")
            return
        except Exception as exc:
            self.report_error(f"alert #{alert_id}", exc)
            return
        finally:
            self._acking.discard(alert_id)
        self.take_alert(alert, live=False)
        self._apply_alerts(now=True)  # the operator's own key: no wait for a tick

    def action_ack_newest_alert(self) -> None:
        """`A`, anywhere: acknowledge the newest alert nobody has looked at yet."""
        new = [a for a in self.alerts.values()
               if a.state is AlertState.NEW and a.id not in self._acking]
        if not new:
            self.notify("No new alerts.", title="acknowledge", timeout=3)
            return
        alert = max(new, key=lambda a: (a.raised_at, a.id))
        self._acking.add(alert.id)
        self.transition_alert(alert.id, AlertState.ACKNOWLEDGED)
        self.notify(f"#{alert.id} {alert.read.plate} ({list_label(alert.hit)}, "
                    f"priority {alert.priority}) acknowledged", title="acknowledge", timeout=4)

    def _toast(self, title: str, message: str, severity: SeverityLevel) -> None:
        self.notify(message, title=title, severity=severity, timeout=TOAST_TIMEOUT_S)
