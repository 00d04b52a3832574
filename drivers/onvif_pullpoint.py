"""The PullPoint subscription machinery shared by the ONVIF event drivers.

``PullPointClient`` finds the event service (GetServices through drivers.onvif), creates a
PullPoint subscription (ONVIF Core "Event handling", WS-BaseNotification), long-polls
``PullMessages``, renews at half the granted lifetime and, after a fault, an expiry or a lost
connection, re-subscribes: at once the first time, then with backoff (1, 5, 10, 60 s with
jitter, DESIGN.md "Health model"). Rejected credentials (`OnvifAuthError`) and a camera
without a pull point (`OnvifEventsUnsupported`) end the loop: retrying cannot help.
drivers.onvif_events (plate reads) and drivers.onvif_camera_events (every event) parse the
answers; drivers.onvif_notify adds the WS-BaseNotification push fallback on the same
requests (`_open_subscription` with a wsnt:Subscribe, `_renew`, the unsubscribe on close).
`OnvifNoEventService` (no event service advertised) says that no fallback can help.

The requests are raw SOAP with aiohttp, because the parsers need the answer's XML as sent
(zeep would turn it into objects and drop vendor items). They carry a WS-Security
UsernameToken digest made by zeep's ``UsernameToken`` (the one the onvif library uses), dated
on the camera's clock as learnt by ``OnvifDevice.clock_offset``. Answers are read without
relying on WS-Addressing headers (firmware that sends none is common), always POSTed to the
subscription's own address, and their times may lack a zone (taken as UTC).

Note (PullPoint semantics): events the camera reports while no subscription exists (between
a loss and the re-subscription) are not delivered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from lxml import etree

from drivers.closing import AsyncClosing
from drivers.errors import (
    OnvifAuthError,
    OnvifError,
    OnvifProtocolError,
)
from drivers.onvif import DEFAULT_TIMEOUT_S, OnvifDevice
from drivers.onvif_support import (
    digest_middlewares,
    display_url,
    rewrite_xaddr,
    translate_error,
)
from drivers.soap_envelope import SOAP12, soap_envelope

logger = logging.getLogger(__name__)

T = TypeVar("T")

EVENTS_NS = "http://www.onvif.org/ver10/events/wsdl"
_WSNT = "http://docs.oasis-open.org/wsn/b-2"
_ACTIONS = {
    "CreatePullPointSubscription": f"{EVENTS_NS}/EventPortType/CreatePullPointSubscriptionRequest",
    "PullMessages": f"{EVENTS_NS}/PullPointSubscription/PullMessagesRequest",
    "Renew": "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest",
    "Unsubscribe": "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest",
    # WS-BaseNotification push (drivers.onvif_notify): the event service is the producer.
    "Subscribe": "http://docs.oasis-open.org/wsn/bw-2/NotificationProducer/SubscribeRequest",
}
# Operations whose "not supported" fault means the camera cannot give us events that way.
_SUBSCRIBING = frozenset({"CreatePullPointSubscription", "Subscribe"})

# Long-poll length. The camera answers at once when an event happens, so this only sets how
# often an idle subscription costs a request, and how soon a silently dead connection is
# noticed (one long-poll plus the margin).
DEFAULT_PULL_TIMEOUT_S = 10.0
# Answer-time allowance on top of the long-poll Timeout: network, the camera's scheduling.
PULL_MARGIN_S = 5.0
# Messages per answer; a busy ANPR lane reads a few plates per second, 50 drains a backlog
# quickly.
DEFAULT_MESSAGE_LIMIT = 50
# Lifetime asked for. Short enough that a subscription we lost track of (hub restart) frees
# the camera's slot soon (cameras allow ~5-10), long enough that renewals are rare.
DEFAULT_SUBSCRIPTION_S = 60.0
# Renew when this share of the lifetime has passed: leaves half of it for a slow renewal.
RENEW_AT = 0.5
# Re-subscription delays after consecutive failures (DESIGN.md: 1 -> 5 -> 10 -> 60 s).
BACKOFF_S: tuple[float, ...] = (1.0, 5.0, 10.0, 60.0)
# +-20 %: many hubs' subscriptions to one camera (or one site uplink) must not retry in step.
JITTER = 0.2
# Best effort on close: an unreachable camera must not hold up a shutdown.
UNSUBSCRIBE_TIMEOUT_S = 2.0
# Answers above this size are parsed in a thread (embedded plate images make them large).
PARSE_IN_THREAD_BYTES = 64 * 1024
# Largest answer read: 50 messages with embedded crops (~40 KB each) fit with room to spare.
MAX_ANSWER_BYTES = 8 * 1024 * 1024


_AUTH_SUBCODES = {"NotAuthorized", "FailedAuthentication", "InvalidSecurity", "Unauthorized"}
_UNSUPPORTED_SUBCODES = {"ActionNotSupported", "NoSuchService", "NotSupported"}
_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False,
}


class OnvifEventsUnsupported(OnvifProtocolError):
    """The camera has no (PullPoint) event service: no events can come from it."""

    @property
    def not_supported(self) -> bool:
        return True


class OnvifNoEventService(OnvifEventsUnsupported):
    """The camera advertises no event service at all (no push fallback either)."""


@dataclass(frozen=True)
class PullPointSubscription:
    """A live subscription: its address (where to pull, or the subscription manager of a
    push subscription), and its lifetime on the camera's clock."""

    address: str
    current_time: dt.datetime | None
    termination_time: dt.datetime | None


class PullPointClient(AsyncClosing):
    """One camera's PullPoint subscription (see the module doc); subclasses parse."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        device: OnvifDevice | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        pull_timeout_s: float = DEFAULT_PULL_TIMEOUT_S,
        message_limit: int = DEFAULT_MESSAGE_LIMIT,
        subscription_s: float = DEFAULT_SUBSCRIPTION_S,
        backoff_s: tuple[float, ...] = BACKOFF_S,
    ) -> None:
        """`url`: the device_service URL; `device`: an OnvifDevice of the same camera to
        share (not closed by us); otherwise one is made. `timeout_s` bounds every request
        but PullMessages, which gets its long-poll `pull_timeout_s` plus a margin."""
        if pull_timeout_s < 1 or subscription_s < 2 or message_limit < 1 or not backoff_s:
            raise ValueError("pull_timeout_s >= 1, subscription_s >= 2, message_limit >= 1")
        self.url = display_url(url)
        parts = urlsplit(url.strip())
        self._parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
        self._username = username
        self._password = password
        self._own_device = device is None
        self._device = device or OnvifDevice(url, username, password, timeout_s=timeout_s)
        self._timeout_s = timeout_s
        self._pull_timeout_s = pull_timeout_s
        self._message_limit = message_limit
        self._subscription_s = subscription_s
        self._backoff_s = backoff_s
        self._random = random.Random()
        self._http: aiohttp.ClientSession | None = None
        self._dt_diff = dt.timedelta(0)
        self._events_xaddr: str | None = None
        self._subscription: PullPointSubscription | None = None
        # A subscription that failed: unsubscribed (best effort) before the next one.
        self._stale: PullPointSubscription | None = None
        self._renew_at = 0.0  # monotonic
        self.resubscriptions = 0  # subscriptions made after the first
        self.last_error: OnvifError | None = None
        self.rejected_messages = 0  # event messages skipped as malformed (by the subclass)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    @property
    def subscription(self) -> PullPointSubscription | None:
        return self._subscription

    @property
    def clock_offset_s(self) -> float:
        """Camera clock minus ours (read times are on the camera's clock)."""
        return self._dt_diff.total_seconds()

    # -- public API -------------------------------------------------------------------------

    async def subscribe(self) -> PullPointSubscription:
        """(Re)learn the camera clock and services, then create a PullPoint subscription.

        Raises OnvifEventsUnsupported, OnvifAuthError, OnvifUnreachable, OnvifTimeout or
        OnvifProtocolError.
        """
        body = (
            f'<tev:CreatePullPointSubscription xmlns:tev="{EVENTS_NS}">'
            f"<tev:InitialTerminationTime>{_duration(self._subscription_s)}"
            "</tev:InitialTerminationTime></tev:CreatePullPointSubscription>"
        )
        return await self._open_subscription("CreatePullPointSubscription", body)

    async def _open_subscription(self, operation: str, body: str) -> PullPointSubscription:
        """Forget the old subscription, (re)learn clock and event service, POST `body` (a
        CreatePullPointSubscription or a wsnt:Subscribe) to the event service; the
        subscription answered, renewal scheduled. Raises as `subscribe`."""
        await self._forget_subscription()
        await self._device.connect()
        self._dt_diff = dt.timedelta(seconds=await self._device.clock_offset())
        xaddr = next(
            (s.xaddr for s in await self._device.services() if s.namespace == EVENTS_NS), None
        )
        if xaddr is None:
            raise OnvifNoEventService(
                f"{operation}: device advertises no event service",
                operation=operation,
                device=self.url,
            )
        self._events_xaddr = xaddr
        try:
            answer = await self._request(operation, xaddr, body)
        except OnvifProtocolError as exc:
            if exc.not_supported:
                raise OnvifEventsUnsupported(
                    exc.message, operation=exc.operation, device=self.url
                ) from exc
            raise
        address = _text(answer, "Address")
        address = rewrite_xaddr(address, self._parts) if address else None
        if not address:
            raise self._protocol(operation, "answer lacks an Address")
        subscription = PullPointSubscription(
            address=address,
            current_time=_time(_text(answer, "CurrentTime")),
            termination_time=_time(_text(answer, "TerminationTime")),
        )
        self._subscription = subscription
        self._schedule_renewal(subscription)
        logger.debug("%s: subscribed (%s) at %s", self.url, operation, display_url(address))
        return subscription

    async def pull_raw(self) -> bytes:
        """One long-poll (subscribing, or renewing first, when due): the raw answer.

        Raises OnvifError subclasses when the subscription is unusable (it is then
        forgotten, unsubscribed before the next one).
        """
        subscription = self._subscription or await self.subscribe()
        try:
            if time.monotonic() >= self._renew_at:
                await self._renew(subscription)
            # A long-poll never outlasts the renewal point, so renewals are on time.
            wait = max(1.0, min(self._pull_timeout_s, self._renew_at - time.monotonic()))
            body = (
                f'<tev:PullMessages xmlns:tev="{EVENTS_NS}"><tev:Timeout>{_duration(wait)}'
                f"</tev:Timeout><tev:MessageLimit>{self._message_limit}</tev:MessageLimit>"
                "</tev:PullMessages>"
            )
            return await self._post(
                "PullMessages", subscription.address, body, timeout_s=wait + PULL_MARGIN_S
            )
        except OnvifError:
            self._stale, self._subscription = self._subscription, None
            raise

    async def pull_parsed(self, parse: Callable[[bytes], T]) -> T:
        """`pull_raw`, then `parse` of the answer: in a worker thread when the answer is
        large, so that a burst of events does not stall the event loop."""
        raw = await self.pull_raw()
        if len(raw) > PARSE_IN_THREAD_BYTES:
            return await asyncio.to_thread(parse, raw)
        return parse(raw)

    async def _follow(
        self, pull: Callable[[], Awaitable[tuple[T, ...]]],
        skip: tuple[type[Exception], ...] = (),
    ) -> AsyncIterator[T]:
        """Everything `pull` returns, for as long as it is iterated: (re)subscribes with
        backoff; ends by raising OnvifAuthError or OnvifEventsUnsupported. An exception in
        `skip` (unreadable events in one answer) is logged and the next pull made."""
        failures = 0
        while True:
            if failures >= 2:
                await asyncio.sleep(self._delay(failures - 2))
            try:
                if self._subscription is None:
                    had_one = self._events_xaddr is not None
                    await self.subscribe()
                    if had_one:
                        self.resubscriptions += 1
                batch = await pull()
            except (OnvifAuthError, OnvifEventsUnsupported) as exc:
                self.last_error = exc
                raise
            except skip as exc:
                # The subscription is fine; only this answer's events are unreadable.
                logger.warning("%s: unreadable events skipped: %s", self.url, exc)
                continue
            except OnvifError as exc:
                self.last_error = exc
                failures += 1
                logger.info("%s: event subscription lost (%s), re-subscribing", self.url, exc)
                continue
            failures = 0
            for item in batch:
                yield item

    async def close(self) -> None:
        """Unsubscribe (best effort) and release the HTTP session (and our own device)."""
        await self._forget_subscription()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._own_device:
            await self._device.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _delay(self, step: int) -> float:
        base = self._backoff_s[min(step, len(self._backoff_s) - 1)]
        return base * self._random.uniform(1 - JITTER, 1 + JITTER)

    def _schedule_renewal(self, subscription: PullPointSubscription) -> None:
        lifetime = self._subscription_s
        if subscription.current_time and subscription.termination_time:
            # What the camera granted, which may be less than asked.
            granted = (subscription.termination_time - subscription.current_time).total_seconds()
            if granted > 0:
                lifetime = min(lifetime, granted)
        self._renew_at = time.monotonic() + lifetime * RENEW_AT

    async def _renew(self, subscription: PullPointSubscription) -> None:
        body = (
            f'<wsnt:Renew xmlns:wsnt="{_WSNT}"><wsnt:TerminationTime>'
            f"{_duration(self._subscription_s)}</wsnt:TerminationTime></wsnt:Renew>"
        )
        answer = await self._request("Renew", subscription.address, body)
        renewed = PullPointSubscription(
            address=subscription.address,
            current_time=_time(_text(answer, "CurrentTime")),
            termination_time=_time(_text(answer, "TerminationTime")),
        )
        self._subscription = renewed
        self._schedule_renewal(renewed)

    async def _forget_subscription(self) -> None:
        # Unsubscribing frees one of the camera's few pull-point slots now rather than at
        # termination, which matters when re-subscribing after a hiccup.
        gone = (self._stale, self._subscription)
        self._stale = self._subscription = None
        body = f'<wsnt:Unsubscribe xmlns:wsnt="{_WSNT}"/>'
        for subscription in filter(None, gone):
            try:
                await self._post(
                    "Unsubscribe", subscription.address, body, timeout_s=UNSUBSCRIBE_TIMEOUT_S
                )
            except OnvifError as exc:
                # Expired or unreachable: the camera frees the slot at termination anyway.
                logger.debug("%s: unsubscribe failed: %s", self.url, exc)

    def _protocol(self, operation: str, detail: str) -> OnvifProtocolError:
        return OnvifProtocolError(
            f"{operation}: {detail}", operation=operation, device=self.url
        )

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # Keep-alive: one long-poll after another reuses the connection. Every request
            # also runs under asyncio.timeout; connect is bounded here for clarity.
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, connect=self._timeout_s),
                connector=aiohttp.TCPConnector(limit=2, ssl=False),
                # Digest-only cameras refuse WS-Security alone on the event service too.
                middlewares=digest_middlewares(self._username, self._password),
            )
        return self._http

    def _envelope(self, operation: str, address: str, body: str) -> bytes:
        return soap_envelope(_ACTIONS[operation], address, body, self._username,
                             self._password, self._dt_diff)

    async def _post(
        self, operation: str, address: str, body: str, *, timeout_s: float | None = None
    ) -> bytes:
        """POST one request; the raw answer, or the fault/HTTP failure as an OnvifError."""
        limit = self._timeout_s if timeout_s is None else timeout_s
        data = self._envelope(operation, address, body)
        headers = {
            "Content-Type": f'application/soap+xml; charset=utf-8; action="{_ACTIONS[operation]}"'
        }
        try:
            async with asyncio.timeout(limit):
                async with self._session().post(address, data=data, headers=headers) as resp:
                    status = resp.status
                    raw = await resp.content.read(MAX_ANSWER_BYTES + 1)
        except Exception as exc:
            error = translate_error(
                operation, exc, device=self.url, timeout_s=limit, secrets=(self._password,)
            )
            raise error from exc
        if len(raw) > MAX_ANSWER_BYTES:
            raise self._protocol(operation, f"answer larger than {MAX_ANSWER_BYTES} bytes")
        if status in (401, 403):
            raise OnvifAuthError(
                f"{operation}: credentials rejected (HTTP {status})",
                operation=operation, device=self.url,
            )
        root = self._parse(operation, raw)
        fault = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
        if fault is not None:
            raise self._fault(operation, fault)
        if status != 200:
            raise self._protocol(operation, f"HTTP {status} without a SOAP fault")
        return raw

    async def _request(self, operation: str, address: str, body: str) -> Any:
        """POST and return the answer's Body element (for the small subscription answers)."""
        raw = await self._post(operation, address, body)
        found = self._parse(operation, raw).find(f"{{{SOAP12}}}Body")
        if found is None:
            raise self._protocol(operation, "answer has no SOAP 1.2 Body")
        return found

    def _parse(self, operation: str, raw: bytes) -> Any:
        if b"<!DOCTYPE" in raw[:1024].upper():
            raise self._protocol(operation, "answer declares a DTD")
        try:
            root = etree.fromstring(raw, etree.XMLParser(**_PARSER_OPTIONS))
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise self._protocol(operation, f"answer is not well-formed XML ({exc})") from exc
        if root is None:
            raise self._protocol(operation, "empty answer")
        return root

    def _fault(self, operation: str, fault: Any) -> OnvifError:
        values = [
            _local(v.text or "")
            for v in fault.iter(f"{{{SOAP12}}}Value")
        ]
        code, subcodes = (values[0] if values else None), tuple(values[1:])
        reason = " ".join(
            " ".join((t.text or "").split()) for t in fault.iter(f"{{{SOAP12}}}Text")
        ) or "no reason given"
        reason = reason.replace(self._password, "***") if self._password else reason
        if _AUTH_SUBCODES & set(subcodes):
            return OnvifAuthError(
                f"{operation}: credentials rejected ({'/'.join(subcodes)}: {reason})",
                operation=operation, device=self.url,
            )
        label = "/".join(filter(None, (code, *subcodes))) or "unknown code"
        cls = OnvifProtocolError
        if operation in _SUBSCRIBING and _UNSUPPORTED_SUBCODES & set(subcodes):
            cls = OnvifEventsUnsupported
        return cls(
            f"{operation}: SOAP fault {label}: {reason[:300]}",
            operation=operation, device=self.url, fault_code=code, fault_subcodes=subcodes,
        )


def _local(qname: str) -> str:
    return qname.strip().rsplit(":", 1)[-1].rsplit("}", 1)[-1]


def _text(parent: Any, name: str) -> str | None:
    for element in parent.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname == name:
            return " ".join((element.text or "").split()) or None
    return None


def _time(text: str | None) -> dt.datetime | None:
    """An xsd:dateTime as aware UTC, None when absent or unreadable (times are advisory)."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _duration(seconds: float) -> str:
    # Whole seconds: some firmwares reject fractional xsd:durations.
    return f"PT{max(1, round(seconds))}S"


__all__ = [
    "BACKOFF_S",
    "DEFAULT_MESSAGE_LIMIT",
    "DEFAULT_PULL_TIMEOUT_S",
    "DEFAULT_SUBSCRIPTION_S",
    "EVENTS_NS",
    "PARSE_IN_THREAD_BYTES",
    "OnvifEventsUnsupported",
    "OnvifNoEventService",
    "PullPointClient",
    "PullPointSubscription",
]
