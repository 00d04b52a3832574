"""Soak: the Hasselt scenario at 10x, its process sampled every 10 s from outside.

Runs ``citywatch scenario run scenarios/hasselt.toml --speed 10 --check --json`` as a
child process. Hub and simulator share that process (the main process); the hub's stream
samplers run in worker processes (hub/cli.py STREAM_WORKERS), sampled as its descendants.
Every SAMPLE_EVERY_S: RSS (VmRSS), open fds and, of those, sockets (/proc/PID/fd), of the
main process and of the workers (summed); the main process's asyncio task count comes from
the run itself (hub/scenario_command.py appends it to $CITYWATCH_TASK_LOG every 10 s).
Plots the four series to bench/soak.png and prints one JSON line: RSS after the warm-up
and at the end, growth, fd/socket/task maxima and their slope over the second half, and
the scenario's verdict (expectations passed / total).

The scenario is one hour of scenario time: at 10x about six real minutes plus the
expectation windows (what `make bench` runs). ``--real-minutes 60`` stretches the
scenario's duration (a copy of the file with `[scenario] duration` changed; its timeline
and expectations stay as written, the city keeps running) so that the soak lasts a real
hour at the speed: 10 h of scenario time at 10x.

    .venv/bin/python -m bench.soak [--speed 10] [--scenario scenarios/hasselt.toml]
                                   [--real-minutes 60]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PNG = Path(__file__).resolve().parent / "soak.png"
SAMPLE_EVERY_S = 10.0  # the sampling period
WARM_UP_S = 120.0  # RSS growth is measured from here: the city and hub are up by then
RUN_LIMIT_S = 3 * 3600.0  # a run that takes this long is hung: kill it
TASK_LOG_ENV = "CITYWATCH_TASK_LOG"  # hub/scenario_command.py TASK_LOG_ENV


@dataclass(frozen=True)
class Sample:
    t_s: float
    rss_mb: float  # main process (hub + simulator)
    fds: int
    sockets: int
    tasks: int | None  # asyncio tasks of the main process, last reported
    workers: int  # descendant processes (stream workers)
    workers_rss_mb: float
    workers_fds: int
    workers_sockets: int
    cpu_s: float  # CPU seconds (user + system) so far: main process
    workers_cpu_s: float  # and its workers (those alive now)


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_fds(pid: int) -> tuple[int, int]:
    """(open fds, of which sockets) of `pid`."""
    fd_dir = f"/proc/{pid}/fd"
    fds = sockets = 0
    for name in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{name}")
        except OSError:  # closed between listdir and readlink
            continue
        fds += 1
        sockets += target.startswith("socket:")
    return fds, sockets


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        children = [c for c, parent in parents.items() if parent == p]
        found += children
        frontier += children
    return found


def _last_tasks(path: Path) -> int | None:
    try:
        lines = path.read_text().split()
    except OSError:
        return None
    return int(lines[-1]) if len(lines) >= 2 else None


def _sample(pid: int, t_s: float, task_log: Path) -> Sample | None:
    try:
        rss = _proc_rss_mb(pid)
        fds, sockets = _proc_fds(pid)
        cpu = _proc_cpu_s(pid)
    except OSError:  # the process is gone
        return None
    w_rss, w_fds, w_sockets, workers, w_cpu = 0.0, 0, 0, 0, 0.0
    for child in _descendants(pid):
        try:
            w_rss += _proc_rss_mb(child)
            f, s = _proc_fds(child)
            w_cpu += _proc_cpu_s(child)
        except OSError:
            continue
        workers += 1
        w_fds += f
        w_sockets += s
    return Sample(round(t_s, 1), round(rss, 1), fds, sockets, _last_tasks(task_log), workers,
                  round(w_rss, 1), w_fds, w_sockets, round(cpu, 2), round(w_cpu, 2))


def _slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (per minute) of (seconds, value) points."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return 60 * sum((t - mx) * (v - my) for t, v in points) / var


def summarise(samples: list[Sample]) -> dict[str, Any]:
    warm = next((s for s in samples if s.t_s >= WARM_UP_S), samples[-1])
    end = samples[-1]
    second_half = [s for s in samples if s.t_s >= end.t_s / 2]

    def total_rss(s: Sample) -> float:
        return s.rss_mb + s.workers_rss_mb

    def trend(key: str) -> float:
        pts = [(s.t_s, float(v)) for s in second_half if (v := getattr(s, key)) is not None]
        return round(_slope_per_min(pts), 3)

    def floor_trend(key: str) -> float:
        """Slope of the per-minute minima: fd and task counts spike for a few seconds
        around the hub's polls, and a spike in the last samples tilts a plain fit."""
        by_minute: dict[int, list[float]] = {}
        for s in second_half:
            if (v := getattr(s, key)) is not None:
                by_minute.setdefault(int(s.t_s // 60), []).append(float(v))
        # Partial minutes (the run's first and last) have too few samples for a floor.
        full = 60 / SAMPLE_EVERY_S - 2
        points = [(60.0 * m, min(vs)) for m, vs in by_minute.items() if len(vs) >= full]
        return round(_slope_per_min(points), 3)

    tasks = [s.tasks for s in samples if s.tasks is not None]
    span = end.t_s - warm.t_s or 1.0
    return {
        "samples": len(samples),
        "duration_s": end.t_s,
        "rss_mb_warm": warm.rss_mb, "rss_mb_end": end.rss_mb,
        "rss_growth_pct": round(100 * (end.rss_mb - warm.rss_mb) / warm.rss_mb, 1),
        "rss_mb_warm_incl_workers": round(total_rss(warm), 1),
        "rss_mb_end_incl_workers": round(total_rss(end), 1),
        "rss_growth_pct_incl_workers": round(
            100 * (total_rss(end) - total_rss(warm)) / total_rss(warm), 1),
        "rss_slope_mb_per_min_second_half": trend("rss_mb"),
        "fds_max": max(s.fds for s in samples),
        "fds_slope_per_min_second_half": trend("fds"),
        "fds_floor_slope_per_min_second_half": floor_trend("fds"),
        "sockets_max": max(s.sockets for s in samples),
        "sockets_slope_per_min_second_half": trend("sockets"),
        "sockets_floor_slope_per_min_second_half": floor_trend("sockets"),
        "workers_fds_max": max(s.workers_fds for s in samples),
        "workers_fds_slope_per_min_second_half": trend("workers_fds"),
        "workers_fds_floor_slope_per_min_second_half": floor_trend("workers_fds"),
        "main_cpu_pct_of_one_core_after_warm_up": round(100 * (end.cpu_s - warm.cpu_s) / span),
        "workers_cpu_pct_of_one_core_after_warm_up": round(
            100 * (end.workers_cpu_s - warm.workers_cpu_s) / span),
        "tasks_max": max(tasks) if tasks else None,
        "tasks_slope_per_min_second_half": trend("tasks"),
        "tasks_floor_slope_per_min_second_half": floor_trend("tasks"),
    }


def _cpu_pct(cpu_s: list[float], samples: list[Sample]) -> list[float | None]:
    """CPU % of one core between consecutive samples."""
    out: list[float | None] = [None]
    for i in range(1, len(samples)):
        dt = samples[i].t_s - samples[i - 1].t_s
        out.append(max(0.0, 100 * (cpu_s[i] - cpu_s[i - 1]) / dt) if dt > 0 else None)
    return out


def plot(samples: list[Sample], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the PNG only
    import matplotlib.pyplot as plt

    t = [s.t_s / 60 for s in samples]
    series = [
        ("RSS (MB)", [("hub + simulator", [s.rss_mb for s in samples]),
                      ("stream workers", [s.workers_rss_mb for s in samples])]),
        ("open fds", [("hub + simulator", [s.fds for s in samples]),
                      ("stream workers", [s.workers_fds for s in samples])]),
        ("open sockets", [("hub + simulator", [s.sockets for s in samples]),
                          ("stream workers", [s.workers_sockets for s in samples])]),
        ("asyncio tasks", [("hub + simulator", [s.tasks for s in samples])]),
        ("CPU (% of one core)", [("hub + simulator", _cpu_pct([s.cpu_s for s in samples],
                                                              samples)),
                                 ("stream workers", _cpu_pct([s.workers_cpu_s
                                                              for s in samples], samples))]),
    ]
    fig, axes = plt.subplots(len(series), 1, figsize=(9, 12), sharex=True)
    for ax, (label, lines) in zip(axes, series, strict=True):
        for name, values in lines:
            ax.plot(t, [float("nan") if v is None else v for v in values], label=name,
                    marker=".")
        ax.axvline(WARM_UP_S / 60, color="grey", linestyle=":", label="end of warm-up")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
    axes[-1].set_xlabel("minutes since start")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def alpr_delivery(data_dir: Path, speed: float) -> dict[str, Any]:
    """From the hub's store after the run: per ALPR camera, reads stored and the worst
    delay between a read's scenario time and its arrival at the hub, in real seconds
    (a unit that posts slower than it reads falls behind: its reads arrive late)."""
    import sqlite3
    from datetime import datetime

    store = next(data_dir.glob("*.sqlite3"), None)
    if store is None:
        return {}
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT camera_id, source, at, received_at FROM reads").fetchall()
    worst: dict[str, tuple[int, float, str]] = {}
    for camera, source, at, received in rows:
        delay = 0.0
        if received is not None:
            delay = (datetime.fromisoformat(received)
                     - datetime.fromisoformat(at)).total_seconds() / speed
        n, d, _ = worst.get(camera, (0, 0.0, source))
        worst[camera] = (n + 1, max(d, delay), source)
    ranked = sorted(worst.items(), key=lambda kv: -kv[1][1])
    return {
        "reads_stored": len(rows),
        "worst_delivery_delay_real_s": [
            {"camera": c, "source": src, "reads": n, "max_delay_s": round(d, 1)}
            for c, (n, d, src) in ranked[:5]],
    }


def _verdict(stdout: str) -> dict[str, Any]:
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        return {"expectations": "no JSON report", "report_tail": stdout[-500:]}
    exps = report.get("expectations", [])
    passed = sum(1 for e in exps if e.get("passed"))
    late = [e.get("late_s") for e in report.get("events", []) if e.get("late_s") is not None]
    return {
        "expectations": f"{passed}/{len(exps)}",
        "failed": [f"{e['id']}: {e.get('detail')}" for e in exps if not e.get("passed")],
        "timeline_late_s_max": max(late) if late else None,
    }


DURATION_LINE = re.compile(r'^duration\s*=\s*"[^"]*"', re.MULTILINE)


def stretched(scenario: Path, scenario_s: float, into: Path) -> Path:
    """A copy of `scenario` in `into` whose [scenario] duration is `scenario_s`."""
    text = scenario.read_text()
    head, sep, rest = text.partition("\n[[")  # [scenario] comes before the first array
    if DURATION_LINE.search(head) is None:
        raise SystemExit(f"soak: no [scenario] duration line in {scenario}")
    head = DURATION_LINE.sub(f'duration = "{scenario_s:.0f}s"', head, count=1)
    copy = into / scenario.name
    copy.write_text(head + sep + rest)
    return copy


def run(scenario: Path, speed: float, real_minutes: float | None = None) -> dict[str, Any]:
    citywatch = Path(sys.executable).parent / "citywatch"
    with tempfile.TemporaryDirectory(prefix="citywatch-soak-") as tmp:
        scenario_s = 3600.0
        if real_minutes is not None:
            scenario_s = real_minutes * 60 * speed
            scenario = stretched(scenario, scenario_s, Path(tmp))
        data_dir = Path(tmp) / "hub"
        command = [str(citywatch), "scenario", "run", str(scenario), "--speed", f"{speed:g}",
                   "--check", "--json", "--data-dir", str(data_dir)]
        task_log = Path(tmp) / "tasks.log"
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        env = {**os.environ, TASK_LOG_ENV: str(task_log)}
        samples: list[Sample] = []
        with out.open("w") as fout, err.open("w") as ferr:
            t0 = time.monotonic()
            proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=fout, stderr=ferr)
            try:
                while proc.poll() is None and time.monotonic() - t0 < RUN_LIMIT_S:
                    s = _sample(proc.pid, time.monotonic() - t0, task_log)
                    if s is not None and proc.poll() is None:
                        samples.append(s)
                    next_at = t0 + len(samples) * SAMPLE_EVERY_S
                    while proc.poll() is None and time.monotonic() < next_at:
                        time.sleep(0.2)
            finally:
                if proc.poll() is None:
                    proc.kill()
                code = proc.wait()
        stdout = out.read_text()
        stderr = err.read_text()
        delivery = alpr_delivery(data_dir, speed)
    if not samples:
        raise SystemExit(f"soak: no samples; exit {code}; stderr: {stderr[-1000:]}")
    title = f"soak: {scenario.name} at {speed:g}x ({len(samples)} samples every " \
            f"{SAMPLE_EVERY_S:g} s)"
    png = PNG if real_minutes is None else PNG.with_name(f"soak-{real_minutes:g}min.png")
    plot(samples, png, title)
    result = {
        "command": " ".join(["citywatch", *command[1:-2]]) + " --data-dir TMP",
        "note": f"the scenario lasts {scenario_s / 3600:g} h of scenario time: "
                f"{scenario_s / speed / 60:.0f} real minutes at this speed plus the "
                "expectation windows; the tasks are the "
                "main process's (hub + simulator), the workers' are not counted",
        "exit_code": code,
        **summarise(samples),
        **_verdict(stdout),
        "alpr": delivery,
        "targets": "RSS growth < 10% after warm-up; no growing fd/socket/task counts; "
                   "every expectation passes",
        "plot": str(png.relative_to(REPO)),
        "series": [asdict(s) for s in samples],
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=Path("scenarios/hasselt.toml"))
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--real-minutes", type=float, default=None,
                        help="stretch the scenario so that the soak lasts this long")
    args = parser.parse_args()
    result = run(args.scenario, args.speed, args.real_minutes)
    # RESULTS.md keeps the summary; the series go to a temporary file for a closer look.
    series = result.pop("series")
    kept = Path(tempfile.gettempdir()) / "citywatch-soak-series.json"
    kept.write_text(json.dumps(series) + "\n")
    result["series_file"] = str(kept)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
