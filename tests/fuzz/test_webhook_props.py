"""Webhook JSON: the recorded vendor payloads of tests/data/alpr mutated at every path.

tests/drivers/test_alpr.py already fuzzes the parsers with random bytes, random JSON and
dictionaries of the keys they read; here each real payload keeps its structure while one
to three of its values (at any depth) are replaced, removed or retyped, so the parsers'
deep paths (best_plate, candidates, results[i].region, hook.data) meet odd values.
Contract: a ParsedPayload whose reads are sane, or only AlprPayloadError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bench.fuzz.targets import CITYWATCH_READ, WEBHOOK_PARSERS, _check_payload, run_webhook
from drivers.alpr import ParsedPayload, parse_citywatch
from drivers.errors import AlprPayloadError
from tests.fuzz.props import BOUNDED

ALPR = Path(__file__).resolve().parents[1] / "data" / "alpr"
SAMPLES = [json.loads(p.read_bytes()) for p in sorted(ALPR.glob("*/*.json"))] + [
    json.loads(CITYWATCH_READ)]

# Longest rejection message: errors quote at most 40 characters of a value.
MAX_MESSAGE_CHARS = 300

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False) | st.text(max_size=10)
    | st.sampled_from(["", " ", "2024-06-15T12:00:00Z", "2024-06-15 12:00", "1e999", "-0",
                       "NaN", "us-ca", "1-ABC-234", "\u0000", "data:image/jpeg;base64,/9j/"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=3),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (keys and indices), the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replace(doc: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not path:
        return new
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return doc


@st.composite
def mutated(draw: Any) -> tuple[int, bytes]:
    doc = json.loads(json.dumps(draw(st.sampled_from(SAMPLES))))  # a deep copy
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(doc)))
        doc = replace(doc, where, draw(json_values), delete=bool(where) and draw(st.booleans()))
    return draw(st.integers(0, len(WEBHOOK_PARSERS) - 1)), json.dumps(doc).encode()


@BOUNDED
@given(mutated())
def test_mutated_real_payloads(case: tuple[int, bytes]) -> None:
    which, body = case
    try:
        payload = WEBHOOK_PARSERS[which](body)
    except AlprPayloadError as exc:
        # A message for the sender, short: it never quotes image data or a whole body.
        assert 0 < len(str(exc)) < MAX_MESSAGE_CHARS
        return
    _check_payload(payload)


@BOUNDED
@given(st.sampled_from(SAMPLES), st.integers(0, 2), st.data())
def test_real_payloads_cut_anywhere(doc: Any, which: int, data: st.DataObject) -> None:
    body = json.dumps(doc).encode()
    cut = data.draw(st.integers(0, len(body)))
    assert run_webhook(bytes([which]) + body[:cut]) is not None


@BOUNDED
@given(st.integers(1, 5), st.sampled_from(["plate", "time", "camera", "lat", "images"]),
       json_values)
def test_one_bad_read_rejects_the_whole_batch(size: int, key: str, value: Any) -> None:
    good = {"plate": "1-ABC-234", "time": "2024-06-15T12:00:00Z", "camera": "cam-1"}
    reads = [dict(good) for _ in range(size)]
    reads[-1][key] = value
    try:
        payload = parse_citywatch(json.dumps({"reads": reads}).encode())
    except AlprPayloadError:
        return
    # Accepted: then the odd value was a valid one, and every read of the batch is in.
    assert isinstance(payload, ParsedPayload) and len(payload.reads) == size
