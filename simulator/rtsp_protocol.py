"""RTSP/1.0 wire format for the simulated city's server (RFC 2326, RFC 2617, RFC 4566).

Pure functions and small classes, no sockets: taking one message off a connection's
buffer, formatting responses, Digest/Basic authentication, and the SDP of an H.264 stream.
simulator.rtsp_server does the talking.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import urlsplit

from simulator.model import StreamProfile

PUBLIC_METHODS = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN"
SERVER_NAME = "citywatch-sim RTSP/1.0"
REALM = "citywatch"
# Bounds on what a client may send: a request head or body beyond these is an attack or
# a bug, never a camera client (real ones send a few hundred bytes).
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
TRACK = "trackID=0"  # the one media track of every stream (control URL suffix)
NONCE_MAC_CHARS = 24  # hex characters of the nonce's HMAC (96 bits: unguessable)

REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
    405: "Method Not Allowed", 454: "Session Not Found", 455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed", 461: "Unsupported Transport",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
    505: "RTSP Version Not Supported",
}

_REQUEST_LINE = re.compile(r"^([A-Z_]{1,32}) (\S{1,2048}) (RTSP/\d\.\d)$")
_AUTH_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    version: str
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    @property
    def cseq(self) -> str | None:
        return self.headers.get("cseq")


@dataclass(frozen=True)
class Malformed:
    """A message that cannot be handled: answer `code`; close the connection if `fatal`."""

    code: int
    cseq: str | None
    fatal: bool


@dataclass(frozen=True)
class Interleaved:
    """A `$`-framed binary packet from the client (RTCP receiver reports): ignored."""

    channel: int
    size: int


Message = Request | Malformed | Interleaved


def take_message(buf: bytearray) -> Message | None:
    """Remove the next message from the start of `buf`; None while it is incomplete.

    Stray line ends between messages are skipped. A head larger than MAX_HEAD_BYTES is
    Malformed(400, fatal) and left in the buffer (the caller closes the connection).
    """
    while buf and buf[0] in (0x0D, 0x0A):
        del buf[:1]
    if not buf:
        return None
    if buf[0] == 0x24:  # '$': interleaved data
        if len(buf) < 4:
            return None
        size = int.from_bytes(buf[2:4], "big")
        if len(buf) < 4 + size:
            return None
        channel = buf[1]
        del buf[:4 + size]
        return Interleaved(channel, size)
    end, sep = buf.find(b"\r\n\r\n"), 4
    if end < 0:
        end, sep = buf.find(b"\n\n"), 2
    if end < 0:
        return Malformed(400, None, fatal=True) if len(buf) > MAX_HEAD_BYTES else None
    head = bytes(buf[:end]).decode("utf-8", "replace")
    lines = head.replace("\r\n", "\n").split("\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon and name.strip():
            headers[name.strip().lower()] = value.strip()
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        length = -1
    if not 0 <= length <= MAX_BODY_BYTES:
        del buf[:end + sep]
        return Malformed(400, headers.get("cseq"), fatal=True)
    if len(buf) < end + sep + length:
        return None
    body = bytes(buf[end + sep:end + sep + length])
    del buf[:end + sep + length]
    match = _REQUEST_LINE.match(lines[0].strip())
    if match is None:
        return Malformed(400, headers.get("cseq"), fatal=False)
    return Request(match[1], match[2], match[3], headers, body)


def format_response(code: int, cseq: str | None,
                    headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> bytes:
    lines = [f"RTSP/1.0 {code} {REASONS.get(code, 'Error')}"]
    if cseq is not None:
        lines.append(f"CSeq: {cseq}")
    lines += [f"Server: {SERVER_NAME}", f"Date: {formatdate(usegmt=True)}"]
    lines += [f"{k}: {v}" for k, v in headers or ()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def request_path(url: str) -> str | None:
    """The path of a request URL without slashes at the ends; None for `*`."""
    if url == "*":
        return None
    try:
        return urlsplit(url).path.strip("/") if "://" in url else url.split("?")[0].strip("/")
    except ValueError:  # "rtsp://[::1/x": no URL, so no stream's path (404)
        return ""


class Authenticator:
    """Digest (RFC 2617, MD5, with or without qop=auth) and Basic authentication.

    Nonces are stateless: a hex time stamp plus an HMAC of it under a per-server secret,
    so any nonce this server issued is accepted and no other.
    """

    def __init__(self, realm: str = REALM) -> None:
        self.realm = realm
        self._secret = secrets.token_bytes(16)

    def challenge(self) -> list[tuple[str, str]]:
        stamp_hex = f"{int(time.time()):x}"
        nonce = stamp_hex + self._mac(stamp_hex)
        return [("WWW-Authenticate", f'Digest realm="{self.realm}", nonce="{nonce}"'),
                ("WWW-Authenticate", f'Basic realm="{self.realm}"')]

    def _mac(self, stamp_hex: str) -> str:
        digest = hmac.new(self._secret, stamp_hex.encode(), hashlib.sha256).hexdigest()
        return digest[:NONCE_MAC_CHARS]

    def nonce_ok(self, nonce: str) -> bool:
        stamp_hex, mac = nonce[:-NONCE_MAC_CHARS], nonce[-NONCE_MAC_CHARS:]
        return bool(stamp_hex) and _same(mac, self._mac(stamp_hex))

    def check(self, header: str, method: str, username: str, password: str) -> bool:
        """True if the Authorization header proves `username`:`password` for `method`."""
        if not header:
            return False
        scheme, _, rest = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, given = base64.b64decode(rest.strip()).decode().partition(":")
            except ValueError:
                return False
            return _same(user, username) and _same(given, password)
        if scheme.lower() != "digest":
            return False
        params = {m[1].lower(): m[2] if m[2] is not None else m[3]
                  for m in _AUTH_PARAM.finditer(rest)}
        needed = ("username", "realm", "nonce", "uri", "response")
        if any(k not in params for k in needed):
            return False
        if params["username"] != username or params["realm"] != self.realm:
            return False
        if not self.nonce_ok(params["nonce"]):
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        ha1 = md5(f"{username}:{self.realm}:{password}")
        ha2 = md5(f"{method}:{params['uri']}")
        if params.get("qop"):
            if params["qop"] != "auth" or "nc" not in params or "cnonce" not in params:
                return False
            want = md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")
        else:
            want = md5(f"{ha1}:{params['nonce']}:{ha2}")
        return _same(want, params["response"].lower())


def _same(given: str, expected: str) -> bool:
    """Constant-time compare of texts; str compare_digest raises on non-ASCII (a client's)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def h264_fmtp(profile_level_id: str, sprop: str) -> str:
    """The fmtp parameters of an H.264 stream (RFC 6184: FU-A packetisation, SPS/PPS)."""
    return (f"packetization-mode=1;profile-level-id={profile_level_id};"
            f"sprop-parameter-sets={sprop}")


def build_sdp(*, host: str, path: str, camera_id: str, profile: StreamProfile,
              encoding: str, fmtp: str) -> bytes:
    """Session description of one video stream (RFC 4566): `encoding` "H264" or "H265" for
    the rtpmap, `fmtp` its parameters (h264_fmtp, simulator.hevc.fmtp)."""
    p = profile
    return "\r\n".join([
        "v=0",
        f"o=- {secrets.randbelow(1 << 31)} 1 IN IP4 {host}",
        f"s={p.name or path}",
        f"i=citywatch simulated camera {camera_id}",
        "c=IN IP4 0.0.0.0",
        "t=0 0",
        "a=tool:citywatch-sim",
        "a=type:broadcast",
        "a=control:*",
        "a=range:npt=0-",
        "m=video 0 RTP/AVP 96",
        f"b=AS:{p.bitrate_kbps}",
        f"a=rtpmap:96 {encoding}/90000",
        f"a=fmtp:96 {fmtp}",
        f"a=cliprect:0,0,{p.height},{p.width}",
        f"a=framesize:96 {p.width}-{p.height}",
        f"a=framerate:{p.fps}",
        f"a=control:{TRACK}",
        "",
    ]).encode()


def parse_transport(header: str) -> int | None:
    """Interleaved channel of the first RTP/AVP/TCP spec of a Transport header.

    None: no TCP spec (only UDP offered); -1: a TCP spec with an unreadable channel.
    """
    for spec in header.split(","):
        parts = [x.strip() for x in spec.split(";")]
        if parts[0].upper() != "RTP/AVP/TCP":
            continue
        channel = 0
        for part in parts[1:]:
            if part.lower().startswith("interleaved="):
                try:
                    channel = int(part.split("=", 1)[1].split("-")[0])
                except ValueError:
                    channel = -1
        return channel
    return None
