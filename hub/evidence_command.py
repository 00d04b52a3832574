"""`citywatch evidence export|verify`: evidence bundles from a hub, and their check.

    citywatch evidence export --alert 12 -o alert-12.zip
    citywatch evidence export --camera centre-001 --from 2026-03-02T08:00Z \\
        --to 2026-03-02T09:00Z --clip-seconds 20 -o bundle/       # unpacked
    citywatch evidence verify alert-12.zip [--json]

export asks a running hub (POST /api/evidence, token from --token or $CITYWATCH_TOKEN)
and checks what it wrote against the manifest before it says "ok". verify exits 0 when
every file matches its manifest, 1 when a file is missing, changed or added, 2 when the
path is no bundle at all (or a command line is wrong).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
from pathlib import Path
from typing import Any

import aiohttp

from hub.api_session import CONNECT_TIMEOUT_S, ApiSession
from hub.errors import ApiClientError, EvidenceError
from hub.evidence import VerifyResult, unpack, verify
from hub.evidence_clip import DEFAULT_CLIP_S, MAX_CLIP_S
from hub.reads_command import since_arg

DEFAULT_URL = "http://127.0.0.1:8787"
TOKEN_ENV = "CITYWATCH_TOKEN"
# The hub records the clip before it answers: clip length + open (10 s) + snapshot and
# store work; a minute on top covers a slow camera without hanging a script forever.
EXPORT_MARGIN_S = 60.0

EXIT_OK, EXIT_TAMPERED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_FAILED = 1  # export: the hub refused or could not be reached


def add_evidence_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    evidence = sub.add_parser("evidence", help="export and verify evidence bundles")
    actions = evidence.add_subparsers(dest="evidence_command", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export", help="an alert, or a camera over a time range, as a verifiable bundle")
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--alert", type=int, metavar="ID", help="the alert to export")
    what.add_argument("--camera", metavar="ID", help="the camera to export (with --from/--to)")
    export.add_argument("--from", dest="start", type=since_arg, metavar="WHEN",
                        help="start of the range (ISO time, or 30m, 2h back)")
    export.add_argument("--to", dest="end", type=since_arg, metavar="WHEN",
                        help="end of the range (ISO time, or 0m for now)")
    export.add_argument("--clip-seconds", type=int, default=DEFAULT_CLIP_S, metavar="N",
                        help=f"clip recorded now, 1-{MAX_CLIP_S} s (default {DEFAULT_CLIP_S})")
    export.add_argument("-o", "--output", type=Path, required=True, metavar="DIR|FILE.zip",
                        help="a .zip file, or a directory to unpack the bundle into")
    export.add_argument("--connect", default=DEFAULT_URL, metavar="URL",
                        help=f"the hub's API (default {DEFAULT_URL})")
    export.add_argument("--token", default=None,
                        help=f"bearer token (default: ${TOKEN_ENV})")
    export.add_argument("--ca-file", type=Path, default=None, metavar="FILE",
                        help="CA certificate that signed an https hub's certificate")
    export.add_argument("--actor", default="", help="your name, if the token is shared")
    check = actions.add_parser("verify", help="check a bundle against its manifest")
    check.add_argument("path", type=Path, metavar="PATH", help="bundle zip or directory")
    check.add_argument("--json", action="store_true", help="the result as one JSON object")


def run_evidence(args: argparse.Namespace) -> int:
    if args.evidence_command == "verify":
        return _verify(args.path, args.json)
    return _export(args)


def _fail(message: str, code: int) -> int:
    print(f"citywatch evidence: {message}", file=sys.stderr)
    return code


def _verify(path: Path, as_json: bool) -> int:
    try:
        result = verify(path)
    except EvidenceError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    if as_json:
        print(json.dumps({"ok": result.ok, "files": result.checked,
                          "manifest_sha256": result.manifest_sha256,
                          "missing": list(result.missing), "changed": list(result.changed),
                          "extra": list(result.extra),
                          "not_included": result.manifest.get("not_included", {})}))
    else:
        _describe(path, result)
    return EXIT_OK if result.ok else EXIT_TAMPERED


def _describe(path: Path, result: VerifyResult) -> None:
    for label, names in (("missing", result.missing), ("changed", result.changed),
                         ("not in the manifest", result.extra)):
        for name in names:
            print(f"{label}: {name}")
    manifest = result.manifest
    for part, reason in manifest.get("not_included", {}).items():
        print(f"not included: {part}: {reason}")
    verdict = "ok" if result.ok else "TAMPERED"
    print(f"{path}: {verdict}: {result.checked} files, exported by "
          f"{manifest.get('exported_by', '?')} at {manifest.get('exported_at', '?')}, "
          f"manifest sha256 {result.manifest_sha256}")


def _body(args: argparse.Namespace) -> dict[str, Any] | str:
    """The request body, or what is wrong with the command line."""
    if not 1 <= args.clip_seconds <= MAX_CLIP_S:
        return f"--clip-seconds must be 1-{MAX_CLIP_S}"
    body: dict[str, Any] = {"clip_s": args.clip_seconds}
    if args.actor:
        body["actor"] = args.actor
    if args.alert is not None:
        if args.start is not None or args.end is not None:
            return "--from/--to go with --camera, not --alert"
        return {**body, "alert": args.alert}
    if args.start is None or args.end is None:
        return "--camera needs --from and --to"
    return {**body, "camera": args.camera, "from": args.start.isoformat(),
            "to": args.end.isoformat()}


def _export(args: argparse.Namespace) -> int:
    body = _body(args)
    if isinstance(body, str):
        return _fail(body, EXIT_BAD_INPUT)
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        return _fail(f"no token: give --token or set ${TOKEN_ENV}", EXIT_BAD_INPUT)
    output: Path = args.output
    as_zip = output.suffix.lower() == ".zip"
    if output.exists() and (as_zip or not output.is_dir() or any(output.iterdir())):
        return _fail(f"{output} exists already (and is not an empty directory)",
                     EXIT_BAD_INPUT)
    try:
        context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    except (OSError, ssl.SSLError) as exc:
        return _fail(f"--ca-file {args.ca_file}: {exc}", EXIT_BAD_INPUT)
    try:
        data = asyncio.run(fetch_bundle(args.connect, token, body, context))
    except ApiClientError as exc:
        return _fail(str(exc), EXIT_FAILED)
    try:
        if as_zip:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(data)
        else:
            unpack(data, output)
        result = verify(output)
    except (OSError, EvidenceError) as exc:
        return _fail(f"cannot write {output}: {exc}", EXIT_FAILED)
    _describe(output, result)
    return EXIT_OK if result.ok else EXIT_FAILED


async def fetch_bundle(url: str, token: str, body: dict[str, Any],
                       ssl_context: ssl.SSLContext | None = None) -> bytes:
    """POST /api/evidence; the zip. Raises ApiClientError (credential-free messages)."""
    timeout_s = float(body.get("clip_s") or DEFAULT_CLIP_S) + EXPORT_MARGIN_S
    async with ApiSession(url, token, ssl_context=ssl_context) as api:
        timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=CONNECT_TIMEOUT_S)
        try:
            async with api.http.post(api.url("/api/evidence"), json=body, timeout=timeout,
                                     ssl=ssl_context if ssl_context is not None else True
                                     ) as response:
                if response.status >= 400:
                    raise api.refusal(response.status, await _message(response))
                return await response.read()
        except ApiClientError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise api.unreachable(exc) from exc


async def _message(response: aiohttp.ClientResponse) -> str:
    try:
        answer = await response.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        return str(answer["error"])[:300]
    return response.reason or "refused"
