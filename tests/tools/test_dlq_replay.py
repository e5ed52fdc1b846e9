"""``replay`` against moto's SQS server and the Personalize emulator: re-validated with the ingest Lambda's own code,
only what passes now goes back; the rest stays in the DLQ, untouched."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

import boto3
import pytest

from ingest.settings import Settings
from local.sqs_server import QueuePair
from tests.emulator.emulator_helpers import Setup
from tests.support.fakes import DATASETS, FakePersonalizeControl, client_error
from tests.tools.conftest import CREDENTIALS, REGION
from tests.tools.dlq_support import (
    COLORED,
    FAST,
    ITEM,
    OVERPRICED,
    USER,
    add_color_field,
    counts,
    dead_letter,
    read_all,
    revalidator,
)
from tools.dlq.cli import main
from tools.dlq.errors import DlqToolError
from tools.dlq.replay import replay, replay_settings


def test_replay_schema_fixed_in_place_sends_back_only_messages_that_pass_now(
    sqs: Any, queues: QueuePair, personalize: Any, items_dataset: tuple[str, Setup]
) -> None:
    dataset, setup = items_dataset
    dead_letter(sqs, queues.dlq_url, COLORED, "SchemaViolation", source="colored")
    kept_id = dead_letter(
        sqs, queues.dlq_url, OVERPRICED, "SchemaViolation", reason="properties.price: must be a number", source="odd"
    )
    dead_letter(sqs, queues.dlq_url, "not json", "MalformedMessage")
    dead_letter(sqs, queues.dlq_url, USER, "DatasetNotConfigured", reason="user: USERS_DATASET_ARN is not set")
    add_color_field(personalize, setup, dataset)

    report = replay(
        sqs=sqs,
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        revalidator=revalidator(personalize, queues.dlq_url, item=dataset),
        **FAST,
    )

    assert [m["Body"] for m in read_all(sqs, queues.url)] == [COLORED]
    assert dict(report.selected) == {"SchemaViolation": 1}
    assert dict(report.kept) == {"SchemaViolation": 1, "MalformedMessage": 1, "DatasetNotConfigured": 1}
    still = {entry["messageId"]: entry for entry in report.still_failing}
    assert (still[kept_id]["now"], still[kept_id]["reason"]) == (
        "SchemaViolation",
        "properties.price: must be a number",
    )
    # Untouched: the same message, with its attributes, visible again.
    remaining = {m["MessageId"]: m for m in read_all(sqs, queues.dlq_url)}
    assert remaining[kept_id]["Body"] == OVERPRICED
    assert remaining[kept_id]["MessageAttributes"]["SourceMessageId"]["StringValue"] == "odd"
    assert counts(sqs, queues.dlq_url) == (3, 0)


def test_replay_before_the_fix_moves_nothing(
    sqs: Any, queues: QueuePair, personalize: Any, items_dataset: tuple[str, Setup]
) -> None:
    dataset, _ = items_dataset
    dead_letter(sqs, queues.dlq_url, COLORED, "SchemaViolation")

    report = replay(
        sqs=sqs,
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        revalidator=revalidator(personalize, queues.dlq_url, item=dataset),
        **FAST,
    )

    assert report.still_failing[0]["reason"] == "properties.color: not a field of the schema"
    assert (counts(sqs, queues.url), counts(sqs, queues.dlq_url)) == ((0, 0), (1, 0))


def test_replay_dry_run_reports_passing_but_moves_nothing(
    sqs: Any, queues: QueuePair, personalize: Any, items_dataset: tuple[str, Setup]
) -> None:
    dataset, setup = items_dataset
    dead_letter(sqs, queues.dlq_url, COLORED, "SchemaViolation")
    add_color_field(personalize, setup, dataset)

    report = replay(
        sqs=sqs,
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        revalidator=revalidator(personalize, queues.dlq_url, item=dataset),
        dry_run=True,
        **FAST,
    )

    assert dict(report.selected) == {"SchemaViolation": 1}
    assert (counts(sqs, queues.url), counts(sqs, queues.dlq_url)) == ((0, 0), (1, 0))


def test_replay_dataset_not_configured_passes_once_dataset_is_given(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, USER, "DatasetNotConfigured", reason="user: USERS_DATASET_ARN is not set")
    control = FakePersonalizeControl()

    unchanged = replay(
        sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, revalidator=revalidator(control, queues.dlq_url), **FAST
    )
    fixed = replay(
        sqs=sqs,
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        revalidator=revalidator(control, queues.dlq_url, user=DATASETS["USERS"]),
        **FAST,
    )

    assert unchanged.still_failing[0]["now"] == "DatasetNotConfigured"
    assert len(fixed.outcome.moved) == 1
    assert [m["Body"] for m in read_all(sqs, queues.url)] == [USER]


def test_replay_event_without_tracking_id_still_dataset_not_configured(sqs: Any, queues: QueuePair) -> None:
    event = json.dumps(
        {"type": "event", "sessionId": "s-1", "userId": "u-1", "eventType": "click", "itemId": "i-1", "sentAt": 1}
    )
    dead_letter(sqs, queues.dlq_url, event, "DatasetNotConfigured")

    report = replay(
        sqs=sqs,
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        revalidator=revalidator(FakePersonalizeControl(), queues.dlq_url, event=DATASETS["INTERACTIONS"]),
        **FAST,
    )

    assert report.still_failing[0]["reason"] == "event: EVENT_TRACKING_ID is not set"
    assert counts(sqs, queues.url) == (0, 0)


def test_replay_schema_unreadable_message_stays_with_service_reason(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "SchemaViolation")
    control = FakePersonalizeControl(failures=[client_error("AccessDeniedException", 400, "no", "DescribeDataset")])

    report = replay(
        sqs=sqs,
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        revalidator=revalidator(control, queues.dlq_url, item=DATASETS["ITEMS"]),
        **FAST,
    )

    assert report.still_failing[0]["now"] == "AccessDeniedException"
    assert counts(sqs, queues.dlq_url) == (1, 0)


def test_replay_malformed_message_code_refused(sqs: Any, queues: QueuePair) -> None:
    with pytest.raises(DlqToolError, match="use redrive"):
        replay(
            sqs=sqs,
            dlq_url=queues.dlq_url,
            queue_url=queues.url,
            revalidator=revalidator(FakePersonalizeControl(), queues.dlq_url),
            codes=frozenset({"MalformedMessage"}),
        )


def test_replay_settings_flags_override_lambda_environment() -> None:
    env = {"ITEMS_DATASET_ARN": "arn:env-items", "USERS_DATASET_ARN": "arn:env-users", "UNRELATED": "x"}

    settings = replay_settings(
        dlq_url="https://dlq",
        dataset_arns={"item": "arn:flag-items", "event": "arn:flag-interactions"},
        tracking_ids={"event": "t-1"},
        env=env,
    )

    assert settings == Settings(
        datasets={"item": "arn:flag-items", "user": "arn:env-users", "event": "arn:flag-interactions"},
        targets={"item": "arn:flag-items", "user": "arn:env-users", "event": "t-1"},
        dead_letter_queue_url="https://dlq",
    )


def test_replay_cli_against_emulator_sends_back_fixed_message(
    sqs: Any, queues: QueuePair, personalize: Any, items_dataset: tuple[str, Setup], capsys: pytest.CaptureFixture[str]
) -> None:
    dataset, setup = items_dataset
    dead_letter(sqs, queues.dlq_url, COLORED, "SchemaViolation")
    add_color_field(personalize, setup, dataset)

    code = main(
        [
            "replay",
            *("--dlq-url", queues.dlq_url, "--queue-url", queues.url, "--endpoint-url", sqs.meta.endpoint_url),
            *("--personalize-endpoint-url", personalize.meta.endpoint_url, "--dataset-arn", f"item={dataset}"),
            *("--region", REGION, "--wait-seconds", "0"),
        ]
    )

    assert code == 0
    assert "moved: 1" in capsys.readouterr().out
    assert [m["Body"] for m in read_all(sqs, queues.url)] == [COLORED]


def ingest_function(endpoint_url: str, variables: dict[str, str]) -> str:
    """A function on moto's server standing in for the deployed ingest Lambda: replay reads only its environment."""
    name = f"ingest-{uuid.uuid4().hex[:12]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = boto3.client("iam", endpoint_url=endpoint_url, region_name=REGION, **CREDENTIALS).create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(trust)
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("ingest/handler.py", "def lambda_handler(event, context):\n    return {}\n")
    boto3.client("lambda", endpoint_url=endpoint_url, region_name=REGION, **CREDENTIALS).create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role["Role"]["Arn"],
        Handler="ingest.handler.lambda_handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": variables},
    )
    return name


def test_replay_cli_function_environment_and_endpoint_variables_send_back_fixed_message(
    *,
    sqs: Any,
    sqs_endpoint: str,
    queues: QueuePair,
    personalize: Any,
    items_dataset: tuple[str, Setup],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dataset, setup = items_dataset
    dead_letter(sqs, queues.dlq_url, COLORED, "SchemaViolation")
    add_color_field(personalize, setup, dataset)
    function = ingest_function(
        sqs_endpoint,
        {"ITEMS_DATASET_ARN": dataset, "DEAD_LETTER_QUEUE_URL": queues.dlq_url, "MAX_RECEIVE_COUNT": "5"},
    )
    # No endpoint flags: the standard AWS_ENDPOINT_URL_* variables point the plain clients at the stand-ins.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", sqs_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", sqs_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_PERSONALIZE", personalize.meta.endpoint_url)

    code = main(
        [
            "replay",
            *("--dlq-url", queues.dlq_url, "--queue-url", queues.url, "--function-name", function),
            *("--wait-seconds", "0", "--json"),
        ]
    )

    assert code == 0
    assert json.loads(capsys.readouterr().out)["moved"] == 1
    assert [m["Body"] for m in read_all(sqs, queues.url)] == [COLORED]
    assert counts(sqs, queues.dlq_url) == (0, 0)


def test_replay_cli_function_without_dataset_variables_refused_nothing_moved(
    sqs: Any, sqs_endpoint: str, queues: QueuePair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(sqs, queues.dlq_url, COLORED, "SchemaViolation")
    function = ingest_function(sqs_endpoint, {"LOG_LEVEL": "INFO"})
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", sqs_endpoint)

    code = main(
        [
            "replay",
            *("--dlq-url", queues.dlq_url, "--queue-url", queues.url, "--endpoint-url", sqs_endpoint),
            *("--function-name", function, "--wait-seconds", "0"),
        ]
    )

    assert code == 1
    assert "is it the ingest function" in capsys.readouterr().err
    assert (counts(sqs, queues.url), counts(sqs, queues.dlq_url)) == ((0, 0), (1, 0))
