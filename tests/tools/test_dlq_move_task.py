"""``redrive`` with SQS's message move task. moto lacks StartMessageMoveTask, so botocore's Stubber answers as real
SQS would, and checks every request the tool makes, in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.stub import Stubber

from contract import ORIGIN_MESSAGE_ID_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE
from tests.tools.conftest import CREDENTIALS, REGION
from tests.tools.dlq_support import FAST, ITEM
from tools.dlq.errors import DlqToolError
from tools.dlq.messages import DeadLetterMessage
from tools.dlq.redrive import Method, redrive
from tools.dlq.render import render_move
from tools.dlq.report import MoveReport

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
    message_id: str,
    *,
    source: str | None,
    code: str | None = "RetriesExhausted",
    legacy: bool = False,
    upstream: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One ReceiveMessage entry: a dead letter written by the Lambda (``legacy``: before it wrote
    PersonalizeIngest.SourceMessageId), a copy of the tool's that the policy moved again (``code=None``), or
    (``source=None``) a message the policy moved, with ``upstream``'s attributes."""
    attributes = {name: {"DataType": "String", "StringValue": value} for name, value in (upstream or {}).items()}
    if code is not None:
        attributes["ErrorCode"] = {"DataType": "String", "StringValue": code}
    if source is not None:
        # The handler writes both names; the tool's copies carry the pipeline's own (with upstream's attributes).
        if code is not None:
            attributes[SOURCE_MESSAGE_ID_ATTRIBUTE] = {"DataType": "String", "StringValue": source}
        if not legacy:
            attributes[ORIGIN_MESSAGE_ID_ATTRIBUTE] = {"DataType": "String", "StringValue": source}
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
    # the redrive policy moved again (no ErrorCode, PersonalizeIngest.SourceMessageId kept). A move task cannot
    # lose either's id.
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
    assert "list-message-move-tasks" in render_move(report, command="redrive")


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


@pytest.mark.parametrize(
    "unnamed",
    [
        stubbed_dead_letter("m-2", source=None, code=None),
        # A publisher's own SourceMessageId on a message the policy moved: a correlation id, not ours.
        stubbed_dead_letter("m-2", source=None, code=None, upstream={SOURCE_MESSAGE_ID_ATTRIBUTE: "corr-1"}),
        # The handler wrote it before PersonalizeIngest.SourceMessageId existed: the Lambda reads the plain one no more.
        stubbed_dead_letter("m-2", source="src-2", legacy=True),
    ],
    ids=["redrive-policy", "upstream-source-message-id", "legacy-handler-letter"],
)
def test_redrive_all_one_message_without_source_id_starts_no_move_task(
    stubbed: tuple[Any, Stubber], unnamed: dict[str, Any]
) -> None:
    client, stubber = stubbed
    # The read finds a message without PersonalizeIngest.SourceMessageId. The next call must be the copy pass's
    # ReceiveMessage (answered with an error that ends the test); a move task's GetQueueAttributes or
    # StartMessageMoveTask would not match the queued call, and the Stubber would fail the test.
    expect_dlq_read(stubber, [stubbed_dead_letter("m-1", source="src-1"), unnamed], to_the_end=False)
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
    text = render_move(report, command="redrive")
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
    report = MoveReport(dlq_url=DLQ_URL, queue_url=QUEUE_URL, dry_run=False, method="copy")
    if failed:
        report.outcome.failed.append((message, "InternalError: try again"))
    if partial:
        report.stopped, report.partial = "SQS's limit of messages in flight was reached", True

    assert (report.exit_status, report.ok) == (exit_status, exit_status == 0)
