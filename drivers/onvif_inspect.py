"""Raw ONVIF requests a diagnosis needs and drivers.onvif does not keep.

- ``advertised_services``: the service XAddrs exactly as the camera advertises them
  (GetServices, else GetCapabilities). drivers.onvif rewrites foreign addresses to the host
  it reached (cameras behind NAT advertise their LAN address); a diagnosis must show what
  the camera said, to tell the technician its network settings are wrong.
- ``event_topics``: the topic set of GetEventProperties, as ONVIF topic expressions
  (``tns1:RuleEngine/Recognition/LicensePlate``). Vendors use other prefixes for the same
  namespaces (``tnsaxis``, ``tnshik``...); the ONVIF topic namespace is always written
  ``tns1`` here, other namespaces keep the camera's prefix.

Requests are sent as raw SOAP 1.2 with aiohttp and a WS-Security UsernameToken digest made
by zeep (dated on the camera's clock), plus HTTP Digest when the camera demands it;
``RawSoap.http_challenges`` records which HTTP schemes a 401 offered. Errors are
drivers.errors.OnvifError subclasses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from lxml import etree

from drivers.closing import AsyncClosing
from drivers.errors import OnvifAuthError, OnvifError, OnvifProtocolError
from drivers.onvif_snapshot import offered_schemes
from drivers.onvif_support import display_url, translate_error
from drivers.soap_envelope import SOAP12, soap_envelope

__all__ = [
    "AdvertisedService",
    "RawSoap",
    "advertised_services",
    "event_topics",
    "parse_topics",
]

logger = logging.getLogger(__name__)

DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
EVENTS_NS = "http://www.onvif.org/ver10/events/wsdl"
TOPICS_NS = "http://www.onvif.org/ver10/topics"
_WSTOP = "http://docs.oasis-open.org/wsn/t-1"
_TT = "http://www.onvif.org/ver10/schema"
# GetCapabilities categories -> namespace (the same table as drivers.onvif_model).
_CAPABILITY_NS = {
    "Device": DEVICE_NS,
    "Media": "http://www.onvif.org/ver10/media/wsdl",
    "Events": EVENTS_NS,
    "PTZ": "http://www.onvif.org/ver20/ptz/wsdl",
    "Imaging": "http://www.onvif.org/ver20/imaging/wsdl",
    "Analytics": "http://www.onvif.org/ver20/analytics/wsdl",
    "DeviceIO": "http://www.onvif.org/ver10/deviceIO/wsdl",
    "Recording": "http://www.onvif.org/ver10/recording/wsdl",
    "Search": "http://www.onvif.org/ver10/search/wsdl",
    "Replay": "http://www.onvif.org/ver10/replay/wsdl",
    "Receiver": "http://www.onvif.org/ver10/receiver/wsdl",
}
# Topic sets of PTZ cameras list a few hundred topics; an answer this large is not one.
MAX_ANSWER_BYTES = 2 * 1024 * 1024
_AUTH_SUBCODES = {"NotAuthorized", "FailedAuthentication", "InvalidSecurity", "Unauthorized"}
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)



@dataclass(frozen=True)
class AdvertisedService:
    namespace: str
    xaddr: str  # as advertised: whitespace removed, nothing rewritten


class RawSoap(AsyncClosing):
    """A few SOAP requests to one camera (see the module doc). Close it when done."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        clock_offset_s: float = 0.0,
        timeout_s: float = 5.0,
    ) -> None:
        self._username = username
        self._password = password
        self._dt_diff = dt.timedelta(seconds=clock_offset_s)
        self._timeout_s = timeout_s
        self._http: aiohttp.ClientSession | None = None
        self.http_challenges: tuple[str, ...] = ()  # schemes of the last HTTP 401, lower case

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _record(
        self,
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        # Inside the Digest middleware: sees the 401 it answers.
        response = await handler(request)
        if response.status == 401:
            self.http_challenges = offered_schemes(response)
        return response

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            middlewares: tuple[Any, ...] = (self._record,)
            if self._username:
                # Cameras with digest-only auth want HTTP Digest on top of WS-Security.
                middlewares = (
                    aiohttp.DigestAuthMiddleware(self._username, self._password),
                    self._record,
                )
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=2, ssl=False),
                # Backstop only: every request runs under asyncio.timeout(timeout_s).
                timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout_s),
                middlewares=middlewares,
            )
        return self._http

    def _envelope(self, action: str, address: str, body: str) -> bytes:
        return soap_envelope(action, address, body, self._username, self._password,
                             self._dt_diff)

    async def call(self, operation: str, action: str, address: str, body: str) -> Any:
        """POST one request; the answer's SOAP Body element, or an OnvifError."""
        shown = display_url(address)
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._session().post(
                    address, data=self._envelope(action, address, body), headers=headers
                ) as resp:
                    status = resp.status
                    raw = await resp.content.read(MAX_ANSWER_BYTES + 1)
        except Exception as exc:
            error = translate_error(
                operation, exc, device=shown, timeout_s=self._timeout_s,
                secrets=(self._password,),
            )
            raise error from exc
        if status in (401, 403):
            raise OnvifAuthError(
                f"{operation}: credentials rejected (HTTP {status})",
                operation=operation, device=shown,
            )
        if len(raw) > MAX_ANSWER_BYTES:
            raise OnvifProtocolError(
                f"{operation}: answer larger than {MAX_ANSWER_BYTES} bytes",
                operation=operation, device=shown,
            )
        try:
            root = etree.fromstring(raw, _PARSER)
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise OnvifProtocolError(
                f"{operation}: answer is not well-formed XML", operation=operation, device=shown
            ) from exc
        if root is None:
            raise OnvifProtocolError(f"{operation}: empty answer", operation=operation,
                                     device=shown)
        fault = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
        if fault is not None:
            raise self._fault(operation, fault, shown)
        found = root.find(f"{{{SOAP12}}}Body")
        if found is None or status != 200:
            raise OnvifProtocolError(
                f"{operation}: HTTP {status} without a SOAP answer",
                operation=operation, device=shown,
            )
        return found

    def _fault(self, operation: str, fault: Any, shown: str) -> OnvifError:
        values = [_local(v.text or "") for v in fault.iter(f"{{{SOAP12}}}Value")]
        code, subcodes = (values[0] if values else None), tuple(values[1:])
        reason = " ".join(
            " ".join((t.text or "").split()) for t in fault.iter(f"{{{SOAP12}}}Text")
        ) or "no reason given"
        if self._password:
            reason = reason.replace(self._password, "***")
        if _AUTH_SUBCODES & set(subcodes):
            return OnvifAuthError(
                f"{operation}: credentials rejected ({'/'.join(subcodes)}: {reason[:200]})",
                operation=operation, device=shown,
            )
        label = "/".join(filter(None, (code, *subcodes))) or "unknown code"
        return OnvifProtocolError(
            f"{operation}: SOAP fault {label}: {reason[:200]}",
            operation=operation, device=shown, fault_code=code, fault_subcodes=subcodes,
        )


def _local(qname: str) -> str:
    return qname.strip().rsplit(":", 1)[-1].rsplit("}", 1)[-1]


def _localname(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _compact(text: str | None) -> str:
    return "".join((text or "").split())


async def advertised_services(soap: RawSoap, url: str) -> tuple[AdvertisedService, ...]:
    """Services with the XAddrs the camera advertises (GetServices, else GetCapabilities)."""
    try:
        body = await soap.call(
            "GetServices", f"{DEVICE_NS}/GetServices", url,
            f'<tds:GetServices xmlns:tds="{DEVICE_NS}">'
            "<tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>",
        )
        found = []
        for service in body.iter(f"{{{DEVICE_NS}}}Service"):
            ns = _compact(service.findtext(f"{{{DEVICE_NS}}}Namespace"))
            xaddr = _compact(service.findtext(f"{{{DEVICE_NS}}}XAddr"))
            if ns and xaddr:
                found.append(AdvertisedService(ns, xaddr))
        if found:
            return tuple(found)
    except (OnvifProtocolError, OnvifAuthError) as exc:
        # Axis faults on GetServices; some firmwares say NotAuthorized for what they lack.
        logger.debug("%s: GetServices failed (%s), trying GetCapabilities", display_url(url), exc)
    body = await soap.call(
        "GetCapabilities", f"{DEVICE_NS}/GetCapabilities", url,
        f'<tds:GetCapabilities xmlns:tds="{DEVICE_NS}"><tds:Category>All</tds:Category>'
        "</tds:GetCapabilities>",
    )
    services: dict[str, AdvertisedService] = {}
    for xaddr in body.iter():
        if _localname(xaddr) != "XAddr" or not _compact(xaddr.text):
            continue
        category = xaddr.getparent()
        if category is None:
            continue
        name = _localname(category)
        ns = _CAPABILITY_NS.get(name) or etree.QName(category).namespace or name
        services.setdefault(ns, AdvertisedService(ns, _compact(xaddr.text)))
    return tuple(services.values())


async def event_topics(soap: RawSoap, events_xaddr: str) -> tuple[str, ...]:
    """The camera's event topics (GetEventProperties), sorted."""
    body = await soap.call(
        "GetEventProperties",
        f"{EVENTS_NS}/EventPortType/GetEventPropertiesRequest",
        events_xaddr,
        f'<tev:GetEventProperties xmlns:tev="{EVENTS_NS}"/>',
    )
    return parse_topics(body)


def parse_topics(answer: Any) -> tuple[str, ...]:
    """Topic expressions of every topic in a GetEventPropertiesResponse (or its Body).

    A topic is an element of the TopicSet marked ``wstop:topic="true"`` or describing a
    message (MessageDescription child); some firmwares omit the attribute.
    """
    topic_set = next(
        (e for e in answer.iter(f"{{{_WSTOP}}}TopicSet")), None
    )
    if topic_set is None:
        return ()
    found: set[str] = set()

    def walk(element: Any, path: list[str]) -> None:
        for child in element:
            name = _localname(child)
            if not name or etree.QName(child).namespace == _TT:
                continue  # MessageDescription and its parts are not topics
            here = [*path, _segment(child) if not path else name]
            marked = child.get(f"{{{_WSTOP}}}topic", "").strip().lower() == "true"
            describes = child.find(f"{{{_TT}}}MessageDescription") is not None
            if marked or describes:
                found.add("/".join(here))
            walk(child, here)

    walk(topic_set, [])
    return tuple(sorted(found))


def _segment(element: Any) -> str:
    qname = etree.QName(element)
    if qname.namespace == TOPICS_NS:
        return f"tns1:{qname.localname}"
    prefix = element.prefix
    return f"{prefix}:{qname.localname}" if prefix else qname.localname
