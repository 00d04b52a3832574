"""Raw SOAP 1.2 requests for the ONVIF calls made without the onvif library (PullPoint
events, the XAddrs as a camera advertises them): envelope with WS-Addressing and a
WS-Security UsernameToken digest stamped on the camera's clock."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from lxml import etree
from zeep.wsse import username as _zeep_username

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"

# zeep is untyped; the one class used from it, as Any for mypy --strict.
UsernameToken: Any = _zeep_username.UsernameToken


def soap_envelope(
    action: str, address: str, body: str, username: str, password: str,
    clock_offset: dt.timedelta,
) -> bytes:
    """The request bytes. `body` is our own XML; `address` goes in as text (never parsed as
    markup). The token's Created is our clock plus `clock_offset` (camera minus ours):
    cameras refuse tokens too far from their own time. No token without a username."""
    root = etree.fromstring(
        f'<env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}"><env:Header>'
        f"<wsa:Action>{action}</wsa:Action>"
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        "<wsa:To></wsa:To></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    )
    to = root.find(f"{{{SOAP12}}}Header/{{{WSA}}}To")
    if to is not None:
        to.text = address
    if username:
        created = (dt.datetime.now(dt.UTC) + clock_offset).replace(tzinfo=None)
        UsernameToken(username, password, use_digest=True, created=created,
                      zulu_timestamp=True).apply(root, {})
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
