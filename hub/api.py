"""The hub's HTTP API (aiohttp): read ingestion, vendor webhooks, search, alerts, wanted
plates, hotlists, cameras. See docs/api.md for every route and body.

Every request needs the hub's bearer token. A read is acknowledged (2xx) only after it
is committed; a malformed body gets a 4xx with {"error": "..."} and is counted; the
server keeps running whatever arrives.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
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
from hub.api_json import alert_json, camera_json, hotlist_json, read_json, wanted_json
from hub.errors import AlprError, StoreError
from hub.plate_desk import PlateDesk
from hub.read_pipeline import Ingested

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CamerasView = Callable[[], list[Any]]

# A read body is JSON of a few KB plus at most a couple of JPEGs (an overview is a few
# hundred KB): 16 MB leaves room for a batch of reads with images, and no more.
MAX_BODY_BYTES = 16 * 1024 * 1024

# Bodies above this size (images in base64) are parsed in a thread: decoding a few MB
# takes milliseconds of CPU the event loop must not spend. Small bodies are cheaper inline.
INLINE_PARSE_BYTES = 64 * 1024

# Search results per request unless the caller asks for fewer.
DEFAULT_SEARCH_LIMIT = 100
MAX_SEARCH_LIMIT = 1000

class ApiState:
    """What the handlers share: the plate desk, the cameras, the token, the counters."""

    def __init__(self, desk: PlateDesk, cameras: CamerasView, token: str) -> None:
        self.desk = desk
        self.cameras = cameras
        self._token = token.encode()
        # Rejected requests by reason ("unauthorized", "malformed openalpr", ...).
        self.rejected: Counter[str] = Counter()

    def authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "token") and value:
            return hmac.compare_digest(value.strip().encode(), self._token)
        # Webhook senders (OpenALPR agents, Plate Recognizer) cannot always set headers:
        # they may put the token in the URL of the webhook path only.
        query = request.query.get("token")
        if query and request.path.startswith("/api/webhooks/"):
            return hmac.compare_digest(query.encode(), self._token)
        return False


API_KEY: web.AppKey[ApiState] = web.AppKey("citywatch_api", ApiState)
ARRIVED_KEY: web.RequestKey[float] = web.RequestKey("citywatch_arrived", float)


def build_api(desk: PlateDesk, cameras: CamerasView, token: str) -> web.Application:
    """The aiohttp application serving the API with `token` as its bearer token."""
    if not token:
        raise ValueError("the API needs a non-empty token")
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_errors, _auth])
    app[API_KEY] = ApiState(desk, cameras, token)
    app.router.add_get("/api/cameras", _cameras)
    app.router.add_post("/api/reads", _json_webhook("citywatch", parse_citywatch))
    app.router.add_get("/api/reads", _search_reads)
    app.router.add_get("/api/reads/{id:\\d+}/images/{kind}", _read_image)
    app.router.add_post("/api/webhooks/openalpr", _json_webhook("openalpr", parse_openalpr))
    app.router.add_post("/api/webhooks/platerecognizer", _platerecognizer)
    app.router.add_get("/api/alerts", _alerts)
    app.router.add_post("/api/alerts/{id:\\d+}/transitions", _transition)
    app.router.add_get("/api/wanted", _wanted)
    app.router.add_post("/api/wanted", _add_wanted)
    app.router.add_delete("/api/wanted/{id:\\d+}", _remove_wanted)
    app.router.add_get("/api/hotlists", _hotlists)
    app.router.add_post("/api/hotlists/reload", _reload_hotlists)
    app.router.add_get("/api/stats", _stats)
    return app


def _state(request: web.Request) -> ApiState:
    return request.app[API_KEY]


def error(status: int, message: str) -> web.Response:
    """A JSON error body {"error": message} with `status`."""
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a JSON error; nothing reaches the client as a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400:
            _state(request).rejected[f"http {exc.status}"] += 1
            return error(exc.status, exc.reason)
        raise
    except StoreError as exc:
        log.error("api: %s %s: %s", request.method, request.path, exc)
        return error(503, f"store unavailable, nothing was acknowledged: {exc}")
    except Exception:  # the outermost handler: one bad request must not stop the server
        log.exception("api: %s %s failed", request.method, request.path)
        return error(500, "internal error (logged on the hub)")


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[ARRIVED_KEY] = time.monotonic()  # read -> alert latency starts here
    state = _state(request)
    if not state.authorized(request):
        state.rejected["unauthorized"] += 1
        response = error(401, "missing or wrong bearer token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="citywatch"'
        return response
    return await handler(request)


async def _cameras(request: web.Request) -> web.Response:
    return web.json_response({"cameras": [camera_json(c) for c in _state(request).cameras()]})


# ingestion ------------------------------------------------------------------------------


async def _ingest(request: web.Request, parsed: ParsedPayload) -> web.Response:
    results = await _state(request).desk.ingest(list(parsed.reads), request[ARRIVED_KEY])
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
    _state(request).rejected[f"malformed {source}"] += 1
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
    since = _parse_time(query.get("since"), "since")
    limit = _parse_int(query.get("limit"), "limit", DEFAULT_SEARCH_LIMIT, 1, MAX_SEARCH_LIMIT)
    try:
        reads = await _state(request).desk.search(pattern, since, query.get("camera"), limit)
    except AlprError as exc:
        return error(400, str(exc))
    return web.json_response({"reads": [read_json(r) for r in reads]})


async def _read_image(request: web.Request) -> web.Response:
    try:
        kind = ImageKind(request.match_info["kind"])
    except ValueError:
        return error(404, "no such image kind (crop, overview)")
    jpeg = await _state(request).desk.read_image(int(request.match_info["id"]), kind)
    if jpeg is None:
        return error(404, "no such image")
    return web.Response(body=jpeg, content_type="image/jpeg")


# alerts ---------------------------------------------------------------------------------


async def _alerts(request: web.Request) -> web.Response:
    open_only = request.query.get("all", "") not in ("1", "true", "yes")
    limit = _parse_int(request.query.get("limit"), "limit", 200, 1, 5000)
    alerts = await _state(request).desk.alerts(limit, open_only)
    return web.json_response({"alerts": [alert_json(a) for a in alerts]})


async def _transition(request: web.Request) -> web.Response:
    body = await _json_object(request)
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
    actor = str(body.get("actor") or "api")
    try:
        alert = await _state(request).desk.transition(
            int(request.match_info["id"]), to, actor, reason, str(body.get("text") or "")
        )
    except AlprError as exc:
        return error(409, str(exc))
    return web.json_response(alert_json(alert))


# wanted plates and hotlists -------------------------------------------------------------


async def _wanted(request: web.Request) -> web.Response:
    return web.json_response({"wanted": [wanted_json(w) for w in _state(request).desk.wanted()]})


async def _add_wanted(request: web.Request) -> web.Response:
    body = await _json_object(request)
    days = body.get("days", 7)
    try:
        wanted, seen = await _state(request).desk.add_wanted(
            str(body.get("plate") or ""), str(body.get("reason") or ""),
            days if isinstance(days, int) else -1, str(body.get("actor") or "api"),
        )
    except AlprError as exc:
        return error(400, str(exc))
    return web.json_response(
        {"wanted": wanted_json(wanted), "seen": [read_json(r) for r in seen]}, status=201
    )


async def _remove_wanted(request: web.Request) -> web.Response:
    actor = request.query.get("actor", "api")
    try:
        await _state(request).desk.remove_wanted(int(request.match_info["id"]), actor)
    except AlprError as exc:
        return error(404, str(exc))
    return web.json_response({"removed": int(request.match_info["id"])})


async def _hotlists(request: web.Request) -> web.Response:
    return web.json_response(
        {"hotlists": [hotlist_json(h) for h in _state(request).desk.hotlists()]}
    )


async def _reload_hotlists(request: web.Request) -> web.Response:
    try:
        infos = await _state(request).desk.reload_hotlists()
    except AlprError as exc:
        return error(422, str(exc))
    return web.json_response({"hotlists": [hotlist_json(h) for h in infos]})


async def _stats(request: web.Request) -> web.Response:
    state = _state(request)
    return web.json_response({"pipeline": dict(state.desk.counters()),
                              "read_to_alert": state.desk.alert_latency(),
                              "rejected": dict(state.rejected)})


# request helpers ------------------------------------------------------------------------


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(reason=f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="body must be a JSON object")
    return body


def _parse_time(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise web.HTTPBadRequest(reason=f"{name}: not an ISO 8601 time: {text!r}") from exc
    if value.tzinfo is None:
        raise web.HTTPBadRequest(reason=f"{name}: give a time zone (e.g. Z or +01:00)")
    return value


def _parse_int(text: str | None, name: str, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise web.HTTPBadRequest(reason=f"{name}: not a whole number: {text!r}") from exc
    if not low <= value <= high:
        raise web.HTTPBadRequest(reason=f"{name}: must be {low}-{high}")
    return value
