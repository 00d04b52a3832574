"""Wanted plates: entered by an operator, matched against every new read until expiry,
and searched back over recent reads when entered."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hub.alpr_model import HotlistEntry, Read, WantedPlate
from hub.errors import WantedPlateError
from hub.plates import canonical, normalize
from hub.read_pipeline import PlateMatcher
from hub.read_store import ReadStore

log = logging.getLogger(__name__)

# An operator's search is for days to weeks; past 100 days it belongs on a managed
# hotlist with an owner, not on the control room's wanted list (issue 7).
MIN_DAYS, MAX_DAYS = 1, 100

# Search-back covers the last 30 days of reads: long enough to find where a car lives or
# commutes, bounded so that entering a plate answers within a second.
SEARCH_BACK = timedelta(days=30)
SEARCH_BACK_LIMIT = 200

# A plate shorter than this (without wildcards) would hit far too many reads.
MIN_LITERAL_CHARS = 3
MAX_PLATE_CHARS = 12
MAX_REASON_CHARS = 200


class WantedPlates:
    """The current wanted plates and a matcher over them, rebuilt on every change."""

    def __init__(
        self,
        store: ReadStore,
        build_matcher: Callable[[Sequence[HotlistEntry]], PlateMatcher],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._build = build_matcher
        self._clock = clock or (lambda: datetime.now(UTC))
        self._plates: list[WantedPlate] = []
        self._matcher: PlateMatcher = build_matcher(())

    async def load(self) -> None:
        """Read the wanted plates that have not expired from the store."""
        self._set(await self._store.wanted(self._clock()))

    def matcher(self) -> PlateMatcher:
        return self._matcher

    def plates(self) -> list[WantedPlate]:
        """Wanted plates that have not expired, newest first."""
        now = self._clock()
        return [w for w in self._plates if w.expires_at > now]

    async def add(
        self, plate: str, reason: str, days: int, actor: str
    ) -> tuple[WantedPlate, list[Read]]:
        """Validate, store (audited), match from now on; returns it and its search-back."""
        normalized = normalize(plate, keep_wildcards=True).replace("?", "*")
        literal = normalized.replace("*", "")
        if len(literal) < MIN_LITERAL_CHARS or len(normalized) > MAX_PLATE_CHARS:
            raise WantedPlateError(
                f"plate {plate.strip()!r}: give {MIN_LITERAL_CHARS}-{MAX_PLATE_CHARS} letters or"
                " digits (* for one unknown character)"
            )
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON_CHARS:
            raise WantedPlateError(f"a reason of 1-{MAX_REASON_CHARS} characters is required")
        if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
            raise WantedPlateError(f"expiry must be {MIN_DAYS}-{MAX_DAYS} days, got {days!r}")
        now = self._clock()
        wanted = await self._store.add_wanted(
            normalized, reason, actor, created_at=now, expires_at=now + timedelta(days=days)
        )
        self._set([wanted, *self._plates])
        log.info("wanted: %s added by %s for %d days", normalized, actor, days)
        return wanted, await self.search_back(wanted)

    async def remove(self, wanted_id: int, actor: str) -> None:
        """End a wanted plate now (audited); unknown ids raise WantedPlateError."""
        if not any(w.id == wanted_id for w in self._plates):
            raise WantedPlateError(f"no wanted plate {wanted_id}")
        await self._store.remove_wanted(wanted_id, actor, self._clock())
        self._set([w for w in self._plates if w.id != wanted_id])

    async def search_back(self, wanted: WantedPlate) -> list[Read]:
        """Recent reads that match `wanted` as a new read would, newest first."""
        since = self._clock() - SEARCH_BACK
        key = canonical(wanted.plate)
        if "*" in key:
            candidates = await self._store.reads_matching_wildcard(key, since, SEARCH_BACK_LIMIT)
        else:
            candidates = await self._store.reads_by_canonical([key], since, SEARCH_BACK_LIMIT)
        # The same rules as for a new read (bounded look-alikes), at the read's own time
        # but as if the plate had been wanted then.
        entry = _timeless(wanted.entry())
        one = self._build([entry])
        return [r for r in candidates if one.match(r.normalized, r.at, r.country)]

    def _set(self, plates: list[WantedPlate]) -> None:
        self._plates = plates
        self._matcher = self._build([w.entry() for w in plates])


def _timeless(entry: HotlistEntry) -> HotlistEntry:
    return replace(entry, effective=None, expiry=None)
