"""The TUI at city scale over the network: the real `citywatch tui --connect` in tmux
(80x24, 200x60) on a real `citywatch serve` (child process) of 1,000 cameras, with a load
generator (child process) driving 20 camera changes/s and 50 alert changes/s through the
hub's public API.

- Hub: a config of 1,000 cameras whose ONVIF addresses are closed loopback ports
  (127.0.x.y:9): every camera is down, polled with the supervisor's backoff, as a
  city's dead cameras would be. A simulated city of 1,000 cameras would take both cores
  (bench.sim_cost) and measure the simulator, not the TUI. Stream health is off: a down
  camera has no stream to sample. A hotlist is imported with `citywatch hotlist import`.
- Load (the same mix as bench.tui_scale's synthetic hub): camera changes are maintenance
  switched on and off (PUT/DELETE /api/cameras/{camera}/maintenance, technician token);
  alert changes are half new alerts (POST /api/reads of distinct hotlisted plates) and
  half a colleague's transitions of the oldest open alert (acknowledged, then accepted).
  A witness subscriber on /api/events counts what the hub's event stream carries.
- TUI: an operator token from `citywatch token create`; the figures and key plan are
  those of bench.tui_scale (imported), plus the hub process's CPU in each steady state.
- Baseline in the same run: bench.tui_scale's in-process TUI (before the hub starts).

    .venv/bin/python -m bench.tui_connect [--steady 30] [--cycles 4] [--no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench import tui_scale
from bench.net import free_port
from bench.tui_scale import CAMERAS, SIZES, TARGETS, cpu_s, rss_mb, run_size

REPO = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "tui-connect-bench"  # the hub's bootstrap token: the witness subscriber
SITES = ("city", "police", "uni", "port", "rail")
# Hotlists and their priorities, as bench.tui_scale_app's LISTS.
LISTS = (("stolen", 90), ("wanted", 95), ("uninsured", 40), ("expired", 20), ("intel", 70))
# Distinct hotlisted plates: 25 new alerts/s for the whole run (~10 min) with room.
HOTLIST_ENTRIES = 30_000
# Open alerts before the TUI starts (bench.tui_scale_app's START_ALERTS).
START_ALERTS = 200
# The load is sent in bursts at this rate, as the synthetic hub's feed (FEED_HZ).
LOAD_HZ = 10
# Of the alert changes this share are new alerts (bench.tui_scale_app's NEW_SHARE).
NEW_SHARE = 0.5
# Seconds after the hub's start before the TUI: every camera has failed its first polls
# and the supervisor's backoff has left its fast first steps (1, 5, 10 s).
SETTLE_S = 40.0
READY_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 10.0
# Lines the hub and the remote TUI log when the event stream falls behind (1013).
DROP_MARKERS = {"hub_subscribers_dropped": "fell", "tui_stream_closed": "closed by the hub",
                "tui_reconnects": "reconnecting in"}



# The previous full run (2026-11-26 14:41 UTC), before the remote client read the hub's
# state in concurrent requests and before the rows' cells were cached wherever the row
# is; kept so that RESULTS.md shows before/after side by side.
BEFORE: dict[str, Any] = {
    "80x24": {"first_screen_s": 4.18, "key_p50_ms": 78.6, "key_p95_ms": 369.7,
              "key_p50_ms_by_key": {"Down": 32.6, "s": 98.2, "a": 271.6, "Escape": 170.1}},
    "200x60": {"first_screen_s": 5.5, "key_p50_ms": 199.8, "key_p95_ms": 1203.6,
               "key_p50_ms_by_key": {"Down": 49.3, "s": 251.3, "a": 1231.5, "Escape": 214.8}},
}


def write_config(path: Path, cameras: int) -> None:
    """A hub config of `cameras` cameras named as bench.tui_scale expects ("Camera 0001
    ..."), each on its own loopback address at port 9 (discard: nothing listens)."""
    parts = [f'[[sites]]\nid = "{s}"\nname = "{s.title()}"\n' for s in SITES]
    for n in range(1, cameras + 1):
        street = ("Markt", "Ring", "Station", "Kaai", "Poort")[n % 5]
        parts.append(
            f'[[cameras]]\nid = "cam-{n:04d}"\nname = "Camera {n:04d} {street}"\n'
            f'site = "{SITES[n % len(SITES)]}"\nkind = "fixed"\n'
            f'onvif = "http://127.0.{n // 250}.{n % 250 + 1}:9/onvif/device_service"\n'
            f'username = "admin"\npassword = "bench-secret"\n'
            f"lat = {50.9 + n / 10000:.4f}\nlon = {5.3 + n / 10000:.4f}\n")
    path.write_text("\n".join(parts))


def write_hotlist(path: Path, entries: int) -> list[str]:
    """A CSV hotlist of distinct plates over LISTS; the plates, shuffled (seed 10)."""
    rng = random.Random(10)
    plates: set[str] = set()
    while len(plates) < entries:
        plates.add(f"{rng.randint(1, 9)}{''.join(rng.choices('ABCDEFGHJKLMNPRSTVXYZ', k=3))}"
                   f"{rng.randint(0, 999):03d}")
    listed = sorted(plates)
    rows = [f"{p},{LISTS[i % 5][0]},vehicle,{LISTS[i % 5][1]}\n" for i, p in enumerate(listed)]
    path.write_text("plate,list,category,priority\n" + "".join(rows))
    rng.shuffle(listed)
    return listed


def citywatch(*args: str) -> str:
    """One `citywatch` command (stdout); raises with its stderr when it fails."""
    proc = subprocess.run([sys.executable, "-m", "hub.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"citywatch {args[0]} {args[1]} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


class HubProcess:
    """`citywatch serve` as a child process."""

    def __init__(self, config: Path, data_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "serve", "--config", str(config),
                 "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{self.port}",
                 "--no-stream-health"],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=log,
                env={**os.environ, "CITYWATCH_TOKEN": ADMIN_TOKEN})
        self.started = time.monotonic()

    def get(self, path: str) -> Any:
        import urllib.request

        request = urllib.request.Request(self.base + path,
                                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as answer:
            return json.loads(answer.read())

    def wait_ready(self) -> None:
        """Until the API answers with the cameras and the hotlist loaded."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if self.get("/api/hotlists")["hotlists"] and \
                        len(self.get("/api/cameras")["cameras"]) == CAMERAS:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("citywatch serve did not come up; its log ends:\n"
                           + self.log_path.read_text(errors="replace")[-2000:])

    def wait_settled(self) -> dict[str, int]:
        """Until no camera is unknown and SETTLE_S passed since the start; the states."""
        while True:
            states = Counter(c["state"] for c in self.get("/api/cameras")["cameras"])
            if not states["unknown"] and time.monotonic() - self.started >= SETTLE_S:
                return dict(states)
            time.sleep(1.0)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def seed_alerts(base: str, token: str, plates: list[str], count: int) -> list[int]:
    """`count` open alerts before the TUI starts (one batch of hotlisted reads)."""
    import urllib.request

    reads = [_read(plates.pop(), n) for n in range(count)]
    request = urllib.request.Request(
        base + "/api/reads", data=json.dumps({"reads": reads}).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        body = json.loads(answer.read())
    return [a for r in body["reads"] for a in r["alerts"]]


def _read(plate: str, n: int) -> dict[str, Any]:
    return {"plate": plate, "time": datetime.now(UTC).isoformat(),
            "camera": f"cam-{n % CAMERAS + 1:04d}", "confidence": 0.9, "country": "BE"}


class Load:
    """The load generator (its own process): paced camera and alert changes over the API,
    and a witness subscriber counting the event stream. Each kind of change has one
    sequential worker, so that two changes of one camera or alert never race."""

    def __init__(self, base: str, technician: str, operator: str, plates: list[str],
                 open_ids: list[int]) -> None:
        self.base, self.plates = base, plates
        self.tech = {"Authorization": f"Bearer {technician}"}
        self.op = {"Authorization": f"Bearer {operator}"}
        self.open: deque[int] = deque(open_ids)  # oldest first
        self.acknowledged: set[int] = set()
        self.maintenance: set[str] = set()
        self.rng = random.Random(1)
        self.done: Counter[str] = Counter()  # completed changes by kind
        self.failed: Counter[str] = Counter()  # by kind and status
        self.latency: dict[str, list[float]] = {"camera": [], "read": [], "transition": []}
        self.events: Counter[str] = Counter()
        self.closes: list[int | None] = []
        self.backlog_max = 0

    async def run(self, stop: Any) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(self.base, timeout=timeout) as http:
            queues: dict[str, asyncio.Queue[None]] = {k: asyncio.Queue() for k in self.latency}
            tasks = [asyncio.create_task(self._worker(http, kind, q))
                     for kind, q in queues.items()]
            tasks.append(asyncio.create_task(self._witness(http)))
            t0 = time.monotonic()
            cam_debt = alert_debt = 0.0
            while not stop.is_set():
                await asyncio.sleep(1 / LOAD_HZ)
                cam_debt += tui_scale.CHANGES_PER_S / LOAD_HZ
                alert_debt += tui_scale.ALERTS_PER_S / LOAD_HZ
                while cam_debt >= 1:
                    cam_debt -= 1
                    queues["camera"].put_nowait(None)
                while alert_debt >= 1:
                    alert_debt -= 1
                    new = self.rng.random() < NEW_SHARE
                    queues["read" if new else "transition"].put_nowait(None)
                self.backlog_max = max(self.backlog_max, *(q.qsize() for q in queues.values()))
            elapsed = time.monotonic() - t0
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self._figures(elapsed)

    def _figures(self, elapsed: float) -> dict[str, Any]:
        def p95(values: list[float]) -> float | None:
            return round(tui_scale.percentile(values, 0.95) * 1000, 1) if values else None

        return {
            "seconds": round(elapsed, 1),
            "changes_per_s": {k: round(v / elapsed, 1) for k, v in sorted(self.done.items())},
            "request_p50_ms": {k: round(statistics.median(v) * 1000, 1)
                               for k, v in self.latency.items() if v},
            "request_p95_ms": {k: p95(v) for k, v in self.latency.items()},
            "failed": dict(self.failed),
            "load_backlog_max": self.backlog_max,
            "stream_events_per_s": {k: round(v / elapsed, 1)
                                    for k, v in sorted(self.events.items())},
            "stream_close_codes": self.closes,
        }

    async def _worker(self, http: aiohttp.ClientSession, kind: str,
                      queue: asyncio.Queue[None]) -> None:
        change = {"camera": self._camera, "read": self._new_alert,
                  "transition": self._transition}[kind]
        while True:
            await queue.get()
            t0 = time.monotonic()
            try:
                status = await change(http)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = type(exc).__name__
            if status in (200, 201):
                self.done[kind] += 1
                self.latency[kind].append(time.monotonic() - t0)
            elif status is not None:
                self.failed[f"{kind} {status}"] += 1

    async def _camera(self, http: aiohttp.ClientSession) -> int:
        """Maintenance on or off for a random camera: one real status change."""
        camera = f"cam-{self.rng.randint(1, CAMERAS):04d}"
        path = f"/api/cameras/{camera}/maintenance"
        if camera in self.maintenance:
            self.maintenance.discard(camera)
            async with http.delete(path, params={"actor": "bench"}, headers=self.tech) as a:
                return a.status
        self.maintenance.add(camera)
        until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        body = {"until": until, "reason": "bench", "actor": "bench"}
        async with http.put(path, json=body, headers=self.tech) as answer:
            return answer.status

    async def _new_alert(self, http: aiohttp.ClientSession) -> int:
        read = _read(self.plates.pop(), self.rng.randrange(CAMERAS))
        async with http.post("/api/reads", json=read, headers=self.op) as answer:
            if answer.status == 201:
                body = await answer.json()
                self.open.extend(a for r in body["reads"] for a in r["alerts"])
            return answer.status

    async def _transition(self, http: aiohttp.ClientSession) -> int | None:
        """A colleague moves the oldest open alert on: acknowledged, then accepted."""
        if not self.open:
            return None
        alert = self.open[0]
        to = "accepted" if alert in self.acknowledged else "acknowledged"
        if to == "accepted":
            self.open.popleft()
            self.acknowledged.discard(alert)
        else:
            self.acknowledged.add(alert)
        async with http.post(f"/api/alerts/{alert}/transitions", headers=self.op,
                             json={"to": to, "actor": "colleague"}) as answer:
            return answer.status

    async def _witness(self, http: aiohttp.ClientSession) -> None:
        """Follows /api/events as a fast client would (resuming after a close)."""
        cursor: str | None = None
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        while True:
            params = {"after": cursor} if cursor else {}
            async with http.ws_connect("/api/events", params=params, headers=headers,
                                       timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
                async for message in ws:
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        break
                    frame = json.loads(message.data)
                    self.events[frame["type"]] += 1
                    cursor = frame.get("cursor", cursor)
                self.closes.append(ws.close_code)


def load_process(base: str, technician: str, operator: str, plates: list[str],
                 open_ids: list[int], stop: Any, out: Any) -> None:
    """multiprocessing target: run the load until `stop` is set, put its figures."""
    load = Load(base, technician, operator, plates, open_ids)
    out.put(asyncio.run(load.run(stop)))


def _count_markers(path: Path, markers: dict[str, str]) -> dict[str, int]:
    text = path.read_text(errors="replace") if path.exists() else ""
    return {name: text.count(marker) for name, marker in markers.items()}


def _remote_size(hub: HubProcess, width: int, height: int, token_file: Path, work: Path,
                 steady_s: float, cycles: int) -> dict[str, Any]:
    """One terminal size of `citywatch tui --connect` (token from a file: not in `ps`)."""
    data_dir = work / f"tui-{width}x{height}"
    command = (f"cd {REPO} && CITYWATCH_TOKEN=$(cat {token_file}) exec {sys.executable} "
               f"-m hub.cli tui --connect {hub.base} --data-dir {data_dir}")
    cpu0, t0 = cpu_s(hub.proc.pid), time.monotonic()
    figures = run_size(width, height, steady_s, cycles, command=command,
                       others={"hub": hub.proc.pid})
    figures["hub_cpu_percent_whole_run"] = round(
        100 * (cpu_s(hub.proc.pid) - cpu0) / (time.monotonic() - t0), 1)
    figures["hub_rss_mb"] = round(rss_mb(hub.proc.pid), 1)
    tui_log = data_dir / "citywatch.log"
    figures["tui_log"] = {k: v for k, v in _count_markers(tui_log, DROP_MARKERS).items()
                          if k.startswith("tui_")}
    return figures


def run_remote(sizes: list[tuple[int, int]], steady_s: float, cycles: int,
               work: Path) -> dict[str, Any]:
    config, hotlist = work / "hub.toml", work / "hotlist.csv"
    data_dir = work / "hub"
    write_config(config, CAMERAS)
    plates = write_hotlist(hotlist, HOTLIST_ENTRIES)
    citywatch("hotlist", "import", str(hotlist), "--name", "bench", "--data-dir", str(data_dir))
    tokens = {role: citywatch("token", "create", "--role", role.split("-")[0], "--name",
                              f"bench-{role}", "--data-dir", str(data_dir))
              for role in ("operator-tui", "operator-colleague", "technician")}
    token_file = work / "tui.token"
    token_file.write_text(tokens["operator-tui"])
    token_file.chmod(0o600)
    hub = HubProcess(config, data_dir, work / "serve.log")
    ctx = multiprocessing.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    load: multiprocessing.process.BaseProcess | None = None
    try:
        hub.wait_ready()
        ready_s = time.monotonic() - hub.started
        open_ids = seed_alerts(hub.base, tokens["operator-colleague"], plates, START_ALERTS)
        load = ctx.Process(target=load_process, name="tui-connect-load", args=(
            hub.base, tokens["technician"], tokens["operator-colleague"], plates, open_ids,
            stop, out))
        load.start()
        states = hub.wait_settled()
        results: dict[str, Any] = {"hub_ready_s": round(ready_s, 1),
                                   "camera_states_at_tui_start": states}
        load_cpu0 = cpu_s(load.pid or 0)
        for width, height in sizes:
            results[f"{width}x{height}"] = _remote_size(hub, width, height, token_file, work,
                                                        steady_s, cycles)
        load_cpu = cpu_s(load.pid or 0) - load_cpu0
        stop.set()
        results["load"] = out.get(timeout=60)
        results["load"]["generator_cpu_s"] = round(load_cpu, 1)
        results["hub_log"] = {k: v for k, v in
                              _count_markers(hub.log_path, DROP_MARKERS).items()
                              if k.startswith("hub_")}
        return results
    finally:
        stop.set()
        if load is not None:
            load.join(30)
            if load.is_alive():
                load.kill()
        hub.stop()


def _ratios(remote: dict[str, Any], local: dict[str, Any]) -> dict[str, float | None]:
    """remote / in-process for the headline figures of one size."""
    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    return {
        "first_screen_s": ratio(remote["first_screen_s"], local["first_screen_s"]),
        "key_p50_ms": ratio(remote["key_p50_ms"], local["key_p50_ms"]),
        "key_p95_ms": ratio(remote["key_p95_ms"], local["key_p95_ms"]),
        "cameras_screen_bytes_per_s": ratio(remote["steady_cameras_screen"]["bytes_per_s"],
                                            local["steady_cameras_screen"]["bytes_per_s"]),
        "alerts_screen_bytes_per_s": ratio(remote["steady_alerts_screen"]["bytes_per_s"],
                                           local["steady_alerts_screen"]["bytes_per_s"]),
        "rss_mb_end": ratio(remote["rss_mb_end"], local["rss_mb_end"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steady", type=float, default=30.0, help="seconds per steady run")
    parser.add_argument("--cycles", type=int, default=4, help="key cycles (11 keys each)")
    parser.add_argument("--size", action="append", help="WxH (default 80x24 and 200x60)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the in-process TUI of bench.tui_scale (the baseline)")
    args = parser.parse_args(argv)
    sizes = ([(int(w), int(h)) for w, h in (s.split("x") for s in args.size)]
             if args.size else list(SIZES))
    results: dict[str, Any] = {
        "mode": "citywatch tui --connect to citywatch serve (child process), load over the API",
        "cameras": CAMERAS, "camera_changes_per_s": tui_scale.CHANGES_PER_S,
        "alert_changes_per_s": tui_scale.ALERTS_PER_S, "steady_s": args.steady,
        "targets": TARGETS,
    }
    baseline: dict[str, Any] = {}
    if not args.no_baseline:  # first: the hub and its load must not share its CPU
        for width, height in sizes:
            baseline[f"{width}x{height}"] = run_size(width, height, args.steady, args.cycles)
    with tempfile.TemporaryDirectory(prefix="citywatch-tui-connect-") as tmp:
        results.update(run_remote(sizes, args.steady, args.cycles, Path(tmp)))
    results["before"] = BEFORE
    if baseline:
        results["in_process_baseline"] = baseline
        results["remote_vs_in_process"] = {
            size: _ratios(results[size], local) for size, local in baseline.items()}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
