"""The client-side throttle: one token bucket for HubSpot's two limits at their true rates.

A simulated clock (the bucket's `clock` and `sleep` are injected), so the figures are counts
of admitted requests, never timings of this machine. The run against the emulator with its
free-tier limits on is tests/test_hubspot_faults.py::test_client_side_throttle_avoids_429s.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from connector.crm.hubspot.http import Throttle
from connector.crm.hubspot.settings import TIERS


class SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def greedy_run(tier: str, seconds: float, is_search: Callable[[int], bool]) -> tuple[list[float], list[float]]:
    """Acquire as fast as the bucket allows for `seconds`: the times of all requests and of the searches."""
    clock = SimClock()
    per_10s, search_per_s = TIERS[tier]
    bucket = Throttle(per_10s, search_per_s, 0.9, clock=clock, sleep=clock.sleep)
    times: list[float] = []
    searches: list[float] = []
    i = 0
    while clock.now < seconds:
        search = is_search(i)
        bucket.acquire(search)
        times.append(clock.now)
        if search:
            searches.append(clock.now)
        clock.now += 0.0005  # the request itself
        bucket.answered(search)
        i += 1
    return times, searches


def most_in_window(times: list[float], span: float) -> int:
    """The most events in any half-open window of `span` seconds (HubSpot's rolling count)."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - span:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize("tier", ["free", "pro"])
@pytest.mark.parametrize("mix", ["writes", "searches", "alternating", "random"])
def test_the_bucket_keeps_both_limits_at_the_true_rates(tier: str, mix: str) -> None:
    """Reads and writes interleave under one budget: no 10-second window holds more than the tier's
    requests, no second more than 5 searches, and over a minute the rates are 0.9 of HubSpot's
    (9 requests a second on free, 4.5 searches a second), not a truncated integer (was 4 searches)."""
    rng = random.Random(5)
    kinds: dict[str, Callable[[int], bool]] = {
        "writes": lambda i: False, "searches": lambda i: True,
        "alternating": lambda i: i % 2 == 0, "random": lambda i: rng.random() < 0.3,
    }
    per_10s, search_per_s = TIERS[tier]
    times, searches = greedy_run(tier, 60.0, kinds[mix])
    assert most_in_window(times, 10.0) <= per_10s
    assert most_in_window(searches, 1.0) <= search_per_s
    if mix == "searches":
        assert len(searches) == pytest.approx(60 * search_per_s * 0.9, abs=2)  # 270 in a minute, was 240
    if mix == "writes":
        assert len(times) == pytest.approx(60 * per_10s / 10 * 0.9, abs=2 + per_10s * 0.1)  # 540 / 1,026
    if mix == "alternating" and tier == "free":  # searches at 4.5/s and writes beside them: 9 requests/s in all
        assert len(searches) == pytest.approx(270, abs=2) and len(times) == pytest.approx(540, abs=12)


def test_off_never_waits() -> None:
    clock = SimClock()
    bucket = Throttle(100, 5, clock=clock, sleep=clock.sleep)
    bucket.off()
    for i in range(1000):
        bucket.acquire(search=i % 2 == 0)
        bucket.answered(i % 2 == 0)
    assert clock.now == 0.0 and bucket.waits == 0


@pytest.mark.parametrize("late", [0.15, 0.6])
def test_a_search_that_reaches_hubspot_late_never_makes_six_in_a_second(late: float) -> None:
    """Searches one after another, each answered 5 ms after it reaches HubSpot; one in ten reaches it up to
    `late` s after it leaves (the network, a busy process), and lands beside the next one, sent on time. No
    second of arrivals holds more than 5 (spacing alone, at 4.5 a second, lets six land in one second once
    an arrival is 0.11 s late), and the rate stays near 4.5 a second."""
    rng = random.Random(11)
    clock = SimClock()
    bucket = Throttle(100, 5, 0.9, clock=clock, sleep=clock.sleep)
    arrivals: list[float] = []
    while clock.now < 120.0:
        bucket.acquire(search=True)
        arrivals.append(clock.now + (rng.uniform(0, late) if rng.random() < 0.1 else 0.002))
        clock.now = arrivals[-1] + 0.005
        bucket.answered(True)
    assert most_in_window(sorted(arrivals), 1.0) <= 5
    assert len(arrivals) / 120 >= (4.3 if late < 0.2 else 3.9)
