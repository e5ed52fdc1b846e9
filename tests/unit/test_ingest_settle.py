"""Settling a batch from its ledger (ingest.settle): what is acknowledged, retried and dead-lettered, and the answer."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from contract import Dimension, ErrorCode, Metric
from ingest.dead_letter import DeadLetter
from ingest.decode import Message
from ingest.ledger import Ledger
from ingest.settle import Outlet, own_fates, settle, write_letters
from ingest.telemetry import Telemetry
from tests.support.batch import DENIED, UNAVAILABLE, item_change, last_delivery, ledger, message


class RecordingDeadLetters:
    """A DLQ writer that confirms every letter except those of ``refuse`` (message ids)."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse
        self.sent: list[tuple[list[str], float | None]] = []

    def send(self, letters: Sequence[DeadLetter], *, time_left_s: float | None = None) -> set[str]:
        self.sent.append(([letter.message.message_id for letter in letters], time_left_s))
        return {letter.message.message_id for letter in letters} & self.refuse


def outlet(dead_letters: RecordingDeadLetters | None = None, time_left: float | None = 2.5) -> Outlet:
    return Outlet(
        dead_letters=dead_letters or RecordingDeadLetters(),
        time_left=lambda: time_left,
        telemetry=Telemetry(),
        log=logging.getLogger("test-settle"),
    )


def by_id(*messages: Message) -> dict[str, Message]:
    return {m.message_id: m for m in messages}


def test_settle_own_fates_poison_is_dead_lettered_and_counts_as_refused() -> None:
    book = ledger()
    book.reject(message(0), ErrorCode.MALFORMED_MESSAGE, "body is not valid JSON")

    fates = own_fates(book, by_id(message(0)), outlet())

    assert fates.letters["m0"].code == ErrorCode.MALFORMED_MESSAGE
    assert fates.refused == {"m0"}
    assert fates.failed == set()


def test_settle_own_fates_setup_error_is_retried_even_on_the_last_delivery_and_counted() -> None:
    failed = last_delivery(0)
    book, out = ledger(), outlet()
    book.fail(failed, DENIED, "PutItems")

    fates = own_fates(book, by_id(failed), out)

    assert fates.failed == fates.explained == {"m0"}
    assert fates.letters == {}
    assert out.telemetry.get(Metric.SETUP_ERRORS, {Dimension.ERROR_CODE: "AccessDeniedException"}) == 1


def test_settle_own_fates_retryable_failure_is_retried_or_dead_lettered_on_the_last_delivery() -> None:
    retried, exhausted = message(0), last_delivery(1)
    book = ledger()
    book.fail(retried, UNAVAILABLE, "PutItems")
    book.fail(exhausted, UNAVAILABLE, "PutItems")

    fates = own_fates(book, by_id(retried, exhausted), outlet())

    assert fates.failed == {"m0"}
    letter = fates.letters["m1"]
    assert (letter.code, letter.reason, letter.api) == (
        ErrorCode.RETRIES_EXHAUSTED,
        "ServiceUnavailable: try later",
        "PutItems",
    )


def test_settle_own_fates_a_rider_waits_for_its_leader() -> None:
    rider, leader = last_delivery(0), message(1)
    book = ledger()
    book.fail(rider, UNAVAILABLE, "PutItems", leader=leader)

    fates = own_fates(book, by_id(rider, leader), outlet())

    assert set(fates.riders) == {"m0"}
    assert fates.failed == set()
    assert fates.letters == {}


def test_settle_letters_the_dlq_confirms_are_acknowledged_and_the_others_redelivered() -> None:
    messages = [message(0), message(1), message(2)]
    book = ledger(*(item_change(m, f"sku-{m.position}") for m in messages))
    book.reject(messages[0], ErrorCode.SCHEMA_VIOLATION, "bad")
    book.reject(messages[1], ErrorCode.SCHEMA_VIOLATION, "bad")
    book.accepted.add("m2")
    dead_letters = RecordingDeadLetters(refuse=frozenset({"m1"}))
    out = outlet(dead_letters)

    result = settle(messages, book, out)

    assert result.failed == ["m1"]
    assert result.dead_lettered == {"m0": ErrorCode.SCHEMA_VIOLATION}
    assert result.accepted == {"m2"}
    assert result.response() == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert dead_letters.sent == [(["m0", "m1"], 2.5)]  # in batch order, within the time left
    assert out.telemetry.get(Metric.RECORDS_DEAD_LETTERED, {Dimension.ERROR_CODE: "SchemaViolation"}) == 1
    assert out.telemetry.get(Metric.RECORDS_FAILED) == 1


def test_settle_fifo_a_failed_dead_letter_write_refails_the_later_messages_of_its_group() -> None:
    # GIVEN m0 poison, m1 behind it in its group accepted, m2 in another group accepted; the DLQ refuses m0
    messages = [message(0, group="g"), message(1, group="g"), message(2, group="h")]
    book = ledger(*(item_change(m, f"sku-{m.position}") for m in messages), fifo=True)
    book.reject(messages[0], ErrorCode.INVALID_INPUT, "refused", "PutItems")
    book.accepted |= {"m1", "m2"}

    result = settle(messages, book, outlet(RecordingDeadLetters(refuse=frozenset({"m0"}))))

    # THEN m0 comes back, and m1 with it so that the group's order holds; m2 is acknowledged
    assert result.failed == ["m0", "m1"]
    assert result.accepted == {"m2"}


def test_settle_an_older_change_is_superseded_when_its_newer_one_was_accepted() -> None:
    older, newer = message(0, sent=100), message(1, sent=200)
    book = ledger(item_change(older, "A"), item_change(newer, "A"))
    book.fail(older, UNAVAILABLE, "PutItems")  # e.g. held back, then its newer change went out alone
    book.accepted.add("m1")
    out = outlet()

    result = settle([older, newer], book, out)

    assert result.failed == []
    assert result.superseded == {"m0": "m1"}
    assert out.telemetry.get(Metric.RECORDS_SUPERSEDED, {Dimension.API: "PutItems"}) == 1


def test_settle_a_rider_of_a_retried_leader_is_redelivered_with_it() -> None:
    rider, leader = message(0, sent=100), message(1, sent=200)
    book = ledger(item_change(rider, "A"), item_change(leader, "A"))
    book.fail(leader, UNAVAILABLE, "PutItems")
    book.fail(rider, UNAVAILABLE, "PutItems", leader=leader)

    result = settle([rider, leader], book, outlet())

    assert result.failed == ["m0", "m1"]
    assert result.superseded == {}


def test_settle_write_letters_without_letters_writes_nothing() -> None:
    dead_letters = RecordingDeadLetters()

    assert write_letters([], outlet(dead_letters)) == {}
    assert dead_letters.sent == []


def test_settle_nothing_failed_answers_every_message_acknowledged() -> None:
    messages = [message(0), message(1)]
    book: Ledger = ledger(*(item_change(m, f"sku-{m.position}") for m in messages))
    book.accepted |= {"m0", "m1"}

    result = settle(messages, book, outlet())

    assert result.response() == {"batchItemFailures": []}
    assert result.accepted == {"m0", "m1"}
