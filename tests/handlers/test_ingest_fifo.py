"""FIFO queues through the handler: a message group's order holds across calls (issue 5).

"When a record fails, every later record of the same group in the batch is reported failed too (and not sent)."
One group may need several Put* calls: the publisher groups a session's events and action interactions together,
a session's events change call when their userId does, and a publisher may put an item and a user in one group.
Each test makes a record fail *through its data* (its id is in the fake's ``failing_ids``) and checks what reached
Personalize, in which order, and what SQS is told to redeliver. A later record on its last delivery is the
exception: SQS would move it to the DLQ without a reason, so the handler dead-letters it with one.
"""

from __future__ import annotations

from typing import Any

import pytest

from contract import KINDS_BY_API
from tests.handlers.conftest import SHORT_INVOCATION_MS, Harness, failures, make_harness
from tests.support.dead_letter_faults import BrokenSqs
from tests.support.fakes import DATASETS, client_error, poison_id_field
from tests.support.sqs_events import action, action_interaction, event, item, sqs_record, user

UNAVAILABLE = client_error("ServiceUnavailable", 503, "try later")
INVALID = client_error("InvalidInputException", 400, "refused")


def sent(harness: Harness) -> list[tuple[str, str]]:
    """Every record sent, in call order, as (API, the record's distinguishing id)."""
    return [
        (api, record[poison_id_field(api)])
        for api, kwargs in harness.events.calls
        for record in kwargs[KINDS_BY_API[api].list_field]
    ]


def accepted(harness: Harness) -> list[str]:
    """The ids of the records Personalize accepted, in the order it accepted them."""
    return [
        str(record.get("itemId", record.get("actionId", record.get("userId")))) for record in harness.events.accepted
    ]


@pytest.mark.parametrize(
    ("bodies", "failing", "first_sent"),
    [
        # PutEvents would carry e1 and e2 together, before the action interaction between them failed.
        (
            [event("s-1", "u-1", "e1"), action_interaction("ai", "s-1"), event("s-1", "u-1", "e2")],
            "ai",
            [("PutEvents", "e1"), ("PutActionInteractions", "ai")],
        ),
        # PutItems would carry A and B together, before the user between them failed.
        ([item("A"), user("U"), item("B")], "U", [("PutItems", "A"), ("PutUsers", "U")]),
        # A session's events whose userId changes are two PutEvents calls (sessionId and userId are per call).
        (
            [event("s-1", "u-1", "e1"), event("s-1", "u-2", "e2"), event("s-1", "u-1", "e3")],
            "e2",
            [("PutEvents", "e1"), ("PutEvents", "e2")],
        ),
    ],
    ids=["event-interaction-event", "item-user-item", "events-user-changes"],
)
def test_fifo_group_spanning_calls_later_record_never_sent_before_an_earlier_one_fails(
    aws_env: None,
    bodies: list[dict[str, Any]],
    failing: str,
    first_sent: list[tuple[str, str]],
) -> None:
    # GIVEN one message group whose middle record fails (503), and another group that is fine
    harness = make_harness(failing_ids={failing: UNAVAILABLE})
    group = [sqs_record(body, group_id="g-1") for body in bodies]
    other = sqs_record(item("other"), group_id="g-2")

    # WHEN the batch is processed
    response = harness.invoke({"Records": [*group, other]}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN the failed record and the one after it are redelivered, and that later record was never sent
    assert failures(response) == [group[1]["messageId"], group[2]["messageId"]]
    assert [entry for entry in sent(harness) if entry[1] != "other"][: len(first_sent)] == first_sent
    later = bodies[2].get("itemId", bodies[2].get("actionId"))
    assert later not in [record_id for _, record_id in sent(harness)]
    # AND the earlier record and the other group were accepted; nothing was dead-lettered
    assert set(accepted(harness)) == {bodies[0].get("itemId", bodies[0].get("actionId")), "other"}
    assert harness.dead_letters() == []


def test_fifo_group_spanning_calls_all_fine_goes_out_in_group_order(harness: Harness) -> None:
    # GIVEN a session's event, action interaction and event, in one group
    records = [
        sqs_record(body, group_id="s-1")
        for body in (event("s-1", "u-1", "e1"), action_interaction("ai", "s-1"), event("s-1", "u-1", "e2"))
    ]

    response = harness.invoke({"Records": records})

    # THEN everything is accepted, in the group's order: the event after the interaction waits for it
    assert failures(response) == []
    assert sent(harness) == [("PutEvents", "e1"), ("PutActionInteractions", "ai"), ("PutEvents", "e2")]


def test_standard_queue_same_records_keep_one_call_per_api(harness: Harness) -> None:
    # A standard queue promises no order: the session's two events still share one PutEvents call.
    records = [
        sqs_record(body)
        for body in (event("s-1", "u-1", "e1"), action_interaction("ai", "s-1"), event("s-1", "u-1", "e2"))
    ]

    response = harness.invoke({"Records": records})

    assert failures(response) == []
    assert sorted(harness.events.apis()) == ["PutActionInteractions", "PutEvents"]


def test_fifo_rounds_keep_independent_groups_in_shared_calls(harness: Harness) -> None:
    # Ten sessions, each an event then an action interaction: two rounds of one call per API, not twenty calls.
    records = [
        sqs_record(body, group_id=f"s-{n}")
        for n in range(10)
        for body in (event(f"s-{n}", "u-1", f"e{n}"), action_interaction(f"ai{n}", f"s-{n}"))
    ]
    # Same userId, different sessions: PutEvents carries one sessionId per call, so one call per session.
    response = harness.invoke({"Records": records})

    assert failures(response) == []
    assert harness.events.apis().count("PutActionInteractions") == 1
    assert len(harness.sent_ids("PutEvents")) == 10


# --- same id in one FIFO batch ----------------------------------------------------------------------------------


def calls_by_ids(harness: Harness) -> list[list[str]]:
    return [
        [record["itemId"] for record in kwargs["items"]] for api, kwargs in harness.events.calls if api == "PutItems"
    ]


def test_fifo_changes_to_one_id_never_share_a_call_and_the_newest_wins(harness: Harness) -> None:
    # GIVEN three changes to one item in its group (the publisher's item#<id>), and another item
    versions = [sqs_record(item("A", price=price), group_id="item#A") for price in (1, 2, 3)]
    other = sqs_record(item("B"), group_id="item#B")

    response = harness.invoke({"Records": [*versions, other]})

    # THEN no call carries two changes to one id (the order Personalize applies a call's records in is not
    # documented), the newest change is what Personalize holds, and every message is acknowledged
    assert failures(response) == []
    assert all(len(ids) == len(set(ids)) for ids in calls_by_ids(harness))
    assert harness.accepted_properties("A")["price"] == 3
    assert harness.dead_letters() == []


def test_fifo_same_id_in_two_groups_goes_out_in_successive_calls_in_batch_order(harness: Harness) -> None:
    first = sqs_record(item("A", price=1), group_id="imports")
    second = sqs_record(item("A", price=2), group_id="pricing")

    response = harness.invoke({"Records": [first, second]})

    assert failures(response) == []
    assert calls_by_ids(harness) == [["A"], ["A"]]
    assert [record["properties"] for record in harness.events.accepted] == ['{"price":1}', '{"price":2}']


def test_fifo_newest_change_fails_transiently_every_change_to_the_id_redelivered(aws_env: None) -> None:
    harness = make_harness(failing_ids={"A": UNAVAILABLE})
    versions = [sqs_record(item("A", price=price), group_id="item#A") for price in (1, 2, 3)]

    response = harness.invoke({"Records": versions}, remaining_ms=SHORT_INVOCATION_MS)

    assert failures(response) == [record["messageId"] for record in versions]
    assert harness.dead_letters() == []


def test_fifo_newest_change_rejected_the_one_before_it_is_written(aws_env: None) -> None:
    harness = make_harness(script=[INVALID])  # the first call: the newest change, alone
    versions = [sqs_record(item("A", price=price), group_id="item#A") for price in (1, 2, 3)]

    response = harness.invoke({"Records": versions})

    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert (letter["SourceMessageId"], letter["ErrorCode"]) == (versions[2]["messageId"], "InvalidInput")
    assert harness.accepted_properties("A")["price"] == 2


def test_fifo_older_change_on_its_last_delivery_acknowledged_while_the_newest_is_retried(aws_env: None) -> None:
    # GIVEN an older change on its last delivery and a newer one to the same id that fails transiently
    harness = make_harness(failing_ids={"A": UNAVAILABLE}, fifo=True)
    older = sqs_record(item("A", price=1), group_id="item#A", receive_count=5)
    newer = sqs_record(item("A", price=2), group_id="item#A", receive_count=4)

    response = harness.invoke({"Records": [older, newer]}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN only the newer one is retried, and nothing is dead-lettered: the newer change replaces the older one
    # whole, while the older one, reported failed, would be moved to the DLQ alone by SQS and redriven later over
    # the newer state
    assert failures(response) == [newer["messageId"]]
    assert harness.dead_letters() == []


# --- on the last delivery, behind a failed message ---------------------------------------------------------------


def test_fifo_held_back_message_on_its_last_delivery_dead_lettered_naming_the_failed_one(aws_env: None) -> None:
    # GIVEN a group whose first message fails (503) and whose next one, another call, is on its last delivery
    harness = make_harness(failing_ids={"A": UNAVAILABLE}, fifo=True)
    first = sqs_record(item("A"), group_id="g", receive_count=1)
    held = sqs_record(user("U"), group_id="g", receive_count=5)

    response = harness.invoke({"Records": [first, held]}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN the held-back one was never sent, yet is not left for SQS to dead-letter without a reason: it is
    # dead-lettered now, naming the message it waited behind and that one's error, and acknowledged
    assert failures(response) == [first["messageId"]]
    assert ("PutUsers", "U") not in sent(harness)
    [letter] = harness.dead_letters()
    assert (letter["SourceMessageId"], letter["ErrorCode"], letter["body"]) == (
        held["messageId"],
        "RetriesExhausted",
        held["body"],
    )
    assert letter["ErrorMessage"] == (
        f"held back behind message {first['messageId']} of its group, which failed: ServiceUnavailable: try later"
    )


def test_fifo_message_failing_with_an_earlier_one_on_its_last_delivery_dead_lettered_with_its_own_reason(
    aws_env: None,
) -> None:
    # GIVEN two items of one group in one call, which fails (503); the second is on its last delivery
    harness = make_harness(failing_ids={"A": UNAVAILABLE}, fifo=True)
    first = sqs_record(item("A"), group_id="g", receive_count=1)
    second = sqs_record(item("B"), group_id="g", receive_count=5)

    response = harness.invoke({"Records": [first, second]}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN the first is retried; the second is dead-lettered with its own call's error, not left for SQS to move
    assert failures(response) == [first["messageId"]]
    [letter] = harness.dead_letters()
    assert (letter["SourceMessageId"], letter["ErrorCode"]) == (second["messageId"], "RetriesExhausted")
    assert letter["ErrorMessage"] == "ServiceUnavailable: try later"


def test_fifo_held_back_message_with_deliveries_left_stays_queued_behind_the_failed_one(aws_env: None) -> None:
    harness = make_harness(failing_ids={"A": UNAVAILABLE}, fifo=True)
    first = sqs_record(item("A"), group_id="g", receive_count=1)
    held = sqs_record(user("U"), group_id="g", receive_count=4)

    response = harness.invoke({"Records": [first, held]}, remaining_ms=SHORT_INVOCATION_MS)

    assert failures(response) == [first["messageId"], held["messageId"]]
    assert harness.dead_letters() == []


def test_fifo_held_back_message_on_its_last_delivery_stays_queued_when_its_dead_letter_fails(aws_env: None) -> None:
    harness = make_harness(failing_ids={"A": UNAVAILABLE}, fifo=True, dead_letter_client=lambda _sqs: BrokenSqs())
    first = sqs_record(item("A"), group_id="g", receive_count=1)
    held = sqs_record(user("U"), group_id="g", receive_count=5)

    response = harness.invoke({"Records": [first, held]}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN nothing is acknowledged that the DLQ did not confirm
    assert failures(response) == [first["messageId"], held["messageId"]]


# --- the same id in two groups -----------------------------------------------------------------------------------


def test_fifo_same_id_in_two_groups_the_later_change_in_the_batch_is_written_last(harness: Harness) -> None:
    # GIVEN item A changed in "imports", then in "pricing", behind another item of "pricing"
    y = sqs_record(item("Y"), group_id="pricing", sent_timestamp=1)
    older = sqs_record(item("A", price=1), group_id="imports", sent_timestamp=2)
    newer = sqs_record(item("A", price=2), group_id="pricing", sent_timestamp=3)

    response = harness.invoke({"Records": [y, older, newer]})

    # THEN the later change is what Personalize holds: "pricing" may not send A before "imports" sent its own
    assert failures(response) == []
    assert calls_by_ids(harness) == [["Y", "A"], ["A"]]
    assert [record["properties"] for record in harness.events.accepted if record["itemId"] == "A"] == [
        '{"price":1}',
        '{"price":2}',
    ]


# --- FIFO is the queue's type, not a MessageGroupId --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fifo", "expected_failures"), [(True, ["first", "second"]), (False, ["first"])], ids=["fifo", "fair-standard"]
)
def test_fifo_order_applies_only_to_a_fifo_queue_not_to_any_message_group_id(
    aws_env: None, fifo: bool, expected_failures: list[str]
) -> None:
    # GIVEN two messages of one MessageGroupId, the first failing (503): from a FIFO queue, or from a standard
    # (fair) queue, which accepts a MessageGroupId too but orders nothing by it
    harness = make_harness(failing_ids={"A": UNAVAILABLE}, fifo=fifo)
    records = {
        "first": sqs_record(item("A"), group_id="tenant-1", fifo=fifo),
        "second": sqs_record(user("U"), group_id="tenant-1", fifo=fifo),
    }

    response = harness.invoke({"Records": list(records.values())}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN only the FIFO queue's second message waits behind the first; the standard queue's is sent and accepted
    assert failures(response) == [records[name]["messageId"] for name in expected_failures]
    assert (("PutUsers", "U") in sent(harness)) is not fifo


# --- a failure holds back the rest of its group, wherever it happens -----------------------------------------------


def test_fifo_failure_fails_every_later_message_of_its_group_unsent(aws_env: None) -> None:
    harness = make_harness(script=[client_error("ResourceNotFoundException", 404)])
    first = sqs_record(item("sku-1", price=1), group_id="item#sku-1")
    second = sqs_record(item("sku-1", price=2), group_id="item#sku-1")
    other = sqs_record(action("a-1"), group_id="action#a-1")

    response = harness.invoke({"Records": [first, second, other]})

    assert failures(response) == [first["messageId"], second["messageId"]]
    assert harness.sent_ids("PutActions") == ["a-1"]


def test_fifo_later_poison_in_a_failed_group_is_redelivered_not_dead_lettered(aws_env: None) -> None:
    harness = make_harness(script=[client_error("ServiceUnavailable", 503)] * 10_000)
    first = sqs_record(item("sku-1", price=1), group_id="item#sku-1")
    broken = sqs_record("{not json", group_id="item#sku-1")

    response = harness.invoke({"Records": [first, broken]}, remaining_ms=5_000)

    assert failures(response) == [first["messageId"], broken["messageId"]]
    assert harness.dead_letters() == []


def test_fifo_failure_inside_a_bisected_call_holds_back_later_records_of_its_group(aws_env: None) -> None:
    # The whole call is refused (one poison record); its first half then meets a setup error. The second half
    # holds a later change of the failed group: it must stay unsent and be redelivered after the earlier one.
    harness = make_harness(poison_ids={"sku-poison"}, script=[None, client_error("AccessDeniedException", 403), None])
    first = sqs_record(item("sku-1"), group_id="catalog")
    poison = sqs_record(item("sku-poison"), group_id="imports")
    later = sqs_record(item("sku-2"), group_id="catalog")
    other = sqs_record(item("sku-3"), group_id="pricing")

    response = harness.invoke({"Records": [first, poison, later, other]})

    assert failures(response) == [first["messageId"], poison["messageId"], later["messageId"]]
    calls = [[record["itemId"] for record in kwargs["items"]] for _, kwargs in harness.events.calls]
    assert calls == [["sku-1", "sku-poison", "sku-2", "sku-3"], ["sku-1", "sku-poison"], ["sku-3"]]
    assert [record["itemId"] for record in harness.events.accepted] == ["sku-3"]
    assert harness.dead_letters() == []


def test_fifo_failure_before_sending_holds_back_later_messages_of_its_group(harness: Harness) -> None:
    # The users dataset cannot be described (throttled): the user change fails before any Put* call, so the
    # event published after it in the same group must not overtake it.
    harness.control.failing_datasets[DATASETS["USERS"]] = client_error(
        "ThrottlingException", 400, "Rate exceeded", "DescribeDataset"
    )
    first = sqs_record(user("u-1"), group_id="u-1")
    later = sqs_record(event("s-1", "u-1", "sku-1"), group_id="u-1")
    other = sqs_record(event("s-2", "u-2", "sku-2"), group_id="u-2")

    response = harness.invoke({"Records": [first, later, other]})

    assert failures(response) == [first["messageId"], later["messageId"]]
    assert [(api, kwargs["sessionId"]) for api, kwargs in harness.events.calls] == [("PutEvents", "s-2")]


def test_fifo_earlier_message_of_a_group_is_sent_when_a_later_one_fails(harness: Harness) -> None:
    earlier = sqs_record(item("sku-1"), group_id="catalog")
    broken = sqs_record(user("u-1"), group_id="catalog")
    harness.control.failing_datasets[DATASETS["USERS"]] = client_error("ServiceUnavailable", 503)

    response = harness.invoke({"Records": [earlier, broken]})

    assert failures(response) == [broken["messageId"]]
    assert harness.sent_ids() == ["sku-1"]


def test_fifo_failure_on_the_last_delivery_is_dead_lettered_and_holds_nothing_back(
    harness: Harness,
) -> None:
    # The user change fails for the fifth time: it goes to the DLQ (RetriesExhausted) instead of back to the
    # queue, so, like any dead letter, it no longer holds back the event behind it.
    harness.control.failing_datasets[DATASETS["USERS"]] = client_error("ServiceUnavailable", 503, "down")
    first = sqs_record(user("u-1"), group_id="u-1", receive_count=5)
    later = sqs_record(event("s-1", "u-1", "sku-1"), group_id="u-1", receive_count=5)

    response = harness.invoke({"Records": [first, later]})

    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert (letter["SourceMessageId"], letter["ErrorCode"]) == (first["messageId"], "RetriesExhausted")
    assert [(api, kwargs["sessionId"]) for api, kwargs in harness.events.calls] == [("PutEvents", "s-1")]
