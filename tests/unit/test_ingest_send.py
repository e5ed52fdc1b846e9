"""Step 4, send: bisection isolates poison records; retryable errors back off within the deadline."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping

import pytest

from contract import Dimension, Metric
from ingest.decode import Message
from ingest.errors import CallFailure, Disposition
from ingest.model import api_models
from ingest.plan import Call, plan_calls
from ingest.send import Accepted, Failed, Pacer, PersonalizeEventsSink, Rejected, Sender
from ingest.telemetry import Telemetry
from tests.support.fakes import FakeClock, FakePersonalizeEvents, client_error
from tests.support.sqs_events import item
from tests.unit.test_ingest_plan import MAX, TARGETS, valid


def ten_items_call() -> Call:
    [call] = plan_calls(valid([item(f"sku-{i}") for i in range(10)]), targets=TARGETS, max_records=MAX).calls
    return call


def sender(
    fake: FakePersonalizeEvents,
    clock: FakeClock,
    *,
    budget: float = 30.0,
    telemetry: Telemetry | None = None,
    holds_group: Callable[[Message, CallFailure], bool] = lambda _message, _failure: True,
) -> Sender:
    return Sender(
        sink=PersonalizeEventsSink(fake),
        apis=api_models(),
        telemetry=telemetry or Telemetry(),
        deadline=clock() + budget,
        pacer=Pacer(clock=clock, sleep=clock.sleep),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(7),
        holds_group=holds_group,
    )


def outcome_by_item(call: Call, outcomes: Mapping[str, object]) -> dict[str, object]:
    return {record.record["itemId"]: outcomes[record.change.message.message_id] for record in call.records}


def test_send_clean_chunk_is_one_call_all_accepted() -> None:
    fake, clock, call = FakePersonalizeEvents(), FakeClock(), ten_items_call()

    outcomes = sender(fake, clock).send(call)

    assert fake.apis() == ["PutItems"]
    assert all(isinstance(outcome, Accepted) for outcome in outcomes.values())
    assert fake.calls[0][1]["datasetArn"] == TARGETS["item"]


@pytest.mark.parametrize("position", range(10))
def test_send_one_poison_record_at_any_position_is_isolated_and_the_other_nine_sent(position: int) -> None:
    fake, clock, call = FakePersonalizeEvents(poison_ids={f"sku-{position}"}), FakeClock(), ten_items_call()

    outcomes = outcome_by_item(call, sender(fake, clock).send(call))

    rejected = [item_id for item_id, outcome in outcomes.items() if isinstance(outcome, Rejected)]
    assert rejected == [f"sku-{position}"]
    assert sorted(record["itemId"] for record in fake.accepted) == sorted(
        f"sku-{i}" for i in range(10) if i != position
    )
    assert len(fake.calls) <= 1 + 2 * 4  # bisection: at most two calls per level of a 10-record split


def test_send_two_poison_records_both_isolated() -> None:
    fake, clock, call = FakePersonalizeEvents(poison_ids={"sku-2", "sku-7"}), FakeClock(), ten_items_call()

    outcomes = outcome_by_item(call, sender(fake, clock).send(call))

    assert sorted(i for i, o in outcomes.items() if isinstance(o, Rejected)) == ["sku-2", "sku-7"]
    assert len(fake.accepted) == 8


def test_send_rejection_keeps_the_service_message() -> None:
    fake, clock, call = FakePersonalizeEvents(poison_ids={"sku-0"}), FakeClock(), ten_items_call()

    outcome = outcome_by_item(call, sender(fake, clock).send(call))["sku-0"]

    assert isinstance(outcome, Rejected)
    assert outcome.failure.error_code == "InvalidInputException"
    assert "is invalid" in outcome.failure.message


def test_send_throttled_then_success_retries_with_backoff() -> None:
    throttle = client_error("ThrottlingException", 400, "Rate exceeded")
    fake, clock, call, telemetry = (
        FakePersonalizeEvents(script=[throttle, throttle]),
        FakeClock(),
        ten_items_call(),
        Telemetry(),
    )

    outcomes = sender(fake, clock, telemetry=telemetry).send(call)

    assert all(isinstance(outcome, Accepted) for outcome in outcomes.values())
    assert len(fake.calls) == 3
    assert len(clock.sleeps) == 2
    assert telemetry.get(Metric.THROTTLED_CALLS, {Dimension.API: "PutItems"}) == 2
    assert telemetry.get(Metric.RETRIES, {Dimension.API: "PutItems"}) == 2


@pytest.mark.parametrize(
    "error",
    [
        client_error("ServiceUnavailable", 503),
        client_error("InternalFailure", 500),
        client_error("TooManyRequestsException", 429),
        client_error("ResourceInUseException", 409),
    ],
)
def test_send_retryable_error_past_the_deadline_fails_every_record_without_rejecting(error: Exception) -> None:
    fake, clock, call = FakePersonalizeEvents(script=[error] * 1000), FakeClock(), ten_items_call()

    outcomes = sender(fake, clock, budget=5.0).send(call)

    assert all(isinstance(outcome, Failed) for outcome in outcomes.values())
    assert clock.now <= 1000.0 + 5.0  # never sleeps past the deadline
    assert len(fake.calls) > 1
    assert fake.accepted == []


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "AccessDeniedException"])
def test_send_setup_error_is_not_retried_and_not_rejected(code: str) -> None:
    fake, clock, call = FakePersonalizeEvents(script=[client_error(code, 404)]), FakeClock(), ten_items_call()

    outcomes = list(sender(fake, clock).send(call).values())

    assert len(fake.calls) == 1
    assert all(isinstance(o, Failed) and o.failure.disposition is Disposition.SETUP for o in outcomes)


def test_send_after_the_deadline_makes_no_call() -> None:
    fake, clock, call = FakePersonalizeEvents(), FakeClock(), ten_items_call()

    outcomes = sender(fake, clock, budget=0.0).send(call)

    assert fake.calls == []
    assert {o.failure.error_code for o in outcomes.values() if isinstance(o, Failed)} == {"OutOfTime"}


def fifo_call(groups: list[str], item_ids: list[str]) -> Call:
    records = [
        dataclasses.replace(
            r, change=dataclasses.replace(r.change, message=dataclasses.replace(r.change.message, group_id=g))
        )
        for r, g in zip(valid([item(i) for i in item_ids]), groups, strict=True)
    ]
    [call] = plan_calls(records, targets=TARGETS, max_records=MAX, collapse=False).calls
    return call


def test_send_fifo_failure_in_the_first_half_holds_back_later_records_of_its_group() -> None:
    # [g1 p | g2 x]: the call is refused (p is poison), the first half meets a setup error, so g2 (same group as
    # g1, later) is not sent; x (another group) is.
    call = fifo_call(["catalog", "imports", "catalog", "pricing"], ["sku-g1", "sku-p", "sku-g2", "sku-x"])
    fake = FakePersonalizeEvents(poison_ids={"sku-p"}, script=[None, client_error("AccessDeniedException", 403), None])

    outcomes = outcome_by_item(call, sender(fake, FakeClock()).send(call))

    assert [[r["itemId"] for r in kwargs["items"]] for _, kwargs in fake.calls] == [
        ["sku-g1", "sku-p", "sku-g2", "sku-x"],
        ["sku-g1", "sku-p"],
        ["sku-x"],
    ]
    assert isinstance(outcomes["sku-x"], Accepted)
    blocked = outcomes["sku-g2"]
    assert isinstance(blocked, Failed)
    assert blocked.failure.error_code == "BlockedByEarlierFailure"
    assert all(isinstance(outcomes[i], Failed) for i in ("sku-g1", "sku-p"))


def test_send_fifo_failure_that_will_be_dead_lettered_holds_nothing_back() -> None:
    call = fifo_call(["catalog", "imports", "catalog", "pricing"], ["sku-g1", "sku-p", "sku-g2", "sku-x"])
    fake = FakePersonalizeEvents(poison_ids={"sku-p"}, script=[None, client_error("AccessDeniedException", 403), None])
    # Every record is on its last delivery, say: a failed one goes to the DLQ, not back to the queue.
    released = sender(fake, FakeClock(), holds_group=lambda _message, _failure: False)

    outcomes = outcome_by_item(call, released.send(call))

    assert [r["itemId"] for r in fake.accepted] == ["sku-g2", "sku-x"]
    assert isinstance(outcomes["sku-g2"], Accepted)


def test_send_standard_queue_failure_in_the_first_half_still_sends_the_second() -> None:
    fake = FakePersonalizeEvents(poison_ids={"sku-1"}, script=[None, client_error("AccessDeniedException", 403), None])
    call = ten_items_call()

    outcomes = outcome_by_item(call, sender(fake, FakeClock()).send(call))

    assert sorted(r["itemId"] for r in fake.accepted) == [f"sku-{i}" for i in range(5, 10)]
    assert all(isinstance(outcomes[f"sku-{i}"], Failed) for i in range(5))


def test_send_paced_calls_stop_at_the_deadline_instead_of_sleeping_past_it() -> None:
    # 60 items at one call per window (1.03 s, ingest.pacing) with a 3.9 s budget: four calls fit (the last starts
    # at 3.09 s, with the shortest call's 0.75 s, margin included, still left), the other two chunks are out of time.
    records = valid([item(f"sku-{i}") for i in range(60)])
    calls = plan_calls(records, targets=TARGETS, max_records=MAX).calls
    fake, clock = FakePersonalizeEvents(), FakeClock()
    paced = Sender(
        sink=PersonalizeEventsSink(fake),
        apis=api_models(),
        telemetry=Telemetry(),
        deadline=clock() + 3.9,
        pacer=Pacer(quotas={"PutItems": 1.0}, adaptive=False, clock=clock, sleep=clock.sleep),
        clock=clock,
        sleep=clock.sleep,
    )

    outcomes = [outcome for call in calls for outcome in paced.send(call).values()]

    assert len(fake.calls) == 4
    assert clock.now <= 1000.0 + 3.9
    assert [type(outcome).__name__ for outcome in outcomes] == ["Accepted"] * 40 + ["Failed"] * 20
    assert {o.failure.error_code for o in outcomes if isinstance(o, Failed)} == {"OutOfTime"}
