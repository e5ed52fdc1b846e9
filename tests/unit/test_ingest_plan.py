"""Step 3, plan: collapse upserts to the newest change per id, group by call, chunk at the API maximum."""

from __future__ import annotations

from typing import Any

from ingest.decode import Message, decode
from ingest.model import api_models
from ingest.plan import Plan, plan_calls, plan_fifo_round
from ingest.validate import ValidRecord, validate
from tests.support.sqs_events import action, action_interaction, event, item, sqs_record
from tests.unit.test_ingest_validate import schema_for

TARGETS = {
    "item": "arn:aws:personalize:us-east-1:1:dataset/g/ITEMS",
    "action": "arn:aws:personalize:us-east-1:1:dataset/g/ACTIONS",
    "event": "tracking-1",
}
MAX = {name: api.max_records for name, api in api_models().items()}


def valid(bodies: list[dict[str, Any]], sent: list[int] | None = None, **kwargs: Any) -> list[ValidRecord]:
    records = []
    for position, body in enumerate(bodies):
        raw = sqs_record(body, sent_timestamp=sent[position] if sent else 1000 + position, **kwargs)
        change = decode(Message.from_record(raw, position))  # type: ignore[arg-type]
        records.append(validate(change, api_models()[change.kind.name], schema_for(change.kind.name)))
    return records


def test_plan_ten_items_is_one_call() -> None:
    plan = plan_calls(valid([item(f"sku-{i}") for i in range(10)]), targets=TARGETS, max_records=MAX)

    assert [len(call.records) for call in plan.calls] == [10]
    assert plan.calls[0].target == TARGETS["item"]


def test_plan_25_items_is_three_calls_in_batch_order() -> None:
    plan = plan_calls(valid([item(f"sku-{i}") for i in range(25)]), targets=TARGETS, max_records=MAX)

    assert [len(call.records) for call in plan.calls] == [10, 10, 5]
    sent = [record.record["itemId"] for call in plan.calls for record in call.records]
    assert sent == [f"sku-{i}" for i in range(25)]


def test_plan_six_items_and_four_actions_is_two_calls() -> None:
    bodies = [item(f"sku-{i}") for i in range(6)] + [action(f"a-{i}") for i in range(4)]

    plan = plan_calls(valid(bodies), targets=TARGETS, max_records=MAX)

    assert sorted((call.kind.api, len(call.records)) for call in plan.calls) == [("PutActions", 4), ("PutItems", 6)]


def test_plan_duplicate_ids_collapse_to_newest_by_sent_timestamp() -> None:
    bodies = [item("sku-1", price=3), item("sku-1", price=1), item("sku-1", price=2)]

    plan = plan_calls(valid(bodies, sent=[300, 100, 200]), targets=TARGETS, max_records=MAX)

    [call] = plan.calls
    [winner] = call.records
    assert winner.change.fields["properties"]["price"] == 3
    riders = plan.superseded[winner.change.message.message_id]
    assert sorted(rider.change.fields["properties"]["price"] for rider in riders) == [1, 2]


def test_plan_duplicate_ids_with_equal_timestamps_keep_the_later_position() -> None:
    plan = plan_calls(
        valid([item("sku-1", price=1), item("sku-1", price=2)], sent=[5, 5]), targets=TARGETS, max_records=MAX
    )

    assert plan.calls[0].records[0].change.fields["properties"]["price"] == 2


def test_plan_same_id_of_different_kinds_does_not_collapse() -> None:
    plan = plan_calls(valid([item("x"), action("x")]), targets=TARGETS, max_records=MAX)

    assert len(plan.calls) == 2
    assert plan.superseded == {}


def test_plan_without_collapse_keeps_every_change_in_order() -> None:
    records = valid([item("sku-1", price=1), item("sku-1", price=2)])

    plan = plan_calls(records, targets=TARGETS, max_records=MAX, collapse=False)

    assert [r.change.fields["properties"]["price"] for r in plan.calls[0].records] == [1, 2]


def test_plan_events_are_grouped_by_session_and_user() -> None:
    bodies = [
        event("s-1", "u-1", "i-1"),
        event("s-2", "u-1", "i-2"),
        event("s-1", "u-1", "i-3"),
        event("s-1", "u-2", "i-4"),
    ]

    plan = plan_calls(valid(bodies), targets=TARGETS, max_records=MAX)

    grouped = {
        tuple(dict(call.call_fields).values()): [r.record["itemId"] for r in call.records] for call in plan.calls
    }
    assert grouped == {("s-1", "u-1"): ["i-1", "i-3"], ("s-2", "u-1"): ["i-2"], ("s-1", "u-2"): ["i-4"]}


# --- FIFO rounds ------------------------------------------------------------------------------------------------


def fifo(bodies: list[dict[str, Any]], groups: list[str]) -> list[ValidRecord]:
    records = []
    for position, (body, group) in enumerate(zip(bodies, groups, strict=True)):
        change = decode(Message.from_record(sqs_record(body, group_id=group), position))  # type: ignore[arg-type]
        records.append(validate(change, api_models()[change.kind.name], schema_for(change.kind.name)))
    return records


def round_ids(plan: Plan) -> list[tuple[str, list[str]]]:
    return [(call.kind.api, [r.change.message.message_id for r in call.records]) for call in plan.calls]


TARGETS_ALL = {**TARGETS, "actionInteraction": "ai-tracking"}


def test_plan_fifo_round_takes_each_group_only_up_to_its_next_call() -> None:
    # g1: event, action interaction, event (one session); g2: event of another session
    records = fifo(
        [
            event("s-1", "u-1", "i-1"),
            action_interaction("a-1", "s-1"),
            event("s-1", "u-1", "i-2"),
            event("s-2", "u-1", "i-3"),
        ],
        ["s-1", "s-1", "s-1", "s-2"],
    )
    ids = [record.change.message.message_id for record in records]

    first = plan_fifo_round(records, targets=TARGETS_ALL, max_records=MAX)
    second = plan_fifo_round(records[1:3], targets=TARGETS_ALL, max_records=MAX)
    third = plan_fifo_round(records[2:3], targets=TARGETS_ALL, max_records=MAX)

    assert round_ids(first) == [("PutEvents", [ids[0]]), ("PutEvents", [ids[3]])]
    assert round_ids(second) == [("PutActionInteractions", [ids[1]])]
    assert round_ids(third) == [("PutEvents", [ids[2]])]


def test_plan_fifo_round_collapses_one_ids_changes_within_a_run_to_the_last() -> None:
    records = fifo([item("A", price=1), item("B"), item("A", price=2)], ["g", "g", "g"])

    plan = plan_fifo_round(records, targets=TARGETS, max_records=MAX)

    [call] = plan.calls
    assert [r.record["itemId"] for r in call.records] == ["B", "A"]
    assert call.records[1].change.fields["properties"]["price"] == 2
    assert plan.superseded == {records[2].change.message.message_id: [records[0]]}


def test_plan_fifo_round_same_id_in_another_group_waits_for_the_next_round() -> None:
    records = fifo([item("A", price=1), item("A", price=2), item("C")], ["g1", "g2", "g2"])

    plan = plan_fifo_round(records, targets=TARGETS, max_records=MAX)

    # g2's run ends before A (g1 has it this round), so C, behind it in g2, waits too
    assert round_ids(plan) == [("PutItems", [records[0].change.message.message_id])]
    assert plan.superseded == {}


def test_plan_fifo_round_same_id_in_two_groups_the_group_holding_its_earliest_change_sends_first() -> None:
    # "pricing" comes first in the batch (Y), but "imports" holds A's earliest change
    y, older, newer = fifo([item("Y"), item("A", price=1), item("A", price=2)], ["pricing", "imports", "pricing"])
    ids = {record.change.message.message_id: name for record, name in ((y, "Y"), (older, "A1"), (newer, "A2"))}

    first = plan_fifo_round([y, older, newer], targets=TARGETS, max_records=MAX)
    second = plan_fifo_round([newer], targets=TARGETS, max_records=MAX)

    # "pricing"'s run ends before its A: sending it now would let the older change of "imports" be written last
    assert [[ids[i] for i in call_ids] for _, call_ids in round_ids(first)] == [["Y", "A1"]]
    assert [[ids[i] for i in call_ids] for _, call_ids in round_ids(second)] == [["A2"]]
    assert first.superseded == {}


def test_plan_fifo_round_run_stops_before_its_id_when_another_group_changed_it_in_between() -> None:
    # A changed in g1, then in g2, then in g1 again: batch order is A1, A9, A2, and A2 must be written last
    records = fifo([item("A", price=1), item("A", price=9), item("A", price=2)], ["g1", "g2", "g1"])

    sent = []
    pending = records
    while pending:
        plan = plan_fifo_round(pending, targets=TARGETS, max_records=MAX)
        planned = [record for call in plan.calls for record in call.records]
        assert len(planned) == 1, "one change to A per round"
        assert plan.superseded == {}, "A1 is not replaced by A2 while A9 lies between them"
        sent.append(planned[0].change.fields["properties"]["price"])
        pending = [record for record in pending if record is not planned[0]]

    assert sent == [1, 9, 2]


def test_plan_fifo_round_long_run_is_chunked_in_order() -> None:
    records = fifo([item(f"sku-{n}") for n in range(15)], ["g"] * 15)

    plan = plan_fifo_round(records, targets=TARGETS, max_records=MAX)

    assert [[r.record["itemId"] for r in call.records] for call in plan.calls] == [
        [f"sku-{n}" for n in range(10)],
        [f"sku-{n}" for n in range(10, 15)],
    ]
