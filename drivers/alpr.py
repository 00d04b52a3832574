"""Licence-plate read payloads: parse what ALPR senders post into driver-level reads.

Four formats, each into a `ParsedPayload` of `VendorRead`s (the hub turns those into
`hub.alpr_model.Read`); every malformed body raises `AlprPayloadError` saying what is wrong.

citywatch (``POST /api/reads``, `parse_citywatch`) — our own JSON, UTF-8. The body is one read
object, or ``{"reads": [object, ...]}`` (at most `MAX_READS_PER_BODY`). A read object::

    {"plate": "1-ABC-123",                    required, non-empty text as the camera read it
     "time": "2024-06-15T12:00:01.250+02:00", required, ISO 8601 *with* a zone (Z or +hh:mm)
     "camera": "cam-117",                     required, the sender's camera id (text or integer)
     "confidence": 0.93,                      0..1
     "country": "BE", "region": null,         codes; "US-CA" is read as country US, region CA
     "unit": "patrol-12",                     vehicle / unit id of a mobile camera
     "lat": 50.93, "lon": 5.34,               WGS 84 degrees, both or neither
     "direction": "approaching",              "approaching" | "receding" | "unknown" | degrees
     "images": {"crop": "<base64 JPEG>", "overview": "<base64 JPEG>"},
     "crop_url": "https://...", "overview_url": "https://..."}

Unknown fields are ignored. Every field given is validated (ranges, types, JPEG data) and a
bad one rejects the body: we define this format, so a sender can fix what it sends.

Vendor formats (`parse_openalpr`: OpenALPR/Rekor agent ``alpr_group``, ``alpr_results`` and
``heartbeat``; `parse_platerecognizer`: Plate Recognizer Snapshot/Stream and ParkPow webhooks;
`parse_onvif_plate_events`: ONVIF event XML, in drivers.alpr_onvif) are read to their vendors'
documentation. Only what a read cannot exist without is strict there (plate, time, structure):
an optional field that is absent, null, out of range or of an odd type is dropped rather
than losing the read, because a dropped read can be a missed hotlist hit.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.errors import AlprPayloadError

logger = logging.getLogger(__name__)

# One body may carry a batch (a mobile unit flushing reads it took while offline), but the
# hub commits a body in one store transaction before acknowledging it: 1000 reads keep that
# transaction well under a second on the store's single writer thread, so one sender cannot
# stall everyone else's reads. Senders split bigger backlogs into several bodies.
MAX_READS_PER_BODY = 1000

# The longest real plates are ~10-12 characters; 32 leaves room for vendor separators and
# spaces while keeping garbage (a whole JSON document as "plate") out of the search index.
MAX_PLATE_LENGTH = 32

# OpenALPR's default top-N is 10; more alternatives add nothing for an operator.
MAX_CANDIDATES = 10

# JPEG files start with the SOI marker followed by the next marker's 0xFF.
JPEG_MAGIC = b"\xff\xd8\xff"

DIRECTIONS = ("approaching", "receding", "unknown")

@dataclass(frozen=True)
class VendorImage:
    """An image of a read: its bytes when the payload carries them, else a link."""

    kind: str  # "crop" | "overview"
    jpeg: bytes | None
    url: str | None


@dataclass(frozen=True)
class VendorRead:
    """One plate read as the sender reported it, with units and formats made uniform."""

    plate: str  # as the vendor reported it, whitespace trimmed, case kept
    at: dt.datetime  # aware UTC
    source: str  # "citywatch" | "openalpr" | "platerecognizer" | "onvif"
    confidence: float | None  # 0..1
    country: str | None  # uppercased code as given
    region: str | None
    camera: str | None  # the sender's camera id as text
    unit: str | None  # agent / unit / vehicle id
    lat: float | None
    lon: float | None
    direction: str | None  # "approaching" | "receding" | "unknown" | whole degrees "123"
    images: tuple[VendorImage, ...] = ()
    candidates: tuple[tuple[str, float], ...] = ()  # alternative texts, confidence 0..1


@dataclass(frozen=True)
class ParsedPayload:
    """What one body held: its kind (as the sender names it) and its reads (maybe none)."""

    kind: str
    reads: tuple[VendorRead, ...]
    # Messages of the body that were skipped, each with why (ONVIF event documents: one
    # bad message must not cost the other reads of the same PullMessages answer).
    rejected: tuple[str, ...] = ()


# -- shared field helpers (also used by drivers.alpr_onvif) ----------------------------------


def load_json(body: bytes) -> Any:
    """Decode a UTF-8 JSON body; anything else is an AlprPayloadError."""

    def _no_constants(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        raise AlprPayloadError("body is not UTF-8 text") from exc
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise AlprPayloadError(f"body is not valid JSON: {exc}") from exc


def as_dict(value: Any, what: str) -> dict[str, Any]:
    """`value` as a JSON object, or an error naming `what`."""
    if not isinstance(value, dict):
        raise AlprPayloadError(f"{what} must be a JSON object, not {_json_type(value)}")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    """`value` as a JSON array (bounded by MAX_READS_PER_BODY), or an error naming `what`."""
    if not isinstance(value, list):
        raise AlprPayloadError(f"{what} must be a JSON array, not {_json_type(value)}")
    if len(value) > MAX_READS_PER_BODY:
        raise AlprPayloadError(
            f"too many reads: {what} has {len(value)} entries, at most {MAX_READS_PER_BODY}"
        )
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def text(value: Any) -> str | None:
    """A vendor text field: trimmed non-empty string, or an integer written as text."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # camera 1234.0 is camera "1234"
    return None


def number(value: Any) -> float | None:
    """A finite number, given as a JSON number or as text ("91.4"); else None."""
    if isinstance(value, bool):
        return None
    try:
        result = float(value) if isinstance(value, int | float | str) else None
    except (ValueError, OverflowError):
        return None
    return result if result is not None and math.isfinite(result) else None


def clean_plate(value: Any, where: str) -> str:
    """The plate text trimmed; missing, empty, over-long or control characters are errors."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # all-digit plates ("765410") sometimes arrive as numbers
    if not isinstance(value, str) or not value.strip():
        raise AlprPayloadError(f"missing plate in {where}")
    plate = value.strip()
    if len(plate) > MAX_PLATE_LENGTH:
        raise AlprPayloadError(f"plate in {where} is longer than {MAX_PLATE_LENGTH} characters")
    if not plate.isprintable():
        raise AlprPayloadError(f"plate in {where} contains control characters")
    return plate


def iso_time(value: Any, what: str, *, naive_is_utc: bool) -> dt.datetime:
    """Parse an ISO 8601 time into aware UTC; a naive time is UTC or an error."""
    if not isinstance(value, str) or not value.strip():
        raise AlprPayloadError(f"missing {what}")
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise AlprPayloadError(f"bad {what} {value[:40]!r}: not ISO 8601") from exc
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise AlprPayloadError(
                f"bad {what} {value[:40]!r}: no time zone (add Z or an offset like +02:00)"
            )
        return parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError as exc:
        raise AlprPayloadError(f"bad {what} {value[:40]!r}: out of range") from exc


def epoch_ms_time(value: Any, what: str) -> dt.datetime:
    """Epoch milliseconds (number or numeric text) into aware UTC."""
    ms = number(value)
    if ms is None:
        raise AlprPayloadError(f"missing or bad {what} (epoch milliseconds)")
    try:
        return dt.datetime.fromtimestamp(ms / 1000.0, dt.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise AlprPayloadError(f"bad {what} {ms!r}: out of range") from exc


def fraction(value: Any, scale: float = 1.0) -> float | None:
    """A vendor confidence on `scale` (1 or 100) as 0..1; outside the scale it is dropped."""
    raw = number(value)
    if raw is None or not 0.0 <= raw <= scale:
        return None
    return raw / scale


def split_country(code: Any) -> tuple[str | None, str | None]:
    """"us-ca" -> ("US", "CA"), "be" -> ("BE", None)."""
    given = text(code)
    if given is None:
        return None, None
    country, _, region = given.upper().partition("-")
    return country or None, region or None


def degrees_direction(value: Any) -> str | None:
    """A heading in degrees as whole degrees 0..359 ("86"), or None."""
    deg = number(value)
    if deg is None:
        return None
    return str(round(deg) % 360)


def position(lat: Any, lon: Any) -> tuple[float | None, float | None]:
    """A vendor position; dropped when out of range, or 0/0 (an agent without GPS sends it)."""
    la, lo = number(lat), number(lon)
    if la is None or lo is None or not (-90 <= la <= 90 and -180 <= lo <= 180):
        return None, None
    if la == 0 and lo == 0:
        return None, None
    return la, lo


def decode_jpeg(value: Any) -> bytes:
    """Base64 (optionally a ``data:`` URI, line breaks allowed) holding a JPEG, or an error."""
    if not isinstance(value, str):
        raise AlprPayloadError("image must be base64 text")
    data = value.strip()
    if data.startswith("data:"):
        data = data.partition(",")[2]
    data = "".join(data.split())
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AlprPayloadError("image is not valid base64") from exc
    if not raw.startswith(JPEG_MAGIC):
        raise AlprPayloadError("image is not a JPEG")
    return raw


def vendor_jpeg(value: Any, kind: str) -> VendorImage | None:
    """A vendor's optional base64 image, or None when it is absent or unusable.

    Documentation examples carry placeholders ("...base64 jpeg data...") in image fields and
    agents may be configured to send none: a bad image must not cost the read.
    """
    if value is None:
        return None
    try:
        return VendorImage(kind=kind, jpeg=decode_jpeg(value), url=None)
    except AlprPayloadError as exc:
        logger.debug("dropping %s image: %s", kind, exc)
        return None


def candidate_list(
    items: Any, plate: str, conf: Callable[[dict[str, Any]], float | None]
) -> tuple[tuple[str, float], ...]:
    """Alternatives to `plate` from a vendor list of {"plate": ..., <confidence>}."""
    out: list[tuple[str, float]] = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        alt, value = text(item.get("plate")), conf(item)
        if alt is None or value is None or alt == plate or len(alt) > MAX_PLATE_LENGTH:
            continue
        if alt not in (seen for seen, _ in out):
            out.append((alt, value))
        if len(out) == MAX_CANDIDATES:
            break
    return tuple(out)


# -- citywatch ------------------------------------------------------------------------------


def parse_citywatch(body: bytes) -> ParsedPayload:
    """Parse our own ``POST /api/reads`` JSON (format in the module docstring)."""
    doc = as_dict(load_json(body), "body")
    if "reads" in doc:
        items = as_list(doc["reads"], '"reads"')  # at most MAX_READS_PER_BODY
        reads = [_citywatch_read(as_dict(o, f"reads[{i}]"), f"reads[{i}]") for i, o in
                 enumerate(items)]
        return ParsedPayload(kind="reads", reads=tuple(reads))
    return ParsedPayload(kind="read", reads=(_citywatch_read(doc, "read"),))


def _citywatch_read(obj: dict[str, Any], where: str) -> VendorRead:
    plate = clean_plate(obj.get("plate"), where)
    at = iso_time(obj.get("time"), f'"time" of {where}', naive_is_utc=False)
    camera = text(obj.get("camera"))
    if camera is None:
        raise AlprPayloadError(f'missing "camera" in {where}')
    confidence = _strict_number(obj, "confidence", where, 0.0, 1.0)
    lat = _strict_number(obj, "lat", where, -90.0, 90.0)
    lon = _strict_number(obj, "lon", where, -180.0, 180.0)
    if (lat is None) != (lon is None):
        raise AlprPayloadError(f'{where} has only one of "lat" and "lon"')
    country, split_region = split_country(_strict_text(obj, "country", where))
    region = _strict_text(obj, "region", where)
    return VendorRead(
        plate=plate, at=at, source="citywatch", confidence=confidence,
        country=country, region=region.upper() if region else split_region,
        camera=camera, unit=_strict_text(obj, "unit", where), lat=lat, lon=lon,
        direction=_citywatch_direction(obj.get("direction"), where),
        images=_citywatch_images(obj, where),
    )


def _strict_number(obj: dict[str, Any], key: str, where: str, lo: float, hi: float) -> float | None:
    raw = obj.get(key)
    if raw is None:
        return None
    value = number(raw)
    if value is None or not lo <= value <= hi:
        raise AlprPayloadError(f'"{key}" of {where} must be a number in {lo:g}..{hi:g}')
    return value


def _strict_text(obj: dict[str, Any], key: str, where: str) -> str | None:
    raw = obj.get(key)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise AlprPayloadError(f'"{key}" of {where} must be text')
    return raw.strip() or None


def _citywatch_direction(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str) and raw.strip().lower() in DIRECTIONS:
        return raw.strip().lower()
    deg = number(raw)
    if deg is None or not 0 <= deg <= 360:
        raise AlprPayloadError(
            f'"direction" of {where} must be approaching, receding, unknown or degrees 0..360'
        )
    return degrees_direction(deg)


def _citywatch_images(obj: dict[str, Any], where: str) -> tuple[VendorImage, ...]:
    embedded = obj.get("images")
    if embedded is not None:
        embedded = as_dict(embedded, f'"images" of {where}')
    images = []
    for kind in ("crop", "overview"):
        jpeg = None
        if embedded is not None and embedded.get(kind) is not None:
            try:
                jpeg = decode_jpeg(embedded[kind])
            except AlprPayloadError as exc:
                raise AlprPayloadError(f"{kind} image of {where}: {exc}") from exc
        url = _strict_text(obj, f"{kind}_url", where)
        if url is not None and not url.lower().startswith(("http://", "https://")):
            raise AlprPayloadError(f'"{kind}_url" of {where} must be an http(s) URL')
        if jpeg is not None or url is not None:
            images.append(VendorImage(kind=kind, jpeg=jpeg, url=url))
    return tuple(images)


# -- OpenALPR / Rekor agents ----------------------------------------------------------------

# Agent message types that carry no plate read; they are accepted and not stored.
OPENALPR_NON_READS = frozenset({"heartbeat", "alpr_alert", "video", "vehicle"})


def parse_openalpr(body: bytes) -> ParsedPayload:
    """Parse an OpenALPR/Rekor agent POST: ``alpr_group``, ``alpr_results`` or ``heartbeat``."""
    doc = as_dict(load_json(body), "body")
    kind = text(doc.get("data_type"))
    if kind is None:
        raise AlprPayloadError('missing "data_type": not an OpenALPR agent payload')
    if kind == "alpr_group":
        return ParsedPayload(kind=kind, reads=(_openalpr_group(doc),))
    if kind == "alpr_results":
        results = as_list(doc.get("results", []), '"results"')
        if not results:
            return ParsedPayload(kind=kind, reads=())
        at = epoch_ms_time(doc.get("epoch_time"), '"epoch_time"')
        reads = [_openalpr_result(doc, as_dict(r, f"results[{i}]"), f"results[{i}]", at)
                 for i, r in enumerate(results)]
        return ParsedPayload(kind=kind, reads=tuple(reads))
    if kind not in OPENALPR_NON_READS:
        logger.info("OpenALPR payload of unknown data_type %s ignored", kind[:40])
    return ParsedPayload(kind=kind, reads=())


def _percent(item: dict[str, Any]) -> float | None:
    return fraction(item.get("confidence"), 100.0)


def _openalpr_origin(
    doc: dict[str, Any], best: dict[str, Any]
) -> tuple[str | None, str | None]:
    """Country and region from "us-mo" style regions, or a bare region under "country"."""
    region = text(doc.get("best_region")) or text(best.get("region"))
    country = text(doc.get("country"))
    if region is not None and "-" in region:
        return split_country(region)
    if region is not None:
        # "eu" is OpenALPR's pan-European model: its bare regions are countries ("be").
        if country is None or country.lower() == "eu":
            return region.upper(), None
        return country.upper(), region.upper()
    if country is not None and country.lower() != "eu":
        return country.upper(), None
    return None, None


def _openalpr_group(doc: dict[str, Any]) -> VendorRead:
    best = doc.get("best_plate")
    best = best if isinstance(best, dict) else {}
    plate = clean_plate(doc.get("best_plate_number") or best.get("plate"), "alpr_group")
    start = doc.get("epoch_start")
    at = epoch_ms_time(start if start is not None else doc.get("epoch_end"), '"epoch_start"')
    confidence = fraction(doc.get("best_confidence"), 100.0)
    if confidence is None:
        confidence = _percent(best)
    country, region = _openalpr_origin(doc, best)
    lat, lon = position(doc.get("gps_latitude"), doc.get("gps_longitude"))
    heading = doc.get("travel_direction", doc.get("direction_of_travel_degrees"))
    images = (
        vendor_jpeg(best.get("plate_crop_jpeg"), "crop"),
        vendor_jpeg(doc.get("vehicle_crop_jpeg"), "overview"),
    )
    alternatives = doc.get("candidates")
    return VendorRead(
        plate=plate, at=at, source="openalpr", confidence=confidence,
        country=country, region=region, camera=text(doc.get("camera_id")),
        unit=text(doc.get("agent_uid")), lat=lat, lon=lon,
        direction=degrees_direction(heading),
        images=tuple(i for i in images if i is not None),
        candidates=candidate_list(
            alternatives if isinstance(alternatives, list) else best.get("candidates"),
            plate, _percent,
        ),
    )


def _openalpr_result(
    doc: dict[str, Any], result: dict[str, Any], where: str, at: dt.datetime
) -> VendorRead:
    plate = clean_plate(result.get("plate"), where)
    country, region = _openalpr_origin({"country": doc.get("country")}, result)
    lat, lon = position(doc.get("gps_latitude"), doc.get("gps_longitude"))
    crop = vendor_jpeg(result.get("plate_crop_jpeg"), "crop")
    return VendorRead(
        plate=plate, at=at, source="openalpr", confidence=_percent(result),
        country=country, region=region, camera=text(doc.get("camera_id")),
        unit=text(doc.get("agent_uid")), lat=lat, lon=lon, direction=None,
        images=(crop,) if crop is not None else (),
        candidates=candidate_list(result.get("candidates"), plate, _percent),
    )


# -- Plate Recognizer / ParkPow -------------------------------------------------------------


def parse_platerecognizer(body: bytes, image: bytes | None = None) -> ParsedPayload:
    """Parse a Plate Recognizer webhook ``{"hook": ..., "data": ...}`` (or a bare result).

    `image` is the JPEG file part of a multipart webhook; it becomes each read's overview.
    """
    doc = as_dict(load_json(body), "body")
    hook = doc.get("hook")
    data = as_dict(doc["data"], '"data"') if "data" in doc else doc
    kind = text(hook.get("event")) if isinstance(hook, dict) else None
    if "results" not in data:
        raise AlprPayloadError('missing "results": not a Plate Recognizer payload')
    results = as_list(data["results"], '"results"')
    if not results:
        return ParsedPayload(kind=kind or "snapshot", reads=())
    # Stream also sends "timestamp_local", sometimes malformed ("... 00:00", "+" lost): unused.
    at = iso_time(data.get("timestamp"), '"timestamp"', naive_is_utc=True)
    camera = text(data.get("camera_id"))
    overview: tuple[VendorImage, ...] = ()
    if image is not None and image.startswith(JPEG_MAGIC):
        overview = (VendorImage(kind="overview", jpeg=image, url=None),)
    elif image is not None:
        logger.debug("dropping Plate Recognizer image part: not a JPEG")
    reads = []
    for i, item in enumerate(results):
        result = as_dict(item, f"results[{i}]")
        plate = clean_plate(result.get("plate"), f"results[{i}]")
        region = result.get("region")
        country, state = split_country(region.get("code") if isinstance(region, dict) else region)
        reads.append(
            VendorRead(
                plate=plate, at=at, source="platerecognizer",
                confidence=fraction(result.get("score")), country=country, region=state,
                camera=camera, unit=None, lat=None, lon=None,
                direction=degrees_direction(result.get("direction")), images=overview,
                candidates=candidate_list(
                    result.get("candidates"), plate, lambda c: fraction(c.get("score"))
                ),
            )
        )
    return ParsedPayload(kind=kind or "snapshot", reads=tuple(reads))


def parse_onvif_plate_events(xml: bytes) -> ParsedPayload:
    """Plate reads in ONVIF event XML; see drivers.alpr_onvif.parse_plate_events."""
    # Imported here: drivers.alpr_onvif builds on this module's types and helpers.
    from drivers.alpr_onvif import parse_plate_events

    return parse_plate_events(xml)
