"""Partial plate search: our indexed `ReadStore.search` vs. a GLOB scan of the reads table.

Builds (once, cached under ~/.cache/citywatch-bench/, keyed by size and schema) a store
with N reads of realistic plates (Belgian 1-ABC-234 most, Dutch, French and German
formats too; a fleet of N/8 vehicles seen over 90 days at 230 cameras, one crop image
each). Then runs a fixed set of 50 patterns - prefixes (1AB*), anchored suffixes (*23?,
*234), fragments of 3-5 characters, patterns with `?` - through `ReadStore.search`
(limit 100, no since: the whole table), one warm-up pass then a measured pass; and, as
the baseline in the same run, the same search as a scan (`NOT INDEXED`, GLOB on every
row, newest 100) for the first SCAN_PATTERNS patterns. Then ingest: reads/s through
`ReadStore.add` from 200 concurrent callers into a fresh store with group commit, against
one transaction per read. Prints one JSON line.

Run: ``.venv/bin/python -m bench.search [--reads N]`` (default 10,000,000; the first
build of 10M takes several minutes and ~4 GB of disk).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import string
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub import read_search
from hub.plates import canonical, normalize
from hub.read_store import BATCH_MAX, ReadStore
from hub.store import DB_FILENAME, MIGRATIONS, Store

DEFAULT_READS = 10_000_000
SEED = 20260302
GENERATOR_VERSION = 1  # bump when plate() or build() change what is stored
DAYS = 90
CAMERAS = 230
READS_PER_VEHICLE = 8  # a fleet of N/8 vehicles: the same cars pass again and again
CHUNK = 200_000  # rows per executemany/transaction while building
INGEST_READS = 20_000  # group commit: enough batches for a steady rate
INGEST_SINGLE_READS = 2_000  # one transaction per read, the baseline: slow, fewer
INGEST_PRODUCERS = 200  # concurrent add() callers (cameras posting reads)
SCAN_PATTERNS = 5  # a full scan of 10M rows takes seconds: a few patterns show the ratio
LIMIT = 100
END = datetime(2026, 3, 2, tzinfo=UTC)
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "citywatch-bench"
LETTERS = string.ascii_uppercase
DIGITS = string.digits


def plate(rng: random.Random) -> str:
    """A plate as a camera reports it, with separators."""
    kind = rng.random()
    if kind < 0.55:  # Belgium 1-ABC-234 (first digit mostly 1 or 2)
        first = rng.choice("1111222234567")
        return f"{first}-{_pick(rng, LETTERS, 3)}-{_pick(rng, DIGITS, 3)}"
    if kind < 0.75:  # Netherlands, three of the sidecodes
        return rng.choice((
            f"{_pick(rng, LETTERS, 2)}-{_pick(rng, DIGITS, 3)}-{_pick(rng, LETTERS, 1)}",
            f"{_pick(rng, DIGITS, 2)}-{_pick(rng, LETTERS, 3)}-{_pick(rng, DIGITS, 1)}",
            f"{_pick(rng, LETTERS, 1)}-{_pick(rng, DIGITS, 3)}-{_pick(rng, LETTERS, 2)}",
        ))
    if kind < 0.90:  # France AB-123-CD
        return f"{_pick(rng, LETTERS, 2)}-{_pick(rng, DIGITS, 3)}-{_pick(rng, LETTERS, 2)}"
    district = _pick(rng, LETTERS, rng.randint(1, 3))  # Germany M-AB 1234
    return f"{district}-{_pick(rng, LETTERS, rng.randint(1, 2))} {_pick(rng, DIGITS, 4)}"


def _pick(rng: random.Random, alphabet: str, count: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(count))


def build(path: Path, reads: int) -> None:
    """Create the store with the hub's schema and fill it with `reads` reads."""
    asyncio.run(_create(path.parent))
    rng = random.Random(SEED)
    fleet = []
    for _ in range(max(1, reads // READS_PER_VEHICLE)):
        seen = plate(rng)
        canon = canonical(normalize(seen))
        fleet.append((seen, normalize(seen), canon))
    cameras = [f"cam-{i:03d}" for i in range(CAMERAS)]
    db = sqlite3.connect(path, isolation_level=None)
    # A bulk load: no journal, no fsync; indexes dropped and rebuilt from sorted data.
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")
    found = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='reads'"
        " AND sql NOT NULL").fetchall()
    for name, _ in found:
        db.execute(f"DROP INDEX {name}")
    step = DAYS * 86400.0 / reads
    epoch = (END - timedelta(days=DAYS)).timestamp()
    started = time.perf_counter()
    for first in range(0, reads, CHUNK):
        rows = []
        for i in range(first, min(first + CHUNK, reads)):
            seen, norm, canon = rng.choice(fleet)
            # Reads arrive in time order, give or take a camera's late upload.
            at = epoch + max(0.0, i * step - rng.expovariate(1 / 30))
            rows.append((
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
                + f".{int(at % 1 * 1e6):06d}+00:00",
                rng.choice(cameras), seen, norm, canon, "citywatch",
                round(rng.uniform(0.6, 1), 3), "BE",
                f'[{{"kind": "crop", "path": "alpr/{i // 100_000}/{i}.jpg", "url": null}}]',
            ))
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO reads (at, camera_id, plate, normalized, canonical,"
            " source, confidence, country, images) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.execute("COMMIT")
    _phase("rows", started)
    for _, sql in found:
        db.execute(sql)
    _phase("indexes", started)
    db.execute("BEGIN")
    # The same rows hub.read_store writes per read, here in bulk.
    db.execute(
        "INSERT INTO reads_fts (rowid, text) SELECT id, ? || normalized || ? FROM reads",
        (read_search.START, read_search.END))
    db.execute(
        "INSERT INTO read_blocks (block, max_at) SELECT id >> ?, max(at) FROM reads GROUP BY 1",
        (read_search.BLOCK_BITS,))
    db.executemany("INSERT OR IGNORE INTO read_alphabet (ch) VALUES (?)",
                   [(ch,) for ch in {ch for _, norm, _ in fleet for ch in norm}])
    db.execute("COMMIT")
    _phase("fts", started)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("ANALYZE")
    db.close()


def _phase(name: str, started: float) -> None:
    print(f"build: {name} done at {time.perf_counter() - started:.1f} s", file=sys.stderr)


async def _create(data_dir: Path) -> None:
    store = await Store.open(data_dir)
    await store.close()


def patterns(path: Path) -> list[str]:
    """50 patterns an operator would type, made from plates in the store."""
    db = sqlite3.connect(path)
    ids = [row[0] for row in db.execute("SELECT max(id) FROM reads")]
    rng = random.Random(SEED + 1)
    plates = [
        db.execute("SELECT normalized FROM reads WHERE id = ?",
                   (rng.randint(1, ids[0]),)).fetchone()[0]
        for _ in range(50)
    ]
    db.close()
    out: list[str] = []
    for i, p in enumerate(plates):
        kind = i % 10
        if kind in (0, 1):
            out.append(p[:3].lower() + "*")  # prefix 1ab*
        elif kind == 2:
            out.append("*" + p[-3:-1] + "?")  # suffix *23?
        elif kind == 3:
            out.append("*" + p[-3:])  # suffix *234
        elif kind in (4, 5):
            start = rng.randrange(len(p) - 3)
            out.append(p[start:start + 3])  # fragment of 3
        elif kind == 6:
            start = rng.randrange(len(p) - 4)
            out.append(p[start:start + 4])  # fragment of 4
        elif kind == 7:
            start = rng.randrange(len(p) - 5)
            frag = p[start:start + 5]
            out.append(f"{frag[:2]}-{frag[2:]}")  # fragment of 5, typed with a separator
        elif kind == 8:
            out.append(p[:2] + "?" + p[3:5] + "*")  # 1A?C2*
        else:
            out.append("*" + p[1:4] + "?" + p[5:6] + "*")  # *ABC?3*
    return out


async def ours(path: Path, pats: list[str]) -> tuple[list[float], list[float], int]:
    """(warm-up ms, measured ms, results) of ReadStore.search for every pattern."""
    store = await Store.open(path.parent)
    reads = ReadStore(store)
    passes: list[list[float]] = [[], []]
    found = 0
    try:
        for times in passes:
            for pat in pats:
                started = time.perf_counter()
                result = await reads.search(pat, limit=LIMIT)
                times.append((time.perf_counter() - started) * 1000)
                found += len(result)
    finally:
        await store.close()
    return passes[0], passes[1], found // 2


def scan(path: Path, pats: list[str]) -> list[float]:
    """ms per pattern of the same search as a scan of every read."""
    db = sqlite3.connect(path)
    times = []
    for pat in pats:
        glob = normalize(pat, keep_wildcards=True)
        glob = glob if any(c in "*?" for c in glob) else f"*{glob}*"
        started = time.perf_counter()
        db.execute(
            "SELECT * FROM reads NOT INDEXED WHERE normalized GLOB ?"
            " ORDER BY at DESC, id DESC LIMIT ?", (glob, LIMIT)).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    db.close()
    return times


async def ingest(reads: int, batch_max: int) -> float:
    """Reads/s committed through ReadStore.add by INGEST_PRODUCERS concurrent callers
    into a fresh store, with group commit batches of at most `batch_max`."""
    from hub import read_store
    from hub.alpr_model import ImageKind, Read, ReadImage

    saved, read_store.BATCH_MAX = read_store.BATCH_MAX, batch_max
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp))
        writer = ReadStore(store)
        await writer.start()
        rng = random.Random(SEED)
        todo = [normalize(plate(rng)) for _ in range(reads)]

        async def producer(first: int) -> None:
            for i in range(first, reads, INGEST_PRODUCERS):
                await writer.add(Read(
                    0, todo[i], todo[i], END + timedelta(seconds=i / 100), f"cam-{i % CAMERAS}",
                    "citywatch", 0.9, images=(ReadImage(ImageKind.CROP, path=f"alpr/{i}.jpg"),)))

        started = time.perf_counter()
        try:
            await asyncio.gather(*(producer(k) for k in range(INGEST_PRODUCERS)))
            return reads / (time.perf_counter() - started)
        finally:
            await writer.close()
            await store.close()
            read_store.BATCH_MAX = saved


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=DEFAULT_READS)
    args = parser.parse_args()
    # Keyed by size and schema: a changed migration or generator means a new build.
    schema = hashlib.sha1("".join(MIGRATIONS).encode()).hexdigest()[:10]
    data_dir = CACHE / f"search-{args.reads}-{schema}-v{GENERATOR_VERSION}"
    path = data_dir / DB_FILENAME
    done = data_dir / "complete"
    build_s = None
    if not done.exists():
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        started = time.perf_counter()
        build(path, args.reads)
        build_s = round(time.perf_counter() - started, 1)
        done.write_text(str(build_s))
    else:
        build_s = float(done.read_text())
    pats = patterns(path)
    warm, measured, found = asyncio.run(ours(path, pats))
    scanned = scan(path, pats[:SCAN_PATTERNS])
    ours_same = measured[:SCAN_PATTERNS]
    grouped = asyncio.run(ingest(INGEST_READS, BATCH_MAX))
    single = asyncio.run(ingest(INGEST_SINGLE_READS, 1))
    db_mb = sum(f.stat().st_size for f in data_dir.glob(f"{DB_FILENAME}*")) / 2**20
    figures: dict[str, Any] = {
        "reads": args.reads, "build_s": build_s, "db_mb": round(db_mb),
        "patterns": len(pats), "results_per_pattern": round(found / len(pats), 1),
        "ours_first_pass_p50_ms": pct(warm, 0.5),
        "ours_p50_ms": pct(measured, 0.5), "ours_p99_ms": pct(measured, 0.99),
        "ours_max_ms": round(max(measured), 2),
        "scan_patterns": len(scanned),
        "scan_p50_ms": pct(scanned, 0.5), "scan_p99_ms": pct(scanned, 0.99),
        "ours_same_patterns_p50_ms": pct(ours_same, 0.5),
        "ratio_p50": round(statistics.median(scanned) / statistics.median(ours_same), 1),
        "ingest_reads_per_s": round(grouped), "ingest_one_tx_per_read_per_s": round(single),
        "ingest_ratio": round(grouped / single, 1),
        "slowest": sorted(zip(measured, pats, strict=True), reverse=True)[0][1],
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
