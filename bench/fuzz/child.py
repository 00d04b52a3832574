"""One target in its own process: `python -m bench.fuzz.child TARGET SECONDS ENGINE OUT`.

With atheris, libFuzzer drives the target (coverage of drivers, hub and simulator
instrumented at import) and never returns: the input callback itself writes the figures
to OUT and leaves with os._exit once SECONDS are up. Crashes are caught and recorded by
the Recorder, so one bad input does not end the run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Above the run's own deadline: libFuzzer's own stop, should the callback's not come.
LIBFUZZER_GRACE_S = 60
# Inputs libFuzzer may grow to: the largest seed (a scenario file) with room to change.
MAX_LEN = 64 * 1024


def _targets() -> dict[str, Any]:
    from bench.fuzz.targets import TARGETS
    from bench.fuzz.targets_rtsp import RTSP_TARGETS

    return {t.name: t for t in (*TARGETS, *RTSP_TARGETS)}


def _write(out: Path, figures: dict[str, Any]) -> None:
    out.write_text(json.dumps(figures))


def run_atheris(name: str, seconds: float, out: Path, crash_dir: Path) -> None:
    import atheris

    with atheris.instrument_imports(include=["drivers", "hub", "simulator"]):
        targets = _targets()
    from bench.fuzz.engine import Recorder

    recorder = Recorder(targets[name], crash_dir)
    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    for i, seed in enumerate(recorder.target.seeds()):
        (corpus / f"seed-{i}").write_bytes(seed)
    start = time.monotonic()

    def one_input(data: bytes) -> None:
        recorder.run(data)
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            _write(out, recorder.figures(elapsed, "atheris"))
            sys.stdout.flush()
            os._exit(0)

    atheris.Setup([sys.argv[0], f"-max_total_time={int(seconds) + LIBFUZZER_GRACE_S}",
                   f"-max_len={MAX_LEN}", "-rss_limit_mb=4096", str(corpus)], one_input)
    atheris.Fuzz()


def run_random(name: str, seconds: float, out: Path, crash_dir: Path) -> None:
    from bench.fuzz.engine import Recorder, fuzz_random

    recorder = Recorder(_targets()[name], crash_dir)
    spent = fuzz_random(recorder, seconds)
    _write(out, recorder.figures(spent, "random"))


def main() -> None:
    name, seconds, engine, out, crash_dir = sys.argv[1:6]
    runner = run_atheris if engine == "atheris" else run_random
    runner(name, float(seconds), Path(out), Path(crash_dir))


if __name__ == "__main__":
    main()
