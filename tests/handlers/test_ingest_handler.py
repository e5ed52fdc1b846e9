"""The ingest handler end to end over realistic SQS events (moto SQS for the DLQ, fakes for Personalize).

Each test states the invariant it guards: a message is acknowledged only when Personalize accepted it or the
DLQ holds it with its reason.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from ingest import handler, pipeline, validate
from ingest.decode import Change
from ingest.errors import ConfigurationError
from ingest.model import ApiModel
from ingest.schema import DatasetSchema
from ingest.validate import ValidRecord
from tests.handlers.conftest import SHORT_INVOCATION_MS, Harness, make_harness
from tests.support.fakes import ACTION_INTERACTIONS_TRACKING_ID, DATASETS, LambdaContextStub, client_error
from tests.support.sqs_events import (
    action,
    action_interaction,
    event,
    eventbridge_event,
    item,
    sns_notification,
    sqs_event,
    sqs_record,
    user,
)

THROTTLE = client_error("ThrottlingException", 400, "Rate exceeded")


def failures(response: dict[str, list[dict[str, str]]]) -> list[str]:
    return [entry["itemIdentifier"] for entry in response["batchItemFailures"]]


def test_handler_ten_items_make_exactly_one_put_items_call(harness: Harness) -> None:
    response = harness.invoke(sqs_event(*(item(f"sku-{i}") for i in range(10))))

    assert failures(response) == []
    assert harness.events.apis() == ["PutItems"]
    assert harness.sent_ids() == [f"sku-{i}" for i in range(10)]


def test_handler_six_items_and_four_actions_make_two_calls(harness: Harness) -> None:
    bodies = [item(f"sku-{i}") for i in range(6)] + [action(f"a-{i}") for i in range(4)]

    response = harness.invoke(sqs_event(*bodies))

    assert failures(response) == []
    assert sorted(harness.events.apis()) == ["PutActions", "PutItems"]
    assert len(harness.sent_ids("PutActions")) == 4


def test_handler_25_items_make_three_calls(harness: Harness) -> None:
    response = harness.invoke(sqs_event(*(item(f"sku-{i}") for i in range(25))))

    assert failures(response) == []
    assert [len(kwargs["items"]) for _, kwargs in harness.events.calls] == [10, 10, 5]


@pytest.mark.parametrize("position", range(10))
def test_handler_poison_record_at_any_position_alone_in_dlq_as_invalid_input(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, position: int
) -> None:
    harness = make_harness(monkeypatch, poison_ids={f"sku-{position}"})
    event_in = sqs_event(*(item(f"sku-{i}") for i in range(10)))

    response = harness.invoke(event_in)

    assert failures(response) == []
    [letter] = harness.dead_letters()
    poisoned = event_in["Records"][position]
    assert letter["body"] == poisoned["body"]
    assert letter["ErrorCode"] == "InvalidInput"
    assert letter["SourceMessageId"] == poisoned["messageId"]
    assert letter["Api"] == "PutItems"
    assert "is invalid" in letter["ErrorMessage"]
    assert sorted(r["itemId"] for r in harness.events.accepted) == sorted(
        f"sku-{i}" for i in range(10) if i != position
    )


def test_handler_schema_violation_never_reaches_the_api(harness: Harness) -> None:
    bad = item("sku-bad", colour="red")

    response = harness.invoke(sqs_event(bad, item("sku-good")))

    assert failures(response) == []
    assert harness.sent_ids() == ["sku-good"]
    [letter] = harness.dead_letters()
    assert (letter["ErrorCode"], json.loads(letter["body"])) == ("SchemaViolation", bad)
    assert "Api" not in letter


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{definitely not json", "not valid JSON"),
        (json.dumps({"type": "product", "itemId": "x"}), "type must be one of"),
        (json.dumps({"type": "item", "properties": {"price": 1}}), "itemId: required"),
        (json.dumps(item("sku-huge", description="x" * 40_000)), "the limit for PutItems is 32000"),
    ],
    ids=["malformed-json", "unknown-type", "missing-id", "oversized-properties"],
)
def test_handler_malformed_message_dead_lettered_with_original_body(harness: Harness, body: str, reason: str) -> None:
    response = harness.invoke({"Records": [sqs_record(body)]})

    assert failures(response) == []
    assert harness.events.calls == []
    [letter] = harness.dead_letters()
    assert letter["body"] == body
    assert letter["ErrorCode"] == "MalformedMessage"
    assert reason in letter["ErrorMessage"]


def test_handler_throttling_then_success_acknowledges_everything(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(monkeypatch, script=[THROTTLE, THROTTLE, None])

    response = harness.invoke(sqs_event(*(item(f"sku-{i}") for i in range(10))))

    assert failures(response) == []
    assert harness.events.apis() == ["PutItems"] * 3
    assert len(harness.events.accepted) == 10
    assert harness.clock.sleeps, "retries must back off"


def test_handler_throttling_past_the_time_budget_reports_failures_and_dead_letters_nothing(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(monkeypatch, script=[THROTTLE] * 10_000)
    event_in = sqs_event(*(item(f"sku-{i}") for i in range(10)))

    response = harness.invoke(event_in, remaining_ms=15_000)

    assert failures(response) == [record["messageId"] for record in event_in["Records"]]
    assert harness.dead_letters() == []
    assert harness.clock.now - 1000.0 <= 15.0 - 2.0  # the reserve is kept for dead letters and the answer


def test_handler_transient_failure_on_the_last_delivery_dead_letters_retries_exhausted(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(monkeypatch, script=[client_error("ServiceUnavailable", 503, "try later")] * 10_000)
    last, earlier = sqs_record(item("sku-last"), receive_count=5), sqs_record(item("sku-early"), receive_count=2)

    response = harness.invoke({"Records": [last, earlier]}, remaining_ms=10_000)

    assert failures(response) == [earlier["messageId"]]
    [letter] = harness.dead_letters()
    assert (letter["SourceMessageId"], letter["ErrorCode"], letter["Api"]) == (
        last["messageId"],
        "RetriesExhausted",
        "PutItems",
    )
    assert letter["ErrorMessage"] == "ServiceUnavailable: try later"


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "AccessDeniedException"])
def test_handler_setup_error_is_reported_for_retry_and_never_dead_lettered(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = make_harness(monkeypatch, script=[client_error(code, 404)])
    event_in = sqs_event(item("sku-1"), receive_count=5)

    response = harness.invoke(event_in)

    assert failures(response) == [event_in["Records"][0]["messageId"]]
    assert harness.dead_letters() == []
    assert '"SetupErrors"' in capsys.readouterr().out


def test_handler_describe_dataset_setup_error_keeps_records_in_the_queue(harness: Harness) -> None:
    harness.control.failures.append(client_error("AccessDeniedException", 403, operation="DescribeDataset"))
    event_in = sqs_event(item("sku-1"))

    response = harness.invoke(event_in)

    assert failures(response) == [event_in["Records"][0]["messageId"]]
    assert harness.events.calls == []
    assert harness.dead_letters() == []


def test_handler_dead_letter_write_failure_reports_the_message_failed(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(
        monkeypatch, dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/missing"
    )
    event_in = sqs_event("{not json", item("sku-ok"))

    response = harness.invoke(event_in)

    assert failures(response) == [event_in["Records"][0]["messageId"]]
    assert harness.sent_ids() == ["sku-ok"]


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


def test_handler_rejected_newest_change_lets_the_older_one_through(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(monkeypatch)
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


def test_handler_empty_batch_answers_no_failures_and_calls_nothing(harness: Harness) -> None:
    assert harness.invoke({"Records": []}) == {"batchItemFailures": []}
    assert harness.events.calls == []


def test_handler_kind_without_dataset_is_dead_lettered_dataset_not_configured(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(monkeypatch, without=("ACTIONS_DATASET_ARN",))

    response = harness.invoke(sqs_event(action("a-1")))

    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert letter["ErrorCode"] == "DatasetNotConfigured"
    assert "ACTIONS_DATASET_ARN" in letter["ErrorMessage"]


def test_handler_users_events_and_action_interactions_reach_their_apis(harness: Harness) -> None:
    bodies = [
        user("u-1"),
        event("s-1", "u-1", "sku-1"),
        event("s-1", "u-1", "sku-2"),
        event("s-2", "u-9", "sku-3"),
        {
            "type": "actionInteraction",
            "actionId": "a-1",
            "sessionId": "s-1",
            "userId": "u-1",
            "eventType": "Taken",
            "timestamp": 1763805600,
        },
    ]

    response = harness.invoke(sqs_event(*bodies))

    assert failures(response) == []
    calls = {(api, kwargs.get("sessionId")): kwargs for api, kwargs in harness.events.calls}
    assert calls[("PutEvents", "s-1")]["trackingId"] == "event-tracker-1"
    assert len(calls[("PutEvents", "s-1")]["eventList"]) == 2
    assert calls[("PutEvents", "s-2")]["userId"] == "u-9"
    assert calls[("PutActionInteractions", None)]["trackingId"] == ACTION_INTERACTIONS_TRACKING_ID
    assert calls[("PutUsers", None)]["users"][0]["userId"] == "u-1"


def test_handler_fifo_failure_fails_every_later_message_of_its_group_unsent(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(monkeypatch, script=[client_error("ResourceNotFoundException", 404)])
    first = sqs_record(item("sku-1", price=1), group_id="item#sku-1")
    second = sqs_record(item("sku-1", price=2), group_id="item#sku-1")
    other = sqs_record(action("a-1"), group_id="action#a-1")

    response = harness.invoke({"Records": [first, second, other]})

    assert failures(response) == [first["messageId"], second["messageId"]]
    assert harness.sent_ids("PutActions") == ["a-1"]


def test_handler_logs_carry_ids_and_codes_but_never_property_values(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Jane Doe, 42 Secret Street"
    # INFO is the deployed level (POWERTOOLS_LOG_LEVEL); botocore's own DEBUG wire logging is not ours to police.
    caplog.set_level(logging.INFO)
    stream = io.StringIO()
    structured = logging.StreamHandler(stream)
    structured.setFormatter(handler.logger.registered_formatter)
    service_logger = logging.getLogger(handler.logger.name)
    service_logger.addHandler(structured)
    try:
        harness.invoke(sqs_event(item("sku-1", colour=secret), item("sku-2", description=secret), "{" + secret))
    finally:
        service_logger.removeHandler(structured)

    assert secret not in stream.getvalue() + caplog.text
    logged = [json.loads(line) for line in stream.getvalue().splitlines() if '"dead-lettered"' in line]
    assert {entry["error_code"] for entry in logged} == {"SchemaViolation", "MalformedMessage"}
    assert all(entry["message_id"] for entry in logged)


def test_handler_publishes_emf_metrics_for_accepted_and_dead_lettered_records(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.invoke(sqs_event(item("sku-1"), "{bad"))

    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = {
        (d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], d.get("ErrorCode", d.get("Api"))): d
        for d in documents
        if len(d["_aws"]["CloudWatchMetrics"][0]["Metrics"]) == 1
    }
    assert values[("RecordsAccepted", "PutItems")]["RecordsAccepted"] == [1.0]
    assert values[("RecordsDeadLettered", "MalformedMessage")]["RecordsDeadLettered"] == [1.0]
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "PersonalizeIngest" for d in documents)


def test_handler_cold_start_builds_its_runtime_from_the_environment(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITEMS_DATASET_ARN", "arn:aws:personalize:us-east-1:123456789012:dataset/shop/ITEMS")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dlq")
    monkeypatch.setenv("MAX_RECEIVE_COUNT", "7")
    monkeypatch.setattr(handler, "_runtime", None)

    runtime = handler.runtime_from_env()

    assert runtime.settings.datasets == {"item": "arn:aws:personalize:us-east-1:123456789012:dataset/shop/ITEMS"}
    assert runtime.settings.max_receive_count == 7


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # the invocation fails before counting
def test_handler_without_dead_letter_queue_fails_the_whole_invocation(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL", raising=False)
    monkeypatch.setattr(handler, "_runtime", None)

    with pytest.raises(ConfigurationError):
        handler.lambda_handler(sqs_event(item("sku-1")), LambdaContextStub())


def test_handler_fifo_later_poison_in_a_failed_group_is_redelivered_not_dead_lettered(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(monkeypatch, script=[client_error("ServiceUnavailable", 503)] * 10_000)
    first = sqs_record(item("sku-1", price=1), group_id="item#sku-1")
    broken = sqs_record("{not json", group_id="item#sku-1")

    response = harness.invoke({"Records": [first, broken]}, remaining_ms=5_000)

    assert failures(response) == [first["messageId"], broken["messageId"]]
    assert harness.dead_letters() == []


def test_handler_deeply_nested_body_is_malformed_not_a_crash(harness: Harness) -> None:
    response = harness.invoke({"Records": [sqs_record("[" * 100_000 + "]" * 100_000), sqs_record(item("sku-1"))]})

    assert failures(response) == []
    assert [letter["ErrorCode"] for letter in harness.dead_letters()] == ["MalformedMessage"]
    assert harness.sent_ids() == ["sku-1"]


def test_handler_unexpected_error_on_one_record_retries_it_and_sends_the_others(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Patched where the handler under test looks it up: the module its process_batch was defined in.
    assert handler.process_batch.__module__ == pipeline.__name__
    real_validate = validate.validate

    def validate_with_a_bug(change: Change, api: ApiModel, schema: DatasetSchema) -> ValidRecord:
        if change.fields.get("itemId") == "sku-bug":
            raise KeyError("a bug of ours")
        return real_validate(change, api, schema)

    monkeypatch.setitem(handler.process_batch.__globals__, "validate", validate_with_a_bug)
    bug, fine = sqs_record(item("sku-bug")), sqs_record(item("sku-1"))

    response = harness.invoke({"Records": [bug, fine]})

    assert failures(response) == [bug["messageId"]]
    assert harness.sent_ids() == ["sku-1"]


# --- issue 5: every kind, envelopes, idempotent events, timestamps, FIFO order ------------------------------------

# 2026-11-22T10:00:00Z
EPOCH = 1795341600


def test_handler_envelopes_are_unwrapped_and_dead_letters_keep_the_envelope_body(harness: Harness) -> None:
    good_sns = sqs_record(sns_notification(item("sku-sns")))
    good_eventbridge = sqs_record(eventbridge_event(item("sku-eb")))
    bad_sns = sqs_record(sns_notification(item("sku-bad", colour="red")))
    bad_eventbridge = sqs_record(eventbridge_event({"type": "item", "properties": {"price": 1}}))

    response = harness.invoke({"Records": [good_sns, good_eventbridge, bad_sns, bad_eventbridge]})

    assert failures(response) == []
    assert harness.sent_ids() == ["sku-sns", "sku-eb"]
    letters = {letter["SourceMessageId"]: letter for letter in harness.dead_letters()}
    assert (letters[bad_sns["messageId"]]["ErrorCode"], letters[bad_sns["messageId"]]["body"]) == (
        "SchemaViolation",
        bad_sns["body"],
    )
    assert (letters[bad_eventbridge["messageId"]]["ErrorCode"], letters[bad_eventbridge["messageId"]]["body"]) == (
        "MalformedMessage",
        bad_eventbridge["body"],
    )


def test_handler_event_without_event_id_gets_the_message_id_on_every_delivery(harness: Harness) -> None:
    derived = sqs_record(event("s-1", "u-1", "sku-1"))
    given = sqs_record(event("s-1", "u-1", "sku-2", eventId="e-upstream"))
    harness.invoke({"Records": [derived, given]})
    # SQS delivers the same message again (a timeout, a crash): same message id, new receipt handle and count.
    redelivered = {
        **derived,
        "receiptHandle": "AQEB-second-delivery",
        "attributes": {**derived["attributes"], "ApproximateReceiveCount": "2"},
    }

    harness.invoke({"Records": [redelivered]})

    assert harness.sent_ids("PutEvents") == [derived["messageId"], "e-upstream", derived["messageId"]]


def test_handler_fifo_event_without_event_id_gets_the_message_id_not_the_deduplication_id(harness: Harness) -> None:
    # The deduplication id does not survive the DLQ (dead letters and the tool's copies name the message id), so an
    # eventId derived from it would differ between a first send and a replay.
    record = sqs_record(event("s-1", "u-1", "sku-1"), group_id="s-1", deduplication_id="dedup-7")

    harness.invoke({"Records": [record]})

    assert harness.sent_ids("PutEvents") == [record["messageId"]]


def test_handler_timestamps_as_epoch_seconds_or_iso_8601_are_sent_as_epoch_seconds(harness: Harness) -> None:
    bodies = [
        event("s-1", "u-1", "sku-1", sentAt="2026-11-22T11:00:00+01:00"),
        event("s-1", "u-1", "sku-2", sentAt=EPOCH),
        event("s-1", "u-1", "sku-3", sentAt=f"{EPOCH}.9"),
        event("s-1", "u-1", "sku-4", sentAt="2026-11-22T10:00:00"),  # no zone: UTC
        action_interaction("a-1", "s-1", timestamp="2026-11-22T10:00:00Z"),
        action_interaction("a-2", "s-1", timestamp=float(EPOCH)),
    ]

    response = harness.invoke(sqs_event(*bodies))

    assert failures(response) == []
    sent = dict(harness.events.calls)
    assert [record["sentAt"] for record in sent["PutEvents"]["eventList"]] == [EPOCH] * 4
    assert [record["timestamp"] for record in sent["PutActionInteractions"]["actionInteractions"]] == [EPOCH] * 2


@pytest.mark.parametrize(
    "body",
    [
        event("s-1", "u-1", "sku-1", sentAt="next tuesday"),
        event("s-1", "u-1", "sku-1", sentAt="2026-13-45T99:00:00Z"),
        event("s-1", "u-1", "sku-1", sentAt=EPOCH * 1000),  # milliseconds
        action_interaction("a-1", "s-1", timestamp="soon"),
        action_interaction("a-1", "s-1", timestamp=True),
    ],
    ids=["words", "impossible-date", "milliseconds", "action-interaction-words", "boolean"],
)
def test_handler_unparseable_timestamp_is_malformed_and_never_sent(harness: Harness, body: dict[str, Any]) -> None:
    record = sqs_record(body)

    response = harness.invoke({"Records": [record]})

    assert failures(response) == []
    assert harness.events.calls == []
    [letter] = harness.dead_letters()
    assert (letter["ErrorCode"], letter["body"]) == ("MalformedMessage", record["body"])
    assert "must be" in letter["ErrorMessage"]


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (user("u-1", membershipType=["m" * 999] * 30), "MalformedMessage", "the limit for PutUsers is 24000"),
        (
            event("s-1", "u-1", "sku-1", properties={"device": ["d" * 600, "d" * 500]}),
            "MalformedMessage",
            "the limit for PutEvents is 1024",
        ),
        (
            action_interaction("a-1", "s-1", properties={"channel": ["c" * 600, "c" * 500]}),
            "MalformedMessage",
            "the limit for PutActionInteractions is 1024",
        ),
        (event("s-1", "u-1", "sku-1", recommendationId="r" * 41), "MalformedMessage", "length must be 1..40"),
        (event("s-1", "u-1", "sku-1", impression=[]), "MalformedMessage", "must hold 1..25 entries"),
        (action_interaction("a-1", "s-1", impression=["a"] * 26), "MalformedMessage", "must hold 1..25 entries"),
        (event("s-1", "u-1", "sku-1", properties={"sessionId": "s-2"}), "SchemaViolation", "reserved"),
        (action_interaction("a-1", "s-1", properties={"TIMESTAMP": 1}), "SchemaViolation", "reserved"),
    ],
    ids=[
        "user-properties-24000",
        "event-properties-1024",
        "action-interaction-properties-1024",
        "recommendation-id-40",
        "impression-empty",
        "impression-26",
        "event-forbidden-key",
        "action-interaction-forbidden-key",
    ],
)
def test_handler_per_kind_limit_is_enforced_before_any_call(
    harness: Harness, body: dict[str, Any], code: str, reason: str
) -> None:
    record = sqs_record(body)

    response = harness.invoke({"Records": [record]})

    assert failures(response) == []
    assert harness.events.calls == []
    [letter] = harness.dead_letters()
    assert (letter["ErrorCode"], letter["body"]) == (code, record["body"])
    assert reason in letter["ErrorMessage"]


def test_handler_fifo_failure_inside_a_bisected_call_holds_back_later_records_of_its_group(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The whole call is refused (one poison record); its first half then meets a setup error. The second half
    # holds a later change of the failed group: it must stay unsent and be redelivered after the earlier one.
    harness = make_harness(
        monkeypatch, poison_ids={"sku-poison"}, script=[None, client_error("AccessDeniedException", 403), None]
    )
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


def test_handler_fifo_failure_before_sending_holds_back_later_messages_of_its_group(harness: Harness) -> None:
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


def test_handler_fifo_earlier_message_of_a_group_is_sent_when_a_later_one_fails(harness: Harness) -> None:
    earlier = sqs_record(item("sku-1"), group_id="catalog")
    broken = sqs_record(user("u-1"), group_id="catalog")
    harness.control.failing_datasets[DATASETS["USERS"]] = client_error("ServiceUnavailable", 503)

    response = harness.invoke({"Records": [earlier, broken]})

    assert failures(response) == [broken["messageId"]]
    assert harness.sent_ids() == ["sku-1"]


def test_handler_logs_each_message_left_for_redelivery_with_its_id_and_error_code(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(monkeypatch, script=[THROTTLE] * 10_000)
    event_in = sqs_event(item("sku-1", description="Jane Doe"), item("sku-2"))
    stream = io.StringIO()
    structured = logging.StreamHandler(stream)
    structured.setFormatter(handler.logger.registered_formatter)
    service_logger = logging.getLogger(handler.logger.name)
    service_logger.addHandler(structured)
    try:
        harness.invoke(event_in, remaining_ms=5_000)
    finally:
        service_logger.removeHandler(structured)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    left = [line for line in lines if line["message"] == "left for redelivery"]
    assert [(line["message_id"], line["error_code"], line["api"]) for line in left] == [
        (record["messageId"], "ThrottlingException", "PutItems") for record in event_in["Records"]
    ]
    assert "Jane Doe" not in stream.getvalue()


@pytest.fixture
def log_event_enabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The handler module as imported where POWERTOOLS_LOGGER_LOG_EVENT=true (Powertools would log the event)."""
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    # reload() needs the module in sys.modules under its name; make sure the table holds this very module.
    monkeypatch.setitem(sys.modules, handler.__name__, handler)
    importlib.reload(handler)
    yield
    monkeypatch.delenv("POWERTOOLS_LOGGER_LOG_EVENT")
    importlib.reload(handler)


def test_handler_with_powertools_event_logging_enabled_still_logs_no_body(
    aws_env: None, log_event_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(monkeypatch)
    secret = "Jane Doe, 42 Secret Street"
    stream = io.StringIO()
    structured = logging.StreamHandler(stream)
    structured.setFormatter(handler.logger.registered_formatter)
    service_logger = logging.getLogger(handler.logger.name)
    service_logger.addHandler(structured)
    try:
        harness.invoke(sqs_event(item("sku-1", description=secret)))
    finally:
        service_logger.removeHandler(structured)

    assert harness.sent_ids() == ["sku-1"]
    assert '"batch done"' in stream.getvalue()
    assert secret not in stream.getvalue()


def test_handler_schema_is_described_once_per_kind_across_invocations(harness: Harness) -> None:
    harness.invoke(sqs_event(item("sku-1"), item("sku-2"), action("a-1")))
    harness.invoke(sqs_event(item("sku-3"), action("a-2")))

    assert harness.control.calls == 2  # one DescribeDataset for items, one for actions
    assert len(harness.events.accepted) == 5


def test_handler_fifo_failure_on_the_last_delivery_is_dead_lettered_and_holds_nothing_back(
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


# --- review fixes: placeholder ids, lone surrogates, values in dead-letter reasons --------------------------------


@pytest.mark.parametrize(
    "body",
    [
        event("null", "u-1", "sku-1"),
        event("s-1", "UNDEFINED", "sku-1"),
        event("   ", "u-1", "sku-1"),
        action_interaction("a-1", "null"),
        item("null"),
        user("undefined"),
    ],
    ids=["event-session-null", "event-user-undefined", "event-session-blank", "interaction-null", "item", "user"],
)
def test_handler_placeholder_id_dead_lettered_malformed_and_never_sent(harness: Harness, body: dict[str, Any]) -> None:
    # PERSONALIZE.md §1 (aws-sdk-js#3371): PutEvents with sessionId "null" answers 200 and drops the event, so an
    # acknowledgement would lose it silently. It must reach the DLQ with a reason instead.
    record = sqs_record(body)

    response = harness.invoke({"Records": [record]})

    assert failures(response) == []
    assert harness.events.calls == []
    [letter] = harness.dead_letters()
    assert (letter["ErrorCode"], letter["body"]) == ("MalformedMessage", record["body"])


@pytest.mark.parametrize(
    "body",
    [
        '{"type": "event", "sessionId": "s-1", "eventType": "click", "sentAt": 1763805600, "itemId": "sku-\\ud800"}',
        '{"type": "item", "itemId": "sku-1", "properties": {"price": 1, "genres": ["\\udfff"]}}',
    ],
    ids=["event", "item"],
)
def test_handler_lone_surrogate_dead_lettered_malformed_on_first_delivery(harness: Harness, body: str) -> None:
    record = sqs_record(body, receive_count=1)

    response = harness.invoke({"Records": [record]})

    assert failures(response) == []  # not left for five redeliveries and a RetriesExhausted
    assert harness.events.calls == []
    [letter] = harness.dead_letters()
    assert (letter["ErrorCode"], letter["body"]) == ("MalformedMessage", body)
    assert "surrogate" in letter["ErrorMessage"]


def test_handler_unexpected_error_dead_lettered_with_its_class_not_its_text(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An exception's text may quote the record (KeyError('Jane Doe'), UnicodeEncodeError's character): the
    # dead letter names the exception class only.
    def validate_with_a_bug(change: Change, api: ApiModel, schema: DatasetSchema) -> ValidRecord:
        raise KeyError("Jane Doe, 42 Secret Street")

    monkeypatch.setitem(handler.process_batch.__globals__, "validate", validate_with_a_bug)
    record = sqs_record(item("sku-1"), receive_count=5)

    response = harness.invoke({"Records": [record]})

    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert letter["ErrorCode"] == "RetriesExhausted"
    assert "KeyError" in letter["ErrorMessage"]
    assert "Jane" not in letter["ErrorMessage"]


def test_handler_older_duplicate_on_its_last_delivery_acknowledged_while_the_newest_is_retried(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an older change on its last delivery and the newest change to the same id, which fails (503)
    harness = make_harness(monkeypatch, failing_ids={"sku-1": client_error("ServiceUnavailable", 503, "later")})
    older = sqs_record(item("sku-1", price=1), sent_timestamp=100, receive_count=5)
    newest = sqs_record(item("sku-1", price=2), sent_timestamp=200, receive_count=1)

    response = harness.invoke({"Records": [older, newest]}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN only the newest one is retried; the older one, which it replaces whole, is acknowledged: reported
    # failed, SQS would move it to the DLQ alone and without a reason, and a redrive would write price 1 over the
    # newest state
    assert failures(response) == [newest["messageId"]]
    assert harness.dead_letters() == []


def test_handler_older_duplicate_on_its_last_delivery_acknowledged_when_its_dataset_could_not_be_described(
    harness: Harness,
) -> None:
    # GIVEN two changes to one item, the older on its last delivery, and DescribeDataset throttled: neither can be
    # validated, let alone sent
    harness.control.failing_datasets[DATASETS["ITEMS"]] = THROTTLE
    older = sqs_record(item("sku-1", price=1), sent_timestamp=100, receive_count=5)
    newest = sqs_record(item("sku-1", price=2), sent_timestamp=200, receive_count=1)

    response = harness.invoke({"Records": [older, newest]}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN the newest is retried and the older one acknowledged, as when the newest fails to be written: no
    # RetriesExhausted letter that a redrive would write over the newest state
    assert failures(response) == [newest["messageId"]]
    assert harness.dead_letters() == []


def test_handler_older_duplicate_acknowledged_when_the_newest_is_dead_lettered(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the newest change to a record on its last delivery and an older one with deliveries left, both failing
    harness = make_harness(monkeypatch, failing_ids={"sku-1": client_error("ServiceUnavailable", 503, "later")})
    older = sqs_record(item("sku-1", price=1), sent_timestamp=100, receive_count=2)
    newest = sqs_record(item("sku-1", price=2), sent_timestamp=200, receive_count=5)

    response = harness.invoke({"Records": [older, newest]}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN only the newest goes to the DLQ: the older one beside it, replayed by a redrive after the newest, would
    # write the older state over the newer one
    assert failures(response) == []
    letters = {letter["SourceMessageId"]: letter["ErrorCode"] for letter in harness.dead_letters()}
    assert letters == {newest["messageId"]: "RetriesExhausted"}


class RefusingDeadLetterQueue:
    """Forwards SendMessageBatch to moto, except the entries whose body ``refuse`` picks: SQS fails those."""

    def __init__(self, client: Any, refuse: str) -> None:
        self.client, self.refuse = client, refuse

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        kept = [entry for entry in Entries if self.refuse not in entry["MessageBody"]]
        response = dict(self.client.send_message_batch(QueueUrl=QueueUrl, Entries=kept)) if kept else {}
        refused = [
            {"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"} for entry in Entries if entry not in kept
        ]
        return {"Successful": response.get("Successful", []), "Failed": [*response.get("Failed", []), *refused]}


def test_handler_older_duplicate_acknowledged_when_the_newest_ones_dead_letter_fails(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the newest change out of deliveries, an older one with deliveries left, and a DLQ that refuses the
    # newest one's entry
    harness = make_harness(
        monkeypatch,
        failing_ids={"sku-1": client_error("ServiceUnavailable", 503, "later")},
        dead_letter_client=lambda sqs: RefusingDeadLetterQueue(sqs, refuse='"price": 2'),
    )
    older = sqs_record(item("sku-1", price=1), sent_timestamp=100, receive_count=2)
    newest = sqs_record(item("sku-1", price=2), sent_timestamp=200, receive_count=5)

    response = harness.invoke({"Records": [older, newest]}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN neither is in the DLQ; the newest stays in SQS's keeping (redelivered, or moved by the redrive policy),
    # and the older one, which it replaces whole, is acknowledged rather than left to be replayed after it
    assert failures(response) == [newest["messageId"]]
    assert harness.dead_letters() == []


def test_handler_older_duplicate_on_its_last_delivery_acknowledged_when_the_newest_ones_dead_letter_fails(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN both changes out of deliveries, and a DLQ that refuses the newest one's entry
    harness = make_harness(
        monkeypatch,
        failing_ids={"sku-1": client_error("ServiceUnavailable", 503, "later")},
        dead_letter_client=lambda sqs: RefusingDeadLetterQueue(sqs, refuse='"price": 2'),
    )
    older = sqs_record(item("sku-1", price=1), sent_timestamp=100, receive_count=5)
    newest = sqs_record(item("sku-1", price=2), sent_timestamp=200, receive_count=5)

    response = harness.invoke({"Records": [older, newest]}, remaining_ms=SHORT_INVOCATION_MS)

    # THEN the newest one stays in SQS's keeping (its redrive policy moves it to the DLQ), and the older one is
    # acknowledged: had it been reported failed too, SQS would move both, and a redrive could apply them in
    # either order
    assert failures(response) == [newest["messageId"]]
    assert harness.dead_letters() == []


def test_handler_stale_event_tracking_id_is_a_setup_error_not_a_dead_letter_per_event(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an EVENT_TRACKING_ID ("event-tracker-1") Personalize does not know: every PutEvents call is answered
    # InvalidInputException naming the tracking id (PutEvents models no other error)
    harness = make_harness(monkeypatch, tracking_ids={"c0ffee00-0000-4000-8000-000000000001"})
    events = [sqs_record(event("s-1", "u-1", f"sku-{n}"), receive_count=1 + n % 5) for n in range(10)]
    items = [sqs_record(item("sku-1"))]

    response = harness.invoke({"Records": [*events, *items]})

    # THEN no event is dead-lettered: each is reported for retry, counted and alarmed as a setup error
    assert failures(response) == [record["messageId"] for record in events]
    assert harness.dead_letters() == []
    assert '"SetupErrors"' in capsys.readouterr().out
    # AND once one event alone proved the tracking id wrong, the rest were not sent one by one
    assert harness.events.apis().count("PutEvents") <= 4
    assert harness.sent_ids() == ["sku-1"]


def test_handler_event_refused_for_itself_with_a_valid_tracker_is_still_invalid_input(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = make_harness(monkeypatch, poison_ids={"sku-bad"}, tracking_ids={"event-tracker-1"})
    bad, good = sqs_record(event("s-1", "u-1", "sku-bad")), sqs_record(event("s-1", "u-1", "sku-good"))

    response = harness.invoke({"Records": [bad, good]})

    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert (letter["SourceMessageId"], letter["ErrorCode"]) == (bad["messageId"], "InvalidInput")


def test_handler_record_the_sdk_refuses_is_dead_lettered_malformed_at_once_and_the_rest_sent(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a validation gap of ours: one record leaves validate in a form botocore's model refuses (properties
    # as an object, not a string); the SDK raises ParamValidationError before sending anything
    real_validate = validate.validate

    def validate_with_a_gap(change: Change, api: ApiModel, schema: DatasetSchema) -> ValidRecord:
        valid = real_validate(change, api, schema)
        if change.fields.get("itemId") == "sku-gap":
            return ValidRecord(change, {**valid.record, "properties": {"price": "Jane Doe"}}, (), "sku-gap")
        return valid

    monkeypatch.setitem(handler.process_batch.__globals__, "validate", validate_with_a_gap)
    records = [sqs_record(item(f"sku-{n}"), receive_count=1) for n in range(4)]
    gap = sqs_record(item("sku-gap"), receive_count=1)

    response = harness.invoke({"Records": [*records[:2], gap, *records[2:]]})

    # THEN it is poison, found by bisection: dead-lettered on its first delivery, naming the field, not the value
    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert (letter["SourceMessageId"], letter["ErrorCode"]) == (gap["messageId"], "MalformedMessage")
    assert "properties" in letter["ErrorMessage"]
    assert "Jane" not in letter["ErrorMessage"]
    assert sorted(record["itemId"] for record in harness.events.accepted) == [f"sku-{n}" for n in range(4)]
