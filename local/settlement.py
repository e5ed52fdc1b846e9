"""What becomes of a batch once the function has answered: Lambda's reading of the answer, then the deletes.

With ReportBatchItemFailures on (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html),
Lambda deletes the messages the function did not list in ``batchItemFailures``; the listed ones stay in flight and
reappear after the queue's visibility timeout. An exception, a timeout or an invalid answer fails the whole batch
(nothing deleted). Lambda never moves a message to the dead-letter queue itself: SQS does, on a receive after
``maxReceiveCount`` receives. Lambda applies the same rule to FIFO queues: keeping a group's order is the function's
job, so acknowledging a message after an earlier one of its group failed is counted (``fifo_order_violations``).

Lambda's pollers are not the function's execution environments: they delete after the invocation returns, while the
environment already runs the next batch. A :class:`Settler` does the same for one poller, in a thread of its own.
A batch a poller gathered but never invoked goes back with :func:`return_to_queue`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from botocore.exceptions import BotoCoreError, ClientError

from local.run_summary import RunCounters
from local.sqs_event import SqsRecord

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
        MessageTypeDef,
    )

__all__ = [
    "BatchItemFailure",
    "BatchResponse",
    "DeleteOutcome",
    "Invocation",
    "ResponseVerdict",
    "ReturnOutcome",
    "Settler",
    "delete_acknowledged",
    "fifo_order_violations",
    "interpret_response",
    "judge_response",
    "return_to_queue",
]

logger = logging.getLogger(__name__)

# DeleteMessageBatch and ChangeMessageVisibilityBatch take at most 10 entries.
_DELETE_MAX = 10


class BatchItemFailure(TypedDict):
    """One entry of a partial batch response: the ``messageId`` of a record to retry."""

    itemIdentifier: str


class BatchResponse(TypedDict):
    """The partial batch response a function returns with ReportBatchItemFailures turned on."""

    batchItemFailures: list[BatchItemFailure]


@dataclass(frozen=True, slots=True)
class ResponseVerdict:
    """How Lambda reads a function's response to a batch.

    Attributes
    ----------
    failed_ids
        The message ids to leave on the queue (all of them when the response is invalid).
    invalid_reason
        Why the response fails the whole batch, or None when it is valid.
    """

    failed_ids: frozenset[str]
    invalid_reason: str | None = None


def interpret_response(response: object, message_ids: Sequence[str]) -> ResponseVerdict:
    """Apply Lambda's success and failure conditions for a partial batch response.

    Complete success: a null response, an empty object, a null or empty ``batchItemFailures`` list.
    Complete failure: a response that is not a JSON object, ``batchItemFailures`` that is not a list, an entry
    without ``itemIdentifier`` (bad key name), a null or empty ``itemIdentifier``, or one that is not the
    ``messageId`` of a record in the batch
    (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html).

    Parameters
    ----------
    response
        What the handler returned.
    message_ids
        The ``messageId`` of every record in the batch.
    """
    everything = frozenset(message_ids)

    def invalid(reason: str) -> ResponseVerdict:
        return ResponseVerdict(failed_ids=everything, invalid_reason=reason)

    if response is None:
        return ResponseVerdict(failed_ids=frozenset())
    if not isinstance(response, Mapping):
        return invalid(f"response is a {type(response).__name__}, not a JSON object")
    failures = response.get("batchItemFailures")
    if failures is None:
        return ResponseVerdict(failed_ids=frozenset())
    if not isinstance(failures, list):
        return invalid(f"batchItemFailures is a {type(failures).__name__}, not a list")
    failed: set[str] = set()
    for entry in failures:
        if not isinstance(entry, Mapping):
            return invalid(f"a batchItemFailures entry is a {type(entry).__name__}, not an object")
        if "itemIdentifier" not in entry:
            return invalid("a batchItemFailures entry has no itemIdentifier key")
        identifier = entry["itemIdentifier"]
        if identifier is None or identifier == "":
            return invalid("a batchItemFailures entry has a null or empty itemIdentifier")
        if not isinstance(identifier, str) or identifier not in everything:
            return invalid(f"itemIdentifier {identifier!r} is not a messageId of this batch")
        failed.add(identifier)
    return ResponseVerdict(failed_ids=frozenset(failed))


def fifo_order_violations(records: Sequence[SqsRecord], failed_ids: AbstractSet[str]) -> list[str]:
    """Message ids acknowledged after an earlier message of the same group failed in this batch.

    Lambda deletes them all the same; on a FIFO queue that breaks the group's order, because the failed
    message is redelivered after the later ones were processed.
    """
    failed_groups: set[str] = set()
    violations: list[str] = []
    for record in records:
        group = record["attributes"].get("MessageGroupId")
        if group is None:
            continue
        if record["messageId"] in failed_ids:
            failed_groups.add(group)
        elif group in failed_groups:
            violations.append(record["messageId"])
    return violations


def judge_response(response: object, message_ids: Sequence[str]) -> ResponseVerdict:
    """``interpret_response``, after the runtime's own check: an answer that is not JSON fails the batch too."""
    try:
        # The runtime serialises the response to JSON; one that cannot be is an invocation error.
        json.dumps(response)
    except (TypeError, ValueError):
        return ResponseVerdict(failed_ids=frozenset(message_ids), invalid_reason="response is not JSON")
    return interpret_response(response, message_ids)


@dataclass(frozen=True, slots=True)
class DeleteOutcome:
    """What DeleteMessageBatch did: messages deleted, and messages SQS refused to delete (they come back)."""

    deleted: int = 0
    errors: int = 0


def delete_acknowledged(client: SQSClient, queue_url: str, messages: Sequence[MessageTypeDef]) -> DeleteOutcome:
    """Delete ``messages`` in batches of ten, as Lambda does with the acknowledged ones; log every refusal."""
    deleted = 0
    errors = 0
    for chunk in _chunks(messages, _DELETE_MAX):
        # Entry ids only need to be unique within the call; the index also tolerates a message received
        # twice in one gathered batch (same MessageId, two receipt handles).
        entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(chunk)
        ]
        try:
            response = client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        except (BotoCoreError, ClientError) as error:
            logger.warning("DeleteMessageBatch failed: %s", type(error).__name__)
            errors += len(chunk)
            continue
        deleted += len(response.get("Successful", []))
        failures = response.get("Failed", [])
        for failure in failures:
            logger.warning("could not delete message %s: %s", chunk[int(failure["Id"])]["MessageId"], failure["Code"])
        errors += len(failures)
    return DeleteOutcome(deleted=deleted, errors=errors)


@dataclass(frozen=True, slots=True)
class ReturnOutcome:
    """What returning a batch to the queue did: messages made visible again, and messages SQS refused to change
    (they come back after their visibility timeout instead)."""

    returned: int = 0
    errors: int = 0


def return_to_queue(client: SQSClient, queue_url: str, messages: Sequence[MessageTypeDef]) -> ReturnOutcome:
    """Make ``messages`` visible again at once (ChangeMessageVisibilityBatch to 0), ten at a time; log every refusal.

    Their receive already counts towards the redrive policy's ``maxReceiveCount``, as a throttled Lambda
    invocation's does.
    """
    returned = 0
    errors = 0
    for chunk in _chunks(messages, _DELETE_MAX):
        entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
            for index, message in enumerate(chunk)
        ]
        try:
            response = client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        except (BotoCoreError, ClientError) as error:
            logger.warning("ChangeMessageVisibilityBatch failed: %s", type(error).__name__)
            errors += len(chunk)
            continue
        returned += len(response.get("Successful", []))
        failures = response.get("Failed", [])
        for failure in failures:
            logger.warning("could not return message %s: %s", chunk[int(failure["Id"])]["MessageId"], failure["Code"])
        errors += len(failures)
    return ReturnOutcome(returned=returned, errors=errors)


def _chunks(items: Sequence[MessageTypeDef], size: int) -> Iterator[Sequence[MessageTypeDef]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True, slots=True)
class Invocation:
    """One invocation's batch, and what the function's answer came to (None: the whole batch failed)."""

    messages: list[MessageTypeDef]
    records: list[SqsRecord]
    request_id: str
    verdict: ResponseVerdict | None


class Settler:
    """Settles one poller's invocations in a thread of its own, each batch released (``RunCounters``) once settled.

    The poller hands over an invocation and goes on with its next batch while the deletes run. At most one
    invocation waits while another is settled: a poller that gets further ahead than that waits in ``submit``,
    so messages never pile up awaiting their delete while their visibility timeout runs.

    Parameters
    ----------
    client
        The SQS client.
    queue_url
        The queue the batches came from.
    fifo
        Whether it is a FIFO queue (acknowledgements past a group's failure are counted).
    counters
        The run's counts.
    name
        The thread's name.
    """

    def __init__(self, *, client: SQSClient, queue_url: str, fifo: bool, counters: RunCounters, name: str) -> None:
        self._client = client
        self._queue_url = queue_url
        self._fifo = fifo
        self._counters = counters
        self._pending: queue.Queue[Invocation | None] = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._error: BaseException | None = None
        self._thread.start()

    def submit(self, invocation: Invocation) -> None:
        """Settle ``invocation`` in the background (waits while one is settled and another waits already).

        Raises
        ------
        RuntimeError
            An earlier settlement failed (a bug in the runner, not a refused delete).
        """
        self._raise_if_failed()
        self._pending.put(invocation)

    def close(self) -> None:
        """Settle everything submitted, then stop the thread; raise if a settlement failed."""
        self._pending.put(None)
        self._thread.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RuntimeError("settling a batch failed") from self._error

    def _run(self) -> None:
        while (invocation := self._pending.get()) is not None:
            try:
                self.settle(invocation)
            except BaseException as error:  # reported by the next submit or close; keep taking the others
                logger.exception("settling invocation %s failed", invocation.request_id)
                if self._error is None:
                    self._error = error
            finally:
                self._counters.released()

    def settle(self, invocation: Invocation) -> None:
        """Delete what the function acknowledged; leave the rest to the visibility timeout and the redrive policy."""
        request_id, records = invocation.request_id, invocation.records
        if invocation.verdict is None:
            self._counters.add(batches_failed=1)
            logger.info("invocation %s: whole batch of %d failed", request_id, len(records))
            return
        failed_ids = invocation.verdict.failed_ids
        if self._fifo:
            violations = fifo_order_violations(records, failed_ids)
            if violations:
                logger.warning(
                    "invocation %s acknowledged %d FIFO message(s) after a failure in their group: %s",
                    request_id,
                    len(violations),
                    ", ".join(violations),
                )
                self._counters.add(fifo_order_violations=len(violations))
        acknowledged = [message for message in invocation.messages if message["MessageId"] not in failed_ids]
        outcome = delete_acknowledged(self._client, self._queue_url, acknowledged)
        self._counters.add(
            messages_reported_failed=len(failed_ids), messages_deleted=outcome.deleted, delete_errors=outcome.errors
        )
        logger.info(
            "invocation %s: %d records, %d reported failed, %d deleted",
            request_id,
            len(records),
            len(failed_ids),
            outcome.deleted,
        )
