"""The batch's per-message state (ingest.ledger): what ``fail`` and ``reject`` record, and when a message is on its
last delivery."""

from __future__ import annotations

import pytest

from contract import ErrorCode
from ingest.errors import CallFailure, Disposition
from ingest.ledger import Failure, Ledger
from tests.support.batch import DENIED, UNAVAILABLE, last_delivery, message


def test_ledger_fail_records_the_failure_and_the_first_failed_position_of_its_group() -> None:
    book = Ledger(fifo=True, max_receive_count=5)

    book.fail(message(4, group="g"), UNAVAILABLE, "PutItems")
    book.fail(message(2, group="g"), UNAVAILABLE, "PutItems")
    book.fail(message(7, group="g"), UNAVAILABLE, "PutItems")

    assert book.first_failure == {"g": 2}
    assert book.failures["m4"] == Failure(UNAVAILABLE, "PutItems")


def test_ledger_fail_of_a_rider_holds_back_nothing_and_names_its_leader() -> None:
    book = Ledger(fifo=True, max_receive_count=5)

    book.fail(message(1, group="g"), UNAVAILABLE, "PutItems", leader=message(3, group="g"))

    assert book.first_failure == {}
    assert book.failures["m1"].leader == "m3"


@pytest.mark.parametrize(
    ("failure", "holds_back"),
    [(UNAVAILABLE, False), (DENIED, True)],
    ids=["retryable-is-dead-lettered", "setup-error-is-redelivered"],
)
def test_ledger_fail_on_the_last_delivery_holds_back_its_group_only_when_sqs_redelivers_it(
    failure: CallFailure, holds_back: bool
) -> None:
    book = Ledger(fifo=True, max_receive_count=5)

    book.fail(last_delivery(1, group="g"), failure, "PutItems")

    assert (book.first_failure == {"g": 1}) is holds_back


def test_ledger_fail_on_a_standard_queue_holds_back_nothing() -> None:
    book = Ledger(fifo=False, max_receive_count=5)

    book.fail(message(1), UNAVAILABLE, "PutItems")

    assert book.first_failure == {}


@pytest.mark.parametrize(
    ("limit", "receive_count", "last"),
    [(5, 5, True), (5, 6, True), (5, 4, False), (None, 99, False), (0, 99, False)],
)
def test_ledger_last_delivery_is_the_receive_count_reaching_the_redrive_limit(
    limit: int | None, receive_count: int, last: bool
) -> None:
    book = Ledger(fifo=False, max_receive_count=limit)

    assert book.last_delivery(message(0, receive_count=receive_count)) is last


def test_ledger_reject_keeps_a_dead_letter_with_code_reason_and_api() -> None:
    book = Ledger(fifo=False, max_receive_count=5)

    book.reject(message(0), ErrorCode.INVALID_INPUT, "items[0] is invalid", "PutItems")

    [letter] = book.poison
    assert (letter.message.message_id, letter.code, letter.reason, letter.api) == (
        "m0",
        ErrorCode.INVALID_INPUT,
        "items[0] is invalid",
        "PutItems",
    )


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (UNAVAILABLE, "ServiceUnavailable: try later"),
        (CallFailure(Disposition.RETRYABLE, "OutOfTime", ""), "OutOfTime"),
    ],
)
def test_ledger_failure_reason_is_the_code_and_the_service_message(failure: CallFailure, reason: str) -> None:
    assert Failure(failure, "PutItems").reason == reason
