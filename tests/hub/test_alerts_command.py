"""`citywatch alerts` against a real hub API on a loopback port: lines, JSON lines, the
token and reachability errors, and --follow across a hub restart (in a subprocess, ended
with Ctrl-C as a user would)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from hub.alerts_command import add_alerts_parser, run_alerts
from hub.alpr_config import AlprConfig, HotlistFile
from hub.alpr_model import AlertState, RejectReason
from hub.api import build_api
from hub.api_server import ApiServer
from hub.core import Hub

TOKEN = "alerts-command-token"
HOTLIST_CSV = ("plate,list,category,priority\n1-ABC-234,stolen,vehicle,80\n"
               "2XYZ999,uninsured,insurance,40\n")
ROOT = Path(__file__).resolve().parents[2]
# The command as the console script would run it, without depending on hub.cli wiring.
COMMAND = ("import argparse, sys\n"
           "from hub.alerts_command import add_alerts_parser, run_alerts\n"
           "parser = argparse.ArgumentParser(prog='citywatch')\n"
           "add_alerts_parser(parser.add_subparsers(dest='command'))\n"
           "sys.exit(run_alerts(parser.parse_args(['alerts', *sys.argv[1:]])))\n")
LINE_TIMEOUT_S = 10.0


class RunningHub:
    """A hub with its API on a fixed port, that can be stopped and started again on the
    same data directory and port (a hub restart)."""

    def __init__(self, data_dir: Path, hotlist: Path) -> None:
        self.data_dir = data_dir
        self.hotlist = hotlist
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.hub: Hub | None = None
        self._server: ApiServer | None = None

    async def start(self) -> None:
        config = AlprConfig(hotlists=(HotlistFile(self.hotlist, "national"),))
        self.hub = await Hub.open([], [], self.data_dir, alpr=config)
        await self.hub.start()
        self._server = ApiServer(build_api(self.hub, TOKEN), "127.0.0.1", self.port)
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self.hub is not None:
            await self.hub.stop()
        self._server = self.hub = None

    async def raise_alert(self, plate: str) -> int:
        body = {"plate": plate, "time": datetime.now(UTC).isoformat(), "camera": "ring-1",
                "confidence": 0.9}
        async with aiohttp.ClientSession() as http, http.post(
                self.url + "/api/reads", json=body,
                headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 201
            alert_id: int = (await response.json())["reads"][0]["alerts"][0]
            return alert_id


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    hotlist = tmp_path / "national.csv"
    hotlist.write_text(HOTLIST_CSV)
    running = RunningHub(tmp_path / "data", hotlist)
    await running.start()
    yield running
    await running.stop()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="citywatch")
    add_alerts_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["alerts", *argv])


async def run(*argv: str) -> int:
    """run_alerts has its own event loop: run it in a thread beside the hub's."""
    return await asyncio.to_thread(run_alerts, parse(*argv))


async def test_current_alerts_as_lines_and_json_lines(
        hub: RunningHub, capsys: pytest.CaptureFixture[str]) -> None:
    first = await hub.raise_alert("1ABC234")
    second = await hub.raise_alert("2XYZ999")
    assert hub.hub is not None
    await hub.hub.plates.transition(second, AlertState.REJECTED, "desk",
                                    RejectReason.MISREAD, "a 7 not a 1")
    assert await run("--connect", hub.url, "--token", TOKEN) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1  # the rejected one is not open any more
    assert f"#{first}" in lines[0] and "1ABC234" in lines[0] and "stolen/vehicle" in lines[0]

    assert await run("--connect", hub.url, "--token", TOKEN, "--json", "--all") == 0
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {a["id"]: a["state"] for a in alerts} == {first: "new", second: "rejected"}
    assert next(a for a in alerts if a["id"] == second)["reason"] == "misread"


async def test_a_wrong_token_and_an_unreachable_hub_are_one_line_each(
        hub: RunningHub, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run("--connect", hub.url, "--token", "not-the-token") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused the token" in err and "not-the-token" not in err
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    assert await run("--connect", f"http://127.0.0.1:{closed_port}", "--token", TOKEN) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "unreachable" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


async def test_no_token_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CITYWATCH_TOKEN", raising=False)
    assert await run("--connect", "http://127.0.0.1:9") == 2
    assert "CITYWATCH_TOKEN" in capsys.readouterr().err


async def test_follow_prints_every_change_across_a_hub_restart(hub: RunningHub) -> None:
    first = await hub.raise_alert("1ABC234")
    env = {**os.environ, "CITYWATCH_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", COMMAND, "--follow", "--json", "--connect", hub.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT)
    assert process.stdout is not None and process.stderr is not None

    async def line() -> dict[str, object]:
        assert process.stdout is not None
        async with asyncio.timeout(LINE_TIMEOUT_S):
            text = await process.stdout.readline()
        assert text, (await process.stderr.read()).decode() if process.stderr else ""
        decoded: dict[str, object] = json.loads(text)
        return decoded

    try:
        assert (await line())["id"] == first  # the current alerts first
        assert hub.hub is not None
        await asyncio.sleep(0.5)  # the stream is open
        await hub.hub.plates.transition(first, AlertState.ACKNOWLEDGED, "desk")
        change = await line()
        assert (change["id"], change["state"]) == (first, "acknowledged")

        await hub.stop()
        await asyncio.sleep(0.3)
        await hub.start()  # a new run: the command cannot resume, re-reads the alerts
        second = await hub.raise_alert("2XYZ999")
        assert (await line())["id"] == second  # and the acknowledged one is not repeated
        await hub.hub.plates.transition(second, AlertState.ACKNOWLEDGED, "desk")
        change = await line()
        assert (change["id"], change["state"]) == (second, "acknowledged")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        async with asyncio.timeout(LINE_TIMEOUT_S):
            _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
