"""The handler answers before Lambda's timeout, however slow Personalize or the DLQ is.

A timed-out invocation fails its whole batch: SQS redelivers every message, those Personalize accepted included,
and no dead letter is written. Time passes on the harness's injected clock only: the fakes take ``latency_s`` of it
per call, or give up after the read timeout of the client the call went through (what a hung endpoint does), so
nothing sleeps. A LambdaContext reads the same clock, as Lambda's counts down from the function timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from ingest import handler
from ingest.clients import ClientLadder
from ingest.dead_letter import DeadLetterQueue
from ingest.model import ApiModel
from tests.handlers.conftest import Harness, make_harness
from tests.support.fakes import FakeClock, TickingClock, timeouts
from tests.support.sqs_events import item, sqs_record

FUNCTION_TIMEOUT_MS = 10_000  # the configuration's minimum functionTimeoutSeconds


class ClockedContext:
    """The Lambda context of one invocation, counting down on the harness's clock."""

    function_name = "personalize-ingest"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:personalize-ingest"
    memory_limit_in_mb = 512
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    def __init__(self, clock: FakeClock, timeout_ms: int) -> None:
        self.clock = clock
        self.ends_at = clock.now + timeout_ms / 1000.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.ends_at - self.clock.now) * 1000))


def invoke(harness: Harness, records: list[dict[str, object]]) -> tuple[list[str], ClockedContext]:
    context = ClockedContext(harness.clock, FUNCTION_TIMEOUT_MS)
    response = handler.lambda_handler({"Records": records}, context)
    return [entry["itemIdentifier"] for entry in response["batchItemFailures"]], context


def test_time_budget_hung_personalize_still_answers_in_time_with_its_dead_letters(aws_env: None) -> None:
    # GIVEN Personalize hanging on every call (no answer for 60 s), items on their last delivery, one malformed
    harness = make_harness(latency_s=60.0)
    last_delivery = [sqs_record(item(f"sku-{n}"), receive_count=5) for n in range(3)]
    malformed = sqs_record("{not json")

    # WHEN a 10 s invocation processes them
    failed, context = invoke(harness, [*last_delivery, malformed])

    # THEN it answered before its end, every call having given up in time
    assert context.get_remaining_time_in_millis() > 0
    assert harness.events.calls, "it did try Personalize"
    # AND the dead letters were written: the items as RetriesExhausted (the timeout their last error), the body
    assert failed == []
    letters = {letter["SourceMessageId"]: letter for letter in harness.dead_letters()}
    assert {letters[r["messageId"]]["ErrorCode"] for r in last_delivery} == {"RetriesExhausted"}
    assert all("ReadTimeoutError" in letters[r["messageId"]]["ErrorMessage"] for r in last_delivery)
    assert letters[malformed["messageId"]]["ErrorCode"] == "MalformedMessage"


def test_time_budget_slow_personalize_sends_what_fits_and_leaves_the_rest_for_redelivery(aws_env: None) -> None:
    # GIVEN Personalize answering each call in 2.5 s, and 30 items (three calls)
    harness = make_harness(latency_s=2.5)
    records = [sqs_record(item(f"sku-{n:02d}")) for n in range(30)]

    # WHEN a 10 s invocation processes them
    failed, context = invoke(harness, records)

    # THEN it answered in time; what was accepted is acknowledged, the rest (unsent or timed out) redelivered
    assert context.get_remaining_time_in_millis() > 0
    accepted = {record["itemId"] for record in harness.events.accepted}
    assert len(accepted) >= 20, "at 10 s, most of the invocation goes to sending"
    assert {r["messageId"] for r in records if item_id(r) not in accepted} == set(failed)
    assert harness.dead_letters() == []


def test_time_budget_every_call_is_bounded_by_the_time_left(aws_env: None) -> None:
    harness = make_harness(latency_s=3.0)
    records = [sqs_record(item(f"sku-{n:02d}")) for n in range(30)]

    invoke(harness, records)

    # Each call's read timeout (the fake records it) fitted in what was left before the deadline.
    assert harness.events.timeouts
    assert harness.events.timeouts == sorted(harness.events.timeouts, reverse=True)
    assert max(harness.events.timeouts) < FUNCTION_TIMEOUT_MS / 1000.0


def test_time_budget_hung_dead_letter_queue_leaves_unwritten_letters_for_redelivery(aws_env: None) -> None:
    # GIVEN a DLQ whose every write takes 4 s, and 25 malformed messages (three SendMessageBatch calls)
    harness = make_harness(dead_letter_latency_s=4.0)
    records = [sqs_record("{" + str(n)) for n in range(25)]

    failed, context = invoke(harness, records)

    # THEN it answered in time: what the DLQ confirmed is acknowledged, every other message is redelivered
    assert context.get_remaining_time_in_millis() > 0
    written = {letter["SourceMessageId"] for letter in harness.dead_letters()}
    assert written, "the first writes fitted"
    assert written | set(failed) == {r["messageId"] for r in records}
    assert not written & set(failed)


class PersonalizeHungToTheDeadline:
    """A ``RecordSink`` whose every call hangs for all the time it is given, then times out: sending runs right up
    to the deadline, the latest a call may end."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.deadlines: list[float] = []

    def put(self, api: ApiModel, target: str, call_fields: Any, records: Any, *, time_left_s: float) -> None:
        self.clock.now += time_left_s
        self.deadlines.append(self.clock.now)
        raise ReadTimeoutError(endpoint_url="https://personalize-events.us-east-1.amazonaws.com/items")


@dataclass
class RecordedSqs:
    """The moto SQS client as one tier of a ``ClientLadder`` builds it, noting when each write starts."""

    client: Any
    clock: FakeClock
    config: Config
    writes: list[tuple[float, Config]]

    def send_message_batch(self, **kwargs: Any) -> Any:
        self.writes.append((self.clock.now, self.config))
        return self.client.send_message_batch(**kwargs)


def test_time_budget_sending_to_the_deadline_first_dead_letter_write_gets_the_promised_client_in_time(
    aws_env: None,
) -> None:
    # GIVEN Personalize hanging until the sending deadline, items on their last delivery, time that passes while
    # the handler works (1 ms a clock reading), and SQS clients that take 50 ms to build (boto3.client())
    clock = TickingClock(tick_s=0.001)
    harness = make_harness(clock=clock)
    personalize = PersonalizeHungToTheDeadline(clock)
    writes: list[tuple[float, Config]] = []

    def build(config: Config) -> RecordedSqs:
        clock.now += 0.05
        return RecordedSqs(harness.sqs, clock, config, writes)

    harness.runtime.sink = personalize
    harness.runtime.dead_letters = DeadLetterQueue(client=ClientLadder(build), queue_url=harness.dlq_url, clock=clock)
    last_delivery = [sqs_record(item(f"sku-{n}"), receive_count=5) for n in range(3)]

    # WHEN a 10 s invocation processes them
    failed, context = invoke(harness, last_delivery)

    # THEN the first dead-letter write came after the deadline, through a client allowing the handler's promise
    # (ingest.handler: 0.5 s to connect, 1.5 s to answer), and it would have ended before the answer's margin,
    # building its client included, even had SQS used every second of those timeouts
    [deadline] = personalize.deadlines
    [(started, config)] = writes
    assert started > deadline
    connect_s, read_s = timeouts(config)
    assert (connect_s, read_s) >= (0.5, 1.5)
    assert started + connect_s + read_s <= context.ends_at - handler.ANSWER_MARGIN_S
    assert failed == []
    assert {letter["ErrorCode"] for letter in harness.dead_letters()} == {"RetriesExhausted"}


def item_id(record: dict[str, object]) -> str:
    import json

    return str(json.loads(str(record["body"]))["itemId"])
