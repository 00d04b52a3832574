"""`make bench`: run every benchmark and rewrite bench/RESULTS.md.

Each benchmark is a module printing one JSON line; it runs as its own process so that
one's warm caches do not flatter the next.
"""

from __future__ import annotations

import datetime as dt
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
    ("bench.stream_health", "CPU per stream: our stream-health sampler vs. a full decode by "
                            "ffmpeg, same streams, and the sampler's CPU for a city's 230 "
                            "sub-streams"),
    ("bench.rtsp_server_cost", "CPU per stream of the simulator's RTSP server serving N "
                               "sessions (server in a child process)"),
    ("bench.stream_latency", "Detection and recovery latency per stream fault type, and "
                             "state changes per fault: small city + hub health engine "
                             "(production thresholds), repeated injections"),
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


def main() -> int:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}. Machines here are shared and noisy: compare ratios "
        "measured in the same run, not absolute figures across runs.",
        "",
    ]
    failed = 0
    for module, title in BENCHMARKS:
        command = f"{Path(sys.executable).name} -m {module}"
        print(f"running {command} ...", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, "-m", module], capture_output=True, text=True,
                              cwd=HERE.parent)
        lines += [f"## {module}", "", title, "", f"Command: `{command}`", ""]
        if proc.returncode != 0:
            failed += 1
            lines += ["FAILED:", "", "```", proc.stderr.strip()[-2000:], "```", ""]
            continue
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
        lines += ["```json", json.dumps(figures, indent=2), "```", ""]
    (HERE / "RESULTS.md").write_text("\n".join(lines))
    print(f"wrote {HERE / 'RESULTS.md'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
