"""Time-bound clients: a call goes out through a client whose timeouts end within the time left, or not at all."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.config import Config

from ingest.catalog import DatasetCatalog
from ingest.clients import (
    CALL_MARGIN_S,
    SHORTEST_CALL_S,
    TIERS,
    AnyTime,
    ClientLadder,
    client_within,
    pin_user_agent,
)
from ingest.dead_letter import DeadLetter, DeadLetterQueue
from ingest.decode import Message
from ingest.errors import ErrorCode, OutOfTime
from ingest.kinds import KINDS
from tests.support.fakes import DATASETS, FakeClock, FakePersonalizeControl, timeouts


class Built:
    """Records every client a ladder builds, with the config it was built with."""

    def __init__(self) -> None:
        self.configs: list[Config] = []

    def __call__(self, config: Config) -> Config:
        self.configs.append(config)
        return config


def test_client_ladder_picks_the_largest_tier_that_ends_in_the_time_left_with_its_margin() -> None:
    built = Built()
    ladder = ClientLadder(built, base=Config(retries={"total_max_attempts": 1}))

    # TIERS[1] allows 1 s of timeouts: with 1.2 s left that leaves too little for what they do not bound.
    cases = [(60.0, TIERS[-1]), (5.0, TIERS[3]), (1.3, TIERS[1]), (1.2, TIERS[0]), (SHORTEST_CALL_S, TIERS[0])]
    for seconds, expected in cases:
        config = ladder.within(seconds)
        assert config is not None
        connect_s, read_s = timeouts(config)
        assert (connect_s, read_s) == (expected.connect_s, expected.read_s)
        assert connect_s + read_s + CALL_MARGIN_S <= seconds
        assert config.retries == {"total_max_attempts": 1}  # the base settings are kept


def test_client_ladder_builds_each_tier_once_and_the_top_one_at_once() -> None:
    built = Built()
    ladder = ClientLadder(built)
    assert len(built.configs) == 1  # the top tier, at the cold start

    for _ in range(3):
        ladder.within(60.0)
        ladder.within(1.0)

    assert len(built.configs) == 2


def setting(config: Config, name: str) -> Any:
    """One setting of a botocore Config (its type stubs leave them out)."""
    return getattr(config, name)


class Announcing:
    """Builds stand-ins for clients that announce a User-Agent as botocore does: built by its full rule without
    ``user_agent`` in the config, else ``user_agent`` joined with what the session and the config add."""

    def __init__(self, full: str, appended: str) -> None:
        self.full, self.appended = full, appended

    def __call__(self, config: Config) -> SimpleNamespace:
        fixed = setting(config, "user_agent")
        announced = self.full if fixed is None else fixed + self.appended
        return SimpleNamespace(meta=SimpleNamespace(config=SimpleNamespace(user_agent=announced)))


def test_pin_user_agent_fixes_what_the_client_announces_less_what_botocore_appends_to_it() -> None:
    make = Announcing("Boto3/1 ua/2.1 m/g Botocore/1 personalize-ingest", " Botocore/1 personalize-ingest")
    base = Config(user_agent_extra="personalize-ingest", read_timeout=7)

    pinned = pin_user_agent(make, base)

    assert setting(pinned, "user_agent") == "Boto3/1 ua/2.1 m/g"
    assert (setting(pinned, "user_agent_extra"), setting(pinned, "read_timeout")) == ("personalize-ingest", 7)
    assert make(pinned).meta.config.user_agent == make.full  # the header botocore builds, fixed


def test_pin_user_agent_leaves_the_config_alone_when_the_header_is_not_built_as_expected() -> None:
    base = Config(user_agent_extra="personalize-ingest")

    assert (
        pin_user_agent(Announcing("Boto3/1 personalize-ingest Botocore/1", " Botocore/1 personalize-ingest"), base)
        is base
    )


def test_client_within_too_little_time_starts_nothing() -> None:
    with pytest.raises(OutOfTime):
        client_within(ClientLadder(Built()), SHORTEST_CALL_S - 0.01)
    with pytest.raises(OutOfTime):
        client_within(AnyTime(object()), 0.0)


class SlowSqs:
    """A FakeSqs whose SendMessageBatch takes ``latency_s`` of the clock, up to its read timeout."""

    def __init__(self, clock: FakeClock, latency_s: float, read_timeout_s: float) -> None:
        self.clock, self.latency_s, self.read_timeout_s = clock, latency_s, read_timeout_s
        self.calls = 0

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        self.clock.now += min(self.latency_s, self.read_timeout_s)
        if self.latency_s > self.read_timeout_s:
            raise OutOfTime("stands in for a ReadTimeoutError")
        return {"Successful": [{"Id": entry["Id"], "MessageId": "m"} for entry in Entries]}


def letters(count: int) -> list[DeadLetter]:
    return [
        DeadLetter(Message(f"id-{n}", "{", n, 1, 0), ErrorCode.MALFORMED_MESSAGE, "body is not valid JSON")
        for n in range(count)
    ]


def test_dead_letter_queue_starts_no_write_past_the_time_left() -> None:
    clock = FakeClock()
    clients: list[SlowSqs] = []

    def make(config: Config) -> SlowSqs:
        clients.append(SlowSqs(clock, 1.0, timeouts(config)[1]))
        return clients[-1]

    queue = DeadLetterQueue(client=ClientLadder(make), queue_url="https://q/dlq", clock=clock)

    unwritten = queue.send(letters(30), time_left_s=2.5)  # three batches of ten; each write takes 1 s

    # The first write fits (2.5 s left: a client allowing 2 s, and the margin). The second starts with 1.5 s left,
    # through a client that gives up after 0.7 s of reading; the third with 0.8 s left, giving up after 0.3 s. Both
    # are unwritten, and no write ran past the time it was given.
    assert unwritten == {f"id-{n}" for n in range(10, 30)}
    assert clock.now <= 1000.0 + 2.5
    assert sum(client.calls for client in clients) == 3


def test_dead_letter_queue_without_time_for_one_write_starts_none() -> None:
    clock, sqs = FakeClock(), SlowSqs(FakeClock(), 0.0, 1.0)

    unwritten = DeadLetterQueue(client=sqs, queue_url="https://q/dlq", clock=clock).send(letters(3), time_left_s=0.1)

    assert unwritten == {"id-0", "id-1", "id-2"}
    assert sqs.calls == 0


def test_catalog_describes_nothing_without_time_and_caches_nothing() -> None:
    control, clock = FakePersonalizeControl(), FakeClock()
    catalog = DatasetCatalog(client=control, clock=clock)

    with pytest.raises(OutOfTime):
        catalog.describe(KINDS["item"], DATASETS["ITEMS"], time_left_s=0.1)

    assert control.calls == 0
    assert catalog.describe(KINDS["item"], DATASETS["ITEMS"], time_left_s=5.0).schema.fields
