"""Superseding over the batch's ledger (ingest.supersede): which unwritten older changes settle with a newer one."""

from __future__ import annotations

import pytest

from contract import ErrorCode
from ingest.dead_letter import DeadLetter
from ingest.decode import Message
from ingest.ledger import Fates, Ledger
from ingest.supersede import newest_changes, supersede
from tests.support.batch import UNAVAILABLE, change, item_change, last_delivery, ledger, message


def test_supersede_newest_changes_map_each_older_change_to_the_newest_of_its_record() -> None:
    first, second, third = message(0, sent=100), message(1, sent=300), message(2, sent=200)
    book = ledger(item_change(first, "A"), item_change(second, "A"), item_change(third, "A"))

    assert newest_changes(book, refused=set()) == {"m0": "m1", "m2": "m1"}


def test_supersede_newest_changes_leave_out_refused_changes_and_events() -> None:
    older, refused_newest = message(0), message(1)
    event = change(message(2), "event", sessionId="s-1", userId="u-1", eventType="click", itemId="A")
    book = ledger(item_change(older, "A"), item_change(refused_newest, "A"), event)

    assert newest_changes(book, refused={"m1"}) == {}


def test_supersede_newest_changes_on_a_fifo_queue_stay_within_a_group() -> None:
    messages = [message(0, group="g"), message(1, group="h"), message(2, group="g")]
    book = ledger(*(item_change(m, "A") for m in messages), fifo=True)

    assert newest_changes(book, refused=set()) == {"m0": "m2"}


def test_supersede_newest_changes_count_a_change_not_validated_yet_by_the_id_it_names() -> None:
    book = ledger(
        item_change(message(0), "A"),
        item_change(message(1), "A"),
        change(message(2), "item", itemId=7),  # not even a string: it names no record
        change(message(3), "item", itemId=7),
        validated=False,
    )

    assert newest_changes(book, refused=set()) == {"m0": "m1"}


def settle_older(book: Ledger, older: Message, fates: Fates) -> Fates:
    supersede(book, {older.message_id: older}, fates, newest={older.message_id: "newer"})
    return fates


@pytest.mark.parametrize(
    ("newer_accepted", "newer_failed", "newer_letter", "older_last_delivery", "superseded"),
    [
        (True, False, False, False, True),  # the newer change was written
        (True, True, False, False, False),  # written, but re-failed (its DLQ write failed behind it): redelivered
        (False, False, True, False, True),  # the newer change is being dead-lettered
        (False, True, False, True, True),  # the older one on its last delivery: never alone to the DLQ
        (False, True, False, False, False),  # the newer is retried, the older has deliveries left: retried too
    ],
    ids=[
        "newer-accepted",
        "newer-accepted-then-refailed",
        "newer-dead-lettered",
        "older-last-delivery",
        "both-retried",
    ],
)
def test_supersede_older_change_is_acknowledged_when_the_newer_one_keeps_the_record(
    newer_accepted: bool, newer_failed: bool, newer_letter: bool, older_last_delivery: bool, superseded: bool
) -> None:
    older = last_delivery(0) if older_last_delivery else message(0)
    book = ledger(item_change(older, "A"))
    book.fail(older, UNAVAILABLE, "PutItems")
    if newer_accepted:
        book.accepted.add("newer")
    fates = Fates(failed={"m0"} | ({"newer"} if newer_failed else set()))
    if newer_letter:
        fates.letters["newer"] = DeadLetter(message(1, message_id="newer"), ErrorCode.RETRIES_EXHAUSTED, "x")
    if older_last_delivery:
        fates.letters["m0"] = DeadLetter(older, ErrorCode.RETRIES_EXHAUSTED, "x")

    settle_older(book, older, fates)

    assert (fates.superseded == {"m0": "newer"}) is superseded
    assert ("m0" in fates.failed or "m0" in fates.letters) is not superseded


def test_supersede_an_older_change_accepted_or_refused_itself_is_not_superseded() -> None:
    accepted, refused = message(0), message(1)
    book = ledger(item_change(accepted, "A"), item_change(refused, "A"))
    book.accepted |= {"m0", "newer"}
    fates = Fates(refused={"m1"}, letters={"m1": DeadLetter(refused, ErrorCode.SCHEMA_VIOLATION, "x")})

    supersede(book, {"m0": accepted, "m1": refused}, fates, newest={"m0": "newer", "m1": "newer"})

    assert fates.superseded == {}
    assert "m1" in fates.letters


def test_supersede_a_rider_of_a_dead_lettered_leader_settles_with_it() -> None:
    rider = message(0)
    book = ledger(item_change(rider, "A"))
    book.fail(rider, UNAVAILABLE, "PutItems", leader=message(1, message_id="newer"))
    fates = Fates(riders={"m0": book.failures["m0"]})
    fates.letters["newer"] = DeadLetter(message(1, message_id="newer"), ErrorCode.RETRIES_EXHAUSTED, "x")

    settle_older(book, rider, fates)

    assert fates.superseded == {"m0": "newer"}
    assert fates.riders == {}
