"""The ALPR picture caches stay small however many distinct plates a long run reads
(issue 10: 4,096 cached crops and overviews grew the soak's RSS for its whole hour)."""

from __future__ import annotations

from simulator.alpr_render import CACHE_SIZE, render_crop, render_overview

# What the two caches may hold together: crops are 3-6 kB, overviews 8-12 kB.
CACHE_BUDGET_BYTES = 5 * 2**20
READINGS = 600  # distinct readings: more than the cache keeps, as in an hour of Hasselt


def test_render_caches_hold_at_most_a_few_megabytes_of_jpegs() -> None:
    render_crop.cache_clear()
    render_overview.cache_clear()
    held: dict[str, list[int]] = {"crop": [], "overview": []}
    for i in range(READINGS):
        text = f"1-SOK-{i:03d}"
        held["crop"].append(len(render_crop(text, "BE")))
        held["overview"].append(len(render_overview(text, "BE")))
    crops, overviews = render_crop.cache_info(), render_overview.cache_info()
    assert crops.currsize == overviews.currsize == min(READINGS, CACHE_SIZE)
    # An LRU cache keeps the newest `currsize` results.
    cached = sum(held["crop"][-crops.currsize:]) + sum(held["overview"][-overviews.currsize:])
    assert cached <= CACHE_BUDGET_BYTES, f"{cached / 2**20:.1f} MB of cached JPEGs"
    # Still a cache: the same reading again is not rendered again.
    render_crop(f"1-SOK-{READINGS - 1:03d}", "BE")
    assert render_crop.cache_info().hits == crops.hits + 1
