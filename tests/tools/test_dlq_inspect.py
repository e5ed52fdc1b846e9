"""``inspect`` against moto's SQS server: counts by code and API, samples of ids (never values), nothing moved."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.sqs_server import QueuePair
from tests.tools.conftest import REGION
from tests.tools.dlq_support import FAST, ITEM, USER, counts, dead_letter
from tools.dlq.cli import main
from tools.dlq.inspect import inspect
from tools.dlq.messages import REDRIVE_POLICY
from tools.dlq.render import render_inspect


def test_inspect_mixed_dead_letters_counts_by_code_and_api_with_samples(sqs: Any, queues: QueuePair) -> None:
    for index in range(3):
        dead_letter(sqs, queues.dlq_url, ITEM, "SchemaViolation", source=f"schema-{index}")
    dead_letter(sqs, queues.dlq_url, ITEM, "InvalidInput", reason="Invalid item", api="PutItems", source="bad-1")
    dead_letter(sqs, queues.dlq_url, "not json", "MalformedMessage", reason="body is not valid JSON")

    report = inspect(sqs=sqs, dlq_url=queues.dlq_url, samples=2, **FAST).to_dict()

    assert report["read"] == 5
    assert {code: entry["count"] for code, entry in report["byCode"].items()} == {
        "SchemaViolation": 3,
        "InvalidInput": 1,
        "MalformedMessage": 1,
    }
    # Records that failed before a call count under the API their kind is written with.
    assert report["byApi"] == {"PutItems": 4, "(not decodable)": 1}
    schema = report["byCode"]["SchemaViolation"]
    assert len(schema["samples"]) == 2
    assert schema["samples"][0]["sourceMessageId"] == "schema-0"
    assert schema["samples"][0]["errorMessage"] == "properties.color: not a field of the schema"
    assert report["oldest"] <= report["newest"]
    assert report["byCode"]["InvalidInput"]["samples"][0]["api"] == "PutItems"


def test_inspect_message_without_error_code_shown_as_redrive_policy_move(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, None)

    report = inspect(sqs=sqs, dlq_url=queues.dlq_url, **FAST).to_dict()

    (entry,) = report["byCode"].values()
    assert list(report["byCode"]) == [REDRIVE_POLICY]
    assert "redrive policy" in entry["meaning"]
    assert "maxReceiveCount" in render_inspect(inspect(sqs=sqs, dlq_url=queues.dlq_url, **FAST))


def test_inspect_default_hides_bodies_show_bodies_reveals_them(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM)

    hidden = json.dumps(inspect(sqs=sqs, dlq_url=queues.dlq_url, **FAST).to_dict())
    text = render_inspect(inspect(sqs=sqs, dlq_url=queues.dlq_url, **FAST))
    shown = inspect(sqs=sqs, dlq_url=queues.dlq_url, show_bodies=True, **FAST).to_dict()

    assert "19.99" not in hidden
    assert "19.99" not in text
    assert "price" not in hidden
    assert shown["byCode"]["SchemaViolation"]["samples"][0]["body"] == ITEM


def test_inspect_samples_name_kind_and_record_ids_of_every_kind(sqs: Any, queues: QueuePair) -> None:
    event = json.dumps(
        {
            "type": "event",
            "sessionId": "s-9",
            "userId": "u-9",
            "eventType": "click",
            "itemId": "sku-9",
            "sentAt": 1,
            "properties": {"discount": "secret"},
        }
    )
    wrapped = json.dumps({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": USER})
    dead_letter(sqs, queues.dlq_url, ITEM, "SchemaViolation")
    dead_letter(sqs, queues.dlq_url, event, "InvalidInput", api="PutEvents")
    dead_letter(sqs, queues.dlq_url, wrapped, "DatasetNotConfigured")
    dead_letter(sqs, queues.dlq_url, "not json", "MalformedMessage")

    report = inspect(sqs=sqs, dlq_url=queues.dlq_url, **FAST)
    samples = {code: entry["samples"][0] for code, entry in report.to_dict()["byCode"].items()}
    text = render_inspect(report)

    assert (samples["SchemaViolation"]["kind"], samples["SchemaViolation"]["ids"]) == ("item", {"itemId": "sku-1"})
    assert samples["InvalidInput"]["ids"] == {"itemId": "sku-9", "userId": "u-9", "sessionId": "s-9"}
    # An SNS envelope is unwrapped as the Lambda does it.
    assert (samples["DatasetNotConfigured"]["kind"], samples["DatasetNotConfigured"]["ids"]) == (
        "user",
        {"userId": "u-1"},
    )
    assert (samples["MalformedMessage"]["kind"], samples["MalformedMessage"]["ids"]) == (None, {})
    assert "event itemId=sku-9 userId=u-9 sessionId=s-9" in text
    assert "secret" not in text
    assert report.by_api == {"PutItems": 1, "PutEvents": 1, "PutUsers": 1, "(not decodable)": 1}


def test_inspect_after_reading_every_message_visible_again(sqs: Any, queues: QueuePair) -> None:
    for index in range(12):
        dead_letter(sqs, queues.dlq_url, ITEM, source=f"s-{index}")

    report = inspect(sqs=sqs, dlq_url=queues.dlq_url, **FAST)

    assert report.read == 12
    assert counts(sqs, queues.dlq_url) == (12, 0)


def test_inspect_limit_reads_at_most_limit_and_says_so(sqs: Any, queues: QueuePair) -> None:
    for index in range(5):
        dead_letter(sqs, queues.dlq_url, ITEM, source=f"s-{index}")

    report = inspect(sqs=sqs, dlq_url=queues.dlq_url, limit=3, **FAST)

    assert report.read == 3
    assert report.stopped == "--limit 3 reached"
    assert counts(sqs, queues.dlq_url) == (5, 0)


def test_inspect_cli_prints_codes_counts_and_json(
    sqs: Any, sqs_endpoint: str, queues: QueuePair, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "DatasetNotConfigured", reason="user: USERS_DATASET_ARN is not set")
    common = ["--dlq-url", queues.dlq_url, "--endpoint-url", sqs_endpoint, "--region", REGION, "--wait-seconds", "0"]

    assert main(["inspect", *common]) == 0
    text = capsys.readouterr().out
    assert main(["inspect", *common, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)

    assert "DatasetNotConfigured: 1" in text
    assert "user: USERS_DATASET_ARN is not set" in text
    assert document["byCode"]["DatasetNotConfigured"]["count"] == 1


def test_inspect_cli_endpoint_from_aws_endpoint_url_sqs(
    sqs: Any, sqs_endpoint: str, queues: QueuePair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "SchemaViolation")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", sqs_endpoint)

    assert main(["inspect", "--dlq-url", queues.dlq_url, "--wait-seconds", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["byCode"]["SchemaViolation"]["count"] == 1
