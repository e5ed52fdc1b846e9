"""What the event-source runner's tests share: a recording fake handler, and sending, reading and running helpers.

The fake handlers record what they got and answer as told, so each test can check one behaviour of Lambda's SQS
event source mapping (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html) against moto's SQS server.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from local.run_summary import RunSummary
from local.runner import run_event_source
from local.sqs_server import QueuePair

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

MakeQueuePair = Callable[..., QueuePair]
Respond = Callable[[dict[str, Any], int], object]

# Short enough to keep the suite fast: the queues' visibility timeout (1 s) bounds the function timeout, and
# short polls (wait 0) let a drained run stop at once instead of after a last long poll. The tests about
# redelivery, redrive, concurrency and the deadline long-poll (LONG_POLL), as Lambda does.
FAST: dict[str, Any] = {"wait_time_s": 0, "function_timeout_s": 1.0, "max_seconds": 20.0}


LONG_POLL: dict[str, Any] = {"wait_time_s": 1}


class RecordingHandler:
    """A fake Lambda handler: records every event and context, answers with ``respond(event, call_index)``."""

    def __init__(self, respond: Respond | None = None, *, delay_s: float = 0.0) -> None:
        self._respond = respond
        self._delay_s = delay_s
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.remaining_ms: list[int] = []
        self.active = 0
        self.peak_active = 0

    def __call__(self, event: dict[str, Any], context: Any) -> object:
        with self._lock:
            index = len(self.events)
            self.events.append(copy.deepcopy(event))
            self.contexts.append(context)
            self.remaining_ms.append(context.get_remaining_time_in_millis())
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
        try:
            if self._delay_s:
                time.sleep(self._delay_s)
            return self._respond(event, index) if self._respond else {"batchItemFailures": []}
        finally:
            with self._lock:
                self.active -= 1

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every record delivered, in invocation order (a redelivered message appears again)."""
        return [record for event in self.events for record in event["Records"]]

    def deliveries_of(self, body: str) -> list[dict[str, Any]]:
        return [record for record in self.records if record["body"] == body]


class RespondingRecorder(RecordingHandler):
    """A RecordingHandler that also keeps its responses."""

    def __init__(self, respond: Respond) -> None:
        super().__init__(respond)
        self.responses: list[Any] = []

    def __call__(self, event: dict[str, Any], context: Any) -> object:
        response = super().__call__(event, context)
        self.responses.append(response)
        return response


def redeliveries(handler: RecordingHandler) -> list[dict[str, Any]]:
    """The records of every invocation after the first."""
    return [record for event in handler.events[1:] for record in event["Records"]]


def fail_bodies(*bodies: str) -> Respond:
    """A response that reports the records with these bodies as failed, every time."""

    def respond(event: dict[str, Any], _index: int) -> object:
        failed = [record["messageId"] for record in event["Records"] if record["body"] in bodies]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    return respond


def send(client: SQSClient, queue: QueuePair, bodies: list[str], *, group: str | None = None) -> list[str]:
    """Send the bodies in order (FIFO: in one group, explicit deduplication ids); return the message ids."""
    message_ids = []
    for number, body in enumerate(bodies):
        if queue.fifo:
            response = client.send_message(
                QueueUrl=queue.url,
                MessageBody=body,
                MessageGroupId=group or "g",
                MessageDeduplicationId=f"{group}-{number}-{body}",
            )
        else:
            response = client.send_message(QueueUrl=queue.url, MessageBody=body)
        message_ids.append(response["MessageId"])
    return message_ids


def queue_depth(client: SQSClient, url: str) -> dict[str, int]:
    attributes = client.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return {name: int(value) for name, value in attributes.items()}


def receive_all(client: SQSClient, url: str) -> list[MessageTypeDef]:
    messages: list[MessageTypeDef] = []
    while batch := client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageSystemAttributeNames=["All"]
    ).get("Messages", []):
        messages.extend(batch)
    return messages


def run(client: SQSClient, queue: QueuePair, handler: Any, **overrides: Any) -> RunSummary:
    settings: dict[str, Any] = {"max_concurrency": 1, **FAST, **overrides}
    return run_event_source(queue_url=queue.url, handler=handler, sqs_client=client, **settings)
