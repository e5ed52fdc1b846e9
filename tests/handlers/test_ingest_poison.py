"""Failures through the handler: poison records found by bisection, retries, setup errors, and bugs of ours.

A record fails *through its data* (its id is in the fake's ``poison_ids`` or ``failing_ids``) or through the call
(the fake's ``script``). Whatever fails, a message is acknowledged only when Personalize accepted it or the DLQ
holds it with its reason; everything else is reported for redelivery.
"""

from __future__ import annotations

import pytest

from ingest import handler, pipeline, validate
from ingest.decode import Change
from ingest.model import ApiModel
from ingest.schema import DatasetSchema
from ingest.validate import ValidRecord
from tests.handlers.conftest import Harness, failures, make_harness
from tests.support.fakes import client_error
from tests.support.sqs_events import event, item, sqs_event, sqs_record

THROTTLE = client_error("ThrottlingException", 400, "Rate exceeded")


@pytest.mark.parametrize("position", range(10))
def test_handler_poison_record_at_any_position_alone_in_dlq_as_invalid_input(aws_env: None, position: int) -> None:
    harness = make_harness(poison_ids={f"sku-{position}"})
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


def test_handler_throttling_then_success_acknowledges_everything(aws_env: None) -> None:
    harness = make_harness(script=[THROTTLE, THROTTLE, None])

    response = harness.invoke(sqs_event(*(item(f"sku-{i}") for i in range(10))))

    assert failures(response) == []
    assert harness.events.apis() == ["PutItems"] * 3
    assert len(harness.events.accepted) == 10
    assert harness.clock.sleeps, "retries must back off"


def test_handler_throttling_past_the_time_budget_reports_failures_and_dead_letters_nothing(aws_env: None) -> None:
    harness = make_harness(script=[THROTTLE] * 10_000)
    event_in = sqs_event(*(item(f"sku-{i}") for i in range(10)))

    response = harness.invoke(event_in, remaining_ms=15_000)

    assert failures(response) == [record["messageId"] for record in event_in["Records"]]
    assert harness.dead_letters() == []
    assert harness.clock.now - 1000.0 <= 15.0 - 2.0  # the reserve is kept for dead letters and the answer


def test_handler_transient_failure_on_the_last_delivery_dead_letters_retries_exhausted(aws_env: None) -> None:
    harness = make_harness(script=[client_error("ServiceUnavailable", 503, "try later")] * 10_000)
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
    aws_env: None, code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    harness = make_harness(script=[client_error(code, 404)])
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


def test_handler_dead_letter_write_failure_reports_the_message_failed(aws_env: None) -> None:
    harness = make_harness(dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/missing")
    event_in = sqs_event("{not json", item("sku-ok"))

    response = harness.invoke(event_in)

    assert failures(response) == [event_in["Records"][0]["messageId"]]
    assert harness.sent_ids() == ["sku-ok"]


def test_handler_stale_event_tracking_id_is_a_setup_error_not_a_dead_letter_per_event(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an EVENT_TRACKING_ID ("event-tracker-1") Personalize does not know: every PutEvents call is answered
    # InvalidInputException naming the tracking id (PutEvents models no other error)
    harness = make_harness(tracking_ids={"c0ffee00-0000-4000-8000-000000000001"})
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


def test_handler_event_refused_for_itself_with_a_valid_tracker_is_still_invalid_input(aws_env: None) -> None:
    harness = make_harness(poison_ids={"sku-bad"}, tracking_ids={"event-tracker-1"})
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

    monkeypatch.setattr(pipeline, "validate", validate_with_a_gap)
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


def test_handler_unexpected_error_on_one_record_retries_it_and_sends_the_others(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Patched where the handler under test looks it up: the module its process_batch was defined in.
    assert vars(handler)["process_batch"] is pipeline.process_batch
    real_validate = validate.validate

    def validate_with_a_bug(change: Change, api: ApiModel, schema: DatasetSchema) -> ValidRecord:
        if change.fields.get("itemId") == "sku-bug":
            raise KeyError("a bug of ours")
        return real_validate(change, api, schema)

    monkeypatch.setattr(pipeline, "validate", validate_with_a_bug)
    bug, fine = sqs_record(item("sku-bug")), sqs_record(item("sku-1"))

    response = harness.invoke({"Records": [bug, fine]})

    assert failures(response) == [bug["messageId"]]
    assert harness.sent_ids() == ["sku-1"]


def test_handler_unexpected_error_dead_lettered_with_its_class_not_its_text(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An exception's text may quote the record (KeyError('Jane Doe'), UnicodeEncodeError's character): the
    # dead letter names the exception class only.
    def validate_with_a_bug(change: Change, api: ApiModel, schema: DatasetSchema) -> ValidRecord:
        raise KeyError("Jane Doe, 42 Secret Street")

    monkeypatch.setattr(pipeline, "validate", validate_with_a_bug)
    record = sqs_record(item("sku-1"), receive_count=5)

    response = harness.invoke({"Records": [record]})

    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert letter["ErrorCode"] == "RetriesExhausted"
    assert "KeyError" in letter["ErrorMessage"]
    assert "Jane" not in letter["ErrorMessage"]
