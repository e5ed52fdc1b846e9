"""The DLQ tool (``python -m tools.dlq``) against moto's SQS server, and for replay, the Personalize emulator.

Dead letters are written the way the ingest Lambda writes them (Contract 3: original body, ErrorCode,
ErrorMessage, SourceMessageId, Api), or without attributes, the way the ingest queue's redrive policy moves them.
The tool's promise under test: a message leaves the DLQ only after its copy is safely in the ingest queue.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.stub import Stubber

from ingest.catalog import DatasetCatalog
from ingest.settings import Settings
from local.sqs_server import QueuePair
from tests.emulator.emulator_helpers import Setup
from tests.support.fakes import DATASETS, FakePersonalizeControl, client_error
from tests.tools.conftest import CREDENTIALS, REGION, QueuePairFactory
from tools import dlq
from tools.dlq import (
    REDRIVE_POLICY,
    DeadLetterMessage,
    DlqToolError,
    Method,
    RateLimiter,
    Revalidator,
    inspect,
    main,
    redrive,
    region_of_queue_url,
    replay,
    replay_settings,
)

# Bodies, as upstream published them (Contract 1).
ITEM = json.dumps({"type": "item", "itemId": "sku-1", "properties": {"price": 19.99}})
USER = json.dumps({"type": "user", "userId": "u-1", "properties": {"membershipType": "gold"}})
FAST = {"wait_seconds": 0}  # moto answers at once; long polling would only slow the tests


def dead_letter(
    sqs: Any,
    url: str,
    body: str,
    code: str | None = "SchemaViolation",
    *,
    reason: str = "properties.color: not a field of the schema",
    api: str | None = None,
    source: str = "src-1",
    upstream: dict[str, str] | None = None,
    group: str | None = None,
) -> str:
    """Put one message in the DLQ as the Lambda does (``code=None``: as the redrive policy does); its id."""
    attributes = {name: {"DataType": "String", "StringValue": value} for name, value in (upstream or {}).items()}
    if code is not None:
        contract = {"ErrorCode": code, "ErrorMessage": reason, "SourceMessageId": source}
        if api:
            contract["Api"] = api
        attributes |= {name: {"DataType": "String", "StringValue": value} for name, value in contract.items()}
    extra: dict[str, Any] = {"MessageGroupId": group, "MessageDeduplicationId": source} if group else {}
    response = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes, **extra)
    return str(response["MessageId"])


def read_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every visible message of ``url``, left visible again afterwards."""
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=30,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        found += batch
    for message in found:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return found


def counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of ``url``."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def codes_of(messages: list[dict[str, Any]]) -> list[str | None]:
    return sorted((m.get("MessageAttributes", {}).get("ErrorCode", {}).get("StringValue") for m in messages), key=str)


class SimulatedCrash(Exception):
    """The process dies here."""


class CrashingSqs:
    """An SQS client that dies right after SQS confirmed the copies, before the originals are deleted.

    ``crash_on_batch``: the DeleteMessageBatch call (1-based) that dies; earlier ones go through. ``hard``: the
    release of held messages dies too, as when the process is killed rather than interrupted.
    """

    def __init__(self, client: Any, *, crash_on_batch: int = 1, hard: bool = False) -> None:
        self._client = client
        self._crash_on_batch = crash_on_batch
        self._hard = hard
        self.deletes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_message_batch(self, **kwargs: Any) -> Any:
        self.deletes += 1
        if self.deletes >= self._crash_on_batch:
            raise SimulatedCrash
        return self._client.delete_message_batch(**kwargs)

    def change_message_visibility_batch(self, **kwargs: Any) -> Any:
        if self._hard:
            raise SimulatedCrash
        return self._client.change_message_visibility_batch(**kwargs)


class MoveTaskSpy:
    """An SQS client that records every StartMessageMoveTask it is asked for (moto answers it with HTTP 500)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.move_tasks: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def start_message_move_task(self, **kwargs: Any) -> Any:
        self.move_tasks.append(kwargs)
        return self._client.start_message_move_task(**kwargs)


class RefusingSqs:
    """An SQS client whose SendMessageBatch copies only the first ``accepted`` entries and refuses the rest."""

    def __init__(self, client: Any, *, accepted: int) -> None:
        self._client = client
        self._accepted = accepted

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        response = self._client.send_message_batch(QueueUrl=QueueUrl, Entries=Entries[: self._accepted])
        response["Failed"] = [
            {"Id": entry["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"}
            for entry in Entries[self._accepted :]
        ]
        return response


class SlowReceives:
    """An SQS client whose every ReceiveMessage after the first waits ``delay`` seconds first, as in a pass over a
    large DLQ at a slow pace: it outlasts the hold, and what it read comes back."""

    def __init__(self, client: Any, *, delay: float) -> None:
        self._client = client
        self._delay = delay
        self.receives = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def receive_message(self, **kwargs: Any) -> Any:
        self.receives += 1
        if self.receives > 1:
            time.sleep(self._delay)
        return self._client.receive_message(**kwargs)


class InFlightLimitSqs:
    """An SQS client whose ReceiveMessage calls after the first ``allowed`` are refused with OverLimit, as SQS does
    once a queue holds its limit of in-flight messages (120,000 on a standard queue)."""

    def __init__(self, client: Any, *, allowed: int = 1) -> None:
        self._client = client
        self._allowed = allowed
        self.receives = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def receive_message(self, **kwargs: Any) -> Any:
        self.receives += 1
        if self.receives > self._allowed:
            raise client_error("OverLimit", 403, "too many messages in flight", "ReceiveMessage")
        return self._client.receive_message(**kwargs)


class UnreleasingSqs:
    """An SQS client whose ChangeMessageVisibilityBatch refuses every entry: held messages stay hidden."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def change_message_visibility_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        failed = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"} for e in Entries
        ]
        return {"Successful": [], "Failed": failed}


# --- inspect ---------------------------------------------------------------------------------------------------------


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
    assert "maxReceiveCount" in dlq.render_inspect(inspect(sqs=sqs, dlq_url=queues.dlq_url, **FAST))


def test_inspect_default_hides_bodies_show_bodies_reveals_them(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM)

    hidden = json.dumps(inspect(sqs=sqs, dlq_url=queues.dlq_url, **FAST).to_dict())
    text = dlq.render_inspect(inspect(sqs=sqs, dlq_url=queues.dlq_url, **FAST))
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
    text = dlq.render_inspect(report)

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


# --- redrive: copy -------------------------------------------------------------------------------------------------


def test_redrive_code_filter_moves_only_selected_with_body_unchanged(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "SchemaViolation", source="a")
    dead_letter(sqs, queues.dlq_url, USER, "DatasetNotConfigured", source="b")
    dead_letter(sqs, queues.dlq_url, "not json", "MalformedMessage", source="c")

    report = redrive(
        sqs=sqs,
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        codes=frozenset({"SchemaViolation", "DatasetNotConfigured"}),
        **FAST,
    )

    assert sorted(m["Body"] for m in read_all(sqs, queues.url)) == sorted([ITEM, USER])
    assert codes_of(read_all(sqs, queues.dlq_url)) == ["MalformedMessage"]
    assert (len(report.outcome.moved), dict(report.kept), report.ok) == (2, {"MalformedMessage": 1}, True)


def test_redrive_copy_drops_failure_attributes_keeps_source_id_and_upstream_ones(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "InvalidInput", api="PutItems", upstream={"TraceId": "t-1"})

    redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, codes=frozenset({"InvalidInput"}), **FAST)

    (copy,) = read_all(sqs, queues.url)
    assert copy["Body"] == ITEM
    assert set(copy["MessageAttributes"]) == {"TraceId", "SourceMessageId"}
    assert copy["MessageAttributes"]["TraceId"] == {"DataType": "String", "StringValue": "t-1"}


def test_redrive_redrive_policy_move_copy_names_its_message_id_as_source(sqs: Any, queues: QueuePair) -> None:
    # The redrive policy moves a message without Contract 3 attributes, keeping its message id.
    moved_id = dead_letter(sqs, queues.dlq_url, ITEM, None)

    redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, method=Method.COPY, **FAST)

    # So the Lambda derives a missing eventId from the original's id, as it did on the first delivery.
    (copy,) = read_all(sqs, queues.url)
    assert copy["MessageAttributes"] == {"SourceMessageId": {"DataType": "String", "StringValue": moved_id}}


def test_redrive_code_filter_unselected_visible_again_immediately(sqs: Any, queues: QueuePair) -> None:
    for index in range(4):
        dead_letter(sqs, queues.dlq_url, "not json", "MalformedMessage", source=f"m-{index}")
    dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted")

    redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, codes=frozenset({"RetriesExhausted"}), **FAST)

    # Not left hidden until --hold-seconds end: the DLQ looks as it did, minus what moved.
    assert counts(sqs, queues.dlq_url) == (4, 0)


def test_redrive_redrive_policy_code_selects_messages_without_error_code(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, None)
    dead_letter(sqs, queues.dlq_url, USER, "SchemaViolation")

    redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, codes=frozenset({REDRIVE_POLICY}), **FAST)

    assert [m["Body"] for m in read_all(sqs, queues.url)] == [ITEM]
    assert codes_of(read_all(sqs, queues.dlq_url)) == ["SchemaViolation"]


def test_redrive_dry_run_moves_nothing_and_reports_what_would_move(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "SchemaViolation")
    moved_id = dead_letter(sqs, queues.dlq_url, ITEM, None)

    report = redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, dry_run=True, **FAST)

    assert dict(report.selected) == {"SchemaViolation": 1, REDRIVE_POLICY: 1}
    assert counts(sqs, queues.url) == (0, 0)
    assert counts(sqs, queues.dlq_url) == (2, 0)
    text = dlq.render_move(report, command="redrive")
    assert "DRY RUN" in text
    # How it would move them: by copying, because the redrive policy's message has no SourceMessageId.
    assert f"message {moved_id} ({REDRIVE_POLICY}) has no SourceMessageId" in text
    assert "would copy the messages instead" in text


def test_redrive_dry_run_every_message_with_source_id_would_start_move_task(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted", source="a")
    dead_letter(sqs, queues.dlq_url, USER, "SchemaViolation", source="b")

    report = redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, dry_run=True, **FAST)

    assert report.notes == [
        "every message carries SourceMessageId: would start an SQS message move task (StartMessageMoveTask), "
        "or copy the messages if SQS refuses"
    ]
    assert (counts(sqs, queues.url), counts(sqs, queues.dlq_url)) == ((0, 0), (2, 0))


def test_redrive_all_with_redrive_policy_move_copies_instead_of_move_task(sqs: Any, queues: QueuePair) -> None:
    # GIVEN handler-written dead letters (with SourceMessageId) and, after the first receive's worth, one message
    # the ingest queue's redrive policy moved (no attributes at all: a crash or timeout outlasted the retries)
    event = json.dumps({"type": "event", "sessionId": "s-1", "userId": "u-1", "eventType": "click",
                        "itemId": "sku-1", "sentAt": "2026-11-22T10:00:00Z"})  # fmt: skip
    for index in range(11):
        dead_letter(sqs, queues.dlq_url, event, "RetriesExhausted", source=f"s-{index}")
    moved_id = dead_letter(sqs, queues.dlq_url, event, None)
    spy = MoveTaskSpy(sqs)

    # WHEN everything is redriven the default way
    report = redrive(sqs=spy, dlq_url=queues.dlq_url, queue_url=queues.url, max_per_second=None, **FAST)

    # THEN no move task was even asked for (it would give the moved event a new message id, hence a new eventId):
    # every message was copied, each copy naming its original, and the report says why
    assert spy.move_tasks == []
    assert (report.method, len(report.outcome.moved), report.ok) == ("copy", 12, True)
    assert any(f"message {moved_id} ({REDRIVE_POLICY}) has no SourceMessageId" in note for note in report.notes)
    assert "copied the messages instead, each with SourceMessageId" in dlq.render_move(report, command="redrive")
    sources = {m["MessageAttributes"]["SourceMessageId"]["StringValue"] for m in read_all(sqs, queues.url)}
    assert sources == {moved_id, *(f"s-{index}" for index in range(11))}
    assert counts(sqs, queues.dlq_url) == (0, 0)


def test_redrive_all_while_another_reader_holds_messages_copies_instead(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted", source="held")
    # Someone else (another run of the tool, a console poll) holds the only message: nobody can vouch for it.
    sqs.receive_message(QueueUrl=queues.dlq_url, VisibilityTimeout=30)
    dead_letter(sqs, queues.dlq_url, USER, "RetriesExhausted", source="visible")
    spy = MoveTaskSpy(sqs)

    report = redrive(sqs=spy, dlq_url=queues.dlq_url, queue_url=queues.url, **FAST)

    assert spy.move_tasks == []
    assert any("in flight (held by another reader)" in note for note in report.notes)
    assert [m["Body"] for m in read_all(sqs, queues.url)] == [USER]
    assert counts(sqs, queues.dlq_url) == (0, 1)  # still held by the other reader, untouched


def test_redrive_all_fifo_dlq_not_fully_readable_copies_instead(sqs: Any, make_queues: QueuePairFactory) -> None:
    fifo = make_queues(fifo=True)
    # Twelve of one group: a receive returns at most ten of a group, and none after them while those are held,
    # so the check cannot see the last two.
    for index in range(12):
        dead_letter(sqs, fifo.dlq_url, ITEM, "RetriesExhausted", group="g", source=f"s-{index}")
    spy = MoveTaskSpy(sqs)

    report = redrive(sqs=spy, dlq_url=fifo.dlq_url, queue_url=fifo.url, **FAST)

    assert spy.move_tasks == []
    assert any("not every message could be checked for SourceMessageId" in note for note in report.notes)
    assert report.method == "copy"


def test_redrive_all_without_move_task_support_falls_back_to_copy(sqs: Any, queues: QueuePair) -> None:
    # moto 5.2.5 does not implement StartMessageMoveTask: its server answers HTTP 500.
    for index in range(12):
        dead_letter(sqs, queues.dlq_url, ITEM, source=f"s-{index}")

    report = redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, max_per_second=None, **FAST)

    assert report.method == "copy"
    assert any("could not start a message move task" in note for note in report.notes)
    assert len(report.outcome.moved) == 12
    assert counts(sqs, queues.url) == (12, 0)
    assert counts(sqs, queues.dlq_url) == (0, 0)


def test_redrive_limit_moves_at_most_limit(sqs: Any, queues: QueuePair) -> None:
    for index in range(5):
        dead_letter(sqs, queues.dlq_url, ITEM, source=f"s-{index}")

    report = redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, limit=2, **FAST)

    assert len(report.outcome.moved) == 2
    assert counts(sqs, queues.url) == (2, 0)
    assert counts(sqs, queues.dlq_url) == (3, 0)


def test_redrive_some_copies_refused_only_confirmed_ones_deleted(sqs: Any, queues: QueuePair) -> None:
    for index in range(3):
        dead_letter(sqs, queues.dlq_url, ITEM, source=f"s-{index}")

    report = redrive(
        sqs=RefusingSqs(sqs, accepted=1),
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        method=Method.COPY,
        **FAST,
    )

    assert (len(report.outcome.moved), len(report.outcome.failed), report.ok) == (1, 2, False)
    assert counts(sqs, queues.url) == (1, 0)
    assert counts(sqs, queues.dlq_url) == (2, 0)  # the refused two: still there, visible again


def test_redrive_cli_target_queue_missing_deletes_nothing_exits_one(
    sqs: Any, sqs_endpoint: str, queues: QueuePair, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM)
    missing = queues.url + "-gone"

    code = main(
        [
            "redrive",
            *("--dlq-url", queues.dlq_url, "--queue-url", missing, "--endpoint-url", sqs_endpoint),
            *("--method", "copy", "--wait-seconds", "0"),
        ]
    )

    assert code == 1
    assert "NOT copied, still in the DLQ" in capsys.readouterr().out
    assert counts(sqs, queues.dlq_url) == (1, 0)


def test_redrive_same_queue_refused(sqs: Any, queues: QueuePair) -> None:
    with pytest.raises(DlqToolError, match="round in circles"):
        redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.dlq_url)


def test_redrive_cli_unknown_code_is_usage_error(sqs_endpoint: str, queues: QueuePair) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["redrive", "--dlq-url", queues.dlq_url, "--queue-url", queues.url, "--codes", "SchemaViolaton"])

    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["redrive", "--method", "move-task", "--codes", "RetriesExhausted"], "cannot be combined with --codes"),
        (["redrive", "--method", "move-task", "--limit", "5"], "cannot be combined with --codes or --limit"),
        (["replay", "--codes", "MalformedMessage,SchemaViolation"], "not MalformedMessage: use redrive"),
        (["redrive", "--same-queue"], "round in circles"),
        (["replay", "--same-queue"], "round in circles"),
    ],
)
def test_cli_impossible_combination_is_usage_error_exit_two_nothing_moved(
    sqs: Any, queues: QueuePair, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted")
    command, *flags = argv
    target = queues.dlq_url if flags == ["--same-queue"] else queues.url
    flags = [] if flags == ["--same-queue"] else flags

    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                command,
                "--dlq-url",
                queues.dlq_url,
                "--queue-url",
                target,
                "--endpoint-url",
                sqs.meta.endpoint_url,
                *flags,
            ]
        )

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert (counts(sqs, queues.url), counts(sqs, queues.dlq_url)) == ((0, 0), (1, 0))


def test_redrive_rate_limit_spaces_batches(sqs: Any, queues: QueuePair) -> None:
    for index in range(25):
        dead_letter(sqs, queues.dlq_url, ITEM, source=f"s-{index}")
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(10, clock=lambda: now[0], sleep=sleep)

    redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, method=Method.COPY, limiter=limiter, **FAST)

    # 25 messages at 10/s go as 10, 10, 5: the second batch waits one second, the third another.
    assert slept == pytest.approx([1.0, 1.0])
    assert counts(sqs, queues.url) == (25, 0)


# --- redrive: a crash between copy and delete ------------------------------------------------------------------------


def test_redrive_crash_between_copy_and_delete_loses_nothing(sqs: Any, queues: QueuePair) -> None:
    bodies = [json.dumps({"type": "item", "itemId": f"sku-{i}", "properties": {"price": i}}) for i in range(12)]
    for index, body in enumerate(bodies):
        dead_letter(sqs, queues.dlq_url, body, source=f"s-{index}")

    # GIVEN a redrive that dies once the second batch's copies are confirmed, before their originals are deleted
    with pytest.raises(SimulatedCrash):
        redrive(
            sqs=CrashingSqs(sqs, crash_on_batch=2),
            dlq_url=queues.dlq_url,
            queue_url=queues.url,
            method=Method.COPY,
            **FAST,
        )

    # THEN every message is in the ingest queue or still in the DLQ (the crashed batch: in both)
    in_queue = [m["Body"] for m in read_all(sqs, queues.url)]
    in_dlq = [m["Body"] for m in read_all(sqs, queues.dlq_url)]
    assert (len(in_queue), len(in_dlq)) == (12, 2)
    assert set(in_queue) == set(bodies)

    # WHEN the redrive runs again THEN the DLQ empties; the two copied twice are harmless duplicates
    report = redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, method=Method.COPY, **FAST)
    assert len(report.outcome.moved) == 2
    assert counts(sqs, queues.dlq_url) == (0, 0)
    assert sorted({m["Body"] for m in read_all(sqs, queues.url)}) == sorted(bodies)


def test_redrive_hard_crash_after_copy_message_reappears_when_hold_ends(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM)

    # GIVEN a process killed after the copy: neither the delete nor the release of held messages happens
    with pytest.raises(SimulatedCrash):
        redrive(
            sqs=CrashingSqs(sqs, hard=True),
            dlq_url=queues.dlq_url,
            queue_url=queues.url,
            method=Method.COPY,
            hold_seconds=1,
            **FAST,
        )
    assert counts(sqs, queues.dlq_url) == (0, 1)  # hidden, not gone

    # THEN SQS shows it again when the hold ends, and a second run moves it
    time.sleep(1.2)
    assert counts(sqs, queues.dlq_url) == (1, 0)
    redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, method=Method.COPY, **FAST)
    assert counts(sqs, queues.dlq_url) == (0, 0)
    assert [m["Body"] for m in read_all(sqs, queues.url)] == [ITEM, ITEM]


def test_redrive_fifo_keeps_group_and_rerun_after_crash_is_deduplicated(
    sqs: Any, make_queues: QueuePairFactory
) -> None:
    fifo = make_queues(fifo=True)
    dead_letter(sqs, fifo.dlq_url, ITEM, group="customer-7", source="src-a")

    with pytest.raises(SimulatedCrash):
        redrive(sqs=CrashingSqs(sqs), dlq_url=fifo.dlq_url, queue_url=fifo.url, method=Method.COPY, **FAST)
    redrive(sqs=sqs, dlq_url=fifo.dlq_url, queue_url=fifo.url, method=Method.COPY, **FAST)

    # The copy's deduplication id is the DLQ message's id: the second copy is dropped by SQS, not delivered twice.
    (copy,) = read_all(sqs, fifo.url)
    assert copy["Attributes"]["MessageGroupId"] == "customer-7"
    assert copy["Body"] == ITEM
    assert counts(sqs, fifo.dlq_url) == (0, 0)


def test_redrive_fifo_group_behind_held_message_reached_by_second_run(sqs: Any, make_queues: QueuePairFactory) -> None:
    fifo = make_queues(fifo=True)
    # One group: a message that stays (MalformedMessage) ahead of eleven to move. A receive returns at most ten of
    # a group, and none after them while the first is held.
    dead_letter(sqs, fifo.dlq_url, "not json", "MalformedMessage", group="g", source="head")
    for index in range(11):
        dead_letter(sqs, fifo.dlq_url, ITEM, group="g", source=f"s-{index}")

    first = redrive(sqs=sqs, dlq_url=fifo.dlq_url, queue_url=fifo.url, codes=frozenset({"SchemaViolation"}), **FAST)
    second = redrive(sqs=sqs, dlq_url=fifo.dlq_url, queue_url=fifo.url, codes=frozenset({"SchemaViolation"}), **FAST)

    assert len(first.outcome.moved) == 9
    assert first.stopped is not None
    assert "waited behind messages this pass held" in first.stopped
    assert (len(second.outcome.moved), second.stopped) == (2, None)
    assert codes_of(read_all(sqs, fifo.dlq_url)) == ["MalformedMessage"]


# --- redrive: SQS's message move task (real AWS; moto lacks it, so botocore's Stubber answers) ---------------------

DLQ_URL = "https://sqs.us-east-1.amazonaws.com/111122223333/ingest-dlq"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/111122223333/ingest"
DLQ_ARN = "arn:aws:sqs:us-east-1:111122223333:ingest-dlq"
QUEUE_ARN = "arn:aws:sqs:us-east-1:111122223333:ingest"


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sqs", region_name=REGION, **CREDENTIALS)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def stubbed_dead_letter(
    message_id: str, *, source: str | None, code: str | None = "RetriesExhausted"
) -> dict[str, Any]:
    """One ReceiveMessage entry: a dead letter written by the Lambda, or (``source=None``) moved by the policy."""
    attributes = {}
    if code is not None:
        attributes["ErrorCode"] = {"DataType": "String", "StringValue": code}
    if source is not None:
        attributes["SourceMessageId"] = {"DataType": "String", "StringValue": source}
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"handle-{message_id}",
        "Body": ITEM,
        "MessageAttributes": attributes,
    }


def expect_dlq_read(stubber: Stubber, messages: list[dict[str, Any]], *, to_the_end: bool = True) -> None:
    """The read before a move task: nothing in flight, a receive of ``messages``, then (``to_the_end``: no message
    stopped the read) an empty one, and the release of what was read."""
    stubber.add_response(
        "get_queue_attributes",
        {
            "Attributes": {
                "ApproximateNumberOfMessages": str(len(messages)),
                "ApproximateNumberOfMessagesNotVisible": "0",
            }
        },
        {
            "QueueUrl": DLQ_URL,
            "AttributeNames": [
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        },
    )
    if messages:
        stubber.add_response("receive_message", {"Messages": messages})
    if to_the_end:
        stubber.add_response("receive_message", {})
    if messages:
        stubber.add_response(
            "change_message_visibility_batch",
            {"Successful": [{"Id": str(index)} for index in range(len(messages))], "Failed": []},
            {
                "QueueUrl": DLQ_URL,
                "Entries": [
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                    for index, message in enumerate(messages)
                ],
            },
        )


def expect_arns(stubber: Stubber, *, running: list[dict[str, Any]] | None = None) -> None:
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": DLQ_ARN}},
        {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]},
    )
    stubber.add_response(
        "list_message_move_tasks", {"Results": running or []}, {"SourceArn": DLQ_ARN, "MaxResults": 10}
    )
    if running:
        return
    stubber.add_response(
        "get_queue_attributes",
        {"Attributes": {"QueueArn": QUEUE_ARN}},
        {"QueueUrl": QUEUE_URL, "AttributeNames": ["QueueArn"]},
    )


def test_redrive_all_starts_move_task_to_ingest_queue_at_capped_rate(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    # Every message names its original: a handler-written dead letter, and a copy the tool sent back earlier that
    # the redrive policy moved again (no ErrorCode, SourceMessageId kept). A move task cannot lose either's id.
    expect_dlq_read(
        stubber,
        [stubbed_dead_letter("m-1", source="src-1"), stubbed_dead_letter("m-2", source="src-2", code=None)],
    )
    expect_arns(stubber)
    stubber.add_response(
        "start_message_move_task",
        {"TaskHandle": "task-1"},
        {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN, "MaxNumberOfMessagesPerSecond": 500},
    )

    report = redrive(sqs=client, dlq_url=DLQ_URL, queue_url=QUEUE_URL, max_per_second=2000)

    assert (report.method, report.task["TaskHandle"] if report.task else None) == ("move-task", "task-1")
    assert any("500" in note for note in report.notes)
    assert "list-message-move-tasks" in dlq.render_move(report, command="redrive")


def test_redrive_move_task_wait_polls_until_completed(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    expect_dlq_read(stubber, [stubbed_dead_letter("m-1", source="src-1")])
    expect_arns(stubber)
    stubber.add_response(
        "start_message_move_task", {"TaskHandle": "task-1"}, {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN}
    )
    for status, moved in (("RUNNING", 4), ("COMPLETED", 9)):
        task = {
            "TaskHandle": "task-1",
            "Status": status,
            "SourceArn": DLQ_ARN,
            "ApproximateNumberOfMessagesMoved": moved,
            "ApproximateNumberOfMessagesToMove": 9,
        }
        stubber.add_response("list_message_move_tasks", {"Results": [task]}, {"SourceArn": DLQ_ARN, "MaxResults": 10})
    polls: list[float] = []
    seen: list[str] = []

    report = redrive(
        sqs=client,
        dlq_url=DLQ_URL,
        queue_url=QUEUE_URL,
        max_per_second=0,
        wait=True,
        poll=polls.append,
        progress=lambda task: seen.append(str(task["Status"])),
    )

    assert report.task is not None
    assert (report.task["Status"], report.task["ApproximateNumberOfMessagesMoved"], report.ok) == ("COMPLETED", 9, True)
    assert (seen, len(polls)) == (["RUNNING", "COMPLETED"], 1)


def test_redrive_move_task_already_running_refused(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    expect_dlq_read(stubber, [])
    expect_arns(stubber, running=[{"TaskHandle": "other", "Status": "RUNNING", "SourceArn": DLQ_ARN}])

    with pytest.raises(DlqToolError, match="already running"):
        redrive(sqs=client, dlq_url=DLQ_URL, queue_url=QUEUE_URL)


def test_redrive_method_move_task_refused_by_sqs_is_an_error_not_a_fallback(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    # No read first (the Stubber would refuse an unexpected ReceiveMessage): move-task was asked for explicitly.
    expect_arns(stubber)
    stubber.add_client_error("start_message_move_task", "AccessDenied", "not allowed", 403)

    with pytest.raises(DlqToolError, match="AccessDenied"):
        redrive(sqs=client, dlq_url=DLQ_URL, queue_url=QUEUE_URL, method=Method.MOVE_TASK, max_per_second=0)


def test_redrive_all_one_message_without_source_id_starts_no_move_task(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    # The read finds a message the redrive policy moved. The next call must be the copy pass's ReceiveMessage
    # (answered with an error that ends the test); a move task's GetQueueAttributes or StartMessageMoveTask would
    # not match the queued call, and the Stubber would fail the test.
    expect_dlq_read(
        stubber,
        [stubbed_dead_letter("m-1", source="src-1"), stubbed_dead_letter("m-2", source=None, code=None)],
        to_the_end=False,
    )
    stubber.add_client_error("receive_message", "ServiceUnavailable", "copy pass reached", 503)

    with pytest.raises(botocore.exceptions.ClientError, match="copy pass reached"):
        redrive(sqs=client, dlq_url=DLQ_URL, queue_url=QUEUE_URL, **FAST)


def test_redrive_method_move_task_with_codes_refused() -> None:
    with pytest.raises(DlqToolError, match="cannot be combined"):
        redrive(
            sqs=None,  # type: ignore[arg-type]
            dlq_url=DLQ_URL,
            queue_url=QUEUE_URL,
            codes=frozenset({"SchemaViolation"}),
            method=Method.MOVE_TASK,
        )


# --- replay ----------------------------------------------------------------------------------------------------------

ITEMS_V1 = [{"name": "ITEM_ID", "type": "string"}, {"name": "PRICE", "type": "float"}]
ITEMS_V2 = [*ITEMS_V1, {"name": "COLOR", "type": ["null", "string"], "categorical": True}]
COLORED = json.dumps({"type": "item", "itemId": "sku-red", "properties": {"price": 5, "color": "red"}})
OVERPRICED = json.dumps({"type": "item", "itemId": "sku-odd", "properties": {"price": "cheap"}})


@pytest.fixture
def items_dataset(personalize: Any) -> tuple[str, Setup]:
    """An Items dataset on the emulator whose schema has no COLOR field yet."""
    setup = Setup(personalize)
    return setup.dataset("Items", schema=setup.schema(fields=ITEMS_V1)), setup


def add_color_field(personalize: Any, setup: Setup, dataset: str) -> None:
    """The fix: UpdateDataset adds the nullable COLOR field in place, as on-call would."""
    personalize.update_dataset(datasetArn=dataset, schemaArn=setup.schema(fields=ITEMS_V2))
    setup.wait(lambda arn: setup.describe_dataset(arn)["latestDatasetUpdate"], dataset, "ACTIVE")


def revalidator(personalize: Any, dlq_url: str, **dataset_arns: str) -> Revalidator:
    settings = replay_settings(dlq_url=dlq_url, dataset_arns=dataset_arns, tracking_ids={}, env={})
    return Revalidator(settings=settings, catalog=DatasetCatalog(client=personalize, ttl_s=0))


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


def test_replay_crash_between_copy_and_delete_loses_nothing(
    sqs: Any, queues: QueuePair, personalize: Any, items_dataset: tuple[str, Setup]
) -> None:
    dataset, setup = items_dataset
    dead_letter(sqs, queues.dlq_url, COLORED, "SchemaViolation", source="colored")
    dead_letter(sqs, queues.dlq_url, OVERPRICED, "SchemaViolation", source="odd")
    add_color_field(personalize, setup, dataset)
    checker = revalidator(personalize, queues.dlq_url, item=dataset)

    # GIVEN a replay that dies once SQS confirmed the copy, before the original is deleted
    with pytest.raises(SimulatedCrash):
        replay(sqs=CrashingSqs(sqs), dlq_url=queues.dlq_url, queue_url=queues.url, revalidator=checker, **FAST)

    # THEN the copy is in the ingest queue and the original still in the DLQ, beside the one that still fails
    assert [m["Body"] for m in read_all(sqs, queues.url)] == [COLORED]
    assert sorted(m["Body"] for m in read_all(sqs, queues.dlq_url)) == sorted([COLORED, OVERPRICED])

    # WHEN replay runs again THEN only the still-failing one stays; the two copies name one source message, so
    # the Lambda would derive one eventId for both
    report = replay(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, revalidator=checker, **FAST)
    copies = read_all(sqs, queues.url)
    assert (len(report.outcome.moved), [m["Body"] for m in copies]) == (1, [COLORED, COLORED])
    assert {m["MessageAttributes"]["SourceMessageId"]["StringValue"] for m in copies} == {"colored"}
    assert [m["Body"] for m in read_all(sqs, queues.dlq_url)] == [OVERPRICED]


def ingest_function(endpoint_url: str, variables: dict[str, str]) -> str:
    """A function on moto's server standing in for the deployed ingest Lambda: replay reads only its environment."""
    clients = {"endpoint_url": endpoint_url, "region_name": REGION, **CREDENTIALS}
    name = f"ingest-{uuid.uuid4().hex[:12]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = boto3.client("iam", **clients).create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("ingest/handler.py", "def lambda_handler(event, context):\n    return {}\n")
    boto3.client("lambda", **clients).create_function(
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


def test_replay_cli_tracking_id_for_item_is_usage_error(queues: QueuePair) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", "--dlq-url", queues.dlq_url, "--queue-url", queues.url, "--tracking-id", "item=x"])

    assert exit_info.value.code == 2


# --- exit status: a run that did not reach everything says so ----------------------------------------------------


def fifo_group_with_a_head_that_stays(sqs: Any, dlq_url: str, *, behind: int, code: str = "SchemaViolation") -> None:
    """One message group: a MalformedMessage that no command moves, then ``behind`` messages of ``code``. A receive
    returns at most ten of a group, and none after them while those are held, so one pass reaches nine of them."""
    dead_letter(sqs, dlq_url, "not json", "MalformedMessage", group="g", source="head")
    for index in range(behind):
        dead_letter(
            sqs, dlq_url, USER if code == "DatasetNotConfigured" else ITEM, code, group="g", source=f"s-{index}"
        )


def test_redrive_cli_fifo_group_out_of_reach_exits_three_says_run_again_then_rerun_exits_zero(
    sqs: Any, sqs_endpoint: str, make_queues: QueuePairFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = make_queues(fifo=True)
    fifo_group_with_a_head_that_stays(sqs, fifo.dlq_url, behind=11)
    argv = [
        "redrive",
        *("--dlq-url", fifo.dlq_url, "--queue-url", fifo.url, "--endpoint-url", sqs_endpoint),
        *("--codes", "SchemaViolation", "--wait-seconds", "0"),
    ]

    # WHEN the first pass cannot reach the last two of the group THEN it does not claim success
    first = main(argv)
    text = capsys.readouterr().out
    assert first == 3
    assert "NOT FINISHED" in text
    assert "run the same command again" in text

    # WHEN run again THEN it reaches them, and only then exits 0
    assert main(argv) == 0
    assert "NOT FINISHED" not in capsys.readouterr().out
    assert codes_of(read_all(sqs, fifo.dlq_url)) == ["MalformedMessage"]
    assert counts(sqs, fifo.url) == (11, 0)


def test_redrive_cli_fifo_group_out_of_reach_json_lists_why_unfinished(
    sqs: Any, sqs_endpoint: str, make_queues: QueuePairFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = make_queues(fifo=True)
    fifo_group_with_a_head_that_stays(sqs, fifo.dlq_url, behind=11)

    code = main(
        [
            "redrive",
            *("--dlq-url", fifo.dlq_url, "--queue-url", fifo.url, "--endpoint-url", sqs_endpoint),
            *("--codes", "SchemaViolation", "--wait-seconds", "0", "--dry-run", "--json"),
        ]
    )

    # A dry run that could not look at every message cannot say what would move either.
    document = json.loads(capsys.readouterr().out)
    assert code == 3
    assert len(document["unfinished"]) == 1
    assert "waited behind messages this pass held (same message group)" in document["unfinished"][0]


def test_inspect_cli_fifo_group_out_of_reach_exits_three(
    sqs: Any, sqs_endpoint: str, make_queues: QueuePairFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = make_queues(fifo=True)
    fifo_group_with_a_head_that_stays(sqs, fifo.dlq_url, behind=11)

    code = main(["inspect", "--dlq-url", fifo.dlq_url, "--endpoint-url", sqs_endpoint, "--wait-seconds", "0"])

    # The counts cover ten of twelve: the person reading them must not take them for the whole queue.
    text = capsys.readouterr().out
    assert code == 3
    assert "NOT FINISHED" in text
    assert "do not cover the whole queue" in text


def test_redrive_pass_outlasting_its_hold_not_ok_says_run_again(sqs: Any, queues: QueuePair) -> None:
    for index in range(10):
        dead_letter(sqs, queues.dlq_url, ITEM, "SchemaViolation", source=f"s-{index}")

    # GIVEN a pass slower than --hold-seconds: what it read becomes visible again before the next receive
    report = redrive(
        sqs=SlowReceives(sqs, delay=1.5),
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        codes=frozenset({"RetriesExhausted"}),
        hold_seconds=1,
        **FAST,
    )

    # THEN it cannot tell it saw the whole queue, and says so; it moved nothing, so it says to act before a rerun
    assert report.stopped is not None
    assert "raise --hold-seconds" in report.stopped
    assert report.ok is False
    assert "act on the reason above first" in dlq.render_move(report, command="redrive")


def test_redrive_in_flight_limit_reached_not_ok_rest_still_in_dlq(sqs: Any, queues: QueuePair) -> None:
    for index in range(12):
        dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted", source=f"s-{index}")

    report = redrive(
        sqs=InFlightLimitSqs(sqs),
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        method=Method.COPY,
        **FAST,
    )

    assert len(report.outcome.moved) == 10
    assert report.ok is False
    assert report.stopped is not None
    assert "in flight" in report.stopped
    assert counts(sqs, queues.dlq_url) == (2, 0)


def test_redrive_held_messages_not_released_not_ok_says_when_they_reappear(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted", source="moved")
    dead_letter(sqs, queues.dlq_url, USER, "SchemaViolation", source="kept")

    report = redrive(
        sqs=UnreleasingSqs(sqs),
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        codes=frozenset({"RetriesExhausted"}),
        hold_seconds=30,
        **FAST,
    )

    # The one kept is hidden for the rest of its hold: a redrive or replay run now would not see it.
    assert (len(report.outcome.moved), report.released_failures) == (1, 1)
    assert counts(sqs, queues.dlq_url) == (0, 1)
    assert report.ok is False
    assert "--hold-seconds" in dlq.render_move(report, command="redrive")


def test_replay_fifo_group_out_of_reach_not_ok(sqs: Any, make_queues: QueuePairFactory) -> None:
    fifo = make_queues(fifo=True)
    fifo_group_with_a_head_that_stays(sqs, fifo.dlq_url, behind=11, code="DatasetNotConfigured")
    control = FakePersonalizeControl()

    def run() -> dlq.MoveReport:
        return replay(
            sqs=sqs,
            dlq_url=fifo.dlq_url,
            queue_url=fifo.url,
            revalidator=revalidator(control, fifo.dlq_url, user=DATASETS["USERS"]),
            **FAST,
        )

    first = run()
    second = run()

    assert (len(first.outcome.moved), first.ok) == (9, False)
    assert (len(second.outcome.moved), second.ok) == (2, True)


def test_redrive_limit_reached_is_what_was_asked_still_ok(sqs: Any, queues: QueuePair) -> None:
    for index in range(5):
        dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted", source=f"s-{index}")

    report = redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, limit=2, **FAST)

    assert (report.stopped, report.ok) == ("--limit 2 reached", True)


def test_redrive_move_task_outcome_unknown_not_ok_says_how_to_check(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    expect_dlq_read(stubber, [stubbed_dead_letter("m-1", source="src-1")])
    expect_arns(stubber)
    stubber.add_response(
        "start_message_move_task", {"TaskHandle": "task-1"}, {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN}
    )
    # ListMessageMoveTasks lists the ten most recent tasks: ten others started since, and ours is no longer there.
    others = [{"TaskHandle": f"other-{n}", "Status": "COMPLETED", "SourceArn": DLQ_ARN} for n in range(10)]
    stubber.add_response("list_message_move_tasks", {"Results": others}, {"SourceArn": DLQ_ARN, "MaxResults": 10})

    report = redrive(sqs=client, dlq_url=DLQ_URL, queue_url=QUEUE_URL, max_per_second=0, wait=True, poll=lambda _: None)

    assert report.task is not None
    assert (report.task["Status"], report.ok) == ("UNKNOWN", False)
    text = dlq.render_move(report, command="redrive")
    assert "NOT FINISHED" in text
    assert f"aws sqs list-message-move-tasks --source-arn {DLQ_ARN}" in text
    assert "run the same command again for what is left" in text


def test_redrive_move_task_fractional_rate_rounded_down_and_said(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    expect_dlq_read(stubber, [stubbed_dead_letter("m-1", source="src-1")])
    expect_arns(stubber)
    # At most 2.7 a second: 3 would exceed the limit asked for, so the task gets 2.
    stubber.add_response(
        "start_message_move_task",
        {"TaskHandle": "task-1"},
        {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN, "MaxNumberOfMessagesPerSecond": 2},
    )

    report = redrive(sqs=client, dlq_url=DLQ_URL, queue_url=QUEUE_URL, max_per_second=2.7)

    assert any("rounded down to 2" in note for note in report.notes)
    assert report.ok is True  # a task SQS accepted and nobody waited for: follow it as printed


@pytest.mark.parametrize(
    ("failed", "partial", "exit_status"),
    [(False, False, 0), (False, True, 3), (True, False, 1), (True, True, 1)],
)
def test_move_report_exit_status_failure_outranks_unfinished(failed: bool, partial: bool, exit_status: int) -> None:
    message = DeadLetterMessage.from_sqs({"MessageId": "m", "ReceiptHandle": "r", "Body": ITEM})
    report = dlq.MoveReport(dlq_url=DLQ_URL, queue_url=QUEUE_URL, dry_run=False, method="copy")
    if failed:
        report.outcome.failed.append((message, "InternalError: try again"))
    if partial:
        report.stopped, report.partial = "SQS's limit of messages in flight was reached", True

    assert (report.exit_status, report.ok) == (exit_status, exit_status == 0)


# --- the message wrapper -------------------------------------------------------------------------------------------


def test_dead_letter_message_without_attributes_is_redrive_policy_move() -> None:
    message = DeadLetterMessage.from_sqs({"MessageId": "m", "ReceiptHandle": "r", "Body": ITEM})

    assert (message.code, message.error_message, message.sent_at) == (REDRIVE_POLICY, None, None)


# --- where the clients point ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/111122223333/ingest-dlq", "eu-west-1"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/111122223333/ingest-dlq", "cn-north-1"),
        ("https://us-east-2.queue.amazonaws.com/111122223333/ingest-dlq", "us-east-2"),
        ("http://127.0.0.1:9324/000000000000/ingest-dlq", None),
    ],
)
def test_region_of_queue_url_aws_url_names_region_local_url_none(url: str, region: str | None) -> None:
    assert region_of_queue_url(url) == region


def test_cli_no_region_anywhere_exits_one_with_hint(
    sqs_endpoint: str, queues: QueuePair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A local queue URL names no region, and neither the flags nor the environment give one.
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    code = main(["inspect", "--dlq-url", queues.dlq_url, "--endpoint-url", sqs_endpoint, "--wait-seconds", "0"])

    assert code == 1
    assert "no AWS region: pass --region" in capsys.readouterr().err


def test_inspect_cli_endpoint_from_aws_endpoint_url_sqs(
    sqs: Any, sqs_endpoint: str, queues: QueuePair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "SchemaViolation")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", sqs_endpoint)

    assert main(["inspect", "--dlq-url", queues.dlq_url, "--wait-seconds", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["byCode"]["SchemaViolation"]["count"] == 1


def test_cli_no_credentials_exits_one_with_hint(
    sqs_endpoint: str, queues: QueuePair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)

    code = main(["inspect", "--dlq-url", queues.dlq_url, "--endpoint-url", sqs_endpoint, "--wait-seconds", "0"])

    assert code == 1
    assert "no AWS credentials" in capsys.readouterr().err
