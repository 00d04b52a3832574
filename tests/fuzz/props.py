"""What the property tests of tests/fuzz share: bounded settings and text strategies."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# A few seconds per test on this machine: enough examples to reach past the first checks
# of each parser; the long, coverage-guided runs are bench/fuzz.
BOUNDED = settings(max_examples=100, deadline=None, derandomize=False,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.filter_too_much])

# Text an XML document can carry (no control characters, no surrogates): documents built
# from it are well-formed, so the tests reach the parsers' own checks, not lxml's.
xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), max_size=12)
any_text = st.text(max_size=12)


def attr(value: str) -> str:
    return quoteattr(value)


def text(value: str) -> str:
    return escape(value)
