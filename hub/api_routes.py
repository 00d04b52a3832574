"""What every API module shares: the route table entry, the request context, JSON errors
and parameter parsing.

Each API module (api_plates, api_cameras, ...) exports `ROUTES`, a tuple of `Route`s.
`hub.api.build_api` registers them all; its middleware checks the caller's role against
`Route.roles` and a partner's camera grants against the `{camera}` path parameter before
the handler runs, and hub.openapi documents the same table, so the three cannot drift.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hub.auth import Principal, Role, TokenAuthority

if TYPE_CHECKING:
    from hub.core import Hub
    from hub.local_client import LocalHubClient

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Role sets used by the route tables (admin may call every route anyway).
WATCHERS = frozenset({Role.OPERATOR, Role.TECHNICIAN})  # see cameras and their state
CAMERA_VIEWERS = WATCHERS | {Role.PARTNER}  # + partners, on granted cameras only
OPERATORS = frozenset({Role.OPERATOR})
TECHNICIANS = frozenset({Role.TECHNICIAN})
SENSORS = frozenset({Role.SENSOR, Role.OPERATOR})  # who may post reads
ADMINS: frozenset[Role] = frozenset()  # admin only

# The path parameter that names a camera: routes with it are checked against grants.
CAMERA_PARAM = "camera"


@dataclass(frozen=True)
class Route:
    """One API route: where, who may call it, and its OpenAPI description."""

    method: str
    path: str
    handler: Handler
    roles: frozenset[Role]  # besides admin
    summary: str
    public: bool = False  # no token needed (the OpenAPI document only)
    websocket: bool = False
    # OpenAPI fragments: "parameters" (list), "requestBody", "responses" (status -> dict).
    doc: dict[str, Any] = field(default_factory=dict)

    def allows(self, principal: Principal) -> bool:
        return principal.role is Role.ADMIN or principal.role in self.roles

    @property
    def camera_scoped(self) -> bool:
        return "{" + CAMERA_PARAM in self.path


class ApiContext:
    """What the handlers share: the hub, its client view, the token authority, counters."""

    def __init__(self, hub: Hub, auth: TokenAuthority) -> None:
        from hub.local_client import LocalHubClient

        self.hub = hub
        self.client: LocalHubClient = LocalHubClient(hub)
        self.auth = auth
        # Rejected requests by reason ("unauthorized", "malformed openalpr", ...).
        self.rejected: Counter[str] = Counter()


CONTEXT_KEY: web.AppKey[ApiContext] = web.AppKey("citywatch_api", ApiContext)
PRINCIPAL_KEY: web.RequestKey[Principal] = web.RequestKey("citywatch_principal", Principal)
ARRIVED_KEY: web.RequestKey[float] = web.RequestKey("citywatch_arrived", float)


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT_KEY]


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL_KEY]


# SQLite integers are signed 64-bit: a larger id in a path names nothing.
MAX_ID = 2**63 - 1
# Error messages quote what the caller sent; keep them one short line.
MAX_MESSAGE_CHARS = 300


class BadRequest(web.HTTPBadRequest):
    """400 with a message that may quote the caller's input: it goes into the JSON body
    (one line, bounded), never into the status line, where a newline would be an error."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = " ".join(message.split())[:MAX_MESSAGE_CHARS]


def path_id(request: web.Request, name: str = "id") -> int:
    """A numeric id from the path ({id:\\d+}); out of the store's range -> 404."""
    value = int(request.match_info[name])
    if value > MAX_ID:
        raise web.HTTPNotFound()
    return value


def error(status: int, message: str) -> web.Response:
    """A JSON error body {"error": message} with `status`."""
    return web.json_response({"error": message}, status=status)


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or 400."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def parse_time(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 time with a zone from a query parameter, or 400."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{name}: not an ISO 8601 time: {text!r}") from exc
    if value.tzinfo is None:
        raise BadRequest(f"{name}: give a time zone (e.g. Z or +01:00)")
    return value


def parse_int(text: str | None, name: str, default: int, low: int, high: int) -> int:
    """A whole number in [low, high] from a query parameter, or 400."""
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise BadRequest(f"{name}: not a whole number: {text!r}") from exc
    if not low <= value <= high:
        raise BadRequest(f"{name}: must be {low}-{high}")
    return value


def actor(request: web.Request, claimed: object = None) -> str:
    """Who did it, for audit logs: the token's name, and the person the client names (a
    console shared by a shift) after a slash — a caller can add a name, never drop its own."""
    name = principal(request).name
    person = str(claimed or "").strip()[:64]
    return name if not person or person == name else f"{name}/{person}"


def query_param(name: str, description: str, schema: dict[str, Any] | None = None,
                required: bool = False) -> dict[str, Any]:
    """An OpenAPI query parameter."""
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}
