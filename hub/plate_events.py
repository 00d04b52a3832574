"""Licence-plate reads from cameras' ONVIF event services (Profile M), into the plate desk.

One task per camera that has an "onvif" ALPR sender: subscribe (drivers/onvif_events.py),
feed every read to the desk with our camera id, and resubscribe after anything but
rejected credentials or a camera without events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence

from drivers.alpr import VendorRead
from drivers.errors import DriverError, OnvifAuthError
from drivers.onvif_events import OnvifEventsUnsupported, OnvifPlateEvents
from hub.errors import StoreError
from hub.model import CameraConfig

log = logging.getLogger(__name__)

# After the driver gave up (it retries faults itself, with backoff), or a read could not be
# committed, wait this long before subscribing again: a minute keeps a broken camera or a
# full disk from being hammered and still picks reads up soon after it is fixed.
RESTART_DELAY_S = 60.0

# Rejected credentials are retried rarely: a technician fixes them, not time.
AUTH_RETRY_S = 600.0


class PlateEventSupervisor:
    """Keeps one camera's plate-event subscription alive and ingests what it delivers."""

    def __init__(
        self,
        camera: CameraConfig,
        ingest: Callable[[Sequence[VendorRead]], Awaitable[object]],
    ) -> None:
        self.camera = camera
        self._ingest = ingest
        self.reads = 0
        self.last_error = ""

    async def run(self) -> None:
        name = self.camera.name
        while True:
            try:
                async with OnvifPlateEvents(
                    self.camera.onvif_url, self.camera.username, self.camera.password
                ) as events:
                    async for read in events.reads():
                        await self._ingest([dataclasses.replace(read, camera=self.camera.id)])
                        self.reads += 1
                delay = RESTART_DELAY_S
            except OnvifEventsUnsupported as exc:
                self.last_error = str(exc)
                log.warning("%s: no ONVIF event service, plate events off: %s", name, exc)
                return
            except OnvifAuthError as exc:
                self.last_error = str(exc)
                log.warning("%s: plate events: credentials rejected: %s", name, exc)
                delay = AUTH_RETRY_S
            except (DriverError, StoreError) as exc:
                self.last_error = str(exc)
                log.warning("%s: plate events stopped: %s", name, exc)
                delay = RESTART_DELAY_S
            except Exception:  # the outermost loop of a device task: it must stay alive
                log.exception("%s: plate events failed", name)
                delay = RESTART_DELAY_S
            await asyncio.sleep(delay)
