"""Licence-plate reads in ONVIF event XML (PullMessages answers, Notify, metadata streams).

Accepted documents: a SOAP ``PullMessagesResponse`` or ``Notify``, a ``tt:MetadataStream``, a
single ``wsnt:NotificationMessage`` or a bare ``tt:Message``. Every ``tt:Message`` in it is
looked at; a message is a plate read when its Data carries a plate number, whatever its
topic — vendors name the topic differently (Profile M ``tns1:RuleEngine/Recognition/
LicensePlate``, Hikvision ``tns1:RuleEngine/VehicleDetector/tnshik:Vehicle``), while the data
item names are stable. Other messages (motion, tamper, ...) are skipped, not errors.

Two layouts of the plate data are read:

- Profile M: an ElementItem holding ``tt:LicensePlateInfo`` with ``PlateNumber``,
  ``PlateType``, ``CountryCode``, ``IssuingEntity`` (each may carry a ``Likelihood``
  attribute, 0..1), and optionally a ``Likelihood`` SimpleItem;
- flat SimpleItems, as Hikvision ANPR cameras send: ``PlateNumber``, ``Likelihood``
  (percent, per mille on some firmware), ``Country`` (an English name), ``VehicleDirection``
  (forward / reverse / unknown), ``PictureUri`` (the plate picture on the camera).

XML is parsed without DTDs or entities (no expansion, no network): a document declaring any
is rejected, which defuses entity-expansion bombs and external-entity reads.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from lxml import etree

from drivers.alpr import (
    MAX_READS_PER_BODY,
    ParsedPayload,
    VendorImage,
    VendorRead,
    clean_plate,
    degrees_direction,
    iso_time,
    number,
    split_country,
    vendor_jpeg,
)
from drivers.errors import AlprPayloadError

logger = logging.getLogger(__name__)

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)

# Data item names (lowercase) that carry the plate text, by vendor.
PLATE_ITEMS = ("platenumber", "licenseplate", "platetext", "plate")
IMAGE_URI_ITEMS = ("pictureuri", "imageuri", "plateimageuri")
CAMERA_ITEMS = ("videosourceconfigurationtoken", "videosource", "videosourcetoken", "source")

# Vendor words for the travel direction relative to the camera. Hikvision: "forward" is a
# vehicle coming towards the camera, "reverse" one driving away.
DIRECTION_WORDS = {
    "forward": "approaching", "approaching": "approaching", "towards": "approaching",
    "in": "approaching", "reverse": "receding", "receding": "receding",
    "leaving": "receding", "away": "receding", "out": "receding",
    "unknown": "unknown", "none": "unknown",
}

# Hikvision's European ANPR firmware reports the country as an English name; the hub and the
# hotlists use ISO 3166-1 alpha-2 codes. Europe plus the neighbours its plate model covers.
COUNTRY_NAMES = {
    "albania": "AL", "andorra": "AD", "austria": "AT", "belarus": "BY", "belgium": "BE",
    "bosnia and herzegovina": "BA", "bulgaria": "BG", "croatia": "HR", "cyprus": "CY",
    "czech": "CZ", "czech republic": "CZ", "czechia": "CZ", "denmark": "DK", "estonia": "EE",
    "finland": "FI", "france": "FR", "germany": "DE", "greece": "GR", "hungary": "HU",
    "iceland": "IS", "ireland": "IE", "italy": "IT", "kosovo": "XK", "latvia": "LV",
    "liechtenstein": "LI", "lithuania": "LT", "luxembourg": "LU", "malta": "MT",
    "moldova": "MD", "monaco": "MC", "montenegro": "ME", "netherlands": "NL",
    "the netherlands": "NL", "north macedonia": "MK", "macedonia": "MK", "norway": "NO",
    "poland": "PL", "portugal": "PT", "romania": "RO", "russia": "RU", "san marino": "SM",
    "serbia": "RS", "slovakia": "SK", "slovenia": "SI", "spain": "ES", "sweden": "SE",
    "switzerland": "CH", "turkey": "TR", "ukraine": "UA", "united kingdom": "GB",
    "uk": "GB", "great britain": "GB", "vatican": "VA",
}


def parse_plate_events(xml: bytes) -> ParsedPayload:
    """Plate reads of every plate-carrying ``tt:Message`` in an ONVIF event document."""
    root = _parse(xml)
    reads: list[VendorRead] = []
    rejected: list[str] = []
    for element in root.iter():
        if _local(element) != "Message" or not any(
            _local(child) in ("Source", "Key", "Data") for child in element
        ):
            continue  # wsnt:Message is only the wrapper of tt:Message
        try:
            read = _message_read(element)
        except AlprPayloadError as exc:  # this message only: the others are good reads
            rejected.append(str(exc))
            continue
        if read is not None:
            reads.append(read)
            if len(reads) > MAX_READS_PER_BODY:
                raise AlprPayloadError(f"too many reads: more than {MAX_READS_PER_BODY}")
    return ParsedPayload(kind=_kind(root), reads=tuple(reads), rejected=tuple(rejected))


def _parse(xml: bytes) -> Any:
    # Refused before parsing, so no entity is ever declared, let alone expanded. ONVIF
    # requires UTF-8, where the declaration is these literal bytes; the docinfo check after
    # parsing covers documents in other encodings.
    if _DOCTYPE.search(xml):
        raise AlprPayloadError("XML with a DTD (<!DOCTYPE>, entities) is not accepted")
    # A parser per call: lxml parser objects must not be shared between threads.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(xml, parser)
    except (etree.LxmlError, ValueError) as exc:
        raise AlprPayloadError(f"XML not well-formed: {exc}") from exc
    if root is None:
        raise AlprPayloadError("XML not well-formed: no root element")
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise AlprPayloadError("XML with a DTD (<!DOCTYPE>, entities) is not accepted")
    return root


def _local(element: Any) -> str | None:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else None


def _kind(root: Any) -> str:
    """The document's kind: the SOAP Body's first element, else the root element."""
    if _local(root) == "Envelope":
        for child in root:
            if _local(child) == "Body":
                first = next((c for c in child if _local(c) is not None), None)
                return str(_local(first)) if first is not None else "Envelope"
    return str(_local(root))


def _items(parent: Any, tag: str) -> dict[str, str]:
    """SimpleItems of a Source/Data element by lowercase name (first one wins)."""
    items: dict[str, str] = {}
    for child in parent if parent is not None else ():
        name, value = child.get("Name"), child.get("Value")
        if _local(child) == tag and name is not None and value is not None:
            items.setdefault(name.strip().lower(), value)
    return items


def _child(parent: Any, name: str) -> Any:
    return next((c for c in parent if _local(c) == name), None)


def _plate_info(data: Any) -> dict[str, Any]:
    """Profile M LicensePlateInfo fields (lowercase local name -> element), if present."""
    for item in data:
        if _local(item) != "ElementItem":
            continue
        for element in item.iter():
            if _local(element) == "PlateNumber":
                parent = element.getparent()
                return {str(_local(e)).lower(): e for e in parent if _local(e) is not None}
    return {}


def _message_read(message: Any) -> VendorRead | None:
    data = _child(message, "Data")
    if data is None:
        return None
    simple = _items(data, "SimpleItem")
    info = _plate_info(data)
    raw_plate = next((simple[n] for n in PLATE_ITEMS if n in simple), None)
    if raw_plate is None and "platenumber" in info:
        raw_plate = info["platenumber"].text
    if raw_plate is None or not raw_plate.strip():
        return None  # a vehicle event without a plate text is not a read
    plate = clean_plate(raw_plate, "ONVIF message")
    at = iso_time(message.get("UtcTime"), "UtcTime of an ONVIF plate message", naive_is_utc=True)
    likelihood = simple.get("likelihood")
    if likelihood is None and "platenumber" in info:
        likelihood = info["platenumber"].get("Likelihood")
    country, region = _origin(simple, info)
    source = _items(_child(message, "Source"), "SimpleItem")
    direction = simple.get("vehicledirection", simple.get("direction"))
    return VendorRead(
        plate=plate, at=at, source="onvif", confidence=_likelihood(likelihood),
        country=country, region=region,
        camera=next((source[n] for n in CAMERA_ITEMS if source.get(n)), None),
        unit=None, lat=None, lon=None, direction=_direction(direction),
        images=_images(simple, data),
    )


def _likelihood(value: Any) -> float | None:
    """ONVIF Likelihood as 0..1: the standard scale is 0..1, Hikvision sends percent and some
    of its firmware per mille (the recorded 1000 for a certain read)."""
    raw = number(value)
    if raw is None or raw < 0:
        return None
    for scale in (1.0, 100.0, 1000.0):
        if raw <= scale:
            return raw / scale
    return None


def _origin(simple: dict[str, str], info: dict[str, Any]) -> tuple[str | None, str | None]:
    code = simple.get("countrycode")
    if code is None and "countrycode" in info:
        code = info["countrycode"].text
    country, region = split_country(code)
    if country is None and simple.get("country"):
        name = simple["country"].strip()
        country = COUNTRY_NAMES.get(name.lower())
        if country is None and len(name) == 2 and name.isalpha():
            country = name.upper()
        if country is None:
            logger.debug("ONVIF plate country %r not mapped to a code", name[:40])
    issuer = simple.get("issuingentity")
    if issuer is None and "issuingentity" in info:
        issuer = info["issuingentity"].text
    if issuer is not None and issuer.strip():
        region = issuer.strip().upper()
    return country, region


def _direction(value: str | None) -> str | None:
    if value is None:
        return None
    word = value.strip().lower()
    return DIRECTION_WORDS.get(word) or degrees_direction(word)


def _images(simple: dict[str, str], data: Any) -> tuple[VendorImage, ...]:
    images: list[VendorImage] = []
    for element in data:
        if _local(element) == "ElementItem" and element.get("Name") == "Image":
            embedded = vendor_jpeg("".join(element.itertext()), "crop")
            if embedded is not None:
                images.append(embedded)
    uri = next((simple[n].strip() for n in IMAGE_URI_ITEMS if n in simple), None)
    if uri is not None and uri.lower().startswith(("http://", "https://")):
        images.append(VendorImage(kind="crop", jpeg=None, url=uri))
    return tuple(images)
