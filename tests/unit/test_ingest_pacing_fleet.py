"""The fleet's pacing against the emulator's own quota window (local/emulator/quotas.py), on a simulated clock.

Several execution environments, each with its own ``Pacer`` and no word with the others, call one API against
one ``RateLimiter``, the emulator's sliding one-second window. Time is simulated (an event queue, every call's
arrival jittered by a seeded draw), so what is asserted is behaviour on the emulator's clock: the share of
calls refused by the quota and of the quota used, never how long anything took.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from ingest.pacing import Pacer
from local.emulator.quotas import RateLimiter

API = "PutItems"
QUOTA = 10.0
LATENCY_S = 0.03
JITTER_S = 0.01


@dataclass
class Fleet:
    accepted: int = 0
    throttled: int = 0


def drain(environments: int, busy: int, *, seconds: float, seed: int, faults: float = 0.0) -> Fleet:
    """``busy`` of ``environments`` environments calling back to back for ``seconds`` simulated seconds; the
    service throttles a ``faults`` share of the calls besides, at random (they do not count in its window)."""
    rng = random.Random(seed)
    now = [0.0]
    window = RateLimiter()
    slept: list[float] = [0.0] * environments

    def sleeper(index: int) -> Callable[[float], None]:
        def sleep(seconds: float) -> None:
            slept[index] += seconds

        return sleep

    pacers = [
        Pacer(
            quotas={API: QUOTA},
            share=environments,
            clock=lambda: now[0],
            sleep=sleeper(index),
            rng=random.Random(seed * 1000 + index),
        )
        for index in range(environments)
    ]
    # (time, environment, step, attempt, latency): step is "want" a slot, "arrive" at the service, or the answer
    # ("ok", "quota" for a throttle of the window, "injected" for one the service threw in).
    queue: list[tuple[float, int, str, int, float]] = [
        (rng.uniform(0, 0.2), index, "want", 0, 0.0) for index in range(busy)
    ]
    heapq.heapify(queue)
    fleet = Fleet()
    while queue:
        moment, index, step, attempt, latency = heapq.heappop(queue)
        if moment > seconds:
            break
        now[0] = moment
        paced = pacers[index]
        if step == "want":
            slept[index] = 0.0
            paced.wait(API)
            latency = LATENCY_S + rng.uniform(0, JITTER_S)
            heapq.heappush(queue, (moment + slept[index] + latency / 2, index, "arrive", attempt, latency))
        elif step == "arrive":
            if rng.random() < faults:
                answer = "injected"
            else:
                answer = "ok" if window.admit(("group", API), QUOTA, moment) else "quota"
            heapq.heappush(queue, (moment + latency / 2, index, answer, attempt, 0.0))
        elif step == "ok":
            fleet.accepted += 1
            paced.accepted(API)
            heapq.heappush(queue, (moment, index, "want", 0, 0.0))
        else:
            if step == "quota":
                fleet.throttled += 1
            paced.throttled(API)
            backoff = rng.uniform(0, min(4.0, 0.1 * 2**attempt))
            heapq.heappush(queue, (moment + backoff, index, "want", attempt + 1, 0.0))
    return fleet


@pytest.mark.parametrize(
    ("environments", "busy", "most_throttled"),
    [(1, 1, 0.012), (2, 2, 0.012), (2, 1, 0.012), (4, 4, 0.012), (4, 1, 0.012), (10, 2, 0.012), (10, 10, 0.02)],
    ids=["alone", "two-both-busy", "two-one-busy", "four-all-busy", "four-one-busy", "ten-two-busy", "ten-all-busy"],
)
def test_fleet_uses_the_quota_and_stays_under_it_without_talking(
    environments: int, busy: int, most_throttled: float
) -> None:
    # GIVEN a fleet of environments pacing one API on their own, some busy
    # WHEN they call for five simulated minutes against the emulator's window
    fleets = [drain(environments, busy, seconds=300.0, seed=seed) for seed in (1, 2, 3)]

    # THEN at least 95 % of the quota was used, and about 1 % of the calls at most were refused by it (2 % when ten
    # environments share ten calls per second: each one's step is then a tenth of the quota)
    accepted = sum(fleet.accepted for fleet in fleets)
    throttled = sum(fleet.throttled for fleet in fleets)
    assert throttled / (accepted + throttled) <= most_throttled
    assert accepted / (3 * 300.0 * QUOTA) >= 0.95


@pytest.mark.parametrize(("environments", "busy"), [(1, 1), (2, 2), (2, 1)], ids=["alone", "both-busy", "one-busy"])
def test_fleet_under_random_throttling_never_falls_below_its_share(environments: int, busy: int) -> None:
    # GIVEN a service that throttles a fifth of the calls at random, besides the quota
    # WHEN the fleet calls for five simulated minutes
    fleets = [drain(environments, busy, seconds=300.0, seed=seed, faults=0.2) for seed in (1, 2, 3)]

    # THEN each busy environment still gets through at least 90 % of its share of what the service lets pass
    accepted = sum(fleet.accepted for fleet in fleets)
    assert accepted / (3 * 300.0 * QUOTA * 0.8 * busy / environments) >= 0.9


def test_fleet_without_pacing_feedback_would_overshoot() -> None:
    # The oracle is not lenient: every environment at the whole quota is throttled most of the time.
    rng = random.Random(1)
    window = RateLimiter()
    admitted = sum(window.admit(("group", API), QUOTA, step / 20 + rng.uniform(0, 0.01)) for step in range(200))

    assert admitted <= 110
