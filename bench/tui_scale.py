"""The TUI at city scale: the real `citywatch` app in a real terminal (tmux), fed by a
synthetic hub of 1,000 cameras (20 changes/s) and 50 alert changes/s.

Per terminal size (80x24, 200x60): start → first screen (the camera table on screen),
key → screen updated latency (send-keys, then poll capture-pane until the expected change
shows; Down, s, a, Esc), RSS and CPU of the app process (/proc), and the bytes/s the app
writes to its terminal (tmux pipe-pane: exactly what an SSH link would carry) at steady
state with no keys, on the cameras screen and on the alert queue. In-process hub here;
bench/tui_connect.py runs the same plan on `citywatch tui --connect`, whose first screen
may be the overview (then `c` opens the table the keys are measured on). Prints one
JSON line.

    .venv/bin/python -m bench.tui_scale [--steady 30] [--cycles 4] [--app-args="--cameras 2000"]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZES = ((80, 24), (200, 60))
CAMERAS, CHANGES_PER_S, ALERTS_PER_S = 1000, 20.0, 50.0
TARGETS = {"key_p95_ms": 100, "rss_mb": 300, "bytes_per_s": 20 * 1024, "first_screen_s": 3.0}
# Seconds to wait for the first screen, and for any one key's effect, before giving up.
START_TIMEOUT_S = 30.0
KEY_TIMEOUT_S = 5.0
# Seconds after the first screen before steady state: the app's start-up work settles.
WARM_UP_S = 5.0
# Pause between keys (plus up to as much again at random, so that keys land at every
# phase of the app's 0.5 s update tick).
KEY_GAP_S = 0.25
# Polling capture-pane costs a tmux round trip (a few ms); this keeps it off the CPU the
# app needs without adding much to the measured latency.
POLL_S = 0.002
# Screen lines the cameras screen's summary may take before the site line (it wraps at
# 80 columns under a remote hub's longer title).
SUMMARY_LINES = 2
SGR = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Figures of this benchmark before the TUI fixes (2026-11-26 11:41 UTC, same machine and
# load, a short run: 80x24 only, 8 s steady states, 11 keys), kept so that RESULTS.md
# shows before/after side by side; the old code is not kept to re-measure it each run.
BEFORE_FIX: dict[str, object] = {
    "run": "80x24, --steady 8 --cycles 1, code before the fixes",
    "first_screen_s": 3.69, "key_p50_ms": 149.9, "key_p95_ms": 528.9,
    "key_p50_ms_by_key": {"Down": 58.5, "s": 277.8, "a": 528.9, "Escape": 252.5},
    "steady_cameras_screen": {"bytes_per_s": 25197, "cpu_percent": 17.1, "rss_peak_mb": 107.9},
    "steady_alerts_screen": {"bytes_per_s": 74002, "cpu_percent": 30.1, "rss_peak_mb": 122.7},
}


class Terminal:
    """One tmux server (own socket) with one window running the app."""

    def __init__(self, width: int, height: int, out: Path) -> None:
        self.socket = f"citywatch-bench-{os.getpid()}-{width}x{height}"
        self.width, self.height, self.out = width, height, out

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, check=True, timeout=10).stdout

    def start(self, command: str) -> None:
        # No config file: the user's tmux.conf must not change what is measured.
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "bench",
                  "-x", str(self.width), "-y", str(self.height),
                  "-e", "COLORTERM=truecolor", command)
        self.tmux("pipe-pane", "-o", "-t", "bench", f"cat >> {self.out}")

    def pid(self) -> int:
        return int(self.tmux("list-panes", "-t", "bench", "-F", "#{pane_pid}").split()[0])

    def screen(self) -> list[str]:
        """The visible lines, with their colours (SGR sequences)."""
        return self.tmux("capture-pane", "-p", "-e", "-t", "bench").splitlines()

    def keys(self, key: str) -> None:
        self.tmux("send-keys", "-t", "bench", key)

    def stop(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10)

    def written(self) -> int:
        return self.out.stat().st_size if self.out.exists() else 0


# The full run after the first fixes only (2026-11-26 12:07 UTC: one-row cell repaints,
# alert queue applied once a second), before the covered-screen and title fixes.
AFTER_FIRST_FIX: dict[str, object] = {
    "80x24": {"first_screen_s": 3.24, "key_p50_ms": 168.7, "key_p95_ms": 1158.1,
              "cameras_screen_bytes_per_s": 4501, "alerts_screen_bytes_per_s": 70429},
    "200x60": {"first_screen_s": 3.82, "key_p50_ms": 293.8, "key_p95_ms": 1691.0,
               "cameras_screen_bytes_per_s": 9131, "alerts_screen_bytes_per_s": 198393},
}


# The run before the rows' cells were cached wherever the row is (2026-11-26 15:00 UTC,
# full run): sorts and the alert queue then rendered every cell on screen again.
BEFORE_ROW_CACHE_FIX: dict[str, object] = {
    "80x24": {"first_screen_s": 2.51, "key_p50_ms": 55.5, "key_p95_ms": 149.2,
              "key_p50_ms_by_key": {"Down": 22.1, "s": 66.9, "a": 224.3, "Escape": 135.3}},
    "200x60": {"first_screen_s": 2.79, "key_p50_ms": 92.4, "key_p95_ms": 390.5,
               "key_p50_ms_by_key": {"Down": 24.7, "s": 160.5, "a": 212.9, "Escape": 149.3}},
}


def plain(line: str) -> str:
    return SGR.sub("", line)


def wait_for(term: Terminal, test: Callable[[list[str]], bool],
             timeout: float) -> float | None:
    """Poll the screen until `test` holds; the monotonic time of that capture's end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = term.screen()
        if test(lines):
            return time.monotonic()
        time.sleep(POLL_S)
    return None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def steady(term: Terminal, pid: int, seconds: float,
           others: Mapping[str, int] | None = None) -> dict[str, float]:
    """Bytes/s written to the terminal and the app's CPU, no keys, RSS sampled each s;
    `others` (name -> pid: a remote hub) adds NAME_cpu_percent of those processes."""
    others = others or {}
    b0, c0, t0 = term.written(), cpu_s(pid), time.monotonic()
    others0 = {name: cpu_s(other) for name, other in others.items()}
    peak = rss_mb(pid)
    while time.monotonic() - t0 < seconds:
        time.sleep(1.0)
        peak = max(peak, rss_mb(pid))
    elapsed = time.monotonic() - t0
    figures = {
        "bytes_per_s": round((term.written() - b0) / elapsed),
        "cpu_percent": round(100 * (cpu_s(pid) - c0) / elapsed, 1),
        "rss_peak_mb": round(peak, 1),
    }
    for name, other in others.items():
        figures[f"{name}_cpu_percent"] = round(100 * (cpu_s(other) - others0[name]) / elapsed, 1)
    return figures


def cursor_marker(line: str) -> str:
    """The background colour of the cursor row (its first SGR with a 48; colour)."""
    found = re.search(r"48;2;\d+;\d+;\d+", line) or re.search(r"48;5;\d+", line)
    return found.group(0) if found else "\x1b[7m"


def key_plan(cycles: int) -> list[tuple[str, str, Callable[[list[str], str], bool]]]:
    """(label, tmux key, test(screen, cursor marker)) for every key, in order."""
    plan: list[tuple[str, str, Callable[[list[str], str], bool]]] = []
    camera = 1  # name sort, cursor on Camera 0001 at the start

    def on_row(n: int) -> Callable[[list[str], str], bool]:
        name = f"Camera {n:04d}"
        return lambda lines, mark: any(mark in ln and name in plain(ln) for ln in lines)

    def sorted_by(label: str) -> Callable[[list[str], str], bool]:
        # The summary line wraps when it is long (a remote title, maintenance counts).
        return lambda lines, mark: f"sort: {label}" in " ".join(
            plain(ln).strip() for ln in lines[:SUMMARY_LINES])

    def top_starts(word: str) -> Callable[[list[str], str], bool]:
        return lambda lines, mark: bool(lines) and plain(lines[0]).strip().startswith(word)

    for _ in range(cycles):
        for _ in range(5):
            camera += 1
            plan.append(("Down", "Down", on_row(camera)))
        for label in ("site", "state", "last seen", "name"):
            plan.append(("s", "s", sorted_by(label)))
        plan.append(("a", "a", top_starts("Alerts")))
        plan.append(("Escape", "Escape", top_starts("citywatch")))
    return plan


def camera_table_shown(lines: list[str]) -> bool:
    """The cameras screen with every camera loaded."""
    return (any("Camera 0001" in plain(ln) for ln in lines)
            and any(f"{CAMERAS} cameras" in plain(ln) for ln in lines))


def overview_shown(lines: list[str]) -> bool:
    """The overview (home screen) with every camera loaded: its title counts them and its
    panel of the worst cameras is drawn."""
    text = "\n".join(plain(ln) for ln in lines)
    return f"{CAMERAS} cameras" in text and "Worst cameras" in text


def quit_app(term: Terminal, pid: int) -> None:
    """Back to the cameras screen and `q`; wait (bounded) for the process to end."""
    term.keys("Escape")
    time.sleep(1.0)
    term.keys("q")
    deadline = time.monotonic() + START_TIMEOUT_S
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run_size(width: int, height: int, steady_s: float, cycles: int,
             profile: str | None = None, command: str | None = None,
             others: Mapping[str, int] | None = None, app_args: str = "") -> dict[str, object]:
    """One terminal size. `command` runs another TUI (default: this benchmark's app over
    its synthetic hub, with `app_args`; bench/tui_connect.py passes `citywatch tui
    --connect`); `others` as in steady()."""
    rng = random.Random(width)
    unexpected_screen: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        term = Terminal(width, height, Path(tmp) / "terminal.out")
        command = command or (
            f"cd {REPO} && exec {sys.executable} -m bench.tui_scale_app "
            f"--cameras {CAMERAS} --changes {CHANGES_PER_S} --alerts {ALERTS_PER_S} "
            f"{app_args}")
        if profile:
            command += f" --profile {profile}.{width}x{height}"
        t0 = time.monotonic()
        term.start(command)
        pid = 0
        try:
            first = wait_for(term, lambda ls: camera_table_shown(ls) or overview_shown(ls),
                             START_TIMEOUT_S)
            if first is None:
                raise RuntimeError(f"{width}x{height}: no first screen after "
                                   f"{START_TIMEOUT_S} s:\n" + "\n".join(term.screen()))
            on_overview = not camera_table_shown(term.screen())
            table = first
            if on_overview:  # the home screen of `citywatch tui`: the keys are the table's
                term.keys("c")
                table = wait_for(term, camera_table_shown, KEY_TIMEOUT_S)
                if table is None:
                    raise RuntimeError(f"{width}x{height}: `c` did not open the camera "
                                       "table:\n" + "\n".join(term.screen()))
            pid = term.pid()
            mark = cursor_marker(next(ln for ln in term.screen() if "Camera 0001" in plain(ln)))
            time.sleep(WARM_UP_S)
            # Again after the warm-up (a table just shown may draw its cursor unfocused
            # first); if the first row has gone, the keys will say so: keep the screen.
            at_keys = term.screen()
            first_row = [ln for ln in at_keys if "Camera 0001" in plain(ln)]
            if first_row:
                mark = cursor_marker(first_row[0])
            else:
                unexpected_screen = [plain(ln).rstrip() for ln in at_keys]
            cameras_screen = steady(term, pid, steady_s, others)
            # The key → screen latency, and the bare cost of one capture (tmux round trip).
            latencies: dict[str, list[float]] = {}
            missed: list[str] = []
            for label, key, test in key_plan(cycles):
                time.sleep(KEY_GAP_S + rng.random() * KEY_GAP_S)
                sent = time.monotonic()
                term.keys(key)
                seen = wait_for(term, lambda ls, t=test: t(ls, mark), KEY_TIMEOUT_S)
                if seen is None:
                    missed.append(label)
                    continue
                latencies.setdefault(label, []).append((seen - sent) * 1000)
            capture_ms = []
            for _ in range(20):
                c0 = time.monotonic()
                term.screen()
                capture_ms.append((time.monotonic() - c0) * 1000)
            every = [ms for values in latencies.values() for ms in values]
            rss_after_keys = rss_mb(pid)
            term.keys("a")
            wait_for(term, lambda ls: bool(ls) and plain(ls[0]).strip().startswith("Alerts"),
                     KEY_TIMEOUT_S)
            time.sleep(2.0)
            alerts_screen = steady(term, pid, steady_s, others)
            rss_end = rss_mb(pid)
        finally:
            if profile:  # the app writes its profile only when it quits normally
                quit_app(term, pid)
                shutil.copy(term.out, f"{profile}.{width}x{height}.out")
            term.stop()
    return {
        "first_screen_s": round(first - t0, 2),
        "first_screen": "overview" if on_overview else "cameras",
        "camera_table_s": round(table - t0, 2),  # after `c` when the overview came first
        "keys": len(every),
        "keys_missed": missed,
        "key_p50_ms": round(statistics.median(every), 1) if every else None,
        "key_p95_ms": round(percentile(every, 0.95), 1) if every else None,
        "key_max_ms": round(max(every), 1) if every else None,
        "key_p50_ms_by_key": {k: round(statistics.median(v), 1) for k, v in latencies.items()},
        "capture_round_trip_ms": round(statistics.median(capture_ms), 1),
        "steady_cameras_screen": cameras_screen,
        "steady_alerts_screen": alerts_screen,
        "rss_mb_after_keys": round(rss_after_keys, 1),
        "rss_mb_end": round(rss_end, 1),
        **({"screen_before_keys": unexpected_screen} if unexpected_screen else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steady", type=float, default=30.0, help="seconds per steady run")
    parser.add_argument("--cycles", type=int, default=4, help="key cycles (11 keys each)")
    parser.add_argument("--size", action="append", help="WxH (default 80x24 and 200x60)")
    parser.add_argument("--profile", help="path prefix: cProfile of the app and its "
                        "terminal output per size (PREFIX.WxH, PREFIX.WxH.out)")
    parser.add_argument("--app-args", default="", help="more arguments for "
                        "bench.tui_scale_app (e.g. --cameras N, --profile FILE)")
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.size] if args.size else SIZES
    results: dict[str, object] = {
        "mode": "in-process hub" + (f" (app {args.app_args})" if args.app_args else ""),
        "cameras": CAMERAS, "camera_changes_per_s": CHANGES_PER_S,
        "alert_changes_per_s": ALERTS_PER_S, "steady_s": args.steady, "targets": TARGETS,
    }
    for width, height in sizes:
        results[f"{width}x{height}"] = run_size(width, height, args.steady, args.cycles,
                                                args.profile, app_args=args.app_args)
    results["before_row_cache_fix"] = BEFORE_ROW_CACHE_FIX
    results["before_fix"] = BEFORE_FIX
    results["after_first_fix"] = AFTER_FIRST_FIX
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
