"""`citywatch` as a user runs it: bad input gets a clear message and an exit code, never a
traceback, and no password is printed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def citywatch(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )


def test_help_lists_every_command() -> None:
    result = citywatch("--help")
    assert result.returncode == 0
    for command in ("demo", "sim", "tui", "serve", "gps", "hotlist", "reads", "wanted"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["tui", "--config", "missing.toml"], "cannot read"),
        (["serve", "--endpoints", "missing.json", "--token", "t"], "cannot read"),
        (["serve", "--listen", "127.0.0.1:8787"], "needs --token"),
        (["serve", "--token", "t", "--listen", "nowhere"], "expected HOST:PORT"),
        (["reads", "search", "1AB*", "--data-dir", "missing-dir"], "no citywatch store"),
        (["demo", "--scenario", "missing.toml"], "missing.toml"),
        (["sim", "missing.toml"], "missing.toml"),
        (["sim", "scenarios/small.toml", "--rtsp-port", "99999"], "port must be 0-65535"),
        (["sim", "scenarios/small.toml", "--rtsp-port", "rtsp"], "not a port number"),
    ],
)
def test_missing_files_exit_2_without_traceback(args: list[str], expected: str) -> None:
    result = citywatch(*args)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_config_names_line_and_field(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        '[[cameras]]\nid = "c1"\nsite = "city"\nkind = "drone"\n'
        'onvif = "http://127.0.0.1:1/onvif/device_service"\nusername = "a"\npassword = "p"\n'
    )
    result = citywatch("serve", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}:4: cameras[0].kind: must be one of" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_scenario_names_line_and_field(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text('[scenario]\nname = "x"\nseed = 1\nspeed = 500\n')
    result = citywatch("demo", "--scenario", str(scenario), "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert f"{scenario}:4: scenario.speed" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_unreachable_and_wrong_password_cameras(tmp_path: Path) -> None:
    """Headless hub: unreachable camera and wrong password are reported as states."""
    endpoints = tmp_path / "endpoints.json"
    sim = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "sim", str(ROOT / "scenarios" / "small.toml"),
         "--endpoints", str(endpoints)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    serve = None
    try:
        deadline = time.monotonic() + 20
        while not endpoints.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        data = json.loads(endpoints.read_text())
        secret = "Wrong-Secret-123"
        data["cameras"][0]["password"] = secret
        data["cameras"].append({
            **data["cameras"][1], "id": "ghost", "name": "Ghost",
            "onvif": "http://127.0.0.1:9/onvif/device_service",
        })
        endpoints.write_text(json.dumps(data))
        serve = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--endpoints", str(endpoints),
             "--token", "t0ken", "--listen", "127.0.0.1:0",
             "--data-dir", str(tmp_path / "data")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        time.sleep(8)
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=20)
        assert serve.returncode == 0, err
        first = data["cameras"][0]["id"]
        assert f"{first}: unknown -> down (auth failed)" in err
        assert "ghost: unknown -> down (unreachable)" in err
        assert secret not in out + err
        assert "Traceback" not in err
    finally:
        if serve is not None and serve.poll() is None:
            serve.kill()
        sim.send_signal(signal.SIGTERM)
        sim.communicate(timeout=20)


def test_serve_takes_reads_over_http_with_its_token(tmp_path: Path) -> None:
    """`citywatch serve --listen --token --data-dir` as an operator runs it: a read posted
    with the token is stored and found by `citywatch reads search`; without it, 401."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path / "data"
    serve = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--listen", f"127.0.0.1:{port}",
         "--data-dir", str(data)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CITYWATCH_TOKEN": "s3cret-t0ken"},
    )
    url = f"http://127.0.0.1:{port}/api/reads"
    body = json.dumps({"plate": "1-XYZ-987", "time": "2026-11-26T08:00:00Z",
                       "camera": "ring-1"}).encode()

    def post(token: str | None) -> int:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status = post(None)
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline, "serve did not listen"
                time.sleep(0.2)
        assert status == 401
        assert post("wrong") == 401
        assert post("s3cret-t0ken") == 201
        # An operator wants the plate from the command line: the hub shows where it was.
        env = {**os.environ, "CITYWATCH_TOKEN": "s3cret-t0ken"}
        base = f"http://127.0.0.1:{port}"
        wanted = subprocess.run(
            [sys.executable, "-m", "hub.cli", "wanted", "add", "1XYZ987", "--reason",
             "stolen tonight", "--days", "2", "--connect", base, "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=30, env=env,
        )
        assert wanted.returncode == 0, wanted.stderr
        answer = json.loads(wanted.stdout)
        assert [r["plate"] for r in answer["seen"]] == ["1-XYZ-987"]
        refused = subprocess.run(
            [sys.executable, "-m", "hub.cli", "wanted", "add", "1XYZ987", "--reason", "x",
             "--days", "365", "--connect", base], cwd=ROOT, capture_output=True, text=True,
            timeout=30, env=env,
        )
        assert refused.returncode == 2 and "1-100 days" in refused.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=20)
    assert serve.returncode == 0, err
    assert "s3cret-t0ken" not in err + out
    found = citywatch("reads", "search", "XYZ9", "--json", "--data-dir", str(data))
    assert found.returncode == 0, found.stderr
    [line] = found.stdout.splitlines()
    assert json.loads(line)["plate"] == "1-XYZ-987"
