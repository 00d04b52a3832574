"""Snapshot JPEGs and the HTTP Digest/Basic authentication cameras put in front of them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from fractions import Fraction
from functools import lru_cache

import av
import numpy as np

# Snapshots are for previews and tamper checks; capping the size keeps the one-off
# encode cheap even for 4K profiles.
MAX_SNAPSHOT_WIDTH = 1280
# A digest nonce older than this is answered with stale=true (the client retries).
DIGEST_NONCE_LIFETIME_S = 300.0

_PARAM_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def snapshot_size(width: int, height: int) -> tuple[int, int]:
    """The snapshot size for a stream size: same aspect ratio, even dimensions, capped."""
    if width > MAX_SNAPSHOT_WIDTH:
        height = height * MAX_SNAPSHOT_WIDTH // width
        width = MAX_SNAPSHOT_WIDTH
    return max(16, width - width % 2), max(16, height - height % 2)


@lru_cache(maxsize=64)
def render_jpeg(width: int, height: int, look: int) -> bytes:
    """A synthetic street scene as JPEG; cached, since many cameras share a size and look.

    Blocking (tens of ms): call it through asyncio.to_thread from handlers.
    """
    w, h = snapshot_size(width, height)
    img = np.empty((h, w, 3), np.uint8)
    horizon = h * 2 // 5
    # Sky: vertical gradient, tinted per look so cameras do not all look alike.
    ramp = np.linspace(0.0, 1.0, horizon, dtype=np.float32)[:, None]
    tint = np.array([(90 + 20 * (look % 3)), 140, 200 - 15 * (look % 4)], np.float32)
    img[:horizon] = (tint * (0.6 + 0.4 * ramp))[:, None, :].astype(np.uint8)
    img[horizon:] = (70, 72, 75)  # asphalt
    # Buildings along the horizon.
    rng = np.random.default_rng(look)
    x = 0
    while x < w:
        bw = int(rng.integers(w // 16, w // 6))
        bh = int(rng.integers(horizon // 3, horizon))
        colour = rng.integers(60, 200, 3).astype(np.uint8)
        img[horizon - bh : horizon, x : x + bw] = colour
        x += bw + int(rng.integers(2, w // 40 + 3))
    # Lane markings in perspective.
    for i in range(8):
        y0 = horizon + (h - horizon) * i // 8
        y1 = y0 + max(2, (h - horizon) // 24)
        half = max(1, (w // 200) * (i + 1) // 2)
        img[y0:y1, w // 2 - half : w // 2 + half] = (230, 230, 230)
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height = w, h
    codec.pix_fmt = "yuvj420p"
    codec.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuvj420p")
    packets = codec.encode(frame) + codec.encode(None)
    return b"".join(bytes(p) for p in packets)


class HttpAuthenticator:
    """Server side of HTTP Digest (RFC 7616, MD5, qop=auth) and Basic authentication."""

    def __init__(self, realm: str) -> None:
        self.realm = realm
        # Nonces are self-validating (timestamp + HMAC), so nothing is stored per client.
        self._secret = os.urandom(16)

    def _nonce(self, issued: float) -> str:
        stamp = f"{issued:.3f}"
        mac = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return base64.b64encode(f"{stamp}:{mac}".encode()).decode()

    def _nonce_state(self, nonce: str) -> str:
        """ "ok", "stale" or "bad"."""
        try:
            stamp, mac = base64.b64decode(nonce, validate=True).decode().split(":", 1)
            issued = float(stamp)
        except (ValueError, UnicodeDecodeError):
            return "bad"
        good = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        if not hmac.compare_digest(good, mac):
            return "bad"
        return "ok" if time.monotonic() - issued <= DIGEST_NONCE_LIFETIME_S else "stale"

    def challenge(self, stale: bool = False) -> list[str]:
        """WWW-Authenticate values; Digest first, since clients read the first one."""
        digest = (
            f'Digest realm="{self.realm}", qop="auth", algorithm=MD5, '
            f'nonce="{self._nonce(time.monotonic())}"'
        )
        if stale:
            digest += ", stale=true"
        return [digest, f'Basic realm="{self.realm}"']

    def check(
        self, header: str | None, method: str, path: str, username: str, password: str
    ) -> str:
        """Return "ok", "stale" (digest nonce expired) or "denied"."""
        if not header:
            return "denied"
        scheme, _, rest = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                user, _, pw = base64.b64decode(rest.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return "denied"
            ok = hmac.compare_digest(user, username) and hmac.compare_digest(
                pw.encode(), password.encode()
            )
            return "ok" if ok else "denied"
        if scheme != "digest":
            return "denied"
        p = {m[0].lower(): (m[1] if m[1] or not m[2] else m[2]) for m in _PARAM_RE.findall(rest)}
        if p.get("username") != username or p.get("realm") != self.realm:
            return "denied"
        if p.get("algorithm", "MD5").upper() != "MD5" or p.get("uri", "") != path:
            return "denied"
        state = self._nonce_state(p.get("nonce", ""))
        if state != "ok":
            return "stale" if state == "stale" else "denied"

        def md5(s: str) -> str:
            return hashlib.md5(s.encode()).hexdigest()

        ha1 = md5(f"{username}:{self.realm}:{password}")
        ha2 = md5(f"{method}:{p['uri']}")
        if p.get("qop"):
            if p["qop"] != "auth":
                return "denied"
            expected = md5(f"{ha1}:{p['nonce']}:{p.get('nc', '')}:{p.get('cnonce', '')}:auth:{ha2}")
        else:
            expected = md5(f"{ha1}:{p['nonce']}:{ha2}")
        return "ok" if hmac.compare_digest(expected, p.get("response", "")) else "denied"
