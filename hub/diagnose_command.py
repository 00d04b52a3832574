"""`citywatch diagnose URL [--user U] [--password P] [--json]`: what is wrong with a camera.

URL is the camera's ONVIF device_service URL (``http://host[:port]/onvif/device_service``;
a bare ``http://host[:port]`` gets that path). Credentials come from --user/--password,
else from the URL (``http://user:pass@host/...``), else the password from
$CITYWATCH_PASSWORD. Exit 0: no error findings; 1: errors found; 2: unreachable, login
refused or bad arguments (one line on stderr). Passwords are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit, urlunsplit

from drivers.errors import DriverError
from hub.diagnose import (
    DiagnoseFailed,
    Finding,
    Report,
    diagnose,
    hide_secret,
    service_name,
)

PASSWORD_ENV = "CITYWATCH_PASSWORD"
DEVICE_PATH = "/onvif/device_service"
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_UNREACHABLE = 2
# The whole run: login, profiles, events, snapshot (10 s) and stream probe (10 + 2 s) run
# mostly in parallel; a camera that hangs everywhere is given up on after this.
TOTAL_TIMEOUT_S = 60.0


def add_diagnose_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "diagnose", help="one report of what is wrong with an ONVIF camera",
        description="Log in to an ONVIF camera and report its identity, clock, services, "
                    "profiles, PTZ, events, snapshot and stream, with findings. "
                    "Exit 0 healthy, 1 errors found, 2 unreachable or login refused.",
    )
    parser.add_argument("url", metavar="URL",
                        help="device_service URL, e.g. http://user:pass@10.0.0.5/onvif/"
                             "device_service")
    parser.add_argument("--user", default=None, help="ONVIF user (default: from URL)")
    parser.add_argument("--password", default=None,
                        help=f"ONVIF password (default: from URL, else ${PASSWORD_ENV})")
    parser.add_argument("--json", action="store_true", help="the report as JSON")


def split_url(url: str) -> tuple[str, str | None, str | None]:
    """(URL without credentials, user, password) from a device URL; ValueError if unusable."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("URL must be http(s)://host[:port][/path]")
    parts.port  # noqa: B018 - raises ValueError for a bad port
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user = password = None
    if at:
        name, colon, secret = userinfo.partition(":")
        user = unquote(name)
        password = unquote(secret) if colon else None
    path = parts.path if parts.path not in ("", "/") else DEVICE_PATH
    return urlunsplit(parts._replace(netloc=hostport, path=path)), user, password


def run_diagnose(args: argparse.Namespace, out: TextIO | None = None,
                 err: TextIO | None = None) -> int:
    """The body of `citywatch diagnose` (exit codes in the module doc)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        url, url_user, url_password = split_url(args.url)
    except ValueError as exc:
        print(f"citywatch diagnose: {exc}", file=err)
        return EXIT_UNREACHABLE
    user = args.user if args.user is not None else (url_user or "")
    password = next(
        (p for p in (args.password, url_password, os.environ.get(PASSWORD_ENV)) if p is not None),
        "",
    )
    try:
        report = asyncio.run(_diagnose(url, user, password))
    except DiagnoseFailed as exc:
        print(f"citywatch diagnose: {_hide(exc.message, password)}", file=err)
        return EXIT_UNREACHABLE
    except TimeoutError:
        print(f"citywatch diagnose: no complete answer within {TOTAL_TIMEOUT_S:g} s",
              file=err)
        return EXIT_UNREACHABLE
    except ValueError as exc:  # a URL the ONVIF driver refuses
        print(f"citywatch diagnose: {_hide(str(exc), password)}", file=err)
        return EXIT_UNREACHABLE
    except DriverError as exc:  # the ONVIF library itself failed (its WSDL files)
        print(f"citywatch diagnose: {_hide(str(exc), password)}", file=err)
        return EXIT_FINDINGS
    except KeyboardInterrupt:
        return 130
    if args.json:
        text = json.dumps(report.to_json(), indent=2, ensure_ascii=False)
    else:
        text = format_report(report)
    print(_hide(text, password), file=out)
    return EXIT_FINDINGS if report.errors else EXIT_OK


async def _diagnose(url: str, user: str, password: str) -> Report:
    async with asyncio.timeout(TOTAL_TIMEOUT_S):
        return await diagnose(url, user, password)


def _hide(text: str, password: str) -> str:
    # Belt and braces: every layer already redacts, but the report quotes camera answers.
    return hide_secret(text, password)


# -- readable report -----------------------------------------------------------------------

_LABEL = 10  # width of the section labels


def _section(label: str, lines: list[str]) -> list[str]:
    if not lines:
        lines = ["-"]
    pad = " " * (_LABEL + 1)
    return [f"{label:<{_LABEL}} {lines[0]}", *(pad + line for line in lines[1:])]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def _value(value: Any, fmt: str = "{}") -> str:
    return "-" if value is None or value == "" else fmt.format(value)


def format_report(report: Report) -> str:
    """The report as aligned text sections, findings last."""
    info = report.device
    lines = _section("Camera", [report.url])
    lines += _section("Device", _table([
        ["manufacturer", _value(info.manufacturer)], ["model", _value(info.model)],
        ["firmware", _value(info.firmware_version)], ["serial", _value(info.serial_number)],
        ["hardware", _value(info.hardware_id)],
    ]))
    clock = report.clock_offset_s
    lines += _section("Clock", ["unknown" if clock is None else f"{clock:+.1f} s off ours"])
    lines += _section("Services", _table(
        [[service_name(s.namespace), s.xaddr] for s in report.services]
    ) if report.services else [])
    rows = [["token", "name", "codec", "size", "fps", "stream URI"]]
    for p in report.profiles:
        size = f"{p.width}x{p.height}" if p.width and p.height else "-"
        rows.append([p.token, _value(p.name), _value(p.encoding), size,
                     _value(p.fps, "{:g}"), _value(p.stream_uri)])
    lines += _section("Profiles", _table(rows) if report.profiles else [])
    snapshot_uris = [[p.token, p.snapshot_uri] for p in report.profiles if p.snapshot_uri]
    lines += _section("Snapshots", _table(snapshot_uris) if snapshot_uris else [])
    if report.snapshot is not None:
        shot = report.snapshot
        lines += _section("", [f"fetched {shot.width}x{shot.height} JPEG, "
                               f"{len(shot.jpeg) / 1024:.0f} KiB in {shot.elapsed_s:.2f} s "
                               f"({shot.auth} auth)"])
    lines += _section("PTZ", ["yes" if report.ptz else "no"])
    events = [f"PullPoint {'yes' if report.pullpoint else 'no'}, "
              f"{len(report.topics)} topics", *report.topics]
    lines += _section("Events", events)
    stream = report.stream
    lines += _section("Stream", [] if stream is None else [
        f"{stream.codec}{f' {stream.profile}' if stream.profile else ''} "
        f"{stream.width}x{stream.height}, {_value(stream.fps, '{:.1f}')} fps, "
        f"{_value(stream.bitrate_kbps, '{:.0f}')} kbit/s, GOP {_value(stream.gop)}, "
        f"{stream.packets} packets in {stream.seconds:.1f} s"
    ])
    lines += _section("Findings", _findings(report.findings))
    errors = len(report.errors)
    warnings = sum(f.severity == "warning" for f in report.findings)
    verdict = "healthy" if not errors else "errors found"
    lines += _section("Result", [f"{verdict}: {errors} errors, {warnings} warnings"])
    return "\n".join(lines)


def _findings(findings: tuple[Finding, ...]) -> list[str]:
    if not findings:
        return ["none"]
    width = max(len(f.code) for f in findings)
    return [f"{f.severity.upper():<7}  {f.code:<{width}}  {f.message}" for f in findings]
