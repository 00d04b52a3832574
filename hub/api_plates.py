"""API routes of the plate side: read ingestion (our JSON, vendor webhooks), partial
search, read images, alerts and their transitions, wanted plates, hotlists, counters.

A read is acknowledged (2xx) only after it is committed; a malformed body gets a 4xx with
{"error": "..."} and is counted; the server keeps running whatever arrives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from drivers.alpr import (
    ParsedPayload,
    parse_citywatch,
    parse_openalpr,
    parse_platerecognizer,
)
from drivers.errors import AlprPayloadError, DriverError
from hub.alpr_model import AlertState, ImageKind, RejectReason
from hub.api_json import alert_json, hotlist_json, read_json, wanted_json
from hub.api_routes import (
    ARRIVED_KEY,
    OPERATORS,
    SENSORS,
    Handler,
    Route,
    actor,
    context,
    error,
    json_object,
    parse_int,
    parse_time,
    path_id,
    query_param,
)
from hub.auth import Role
from hub.errors import AlprError
from hub.plate_desk import PlateDesk
from hub.read_pipeline import Ingested

log = logging.getLogger(__name__)

# Bodies above this size (images in base64) are parsed in a thread: decoding a few MB
# takes milliseconds of CPU the event loop must not spend. Small bodies are cheaper inline.
INLINE_PARSE_BYTES = 64 * 1024

# Search results per request unless the caller asks for fewer.
DEFAULT_SEARCH_LIMIT = 100
MAX_SEARCH_LIMIT = 1000


def _desk(request: web.Request) -> PlateDesk:
    return context(request).hub.plates


# ingestion ------------------------------------------------------------------------------


async def _ingest(request: web.Request, parsed: ParsedPayload) -> web.Response:
    results = await _desk(request).ingest(list(parsed.reads), request[ARRIVED_KEY])
    return web.json_response(
        {"kind": parsed.kind, "accepted": len(results), "reads": [_ack(r) for r in results]},
        status=201 if results else 200,
    )


def _ack(result: Ingested) -> dict[str, Any]:
    return {
        "id": result.read.id,
        "plate": result.read.plate,
        "camera": result.read.camera_id,
        "alerts": [a.id for a in result.alerts],
    }


async def _parse(parser: Callable[..., ParsedPayload], body: bytes,
                 *extra: bytes | None) -> ParsedPayload:
    size = len(body) + sum(len(e) for e in extra if e)
    if size <= INLINE_PARSE_BYTES:
        return parser(body, *extra)
    return await asyncio.to_thread(parser, body, *extra)


def _rejected(request: web.Request, source: str, exc: DriverError) -> web.Response:
    context(request).rejected[f"malformed {source}"] += 1
    log.info("api: rejected a %s body: %s", source, exc)
    return error(400, f"malformed {source} payload: {exc}")


def _json_webhook(source: str, parser: Callable[[bytes], ParsedPayload]) -> Handler:
    """A handler for a JSON body in `source`'s format (our reads, OpenALPR)."""

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            parsed = await _parse(parser, body)
        except AlprPayloadError as exc:
            return _rejected(request, source, exc)
        return await _ingest(request, parsed)

    return handler


async def _platerecognizer(request: web.Request) -> web.Response:
    """JSON, or multipart/form-data with the JSON in a `json` field and an image file."""
    image: bytes | None = None
    if request.content_type == "multipart/form-data":
        body = b""
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, aiohttp.BodyPartReader):
                    continue
                data = bytes(await part.read())
                if part.name == "json":
                    body = data
                elif part.filename or part.name in ("upload", "image"):
                    image = data
        except ValueError as exc:  # aiohttp's multipart parser on a broken body
            return _rejected(request, "platerecognizer", AlprPayloadError(str(exc)))
        if not body:
            return _rejected(
                request, "platerecognizer", AlprPayloadError("multipart body has no json field")
            )
    else:
        body = await request.read()
    try:
        parsed = await _parse(parse_platerecognizer, body, image)
    except AlprPayloadError as exc:
        return _rejected(request, "platerecognizer", exc)
    return await _ingest(request, parsed)


# search and images ----------------------------------------------------------------------


async def _search_reads(request: web.Request) -> web.Response:
    query = request.query
    pattern = query.get("q", "")
    since = parse_time(query.get("since"), "since")
    limit = parse_int(query.get("limit"), "limit", DEFAULT_SEARCH_LIMIT, 1, MAX_SEARCH_LIMIT)
    try:
        reads = await _desk(request).search(pattern, since, query.get("camera"), limit)
    except AlprError as exc:
        return error(400, str(exc))
    return web.json_response({"reads": [read_json(r) for r in reads]})


async def _read_image(request: web.Request) -> web.Response:
    try:
        kind = ImageKind(request.match_info["kind"])
    except ValueError:
        return error(404, "no such image kind (crop, overview)")
    jpeg = await _desk(request).read_image(path_id(request), kind)
    if jpeg is None:
        return error(404, "no such image")
    return web.Response(body=jpeg, content_type="image/jpeg")


# alerts ---------------------------------------------------------------------------------


async def _alerts(request: web.Request) -> web.Response:
    open_only = request.query.get("all", "") not in ("1", "true", "yes")
    limit = parse_int(request.query.get("limit"), "limit", 200, 1, 5000)
    alerts = await _desk(request).alerts(limit, open_only)
    return web.json_response({"alerts": [alert_json(a) for a in alerts]})


async def _transition(request: web.Request) -> web.Response:
    body = await json_object(request)
    try:
        to = AlertState(str(body.get("to", "")))
    except ValueError:
        names = ", ".join(s.value for s in AlertState)
        return error(400, f"'to' must be one of {names}")
    reason = None
    if body.get("reason") is not None:
        try:
            reason = RejectReason(str(body["reason"]))
        except ValueError:
            names = ", ".join(r.value for r in RejectReason)
            return error(400, f"'reason' must be one of {names}")
    who = actor(request, body.get("actor"))
    try:
        alert = await _desk(request).transition(
            path_id(request), to, who, reason, str(body.get("text") or "")
        )
    except AlprError as exc:
        return error(409, str(exc))
    return web.json_response(alert_json(alert))


# wanted plates and hotlists -------------------------------------------------------------


async def _wanted(request: web.Request) -> web.Response:
    return web.json_response({"wanted": [wanted_json(w) for w in _desk(request).wanted()]})


async def _add_wanted(request: web.Request) -> web.Response:
    body = await json_object(request)
    days = body.get("days", 7)
    try:
        wanted, seen = await _desk(request).add_wanted(
            str(body.get("plate") or ""), str(body.get("reason") or ""),
            days if isinstance(days, int) else -1, actor(request, body.get("actor")),
        )
    except AlprError as exc:
        return error(400, str(exc))
    return web.json_response(
        {"wanted": wanted_json(wanted), "seen": [read_json(r) for r in seen]}, status=201
    )


async def _remove_wanted(request: web.Request) -> web.Response:
    who = actor(request, request.query.get("actor"))
    try:
        await _desk(request).remove_wanted(path_id(request), who)
    except AlprError as exc:
        return error(404, str(exc))
    return web.json_response({"removed": path_id(request)})


async def _hotlists(request: web.Request) -> web.Response:
    return web.json_response(
        {"hotlists": [hotlist_json(h) for h in _desk(request).hotlists()]}
    )


async def _reload_hotlists(request: web.Request) -> web.Response:
    try:
        infos = await _desk(request).reload_hotlists()
    except AlprError as exc:
        return error(422, str(exc))
    return web.json_response({"hotlists": [hotlist_json(h) for h in infos]})


async def _stats(request: web.Request) -> web.Response:
    desk = _desk(request)
    return web.json_response({"pipeline": dict(desk.counters()),
                              "read_to_alert": desk.alert_latency(),
                              "read_stages": desk.stage_latency(),
                              "rejected": dict(context(request).rejected)})


_READ_BODY = {"description": "reads in this route's format (docs/api.md)", "required": True,
              "content": {"application/json": {"schema": {"type": "object"}}}}
_ACK = {"201": {"description": "committed: ids of the stored reads and any alerts"},
        "200": {"description": "understood, held no read (heartbeat)"},
        "400": {"description": "malformed body (counted)"}}
_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}

ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/reads", _json_webhook("citywatch", parse_citywatch), SENSORS,
          "Ingest reads in citywatch JSON (one read or {reads: [...]})",
          doc={"requestBody": _READ_BODY, "responses": _ACK}),
    Route("GET", "/api/reads", _search_reads, OPERATORS,
          "Partial plate search over recent reads, newest first",
          doc={"parameters": [
              query_param("q", "pattern: * any run, ? one character, else a fragment"),
              query_param("since", "ISO 8601 time with zone", {"type": "string",
                                                               "format": "date-time"}),
              query_param("camera", "camera id"),
              query_param("limit", f"1-{MAX_SEARCH_LIMIT}", {"type": "integer", "minimum": 1,
                                                            "maximum": MAX_SEARCH_LIMIT})]}),
    Route("GET", "/api/reads/{id:\\d+}/images/{kind}", _read_image, OPERATORS,
          "A read's plate crop or overview JPEG",
          doc={"parameters": [
              {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
              {"name": "kind", "in": "path", "required": True,
               "schema": {"type": "string", "enum": [k.value for k in ImageKind]}}],
              "responses": {"200": {"description": "JPEG",
                                    "content": {"image/jpeg": {}}}}}),
    Route("POST", "/api/webhooks/openalpr", _json_webhook("openalpr", parse_openalpr), SENSORS,
          "OpenALPR / Rekor agent webhook (alpr_group, alpr_results, heartbeat)",
          doc={"requestBody": _READ_BODY, "responses": _ACK}),
    Route("POST", "/api/webhooks/platerecognizer", _platerecognizer, SENSORS,
          "Plate Recognizer / ParkPow webhook, JSON or multipart with the image",
          doc={"requestBody": _READ_BODY, "responses": _ACK}),
    Route("GET", "/api/alerts", _alerts, OPERATORS,
          "Alerts, highest priority first then newest",
          doc={"parameters": [
              query_param("all", "1 to include closed, accepted and rejected alerts"),
              query_param("limit", "1-5000", {"type": "integer", "minimum": 1,
                                              "maximum": 5000})]}),
    Route("POST", "/api/alerts/{id:\\d+}/transitions", _transition, OPERATORS,
          "Move an alert: acknowledged, accepted, rejected (with a reason), closed",
          doc={"parameters": [_ID_PARAM],
               "requestBody": {"required": True, "content": {"application/json": {"schema": {
                   "type": "object", "required": ["to"],
                   "properties": {"to": {"type": "string", "enum": [s.value for s in AlertState]},
                                  "reason": {"type": "string",
                                             "enum": [r.value for r in RejectReason]},
                                  "text": {"type": "string"},
                                  "actor": {"type": "string"}}}}}},
               "responses": {"409": {"description": "move not allowed from the current state"}}}),
    Route("GET", "/api/wanted", _wanted, OPERATORS, "Wanted plates that have not expired"),
    Route("POST", "/api/wanted", _add_wanted, OPERATORS,
          "Add a wanted plate (1-100 days); answers with its earlier reads (search-back)",
          doc={"requestBody": {"required": True, "content": {"application/json": {"schema": {
              "type": "object", "required": ["plate", "reason"],
              "properties": {"plate": {"type": "string"}, "reason": {"type": "string"},
                             "days": {"type": "integer", "minimum": 1, "maximum": 100},
                             "actor": {"type": "string"}}}}}}}),
    Route("DELETE", "/api/wanted/{id:\\d+}", _remove_wanted, OPERATORS,
          "End a wanted plate before its expiry", doc={"parameters": [_ID_PARAM]}),
    Route("GET", "/api/hotlists", _hotlists, OPERATORS, "The loaded hotlists"),
    Route("POST", "/api/hotlists/reload", _reload_hotlists, OPERATORS,
          "Reload the hotlist files of the hub's data directory (atomic swap)"),
    Route("GET", "/api/stats", _stats, OPERATORS | {Role.TECHNICIAN},
          "Pipeline counters, read-to-alert latency and its stages, rejected requests"),
)
