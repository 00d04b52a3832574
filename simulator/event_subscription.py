"""One event subscription of a simulated camera (PullPoint or push) and its Notify delivery.

simulator.onvif_events keeps the subscriptions of a camera's event service; what one is - a
bounded message queue with a filter and a lifetime - and how a push subscription's queue
goes out as SOAP 1.2 ``wsnt:Notify`` POSTs (WS-BaseNotification) is here, with the small
xsd helpers the event and PTZ services share.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp

from simulator.onvif_event_topics import (
    NOTIFY_ACTION,
    notify_body,
    notify_header,
    time_text,
    topic_matches,
)
from simulator.soap import SoapFault, envelope

log = logging.getLogger(__name__)

SUBSCRIPTION_PREFIX = "/onvif/events/subscription/"
# Per-subscription queue: a minute of plates at a busy ANPR lane, bounded so a client that
# subscribed and went away cannot grow the camera's memory.
MAX_QUEUED_MESSAGES = 1000
# One Notify POST may take this long (real seconds): a consumer that cannot take a request in
# 5 s is as good as gone, and a slow one must not hold the camera's queue for long.
NOTIFY_TIMEOUT_S = 5.0
# Failed Notify POSTs in a row that end a push subscription (a consumer that went away).
MAX_DELIVERY_FAILURES = 3
# Real seconds between delivery attempts after a failure: a restarting consumer gets time.
RETRY_DELIVERY_S = 1.0
# Messages per Notify at most: a burst goes out in a few POSTs, none of them huge.
MAX_NOTIFY_MESSAGES = 50

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float | None:
    """Seconds of an xsd:duration without years or months ("PT60S", "P1DT2H"), else None."""
    match = _DURATION.match(text.strip())
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return (
        parts.get("d", 0.0) * 86400 + parts.get("h", 0.0) * 3600
        + parts.get("m", 0.0) * 60 + parts.get("s", 0.0)
    )


def utc_text(t: datetime, naive: bool = False) -> str:
    """An xsd:dateTime in UTC with a Z (none when `naive`), whole seconds as most cameras
    send it."""
    return time_text(t, naive=naive)


def resource_unknown(what: str) -> SoapFault:
    """The fault for a subscription that does not exist (any more).

    WS-ResourceFramework names it wsrf-rw:ResourceUnknownFault; the shared envelope does not
    declare that prefix, so the code is the ONVIF equivalent and the reason names the WSRF
    fault (clients re-subscribe on either).
    """
    return SoapFault(
        "Sender",
        ("ter:InvalidArgVal", "ter:ResourceUnknown"),
        f"wsrf-rw:ResourceUnknownFault: {what}",
    )


@dataclass
class Subscription:
    """One PullPoint or push subscription: its queue and its lifetime (a monotonic
    deadline, real seconds)."""

    number: int
    expires: float
    messages: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_QUEUED_MESSAGES))
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    closed: bool = False
    topics: tuple[str, ...] = ()  # the Filter's alternatives; () is every topic
    consumer: str | None = None  # push (Subscribe): the ConsumerReference address
    delivered: int = 0  # Notify POSTs accepted by the consumer
    failures: int = 0  # failed Notify POSTs in a row

    def accepts(self, topic: str) -> bool:
        return not self.topics or topic_matches(topic, self.topics)

    def queue(self, topic: str, message: str) -> bool:
        """Queue `message` when the filter lets its topic through; True if queued."""
        if not self.accepts(topic):
            return False
        if len(self.messages) == self.messages.maxlen:
            self.dropped += 1  # deque drops the oldest on append
        self.messages.append(message)
        self.wakeup.set()
        return True

    @property
    def path(self) -> str:
        return f"{SUBSCRIPTION_PREFIX}{self.number}"

    def alive(self, now: float) -> bool:
        return not self.closed and now < self.expires

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()  # a pending PullMessages answers (with the fault) at once


async def deliver_notifications(sub: Subscription, name: str, address: str) -> None:
    """POST the queued messages of push subscription `sub` (camera `name`, manager
    `address`) as Notify until it ends: expired, closed, or its consumer gone."""
    assert sub.consumer is not None
    header = notify_header(sub.consumer, address)
    headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{NOTIFY_ACTION}"'}
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=NOTIFY_TIMEOUT_S)
    ) as http:
        while sub.alive(time.monotonic()):
            if not sub.messages:
                sub.wakeup.clear()
                try:
                    async with asyncio.timeout(max(0.0, sub.expires - time.monotonic())):
                        await sub.wakeup.wait()
                except TimeoutError:
                    pass  # expired, unless renewed meanwhile: the loop looks
                continue
            # Left queued until the consumer took them: a failed POST is retried.
            batch = list(itertools.islice(sub.messages, MAX_NOTIFY_MESSAGES))
            try:
                async with asyncio.timeout(NOTIFY_TIMEOUT_S):
                    async with http.post(
                        sub.consumer, data=envelope(notify_body(batch), header),
                        headers=headers,
                    ) as resp:
                        await resp.read()
                        ok = 200 <= resp.status < 300
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.debug("%s: Notify to subscription %d failed: %s", name, sub.number, exc)
                ok = False
            if ok:
                for _ in batch:
                    if sub.messages:
                        sub.messages.popleft()
                sub.delivered += 1
                sub.failures = 0
                continue
            sub.failures += 1
            if sub.failures >= MAX_DELIVERY_FAILURES:
                log.info("%s: consumer of subscription %d unreachable, dropped",
                         name, sub.number)
                break
            await asyncio.sleep(RETRY_DELIVERY_S)
    sub.close()
