"""Glue between drivers.onvif and the onvif-zeep-async library.

- imports the library without letting it configure the root logger,
- loads the library's WSDL documents once per process (``warm_up``), off the event loop,
- converts every third-party exception into the drivers.errors tree (``translate_error``),
- URL helpers: credential-free display URLs and XAddr / media URI rewriting,
- camera clock parsing (UTCDateTime, or LocalDateTime + POSIX TZ).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import threading
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import aiohttp
import httpx
import zeep.exceptions
from lxml import etree

from drivers.errors import (
    DriverError,
    OnvifAuthError,
    OnvifError,
    OnvifProtocolError,
    OnvifTimeout,
    OnvifUnreachable,
)

# onvif.client calls logging.basicConfig(level=INFO) at import time, which would install a
# root handler and make the application's own logging.basicConfig a no-op. Undo that side
# effect if (and only if) the import is what added it.
_root = logging.getLogger()
_root_handlers, _root_level = list(_root.handlers), _root.level
import onvif.client as _onvif_client  # noqa: E402
from onvif.definition import SERVICES as _SERVICES  # noqa: E402
from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError  # noqa: E402

for _handler in _root.handlers[:]:
    if _handler not in _root_handlers:
        _root.removeHandler(_handler)
_root.setLevel(_root_level)

logger = logging.getLogger(__name__)

ONVIFService: Any = _onvif_client.ONVIFService
SERVICES: dict[str, dict[str, str]] = _SERVICES
WSDL_DIR = Path(_onvif_client._WSDL_PATH)

# -- WSDL documents -------------------------------------------------------------------------
# Parsing a WSDL (+ the big onvif.xsd it imports) costs 0.1-0.2 s of CPU per service and is
# blocking. The library caches parsed documents per path (onvif.client._DOCUMENT_CACHE), but
# concurrent first users all miss that cache and each parse their own copy in the executor:
# 230 cameras connecting at startup would parse devicemgmt.wsdl 230 times (~40 s of CPU).
# So documents are loaded here exactly once per process, then every device shares them.

DEFAULT_WARM_SERVICES = ("devicemgmt", "media")
_warm_lock = threading.Lock()
_warmed: set[str] = set()
_warming: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Task[None]]] = (
    weakref.WeakKeyDictionary()
)


def wsdl_path(service: str) -> str:
    return str(WSDL_DIR / SERVICES[service]["wsdl"])


def binding_name(service: str) -> str:
    spec = SERVICES[service]
    return f"{{{spec['ns']}}}{spec['binding']}"


def _load_in_private_loop(paths: list[str]) -> None:
    async def load() -> None:
        for path in paths:
            await _onvif_client._cached_document(path)

    asyncio.run(load())


def warm_up(services: tuple[str, ...] = DEFAULT_WARM_SERVICES) -> None:
    """Parse the WSDL documents of ``services`` once for the whole process. Blocking.

    Call it in a thread at start (``await asyncio.to_thread(warm_up)``) so devices created
    later share the parsed documents; devices also call it lazily (off the loop) otherwise.
    Thread-safe and idempotent.
    """
    with _warm_lock:
        missing = [s for s in services if s not in _warmed]
        if not missing:
            return
        paths = [wsdl_path(s) for s in missing]
        # Reuse the library's own loader (it patches zeep's dateTime/time types). It is a
        # coroutine, so run it in a private loop, in a helper thread if this one has a loop.
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            _load_in_private_loop(paths)
        else:
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    _load_in_private_loop(paths)
                except BaseException as exc:
                    errors.append(exc)

            thread = threading.Thread(target=run, name="onvif-warm-up")
            thread.start()
            thread.join()
            if errors:
                raise errors[0]
        _warmed.update(missing)


async def ensure_warm(services: tuple[str, ...]) -> None:
    """Async front of warm_up: one load per process, never on the event loop."""
    if all(s in _warmed for s in services):
        return
    loop = asyncio.get_running_loop()
    tasks = _warming.setdefault(loop, {})
    key = ",".join(sorted(services))
    task = tasks.get(key)
    if task is None or (task.done() and task.exception() is not None):
        task = loop.create_task(asyncio.to_thread(warm_up, services))
        tasks[key] = task
    try:
        await asyncio.shield(task)
    except Exception as exc:
        raise DriverError(f"ONVIF library could not load its WSDL files: {exc}") from exc


# -- well-formedness --------------------------------------------------------------------------
# The library parses answers with lxml in recover mode (zeep strict=False, needed for vendor
# schema deviations), which silently "repairs" malformed XML into partial or empty documents.
# A camera that sends broken XML must be reported as such, so each answer is first checked
# with a strict parser (a small cost: answers are a few KB).
_TransportError: Any = zeep.exceptions.TransportError
_ZeepXMLSyntaxError: Any = zeep.exceptions.XMLSyntaxError
_STRICT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def install_response_checks(service: Any) -> None:
    """Make ``service`` (an onvif ONVIFService) reject malformed XML and HTTP 401/403."""
    transport = service.transport
    original = transport.post_xml

    async def post_xml(address: str, envelope: Any, headers: dict[str, str]) -> Any:
        response = await original(address, envelope, headers)
        status = int(response.status_code)
        if status in (401, 403):
            raise _TransportError(f"HTTP {status}", status_code=status)
        content_type = str(response.headers.get("Content-Type", "")).lower()
        if not response.content or "multipart/" in content_type:  # MTOM answers: zeep decodes
            return response
        try:
            etree.fromstring(response.content, _STRICT_PARSER)
        except etree.XMLSyntaxError as exc:
            if status != 200:
                raise _TransportError(
                    f"HTTP {status} without a SOAP answer", status_code=status
                ) from None
            raise _ZeepXMLSyntaxError(f"not well-formed XML: {exc}") from None
        return response

    transport.post_xml = post_xml


# -- URLs ---------------------------------------------------------------------------------


def display_url(url: str) -> str:
    """URL without userinfo and query (which may carry credentials), for logs and errors."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # ValueError for "h:abc" or "h:99999", as camera XAddrs may be
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _clean(url: str) -> SplitResult | None:
    # Pretty-printed recordings put line breaks inside values; URIs cannot contain whitespace.
    text = re.sub(r"\s+", "", url)
    try:
        parts = urlsplit(text)
        parts = parts._replace(netloc=_dedupe_port(parts.netloc))
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts


def _dedupe_port(netloc: str) -> str:
    # Some cameras send "host:8106:8106" (see onvif.util.normalize_url).
    userinfo, sep, hostport = netloc.rpartition("@")
    if "[" not in hostport and hostport.count(":") > 1:
        hostport = hostport.rsplit(":", 1)[0]
    return f"{userinfo}{sep}{hostport}"


def rewrite_xaddr(xaddr: str, device: SplitResult) -> str | None:
    """Point a service address at the host:port we reached the device on.

    Cameras advertise their LAN address (10.x, 192.168.x) or a wrong port; behind NAT or a
    port forward those are unreachable. An XAddr whose host or port differs from the device
    URL gets the device URL's scheme and netloc, keeping its own path and query.
    """
    parts = _clean(xaddr)
    if parts is None:
        return None
    if (parts.hostname, parts.port or _default_port(parts.scheme)) != (
        device.hostname,
        device.port or _default_port(device.scheme),
    ):
        parts = parts._replace(scheme=device.scheme, netloc=device.netloc)
    return urlunsplit(parts)


def netloc_of(url: str) -> tuple[str, int] | None:
    """(host, port) of a URL, the scheme's default port filled in; None when unusable."""
    parts = _clean(url)
    if parts is None:
        return None
    return parts.hostname or "", parts.port or _default_port(parts.scheme)


def rewrite_media_uri(
    uri: str, device: SplitResult, aliases: frozenset[tuple[str, int]] = frozenset()
) -> str | None:
    """Rewrite a stream/snapshot URI advertised with a foreign (LAN) host.

    http(s) URIs are served by the camera's web server, like the XAddrs: foreign host ->
    device scheme+netloc. Other schemes (rtsp) only get the device's host; their port is the
    media server's own (554), not the ONVIF one. Userinfo, path and query are kept.
    ``aliases``: (host, port) pairs the camera advertised for its own device service while
    we reach it elsewhere (a wrong port): an http(s) URI naming one means the device too.
    """
    parts = _clean(uri)
    if parts is None:
        return None
    here = (parts.hostname or "", parts.port or _default_port(parts.scheme))
    if parts.hostname == device.hostname and not (
        parts.scheme in ("http", "https") and here in aliases
    ):
        return urlunsplit(parts)
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.scheme in ("http", "https"):
        netloc = prefix + device.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(scheme=device.scheme, netloc=netloc))
    host = device.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = prefix + (f"{host}:{parts.port}" if parts.port else host)
    return urlunsplit(parts._replace(netloc=netloc))


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


# -- clock --------------------------------------------------------------------------------

_POSIX_TZ = re.compile(
    r"^\s*(?:<[^>]*>|[A-Za-z]{3,})([+-]?)(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2}))?"
)


def posix_tz_offset(tz: str) -> dt.timedelta | None:
    """UTC minus local time of a POSIX TZ string's standard time ("CST7" -> +7 h).

    DST rules are ignored: a LocalDateTime-only camera is rare and an hour off is still
    better than years off (the WS-Security window is then the camera's problem to report).
    """
    match = _POSIX_TZ.match(tz or "")
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    hours, minutes, seconds = (int(g or 0) for g in match.group(2, 3, 4))
    return sign * dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _datetime_of(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    date, time = value.Date, value.Time
    if date is None or time is None:
        return None
    return dt.datetime(
        int(date.Year),
        int(date.Month),
        int(date.Day),
        int(time.Hour or 0),
        int(time.Minute or 0),
        int(time.Second or 0),
        tzinfo=dt.UTC,
    )


def camera_utc(system_date_time: Any) -> dt.datetime:
    """The camera's UTC time from a GetSystemDateAndTime answer (always tz-aware).

    Raises ValueError/AttributeError/TypeError on a missing or invalid clock (the caller
    turns those into OnvifProtocolError).
    """
    utc = _datetime_of(getattr(system_date_time, "UTCDateTime", None))
    if utc is not None:
        return utc
    local = _datetime_of(getattr(system_date_time, "LocalDateTime", None))
    if local is None:
        raise ValueError("response has neither UTCDateTime nor LocalDateTime")
    tz = str(getattr(getattr(system_date_time, "TimeZone", None), "TZ", None) or "").strip()
    if not tz:
        # Set up without a time zone (no TimeZone, or an empty TZ): the camera's wall clock
        # is all it has, and such firmware means UTC by it.
        return local
    offset = posix_tz_offset(tz)
    if offset is None:
        raise ValueError(f"only LocalDateTime and an unknown time zone {tz!r}")
    return local + offset


# -- errors -------------------------------------------------------------------------------

_AUTH_SUBCODES = {"NotAuthorized", "FailedAuthentication", "InvalidSecurity", "Unauthorized"}
_MAX_DETAIL = 300


def _local(code: Any) -> str:
    text = getattr(code, "localname", None) or getattr(code, "text", None) or str(code)
    return str(text).strip().rsplit(":", 1)[-1].rsplit("}", 1)[-1]


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _is_xml_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, etree.XMLSyntaxError | zeep.exceptions.XMLSyntaxError):
            return True
        current = current.__cause__ or current.__context__
    return False


def translate_error(
    operation: str,
    exc: BaseException,
    *,
    device: str,
    timeout_s: float,
    secrets: tuple[str, ...],
) -> OnvifError:
    """Map any exception raised during ``operation`` to the drivers.errors tree."""
    if isinstance(exc, OnvifError):
        return exc
    if isinstance(exc, ONVIFError) and not isinstance(exc, ONVIFAuthError | ONVIFTimeoutError):
        # safe_func wraps build-time errors; classify the real one.
        if exc.__cause__ is not None:
            return translate_error(
                operation, exc.__cause__, device=device, timeout_s=timeout_s, secrets=secrets
            )

    def make(cls: type[OnvifError], detail: str) -> OnvifError:
        return cls(f"{operation}: {_redact(detail, secrets)}", operation=operation, device=device)

    if isinstance(exc, ONVIFAuthError):
        return make(OnvifAuthError, f"credentials rejected ({exc})")
    if isinstance(exc, ONVIFTimeoutError | TimeoutError | httpx.TimeoutException):
        return make(OnvifTimeout, f"no answer within {timeout_s:g} s")
    if isinstance(exc, zeep.exceptions.Fault):
        code = _local(exc.code) if exc.code else None
        subcodes = tuple(_local(s) for s in (exc.subcodes or ()))
        reason = (exc.message or "").strip() or "no reason given"
        if _AUTH_SUBCODES & {code, *subcodes}:
            return make(OnvifAuthError, f"credentials rejected ({'/'.join(subcodes)}: {reason})")
        label = "/".join(filter(None, (code, *subcodes))) or "unknown code"
        return OnvifProtocolError(
            f"{operation}: SOAP fault {label}: {_redact(reason, secrets)}",
            operation=operation,
            device=device,
            fault_code=code,
            fault_subcodes=subcodes,
        )
    if isinstance(exc, zeep.exceptions.TransportError):
        if exc.status_code in (401, 403):
            return make(OnvifAuthError, f"credentials rejected (HTTP {exc.status_code})")
        if _is_xml_error(exc):
            return make(OnvifProtocolError, "response is not well-formed XML")
        return make(OnvifProtocolError, f"HTTP {exc.status_code} without a SOAP answer")
    if _is_xml_error(exc):
        return make(OnvifProtocolError, f"response is not well-formed XML ({exc})")
    if isinstance(exc, zeep.exceptions.Error):
        return make(OnvifProtocolError, f"unexpected response ({type(exc).__name__}: {exc})")
    if isinstance(exc, aiohttp.ClientResponseError):
        if exc.status in (401, 403):
            return make(OnvifAuthError, f"credentials rejected (HTTP {exc.status})")
        return make(OnvifProtocolError, f"HTTP error {exc.status}")
    if isinstance(exc, aiohttp.ClientConnectorError | httpx.ConnectError):
        return make(OnvifUnreachable, f"cannot connect ({exc})")
    if isinstance(exc, aiohttp.ClientConnectionError | httpx.TransportError | OSError):
        return make(OnvifUnreachable, f"connection failed ({type(exc).__name__}: {exc})")
    if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in (401, 403):
        return make(OnvifAuthError, f"credentials rejected (HTTP {exc.response.status_code})")
    if isinstance(exc, aiohttp.ClientError | httpx.HTTPError):
        return make(OnvifProtocolError, f"HTTP failure ({type(exc).__name__}: {exc})")
    if isinstance(exc, AttributeError | KeyError | IndexError | TypeError | ValueError):
        return make(OnvifProtocolError, f"response lacks expected fields ({exc})")
    return make(OnvifProtocolError, f"unexpected error ({type(exc).__name__}: {exc})")


def digest_middlewares(username: str, password: str) -> tuple[aiohttp.DigestAuthMiddleware, ...]:
    """HTTP Digest for cameras that want it instead of (or on top of) WS-Security: aiohttp
    answers a Digest challenge with it and sends nothing extra to cameras that do not ask."""
    if not username:
        return ()
    return (aiohttp.DigestAuthMiddleware(username, password),)
