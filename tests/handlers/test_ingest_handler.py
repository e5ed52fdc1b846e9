"""The ingest handler end to end over realistic SQS events (moto SQS for the DLQ, fakes for Personalize): how
records become calls, the runtime it builds, what it logs and what it publishes.

Each test states the invariant it guards: a message is acknowledged only when Personalize accepted it or the
DLQ holds it with its reason. The other subjects have their own files: test_ingest_messages (a message's content),
test_ingest_poison (failures), test_ingest_superseding (changes to one record), test_ingest_fifo (group order).
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest

import contract
from ingest import handler
from ingest.errors import ConfigurationError
from tests.handlers.conftest import Harness, PersonalizeOnTheWire, failures, make_harness
from tests.support.fakes import ACTION_INTERACTIONS_TRACKING_ID, DATASETS, LambdaContextStub, client_error
from tests.support.sqs_events import action, event, item, sqs_event, user

THROTTLE = client_error("ThrottlingException", 400, "Rate exceeded")


@pytest.fixture
def structured_log() -> Iterator[io.StringIO]:
    """The service logger's JSON lines, as CloudWatch would get them."""
    stream = io.StringIO()
    structured = logging.StreamHandler(stream)
    structured.setFormatter(handler.logger.registered_formatter)
    service_logger = logging.getLogger(handler.logger.name)
    service_logger.addHandler(structured)
    yield stream
    service_logger.removeHandler(structured)


@pytest.mark.parametrize(
    ("bodies", "calls"),
    [
        ([item(f"sku-{i}") for i in range(10)], [("PutItems", 10)]),
        (
            [item(f"sku-{i}") for i in range(6)] + [action(f"a-{i}") for i in range(4)],
            [("PutItems", 6), ("PutActions", 4)],
        ),
        ([item(f"sku-{i}") for i in range(25)], [("PutItems", 10), ("PutItems", 10), ("PutItems", 5)]),
    ],
    ids=["ten-items-one-call", "six-items-four-actions-two-calls", "25-items-three-calls"],
)
def test_handler_records_fill_calls_of_at_most_ten_per_api_in_batch_order(
    harness: Harness, bodies: list[dict[str, object]], calls: list[tuple[str, int]]
) -> None:
    response = harness.invoke(sqs_event(*bodies))

    assert failures(response) == []
    made = [(api, len(kwargs[contract.KINDS_BY_API[api].list_field])) for api, kwargs in harness.events.calls]
    assert sorted(made) == sorted(calls)
    # Independent calls go out concurrently (ingest.concurrency), so they may end in any order; each call holds
    # its records in batch order, and the calls are chunked in batch order.
    item_ids = [body["itemId"] for body in bodies if body["type"] == "item"]
    item_calls = [
        [record["itemId"] for record in kwargs["items"]] for api, kwargs in harness.events.calls if api == "PutItems"
    ]
    assert sorted(item_calls) == sorted(item_ids[start : start + 10] for start in range(0, len(item_ids), 10))


def test_handler_empty_batch_answers_no_failures_and_calls_nothing(harness: Harness) -> None:
    assert harness.invoke({"Records": []}) == {"batchItemFailures": []}
    assert harness.events.calls == []


def test_handler_kind_without_dataset_is_dead_lettered_dataset_not_configured(aws_env: None) -> None:
    harness = make_harness(without=(contract.KIND_SPECS["action"].dataset_env,))

    response = harness.invoke(sqs_event(action("a-1")))

    assert failures(response) == []
    [letter] = harness.dead_letters()
    assert letter["ErrorCode"] == "DatasetNotConfigured"
    assert contract.KIND_SPECS["action"].dataset_env in letter["ErrorMessage"]


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


def test_handler_schema_is_described_once_per_kind_across_invocations(harness: Harness) -> None:
    harness.invoke(sqs_event(item("sku-1"), item("sku-2"), action("a-1")))
    harness.invoke(sqs_event(item("sku-3"), action("a-2")))

    assert harness.control.calls == 2  # one DescribeDataset for items, one for actions
    assert len(harness.events.accepted) == 5


def test_handler_logs_carry_ids_and_codes_but_never_property_values(
    harness: Harness, caplog: pytest.LogCaptureFixture, structured_log: io.StringIO
) -> None:
    secret = "Jane Doe, 42 Secret Street"
    # INFO is the deployed level (POWERTOOLS_LOG_LEVEL); botocore's own DEBUG wire logging is not ours to police.
    caplog.set_level(logging.INFO)
    harness.invoke(sqs_event(item("sku-1", colour=secret), item("sku-2", description=secret), "{" + secret))

    assert secret not in structured_log.getvalue() + caplog.text
    logged = [json.loads(line) for line in structured_log.getvalue().splitlines() if '"dead-lettered"' in line]
    assert {entry["error_code"] for entry in logged} == {"SchemaViolation", "MalformedMessage"}
    assert all(entry["message_id"] for entry in logged)


def test_handler_logs_each_message_left_for_redelivery_with_its_id_and_error_code(
    aws_env: None, structured_log: io.StringIO
) -> None:
    harness = make_harness(script=[THROTTLE] * 10_000)
    event_in = sqs_event(item("sku-1", description="Jane Doe"), item("sku-2"))
    harness.invoke(event_in, remaining_ms=5_000)

    lines = [json.loads(line) for line in structured_log.getvalue().splitlines()]
    left = [line for line in lines if line["message"] == "left for redelivery"]
    assert [(line["message_id"], line["error_code"], line["api"]) for line in left] == [
        (record["messageId"], "ThrottlingException", "PutItems") for record in event_in["Records"]
    ]
    assert "Jane Doe" not in structured_log.getvalue()


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
    aws_env: None, log_event_enabled: None, structured_log: io.StringIO
) -> None:
    harness = make_harness()
    secret = "Jane Doe, 42 Secret Street"
    harness.invoke(sqs_event(item("sku-1", description=secret)))

    assert harness.sent_ids() == ["sku-1"]
    assert '"batch done"' in structured_log.getvalue()
    assert secret not in structured_log.getvalue()


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
    monkeypatch.setenv(contract.KIND_SPECS["item"].dataset_env, DATASETS["ITEMS"])
    monkeypatch.setenv(contract.DEAD_LETTER_QUEUE_URL, "https://sqs.us-east-1.amazonaws.com/123456789012/dlq")
    monkeypatch.setenv(contract.MAX_RECEIVE_COUNT, "7")

    runtime = handler.runtime_from_env()

    assert runtime.settings.datasets == {"item": DATASETS["ITEMS"]}
    assert runtime.settings.max_receive_count == 7


def test_handler_clients_send_one_user_agent_fixed_at_the_cold_start(
    personalize_on_the_wire: PersonalizeOnTheWire,
) -> None:
    # GIVEN the handler's personalize-events clients (two tiers) and one built plainly from the same settings
    ladder = handler.client_ladder("personalize-events")
    plain = boto3.client("personalize-events", config=handler._CLIENT_CONFIG)
    clients = [ladder.within(60.0), ladder.within(60.0), ladder.within(1.0), plain]
    sent_at = datetime(2025, 1, 1, tzinfo=UTC)

    for client in clients:
        assert client is not None
        client.put_events(trackingId="t-1", sessionId="s-1", eventList=[{"eventType": "click", "sentAt": sent_at}])

    # THEN every call of the handler's clients sends the header fixed when they were built (and what Powertools
    # appends to every request): botocore does not rebuild it from each call's context (ingest.clients.pin_user_agent)
    *pinned, plainly = personalize_on_the_wire.user_agents()
    assert len(set(pinned)) == 1
    shortest = ladder.within(1.0)
    assert shortest is not None
    assert pinned[0].startswith(shortest.meta.config.user_agent + " ")
    # AND it is the header botocore builds itself, the list of SDK features (m/...) aside, with our extra once
    assert _without_features(pinned[0]) == _without_features(plainly)
    assert pinned[0].split().count("personalize-ingest") == 1


def _without_features(user_agent: str) -> list[str]:
    return [part for part in user_agent.split() if not part.startswith("m/")]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # the invocation fails before counting
def test_handler_without_dead_letter_queue_fails_the_whole_invocation(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(contract.DEAD_LETTER_QUEUE_URL, raising=False)
    handler.use_runtime(None)  # a cold start: the runtime is built from the environment

    with pytest.raises(ConfigurationError):
        handler.lambda_handler(sqs_event(item("sku-1")), LambdaContextStub())
