"""The ingest handler end to end over realistic SQS events (moto SQS for the DLQ, fakes for Personalize).

Each test states the invariant it guards: a message is acknowledged only when Personalize accepted it or the
DLQ holds it with its reason.
"""

from __future__ import annotations

import io
import json
import logging

import pytest

from ingest import handler
from ingest.errors import ConfigurationError
from tests.handlers.conftest import Harness, make_harness
from tests.support.fakes import ACTION_INTERACTIONS_TRACKING_ID, LambdaContextStub, client_error
from tests.support.sqs_events import action, event, item, sqs_event, sqs_record, user

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
        handler.lambda_handler(sqs_event(item("sku-1")), LambdaContextStub())  # type: ignore[arg-type]


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
    from ingest import pipeline

    real_validate = pipeline.validate

    def validate_with_a_bug(change, api, schema):  # type: ignore[no-untyped-def]
        if change.fields.get("itemId") == "sku-bug":
            raise KeyError("a bug of ours")
        return real_validate(change, api, schema)

    monkeypatch.setattr(pipeline, "validate", validate_with_a_bug)
    bug, fine = sqs_record(item("sku-bug")), sqs_record(item("sku-1"))

    response = harness.invoke({"Records": [bug, fine]})

    assert failures(response) == [bug["messageId"]]
    assert harness.sent_ids() == ["sku-1"]
