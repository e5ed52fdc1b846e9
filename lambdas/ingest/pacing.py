"""Pacing every Put* API to its quota across the fleet, from the service's own throttling answers.

Personalize counts each API's calls per dataset group (docs/personalize.md §2): PutItems, PutUsers and PutActions
10 calls per second, PutEvents and PutActionInteractions 1,000 (raised on request; ``Settings.quotas``). Every
concurrent execution environment shares the quota, and none knows how many others are busy. So each paces each API
on its own, from the throttles it meets (docs/design.md "Throughput", where the numbers are reasoned):

- **A whole number of calls per window.** An environment allows itself ``n`` calls in any window of
  ``LOCAL_WINDOW_S`` (a second, plus a margin for the jitter between sending a call and its arrival), spaced
  evenly. A service that counts calls in a sliding one-second window then sees at most ``n`` of them in any of
  its windows, whatever the phase of the other environments: as long as the allowances add up to the quota, no
  call is throttled. (Rates of fractional calls per second do not add up that way: two environments at 4.5 and
  5.4 calls per second put up to 5 + 6 = 11 calls in some windows.) Below one call per window, an environment
  allows one call in every ``k`` windows. The window is kept on the times calls actually went: a thread that wakes
  up late (the GIL, a busy machine) holds back the call a window after it, not every later call.
- **Calls wait in line.** A batch's pool asks for all its calls at once; each call's time is set only when it is
  first in line, at the allowance of that moment, so a throttle or a probe respaces every call still waiting.
- **Additive increase, from the throttles.** A cold environment starts at its share, quota / maximum concurrency,
  and probes one step more every ``START_PROBE_S`` until it meets its first throttle. Only a call that has to wait
  for its slot probes: more room is worth a throttle only to an environment its allowance holds back. A throttle
  takes a step back (once per window: one overshoot is answered by several throttles), never below the share. When the
  environment's own probe provoked it, the next probe waits ``PROBE_WAIT_S`` per unit of maximum concurrency,
  halving after every probe that went unanswered; above its share, an unprovoked one (others came back) brings the
  next probe ``RETRY_PROBE_S`` away. At or below its share, an unprovoked throttle (another's probe, the service's
  own) only shifts the phase of its next call, and puts its next probe a long wait away: the fleet is at the
  quota, and a probe would only overshoot it again. Each probe costs a throttled call or a few, and capacity an idle
  environment left is found again within a minute or two.
- An environment idle for ``IDLE_RESET_S`` starts again from its share: the others may have taken its part.

No call to any other service: the throttles the pipeline meets anyway are the only signal. The pacer lives as long
as the execution environment, across invocations; every method is thread-safe (the sender's pool calls them).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import contract
from ingest.errors import ConfigurationError

# The quota's window, plus the margin that covers the variation of the time from sending a call to its arrival.
LOCAL_WINDOW_S = 1.03
# Until its first throttle, an environment adds a step every this many seconds.
START_PROBE_S = 1.2
# After a throttle, the next probe waits this long per unit of maximum concurrency; each unanswered probe halves
# the wait, down to START_PROBE_S. Every probe of a fleet at the quota costs a throttle or a few, so the fleet
# throttles about 2 * concurrency / wait times a second: at 30 s per unit, under 1 % of 10 calls per second.
PROBE_WAIT_S = 30.0
# A throttle within this long of the environment's own probe answers that probe; the next probe after one that
# came unprovoked is RETRY_PROBE_S away.
PROVOKED_WITHIN_S = 3.0
RETRY_PROBE_S = 5.0
# An API not called for this long starts again from its share.
IDLE_RESET_S = 5.0
# A step is this fraction of the quota, at least one call per window.
STEP_FRACTION = 0.02


@dataclass(slots=True)
class _Lane:
    """One API's pacing state: ``level`` calls per window (at or below 0: one call every ``2 - level`` windows),
    the next probe (one ``step`` more) and the wait after it, the calls that went at this level and the line of
    calls waiting for their turn."""

    quota: float
    step: int
    level: int
    next_start: float
    last_call: float
    next_probe: float
    probe_wait: float
    share_level: int = 1
    hold_until: float = 0.0
    last_probe: float = -math.inf
    # When the latest calls at this level went, oldest first (no more than a window looks back to).
    went: deque[float] = field(default_factory=deque)
    # The calls waiting for their turn, first in line first: each waits on a condition of its own (of the pacer's
    # lock), so that a call going wakes only the next one, not every call in line.
    line: deque[threading.Condition] = field(default_factory=deque)

    @property
    def rate(self) -> float:
        calls = float(self.level) if self.level >= 1 else 1.0 / (2 - self.level)
        return min(calls, self.quota) / LOCAL_WINDOW_S

    def earliest(self) -> float:
        """The earliest the next call may go: a window after the call ``level`` calls before it went (below one
        call per window, ``2 - level`` windows after the last one), -inf when fewer went at this level."""
        back, window = (self.level, LOCAL_WINDOW_S) if self.level >= 1 else (1, LOCAL_WINDOW_S * (2 - self.level))
        return self.went[-back] + window if len(self.went) >= back else -math.inf

    def go(self, moment: float, due: float) -> None:
        """The first in line goes at ``moment`` (it was due at ``due``); the next one is spaced from ``due``."""
        self.line.popleft()
        self.went.append(moment)
        while len(self.went) > max(self.level, 1):
            self.went.popleft()
        self.next_start = due + 1.0 / self.rate
        self.last_call = moment

    def set_level(self, level: int) -> None:
        """Allow ``level`` calls per window from now on: the window looks back only to calls at this level."""
        if level != self.level:
            self.level = level
            self.went.clear()


class Pacer:
    """Spaces each API's calls at an allowance that adapts to the throttling the service answers with.

    Parameters
    ----------
    quotas:
        Calls per second per dataset group, by API name; an API not named is not paced. None: no pacing at all.
    share:
        The event source's maximum concurrency: an environment's fair part of a quota is quota / share.
    adaptive:
        False: keep each API at its share and never adapt (tests of the spacing alone).
    clock, sleep:
        Monotonic time and how to wait for it.
    rng:
        Spreads the first probes of environments that start together.
    """

    def __init__(
        self,
        *,
        quotas: Mapping[str, float] | None = None,
        share: int = 1,
        adaptive: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._quotas = dict(quotas or {})
        self._share = max(1, share)
        self._adaptive = adaptive
        self._clock = clock
        self._sleep = sleep
        self._lanes: dict[str, _Lane] = {}
        self._lock = threading.Lock()
        # Environments that start together must not probe together: their first probes are spread over a period.
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def rate(self, api: str) -> float | None:
        """The calls per second ``api`` is paced at now (None: not paced)."""
        with self._lock:
            lane = self._lane(api, self._clock())
            return lane.rate if lane else None

    def wait(self, api: str, *, deadline: float | None = None) -> bool:
        """Block until a call of ``api`` may start; no-op for an API without a quota.

        Calls wait in line, and each one's time is set when it is first in line, at the allowance of that moment:
        a throttle or a probe meanwhile changes the spacing of every call still waiting, not only of calls asked
        for later (a batch's pool asks for all its calls at once).

        Returns False, without taking a slot, when the call could not start by ``deadline`` (the latest start): at
        once when the calls ahead of it at the current allowance already reach past it, or when its turn would
        come later. Sleeping past it would leave the invocation no time to write dead letters and answer, and a
        Lambda timeout makes SQS redeliver the whole batch, the records already accepted included.
        """
        with self._lock:
            now = self._clock()
            lane = self._lane(api, now)
            if lane is None:
                return True
            first_free = max(now, lane.next_start, lane.earliest())
            if deadline is not None and first_free + len(lane.line) / lane.rate > deadline:
                return False
            turn = threading.Condition(self._lock)
            lane.line.append(turn)
            try:
                return self._take_turn(lane, turn, deadline)
            finally:
                if turn in lane.line:  # it left without going (deadline) or an exception (KeyboardInterrupt)
                    lane.line.remove(turn)
                if lane.line:
                    lane.line[0].notify()

    def _take_turn(self, lane: _Lane, turn: threading.Condition, deadline: float | None) -> bool:
        """Wait (holding the pacer's lock) until ``turn`` is first in line and its time has come; False when that
        time would be past ``deadline``."""
        slept_until = first_at = -math.inf
        while True:
            # A sleep ends at its time or later, whatever the clock (a simulation's may stand still meanwhile).
            now = max(self._clock(), slept_until)
            if lane.line[0] is not turn:
                if deadline is not None and now >= deadline:
                    return False
                # Woken when it becomes first in line; the timeout only bounds the wait by the deadline.
                turn.wait(timeout=None if deadline is None else deadline - now)
                continue
            if first_at == -math.inf:
                first_at = now
            # More room is worth a throttle only to an environment its allowance holds back: calls are waiting.
            saturated = len(lane.line) > 1 or lane.next_start > now
            if self._adaptive and now >= lane.next_probe and saturated:
                lane.set_level(min(lane.level + lane.step, math.ceil(lane.quota)))
                lane.last_probe = now
                lane.next_probe = now + lane.probe_wait
                lane.probe_wait = max(START_PROBE_S, lane.probe_wait / 2)
            due = max(first_at, lane.next_start, lane.earliest())
            if due <= now:
                # A thread that woke up late (the GIL, a busy machine) goes late. The window above is kept on the
                # times calls actually went, and the spacing from when this one was due: one late call costs the
                # lane its lateness once, not at every later call.
                lane.go(now, due)
                return True
            if deadline is not None and due > deadline:
                return False
            # First in line sleeps with the lock released (``sleep`` is the clock's: tests move a fake clock), then
            # looks again: a throttle meanwhile may have moved its time.
            self._lock.release()
            try:
                self._sleep(due - now)
            finally:
                self._lock.acquire()
            slept_until = due

    def accepted(self, api: str) -> None:
        """A call of ``api`` went through (the allowance grows on its own schedule, in ``wait``)."""

    def throttled(self, api: str) -> None:
        """A call of ``api`` was throttled: above its share, or answering its own probe, a step back (once per
        window) and a wait before the next probe; otherwise a shift of its phase."""
        if not self._adaptive:
            return
        with self._lock:
            now = self._clock()
            lane = self._lane(api, now)
            if lane is None or now < lane.hold_until:
                return
            lane.hold_until = now + LOCAL_WINDOW_S
            # A throttle soon after this environment's own probe answers that probe: the fleet is at the quota.
            provoked = now - lane.last_probe <= PROVOKED_WITHIN_S
            # Environments throttled in the same window must not probe again together: the wait is spread by 25 %.
            spread = 0.75 + 0.5 * self._rng.random()
            if not provoked and lane.level <= lane.share_level:
                # At or below its share, unprovoked: the shares add up to no more than the quota, so another one's
                # probe overshot, or a call arrived late, or the service throttles for reasons of its own. It keeps
                # its allowance and shifts its phase, so that the next overfull window is likelier to meet the prober.
                lane.next_start = max(lane.next_start, now + (0.5 + self._rng.random()) / lane.rate)
                # And the fleet is at the quota: probing up would only overshoot it again.
                lane.next_probe = max(lane.next_probe, now + PROBE_WAIT_S * self._share * spread)
                return
            lane.set_level(max(lane.level - lane.step, lane.share_level))
            lane.probe_wait = (PROBE_WAIT_S if provoked else RETRY_PROBE_S) * self._share * spread
            lane.next_probe = now + lane.probe_wait
            # The calls already spaced at the old allowance would overshoot again: the next one waits a new interval.
            lane.next_start = max(lane.next_start, now + 1.0 / lane.rate)

    def _lane(self, api: str, now: float) -> _Lane | None:
        quota = self._quotas.get(api)
        if not quota:
            return None
        lane = self._lanes.get(api)
        # (Never while calls wait in line: they would go at the old lane's pace beside the new one's.)
        if lane is None or (self._adaptive and not lane.line and now - lane.last_call > IDLE_RESET_S):
            per_window = quota / self._share
            level = math.floor(per_window) if per_window >= 1 else 2 - math.ceil(1 / per_window)
            step = max(1, round(quota * STEP_FRACTION))
            start_probe = START_PROBE_S * (1.0 + self._rng.random()) if self._adaptive else math.inf
            lane = _Lane(quota, step, level, now, now, now + start_probe, START_PROBE_S, share_level=level)
            self._lanes[api] = lane
        return lane


def parse_quotas(raw: str) -> dict[str, float]:
    """The quotas the handler paces to: the contract's, with ``PUT_QUOTAS`` (``PutEvents=2000,...``) over them.

    Raises
    ------
    ConfigurationError
        An entry is not ``Api=number``, names no Put* API, or is not a positive finite number.
    """
    quotas = {spec.api: spec.quota_per_second for spec in contract.KIND_SPECS.values()}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        api, separator, value = (text.strip() for text in entry.partition("="))
        if not separator or api not in quotas:
            known = ", ".join(quotas)
            raise ConfigurationError(f"{contract.PUT_QUOTAS}: expected Api=calls per second of {known}, got {entry!r}")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number > 0):
            raise ConfigurationError(f"{contract.PUT_QUOTAS}: {api} needs a positive number, got {value!r}")
        quotas[api] = number
    return quotas
