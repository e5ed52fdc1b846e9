"""Pacing: whole calls per window, probing up from the share, a step back per throttle (ingest.pacing).

Every test runs on a fake clock: what is asserted is the schedule of calls, never how long anything took.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections.abc import Callable

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


class LateClock(FakeClock):
    """A ``FakeClock`` whose sleeps wake up ``late_s`` after they should (a busy machine, the GIL), on the sleeps
    numbered in ``late_on`` (every one when None)."""

    def __init__(self, late_s: float, late_on: set[int] | None = None) -> None:
        super().__init__()
        self.late_s = late_s
        self.late_on = late_on

    def sleep(self, seconds: float) -> None:
        late = self.late_on is None or len(self.sleeps) in self.late_on
        super().sleep(seconds + (self.late_s if late else 0.0))


def most_in_a_window(moments: list[float]) -> int:
    """The most of ``moments`` within any window of the service's second (a sliding one-second window)."""
    return max(sum(1 for other in moments if moment <= other < moment + 1.0) for moment in moments)


def test_pacer_a_call_that_goes_late_costs_its_lateness_once_not_at_every_later_call() -> None:
    # GIVEN an environment alone at the whole quota, whose third sleep wakes up 50 ms late
    clock = LateClock(0.05, late_on={2})
    paced = pacer(clock, share=1, adaptive=False)

    # WHEN it makes 40 calls back to back
    moments = starts(paced, clock, 40)

    # THEN no window of the service's holds more than the quota, and the 40 calls took four windows plus the
    # lateness once (spacing every later call from the late one would add it to each window)
    assert most_in_a_window(moments) <= 10
    assert moments[-1] - moments[0] == pytest.approx(39 * LOCAL_WINDOW_S / 10 + 0.05)


def test_pacer_on_a_busy_machine_loses_the_lateness_per_window_not_per_call() -> None:
    # GIVEN an environment alone at the whole quota on a machine where every sleep wakes up 10 ms late
    clock = LateClock(0.01)
    paced = pacer(clock, share=1, adaptive=False)

    # WHEN it makes 101 calls back to back
    moments = starts(paced, clock, 101)

    # THEN no window holds more than the quota, and every ten calls took a window and one lateness: 9.6 calls per
    # second, where spacing each call from the late one before it would give 1 / (0.103 + 0.01) = 8.8
    assert most_in_a_window(moments) <= 10
    assert (moments[-1] - moments[0]) / 10 == pytest.approx(LOCAL_WINDOW_S + 0.01, abs=0.002)


class AlarmClock(FakeClock):
    """A ``FakeClock`` for several threads: a sleep lasts until its end (threads sleeping at once do not add up
    their sleeps), and the first one that carries the clock past ``at`` runs ``then`` once, in its thread."""

    def __init__(self) -> None:
        super().__init__()
        self.at = math.inf
        self.then: Callable[[], None] = lambda: None
        self._read = threading.local()
        # Sleeps block until the gate opens: threads that ask at once all ask before any of them goes.
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self) -> float:
        self._read.now = self.now
        return self.now

    def sleep(self, seconds: float) -> None:
        # Until the thread's last reading plus ``seconds``: the end the sleeper asked for.
        self.gate.wait(timeout=10)
        self.sleeps.append(seconds)
        self.now = max(self.now, getattr(self._read, "now", self.now) + seconds)
        if self.now >= self.at:
            self.at = math.inf
            self.then()


def test_pacer_a_throttle_respaces_the_calls_already_waiting_in_line() -> None:
    # GIVEN an environment above its share (7 calls per window), and a batch's pool asking for 21 slots at once
    clock = AlarmClock()
    paced = above_share(clock)
    went: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        assert paced.wait(ITEMS)
        with lock:
            went.append(clock.now)

    # WHEN a throttle answers while most of them still wait: a window after the first went
    start = clock.now
    clock.at, clock.then = start + LOCAL_WINDOW_S, lambda: paced.throttled(ITEMS)
    threads = [threading.Thread(target=call) for _ in range(21)]
    clock.gate.clear()
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # not a measurement: time for every thread to ask for its slot before the first one goes
    clock.gate.set()
    for thread in threads:
        thread.join(timeout=10)

    # THEN every call went, and those that went after the throttle went at the new allowance (6 per window), not at
    # the pace they would have had when they asked
    assert len(went) == 21
    after = [moment for moment in sorted(went) if moment > start + LOCAL_WINDOW_S + 1e-9]
    gaps = [later - earlier for earlier, later in itertools.pairwise(after)]
    assert len(gaps) > 5
    assert min(gaps) == pytest.approx(LOCAL_WINDOW_S / 6)


def test_pacer_a_call_behind_a_line_that_reaches_past_its_deadline_is_refused_at_once() -> None:
    # GIVEN an environment at its share (5 calls per window) with ten calls waiting in line
    clock = AlarmClock()
    paced = pacer(clock, share=2)
    threads = [threading.Thread(target=paced.wait, args=(ITEMS,)) for _ in range(10)]
    clock.gate.clear()
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # not a measurement: time for every thread to take its place in line

    # WHEN one more call may start no later than a second from now, and another no later than three
    # THEN the first is refused at once (ten calls ahead take two windows), without taking a place in line
    now = clock.now
    assert not paced.wait(ITEMS, deadline=now + 1.0)
    assert clock.now == now
    clock.gate.set()
    assert paced.wait(ITEMS, deadline=now + 3.0)
    for thread in threads:
        thread.join(timeout=10)
    assert clock.now <= now + 3.0
