"""Licence-plate reads from a camera's ONVIF event service (PullPoint subscription).

``OnvifPlateEvents`` subscribes through the shared machinery of drivers.onvif_pullpoint
(find the event service, CreatePullPointSubscription, long-poll PullMessages, renew at half
the lifetime, re-subscribe with backoff) and yields every plate read in the answers as a
``drivers.alpr.VendorRead`` (parsed by ``parse_onvif_plate_events``: Profile M
``tns1:RuleEngine/Recognition/LicensePlate`` and Hikvision's flat ANPR items; other events
such as motion are skipped)::

    async with OnvifPlateEvents(url, user, password) as events:
        async for read in events.reads():
            ...

A camera without a PullPoint is followed by WS-BaseNotification push instead
(drivers.onvif_notify; `mode` "push"). Rejected credentials (`OnvifAuthError`) and a camera
without an event service (`OnvifEventsUnsupported`) end ``reads()``: retrying cannot help.

Note (PullPoint semantics): plates the camera reports while no subscription exists (between
a loss and the re-subscription) are not delivered.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from drivers.alpr import VendorRead, parse_onvif_plate_events
from drivers.errors import AlprPayloadError
from drivers.onvif_notify import PushFallbackClient
from drivers.onvif_pullpoint import (
    DEFAULT_MESSAGE_LIMIT,
    DEFAULT_PULL_TIMEOUT_S,
    DEFAULT_SUBSCRIPTION_S,
    OnvifEventsUnsupported,
    PullPointSubscription,
)

logger = logging.getLogger(__name__)


class OnvifPlateEvents(PushFallbackClient):
    """Plate reads of one camera's event service (see the module doc)."""

    def _decode(self, raw: bytes) -> tuple[VendorRead, ...]:
        payload = parse_onvif_plate_events(raw)
        for reason in payload.rejected:
            self.rejected_messages += 1
            logger.warning("%s: plate event skipped: %s", self.url, reason)
        return payload.reads

    async def pull(self) -> tuple[VendorRead, ...]:
        """One long-poll (renewing first when due): the plate reads of its answer.

        Raises OnvifError subclasses when the subscription is unusable (it is then
        forgotten), AlprPayloadError when the answer's events are malformed (the
        subscription stays).
        """
        return await self.pull_parsed(self._decode)

    async def reads(self) -> AsyncIterator[VendorRead]:
        """Every plate read, for as long as it is iterated (see the module doc)."""
        async for read in self._follow_events(self.pull, self._decode, skip=(AlprPayloadError,)):
            yield read


__all__ = [
    "DEFAULT_MESSAGE_LIMIT",
    "DEFAULT_PULL_TIMEOUT_S",
    "DEFAULT_SUBSCRIPTION_S",
    "OnvifEventsUnsupported",
    "OnvifPlateEvents",
    "PullPointSubscription",
]
