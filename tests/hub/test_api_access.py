"""Every API route refuses the wrong caller, and says nothing when it does (issue 9, "Done
means"): no or a wrong token -> 401, a role the route does not allow -> 403, a partner on a
camera it was not granted -> 404; each refusal's body is exactly {"error": "..."}.

Everything is derived from hub.api.all_routes(), so a route added later is covered without
touching this file. Also here: the listener over TLS (hub.api_server.tls_context).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from hub.api import all_routes, build_api
from hub.api_routes import Route
from hub.api_server import ApiServer, ListenError, tls_context
from hub.auth import Role, TokenAuthority, TokenStore
from hub.core import Hub
from hub.model import CameraConfig, CameraKind, Site

GRANTED, NOT_GRANTED = "cam-a", "cam-b"
# The only routes a caller without a token may use. A new public route must be added here:
# publishing something is a decision, not a side effect of a missing role set.
PUBLIC_ROUTES = {("GET", "/api/openapi.json")}

# A path parameter: {name} or {name:regex}, the regex possibly with {m,n} inside.
_PARAM = re.compile(r"\{(\w+)(?::((?:[^{}]|\{[^{}]*\})*))?\}")


def fill(path: str, camera: str) -> str:
    """A concrete path for a route's template: {camera} -> `camera`, numeric ids -> 1,
    {kind} -> crop (an image kind), anything else -> x."""

    def value(match: re.Match[str]) -> str:
        name, regex = match[1], match[2] or ""
        if name == "camera":
            return camera
        if name == "id" or r"\d" in regex:
            return "1"
        if name == "kind":
            return "crop"
        return "x"

    filled = _PARAM.sub(value, path)
    assert "{" not in filled, f"cannot fill {path}"
    return filled


def test_fill() -> None:
    assert fill(r"/api/reads/{id:\d+}/images/{kind}", "c") == "/api/reads/1/images/crop"
    assert fill("/api/cameras/{camera}/ptz/presets/{token}", "c") == \
        "/api/cameras/c/ptz/presets/x"
    assert fill(r"/x/{n:\d{1,3}}/{camera}", "cam-b") == "/x/1/cam-b"


def camera(cam_id: str) -> CameraConfig:
    # Nothing listens on port 9: the hub knows the cameras, a handler that got through
    # would fail fast instead of reaching a device.
    return CameraConfig(id=cam_id, name=cam_id, site="city", kind=CameraKind.FIXED,
                        onvif_url="http://127.0.0.1:9/onvif/device_service",
                        username="admin", password="pw-not-under-test")


@dataclass
class Gate:
    base: str
    http: aiohttp.ClientSession
    tokens: dict[str, str]  # who -> token: every role, and "partner" granted GRANTED only

    async def call(self, method: str, path: str, token: str | None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        async with self.http.request(method, self.base + path, headers=headers,
                                     **body) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.read()

    async def handshake(self, path: str, token: str | None) -> int:
        """The HTTP status of a WebSocket upgrade with `?token=` (101 when accepted)."""
        params = {"token": token} if token is not None else {}
        try:
            ws = await self.http.ws_connect(self.base + path, params=params)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 101


@pytest.fixture
async def gate(tmp_path: Path) -> AsyncIterator[Gate]:
    store = TokenStore(tmp_path / "data")
    tokens = {role.value: store.create(f"t-{role}", role) for role in Role
              if role is not Role.PARTNER}
    tokens["partner"] = store.create("uni", Role.PARTNER, [GRANTED])
    hub = await Hub.open([Site("city", "City")], [camera(GRANTED), camera(NOT_GRANTED)],
                         tmp_path / "data", stream_health=False)
    server = ApiServer(build_api(hub, TokenAuthority(store)), "127.0.0.1", 0)
    port = await server.start()
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            yield Gate(f"http://127.0.0.1:{port}", http, tokens)
    finally:
        await server.stop()
        await hub.stop()


def refusal_problem(status: int, body: Any, expected: int) -> str | None:
    """Why an answer is not a bare refusal with `expected`, or None when it is one."""
    if status != expected:
        return f"status {status}, expected {expected}"
    if not (isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], str)):
        return f"body is not exactly {{'error': ...}}: {body!r:.200}"
    return None


def guarded_routes() -> list[Route]:
    return [route for route in all_routes() if not route.public]


def test_public_routes_are_a_conscious_decision() -> None:
    assert {(r.method, r.path) for r in all_routes() if r.public} == PUBLIC_ROUTES


def test_the_enumeration_covers_camera_routes() -> None:
    # Without {camera} routes the partner checks below would prove nothing.
    assert any(route.camera_scoped for route in guarded_routes())
    assert all(route.roles <= set(Role) for route in all_routes())


async def test_every_route_refuses_without_a_valid_token(gate: Gate) -> None:
    problems = []
    for route in guarded_routes():
        path = fill(route.path, GRANTED)
        for token in (None, "", "cw_not-a-token", gate.tokens["admin"] + "x"):
            status, body = await gate.call(route.method, path, token)
            if (problem := refusal_problem(status, body, 401)) is not None:
                problems.append(f"{route.method} {path} token={token!r:.12}: {problem}")
    assert not problems, "\n".join(problems)


async def test_every_route_refuses_the_roles_it_does_not_allow(gate: Gate) -> None:
    problems, refused = [], 0
    for route in guarded_routes():
        path = fill(route.path, GRANTED)
        for who, token in gate.tokens.items():
            role = Role(who)
            if role is Role.ADMIN or role in route.roles:
                continue
            refused += 1
            status, body = await gate.call(route.method, path, token)
            if (problem := refusal_problem(status, body, 403)) is not None:
                problems.append(f"{route.method} {path} as {role}: {problem}")
    assert not problems, "\n".join(problems)
    assert refused > len(guarded_routes())  # most routes refuse several roles


async def test_a_partner_gets_404_for_cameras_it_was_not_granted(gate: Gate) -> None:
    problems, checked = [], 0
    partner = gate.tokens["partner"]
    for route in guarded_routes():
        if not route.camera_scoped or Role.PARTNER not in route.roles:
            continue
        checked += 1
        path = fill(route.path, NOT_GRANTED)
        status, body = await gate.call(route.method, path, partner)
        if (problem := refusal_problem(status, body, 404)) is not None:
            problems.append(f"{route.method} {path}: {problem}")
        # The granted camera passes the gate (the handler may still fail on the device).
        status, body = await gate.call(route.method, fill(route.path, GRANTED), partner)
        if status in (401, 403) or (status == 404 and "no camera" in str(body)):
            problems.append(f"{route.method} {route.path} on the granted camera: {status}")
    assert not problems, "\n".join(problems)
    assert checked >= 1


async def test_a_partner_never_sees_an_ungranted_camera_in_a_listing(gate: Gate) -> None:
    problems, checked = [], 0
    for route in guarded_routes():
        if route.method != "GET" or route.websocket or Role.PARTNER not in route.roles:
            continue
        checked += 1
        path = fill(route.path, GRANTED)
        status, body = await gate.call(route.method, path, gate.tokens["partner"])
        if NOT_GRANTED in str(body):
            problems.append(f"GET {path}: {status} mentions {NOT_GRANTED}")
    assert not problems, "\n".join(problems)
    assert checked >= 1
    # The operator's listing does show both: the check above can fail.
    status, body = await gate.call("GET", "/api/cameras", gate.tokens["operator"])
    assert status == 200 and NOT_GRANTED in str(body) and GRANTED in str(body)


async def test_websocket_upgrades_are_gated_too(gate: Gate) -> None:
    problems = []
    sockets = [r for r in guarded_routes() if r.websocket]
    for route in sockets:
        path = fill(route.path, NOT_GRANTED if route.camera_scoped else GRANTED)
        expected = {None: 401, "cw_wrong": 401}
        for who, token in gate.tokens.items():
            if Role(who) is not Role.ADMIN and Role(who) not in route.roles:
                expected[token] = 403
        if route.camera_scoped and Role.PARTNER in route.roles:
            expected[gate.tokens["partner"]] = 404
        for token, status in expected.items():
            got = await gate.handshake(path, token)
            if got != status:
                problems.append(f"upgrade {path}: {got}, expected {status}")
    assert not problems, "\n".join(problems)
    assert sockets, "/api/events at least is a WebSocket route"


async def test_the_query_token_is_refused_outside_webhooks_and_websockets(gate: Gate) -> None:
    problems = []
    for route in guarded_routes():
        if route.websocket or route.path.startswith("/api/webhooks/"):
            continue
        path = fill(route.path, GRANTED)
        async with gate.http.request(route.method, gate.base + path,
                                     params={"token": gate.tokens["admin"]}) as response:
            if response.status != 401:
                problems.append(f"{route.method} {path}: {response.status}")
    assert not problems, "\n".join(problems)


# TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def write_pair(ca: trustme.CA, directory: Path, name: str = "hub") -> tuple[Path, Path]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_path), append=True)
    cert.private_key_pem.write_to_path(str(key_path))
    return cert_path, key_path


async def test_tls_listener_serves_https_and_refuses_plain_http(
    ca: trustme.CA, tmp_path: Path
) -> None:
    cert, key = write_pair(ca, tmp_path)
    context = tls_context(cert, key)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    hub = await Hub.open([], [], tmp_path / "data", stream_health=False)
    server = ApiServer(build_api(hub, "tls-token"), "127.0.0.1", 0, context)
    port = await server.start()
    client = ssl.create_default_context()
    ca.configure_trust(client)
    headers = {"Authorization": "Bearer tls-token"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.get(f"https://127.0.0.1:{port}/api/alerts", ssl=client,
                                headers=headers) as response:
                assert response.status == 200 and "alerts" in await response.json()
            # A client that does not trust the CA does not get through.
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(f"https://127.0.0.1:{port}/api/alerts", headers=headers)
            # Plain HTTP to the TLS port gets no HTTP answer at all.
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/api/alerts",
                                    headers=headers) as response:
                    await response.read()
    finally:
        await server.stop()
        await hub.stop()


@pytest.mark.parametrize("broken", ["missing cert", "missing key", "garbage", "mismatch",
                                    "encrypted"])
def test_tls_context_refuses_unusable_files_with_a_clear_message(
    ca: trustme.CA, tmp_path: Path, broken: str
) -> None:
    cert, key = write_pair(ca, tmp_path)
    if broken == "missing cert":
        cert, expected = tmp_path / "nope.pem", "no such file"
    elif broken == "missing key":
        key, expected = tmp_path / "nope.key", "no such file"
    elif broken == "garbage":
        key.write_text("not a key\n")
        expected = "not a matching PEM"
    elif broken == "mismatch":
        _, key = write_pair(trustme.CA(), tmp_path, "other")
        expected = "not a matching PEM"
    else:
        from cryptography.hazmat.primitives import serialization

        private = serialization.load_pem_private_key(key.read_bytes(), None)
        key.write_bytes(private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase")))
        expected = "is encrypted"
    with pytest.raises(ListenError, match=expected) as caught:
        tls_context(cert, key)
    assert "\n" not in str(caught.value)
