"""`make bench`: run every benchmark and rewrite bench/RESULTS.md.

Each benchmark is a module printing one JSON line; it runs as its own process so that
one's warm caches do not flatter the next.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS: tuple[tuple[str, str], ...] = (
    ("bench.startup", "Demo start-up: time until every Hasselt camera has a verdict "
                      "(simulator + hub in one process, as in `citywatch demo`)"),
    ("bench.onvif_connect", "Full ONVIF read of every healthy Hasselt camera: our driver vs. "
                            "the library's ONVIFCamera (simulator in a child process)"),
    ("bench.stream_health", "CPU per stream: our stream-health sampler (RTP and PyAV "
                            "engines) vs. a full decode by ffmpeg, same streams, and the RTP "
                            "sampler's CPU for a city's 230 sub-streams"),
    ("bench.rtsp_server_cost", "CPU per stream of the simulator's RTSP server serving N "
                               "sessions (server in a child process)"),
    ("bench.stream_latency", "Detection and recovery latency per stream fault type, and "
                             "state changes per fault: small city + hub health engine "
                             "(production thresholds), repeated injections"),
    ("bench.stream_workers", "Event-loop lag and CPU of a hub sampling the Hasselt city's "
                             "258 streams: samplers in the hub's process vs. in 1 and 2 worker "
                             "processes (city + hub in each run, no TUI)"),
    ("bench.matcher", "Hotlists: load time of 1M-entry AutoVu and CSV files, index build, "
                      "reads/s vs. a naive one-substitution matcher, and misread recall / false "
                      "hits vs. the one-substitution baseline"),
    ("bench.ingest", "Read ingestion over HTTP into `citywatch serve` (child process) with a "
                     "1M-entry hotlist: reads/s (single and batched) vs. an aiohttp server that "
                     "does nothing (HTTP ceiling), and ack latency at a paced 1,000 reads/s"),
    ("bench.search", "Partial plate search over 10M stored reads: our indexed search vs. a "
                     "LIKE scan of the reads table, same patterns, p50/p99"),
    ("bench.sim_alpr", "Simulated ALPR units at 50 reads/s: event-loop lag vs. an idle loop, "
                       "CPU per read, delivery (hub stand-in in a child process)"),
    ("bench.durability", "kill -9 durability: reads at a paced 1,000/s into `citywatch serve` "
                         "(child process, hotlist imported), SIGKILL at a random moment, "
                         "restart on the same data dir, acknowledged reads and alerts "
                         "missing (target 0); restart time vs. the cold start"),
    ("bench.soak", "Soak: the Hasselt scenario (1 h of scenario time) at 10x, RSS, open "
                   "fds/sockets and asyncio tasks of its process sampled every 10 s and "
                   "plotted to bench/soak.png (targets: RSS growth <10% after warm-up, no "
                   "growing fd/task counts, every expectation passes)"),
    ("bench.sim_cost", "Simulator cost: CPU of `citywatch sim` on the Hasselt scenario at "
                       "real time with its sub-streams played (target <=60% of 2 cores), and "
                       "the largest generated city whose loop keeps real time (loop lag p95 "
                       "<100 ms, CPU <100% of 2 cores; target >=1,000 cameras)"),
    ("bench.tui_scale", "TUI at city scale: the real `citywatch` TUI in tmux (80x24, 200x60) "
                        "over a synthetic in-process hub of 1,000 cameras (20 changes/s) and "
                        "50 alert changes/s: start to first screen, key to screen p50/p95, "
                        "RSS, bytes/s written to the terminal (tmux pipe-pane) at steady "
                        "state (the same over the network: bench.tui_connect)"),
    ("bench.tui_connect", "TUI at city scale over the network: the real `citywatch tui "
                          "--connect` in tmux (80x24, 200x60) on `citywatch serve` (child "
                          "process) of 1,000 cameras, load over the API (20 camera changes/s "
                          "as maintenance on/off, 50 alert changes/s as hotlisted reads and "
                          "transitions): same figures as bench.tui_scale plus the hub's CPU, "
                          "vs. the in-process TUI of bench.tui_scale in the same run"),
    ("bench.fuzz", "Fuzzing: every parser of outside input under atheris (coverage-guided), "
                   "60 s per target: executions, crashes (0 is the target), rejections by "
                   "reason"),
)


def machine() -> str:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return (f"{platform.machine()}, {os.cpu_count()} cores, {mem_kb / 1048576:.1f} GiB, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def _sections(text: str) -> dict[str, str]:
    """The "## module" sections of an existing RESULTS.md, by module."""
    found: dict[str, str] = {}
    for chunk in text.split("\n## ")[1:]:
        name = chunk.split("\n", 1)[0].strip()
        found[name] = "## " + chunk.rstrip() + "\n"
    return found


def _run_one(module: str, title: str) -> tuple[str, bool]:
    command = f"{Path(sys.executable).name} -m {module}"
    print(f"running {command} ...", file=sys.stderr, flush=True)
    proc = subprocess.run([sys.executable, "-m", module], capture_output=True, text=True,
                          cwd=HERE.parent)
    when = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    lines = [f"## {module}", "", title, "", f"Command: `{command}` (run {when})", ""]
    if proc.returncode != 0:
        lines += ["FAILED:", "", "```", proc.stderr.strip()[-2000:], "```", ""]
        return "\n".join(lines), False
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    lines += ["```json", json.dumps(figures, indent=2), "```", ""]
    return "\n".join(lines), True


def main(argv: list[str] | None = None) -> int:
    """`python -m bench` runs every benchmark; `python -m bench MODULE...` reruns only
    those and keeps the other sections of RESULTS.md as they were."""
    wanted = argv if argv is not None else sys.argv[1:]
    titles = dict(BENCHMARKS)
    unknown = [m for m in wanted if m not in titles]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(titles)}",
              file=sys.stderr)
        return 2
    results = HERE / "RESULTS.md"
    fresh: dict[str, str] = {}
    failed = 0
    for module, title in BENCHMARKS:
        if wanted and module not in wanted:
            continue
        section, ok = _run_one(module, title)
        failed += not ok
        fresh[module] = section
    # Read the file only now, under a lock: benchmarks run for minutes, and another
    # `python -m bench MODULE` may have written its own section meanwhile.
    with open(HERE / ".RESULTS.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kept = _sections(results.read_text()) if wanted and results.exists() else {}
        lines = [
            "# Benchmark results",
            "",
            f"Written by `make bench` (all) or `python -m bench MODULE...` (some); last "
            f"written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; each section says when it "
            "ran.",
            f"Machine: {machine()}. Machines here are shared and noisy: compare ratios "
            "measured in the same run, not absolute figures across runs.",
            "",
        ]
        for module, _ in BENCHMARKS:
            if module in fresh:
                lines.append(fresh[module])
            elif module in kept:
                lines.append(kept[module])
        # Sections of benchmarks this runner does not list (written by a newer one) stay.
        lines += [text for name, text in kept.items() if name not in dict(BENCHMARKS)]
        results.write_text("\n".join(lines))
    print(f"wrote {results}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
