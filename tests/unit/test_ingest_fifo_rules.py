"""FIFO order over the batch's ledger (ingest.fifo): what a failed message holds back while sending and settling."""

from __future__ import annotations

from contract import ErrorCode
from ingest import fifo
from ingest.dead_letter import DeadLetter
from ingest.ledger import Fates
from ingest.plan import plan_fifo_round
from ingest.send import BLOCKED_BY_EARLIER_FAILURE
from tests.support.batch import UNAVAILABLE, change, item_change, last_delivery, ledger, message, valid


def test_fifo_blocked_only_behind_an_earlier_failure_of_the_same_group() -> None:
    book = ledger(fifo=True)
    book.fail(message(2, group="g"), UNAVAILABLE, "PutItems")

    assert fifo.blocked(book, message(3, group="g"))
    assert not fifo.blocked(book, message(1, group="g"))  # earlier in the group
    assert not fifo.blocked(book, message(2, group="g"))  # the failed one itself
    assert not fifo.blocked(book, message(3, group="other"))
    assert not fifo.blocked(book, message(3))  # no group: a standard queue


def test_fifo_fail_if_blocked_fails_the_record_unsent_as_held_back() -> None:
    book = ledger(fifo=True)
    book.fail(message(0, group="g"), UNAVAILABLE, "PutItems")
    held, free = valid(item_change(message(1, group="g"), "A")), valid(item_change(message(2, group="h"), "B"))

    assert fifo.fail_if_blocked(book, held)
    assert not fifo.fail_if_blocked(book, free)
    assert book.failures["m1"].failure == BLOCKED_BY_EARLIER_FAILURE
    assert "m2" not in book.failures


def test_fifo_not_planned_leaves_what_the_round_neither_sends_nor_supersedes() -> None:
    # GIVEN one group: A, A again (the first rides on the second), then a user (another call: the next round)
    records = [
        valid(item_change(message(0, group="g"), "A")),
        valid(item_change(message(1, group="g"), "A")),
        valid(change(message(2, group="g"), "user", userId="U", properties={})),
    ]

    plan = plan_fifo_round(records, targets={"item": "arn", "user": "arn"}, max_records={"item": 10, "user": 10})

    assert [record.change.message.message_id for record in fifo.not_planned(records, plan)] == ["m2"]


def test_fifo_behind_failed_maps_every_later_message_of_a_group_to_its_first_failed_one() -> None:
    messages = [message(0, group="g"), message(1, group="g"), message(2, group="h"), message(3, group="g"), message(4)]

    held = fifo.behind_failed(messages, failed={"m1", "m3", "m4"})

    assert {message_id: holder.message_id for message_id, holder in held.items()} == {"m3": "m1"}


def test_fifo_hold_back_redelivers_later_messages_with_deliveries_left_and_drops_their_letters() -> None:
    # GIVEN m0 failed (redelivered), and m1 behind it a poison message with a letter of its own
    messages = [message(0, group="g"), message(1, group="g")]
    book = ledger(fifo=True)
    book.fail(messages[0], UNAVAILABLE, "PutItems")
    fates = Fates(failed={"m0"}, letters={"m1": DeadLetter(messages[1], ErrorCode.SCHEMA_VIOLATION, "bad")})

    fifo.hold_back(book, messages, {m.message_id: m for m in messages}, fates)

    # THEN m1 is redelivered behind m0, in order, and dead-lettered on a later delivery if still poison
    assert fates.failed == {"m0", "m1"}
    assert fates.letters == {}


def test_fifo_hold_back_dead_letters_a_later_message_on_its_last_delivery_naming_the_failed_one() -> None:
    messages = [message(0, group="g"), last_delivery(1, group="g")]
    book = ledger(item_change(messages[1], "B"), fifo=True)
    book.fail(messages[0], UNAVAILABLE, "PutItems")
    fates = Fates(failed={"m0"})

    fifo.hold_back(book, messages, {m.message_id: m for m in messages}, fates)

    assert fates.failed == {"m0"}
    letter = fates.letters["m1"]
    assert (letter.code, letter.api) == (ErrorCode.RETRIES_EXHAUSTED, "PutItems")
    assert letter.reason == "held back behind message m0 of its group, which failed: ServiceUnavailable: try later"


def test_fifo_hold_back_keeps_a_letter_of_its_own_on_the_last_delivery() -> None:
    messages = [message(0, group="g"), last_delivery(1, group="g")]
    book = ledger(fifo=True)
    book.fail(messages[0], UNAVAILABLE, "PutItems")
    own = DeadLetter(messages[1], ErrorCode.SCHEMA_VIOLATION, "properties.colour: not in the schema")
    fates = Fates(failed={"m0"}, letters={"m1": own})

    fifo.hold_back(book, messages, {m.message_id: m for m in messages}, fates)

    assert fates.letters == {"m1": own}


def test_fifo_hold_back_leaves_riders_to_their_leader() -> None:
    messages = [message(0, group="g"), message(1, group="g"), message(2, group="g")]
    book = ledger(fifo=True)
    book.fail(messages[0], UNAVAILABLE, "PutItems")
    book.fail(messages[1], UNAVAILABLE, "PutItems", leader=messages[2])
    fates = Fates(failed={"m0"}, riders={"m1": book.failures["m1"]})

    fifo.hold_back(book, messages, {m.message_id: m for m in messages}, fates)

    assert fates.failed == {"m0", "m2"}
