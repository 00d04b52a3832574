"""API route of evidence export: POST /api/evidence -> an evidence bundle (zip).

Body: {"alert": id} or {"camera": id, "from": iso, "to": iso}, either with "clip_s" (1-60,
default 10) and optionally "actor" (the person at a shared console). The bundle is built
by hub.evidence (a clip is recorded now, so the answer takes clip_s plus a few seconds);
its manifest's SHA-256 is in the audit log and in the X-Evidence-Manifest-SHA256 header.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.api_routes import (
    OPERATORS,
    ApiContext,
    Route,
    actor,
    error,
    json_object,
    parse_time,
    principal,
)
from hub.errors import ClipError, EvidenceError, EvidenceNotFound
from hub.evidence import AlertSubject, CameraSubject, EvidenceExporter, Subject
from hub.evidence_clip import DEFAULT_CLIP_S, MAX_CLIP_S

# SQLite's largest integer: an id above it cannot exist (and would not bind).
MAX_ID = 2**63 - 1

EXPORTER_KEY: web.AppKey[EvidenceExporter] = web.AppKey("citywatch_evidence", EvidenceExporter)


def install(app: web.Application, api: ApiContext) -> None:
    """One exporter per API: it bounds the clips recorded at the same time."""
    app[EXPORTER_KEY] = EvidenceExporter(api.hub)


def _subject(request: web.Request, body: dict[str, Any]) -> Subject | web.Response:
    if "alert" in body:
        alert = body["alert"]
        if isinstance(alert, bool) or not isinstance(alert, int) or not 1 <= alert <= MAX_ID:
            return error(400, "'alert' must be an alert id (a positive whole number)")
        return AlertSubject(alert)
    camera = body.get("camera")
    if not isinstance(camera, str) or not camera:
        return error(400, "give 'alert', or 'camera' with 'from' and 'to'")
    if not principal(request).sees_camera(camera):
        return error(404, f"no camera {camera!r}")
    start = parse_time(_text(body.get("from")), "from")
    end = parse_time(_text(body.get("to")), "to")
    if start is None or end is None:
        return error(400, "a camera export needs 'from' and 'to' (ISO 8601 with a zone)")
    return CameraSubject(camera, start, end)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


async def _export(request: web.Request) -> web.StreamResponse:
    body = await json_object(request)
    subject = _subject(request, body)
    if isinstance(subject, web.Response):
        return subject
    clip_s = body.get("clip_s")
    try:
        evidence = await request.app[EXPORTER_KEY].export(
            subject, actor(request, body.get("actor")), clip_s)
    except ClipError as exc:  # only a bad clip_s gets here: recording failures are noted
        return error(400, str(exc))
    except EvidenceNotFound as exc:
        return error(404, str(exc))
    except EvidenceError as exc:
        return error(400, str(exc))
    return web.Response(
        body=evidence.data, content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{evidence.filename}"',
                 "X-Evidence-Manifest-SHA256": evidence.manifest_sha256},
    )


_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object",
    "properties": {
        "alert": {"type": "integer", "minimum": 1, "maximum": MAX_ID,
                  "description": "export this alert"},
        "camera": {"type": "string", "description": "or this camera over from..to"},
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time"},
        "clip_s": {"type": "integer", "minimum": 1, "maximum": MAX_CLIP_S,
                   "description": f"clip length in seconds (default {DEFAULT_CLIP_S})"},
        "actor": {"type": "string", "description": "the person exporting, for the audit"},
    }}}}}

ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/evidence", _export, OPERATORS,
          "Export an alert, or a camera over a time range, as a verifiable evidence zip",
          doc={"requestBody": _BODY, "responses": {
              "200": {"description": "the bundle (zip with manifest.json of SHA-256s)",
                      "content": {"application/zip": {}}},
              "400": {"description": "bad body, range or clip length"},
              "404": {"description": "no such alert or camera"}}}),
)
