"""Running one fuzz target: the recorder (executions, rejections by reason, crashes with a
reproducer file, slowest input) and a plain random mutator for machines without atheris.

A crash is any exception escaping a target's `run` (AssertionError: the parser broke its
contract; anything else: the parser raised what it must not). Crashes are grouped by
exception type and the innermost frame of our code; the first input of each kind is saved
under the crash folder, named by target and hash, to be replayed with
`python -m bench.fuzz --replay FILE`.
"""

from __future__ import annotations

import hashlib
import random
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.fuzz.targets import Target

# Distinct rejection reasons kept per target; beyond, counted as one "other" (reasons are
# normalised, so more than this means the normaliser lets values through).
MAX_REASON_KINDS = 100
# One input slower than this is reported: a parser of outside input must not be made to
# spin (the slowest input is kept whatever its time).
SLOW_INPUT_S = 1.0
# Largest input the random mutator grows: beyond what the parsers take in one go (a
# datagram, a webhook body, a scenario file), size only slows the run down.
MAX_INPUT_BYTES = 64 * 1024
# Byte strings that matter to the formats under test, inserted by the mutator.
TOKENS = (
    b"<", b">", b"/>", b"</", b'"', b"'", b"=", b":", b";", b",", b"\r\n", b"\n", b"$", b"*",
    b"\x00", b"\xff", b"\xc3\xa9", b"-1", b"0", b"4294967296", b"1e999", b"NaN", b"null",
    b"true", b"[", b"]", b"{", b"}", b"<!DOCTYPE x>", b"&amp;", b"xmlns:", b"RTSP/1.0 ",
    b"Content-Length: ", b"CSeq: 1", b"\r\n\r\n", b"2026-02-30T25:00:00Z", b"[[", b"]]",
    b"\\", b"%", b"?", b"#",
)
# Share of mutants kept to mutate further (several edits deep), and the most kept: enough
# to wander from the seeds without the pool filling with near-copies.
KEEP_MUTANT = 0.05
MAX_POOL = 512
REPO = str(Path(__file__).resolve().parents[2])


@dataclass
class Recorder:
    """Counts of one target's run; `run` executes one input and never raises."""

    target: Target
    crash_dir: Path | None = None
    executions: int = 0
    accepted: int = 0  # inputs the parser took whole
    rejected: int = 0  # inputs with at least one rejection
    reasons: Counter[str] = field(default_factory=Counter)
    crashes: int = 0
    crash_kinds: dict[str, dict[str, Any]] = field(default_factory=dict)
    slow_inputs: int = 0
    slowest_s: float = 0.0

    def run(self, data: bytes) -> None:
        self.executions += 1
        start = time.perf_counter()
        try:
            reasons = self.target.run(data)
        except Exception as exc:
            self._crash(data, exc)
            return
        finally:
            took = time.perf_counter() - start
            if took > SLOW_INPUT_S:
                self.slow_inputs += 1
                if took > self.slowest_s:
                    self._save(data, "slow")
            self.slowest_s = max(self.slowest_s, took)
        if not reasons:
            self.accepted += 1
            return
        self.rejected += 1
        for reason in reasons:
            known = reason in self.reasons or len(self.reasons) < MAX_REASON_KINDS
            self.reasons[reason if known else "other (too many kinds)"] += 1

    def _crash(self, data: bytes, exc: Exception) -> None:
        self.crashes += 1
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename.startswith(REPO)]
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        kind = f"{type(exc).__name__} at {where}"
        if kind in self.crash_kinds:
            self.crash_kinds[kind]["count"] += 1
            return
        entry: dict[str, Any] = {"count": 1, "message": str(exc)[:200]}
        path = self._save(data, "crash")
        if path is not None:
            entry["reproducer"] = str(path)
        self.crash_kinds[kind] = entry

    def _save(self, data: bytes, what: str) -> Path | None:
        """Keep an input (a crash's, the slowest) for --replay; None without a folder."""
        if self.crash_dir is None:
            return None
        self.crash_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(data).hexdigest()[:12]
        path = self.crash_dir / f"{self.target.name}-{what}-{digest}.bin"
        path.write_bytes(data)
        return path

    def figures(self, seconds: float, engine: str) -> dict[str, Any]:
        return {
            "engine": engine,
            "seconds": round(seconds, 1),
            "executions": self.executions,
            "execs_per_s": round(self.executions / seconds) if seconds else 0,
            "accepted_inputs": self.accepted,
            "rejected_inputs": self.rejected,
            "crashes": self.crashes,
            "crash_kinds": self.crash_kinds,
            "slow_inputs": self.slow_inputs,
            "slowest_ms": round(self.slowest_s * 1000, 1),
            "reasons": dict(self.reasons.most_common()),
        }


def mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """`data` with one to four random edits (bytes, tokens, cuts, copies, splices)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randint(0, len(buf))
        op = rng.randrange(7)
        if op == 0 and buf:  # flip a bit
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # any byte
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 2:  # a token of the formats
            buf[pos:pos] = rng.choice(TOKENS)
        elif op == 3 and buf:  # cut a range
            buf[pos:pos + rng.randint(1, 64)] = b""
        elif op == 4 and buf:  # repeat a range
            start = rng.randrange(len(buf))
            buf[pos:pos] = buf[start:start + rng.randint(1, 64)] * rng.randint(1, 8)
        elif op == 5 and seeds:  # splice in a piece of another seed
            other = rng.choice(seeds)
            start = rng.randint(0, len(other))
            buf[pos:pos] = other[start:start + rng.randint(1, 256)]
        else:  # truncate
            del buf[pos:]
    return bytes(buf[:MAX_INPUT_BYTES])


def fuzz_random(recorder: Recorder, seconds: float, seed: int = 0,
                max_executions: int | None = None) -> float:
    """Seeds first, then mutants of seeds and of earlier mutants, for `seconds` (or
    `max_executions`); returns the seconds spent."""
    rng = random.Random(seed)
    seeds = recorder.target.seeds()
    pool = list(seeds) or [b""]
    start = time.monotonic()
    for data in seeds:
        recorder.run(data)
    while time.monotonic() - start < seconds:
        if max_executions is not None and recorder.executions >= max_executions:
            break
        data = mutate(rng, rng.choice(pool), pool)
        recorder.run(data)
        if rng.random() < KEEP_MUTANT:
            if len(pool) < MAX_POOL:
                pool.append(data)
            else:
                pool[rng.randrange(MAX_POOL)] = data
    return time.monotonic() - start
