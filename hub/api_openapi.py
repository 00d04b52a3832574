"""GET /api/openapi.json: the OpenAPI 3.1 document of the API, generated from the same
route table the server registers and authorises with (hub.api.all_routes), so it cannot
list a route that does not exist or miss one that does.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import re
from typing import Any

from aiohttp import web

from hub.api_routes import Route
from hub.auth import Role

OPENAPI_VERSION = "3.1.0"

# aiohttp path parameters may carry a regex ("{id:\d+}"); OpenAPI wants the bare name.
_PARAM = re.compile(r"\{(\w+)(?::([^{}]*(?:\{[^{}]*\}[^{}]*)*))?\}")

_ERROR = {"description": "error", "content": {"application/json": {"schema": {
    "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}}


def openapi_path(path: str) -> str:
    """"/api/reads/{id:\\d+}/images/{kind}" -> "/api/reads/{id}/images/{kind}"."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def _path_parameters(route: Route) -> list[dict[str, Any]]:
    given = {p["name"] for p in route.doc.get("parameters", []) if p.get("in") == "path"}
    out = []
    for match in _PARAM.finditer(route.path):
        name, pattern = match.group(1), match.group(2)
        if name in given:
            continue
        schema: dict[str, Any] = ({"type": "integer", "minimum": 0} if pattern == r"\d+"
                                  else {"type": "string", "minLength": 1})
        out.append({"name": name, "in": "path", "required": True, "schema": schema})
    return out


def _operation(route: Route) -> dict[str, Any]:
    roles = sorted({Role.ADMIN.value, *(r.value for r in route.roles)})
    responses: dict[str, Any] = {"200": {"description": "OK"}}
    if route.websocket:
        responses = {"101": {"description": "WebSocket upgrade (JSON text frames)"},
                     "400": _ERROR}
    if not route.public:
        responses |= {"401": _ERROR, "403": _ERROR}
    for status, answer in route.doc.get("responses", {}).items():
        responses[str(status)] = answer
    if "200" in responses and "201" in responses and responses["200"] == {
            "description": "OK"}:
        del responses["200"]
    operation: dict[str, Any] = {
        "summary": route.summary,
        "operationId": _operation_id(route),
        "parameters": _path_parameters(route) + list(route.doc.get("parameters", [])),
        "responses": responses,
        "x-roles": roles,
    }
    if "requestBody" in route.doc:
        operation["requestBody"] = route.doc["requestBody"]
    if route.public:
        operation["security"] = []
    return operation


def _operation_id(route: Route) -> str:
    words = re.sub(r"[^a-z0-9]+", "_", openapi_path(route.path).lower()).strip("_")
    return f"{route.method.lower()}_{words}"


def openapi_document(routes: list[Route], version: str) -> dict[str, Any]:
    """The OpenAPI document of `routes`."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = _operation(route)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "citywatch hub API", "version": version,
                 "description": "Cameras, ALPR reads, alerts, wanted plates, hotlists, live "
                                "events. Roles per operation in x-roles (admin may do all)."},
        "servers": [{"url": "/"}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }


@functools.cache
def _document_bytes() -> bytes:
    from hub.api import all_routes

    try:
        version = importlib.metadata.version("citywatch")
    except importlib.metadata.PackageNotFoundError:
        version = "0+unknown"
    return json.dumps(openapi_document(all_routes(), version)).encode()


async def _openapi(request: web.Request) -> web.Response:
    return web.Response(body=_document_bytes(), content_type="application/json")


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/openapi.json", _openapi, frozenset(),
          "This document (no token needed)", public=True),
)
