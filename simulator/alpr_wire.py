"""ALPR reads on the wire: what a simulated unit read, and how each vendor posts it.

Formats (shaped like the vendor samples in /work/shared/fixtures/alpr/webhooks):
- "citywatch": POST {base}/api/reads, our JSON with the crop as base64.
- "openalpr": POST {base}/api/webhooks/openalpr, an `alpr_group` (epoch ms, numeric
  camera_id = the unit's sender id, confidences in percent, plate without separators).
- "platerecognizer": POST {base}/api/webhooks/platerecognizer, {"hook", "data"} with a
  lower-case plate; as JSON or as multipart/form-data (`json` field + `upload` JPEG).

An "onvif" unit has no body of its own: its camera encodes the Profile M event
(simulator/onvif_events.py), so `encode` is never asked for it.
"""

from __future__ import annotations

import base64
import json
import random
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulator.alpr_plates import Misread, Plate, misread, normalize
from simulator.alpr_render import render_crop, render_overview
from simulator.scenario_alpr import AlprUnitSpec

PATHS = {
    "citywatch": "/api/reads",
    "openalpr": "/api/webhooks/openalpr",
    "platerecognizer": "/api/webhooks/platerecognizer",
}
# An OpenALPR group spans the frames the plate was in view: about a second at 30 fps.
GROUP_SPAN_MS = 900
FRAMES_PER_GROUP = 27
AGENT_VERSION = "2.7.101"  # the agent version of the documented alpr_group sample


@dataclass(frozen=True)
class SimRead:
    """One read a unit made: the truth, what the camera saw, and when."""

    seq: int
    at: datetime
    truth: Plate
    seen: Misread
    hotlisted: bool
    heading_deg: float  # direction of travel across the image, as engines report it

    @property
    def direction(self) -> str:
        return "approaching" if 90 <= self.heading_deg < 270 else "receding"


@dataclass(frozen=True)
class Outgoing:
    """A read encoded for the wire, ready to be (re)sent."""

    read: SimRead
    body: bytes
    content_type: str


def encode(spec: AlprUnitSpec, read: SimRead, base_url: str = "") -> Outgoing:
    """`read` in `spec.format` as (body, content type)."""
    if spec.format == "citywatch":
        doc = citywatch_read(spec, read)
    elif spec.format == "openalpr":
        doc = openalpr_group(spec, read)
    elif spec.format == "platerecognizer":
        doc = platerecognizer_hook(spec, read, base_url)
        if spec.multipart:
            overview = render_overview(read.seen.text, read.truth.country)
            body, ctype = multipart(doc, overview, f"{spec.id}-{read.seq}.jpg", read.seq)
            return Outgoing(read, body, ctype)
    else:  # "onvif" included: the camera encodes those reads
        raise ValueError(f"no wire format for ALPR format {spec.format!r}")
    return Outgoing(read, json.dumps(doc).encode(), "application/json")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _crop(read: SimRead) -> bytes:
    return render_crop(read.seen.text, read.truth.country)


def citywatch_read(spec: AlprUnitSpec, read: SimRead) -> dict[str, Any]:
    """Our own format (POST /api/reads)."""
    return {
        "plate": read.seen.text,
        "time": read.at.isoformat(),
        "camera": spec.camera,
        "confidence": read.seen.confidence,
        "country": read.truth.country,
        "unit": spec.vehicle or spec.id,
        "direction": read.direction,
        "images": {"crop": _b64(_crop(read))},
    }


def _alternates(read: SimRead, count: int) -> list[tuple[str, float]]:
    """Lower-ranked candidates an engine lists: look-alike variants of what it saw."""
    rng = random.Random(f"{read.seen.text}:{read.seq}")
    out: list[tuple[str, float]] = []
    conf = read.seen.confidence
    for _ in range(count * 3):
        if len(out) == count:
            break
        alt = normalize(misread(read.seen.text, rng).text)
        if alt != normalize(read.seen.text) and alt not in (a for a, _ in out):
            conf = round(conf * rng.uniform(0.75, 0.95), 3)
            out.append((alt, conf))
    return out


def openalpr_group(spec: AlprUnitSpec, read: SimRead) -> dict[str, Any]:
    """An OpenALPR agent's `alpr_group` (shape of the documented v2 sample)."""
    plate = normalize(read.seen.text)
    start_ms = int(read.at.timestamp() * 1000)
    # OpenALPR's European model reports country "eu" and the plate's country as region.
    region = read.truth.country.lower()
    agent = f"citywatch-sim-{spec.id}"
    uuid = f"{agent}-{spec.sender_id}-{start_ms}"
    conf = round(read.seen.confidence * 100, 4)
    candidates = [{"plate": plate, "confidence": conf, "matches_template": 0}] + [
        {"plate": p, "confidence": round(c * 100, 4), "matches_template": 0}
        for p, c in _alternates(read, 2)
    ]
    crop = _b64(_crop(read))  # where the agent puts it: in best_plate
    return {
        "version": 2,
        "data_type": "alpr_group",
        "epoch_start": start_ms,
        "epoch_end": start_ms + GROUP_SPAN_MS,
        "frame_start": read.seq * FRAMES_PER_GROUP,
        "frame_end": (read.seq + 1) * FRAMES_PER_GROUP,
        "company_id": "citywatch-simulator",
        "agent_uid": agent,
        "agent_version": AGENT_VERSION,
        "agent_type": "alprd",
        "camera_id": spec.sender_id,
        "country": "eu",
        "best_region": region,
        "best_region_confidence": 90.0,
        "uuids": [uuid],
        "plate_indexes": [0],
        "best_uuid": uuid,
        "best_plate_number": plate,
        "best_confidence": conf,
        "candidates": candidates,
        "matches_template": False,
        "is_parked": False,
        "travel_direction": read.heading_deg,
        "best_plate": {
            "plate": plate, "confidence": conf, "matches_template": 0, "plate_index": 0,
            "region": region, "region_confidence": 90, "candidates": candidates,
            "plate_crop_jpeg": crop,
        },
    }


def platerecognizer_hook(spec: AlprUnitSpec, read: SimRead, base_url: str) -> dict[str, Any]:
    """A Plate Recognizer Stream `recognition` webhook (plate in lower case)."""
    cam = str(spec.sender_id)
    filename = f"{cam}_screenshots/{read.seq:06d}.jpg"
    plate = normalize(read.seen.text).lower()
    return {
        "hook": {"target": base_url + PATHS["platerecognizer"], "id": cam,
                 "event": "recognition", "filename": filename},
        "data": {
            "camera_id": cam,
            "filename": filename,
            "timestamp": read.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "timestamp_local": read.at.isoformat(timespec="microseconds"),
            "results": [{
                "plate": plate,
                "score": read.seen.confidence,
                "dscore": round(min(0.99, read.seen.confidence + 0.05), 3),
                "box": {"xmin": 112, "ymin": 118, "xmax": 208, "ymax": 142},
                "region": {"code": read.truth.country.lower(), "score": 0.9},
                "candidates": [{"plate": plate, "score": read.seen.confidence}] + [
                    {"plate": p.lower(), "score": c} for p, c in _alternates(read, 2)
                ],
                "direction": round(read.heading_deg),
                "vehicle": {"type": "Sedan", "score": 0.8,
                            "box": {"xmin": 70, "ymin": 42, "xmax": 250, "ymax": 156}},
            }],
        },
    }


def multipart(doc: dict[str, Any], jpeg: bytes, filename: str, seq: int) -> tuple[bytes, str]:
    """multipart/form-data with the JSON as field `json` and the picture as `upload`."""
    boundary = f"citywatch-{seq:08d}-{zlib.crc32(jpeg):08x}"
    # The json part is a plain form field (no Content-Type), as Stream and `requests` send.
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="json"\r\n'
            f"\r\n{json.dumps(doc)}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="upload"; '
            f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n').encode()
    return head + jpeg + f"\r\n--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"

