"""`citywatch scenario run FILE`: a scenario's city, a hub watching it, the timeline played
on the virtual clock, and the expectations judged from what the hub observed.

Like `demo`, this wires the simulator and the hub together (hub/cli.py is the other
composition root); the simulator and the TUI are imported inside the run. The judge only
looks at the hub through its client interface (hub/scenario_observer.py), never at the
simulator's state: a scenario passes when citywatch noticed what it should have.

Exit codes: 0 the run finished (and, with --check, every expectation passed), 1 an
expectation failed (--check) or the city or hub could not start, 2 the scenario is invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.errors import HubError

if TYPE_CHECKING:
    from hub.core import Hub
    from hub.scenario_verdict import Verdict
    from simulator.scenario import Scenario
    from simulator.timeline_model import AppliedEvent, Phase, WantedEvent

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
# Who the audit trail names for operator actions of a timeline (wanted plates).
SCENARIO_ACTOR = "scenario"
# How often a headless run tells the tester how far it is (stderr, not the report).
PROGRESS_EVERY_S = 15.0
# A soak run (bench/soak.py) sets this to a file path: the run then appends
# "<unix time> <asyncio task count>" to it every TASK_SAMPLE_EVERY_S, since a task count
# can only be read from inside the process. Unset (the default): nothing is sampled.
TASK_LOG_ENV = "CITYWATCH_TASK_LOG"
# The soak samples RSS and fds every 10 s from outside; the task count keeps the same pace.
TASK_SAMPLE_EVERY_S = 10.0


@dataclass(frozen=True)
class RunOptions:
    """What the command line asked for."""

    file: Path
    speed: float | None
    check: bool
    as_json: bool
    tui: bool
    data_dir: Path | None
    stream_health: bool


def add_scenario_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scenario = sub.add_parser(
        "scenario", help="play a scenario's timeline against a hub and check its expectations"
    )
    actions = scenario.add_subparsers(dest="scenario_command", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run",
        help="start the scenario's city and a hub, play the timeline, report the expectations",
        description="Start the scenario's simulated city and a hub watching it, play the "
        "timeline on the virtual clock, and judge every [[expect]] from what the hub "
        "observed. Timeline times are scenario time; expectation windows are real seconds.",
    )
    run.add_argument("file", type=Path, metavar="FILE", help="scenario TOML file")
    run.add_argument("--speed", type=float, default=None,
                     help="virtual clock speed 1-60 (default: the scenario's)")
    run.add_argument("--check", action="store_true",
                     help="exit 1 when an expectation fails (default: report only)")
    run.add_argument("--json", action="store_true", help="print the report as one JSON document")
    run.add_argument("--tui", action="store_true",
                     help="watch the run in the TUI; the report is printed when you quit it")
    run.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                     help="hub data directory (default: a new temporary one, removed after a "
                     "run where everything passed, kept and named otherwise)")
    run.add_argument("--no-stream-health", action="store_true",
                     help="judge cameras by ONVIF only; do not sample their RTSP streams")


def run_scenario_command(args: argparse.Namespace) -> int:
    """Entry point of `citywatch scenario run`."""
    options = RunOptions(
        file=args.file, speed=args.speed, check=args.check, as_json=args.json,
        tui=args.tui, data_dir=args.data_dir, stream_health=not args.no_stream_health,
    )
    scenario = _load(options)
    if scenario is None:
        return EXIT_INVALID
    return asyncio.run(_run(scenario, options))


def _load(options: RunOptions) -> Scenario | None:
    """The scenario, or None after saying on stderr why it cannot run."""
    from hub.scenario_verdict import vocabulary_problems
    from simulator.cli import load_scenario_or_report
    from simulator.clock import MAX_SPEED
    from simulator.scenario import MIN_SPEED

    scenario = load_scenario_or_report(options.file)
    if scenario is None:
        return None
    problems = vocabulary_problems(scenario.expectations)
    if problems:
        for expectation, message in problems:
            line = f"{expectation.line}:" if expectation.line is not None else ""
            print(f"{options.file}:{line} expect {expectation.id}: {message}", file=sys.stderr)
        print(f"citywatch: {options.file}: {len(problems)} problem(s); nothing started",
              file=sys.stderr)
        return None
    if options.speed is not None and not MIN_SPEED <= options.speed <= MAX_SPEED:
        print(f"citywatch: --speed must be from {MIN_SPEED:g} to {MAX_SPEED:g}",
              file=sys.stderr)
        return None
    return scenario


async def _run(scenario: Scenario, options: RunOptions) -> int:
    sampling = _start_task_log()
    try:
        return await _run_city(scenario, options)
    finally:
        if sampling is not None:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling


def _start_task_log() -> asyncio.Task[None] | None:
    """The task-count sampler when $CITYWATCH_TASK_LOG names a file, else None."""
    path = os.environ.get(TASK_LOG_ENV)
    return asyncio.create_task(log_task_counts(Path(path))) if path else None


def _append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(line)


async def log_task_counts(path: Path, every_s: float = TASK_SAMPLE_EVERY_S) -> None:
    """Append "<unix time> <number of asyncio tasks>" to `path` every `every_s` until
    cancelled; stops (with a warning) when the file cannot be written."""
    while True:
        try:
            _append_line(path, f"{time.time():.1f} {len(asyncio.all_tasks())}\n")
        except OSError as exc:
            log.warning("task log %s: cannot write: %s", path, exc)
            return
        await asyncio.sleep(every_s)


async def _run_city(scenario: Scenario, options: RunOptions) -> int:
    from hub.cli import log_to_file
    from simulator.cli import start_city_or_report

    own_dir = options.data_dir is None
    data_dir = (Path(tempfile.mkdtemp(prefix="citywatch-scenario-")) if options.data_dir is None
                else options.data_dir)
    log_path = log_to_file(data_dir)
    city = await start_city_or_report(scenario, options.speed)
    if city is None:
        return EXIT_FAILED
    try:
        outcome = await _with_hub(scenario, city, options, data_dir)
    except HubError as exc:
        print(f"citywatch: {exc}", file=sys.stderr)
        outcome = None
    finally:
        await city.stop()
    if outcome is None:
        print(f"citywatch: logs kept in {log_path}", file=sys.stderr)
        return EXIT_FAILED
    failed = sum(1 for v in outcome if not v.passed)
    if own_dir and failed == 0:
        shutil.rmtree(data_dir, ignore_errors=True)
    elif failed:
        print(f"citywatch: hub data and logs kept in {data_dir}", file=sys.stderr)
    return EXIT_FAILED if options.check and failed else EXIT_OK


async def _with_hub(
    scenario: Scenario, city: Any, options: RunOptions, data_dir: Path
) -> list[Verdict] | None:
    """Run the hub (and its API, where the city's ALPR units post) for the whole scenario,
    print the report; the verdicts, or None when the hub could not start."""
    from hub.api import build_api
    from hub.api_server import ApiServer
    from hub.cli import open_hub
    from hub.endpoints_config import config_from_endpoints
    from hub.local_client import LocalHubClient
    from hub.scenario_observer import HubObserver

    config = config_from_endpoints(city.endpoints(), "simulator")
    hub = await open_hub(config, data_dir, options.stream_health, plate_clock=city.clock.now)
    token = secrets.token_urlsafe(24)
    server = ApiServer(build_api(hub, token), "127.0.0.1", 0)
    client = LocalHubClient(hub)
    observer = HubObserver(client, wall=city.clock.now, rate=city.speed)
    try:
        await observer.start()
        start_real = time.monotonic()  # "after the start" windows open as the hub starts
        await hub.start()
        port = await server.start()
        city.alpr.deliver_to(f"http://127.0.0.1:{port}", token)
        run = ScenarioRun(scenario, city, client, observer, start_real)
        if options.tui:
            verdicts = await run.with_tui(hub)
        else:
            verdicts = await run.headless()
    finally:
        await observer.stop()
        await server.stop()
        await hub.stop()
    _print_report(scenario, city.speed, run, verdicts, options)
    return verdicts


class ScenarioRun:
    """One play of a scenario's timeline against a running hub, and its judgement."""

    def __init__(self, scenario: Scenario, city: Any, client: Any, observer: Any,
                 start_real: float) -> None:
        from simulator.timeline import TimelinePlayer

        self.scenario = scenario
        self.city = city
        self.client = client
        self.observer = observer
        self.start_real = start_real
        self.anchors: dict[tuple[str, Phase], AppliedEvent] = {}
        self.player = TimelinePlayer(city, scenario.timeline, on_applied=self._applied,
                                     operator=self._operator)

    def _applied(self, applied: AppliedEvent) -> None:
        self.anchors[applied.event.id, applied.phase] = applied
        log.info("scenario %s: %s %s %s%s", self.scenario.name, applied.event.id,
                 applied.phase.value, applied.detail, "" if applied.ok else " (FAILED)")

    async def _operator(self, event: WantedEvent) -> str:
        from simulator.timeline import OperatorError

        try:
            wanted, _ = await self.client.add_wanted(event.plate, event.reason, event.days,
                                                     SCENARIO_ACTOR)
        except HubError as exc:  # e.g. WantedPlateError: the hub refused the plate
            raise OperatorError(str(exc)) from exc
        return f"wanted {wanted.plate} for {event.days} d: {event.reason}"

    @property
    def end_of_scenario(self) -> float:
        """Monotonic time at which the virtual clock reaches the scenario's duration."""
        return float(self.city.clock.real_at(self.scenario.duration_s))

    def _windows_close(self) -> float:
        """When the last expectation window closes, from the anchors carried out so far
        (an anchor not carried out cannot hold the run up)."""
        end = self.end_of_scenario
        for e in self.scenario.expectations:
            if e.within_s is None:
                continue
            anchor = self._anchor_real(e)
            if anchor is not None:
                end = max(end, anchor + e.within_s)
        return end

    def _anchor_real(self, e: Any) -> float | None:
        from simulator.timeline_model import Phase

        a = e.anchor
        if a.event is not None:
            applied = self.anchors.get((a.event, Phase.END if a.end else Phase.START))
            return applied.real if applied is not None else None
        if a.at_s is not None:
            return float(self.city.clock.real_at(a.at_s))
        return self.start_real

    async def headless(self) -> list[Verdict]:
        play = asyncio.create_task(self.player.run(until_s=self.scenario.duration_s))
        try:
            await self._until(self.end_of_scenario, play)
            await play
            await self._until(self._windows_close(), None)
        finally:
            play.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await play
        return await self.judge()

    async def with_tui(self, hub: Hub) -> list[Verdict]:
        from tui.app import CitywatchApp

        play = asyncio.create_task(self.player.run(until_s=self.scenario.duration_s))
        try:
            await CitywatchApp(
                self.client, title=f"citywatch — scenario {self.scenario.name}"
            ).run_async()
        finally:
            play.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await play
        return await self.judge()

    async def _until(self, deadline: float, task: asyncio.Task[Any] | None) -> None:
        """Sleep until `deadline` (monotonic), saying how far the run is now and then."""
        last = time.monotonic()
        while (now := time.monotonic()) < deadline:
            await asyncio.sleep(min(1.0, deadline - now))
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                last = time.monotonic()
                print(_progress(self, deadline), file=sys.stderr, flush=True)
        if task is not None and task.done() and task.exception() is not None:
            raise HubError(f"timeline stopped: {task.exception()}")

    async def judge(self) -> list[Verdict]:
        from hub.scenario_verdict import judge

        return await judge(self.scenario.expectations, self.observer, self.anchors,
                           self.start_real, self.city.clock.real_at, time.monotonic())


def _progress(run: ScenarioRun, deadline: float) -> str:
    from simulator.timeline_model import format_scenario_time

    elapsed = min(run.city.clock.elapsed(), run.scenario.duration_s)
    left = max(0.0, deadline - time.monotonic())
    return (f"scenario {run.scenario.name}: {format_scenario_time(elapsed)} of "
            f"{format_scenario_time(run.scenario.duration_s)}, "
            f"{len(run.player.applied)} event phases played, {left:.0f} s to go")


def _print_report(scenario: Scenario, speed: float, run: ScenarioRun,
                  verdicts: list[Verdict], options: RunOptions) -> None:
    from hub.scenario_report import report_json, report_text

    real_at: Callable[[float], float] = run.city.clock.real_at
    if options.as_json:
        doc = report_json(scenario.name, scenario.seed, speed, run.player.applied, verdicts,
                          options.check, real_at=real_at)
        print(json.dumps(doc, indent=2))
    else:
        print(report_text(scenario.name, scenario.seed, speed, run.player.applied, verdicts,
                          options.check), end="")
