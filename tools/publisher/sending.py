"""Send changes to one ingest queue: validate, batch within SendMessageBatch's limits, retry, report each one.

Batches go out in order, each with its retries done before the next; what happened to every change ends up in a
:class:`~tools.publisher.report.PublishReport`.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from tools.publisher.changes import CHANGED_AT, UPSERT_ID_FIELDS, canonical_body
from tools.publisher.contract_check import contract_violation
from tools.publisher.failures import Failure, call_failure
from tools.publisher.fifo_ids import deduplication_id, group_id
from tools.publisher.report import Problem, PublishReport, Unsent

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

__all__ = ["DEFAULT_MAX_ATTEMPTS", "MAX_BATCH_BYTES", "MAX_BATCH_ENTRIES", "Publisher"]

# SendMessageBatch takes at most 10 entries.
MAX_BATCH_ENTRIES = 10
# 256 KiB per message and per batch (body + message attributes): what every queue accepts. AWS raised the
# service-wide limit to 1 MiB in 2025, but a queue's MaximumMessageSize may still be lower, so this stays the
# default; pass max_batch_bytes to use more.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
MAX_BATCH_BYTES = 262_144
DEFAULT_MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class _Entry:
    index: int
    change: Any
    body: str
    size: int
    group_id: str | None
    deduplication_id: str | None
    upsert: bool

    @property
    def entry_id(self) -> str:
        # Batch entry ids must be unique within a call and match [A-Za-z0-9_-]{1,80}: the input position is.
        return str(self.index)


class Publisher:
    """Sends changes to one ingest queue.

    Parameters
    ----------
    queue_url:
        The ingest queue's URL. A URL ending in ``.fifo`` is a FIFO queue.
    sqs_client:
        A boto3 SQS client; by default one is built plainly (so ``AWS_ENDPOINT_URL_SQS`` and the usual
        credential and region settings apply), with the region taken from the queue URL when it names one.
    fifo:
        Whether to set MessageGroupId and MessageDeduplicationId; by default, whether the URL ends in ``.fifo``.
    max_attempts:
        Attempts per entry, the first included, before a failure SQS reports as its own is given up on.
    base_delay_s, max_delay_s:
        Backoff before attempt ``n`` is a random delay up to ``min(max_delay_s, base_delay_s * 2 ** (n - 2))``
        (full jitter: publishers that failed together do not retry together).
    max_batch_bytes:
        The byte limit of one message and of one batch.
    sleep, rng:
        The clock and the jitter source (tests pass their own).
    clock:
        The wall clock ``changedAt`` is read from, in epoch seconds.

    Notes
    -----
    Ordering on a FIFO queue: batches go out one after another, each with its retries done before the next, so
    a later batch never overtakes an earlier one. Within one call SQS may accept a later entry of a group and
    fail an earlier one, which can then only go after it. For items, actions and users the older change is
    dropped as superseded (the newer one replaces the whole record anyway); events and action interactions are
    resent, which is harmless: each carries its own timestamp.
    """

    def __init__(
        self,
        queue_url: str,
        *,
        sqs_client: SQSClient | None = None,
        fifo: bool | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay_s: float = 0.1,
        max_delay_s: float = 5.0,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo") if fifo is None else fifo
        self._client = sqs_client if sqs_client is not None else _default_client(queue_url)
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._max_batch_bytes = max_batch_bytes
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._clock = clock
        self._last_changed_at = 0
        self._aborted: Failure | None = None

    def publish(self, changes: Iterable[Any]) -> PublishReport:
        """Validate and send ``changes`` (JSON objects, i.e. dicts), in order; report what happened to each.

        Changes are read lazily and sent as batches fill, so a long stream is never held in memory. A batch
        ends at 10 entries or when the next body would take it over ``max_batch_bytes``; changes are never
        reordered, so a FIFO queue receives them in the order given.
        """
        report = PublishReport()
        self._aborted = None
        batch: list[_Entry] = []
        batch_bytes = 0
        for index, change in enumerate(changes):
            entry = self._prepare(index, change)
            if isinstance(entry, Unsent):
                report.unsent.append(entry)
                continue
            if len(batch) == MAX_BATCH_ENTRIES or batch_bytes + entry.size > self._max_batch_bytes:
                self._send(batch, report)
                batch, batch_bytes = [], 0
            batch.append(entry)
            batch_bytes += entry.size
        if batch:
            self._send(batch, report)
        report.unsent.sort(key=lambda unsent: unsent.index)
        return report

    def _prepare(self, index: int, change: Any) -> _Entry | Unsent:
        violation = contract_violation(change)
        if violation is not None:
            return Unsent(index, change, Problem.INVALID, violation)
        try:
            body = canonical_body(self._stamped(change))
        except (TypeError, ValueError) as exc:
            # NaN and Infinity are not JSON; objects json cannot encode (datetime, Decimal) are not either.
            return Unsent(index, change, Problem.INVALID, f"not serialisable as JSON: {exc}")
        size = len(body.encode("utf-8"))  # we send no message attributes: the body is the whole message
        if size > self._max_batch_bytes:
            return Unsent(
                index, change, Problem.TOO_LARGE, f"{size} bytes, the limit is {self._max_batch_bytes} per message"
            )
        return _Entry(
            index=index,
            change=change,
            body=body,
            size=size,
            group_id=group_id(change) if self.fifo else None,
            deduplication_id=deduplication_id(body, upsert=change["type"] in UPSERT_ID_FIELDS) if self.fifo else None,
            upsert=change["type"] in UPSERT_ID_FIELDS,
        )

    def _stamped(self, change: dict[str, Any]) -> dict[str, Any]:
        """``change`` with a ``changedAt`` when it is an upsert without one: the time now, in epoch milliseconds.

        Strictly increasing within one publisher, so two changes to one record published in the same millisecond
        are still ordered as given (a burst of more than 1,000 changes a second runs that many milliseconds ahead of
        the clock, no more). Events and action interactions are left as they are: each carries its own time, and
        their FIFO deduplication id is the digest of their body, which a publishing time would make unique.
        """
        if change["type"] not in UPSERT_ID_FIELDS or change.get(CHANGED_AT) is not None:
            return change
        self._last_changed_at = max(int(self._clock() * 1_000), self._last_changed_at + 1)
        return {**change, CHANGED_AT: self._last_changed_at}

    def _send(self, batch: Sequence[_Entry], report: PublishReport) -> None:
        """Send one batch; retry the entries SQS failed on its side; record every outcome in ``report``."""
        pending = list(batch)
        failures: dict[str, Failure] = {}
        for attempt in range(1, self._max_attempts + 1):
            if self._aborted is not None:
                break
            if attempt > 1:
                report.retries += len(pending)
                self._sleep(self._backoff(attempt))
            failures = self._call(pending, report)
            pending = _settle(pending, failures, report)
            if not pending:
                return
        for entry in pending:
            if entry.entry_id in failures:
                failure = failures[entry.entry_id]
                problem = Problem.RETRIES_EXHAUSTED if failure.retryable else Problem.REJECTED
                report.unsent.append(Unsent(entry.index, entry.change, problem, failure.reason))
            else:
                reason = f"not attempted after {self._aborted.reason}" if self._aborted else "not attempted"
                report.unsent.append(Unsent(entry.index, entry.change, Problem.ABORTED, reason))

    def _call(self, entries: Sequence[_Entry], report: PublishReport) -> dict[str, Failure]:
        """One SendMessageBatch call; the failed entries by entry id (a failed call fails them all)."""
        request: list[SendMessageBatchRequestEntryTypeDef] = []
        for entry in entries:
            item: SendMessageBatchRequestEntryTypeDef = {"Id": entry.entry_id, "MessageBody": entry.body}
            if entry.group_id is not None:
                item["MessageGroupId"] = entry.group_id
            if entry.deduplication_id is not None:
                item["MessageDeduplicationId"] = entry.deduplication_id
            request.append(item)
        report.calls += 1
        try:
            response = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=request)
        except ClientError as exc:
            failure = call_failure(exc)
            if not failure.retryable:
                # QueueDoesNotExist, AccessDenied, a bad KMS key...: every later call would fail the same way.
                self._aborted = failure
            return {entry.entry_id: failure for entry in entries}
        except (ConnectionError, HTTPClientError) as exc:
            # The call may or may not have reached SQS. Resending is safe: FIFO deduplicates by id, and a
            # standard queue delivers at least once anyway.
            failure = Failure(type(exc).__name__, str(exc), retryable=True)
            return {entry.entry_id: failure for entry in entries}
        failed = {
            error["Id"]: Failure(error["Code"], error.get("Message", ""), retryable=not error["SenderFault"])
            for error in response.get("Failed", [])
        }
        answered = set(failed) | {success["Id"] for success in response.get("Successful", [])}
        for entry in entries:
            if entry.entry_id not in answered:
                # Not in the response at all: never seen in practice, but unaccounted is not "sent".
                failed[entry.entry_id] = Failure("NoResult", "SQS did not report this entry", retryable=True)
        return failed

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0.0, min(self._max_delay_s, self._base_delay_s * 2 ** (attempt - 2)))


def _settle(pending: Sequence[_Entry], failures: dict[str, Failure], report: PublishReport) -> list[_Entry]:
    """Record the outcome of one call's entries in ``report``; return those to retry, in their order."""
    retry: list[_Entry] = []
    # Walking backwards, each failed entry knows which upsert groups had a later entry accepted in this call.
    accepted_later: set[str] = set()
    for entry in reversed(pending):
        failure = failures.get(entry.entry_id)
        if failure is None:
            report.sent += 1
            if entry.upsert and entry.group_id is not None:
                accepted_later.add(entry.group_id)
        elif not failure.retryable:
            report.unsent.append(Unsent(entry.index, entry.change, Problem.REJECTED, failure.reason))
        elif entry.upsert and entry.group_id in accepted_later:
            # FIFO: the newer version of this record is already in the queue. Resending the older one now would
            # queue it after the newer one, and the handler would apply it last: an upsert replaces, so skip it.
            report.superseded += 1
        else:
            retry.append(entry)
    return retry[::-1]


def _default_client(queue_url: str) -> SQSClient:
    # https://sqs.<region>.amazonaws.com/<account>/<name>: the URL says where the queue is.
    match = re.match(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/", queue_url)
    return boto3.client("sqs", region_name=match.group(1) if match else None)
