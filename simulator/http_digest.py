"""Server side of HTTP Digest (RFC 7616, MD5, qop=auth) and Basic authentication.

Cameras put it in front of their snapshot URIs, and digest-only firmwares in front of every
SOAP request too (simulator.onvif_camera). Shared by both so they challenge alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time

from aiohttp import hdrs, web
from multidict import CIMultiDict

# A digest nonce older than this is answered with stale=true (the client retries).
DIGEST_NONCE_LIFETIME_S = 300.0

_PARAM_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


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

    def challenge(self, stale: bool = False, *, basic: bool = True) -> list[str]:
        """WWW-Authenticate values; Digest first, since clients read the first one.
        `basic`: offer Basic too (digest-only firmwares do not)."""
        digest = (
            f'Digest realm="{self.realm}", qop="auth", algorithm=MD5, '
            f'nonce="{self._nonce(time.monotonic())}"'
        )
        if stale:
            digest += ", stale=true"
        return [digest, f'Basic realm="{self.realm}"'] if basic else [digest]

    def check(
        self, header: str | None, method: str, path: str, username: str, password: str,
        *, basic: bool = True,
    ) -> str:
        """Return "ok", "stale" (digest nonce expired) or "denied". `basic`: accept Basic."""
        if not header:
            return "denied"
        scheme, _, rest = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and basic:
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


def unauthorized(auth: HttpAuthenticator, verdict: str, *, basic: bool = True) -> web.Response:
    """The HTTP 401 a camera answers for a refused `verdict` of `auth.check`, with its
    challenges (Digest, and Basic unless `basic` is False)."""
    headers: CIMultiDict[str] = CIMultiDict()
    for value in auth.challenge(stale=verdict == "stale", basic=basic):
        headers.add(hdrs.WWW_AUTHENTICATE, value)
    return web.Response(status=401, headers=headers, text="401 Unauthorized")
