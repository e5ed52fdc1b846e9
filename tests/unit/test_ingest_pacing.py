"""Pacing: whole calls per window, probing up from the share, a step back per throttle (ingest.pacing).

Every test runs on a fake clock: what is asserted is the schedule of calls, never how long anything took.
"""

from __future__ import annotations

import itertools
import random

import pytest

from ingest.errors import ConfigurationError
from ingest.pacing import (
    IDLE_RESET_S,
    LOCAL_WINDOW_S,
    PROBE_WAIT_S,
    PROVOKED_WITHIN_S,
    RETRY_PROBE_S,
    START_PROBE_S,
    Pacer,
    parse_quotas,
)
from tests.support.fakes import FakeClock

ITEMS = "PutItems"


def pacer(
    clock: FakeClock, *, quota: float = 10.0, share: int = 2, adaptive: bool = True, rng: random.Random | None = None
) -> Pacer:
    return Pacer(quotas={ITEMS: quota}, share=share, adaptive=adaptive, clock=clock, sleep=clock.sleep, rng=rng)


def starts(paced: Pacer, clock: FakeClock, calls: int) -> list[float]:
    moments = []
    for _ in range(calls):
        paced.wait(ITEMS)
        moments.append(clock.now)
        paced.accepted(ITEMS)
    return moments


def rate(paced: Pacer) -> float:
    found = paced.rate(ITEMS)
    assert found is not None
    return found


def calls_until(paced: Pacer, clock: FakeClock, moment: float) -> None:
    while clock.now < moment:
        paced.wait(ITEMS)
        paced.accepted(ITEMS)


@pytest.mark.parametrize(
    ("quota", "share", "calls_per_window"),
    [(10.0, 1, 10), (10.0, 2, 5), (10.0, 3, 3), (10.0, 20, 0.5), (10.0, 25, 1 / 3), (1000.0, 2, 500)],
    ids=["alone", "half", "a-third-rounded-down", "one-call-every-two-windows", "every-three", "events"],
)
def test_pacer_starts_at_a_whole_share_of_calls_per_window(quota: float, share: int, calls_per_window: float) -> None:
    # Whole calls per window: fractional shares of the quota would add up to more than the quota in some windows.
    clock = FakeClock()

    rate = pacer(clock, quota=quota, share=share).rate(ITEMS)

    assert rate == pytest.approx(calls_per_window / LOCAL_WINDOW_S)


def test_pacer_spaces_calls_evenly_so_no_window_holds_more_than_the_allowance() -> None:
    clock = FakeClock()
    paced = pacer(clock, adaptive=False)

    moments = starts(paced, clock, 11)

    gaps = {round(later - earlier, 9) for earlier, later in itertools.pairwise(moments)}
    assert gaps == {round(LOCAL_WINDOW_S / 5, 9)}
    # any LOCAL_WINDOW_S (a second and its margin) holds at most 5 of them
    assert max(sum(1 for m in moments if start <= m < start + LOCAL_WINDOW_S) for start in moments) == 5


def test_pacer_an_api_without_a_quota_is_not_paced() -> None:
    clock = FakeClock()
    paced = pacer(clock)

    for _ in range(20):
        assert paced.wait("PutEvents")

    assert clock.sleeps == []
    assert paced.rate("PutEvents") is None


def test_pacer_alone_probes_up_to_the_quota_and_never_past_it() -> None:
    # GIVEN one environment of two, the other idle: no throttle ever comes
    clock = FakeClock()
    paced = pacer(clock, share=2)

    # WHEN it calls for a while
    rates = []
    for _ in range(150):
        paced.wait(ITEMS)
        paced.accepted(ITEMS)
        rates.append(rate(paced))

    # THEN its allowance grew one step per START_PROBE_S from its share to the whole quota, and stopped there
    assert rates[0] == pytest.approx(5 / LOCAL_WINDOW_S)
    assert rates == sorted(rates)
    assert rates[-1] == pytest.approx(10 / LOCAL_WINDOW_S)


def above_share(clock: FakeClock) -> Pacer:
    """An environment of two that was alone long enough to probe up to 7 calls per window (its share is 5)."""
    paced = pacer(clock, share=2, rng=random.Random(1))
    while rate(paced) < 7 / LOCAL_WINDOW_S:
        paced.wait(ITEMS)
        paced.accepted(ITEMS)
    return paced


def test_pacer_a_throttle_steps_back_once_per_window_and_the_next_probe_waits() -> None:
    clock = FakeClock()
    paced = above_share(clock)

    # WHEN three throttles answer one overshoot, within a window
    for _ in range(3):
        paced.throttled(ITEMS)
        clock.now += 0.1

    # THEN the allowance took one step back (7 -> 6 calls per window)
    assert paced.rate(ITEMS) == pytest.approx(6 / LOCAL_WINDOW_S)
    # AND, calling all along, it does not probe again before PROBE_WAIT_S per unit of concurrency (spread by 25 %)
    throttled_at = clock.now - 0.3
    calls_until(paced, clock, throttled_at + PROBE_WAIT_S * 2 * 0.75 - 0.5)
    assert rate(paced) == pytest.approx(6 / LOCAL_WINDOW_S)
    calls_until(paced, clock, throttled_at + PROBE_WAIT_S * 2 * 1.25 + 0.5)
    assert rate(paced) == pytest.approx(7 / LOCAL_WINDOW_S)


def test_pacer_a_throttle_after_the_window_steps_back_again() -> None:
    clock = FakeClock()
    paced = above_share(clock)

    paced.throttled(ITEMS)
    clock.now += LOCAL_WINDOW_S + 0.01
    paced.throttled(ITEMS)

    assert paced.rate(ITEMS) == pytest.approx(5 / LOCAL_WINDOW_S)


def test_pacer_an_unprovoked_throttle_steps_back_and_probes_again_soon() -> None:
    # GIVEN an environment at its share that has not probed for a while (its first probe was long ago)
    clock = FakeClock()
    paced = above_share(clock)
    paced.throttled(ITEMS)  # its own probe's answer: back to 6, a long wait
    calls_until(paced, clock, clock.now + PROVOKED_WITHIN_S + 1)

    # WHEN a throttle comes that its own probe did not provoke (another environment's probe, a late call)
    paced.throttled(ITEMS)

    # THEN it steps back, and probes again after RETRY_PROBE_S per unit of concurrency (spread by 25 %), not the
    # long wait
    assert rate(paced) == pytest.approx(5 / LOCAL_WINDOW_S)
    throttled_at = clock.now
    calls_until(paced, clock, throttled_at + RETRY_PROBE_S * 2 * 1.25 + 0.5)
    assert rate(paced) == pytest.approx(6 / LOCAL_WINDOW_S)


def test_pacer_never_steps_below_its_share_an_unprovoked_throttle_shifts_its_phase() -> None:
    # GIVEN an environment at its share (5 calls per window of 10, one of two), its probes long past
    clock = FakeClock()
    paced = pacer(clock, share=2, rng=random.Random(2))
    paced.wait(ITEMS)
    paced.throttled(ITEMS)  # its first probe's answer would come here: none yet, so unprovoked
    slot = LOCAL_WINDOW_S / 5

    # WHEN throttles keep coming (another environment's probe overshot, or the service throttles at random)
    moments = []
    for _ in range(5):
        clock.now += LOCAL_WINDOW_S + 0.01
        paced.throttled(ITEMS)
        before = clock.now
        paced.wait(ITEMS)
        moments.append(clock.now - before)

    # THEN it keeps its share, and each throttle pushed its next call half a slot to a slot and a half away
    assert rate(paced) == pytest.approx(5 / LOCAL_WINDOW_S)
    assert all(0.5 * slot - 1e-9 <= moment <= 1.5 * slot + 1e-9 for moment in moments)


def test_pacer_idle_environment_starts_again_from_its_share() -> None:
    clock = FakeClock()
    paced = pacer(clock, share=2)
    for _ in range(100):  # alone for a while: up to the whole quota
        paced.wait(ITEMS)
        paced.accepted(ITEMS)
    assert paced.rate(ITEMS) == pytest.approx(10 / LOCAL_WINDOW_S)

    clock.now += IDLE_RESET_S + 1

    assert paced.rate(ITEMS) == pytest.approx(5 / LOCAL_WINDOW_S)


def test_pacer_refuses_a_slot_past_the_deadline_without_taking_it() -> None:
    clock = FakeClock()
    paced = pacer(clock, quota=1.0, share=1, adaptive=False)

    granted = [paced.wait(ITEMS, deadline=1000.0 + 2.5) for _ in range(5)]

    assert granted == [True, True, True, False, False]
    assert clock.now == pytest.approx(1000.0 + 2 * LOCAL_WINDOW_S)


def test_pacer_first_probe_comes_between_one_and_two_probe_periods() -> None:
    # Environments that start together spread their first probes, so they do not all overshoot at once.
    clock = FakeClock()
    paced = pacer(clock, share=2)
    paced.wait(ITEMS)

    # (two calls each time: only a call that must wait for its slot probes, see the test below)
    clock.now += START_PROBE_S * 0.99
    paced.wait(ITEMS)
    paced.wait(ITEMS)
    before = paced.rate(ITEMS)
    clock.now = 1000.0 + START_PROBE_S * 2.01
    paced.wait(ITEMS)
    paced.wait(ITEMS)

    assert before == pytest.approx(5 / LOCAL_WINDOW_S)
    assert paced.rate(ITEMS) == pytest.approx(6 / LOCAL_WINDOW_S)


def test_parse_quotas_overrides_the_contracts_defaults_for_the_apis_named() -> None:
    quotas = parse_quotas(" PutEvents = 2500, PutActionInteractions=1500 ")

    assert quotas["PutEvents"] == 2500.0
    assert quotas["PutActionInteractions"] == 1500.0
    assert quotas["PutItems"] == 10.0
    assert parse_quotas("") == parse_quotas(" , ")


@pytest.mark.parametrize(
    "raw", ["PutEvents", "PutThings=5", "PutEvents=0", "PutEvents=-1", "PutEvents=fast", "PutEvents=inf"]
)
def test_parse_quotas_refuses_what_is_not_api_equals_a_positive_number(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="PUT_QUOTAS"):
        parse_quotas(raw)


def test_pacer_an_environment_whose_calls_never_wait_does_not_probe() -> None:
    # GIVEN one environment of two that calls less often than its share allows (light traffic)
    clock = FakeClock()
    paced = pacer(clock, share=2)

    # WHEN it calls every half second for a minute
    for _ in range(120):
        paced.wait(ITEMS)
        paced.accepted(ITEMS)
        clock.now += 0.5

    # THEN it never probed: more room is worth a throttle only to an environment its allowance holds back
    assert paced.rate(ITEMS) == pytest.approx(5 / LOCAL_WINDOW_S)


def test_pacer_an_unprovoked_throttle_at_its_share_postpones_its_probes() -> None:
    # GIVEN an environment at its share, busy, its first probe not yet due
    clock = FakeClock()
    paced = pacer(clock, share=2, rng=random.Random(3))
    paced.wait(ITEMS)

    # WHEN a throttle comes that it did not provoke: the fleet is at the quota
    paced.throttled(ITEMS)
    # and it keeps calling back to back for ten probe periods
    while clock.now < 1000.0 + 10 * START_PROBE_S:
        paced.wait(ITEMS)
        paced.accepted(ITEMS)

    # THEN it did not probe: another step would only overshoot the quota again
    assert paced.rate(ITEMS) == pytest.approx(5 / LOCAL_WINDOW_S)
