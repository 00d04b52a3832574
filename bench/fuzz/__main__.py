"""`python -m bench.fuzz [--seconds N] [--engine auto|atheris|random] [--targets a,b]`:
run each fuzz target for N seconds in its own process and print one JSON line of figures
(executions, crashes by kind with a reproducer file, rejections by reason).

`python -m bench.fuzz --replay FILE` runs one saved input (bench/fuzz/crashes/TARGET-*.bin)
through its target and shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CRASH_DIR = HERE / "crashes"
DEFAULT_SECONDS = 60.0  # per target: the "longer fuzz runs"
# A child gets this much beyond its own seconds (imports, seeds, FFmpeg encodes) before
# it counts as hung.
CHILD_GRACE_S = 120
TOP_REASONS = 12  # reasons per target in the summary line (the child's file has all)


def _contracts() -> dict[str, str]:
    """Each target's contract by name (what counts as a crash)."""
    from bench.fuzz.targets import TARGETS
    from bench.fuzz.targets_rtsp import RTSP_TARGETS

    return {t.name: t.contract for t in (*TARGETS, *RTSP_TARGETS)}


def _engine(wanted: str) -> str:
    if wanted != "auto":
        return wanted
    return "atheris" if importlib.util.find_spec("atheris") is not None else "random"


def _run_child(name: str, seconds: float, engine: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        out = Path(tmp) / "figures.json"
        log = Path(tmp) / "child.log"
        command = [sys.executable, "-m", "bench.fuzz.child", name, str(seconds), engine,
                   str(out), str(CRASH_DIR)]
        env = {**os.environ, "PYTHONPATH": str(HERE.parents[1])}
        try:
            with log.open("wb") as sink:
                proc = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT,
                                      timeout=seconds + CHILD_GRACE_S, cwd=HERE.parents[1],
                                      env=env, check=False)
        except subprocess.TimeoutExpired:
            return {"error": f"hung: no end after {seconds + CHILD_GRACE_S:.0f} s"}
        if not out.exists():
            tail = log.read_text(errors="replace")[-1500:]
            return {"error": f"exit {proc.returncode} without figures", "log_tail": tail}
        figures: dict[str, Any] = json.loads(out.read_text())
        return figures


def _replay(path: Path) -> int:
    from bench.fuzz.targets import TARGETS
    from bench.fuzz.targets_rtsp import RTSP_TARGETS

    name = path.name.split("-", 1)[0]  # TARGET-crash-HASH.bin, TARGET-slow-HASH.bin
    target = {t.name: t for t in (*TARGETS, *RTSP_TARGETS)}[name]
    print(target.run(path.read_bytes()))  # raises with the traceback when it still crashes
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                        help="seconds per target (default %(default)s)")
    parser.add_argument("--engine", choices=("auto", "atheris", "random"), default="auto")
    parser.add_argument("--targets", default="", help="comma-separated (default: all)")
    parser.add_argument("--replay", type=Path, help="run one saved crash input")
    args = parser.parse_args(argv)
    if args.replay is not None:
        return _replay(args.replay)
    contracts = _contracts()
    names = list(contracts)
    wanted = [n for n in args.targets.split(",") if n] or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(names)}")
    engine = _engine(args.engine)
    results: dict[str, Any] = {}
    for name in wanted:
        print(f"fuzzing {name} for {args.seconds:g} s ({engine}) ...", file=sys.stderr,
              flush=True)
        figures = _run_child(name, args.seconds, engine)
        if "reasons" in figures:
            figures["reason_kinds"] = len(figures["reasons"])
            figures["reasons"] = dict(list(figures["reasons"].items())[:TOP_REASONS])
        results[name] = {"contract": contracts[name], **figures}
    summary = {
        "engine": engine,
        "seconds_per_target": args.seconds,
        "executions": sum(r.get("executions", 0) for r in results.values()),
        "crashes": sum(r.get("crashes", 0) for r in results.values()),
        "failed_runs": sorted(n for n, r in results.items() if "error" in r),
        "targets": results,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
