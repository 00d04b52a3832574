"""WS-BaseNotification push: events from a camera without a PullPoint.

ONVIF Core 9.2 ("Basic Notification Interface") lets a client ``wsnt:Subscribe`` with a
ConsumerReference, an HTTP address of its own; the camera then POSTs ``wsnt:Notify``
there, the client renews with ``wsnt:Renew`` on the subscription manager and ends with
``wsnt:Unsubscribe``. VMSes fall back to it when the camera has no PullPoint.

- ``NotificationConsumer``: the aiohttp server the camera calls back (host/port where the
  camera can reach us; port 0 picks one). It answers a Notify with 200 and an empty body
  (WS-BaseNotification: Notify is one-way), anything else with 400, counted in `rejected`;
  a secret path keeps strangers' posts out. Bodies are queued raw for the client's parser.
- ``PushFallbackClient``: a ``PullPointClient`` whose `_follow_events` uses the PullPoint
  and, when the camera answers that it has none (`OnvifEventsUnsupported`), subscribes a
  consumer and yields what it receives, renewing at half the granted lifetime and
  re-subscribing with the same backoff on a failed renewal (a rebooted camera forgets
  subscriptions; renewal is how a push client notices). `mode` says which is in use.

The SOAP requests are the PullPoint machinery's (WS-Security, HTTP digest, clock offset,
XAddr rewriting): only the Subscribe body is new. Notifications the camera sends between a
loss and the re-subscription are lost, as with a PullPoint.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal, TypeVar

from aiohttp import web
from lxml import etree

from drivers.closing import AsyncClosing
from drivers.errors import OnvifAuthError, OnvifError
from drivers.onvif import DEFAULT_TIMEOUT_S, OnvifDevice
from drivers.onvif_pullpoint import (
    BACKOFF_S,
    DEFAULT_MESSAGE_LIMIT,
    DEFAULT_PULL_TIMEOUT_S,
    DEFAULT_SUBSCRIPTION_S,
    EVENTS_NS,
    OnvifEventsUnsupported,
    OnvifNoEventService,
    PullPointClient,
    PullPointSubscription,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

NS_WSNT = "http://docs.oasis-open.org/wsn/b-2"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NOTIFY_PATH_PREFIX = "/onvif/notify/"
# Largest Notify accepted: a batch of 50 messages with embedded plate crops fits.
MAX_NOTIFY_BYTES = 8 * 1024 * 1024
# Notify bodies kept until read; beyond, the oldest go (counted in `dropped`): a consumer
# nobody reads must not grow without bound.
MAX_QUEUED_NOTIFIES = 1000
# Binding the consumer's port must not hang a start-up.
START_TIMEOUT_S = 5.0
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False)

Mode = Literal["pullpoint", "push"]


def is_notify(body: bytes) -> bool:
    """Whether `body` is a SOAP 1.2 (or 1.1) envelope whose Body holds a wsnt:Notify."""
    if b"<!DOCTYPE" in body[:4096].upper():
        return False  # no DTDs: defuses entity expansion
    try:
        root = etree.fromstring(body, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return False
    if root is None or etree.QName(root).localname != "Envelope":
        return False
    return any(
        isinstance(el.tag, str) and el.tag == f"{{{NS_WSNT}}}Notify"
        for body_el in root if isinstance(body_el.tag, str)
        and etree.QName(body_el).localname == "Body"
        for el in body_el
    )


class NotificationConsumer(AsyncClosing):
    """An HTTP endpoint receiving wsnt:Notify POSTs (see the module doc)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, name: str = "") -> None:
        """`host`/`port`: where to listen, and the address given to the camera (it must be
        reachable from the camera); `name` labels log lines (the camera's)."""
        self.host = host
        self.port = port
        self.name = name or f"{host}:{port}"
        self._path = NOTIFY_PATH_PREFIX + secrets.token_urlsafe(12)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._queue: deque[bytes] = deque(maxlen=MAX_QUEUED_NOTIFIES)
        self._arrived = asyncio.Event()
        self.received = 0  # Notify bodies accepted
        self.rejected = 0  # bodies answered 400 (not a Notify, unreadable)
        self.dropped = 0  # accepted bodies lost to a full queue

    @property
    def url(self) -> str | None:
        """The ConsumerReference address, once started."""
        return self._url

    async def start(self) -> str:
        """Listen (once); the consumer's URL. Raises OSError when the port is unavailable."""
        if self._url is not None:
            return self._url
        app = web.Application(client_max_size=MAX_NOTIFY_BYTES)
        app.router.add_post(self._path, self._on_notify)
        runner = web.AppRunner(app, access_log=None)
        async with asyncio.timeout(START_TIMEOUT_S):
            await runner.setup()
            site = web.TCPSite(runner, self.host, self.port)
            try:
                await site.start()
            except OSError:
                await runner.cleanup()
                raise
        self._runner = runner
        addresses = runner.addresses  # the bound port when 0 was asked for
        port = int(addresses[0][1]) if addresses else self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._url = f"http://{host}:{port}{self._path}"
        return self._url

    async def get(self, timeout_s: float) -> bytes | None:
        """The next Notify body, None when none arrived within `timeout_s`."""
        if not self._queue:
            self._arrived.clear()
            try:
                async with asyncio.timeout(max(0.0, timeout_s)):
                    await self._arrived.wait()
            except TimeoutError:
                return None
        return self._queue.popleft() if self._queue else None

    async def _on_notify(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except (ConnectionResetError, web.HTTPException):
            self.rejected += 1  # too large, or the camera went away mid-request
            raise web.HTTPBadRequest() from None
        if not is_notify(body):
            self.rejected += 1
            logger.warning("%s: a POST to the notification consumer is not a Notify", self.name)
            return web.Response(status=400)
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(body)
        self.received += 1
        self._arrived.set()
        return web.Response(status=200)  # empty body: Notify has no response message

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        self._url = None
        if runner is not None:
            await runner.cleanup()


def subscribe_body(consumer_url: str, lifetime: str) -> str:
    """A wsnt:Subscribe asking `consumer_url` be notified for `lifetime` (xsd:duration)."""
    escaped = consumer_url.replace("&", "&amp;").replace("<", "&lt;")
    return (
        f'<wsnt:Subscribe xmlns:wsnt="{NS_WSNT}" xmlns:wsa="{NS_WSA}">'
        f"<wsnt:ConsumerReference><wsa:Address>{escaped}</wsa:Address>"
        "</wsnt:ConsumerReference>"
        f"<wsnt:InitialTerminationTime>{lifetime}</wsnt:InitialTerminationTime>"
        "</wsnt:Subscribe>"
    )


class PushFallbackClient(PullPointClient):
    """A PullPointClient that falls back to push notification (see the module doc)."""

    def __init__(
        self, url: str, username: str, password: str, *,
        device: OnvifDevice | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        pull_timeout_s: float = DEFAULT_PULL_TIMEOUT_S,
        message_limit: int = DEFAULT_MESSAGE_LIMIT,
        subscription_s: float = DEFAULT_SUBSCRIPTION_S,
        backoff_s: tuple[float, ...] = BACKOFF_S,
        consumer_host: str = "127.0.0.1",
        consumer_port: int = 0,
    ) -> None:
        """`consumer_host`/`consumer_port`: where the camera calls back in push mode (an
        address of ours it can reach; port 0 picks a free one). Other options: as
        PullPointClient."""
        if not 0 <= consumer_port <= 65535:
            raise ValueError("consumer_port must be 0-65535")
        super().__init__(
            url, username, password, device=device, timeout_s=timeout_s,
            pull_timeout_s=pull_timeout_s, message_limit=message_limit,
            subscription_s=subscription_s, backoff_s=backoff_s,
        )
        self._consumer_host = consumer_host
        self._consumer_port = consumer_port
        self._consumer: NotificationConsumer | None = None
        self._mode: Mode = "pullpoint"

    @property
    def mode(self) -> Mode:
        """"pullpoint", or "push" once the camera said it has no PullPoint."""
        return self._mode

    @property
    def consumer(self) -> NotificationConsumer | None:
        """The notification consumer (push mode only)."""
        return self._consumer

    async def subscribe_push(self) -> PullPointSubscription:
        """Start the consumer and wsnt:Subscribe it. Raises as `subscribe`."""
        if self._consumer is None:
            self._consumer = NotificationConsumer(
                self._consumer_host, self._consumer_port, name=self.url
            )
        try:
            consumer_url = await self._consumer.start()
        except (OSError, TimeoutError) as exc:
            raise OnvifEventsUnsupported(
                f"Subscribe: cannot listen for notifications on "
                f"{self._consumer_host}:{self._consumer_port} ({exc})",
                operation="Subscribe", device=self.url,
            ) from exc
        body = subscribe_body(consumer_url, f"PT{max(1, round(self._subscription_s))}S")
        return await self._open_subscription("Subscribe", body)

    async def _follow_events(
        self, pull: Callable[[], Awaitable[tuple[T, ...]]],
        decode: Callable[[bytes], tuple[T, ...]],
        skip: tuple[type[Exception], ...] = (),
    ) -> AsyncIterator[T]:
        """PullPoint (`pull`) while the camera has one, else push (`decode` of each Notify).
        Ends by raising OnvifAuthError or OnvifEventsUnsupported (neither way works)."""
        if self._mode == "pullpoint":
            try:
                async for item in self._follow(pull, skip):
                    yield item
            except OnvifEventsUnsupported as exc:
                if isinstance(exc, OnvifNoEventService):
                    raise  # nothing to subscribe to, push or pull
                logger.info("%s: no PullPoint, using push notification", self.url)
                self._mode = "push"
                self._subscription = self._stale = None
                self._events_xaddr = None
            else:
                return
        async for item in self._follow_push(decode, skip):
            yield item

    async def _follow_push(
        self, decode: Callable[[bytes], tuple[T, ...]], skip: tuple[type[Exception], ...]
    ) -> AsyncIterator[T]:
        failures = 0
        while True:
            if failures >= 2:
                await asyncio.sleep(self._delay(failures - 2))
            try:
                if self._subscription is None:
                    had_one = self._events_xaddr is not None
                    await self.subscribe_push()
                    if had_one:
                        self.resubscriptions += 1
                subscription, consumer = self._subscription, self._consumer
                assert subscription is not None and consumer is not None
                raw = await consumer.get(self._renew_at - time.monotonic())
                if raw is None:
                    await self._renew(subscription)
                    failures = 0
                    continue
                batch = decode(raw)
            except (OnvifAuthError, OnvifEventsUnsupported) as exc:
                self.last_error = exc
                raise
            except skip as exc:
                logger.warning("%s: unreadable events skipped: %s", self.url, exc)
                continue
            except OnvifError as exc:
                self.last_error = exc
                failures += 1
                self._stale, self._subscription = self._subscription, None
                logger.info("%s: push subscription lost (%s), re-subscribing", self.url, exc)
                continue
            failures = 0
            for item in batch:
                yield item

    async def close(self) -> None:
        """Unsubscribe (best effort), stop the consumer, release the rest."""
        await super().close()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.close()


__all__ = [
    "EVENTS_NS",
    "MAX_QUEUED_NOTIFIES",
    "Mode",
    "NotificationConsumer",
    "PushFallbackClient",
    "is_notify",
    "subscribe_body",
]
