"""One report of what is wrong with an ONVIF camera (`citywatch diagnose`).

``diagnose(url, user, password)`` logs in the way the hub does (drivers.onvif), then
checks what a technician asks about a camera that misbehaves: identity, clock, services
and where they are advertised, profiles and their URIs, PTZ, events (PullPoint, topics),
the snapshot (fetched and decoded) and the first H.264 stream, else the first H.265 one
(probed), and the vendor quirks the raw device answers show (digest-only auth, a clock
without time zone, a broken GetCapabilities, foreign XAddrs). Each problem is a
``Finding``; only a camera that cannot be reached or refuses the login raises
(``DiagnoseFailed``) - everything else ends up in the report, never as an exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from drivers.errors import (
    OnvifAuthError,
    OnvifError,
    OnvifProtocolError,
    OnvifTimeout,
    OnvifUnreachable,
    StreamError,
)
from drivers.onvif import DeviceInformation, MediaProfile, OnvifDevice, OnvifService
from drivers.onvif_events import OnvifPlateEvents
from drivers.onvif_inspect import DEVICE_NS, RawSoap, advertised_services, event_topics
from drivers.onvif_snapshot import Snapshot, fetch_snapshot
from drivers.onvif_support import SERVICES, display_url
from drivers.stream import StreamProbe, probe, redact_url

__all__ = [
    "DiagnoseFailed",
    "Finding",
    "ProfileReport",
    "Report",
    "Severity",
    "diagnose",
    "hide_secret",
    "redact_uri",
]

logger = logging.getLogger(__name__)

# Cameras tolerate a few seconds of WS-Security skew; past 5 s recordings and events carry
# visibly wrong times and some firmwares start refusing tokens.
CLOCK_DRIFT_S = 5.0
# A snapshot normally takes well under a second; past 2 s a preview feels broken.
SNAPSHOT_SLOW_S = 2.0
# A device-information answer slower than this makes every poll of the hub crawl.
SLOW_ANSWER_S = 2.0
# Per ONVIF request (drivers.onvif default): slow firmwares take 2-3 s.
REQUEST_TIMEOUT_S = 5.0
SNAPSHOT_TIMEOUT_S = 10.0
# Stream probe: open within this, then read packets for PROBE_SECONDS (2 keyframes at
# the usual 1 s GOP, enough for frame rate and bit rate).
PROBE_TIMEOUT_S = 10.0
PROBE_SECONDS = 2.0
# Connecting to an advertised XAddr that is not the camera's reached address: a LAN
# answers in milliseconds, so 1.5 s says "unreachable" without holding up the report.
XADDR_CONNECT_TIMEOUT_S = 1.5

TT_NS = "http://www.onvif.org/ver10/schema"
H264 = {"H264", "H.264", "AVC"}
H265 = {"H265", "H.265", "HEVC"}
PTZ_NS = SERVICES["ptz"]["ns"]
EVENTS_NS = SERVICES["events"]["ns"]
# Short names for the report. The library's table lists some namespaces under several
# names (events, pullpoint, subscription): the first one wins, a few read better renamed.
_SERVICE_NAMES: dict[str, str] = {}
for _name, _spec in SERVICES.items():
    _SERVICE_NAMES.setdefault(_spec["ns"], _name)
_SERVICE_NAMES[SERVICES["devicemgmt"]["ns"]] = "device"
_SERVICE_NAMES["http://www.onvif.org/ver20/media/wsdl"] = "media2"


# Passwords shorter than this are not searched for in free text: hiding "x" or "admin"
# wherever it occurs would mangle the report ("1280***720") and hide nothing anyone
# could not guess. URIs are redacted by their structure (userinfo, query values) instead.
MIN_HIDDEN_SECRET = 6


def hide_secret(text: str, secret: str) -> str:
    """``text`` with ``secret`` replaced by ``***`` (see MIN_HIDDEN_SECRET)."""
    return text.replace(secret, "***") if len(secret) >= MIN_HIDDEN_SECRET else text


def redact_uri(uri: str, secret: str) -> str:
    """A camera's URI without its password: in the userinfo or as a query value."""
    uri = redact_url(uri)
    parts = urlsplit(uri)
    if secret and parts.query:
        pairs = [pair.partition("=") for pair in parts.query.split("&")]
        query = "&".join(
            f"{key}{eq}{'***' if eq and unquote(value) == secret else value}"
            for key, eq, value in pairs
        )
        uri = parts._replace(query=query).geturl()
    return hide_secret(uri, secret)


class Severity:
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    severity: str  # Severity.*
    code: str  # stable identifier, e.g. "clock_drift"
    message: str  # one line for a human


@dataclass(frozen=True)
class ProfileReport:
    token: str
    name: str
    encoding: str | None
    width: int | None
    height: int | None
    fps: float | None
    stream_uri: str | None
    snapshot_uri: str | None


@dataclass(frozen=True)
class Report:
    url: str  # without credentials
    device: DeviceInformation
    clock_offset_s: float | None
    services: tuple[OnvifService, ...]
    profiles: tuple[ProfileReport, ...]
    ptz: bool
    pullpoint: bool
    topics: tuple[str, ...]
    stream: StreamProbe | None
    snapshot: Snapshot | None
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == Severity.ERROR)

    def to_json(self) -> dict[str, Any]:
        """The report with the keys of issue 4 (``citywatch diagnose --json``)."""
        info = self.device
        return {
            "device": {
                "manufacturer": info.manufacturer,
                "model": info.model,
                "firmware": info.firmware_version,
                "serial": info.serial_number,
                "hardware": info.hardware_id,
            },
            "clock_offset_s": self.clock_offset_s,
            "services": [{"namespace": s.namespace, "xaddr": s.xaddr} for s in self.services],
            "profiles": [dataclasses.asdict(p) for p in self.profiles],
            "ptz": self.ptz,
            "events": {"pullpoint": self.pullpoint, "topics": list(self.topics)},
            "stream": dataclasses.asdict(self.stream) if self.stream else None,
            "findings": [dataclasses.asdict(f) for f in self.findings],
        }


class DiagnoseFailed(Exception):
    """The camera cannot be reached or refuses the login: there is nothing to report on.

    ``reason`` is "unreachable" or "auth"; the message is one line without credentials.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


def service_name(namespace: str) -> str:
    """Short name of a service namespace ("media", "ptz"), else the namespace itself."""
    return _SERVICE_NAMES.get(namespace, namespace)


def _netloc(parts: SplitResult) -> tuple[str, int]:
    return (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


def _is_private(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private and not address.is_loopback


async def _reachable(host: str, port: int) -> bool:
    try:
        async with asyncio.timeout(XADDR_CONNECT_TIMEOUT_S):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


class _Diagnosis:
    """The state of one run; ``run()`` returns the Report."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self.shown = display_url(url)
        parts = urlsplit(url.strip())
        self.parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
        self.username = username
        self.password = password
        self.findings: list[Finding] = []
        # token -> (stream URI, snapshot URI) as the camera gave them (may hold secrets)
        self.raw_uris: dict[str, tuple[str | None, str | None]] = {}

    def add(self, severity: str, code: str, message: str) -> None:
        self.findings.append(Finding(severity, code, hide_secret(message, self.password)))

    async def run(self) -> Report:
        async with OnvifDevice(
            self.url, self.username, self.password, timeout_s=REQUEST_TIMEOUT_S
        ) as device:
            info, clock = await self._login(device)
            services = await device.services()
            profiles = await self._profiles(device)
            ptz = any(s.namespace == PTZ_NS for s in services)
            events_xaddr = next((s.xaddr for s in services if s.namespace == EVENTS_NS), None)
            # The first H.264 stream, else the first H.265 one (an H.265-only camera).
            stream_target = next(
                (p for codec in (H264, H265) for p in profiles
                 if (p.encoding or "").upper() in codec and p.stream_uri),
                None,
            )
            snapshot_target = next((p for p in profiles if p.snapshot_uri), None)
            (pullpoint, topics), stream, snapshot, _ = await asyncio.gather(
                self._events(device, events_xaddr, clock),
                self._stream(stream_target),
                self._snapshot(snapshot_target),
                self._xaddrs(clock),
            )
        return Report(
            url=self.shown, device=info, clock_offset_s=clock, services=services,
            profiles=profiles, ptz=ptz, pullpoint=pullpoint, topics=topics, stream=stream,
            snapshot=snapshot, findings=tuple(self._sorted()),
        )

    def _sorted(self) -> list[Finding]:
        order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
        # An info is dropped when the same code is also a warning or error (digest-only is
        # seen on SOAP and on the snapshot): the graver one says it already.
        graver = {f.code for f in self.findings if f.severity != Severity.INFO}
        kept = [f for f in self.findings if f.severity != Severity.INFO or f.code not in graver]
        return sorted(kept, key=lambda f: order.get(f.severity, 3))

    async def _login(self, device: OnvifDevice) -> tuple[DeviceInformation, float | None]:
        started = time.monotonic()
        try:
            await device.connect()
            info = await device.check()
            clock = await self._clock(device)
        except OnvifAuthError as exc:
            raise DiagnoseFailed(f"login refused by {self.shown}: {exc.message}", "auth") from exc
        except (OnvifUnreachable, OnvifTimeout) as exc:
            raise DiagnoseFailed(f"{self.shown} unreachable: {exc.message}", "unreachable") \
                from exc
        except OnvifError as exc:
            # It answers, but not as an ONVIF device we can log in to.
            raise DiagnoseFailed(f"{self.shown}: {exc.message}", "unreachable") from exc
        elapsed = time.monotonic() - started
        if clock is None:
            self.add(Severity.WARNING, "clock_unknown",
                     "the camera did not tell its time (GetSystemDateAndTime failed)")
        elif abs(clock) > CLOCK_DRIFT_S:
            direction = "ahead of" if clock > 0 else "behind"
            self.add(Severity.WARNING, "clock_drift",
                     f"camera clock is {abs(clock):.1f} s {direction} ours ({clock:+.1f} s); "
                     "WS-Security was corrected for it, but event and recording times are "
                     "off: check NTP")
        if elapsed > SLOW_ANSWER_S * 3:  # connect is ~3 requests
            self.add(Severity.WARNING, "slow_answers",
                     f"logging in took {elapsed:.1f} s (a healthy camera answers in well "
                     "under a second)")
        return info, clock

    async def _clock(self, device: OnvifDevice) -> float | None:
        try:
            return await device.clock_offset()
        except (OnvifUnreachable, OnvifTimeout):
            raise
        except OnvifError as exc:
            logger.info("%s: camera clock unreadable: %s", self.shown, exc)
            return None

    async def _profiles(self, device: OnvifDevice) -> tuple[ProfileReport, ...]:
        try:
            profiles = await device.profiles()
        except OnvifError as exc:
            self.add(Severity.ERROR, "no_profiles", f"profiles unreadable: {exc.message}")
            return ()
        if not profiles:
            self.add(Severity.ERROR, "no_profiles", "the camera has no media profiles")
            return ()
        reports = [await self._profile(device, p) for p in profiles]
        encodings = {(p.encoding or "").upper() for p in profiles}
        if not encodings & H264:
            if encodings & H265:
                self.add(Severity.WARNING, "h265_only",
                         "no H.264 profile, only H.265: many viewers and recorders cannot "
                         "play it")
            else:
                shown = ", ".join(sorted(e or "?" for e in encodings))
                self.add(Severity.WARNING, "no_h264", f"no H.264 profile (only {shown})")
        return tuple(reports)

    async def _profile(self, device: OnvifDevice, profile: MediaProfile) -> ProfileReport:
        uris: dict[str, str | None] = {}
        for kind, get in (("stream", device.stream_uri), ("snapshot", device.snapshot_uri)):
            try:
                uris[kind] = await get(profile.token)
            except OnvifError as exc:
                uris[kind] = None
                logger.info("%s: no %s URI for %s: %s", self.shown, kind, profile.token, exc)
        self.raw_uris[profile.token] = (uris["stream"], uris["snapshot"])
        return ProfileReport(
            token=profile.token, name=profile.name, encoding=profile.encoding,
            width=profile.width, height=profile.height, fps=profile.fps,
            stream_uri=self._redact(uris["stream"]), snapshot_uri=self._redact(uris["snapshot"]),
        )

    def _redact(self, uri: str | None) -> str | None:
        # Some cameras put credentials into their URIs (userinfo, or ?pwd= in the query).
        return None if uri is None else redact_uri(uri, self.password)

    async def _events(
        self, device: OnvifDevice, xaddr: str | None, clock: float | None
    ) -> tuple[bool, tuple[str, ...]]:
        if xaddr is None:
            self.add(Severity.WARNING, "no_pullpoint",
                     "the camera advertises no event service: no PullPoint events "
                     "(motion, tamper, plates) can be received")
            return False, ()
        topics: tuple[str, ...] = ()
        async with RawSoap(self.username, self.password, clock_offset_s=clock or 0.0,
                           timeout_s=REQUEST_TIMEOUT_S) as soap:
            try:
                topics = await event_topics(soap, xaddr)
            except OnvifError as exc:
                self.add(Severity.WARNING, "event_topics_failed",
                         f"event topics unreadable: {exc.message}")
        events = OnvifPlateEvents(self.url, self.username, self.password, device=device,
                                  timeout_s=REQUEST_TIMEOUT_S)
        try:
            await events.subscribe()
            return True, topics
        except OnvifError as exc:
            detail = "not supported" if getattr(exc, "not_supported", False) else exc.message
            self.add(Severity.WARNING, "no_pullpoint",
                     f"PullPoint subscription failed ({detail}): events come by push "
                     "notification (wsnt:Subscribe) when the camera offers it, else "
                     "they are lost")
            return False, topics
        finally:
            await events.close()  # unsubscribes: frees one of the camera's few slots

    async def _stream(self, target: ProfileReport | None) -> StreamProbe | None:
        uri = self.raw_uris[target.token][0] if target is not None else None
        if target is None or uri is None:
            return None
        try:
            return await probe(uri, username=self.username or None,
                               password=self.password or None, timeout_s=PROBE_TIMEOUT_S,
                               seconds=PROBE_SECONDS)
        except StreamError as exc:
            self.add(Severity.ERROR, "stream_failed",
                     f"stream of profile {target.token} does not play: {exc.message}")
            return None

    async def _snapshot(self, target: ProfileReport | None) -> Snapshot | None:
        uri = self.raw_uris[target.token][1] if target is not None else None
        if target is None or uri is None:
            self.add(Severity.INFO, "no_snapshot_uri", "the camera names no snapshot URI")
            return None
        try:
            shot = await fetch_snapshot(uri, self.username, self.password,
                                        timeout_s=SNAPSHOT_TIMEOUT_S)
        except OnvifError as exc:
            self.add(Severity.ERROR, "snapshot_broken",
                     f"snapshot of profile {target.token} failed: {exc.message}")
            return None
        if shot.elapsed_s > SNAPSHOT_SLOW_S:
            self.add(Severity.WARNING, "snapshot_slow",
                     f"snapshot took {shot.elapsed_s:.1f} s (more than {SNAPSHOT_SLOW_S:g} s)")
        if shot.digest_only:
            self.add(Severity.INFO, "auth_digest_only",
                     "snapshots need HTTP Digest authentication (Basic is refused)")
        return shot

    async def _xaddrs(self, clock: float | None) -> None:
        """Compare the advertised service addresses with the one we reached; note the
        device-service quirks the raw answers show (digest-only, naive clock, no
        GetCapabilities)."""
        async with RawSoap(self.username, self.password, clock_offset_s=clock or 0.0,
                           timeout_s=REQUEST_TIMEOUT_S) as soap:
            try:
                advertised = await advertised_services(soap, self.parts.geturl())
            except OnvifError as exc:
                logger.info("%s: advertised services unreadable: %s", self.shown, exc)
                return
            if soap.http_challenges == ("digest",):
                self.add(Severity.WARNING, "auth_digest_only",
                         "ONVIF requests need HTTP Digest authentication: clients that only "
                         "send WS-Security tokens are refused (HTTP 401)")
            await self._naive_time(soap)
            await self._getcapabilities(soap)
        reached = _netloc(self.parts)
        foreign: dict[tuple[str, int], list[str]] = {}
        for service in advertised:
            try:
                parts = urlsplit(service.xaddr)
                where = _netloc(parts)
            except ValueError:
                self.add(Severity.WARNING, "xaddr_invalid",
                         f"{service_name(service.namespace)} service advertises an invalid "
                         f"address {service.xaddr[:80]!r}")
                continue
            if where != reached:
                foreign.setdefault(where, []).append(service_name(service.namespace))
        used = f"{reached[0]}:{reached[1]}"
        for (host, port), names in foreign.items():
            what = f"{', '.join(names)} advertised at {host}:{port}, not {used}"
            if _is_private(host) and not _is_private(reached[0]):
                code, problem = "xaddr_unreachable", "a private (LAN/NAT) address"
            elif not await _reachable(host, port):
                code, problem = "xaddr_unreachable", "unreachable from here"
            else:
                code, problem = "xaddr_other_host", "another host or port than the one reached"
            self.add(Severity.WARNING, code,
                     f"{what} ({problem}); using {used} instead: fix the camera's "
                     "network/NAT settings")


    async def _naive_time(self, soap: RawSoap) -> None:
        """Info when the camera's clock has no time zone (its times are read as UTC)."""
        try:
            body = await soap.call(
                "GetSystemDateAndTime", f"{DEVICE_NS}/GetSystemDateAndTime",
                self.parts.geturl(), f'<tds:GetSystemDateAndTime xmlns:tds="{DEVICE_NS}"/>',
            )
        except OnvifError as exc:
            logger.info("%s: clock answer unreadable: %s", self.shown, exc)
            return
        answer = body.find(f".//{{{DEVICE_NS}}}SystemDateAndTime")
        if answer is None:
            return
        tz = (answer.findtext(f"{{{TT_NS}}}TimeZone/{{{TT_NS}}}TZ") or "").strip()
        if tz:
            return
        utc = answer.find(f"{{{TT_NS}}}UTCDateTime") is not None
        shape = "an empty time zone" if utc else "no time zone and only LocalDateTime"
        self.add(Severity.INFO, "naive_time",
                 f"the camera clock has {shape}: its times carry no zone and are read as "
                 "UTC; set its time zone so recordings and events show local time")

    async def _getcapabilities(self, soap: RawSoap) -> None:
        """Info when GetCapabilities faults (old clients and NVRs need it to find services)."""
        try:
            await soap.call(
                "GetCapabilities", f"{DEVICE_NS}/GetCapabilities", self.parts.geturl(),
                f'<tds:GetCapabilities xmlns:tds="{DEVICE_NS}"><tds:Category>All'
                "</tds:Category></tds:GetCapabilities>",
            )
        except OnvifProtocolError as exc:
            self.add(Severity.INFO, "getcapabilities_broken",
                     f"GetCapabilities fails ({exc.message}) while GetServices works: "
                     "ONVIF 1.x clients and older NVRs cannot find its services")
        except OnvifError as exc:
            logger.info("%s: GetCapabilities not judged: %s", self.shown, exc)


async def diagnose(url: str, username: str, password: str) -> Report:
    """Diagnose the camera at ``url`` (its device_service URL, without credentials).

    Raises DiagnoseFailed when it cannot be reached or refuses the login; ValueError for
    a URL that is not http(s).
    """
    return await _Diagnosis(url, username, password).run()
