"""Superseding through the handler: of several changes to one item, action or user, the newest is what counts.

Items, actions and users are replaced whole (docs/personalize.md §1, "Upsert"), so within a batch only the newest
change to a record is sent, and the older ones settle with it: acknowledged when it was accepted or is being
dead-lettered, and never left to reach the DLQ alone, where a redrive would write the older state over the newer.
"""

from __future__ import annotations

import pytest

from tests.handlers.conftest import SHORT_INVOCATION_MS, Harness, failures, make_harness
from tests.support.dead_letter_faults import RefusingDeadLetterQueue
from tests.support.fakes import DATASETS, client_error
from tests.support.sqs_events import item, sqs_record

THROTTLE = client_error("ThrottlingException", 400, "Rate exceeded")
UNAVAILABLE = client_error("ServiceUnavailable", 503, "later")


def test_handler_duplicate_ids_collapse_to_the_newest_and_all_are_acknowledged(harness: Harness) -> None:
    records = [
        sqs_record(item("sku-1", price=1), sent_timestamp=100),
        sqs_record(item("sku-1", price=3), sent_timestamp=300),
        sqs_record(item("sku-1", price=2), sent_timestamp=200),
        sqs_record(item("sku-2"), sent_timestamp=150),
    ]

    response = harness.invoke({"Records": records})

    assert failures(response) == []
    assert harness.sent_ids() == ["sku-1", "sku-2"]
    assert harness.accepted_properties("sku-1")["price"] == 3


def test_handler_rejected_newest_change_lets_the_older_one_through(aws_env: None) -> None:
    harness = make_harness()
    harness.events.script = [client_error("InvalidInputException", 400, "bad")]  # the first call: newest sku-1 alone
    records = [
        sqs_record(item("sku-1", price=1), sent_timestamp=100),
        sqs_record(item("sku-1", price=2), sent_timestamp=200),
    ]

    response = harness.invoke({"Records": records})

    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert letter["SourceMessageId"] == records[1]["messageId"]
    assert harness.accepted_properties("sku-1")["price"] == 1


@pytest.mark.parametrize(
    ("older_deliveries", "newest_deliveries", "describe_fails", "dlq_refuses_newest", "newest_outcome"),
    [
        # The newest is retried; the older one, which it replaces whole, is acknowledged: reported failed, SQS would
        # move it to the DLQ alone and without a reason, and a redrive would write price 1 over the newest state.
        (5, 1, False, False, "retried"),
        # Neither could even be validated (DescribeDataset throttled): the same, and no RetriesExhausted letter for
        # the older one that a redrive would write over the newest state.
        (5, 1, True, False, "retried"),
        # Only the newest goes to the DLQ: the older one beside it, replayed by a redrive after the newest, would
        # write the older state over the newer one.
        (2, 5, False, False, "dead-lettered"),
        # The DLQ refuses the newest one's letter: it stays in SQS's keeping (redelivered, or moved by the redrive
        # policy), and the older one, which it replaces whole, is acknowledged rather than replayed after it.
        (2, 5, False, True, "retried"),
        # Both out of deliveries, and the newest one's letter refused: the newest stays in SQS's keeping (its
        # redrive policy moves it), and the older one is acknowledged: had it been reported failed too, SQS would
        # move both, and a redrive could apply them in either order.
        (5, 5, False, True, "retried"),
    ],
    ids=[
        "older-on-last-delivery-newest-retried",
        "older-on-last-delivery-dataset-not-described",
        "newest-dead-lettered",
        "newest-dead-letter-refused",
        "both-on-last-delivery-newest-dead-letter-refused",
    ],
)
@pytest.mark.usefixtures("aws_env")
def test_handler_older_duplicate_acknowledged_while_the_newest_stays_in_sqs_or_the_dlq(
    older_deliveries: int,
    newest_deliveries: int,
    describe_fails: bool,
    dlq_refuses_newest: bool,
    newest_outcome: str,
) -> None:
    # GIVEN two changes to one item that cannot be written now (Personalize answers 503, or the items dataset
    # cannot be described), with the receive counts of the case
    refusing = lambda sqs: RefusingDeadLetterQueue(sqs, refuse='"price": 2')  # noqa: E731 - one use, right below
    harness = make_harness(
        failing_ids={} if describe_fails else {"sku-1": UNAVAILABLE},
        dead_letter_client=refusing if dlq_refuses_newest else None,
    )
    if describe_fails:
        harness.control.failing_datasets[DATASETS["ITEMS"]] = THROTTLE
    older = sqs_record(item("sku-1", price=1), sent_timestamp=100, receive_count=older_deliveries)
    newest = sqs_record(item("sku-1", price=2), sent_timestamp=200, receive_count=newest_deliveries)

    response = harness.invoke({"Records": [older, newest]}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN the older one is acknowledged, never dead-lettered; the newest is retried, or in the DLQ
    letters = {letter["SourceMessageId"]: letter["ErrorCode"] for letter in harness.dead_letters()}
    if newest_outcome == "retried":
        assert failures(response) == [newest["messageId"]]
        assert letters == {}
    else:
        assert failures(response) == []
        assert letters == {newest["messageId"]: "RetriesExhausted"}
