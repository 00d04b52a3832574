"""Property tests of every parser of outside input (issue 10, fuzzing), each bounded to a few
seconds; the long runs of the same parsers are bench/fuzz (`python -m bench.fuzz`)."""
