"""SOAP 1.2 plumbing of the simulated devices: parsing, envelopes, faults, WS-Security.

Responses are built from string templates (cheap for hundreds of cameras); every value
put into them goes through `esc`. Requests are parsed with lxml, entities and network
access disabled.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from lxml import etree

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_TT = "http://www.onvif.org/ver10/schema"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
NS_TRT = "http://www.onvif.org/ver10/media/wsdl"
NS_TER = "http://www.onvif.org/ver10/error"
NS_TEV = "http://www.onvif.org/ver10/events/wsdl"
NS_TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
NS_WSNT = "http://docs.oasis-open.org/wsn/b-2"

PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)
WSA_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"
SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8"

# How far a UsernameToken's Created may be from the camera's own clock, either way, in
# real seconds. gSOAP's WS-Security plugin, which most camera firmwares are built on,
# allows a 300 s clock skew (SOAP_WSSE_CLKSKEW); an older token is a likely replay, a
# newer one comes from a client whose clock is ahead of the camera (what ONVIF clients'
# "adjust time" handshake exists for). A scenario running `speed` times faster than real
# time scales the window by `speed` (see UsernameTokenVerifier.verify).
CREATED_TOLERANCE_S = 300.0
# Remembered nonces per camera; bounded so a flood of requests cannot grow memory.
MAX_REMEMBERED_NONCES = 4096

_NSDECL = (
    f'xmlns:env="{NS_SOAP12}" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    f'xmlns:wsa="{NS_WSA}" '
    f'xmlns:tt="{NS_TT}" '
    f'xmlns:tds="{NS_TDS}" '
    f'xmlns:trt="{NS_TRT}" '
    f'xmlns:tev="{NS_TEV}" '
    f'xmlns:tptz="{NS_TPTZ}" '
    f'xmlns:wsnt="{NS_WSNT}" '
    f'xmlns:ter="{NS_TER}"'
)

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True
)


def esc(value: object) -> str:
    """Escape a value for XML text or a double-quoted attribute."""
    return escape(str(value), {'"': "&quot;"})


def child_text(el: etree._Element, name: str) -> str | None:
    """Text of the first descendant with local name `name`, whatever its namespace."""
    for child in el.iter():
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return (child.text or "").strip()
    return None


def xml_bool(value: bool) -> str:
    return "true" if value else "false"


class SoapFault(Exception):
    """A SOAP 1.2 fault to send back; `subcodes` are prefixed names like "ter:NotAuthorized"."""

    def __init__(self, code: str, subcodes: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.code = code  # "Sender" | "Receiver"
        self.subcodes = subcodes
        self.reason = reason

    @property
    def http_status(self) -> int:
        # ONVIF Core 5.11: sender faults are HTTP 400, receiver faults HTTP 500.
        return 400 if self.code == "Sender" else 500


def not_authorized() -> SoapFault:
    return SoapFault("Sender", ("ter:NotAuthorized",), "Sender not authorized")


def action_not_supported(action: str) -> SoapFault:
    return SoapFault(
        "Receiver",
        ("ter:ActionNotSupported", "ter:InvalidOperation"),
        f"Optional Action Not Implemented: {action}",
    )


def invalid_arg(subcode: str, reason: str) -> SoapFault:
    """An ONVIF argument fault, e.g. invalid_arg("ter:NoProfile", "...")."""
    return SoapFault("Sender", ("ter:InvalidArgVal", subcode), reason)


@dataclass(frozen=True)
class UsernameToken:
    username: str
    password: str
    digest: bool
    nonce: str  # base64 text as sent
    created: str  # as sent; it is part of the digest input


@dataclass(frozen=True)
class SoapRequest:
    """The parts of a SOAP request a device needs to answer it."""

    namespace: str  # of the Body's first child
    action: str  # its local name
    body: etree._Element  # the Body's first child
    token: UsernameToken | None
    wsa_action: str | None
    wsa_message_id: str | None


def _text(parent: etree._Element | None, ns: str, name: str) -> str | None:
    if parent is None:
        return None
    el = parent.find(f"{{{ns}}}{name}")
    return None if el is None else (el.text or "").strip()


def parse_request(data: bytes) -> SoapRequest:
    """Parse a SOAP envelope; anything malformed becomes an env:Sender fault."""
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise SoapFault("Sender", ("ter:WellFormed",), f"Malformed XML: {exc}") from None
    if root is None:
        raise SoapFault("Sender", ("ter:WellFormed",), "Empty request")
    qname = etree.QName(root)
    # SOAP 1.1 envelopes are accepted too: old clients send them, cameras answer anyway.
    if qname.localname != "Envelope" or qname.namespace not in (NS_SOAP12, NS_SOAP11):
        raise SoapFault("Sender", ("ter:InvalidArgVal",), "Not a SOAP envelope")
    env_ns = qname.namespace
    header = root.find(f"{{{env_ns}}}Header")
    body = root.find(f"{{{env_ns}}}Body")
    first = None
    if body is not None:
        first = next((c for c in body if isinstance(c.tag, str)), None)
    if first is None:
        raise SoapFault("Sender", ("ter:InvalidArgVal",), "SOAP Body is empty")
    action_q = etree.QName(first)
    token = None
    if header is not None:
        security = header.find(f"{{{NS_WSSE}}}Security")
        ut = None if security is None else security.find(f"{{{NS_WSSE}}}UsernameToken")
        if ut is not None:
            pw = ut.find(f"{{{NS_WSSE}}}Password")
            token = UsernameToken(
                username=_text(ut, NS_WSSE, "Username") or "",
                password=(pw.text or "").strip() if pw is not None else "",
                digest=pw is not None and pw.get("Type", "") == PASSWORD_DIGEST,
                nonce=_text(ut, NS_WSSE, "Nonce") or "",
                created=_text(ut, NS_WSU, "Created") or "",
            )
    return SoapRequest(
        namespace=action_q.namespace or "",
        action=action_q.localname,
        body=first,
        token=token,
        wsa_action=_text(header, NS_WSA, "Action"),
        wsa_message_id=_text(header, NS_WSA, "MessageID"),
    )


def _parse_created(text: str) -> datetime | None:
    try:
        created = datetime.fromisoformat(text)
    except ValueError:
        return None
    # A Created without a zone is read as UTC (the WS-Security profile requires UTC).
    return created.replace(tzinfo=UTC) if created.tzinfo is None else created


class UsernameTokenVerifier:
    """Checks WS-Security UsernameTokens of one device, remembering nonces against replay."""

    def __init__(self, tolerance_s: float = CREATED_TOLERANCE_S) -> None:
        self.tolerance_s = tolerance_s
        self._nonces: OrderedDict[str, datetime] = OrderedDict()

    def verify(
        self,
        token: UsernameToken | None,
        username: str,
        password: str,
        now: datetime,
        speed: float = 1.0,
    ) -> None:
        """Raise the NotAuthorized fault unless `token` proves `username`/`password`.

        `now` is the device's own clock: a device judges freshness by the time it believes.
        `speed` is the virtual clock's rate: a client's clock, synchronised once by the
        time handshake, falls behind a camera clock that runs `speed` times faster, so the
        window is kept constant in real time rather than in camera time.
        """
        tolerance = timedelta(seconds=self.tolerance_s * max(1.0, speed))
        if token is None or token.username != username:
            raise not_authorized()
        if not token.digest:
            # PasswordText: plain comparison, no freshness (many cameras accept it).
            if not hmac.compare_digest(token.password.encode(), password.encode()):
                raise not_authorized()
            return
        try:
            nonce = base64.b64decode(token.nonce, validate=True)
        except (binascii.Error, ValueError):
            raise not_authorized() from None
        created = _parse_created(token.created)
        if not nonce or created is None or abs(now - created) > tolerance:
            raise not_authorized()
        expected = base64.b64encode(
            hashlib.sha1(nonce + token.created.encode() + password.encode()).digest()
        ).decode()
        if not hmac.compare_digest(expected, token.password):
            raise not_authorized()
        self._forget_expired(now)
        if token.nonce in self._nonces:
            raise not_authorized()  # replay within the freshness window
        # A nonce must be remembered as long as its Created could still pass the check.
        self._nonces[token.nonce] = now + 2 * tolerance
        if len(self._nonces) > MAX_REMEMBERED_NONCES:
            self._nonces.popitem(last=False)

    def _forget_expired(self, now: datetime) -> None:
        while self._nonces:
            nonce, expires = next(iter(self._nonces.items()))
            if expires > now:
                break
            del self._nonces[nonce]


def wsa_header(request: SoapRequest | None, fault: bool = False) -> str:
    """WS-Addressing reply headers, only when the request carried WS-Addressing."""
    if request is None or (request.wsa_action is None and request.wsa_message_id is None):
        return ""
    if fault:
        action = WSA_FAULT_ACTION
    elif request.wsa_action and request.wsa_action.endswith("Request"):
        action = request.wsa_action[: -len("Request")] + "Response"
    elif request.wsa_action:
        action = request.wsa_action + "Response"
    else:
        action = f"{request.namespace}/{request.action}Response"
    parts = [f"<wsa:Action>{esc(action)}</wsa:Action>"]
    parts.append(f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>")
    if request.wsa_message_id:
        parts.append(f"<wsa:RelatesTo>{esc(request.wsa_message_id)}</wsa:RelatesTo>")
    parts.append("<wsa:To>http://www.w3.org/2005/08/addressing/anonymous</wsa:To>")
    return "".join(parts)


# An xsd:dateTime in UTC as the templates write it ("2026-03-02T11:00:00Z", maybe .mmm),
# as element text or attribute value (UtcTime="..." of event messages).
_UTC_DATETIME = re.compile(
    r'((?:>\s*|=")\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z(\s*<|")'
)


def naive_times(xml: str) -> str:
    """`xml` with the zone dropped from every UTC xsd:dateTime value, as firmware
    set up without a time zone writes them ("2026-03-02T11:00:00"; readers must take UTC)."""
    return _UTC_DATETIME.sub(r"\1\2", xml)


def envelope(body: str, header: str = "") -> bytes:
    """A complete SOAP 1.2 envelope around already-escaped body XML."""
    head = f"<env:Header>{header}</env:Header>" if header else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope {_NSDECL}>'
        f"{head}<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def fault_body(fault: SoapFault) -> str:
    """The env:Fault element, subcodes nested like real cameras send them."""
    sub = ""
    for code in reversed(fault.subcodes):
        sub = f"<env:Subcode><env:Value>{esc(code)}</env:Value>{sub}</env:Subcode>"
    return (
        f"<env:Fault><env:Code><env:Value>env:{fault.code}</env:Value>{sub}</env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{esc(fault.reason)}</env:Text></env:Reason>'
        "</env:Fault>"
    )
