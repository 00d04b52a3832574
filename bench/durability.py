"""Durability under kill -9: no acknowledged read and no alert it raised may be lost.

`citywatch serve` runs as a child process on a data directory with an imported hotlist;
this process sends reads to POST /api/reads (one per request, as a camera does, or
`--batch N` per request, as a gateway does) at a paced rate, a share of them hotlisted
plates so that they raise alerts. Each trial SIGKILLs the server at a random (seeded)
moment while reads are in flight, restarts it on the same data directory and checks, for
every read acknowledged so far (2xx, in this and every earlier trial):

- the read is in the store under the id its acknowledgement named, with its plate;
- every alert id the acknowledgement named is in the store, raised on that read, and
  served by GET /api/alerts;
- every hotlisted read raised an alert (its acknowledgement named one).

The store is read through a read-only SQLite connection (the hub offers no "read by id"
route; its search is by plate pattern). Plates are never reused, so a read not
acknowledged can be told apart: it may or may not be stored. "Not acknowledged" counts
every read sent before the kill without a 2xx: those the server had (reset connection)
and those still queued in the client for a connection (refused after the kill), which is
many when the server had fallen behind (see ack_p99_ms and the machine's load average).
Target: 0 missing. Baseline in the same run: the first (cold) start of the server, to
which each restart after a kill is compared.

    .venv/bin/python -m bench.durability [--trials 10] [--rate 1000] [--seconds 5] [--batch 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.net import free_port

REPO = Path(__file__).resolve().parent.parent
TOKEN = "durability-token"
DB_FILENAME = "citywatch.sqlite3"  # hub.store.DB_FILENAME (bench does not import the hub)
# Hotlisted reads: 2 % gives ~20 alerts/s at 1,000 reads/s, enough alerts in flight at
# each kill to test "read and alert commit together" while most reads stay plain.
HOT_SHARE = 0.02
# Reads name one of a few cameras, as a ring of ANPR cameras would.
CAMERAS = 8
# A kill no earlier than this after the load starts: every trial then has acknowledged
# reads (about a second's worth) at risk, not just the first few connections.
KILL_AFTER_MIN_S = 1.0
# Generous for one read on loopback (p99 is tens of ms at 1,000/s): a request that takes
# longer is hung, and counts as not acknowledged.
REQUEST_TIMEOUT_S = 10.0
# Process start, imports, store open (WAL recovery) and hotlist load: seconds at most.
READY_TIMEOUT_S = 60.0
# Concurrent connections the load generator may open (at 1,000/s and tens of ms per
# request, under a hundred are in use; the rest is headroom for a slow commit).
CONNECTIONS = 256
# GET /api/alerts returns at most this many (hub.api's limit).
API_ALERT_LIMIT = 5000


@dataclass(frozen=True)
class Acked:
    """A read the server acknowledged: the ids its answer named."""

    plate: str
    hot: bool
    read_id: int
    alert_ids: tuple[int, ...]
    trial: int


@dataclass
class TrialLoad:
    """What one trial's load did before and around its kill."""

    sent: int = 0
    acked: list[Acked] = field(default_factory=list)
    unacked: list[str] = field(default_factory=list)  # plates of reads without a 2xx
    statuses: dict[str, int] = field(default_factory=dict)  # non-2xx / errors by kind
    latencies: list[float] = field(default_factory=list)  # seconds to each acknowledgement
    server_cpu_s: float = 0.0  # CPU the server used from the load's start to the kill



def _write_hotlist(path: Path, entries: int) -> list[str]:
    """A CSV hotlist of `entries` distinct "1ABC234"-shaped plates, shuffled (seed 10)."""
    rng = random.Random(10)
    plates: set[str] = set()
    while len(plates) < entries:
        plates.add(f"{rng.randint(1, 2)}{''.join(rng.choices('ABCDEFGHJKLMNPRSTVXYZ', k=3))}"
                   f"{rng.randint(0, 999):03d}")
    listed = sorted(plates)
    path.write_text("plate,list,category,priority\n"
                    + "".join(f"{p},stolen,vehicle,50\n" for p in listed))
    rng.shuffle(listed)
    return listed


class Server:
    """`citywatch serve` as a child process on a fixed port and data directory."""

    def __init__(self, data_dir: Path, port: int, log_path: Path) -> None:
        self.data_dir = data_dir
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self._log_path = log_path
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> float:
        """Start and wait until the API answers with the hotlist loaded; seconds taken."""
        started = time.perf_counter()
        log = await asyncio.to_thread(self._log_path.open, "ab")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hub.cli", "serve", "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.data_dir), cwd=REPO, stdout=subprocess.DEVNULL,
                stderr=log, env={**os.environ, "CITYWATCH_TOKEN": TOKEN},
            )
        finally:
            log.close()
        await self._wait_ready()
        return time.perf_counter() - started

    async def _wait_ready(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        deadline = time.monotonic() + READY_TIMEOUT_S
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.returncode is not None:
                    break
                try:
                    async with asyncio.timeout(2.0), http.get(
                        self.base + "/api/hotlists", headers=headers
                    ) as answer:
                        if answer.status == 200 and (await answer.json())["hotlists"]:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.05)
        tail = self._log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"citywatch serve did not come up; its log ends:\n{tail}")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server has used so far."""
        if self._proc is None:
            return 0.0
        fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or closed."""
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGKILL)

    async def reap(self) -> None:
        if self._proc is not None:
            await self._proc.wait()

    async def stop(self) -> None:
        """A clean stop (SIGINT, as Ctrl-C) at the end of the run."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(30):
                    await self._proc.wait()
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()


class Plates:
    """Unique plates to send: hotlisted ones (each used once) and plain ones."""

    def __init__(self, listed: list[str], rng: random.Random) -> None:
        self._listed = listed
        self._rng = rng
        self._plain = 0

    def next(self) -> tuple[str, bool]:
        if self._rng.random() < HOT_SHARE:
            if not self._listed:
                raise RuntimeError("hotlist exhausted: raise --hotlist-entries")
            return self._listed.pop(), True
        self._plain += 1
        # Shaped like no listed plate (8 characters, letters then digits): no look-alike hit.
        return f"CW{self._plain:06d}", False


async def _post(http: aiohttp.ClientSession, url: str, reads: list[tuple[str, bool, str]],
                trial: int, load: TrialLoad) -> None:
    """POST (plate, hot, camera) reads: one object, or {"reads": [...]} for a batch."""
    now = datetime.now(UTC).isoformat()
    docs = [{"plate": p, "time": now, "camera": c, "confidence": 0.9} for p, _, c in reads]
    body = json.dumps(docs[0] if len(docs) == 1 else {"reads": docs}).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    sent = time.perf_counter()
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S), http.post(
            url, data=body, headers=headers
        ) as answer:
            if answer.status // 100 != 2:
                kind = f"http {answer.status}"
            else:
                acks = (await answer.json())["reads"]
                load.acked.extend(
                    Acked(plate, hot, int(ack["id"]), tuple(int(a) for a in ack["alerts"]), trial)
                    for (plate, hot, _), ack in zip(reads, acks, strict=True)
                )
                load.latencies.append(time.perf_counter() - sent)
                return
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError, ValueError) as exc:
        kind = type(exc).__name__
    load.statuses[kind] = load.statuses.get(kind, 0) + len(reads)
    load.unacked.extend(plate for plate, _, _ in reads)


async def _load_until_kill(server: Server, plates: Plates, rate: float, batch: int,
                           kill_at: float, trial: int, rng: random.Random
                           ) -> tuple[TrialLoad, float]:
    """Send reads paced at `rate` (`batch` per request) until `kill_at` s, SIGKILL the
    server then, and wait for every request in flight; returns the load and its seconds."""
    load = TrialLoad()
    url = server.base + "/api/reads"
    tasks: set[asyncio.Task[None]] = set()
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as http:
        start, cpu_start = time.perf_counter(), server.cpu_s()
        while True:
            target = start + load.sent / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.perf_counter() - start >= kill_at:
                load.server_cpu_s = server.cpu_s() - cpu_start
                server.kill()
                ran = time.perf_counter() - start
                break
            reads = [(*plates.next(), f"ring-{rng.randint(1, CAMERAS)}") for _ in range(batch)]
            task = asyncio.create_task(_post(http, url, reads, trial, load))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            load.sent += batch
        await server.reap()
        await asyncio.gather(*tasks)
    return load, ran


def _stored(db_path: Path) -> tuple[dict[int, str], dict[int, int], set[str]]:
    """Read-only: reads (id -> plate), alerts (id -> read id), every stored plate."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        reads = dict(db.execute("SELECT id, plate FROM reads").fetchall())
        alerts = dict(db.execute("SELECT id, read_id FROM alerts").fetchall())
    finally:
        db.close()
    return reads, alerts, set(reads.values())


async def _api_alert_ids(server: Server) -> set[int] | None:
    """Alert ids the restarted hub serves (None if there are more than one page holds)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http, asyncio.timeout(REQUEST_TIMEOUT_S), http.get(
        f"{server.base}/api/alerts?all=1&limit={API_ALERT_LIMIT}", headers=headers
    ) as answer:
        alerts = (await answer.json())["alerts"]
    if len(alerts) >= API_ALERT_LIMIT:
        return None
    return {int(a["id"]) for a in alerts}


def _check(acked: list[Acked], unacked: list[str], reads: dict[int, str],
           alerts: dict[int, int], plates: set[str], api_alerts: set[int] | None,
           trial: int) -> dict[str, int]:
    """Losses among this trial's acknowledged reads, and among earlier trials' ones (which
    an earlier check found stored: a later restart must not lose them)."""
    now = [a for a in acked if a.trial == trial]
    # Each hotlisted plate is sent once, so its alert is new (not folded): raised on it.
    expected = [(i, a.read_id) for a in now for i in a.alert_ids]
    earlier_lost = sum(
        1 for a in acked if a.trial != trial
        and (reads.get(a.read_id) != a.plate
             or any(alerts.get(i) != a.read_id for i in a.alert_ids))
    )
    return {
        "alerts_expected": len(expected),
        "missing_acknowledged": sum(1 for a in now if reads.get(a.read_id) != a.plate),
        "alerts_missing": sum(1 for i, read_id in expected if alerts.get(i) != read_id),
        "hot_acked_without_alert": sum(1 for a in now if a.hot and not a.alert_ids),
        "alerts_missing_api": (-1 if api_alerts is None
                               else sum(1 for i, _ in expected if i not in api_alerts)),
        "earlier_trials_lost": earlier_lost,
        "plain_acked_with_alert": sum(1 for a in now if not a.hot and a.alert_ids),
        "unacked_stored": sum(1 for p in unacked if p in plates),
    }


async def run_durability(trials: int, rate: float, seconds: float, work_dir: Path,
                         seed: int = 10, hotlist_entries: int = 20_000, batch: int = 1
                         ) -> dict[str, Any]:
    """Run the kill -9 trials in `work_dir`; the figures (see the module docstring)."""
    if seconds <= KILL_AFTER_MIN_S:
        raise ValueError(f"--seconds must be over {KILL_AFTER_MIN_S}")
    # Kill moments from a generator of their own: the same seed gives the same moments,
    # whatever the number of reads the machine managed to send before each.
    kill_rng, rng = random.Random(seed), random.Random(seed + 1)
    data = work_dir / "data"
    hotlist = work_dir / "stolen.csv"
    listed = await asyncio.to_thread(_write_hotlist, hotlist, hotlist_entries)
    await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "hub.cli", "hotlist", "import", str(hotlist),
                         "--name", "stolen", "--data-dir", str(data)],
        check=True, capture_output=True, cwd=REPO,
    )
    plates = Plates(listed, rng)
    server = Server(data, free_port(), work_dir / "serve.log")
    acked: list[Acked] = []
    per_trial: list[dict[str, Any]] = []
    try:
        cold_s = await server.start()
        for trial in range(1, trials + 1):
            kill_at = kill_rng.uniform(KILL_AFTER_MIN_S, seconds)
            # Others' work on this shared machine slows the server: say how busy it was.
            load_avg = round(os.getloadavg()[0], 2)
            load, ran = await _load_until_kill(server, plates, rate, batch, kill_at, trial,
                                               rng)
            acked.extend(load.acked)
            restart_s = await server.start()
            reads, alerts, stored = await asyncio.to_thread(_stored, data / DB_FILENAME)
            api_alerts = await _api_alert_ids(server)
            found = _check(acked, load.unacked, reads, alerts, stored, api_alerts, trial)
            per_trial.append({
                "kill_at_s": round(kill_at, 3), "sent": load.sent,
                "acknowledged": len(load.acked),
                "acked_per_s": round(len(load.acked) / ran),
                "sent_per_s": round(load.sent / ran), "not_acknowledged": len(load.unacked),
                "ack_p50_ms": _pct_ms(load.latencies, 50),
                "ack_p99_ms": _pct_ms(load.latencies, 99),
                # Cores the server used (a saturated event loop is about 1): well under 1
                # while it falls behind means it waited for a core, not for work.
                "server_cpu_cores": round(load.server_cpu_s / ran, 2),
                "load_avg_1m": load_avg, "failures": load.statuses,
                "restart_s": round(restart_s, 3), **found,
            })
    finally:
        await server.stop()
    figures = _summary(trials, rate, seconds, seed, hotlist_entries, cold_s, acked, per_trial)
    return {"batch": batch, **figures}


def _pct_ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] * 1000, 1)


def _summary(trials: int, rate: float, seconds: float, seed: int, entries: int, cold_s: float,
             acked: list[Acked], per_trial: list[dict[str, Any]]) -> dict[str, Any]:
    def total(name: str) -> int:
        return sum(int(t[name]) for t in per_trial)

    restarts = sorted(t["restart_s"] for t in per_trial)
    missing = total("missing_acknowledged")
    earlier = max((int(t["earlier_trials_lost"]) for t in per_trial), default=0)
    lost_alerts = total("alerts_missing") + total("hot_acked_without_alert")
    api_lost = [t["alerts_missing_api"] for t in per_trial]
    api_missing = sum(n for n in api_lost if n > 0)
    return {
        "trials": trials, "rate": rate, "seconds": seconds, "seed": seed,
        "hotlist_entries": entries, "hot_share": HOT_SHARE,
        "sent": total("sent"), "acknowledged": len(acked),
        "missing_acknowledged": missing,
        "earlier_trials_lost_max": earlier,
        "alerts_expected": total("alerts_expected"),
        "hot_acknowledged": sum(1 for a in acked if a.hot),
        "alerts_missing": total("alerts_missing"),
        "hot_acked_without_alert": total("hot_acked_without_alert"),
        "alerts_missing_api": None if -1 in api_lost else sum(api_lost),
        "not_acknowledged": total("not_acknowledged"),
        "not_acknowledged_but_stored": total("unacked_stored"),
        "cold_start_s": round(cold_s, 3),
        "restart_s_p50": restarts[len(restarts) // 2] if restarts else None,
        "restart_s_max": restarts[-1] if restarts else None,
        "restart_vs_cold_start_p50": (round(restarts[len(restarts) // 2] / cold_s, 2)
                                      if restarts else None),
        "ack_p99_ms_max": max((t["ack_p99_ms"] or 0.0 for t in per_trial), default=None),
        "acked_per_s_min": min((t["acked_per_s"] for t in per_trial), default=None),
        "acked_per_s_p50": (sorted(t["acked_per_s"] for t in per_trial)[len(per_trial) // 2]
                            if per_trial else None),
        "plain_acked_with_alert": total("plain_acked_with_alert"),
        "target_met": missing == 0 and earlier == 0 and lost_alerts == 0 and not api_missing,
        "per_trial": per_trial,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1000.0, help="reads per second")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help=f"longest load per trial; the kill falls in "
                             f"[{KILL_AFTER_MIN_S}, SECONDS)")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--hotlist-entries", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1,
                        help="reads per request (1: as a camera; up to 1,000: a gateway)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="citywatch-durability-") as tmp:
        figures = asyncio.run(run_durability(args.trials, args.rate, args.seconds, Path(tmp),
                                             args.seed, args.hotlist_entries, args.batch))
    if not figures["target_met"]:
        print("durability: acknowledged reads or alerts were lost (see the figures)",
              file=sys.stderr)
    # Exit 0 either way: `python -m bench` records the figures of a successful run only,
    # and a loss must be in RESULTS.md with its figures, not just as a failure.
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
