"""The result of a camera's diagnose: findings with severity symbols, then the device and
profile facts it found; "running…" while it runs, or why it could not."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from hub.client import HubClient
from hub.diagnose import Report, Severity
from hub.errors import CameraActionError
from tui.format import strip_credentials

# Worst first; the symbols match the health states' (✘ down, ▲ degraded).
SEVERITY_MARK: dict[str, tuple[str, str]] = {
    Severity.ERROR: ("✘", "bold red"),
    Severity.WARNING: ("▲", "yellow"),
    Severity.INFO: ("•", "cyan"),
}
_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def findings_table(report: Report) -> Table:
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(no_wrap=True, width=1)
    table.add_column(overflow="fold", ratio=1)
    findings = sorted(report.findings, key=lambda f: _ORDER.get(f.severity, 3))
    if not findings:
        table.add_row(Text("✔", style="green"), "no problems found")
    for finding in findings:
        mark, style = SEVERITY_MARK.get(finding.severity, ("?", ""))
        line = Text(finding.message)
        line.append(f"  {finding.code}", style="dim")
        table.add_row(Text(mark, style=style), line)
    return table


def facts_table(report: Report) -> Table:
    info = report.device
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="dim", no_wrap=True, min_width=10)
    grid.add_column(overflow="fold", ratio=1)
    offset = "—" if report.clock_offset_s is None else f"{report.clock_offset_s:+.1f} s"
    grid.add_row("device", " ".join(
        v for v in (info.manufacturer, info.model, info.firmware_version) if v) or "—")
    grid.add_row("clock offset", offset)
    for p in report.profiles:
        size = f"{p.width}x{p.height}" if p.width and p.height else "?"
        fps = f" {p.fps:g} fps" if p.fps else ""
        grid.add_row(f"profile {p.token}", f"{p.name} {p.encoding or '?'} {size}{fps}")
        if p.stream_uri:
            grid.add_row("", strip_credentials(p.stream_uri))
    events = "PullPoint" if report.pullpoint else "no PullPoint"
    grid.add_row("PTZ · events", f"{'yes' if report.ptz else 'no'} · {events}, "
                 f"{len(report.topics)} topics")
    return grid


class FindingsView(Static):
    """`running()`, then `show(report)` or `failed(reason)`."""

    DEFAULT_CSS = """
    FindingsView {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Text("g runs a diagnose of the camera", style="dim italic"),
                         id=id, classes=classes)
        self.report: Report | None = None
        self.state = "idle"  # idle | running | done | failed

    def run(self, client: HubClient, camera_id: str) -> None:
        """Run the hub's diagnose of the camera (a worker; a second `g` restarts it)."""
        self.running()
        self.run_worker(self._run(client, camera_id), group="diagnose", exclusive=True,
                        exit_on_error=False)

    async def _run(self, client: HubClient, camera_id: str) -> None:
        try:
            report = await client.diagnose_camera(camera_id)
        except CameraActionError as exc:
            self.failed(str(exc))
            return
        except Exception as exc:  # a broken hub connection must not take the UI down
            self.failed(f"hub error: {exc or type(exc).__name__}")
            return
        self.show(report)

    def running(self) -> None:
        self.state = "running"
        self.update(Text("running diagnose… (takes a few seconds)", style="italic"))

    def show(self, report: Report) -> None:
        self.state = "done"
        self.report = report
        parts: list[RenderableType] = [findings_table(report), Text(""), facts_table(report)]
        self.update(Group(*parts))

    def failed(self, reason: str) -> None:
        self.state = "failed"
        self.update(Text(f"✘ diagnose failed: {reason}", style="red"))
