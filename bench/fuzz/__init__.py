"""Fuzz targets for every parser of outside input, and their runner (`python -m bench.fuzz`).

Each target (bench.fuzz.targets, bench.fuzz.targets_rtsp) takes one input of bytes, calls
the parser and checks its contract: a value, or only the parser's documented rejection
(its error type, or a count with a reason). It returns the reasons of what was rejected;
anything else it raises is a crash. The runner drives the targets with atheris (coverage
guided, libFuzzer) when it is installed (`pip install -e '.[fuzz]'`), else with a plain
random mutator over the same seed inputs (bench.fuzz.engine).
"""
