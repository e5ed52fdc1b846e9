"""``redrive`` by copying, against moto's SQS server: what moves, what stays, what a copy carries, and when auto
mode copies rather than start a move task. The promise under test: a message leaves the DLQ only after its copy is
safely in the ingest queue."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

import ingest.decode
from contract import ORIGIN_MESSAGE_ID_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE, ErrorCode
from ingest.dead_letter import DeadLetter, DeadLetterQueue
from ingest.decode import Message
from local.sqs_event import build_record
from local.sqs_server import QueuePair
from tests.support.sqs_fakes import MoveTaskSpy, RefusingSends
from tests.tools.conftest import REGION, QueuePairFactory
from tests.tools.dlq_support import FAST, ITEM, USER, codes_of, counts, dead_letter, read_all
from tools.dlq.copier import RateLimiter
from tools.dlq.errors import DlqToolError
from tools.dlq.messages import REDRIVE_POLICY
from tools.dlq.redrive import Method, redrive
from tools.dlq.render import render_move


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
    assert set(copy["MessageAttributes"]) == {"TraceId", SOURCE_MESSAGE_ID_ATTRIBUTE, ORIGIN_MESSAGE_ID_ATTRIBUTE}
    assert copy["MessageAttributes"]["TraceId"] == {"DataType": "String", "StringValue": "t-1"}
    assert copy["MessageAttributes"][ORIGIN_MESSAGE_ID_ATTRIBUTE] == {"DataType": "String", "StringValue": "src-1"}


def test_redrive_copy_of_a_letter_written_before_the_namespaced_attribute_names_its_source(
    sqs: Any, queues: QueuePair
) -> None:
    # A letter the handler wrote before PersonalizeIngest.SourceMessageId existed: its ErrorCode vouches for the
    # plain SourceMessageId (only the handler writes ErrorCode, and its letters carry no upstream attribute).
    dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted", source="src-old", legacy=True)

    redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, method=Method.COPY, **FAST)

    (copy,) = read_all(sqs, queues.url)
    assert copy["MessageAttributes"][ORIGIN_MESSAGE_ID_ATTRIBUTE] == {"DataType": "String", "StringValue": "src-old"}


def test_redrive_redrive_policy_move_copy_names_its_message_id_as_source(sqs: Any, queues: QueuePair) -> None:
    # The redrive policy moves a message without the docs/contracts.md §3 attributes, keeping its message id.
    moved_id = dead_letter(sqs, queues.dlq_url, ITEM, None)

    redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, method=Method.COPY, **FAST)

    # So the Lambda derives a missing eventId from the original's id, as it did on the first delivery.
    (copy,) = read_all(sqs, queues.url)
    assert copy["MessageAttributes"] == {ORIGIN_MESSAGE_ID_ATTRIBUTE: {"DataType": "String", "StringValue": moved_id}}


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
    text = render_move(report, command="redrive")
    assert "DRY RUN" in text
    # How it would move them: by copying, because the redrive policy's message has no SourceMessageId of ours.
    assert f"message {moved_id} ({REDRIVE_POLICY}) has no {ORIGIN_MESSAGE_ID_ATTRIBUTE}" in text
    assert "would copy the messages instead" in text


def test_redrive_dry_run_every_message_with_source_id_would_start_move_task(sqs: Any, queues: QueuePair) -> None:
    dead_letter(sqs, queues.dlq_url, ITEM, "RetriesExhausted", source="a")
    dead_letter(sqs, queues.dlq_url, USER, "SchemaViolation", source="b")

    report = redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, dry_run=True, **FAST)

    assert report.notes == [
        f"every message carries {ORIGIN_MESSAGE_ID_ATTRIBUTE}: would start an SQS message move task "
        "(StartMessageMoveTask), or copy the messages if SQS refuses"
    ]
    assert (counts(sqs, queues.url), counts(sqs, queues.dlq_url)) == ((0, 0), (2, 0))


@pytest.mark.parametrize(
    ("code", "upstream", "why"),
    [
        # The handler wrote it before the namespaced name: a move task would leave the Lambda nothing it trusts.
        ("RetriesExhausted", None, "the handler wrote it before using that name"),
        # The redrive policy moved a message whose publisher set a SourceMessageId of its own (a correlation id).
        (None, {SOURCE_MESSAGE_ID_ATTRIBUTE: "corr-1"}, "the ingest queue's redrive policy moved it"),
    ],
    ids=["legacy-handler-letter", "upstream-source-message-id"],
)
def test_redrive_dry_run_plain_source_message_id_alone_would_copy_not_move_task(
    sqs: Any, queues: QueuePair, code: str | None, upstream: dict[str, str] | None, why: str
) -> None:
    dead_letter(sqs, queues.dlq_url, USER, "SchemaViolation", source="b")
    plain_id = dead_letter(sqs, queues.dlq_url, ITEM, code, source="a", upstream=upstream, legacy=True)

    report = redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, dry_run=True, **FAST)

    assert any(f"message {plain_id} ({code or REDRIVE_POLICY}) has no {ORIGIN_MESSAGE_ID_ATTRIBUTE} ({why})" in note
               for note in report.notes)  # fmt: skip
    assert "would copy the messages instead" in render_move(report, command="redrive")


def test_redrive_all_with_redrive_policy_move_copies_instead_of_move_task(sqs: Any, queues: QueuePair) -> None:
    # GIVEN handler-written dead letters (with PersonalizeIngest.SourceMessageId) and, after the first receive's
    # worth, one message the ingest queue's redrive policy moved (no attributes at all: a crash or timeout outlasted
    # the retries)
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
    assert any(f"message {moved_id} ({REDRIVE_POLICY}) has no {ORIGIN_MESSAGE_ID_ATTRIBUTE}" in n for n in report.notes)
    assert f"copied the messages instead, each with {ORIGIN_MESSAGE_ID_ATTRIBUTE}" in render_move(
        report, command="redrive"
    )
    sources = {m["MessageAttributes"][ORIGIN_MESSAGE_ID_ATTRIBUTE]["StringValue"] for m in read_all(sqs, queues.url)}
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
    assert any(f"not every message could be checked for {ORIGIN_MESSAGE_ID_ATTRIBUTE}" in n for n in report.notes)
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
        sqs=RefusingSends(sqs, accepted=1),
        dlq_url=queues.dlq_url,
        queue_url=queues.url,
        method=Method.COPY,
        **FAST,
    )

    assert (len(report.outcome.moved), len(report.outcome.failed), report.ok) == (1, 2, False)
    assert counts(sqs, queues.url) == (1, 0)
    assert counts(sqs, queues.dlq_url) == (2, 0)  # the refused two: still there, visible again


def test_redrive_same_queue_refused(sqs: Any, queues: QueuePair) -> None:
    with pytest.raises(DlqToolError, match="round in circles"):
        redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.dlq_url)


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


def _as_lambda_message(sqs: Any, url: str, arn: str) -> tuple[Message, str]:
    """The one message of ``url`` as the ingest Lambda reads it, and its receipt handle."""
    (received,) = sqs.receive_message(
        QueueUrl=url, VisibilityTimeout=0, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    record = build_record(received, queue_arn=arn, region=REGION)
    # local.sqs_event and ingest.decode each type the Lambda's SQS record; the same JSON object.
    return Message.from_record(cast("ingest.decode.SqsRecord", record), 0), received["ReceiptHandle"]


@pytest.mark.parametrize("route", ["handler-dead-letter", "redrive-policy"])
def test_redrive_upstream_source_message_id_never_replaces_the_original_message_id(
    sqs: Any, queues: QueuePair, route: str
) -> None:
    # GIVEN a fresh event published by upstream with a SourceMessageId attribute of its own (a correlation id)
    event = json.dumps({"type": "event", "sessionId": "s-1", "eventType": "click", "sentAt": "2026-11-22T10:00:00Z"})
    correlation = {SOURCE_MESSAGE_ID_ATTRIBUTE: {"DataType": "String", "StringValue": "corr-1"}}
    published_id = sqs.send_message(QueueUrl=queues.url, MessageBody=event, MessageAttributes=correlation)["MessageId"]
    first, handle = _as_lambda_message(sqs, queues.url, queues.arn)
    assert first.origin_id == published_id

    # WHEN it is dead-lettered, by the handler or by the ingest queue's redrive policy after maxReceiveCount
    if route == "handler-dead-letter":
        letter = DeadLetter(message=first, code=ErrorCode.RETRIES_EXHAUSTED, reason="PutEvents: throttled")
        assert DeadLetterQueue(client=sqs, queue_url=queues.dlq_url).send([letter]) == set()
        sqs.delete_message(QueueUrl=queues.url, ReceiptHandle=handle)
    else:
        for _ in range(queues.max_receive_count):
            sqs.receive_message(QueueUrl=queues.url, VisibilityTimeout=0)
    assert counts(sqs, queues.dlq_url) == (1, 0)
    # ... and redriven the default way
    report = redrive(sqs=sqs, dlq_url=queues.dlq_url, queue_url=queues.url, max_per_second=None, **FAST)

    # THEN the copy the Lambda reads names the message as first published, never the correlation id, so a missing
    # eventId is derived as it was on the first delivery
    assert (report.method, len(report.outcome.moved)) == ("copy", 1)
    copy, _ = _as_lambda_message(sqs, queues.url, queues.arn)
    assert copy.message_id != published_id
    assert copy.origin_id == published_id
