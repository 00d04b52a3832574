"""Matching reads against hotlists: exact, look-alike (bounded) and wildcard, ranked.

A `Matcher` is built once from parsed lists and never changes; `HotlistSet` holds the
current one and swaps it whole on reload. Every index is keyed by the look-alike
canonical form (hub.plates.canonical), so a read that hits nothing - most of them - costs
one translate and one dict lookup, plus one lookup per distinct wildcard mask of its
length.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import compress, count
from operator import itemgetter, ne

from hub.alpr_model import Hit, HotlistEntry, HotlistInfo, MatchKind
from hub.hotlist_bulk import Attrs
from hub.hotlists import ParsedHotlist, make_entry
from hub.plates import LOOKALIKE_GROUPS

log = logging.getLogger(__name__)

# Look-alike swaps (0/O, 8/B, ...) a hit may need, for a read whose letter/digit shape
# is no listed plate's shape (so it cannot be a correct read of some other plate): two,
# measured with bench.matcher - two-swap misreads are common (a "B" and an "8" on one
# plate misread alike) and the second swap lifted misread recall from ~0.47 to ~0.67.
MAX_LOOKALIKE_SUBSTITUTIONS = 2
# A read shaped like a listed plate ("1ABC234": digit, 3 letters, 3 digits) may well be a
# correct read of an unlisted plate, and two real plates of the same or another format
# can be a few look-alike swaps apart (measured: "661TZQ" vs. the Dutch "66ITZ0"). Such
# reads get the one-swap baseline's bound, so clean reads raise no more false hits than
# it does.
MAX_SUBSTITUTIONS_WELL_FORMED = 1
# Swaps between two letters (O/D/Q) are differences between real plates too: one at most.
MAX_LETTER_SWAPS = 1
# Match a read with one extra character (the entry is the read minus one character),
# only for reads not shaped like any listed plate. Measured with bench.matcher: misread
# recall ~0.67 -> ~0.83, and no more false hits on clean reads than the baseline, where
# trying it on every read had quadrupled them (a Belgian "1ABC234" minus its "1" is an
# older "ABC234"). Its reported substitutions count the extra character as one. A
# dropped character would need every entry's deletion neighbourhood indexed (~7 keys per
# entry: gigabytes for a national list), so it is not matched.
EXTRA_CHARACTER = True

_CANONICAL = str.maketrans({c: g[0] for g in LOOKALIKE_GROUPS for c in g[1:]})
_KIND_RANK = {MatchKind.EXACT: 0, MatchKind.LOOKALIKE: 1, MatchKind.WILDCARD: 2}
_SEP = "\x1f"  # joins a batch of plates for one translate call
# Letter/digit shape of a plate: "1ABC234" -> "DLLLDDD" (other characters kept as they are).
_SHAPE = str.maketrans({**{c: "L" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
                        **{c: "D" for c in "0123456789"}})

Ids = int | tuple[int, ...]


def hit_rank(hit: Hit) -> tuple[int, int, int]:
    """Sort key of hits, best first: exact before look-alike before wildcard, then higher
    priority, then fewer substitutions (also used to rank hits of several matchers)."""
    return (_KIND_RANK[hit.match], -hit.entry.priority, hit.substitutions)


def _add(index: dict[object, Ids], key: object, gid: int) -> None:
    prev = index.setdefault(key, gid)
    if prev != gid:
        index[key] = (*prev, gid) if isinstance(prev, tuple) else (prev, gid)


def _swaps(read: str, entry: str) -> tuple[int, int]:
    """(differing positions, of which letter<->letter) of equal-length, canonical-equal
    texts; `*` in the entry matches anything and is not counted."""
    swaps = letters = 0
    for r, e in zip(read, entry, strict=True):
        if r != e and e != "*":
            swaps += 1
            if r.isalpha() and e.isalpha():
                letters += 1
    return swaps, letters


class Matcher:
    """Immutable index over one or more parsed hotlists (and hub-made entries)."""

    def __init__(self, lists: Sequence[ParsedHotlist], *,
                 extra_character: bool = EXTRA_CHARACTER) -> None:
        self._plates: list[str] = []
        self._attrs: list[Attrs] = []
        for parsed in lists:
            self._plates.extend(parsed.plates)
            self._attrs.extend(parsed.attrs)
        self._extra_character = extra_character
        self._canon: dict[object, Ids] = {}
        # length -> [(key of a read, index)] per distinct star mask of that length
        self._wild: dict[int, list[tuple[Callable[[str], object], dict[object, Ids]]]] = {}
        self._shapes: frozenset[str] = frozenset()
        self._build()

    def __len__(self) -> int:
        return len(self._plates)

    def _build(self) -> None:
        canon = _SEP.join(self._plates).translate(_CANONICAL).split(_SEP)
        if len(canon) != len(self._plates):  # no entries at all: "".split gives [""]
            canon = [p.translate(_CANONICAL) for p in self._plates]
        # One C-level pass builds the index; only keys listed more than once (the same
        # plate on two lists, O/D variants) need a Python pass to keep every entry.
        index = self._canon
        index.update(zip(canon, range(len(canon)), strict=True))
        starred: list[int] = []
        if len(index) != len(canon):
            # Keys whose last entry is not theirs: found with C-level map/compress.
            later = compress(canon, map(ne, map(index.__getitem__, canon), count()))
            dups = set(later)
            for key in dups:
                del index[key]
            for gid, key in enumerate(canon):
                if key in dups:
                    _add(index, key, gid)
        joined = _SEP.join(self._plates)
        self._shapes = frozenset(joined.translate(_SHAPE).split(_SEP)) if joined else frozenset()
        if "*" in joined:
            starred = [gid for gid, key in enumerate(canon) if "*" in key]
            for gid in starred:
                index.pop(canon[gid], None)
            masks: dict[tuple[int, tuple[int, ...]], dict[object, Ids]] = {}
            for gid in starred:
                key = canon[gid]
                kept = tuple(i for i, ch in enumerate(key) if ch != "*")
                table = masks.setdefault((len(key), kept), {})
                _add(table, itemgetter(*kept)(key), gid)
            for (length, kept), table in masks.items():
                self._wild.setdefault(length, []).append((itemgetter(*kept), table))
        log.debug("matcher: %s entries, %s wildcard entries in %s masks", len(canon),
                  len(starred), sum(len(v) for v in self._wild.values()))

    def entry(self, gid: int) -> HotlistEntry:
        return make_entry(self._plates[gid], self._attrs[gid])

    def _applies(self, gid: int, at: datetime, state: str | None) -> bool:
        _, _, _, entry_state, effective, expiry, _, _ = self._attrs[gid]
        if effective is not None and at < effective:
            return False
        if expiry is not None and at > expiry:
            return False
        return entry_state is None or state is None or entry_state == state

    def match(self, normalized_plate: str, at: datetime,
              state: str | None = None) -> list[Hit]:
        """Hits of a read, best first: exact, look-alike, wildcard; then higher priority,
        then fewer substitutions. `state` (the read's country) filters entries that name
        one; entries outside their effective..expiry window never hit."""
        key = normalized_plate.translate(_CANONICAL)
        found = self._canon.get(key)
        wild = self._wild.get(len(key))
        if found is None and wild is None and not (
                self._extra_character and not self.well_formed(normalized_plate)):
            return []
        return self._hits(normalized_plate, key, found, wild, at, state)

    def well_formed(self, plate: str) -> bool:
        """Whether a plate has the letter/digit shape of some listed plate."""
        return plate.translate(_SHAPE) in self._shapes

    def match_many(self, plates: Sequence[str], at: datetime,
                   state: str | None = None) -> dict[int, list[Hit]]:
        """`match` for a batch of normalised plates: {index in `plates`: hits}, only for
        the plates with hits. One translate for the batch; plates whose canonical form
        and length hit no index are skipped without a call."""
        joined = _SEP.join(plates)
        keys = joined.translate(_CANONICAL).split(_SEP) if plates else []
        if len(keys) != len(plates):
            keys = [p.translate(_CANONICAL) for p in plates]
        canon, wild_lengths = self._canon, self._wild
        candidates: Sequence[int] = [i for i, k in enumerate(keys) if k in canon]
        if self._extra_character or wild_lengths:
            more: set[int] = set(candidates)
            if self._extra_character:  # reads shaped like no listed plate
                shapes = joined.translate(_SHAPE).split(_SEP) if plates else []
                if len(shapes) == len(plates):
                    more.update(i for i, s in enumerate(shapes) if s not in self._shapes)
                else:
                    more.update(range(len(plates)))
            if wild_lengths:
                by_length: dict[int, list[int]] = defaultdict(list)
                for i, k in enumerate(keys):
                    by_length[len(k)].append(i)
                for length, ids in by_length.items():
                    for getter, table in wild_lengths.get(length, ()):
                        more.update(i for i in ids if getter(keys[i]) in table)
            candidates = sorted(more)
        out: dict[int, list[Hit]] = {}
        for i in candidates:
            key = keys[i]
            hits = self._hits(plates[i], key, canon.get(key), wild_lengths.get(len(key)),
                              at, state)
            if hits:
                out[i] = hits
        return out

    def _hits(self, plate: str, key: str, found: Ids | None,
              wild: list[tuple[Callable[[str], object], dict[object, Ids]]] | None,
              at: datetime, state: str | None) -> list[Hit]:
        best: dict[int, tuple[MatchKind, int]] = {}
        well_formed = self.well_formed(plate)
        bound = MAX_SUBSTITUTIONS_WELL_FORMED if well_formed else MAX_LOOKALIKE_SUBSTITUTIONS
        if found is not None:
            for gid in (found,) if isinstance(found, int) else found:
                entry = self._plates[gid]
                if entry == plate:
                    best[gid] = (MatchKind.EXACT, 0)
                    continue
                swaps, letters = _swaps(plate, entry)
                if swaps <= bound and letters <= MAX_LETTER_SWAPS:
                    best[gid] = (MatchKind.LOOKALIKE, swaps)
        for getter, table in wild or ():
            ids = table.get(getter(key))
            if ids is None:
                continue
            for gid in (ids,) if isinstance(ids, int) else ids:
                entry = self._plates[gid]
                swaps, letters = _swaps(plate, entry)
                if swaps <= bound and letters <= MAX_LETTER_SWAPS:
                    best[gid] = (MatchKind.WILDCARD, swaps + entry.count("*"))
        if self._extra_character and not well_formed and len(key) > 1:
            self._extra_hits(plate, key, best)
        hits = [Hit(self.entry(gid), kind, subs) for gid, (kind, subs) in best.items()
                if self._applies(gid, at, state)]
        hits.sort(key=lambda h: (*hit_rank(h), h.entry.list, h.entry.plate))
        return hits

    def _extra_hits(self, plate: str, key: str, best: dict[int, tuple[MatchKind, int]]) -> None:
        """Entries equal to the read minus one character: LOOKALIKE, one substitution
        more than the look-alike swaps the rest needs."""
        for i in range(len(key)):
            ids = self._canon.get(key[:i] + key[i + 1:])
            if ids is None:
                continue
            shorter = plate[:i] + plate[i + 1:]
            for gid in (ids,) if isinstance(ids, int) else ids:
                entry = self._plates[gid]
                if gid in best and best[gid][0] is not MatchKind.LOOKALIKE:
                    continue
                swaps, letters = _swaps(shorter, entry)
                subs = swaps + 1
                if subs <= MAX_LOOKALIKE_SUBSTITUTIONS and letters <= MAX_LETTER_SWAPS and \
                        (gid not in best or best[gid][1] > subs):
                    best[gid] = (MatchKind.LOOKALIKE, subs)


class HotlistSet:
    """The hub's current matcher. `reload` builds the next one in a thread and swaps
    the reference in one assignment: a read is matched against the old lists or the new
    ones, never a half-built index."""

    def __init__(self, matcher: Matcher | None = None,
                 infos: Sequence[HotlistInfo] = ()) -> None:
        self._current = matcher or Matcher([])
        self._infos = tuple(infos)

    @property
    def matcher(self) -> Matcher:
        return self._current

    @property
    def infos(self) -> tuple[HotlistInfo, ...]:
        return self._infos

    def match(self, normalized_plate: str, at: datetime,
              state: str | None = None) -> list[Hit]:
        """Hits of a read against the current lists (see Matcher.match)."""
        return self._current.match(normalized_plate, at, state)

    async def reload(self, lists: Sequence[ParsedHotlist],
                     infos: Sequence[HotlistInfo] = ()) -> Matcher:
        """Build a matcher for `lists` in a thread, then make it current."""
        matcher = await asyncio.to_thread(Matcher, lists)
        self._current, self._infos = matcher, tuple(infos)
        log.info("hotlists reloaded: %s entries", len(matcher))
        return matcher

    def replace(self, matcher: Matcher, infos: Sequence[HotlistInfo] = ()) -> None:
        """Make an already built matcher current."""
        self._current, self._infos = matcher, tuple(infos)
