"""The hub's HTTP API (aiohttp): assembles the route tables of the API modules behind one
authentication and authorisation layer. See docs/api.md for every route and body.

Every request needs a bearer token (hub.auth): no or an unknown token is 401, a role the
route does not allow is 403, a camera a partner was not granted is 404 (as if it did not
exist: a partner learns nothing about the cameras it cannot see). Errors are JSON
{"error": "..."}; nothing reaches a client as a traceback.
"""

from __future__ import annotations

import logging
import time
from types import ModuleType
from typing import TYPE_CHECKING

from aiohttp import web

from hub.api_routes import (
    ARRIVED_KEY,
    CAMERA_PARAM,
    CONTEXT_KEY,
    PRINCIPAL_KEY,
    ApiContext,
    Handler,
    Route,
    context,
    error,
)
from hub.auth import TokenAuthority
from hub.errors import StoreError

if TYPE_CHECKING:
    from hub.core import Hub

log = logging.getLogger(__name__)

# A read body is JSON of a few KB plus at most a couple of JPEGs (an overview is a few
# hundred KB): 16 MB leaves room for a batch of reads with images, and no more.
MAX_BODY_BYTES = 16 * 1024 * 1024



def api_modules() -> list[ModuleType]:
    """The modules whose ROUTES make up the API (imported here, not at the top: each pulls
    in its part of the hub)."""
    from hub import (
        api_cameras,
        api_events,
        api_evidence,
        api_metrics,
        api_openapi,
        api_plates,
    )

    return [api_cameras, api_plates, api_events, api_evidence, api_metrics, api_openapi]


def all_routes() -> list[Route]:
    """Every route of the API, in registration order (the OpenAPI document uses this)."""
    return [route for module in api_modules() for route in module.ROUTES]


def build_api(hub: Hub, auth: TokenAuthority | str) -> web.Application:
    """The aiohttp application serving the API of `hub`. `auth` is the token authority, or
    a single bootstrap token that acts as admin (the demo, tests)."""
    if isinstance(auth, str):
        if not auth:
            raise ValueError("the API needs a non-empty token")
        auth = TokenAuthority(bootstrap=auth)
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_errors, _auth])
    api = ApiContext(hub, auth)
    app[CONTEXT_KEY] = api
    routes: dict[tuple[str, str], Route] = {}
    for module in api_modules():
        install = getattr(module, "install", None)
        if install is not None:
            install(app, api)
        for route in module.ROUTES:
            resource = app.router.add_route(route.method, route.path, route.handler)
            routes[(route.method, resource.resource.canonical if resource.resource else
                    route.path)] = route
    app[_ROUTES_KEY] = routes

    async def start_auth(_: web.Application) -> None:
        await api.auth.start()

    async def stop_auth(_: web.Application) -> None:
        await api.auth.stop()

    app.on_startup.append(start_auth)
    app.on_cleanup.append(stop_auth)
    return app


_ROUTES_KEY: web.AppKey[dict[tuple[str, str], Route]] = web.AppKey("citywatch_routes", dict)


def _route_of(request: web.Request) -> Route | None:
    resource = request.match_info.route.resource
    if resource is None:
        return None
    return request.app[_ROUTES_KEY].get((request.method, resource.canonical))


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a JSON error; nothing reaches the client as a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400:
            context(request).rejected[f"http {exc.status}"] += 1
            return error(exc.status, getattr(exc, "message", exc.reason))
        raise
    except StoreError as exc:
        log.error("api: %s %s: %s", request.method, request.path, exc)
        return error(503, f"store unavailable, nothing was acknowledged: {exc}")
    except Exception:  # the outermost handler: one bad request must not stop the server
        log.exception("api: %s %s failed", request.method, request.path)
        return error(500, "internal error (logged on the hub)")


def bearer_token(request: web.Request) -> str:
    """The token of a request: the Authorization header, or `?token=` on webhook paths
    (OpenALPR agents and Plate Recognizer cannot always set headers) and on WebSocket
    paths (browsers cannot set headers on a WebSocket)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    if request.path.startswith("/api/webhooks/") or request.headers.get("Upgrade", "").lower() \
            == "websocket":
        return request.query.get("token", "")
    return ""


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[ARRIVED_KEY] = time.monotonic()  # read -> alert latency starts here
    api = context(request)
    route = _route_of(request)
    if route is not None and route.public:
        return await handler(request)
    principal = api.auth.authenticate(bearer_token(request))
    if principal is None:
        api.rejected["unauthorized"] += 1
        response = error(401, "missing or wrong bearer token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="citywatch"'
        return response
    if route is None:  # unknown path or method: aiohttp answers 404/405 (as JSON via _errors)
        return await handler(request)
    if not route.allows(principal):
        api.rejected["forbidden"] += 1
        return error(403, f"this {principal.role} token may not {route.method} {route.path}")
    camera = request.match_info.get(CAMERA_PARAM)
    if camera is not None and not principal.sees_camera(camera):
        api.rejected["not granted"] += 1
        return error(404, f"no camera {camera!r}")
    request[PRINCIPAL_KEY] = principal
    return await handler(request)
