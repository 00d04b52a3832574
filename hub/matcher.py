"""Matching reads against hotlists: exact, look-alike (bounded) and wildcard, ranked.

A `Matcher` is built once from parsed lists and never changes; `HotlistSet` holds the
current one and swaps it whole on reload. Every index is keyed by the look-alike
canonical form (hub.plates.canonical), so a read that hits nothing - most of them - costs
one translate and one binary search, plus one lookup per distinct wildcard mask of its
length; `match_many` does the packing, shape checks and searches of a whole batch in
numpy and leaves Python only the reads that hit or look misread. The main index is a
sorted numpy array of the canonical plates packed into integers (built for a million
entries in a fraction of the time a dict takes); the few entries that do not pack (odd
characters, wildcards) sit in dicts.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from operator import itemgetter

import numpy as np
import numpy.typing as npt

from hub.alpr_model import Hit, HotlistEntry, HotlistInfo, MatchKind
from hub.hotlist_bulk import Attrs
from hub.hotlists import ParsedHotlist, make_entry
from hub.plate_keys import (
    PACKED_LENGTH,
    Ints,
    SameLength,
    pack_by_length,
    shape_bits,
    shape_text,
    sorted_index,
    without_one,
)
from hub.plate_keys import (
    SEP as _SEP,
)
from hub.plate_keys import (
    packed as packed_key,
)
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
# Letter/digit shape of a plate: "1ABC234" -> "DLLLDDD" (other characters kept as they are).
_SHAPE = str.maketrans({**{c: "L" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
                        **{c: "D" for c in "0123456789"}})

# Lists smaller than this (wanted plates, a local list) are indexed in a dict instead: a
# dict lookup costs a tenth of a binary search from Python, and a read that looks like
# no listed plate makes eight of them (extra-character matching), while building a
# dict of 50,000 entries takes only ~50 ms.
SORTED_INDEX_MIN = 50_000

Ids = int | tuple[int, ...]


def hit_rank(hit: Hit) -> tuple[int, int, int]:
    """Sort key of hits, best first: exact before look-alike before wildcard, then higher
    priority, then fewer substitutions (also used to rank hits of several matchers)."""
    return (_KIND_RANK[hit.match], -hit.entry.priority, hit.substitutions)


def _add(index: dict[object, Ids], key: object, gid: int) -> None:
    prev = index.setdefault(key, gid)
    if prev != gid:
        index[key] = (*prev, gid) if isinstance(prev, tuple) else (prev, gid)


def _translated(joined: str, plates: Sequence[str], table: dict[int, str]) -> list[str]:
    """Each of `plates` (`joined` by SEP) translated, in one call for the batch."""
    out = joined.translate(table).split(_SEP) if plates else []
    if len(out) != len(plates):  # a plate holding the separator
        out = [p.translate(table) for p in plates]
    return out


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
        # Sorted packed keys and their entries' gids (parallel); memoryviews for the
        # per-read binary search (indexing a numpy array from Python costs 10x more).
        self._keys: Ints = np.zeros(0, np.int64)
        self._gids: Ints = np.zeros(0, np.int64)
        self._key_view = self._keys.data
        self._gid_view = self._gids.data
        self._other: dict[object, Ids] = {}  # canonical plates that do not pack
        # length -> [(key of a read, index)] per distinct star mask of that length
        self._wild: dict[int, list[tuple[Callable[[str], object], dict[object, Ids]]]] = {}
        self._shapes: frozenset[str] = frozenset()
        # length -> letter bits (SameLength.letters) -> whether a listed plate has that
        # shape: `well_formed` for a whole batch of packed reads at once.
        self._shape_table: list[npt.NDArray[np.bool_]] = []
        self._build()

    def __len__(self) -> int:
        return len(self._plates)

    def _build(self) -> None:
        plates = self._plates
        groups: list[SameLength] = []
        rest: Sequence[int] = range(len(plates))
        if len(plates) >= SORTED_INDEX_MIN:
            groups, packed_rest = pack_by_length(_SEP.join(plates), len(plates))
            rest = packed_rest.tolist()
        self._keys, self._gids = sorted_index(groups, len(plates))
        self._key_view, self._gid_view = self._keys.data, self._gids.data
        shapes = {shape_text(g.length, letters) for g in groups
                  for letters in np.flatnonzero(np.bincount(g.letters)).tolist()}
        # The rest (odd characters, long plates, wildcards) in Python: a handful per list.
        masks: dict[tuple[int, tuple[int, ...]], dict[object, Ids]] = {}
        starred = 0
        for gid in rest:
            plate = plates[gid]
            if plate:
                shapes.add(plate.translate(_SHAPE))
            key = plate.translate(_CANONICAL)
            if "*" not in key:
                _add(self._other, key, gid)
                continue
            starred += 1
            kept = tuple(i for i, ch in enumerate(key) if ch != "*")
            _add(masks.setdefault((len(key), kept), {}), itemgetter(*kept)(key), gid)
        for (length, kept), table in masks.items():
            self._wild.setdefault(length, []).append((itemgetter(*kept), table))
        self._shapes = frozenset(shapes)
        self._shape_table = [np.zeros(1 << length, np.bool_)
                             for length in range(PACKED_LENGTH + 1)]
        for bits in filter(None, map(shape_bits, shapes)):
            self._shape_table[bits[0]][bits[1]] = True
        log.debug("matcher: %s entries, %s wildcard entries in %s masks", len(plates),
                  starred, len(masks))

    def _lookup(self, key: str) -> Ids | None:
        """Entries whose canonical form is `key`."""
        keys = self._key_view
        packed = packed_key(key) if len(keys) else None
        if packed is None:
            return self._other.get(key)
        i = bisect_left(keys, packed)
        if i == len(keys) or keys[i] != packed:
            return None
        j = i + 1
        while j < len(keys) and keys[j] == packed:
            j += 1
        return self._gid_view[i] if j == i + 1 else tuple(self._gid_view[i:j])

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
        if not self._plates:
            return []
        key = normalized_plate.translate(_CANONICAL)
        found = self._lookup(key)
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
        the plates with hits. Plates whose canonical form, shape and length hit no index
        are skipped without a Python-level step each."""
        if not self._plates:
            return {}
        joined = _SEP.join(plates)
        wild_lengths = self._wild
        if len(self._keys):
            found, misshapen, deletions, rest = self._packed_batch(joined, len(plates))
        else:  # a small list: all in the dict, one batch translate for the lookups
            other, shapes = self._other, self._shapes
            found = {i: ids for i, key in enumerate(_translated(joined, plates, _CANONICAL))
                     if (ids := other.get(key)) is not None}
            misshapen = [i for i, shape in enumerate(_translated(joined, plates, _SHAPE))
                         if shape not in shapes] if self._extra_character else []
            deletions, rest = {}, []
        candidates = set(found)
        candidates.update(misshapen)
        for i in rest:  # plates that do not pack: one at a time, a handful per batch
            plate = plates[i]
            key = plate.translate(_CANONICAL)
            ids = self._other.get(key)
            if ids is not None:
                found[i] = ids
                candidates.add(i)
            elif self._extra_character and plate.translate(_SHAPE) not in self._shapes:
                candidates.add(i)
        if wild_lengths:
            keys = _translated(joined, plates, _CANONICAL)
            by_length: dict[int, list[int]] = defaultdict(list)
            for i, k in enumerate(keys):
                by_length[len(k)].append(i)
            for length, ids_ in by_length.items():
                for getter, table in wild_lengths.get(length, ()):
                    candidates.update(i for i in ids_ if getter(keys[i]) in table)
        out: dict[int, list[Hit]] = {}
        for i in sorted(candidates):
            plate = plates[i]
            key = plate.translate(_CANONICAL)
            hits = self._hits(plate, key, found.get(i), wild_lengths.get(len(key)),
                              at, state, deletions.get(i))
            if hits:
                out[i] = hits
        return out

    def _packed_batch(self, joined: str, n: int) -> tuple[
            dict[int, Ids], list[int], dict[int, list[tuple[int, Ids]]], list[int]]:
        """For n `SEP`-joined plates, vectorised: ({index: entries} of plates whose
        canonical form is listed, indexes of plates shaped like no listed plate (only
        with extra-character matching), {such index: [(position, entries of the plate
        without that character)]}, indexes of plates that do not pack)."""
        groups, rest = pack_by_length(joined, n)
        found: dict[int, Ids] = {}
        misshapen: list[int] = []
        deletions: dict[int, list[tuple[int, Ids]]] = {}
        for group in groups:
            at, ids = self._search(group.keys + 36 ** group.length)
            found.update(zip(group.rows[at].tolist(), ids, strict=True))
            if not self._extra_character:
                continue
            odd = ~self._shape_table[group.length][group.letters]
            if not odd.any():
                continue
            rows = group.rows[odd].tolist()
            misshapen.extend(rows)
            if group.length < 2:
                continue
            deletions.update((row, []) for row in rows)
            # One search for every (plate, left-out position): position-major order,
            # so each plate's hits come out by position, as _extra_hits walks them.
            shorter = without_one(group.keys[odd], group.length)
            at, ids = self._search(np.concatenate(shorter))
            for k, entries in sorted(zip(at.tolist(), ids, strict=True)):
                deletions[rows[k % len(rows)]].append((k // len(rows), entries))
        return found, misshapen, deletions, rest.tolist()

    def _search(self, packed: Ints) -> tuple[Ints, list[Ids]]:
        """(positions in `packed` of the keys that are listed, their entries). The keys
        are searched in ascending order: a random-order searchsorted over a million-key
        index misses the cache at every step (measured for 200,000 keys: 94 ms, against
        3 ms to sort them and 10 ms to search them sorted)."""
        index = self._keys
        order = np.argsort(packed)
        needles = packed[order]
        first = np.minimum(np.searchsorted(index, needles), len(index) - 1)
        listed = index[first] == needles
        first = first[listed]
        # Where a listed key's run ends: searched for the (few) listed ones only.
        end = np.searchsorted(index, needles[listed], side="right")
        gids = self._gid_view
        ids: list[Ids] = [gids[j] if k == j + 1 else tuple(gids[j:k])
                          for j, k in zip(first.tolist(), end.tolist(), strict=True)]
        return order[listed], ids

    def _hits(self, plate: str, key: str, found: Ids | None,
              wild: list[tuple[Callable[[str], object], dict[object, Ids]]] | None,
              at: datetime, state: str | None,
              deletions: list[tuple[int, Ids]] | None = None) -> list[Hit]:
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
            self._extra_hits(plate, key, best, deletions)
        hits = [Hit(self.entry(gid), kind, subs) for gid, (kind, subs) in best.items()
                if self._applies(gid, at, state)]
        hits.sort(key=lambda h: (*hit_rank(h), h.entry.list, h.entry.plate))
        return hits

    def _extra_hits(self, plate: str, key: str, best: dict[int, tuple[MatchKind, int]],
                    deletions: list[tuple[int, Ids]] | None = None) -> None:
        """Entries equal to the read minus one character: LOOKALIKE, one substitution
        more than the look-alike swaps the rest needs. `deletions`: the (position,
        entries) of `key` without that character, if already looked up."""
        if deletions is None:
            deletions = [(i, ids) for i in range(len(key))
                         if (ids := self._lookup(key[:i] + key[i + 1:])) is not None]
        for i, ids in deletions:
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
