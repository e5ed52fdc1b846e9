"""Full calls from a backlog: the partial last call of an upsert kind waits for the next batch (docs/design.md
"Throughput").

PutItems, PutUsers and PutActions allow 10 calls per second per dataset group, so on a backlog the records per
call are the throughput: a batch of mixed kinds leaves one partial call per kind, and those cost a whole call of
the quota each. When the batch arrived full (``Settings.batch_size`` records, or near Lambda's 6 MB payload),
more is waiting in the queue; then the records of the partial call of a kind that also filled a call in this batch
are not sent but made visible again at once
(ChangeMessageVisibilityBatch with a timeout of 0) and reported failed, so SQS hands them to the next batch, where
they fill a call with the records that come next.

A deferral costs the message a receive, which counts towards the queue's redrive limit. So a message is deferred
at most once (``ApproximateReceiveCount`` 1) and never when the redrive limit is so low that one receive matters
(``DEFER_MIN_RECEIVES``); the records that may not be deferred go into the full calls first, so the partial one
holds only records that may. A partial call holding even one that may not is sent. Riders (older changes to the
same ids) follow their newest change, as everywhere else. Never on a FIFO queue: a deferred message would hold
back its group. If the visibility change fails, the records are sent after all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from ingest.clients import client_within, time_bound
from ingest.decode import SqsRecord
from ingest.errors import CallFailure, Disposition
from ingest.plan import Call, Plan
from ingest.validate import ValidRecord

DEFERRED = CallFailure(Disposition.RETRYABLE, "DeferredToFillCall", "sent back to the queue to fill a later call")
# The redrive limit below which nothing is deferred: with 2, a deferred message would have one delivery left.
DEFER_MIN_RECEIVES = 3
# Lambda invokes early as a batch nears its 6 MB payload quota: a batch this large arrived full too.
FULL_PAYLOAD_BYTES = 5 * 1024 * 1024
# ChangeMessageVisibilityBatch takes at most 10 entries.
_VISIBILITY_BATCH_MAX = 10


def arrived_full(records: Sequence[SqsRecord], batch_size: int | None) -> bool:
    """Whether the event source cut this batch at its size (or payload) rather than at its window: more waits."""
    if batch_size is None or batch_size <= 1:
        return False
    if len(records) >= batch_size:
        return True
    return sum(len(str(record.get("body", ""))) for record in records) >= FULL_PAYLOAD_BYTES


def may_defer(max_receive_count: int | None) -> Callable[[ValidRecord], bool]:
    """Whether a record may be deferred: on its first delivery, with receives to spare."""
    spare = max_receive_count is None or max_receive_count >= DEFER_MIN_RECEIVES
    return lambda record: spare and record.change.message.receive_count <= 1


def split_tails(
    plan: Plan, *, deferrable: Callable[[ValidRecord], bool], max_records: dict[str, int]
) -> tuple[Plan, list[Call]]:
    """The plan without the partial last call of each upsert kind that also fills a call, when its records (riders
    included) may all be deferred, and those calls.

    A kind's records are chunked again, those that may not be deferred first, so the partial call takes only
    records that may. Events and action interactions are never deferred (their quota is a hundred times larger, and
    a session's events belong in one call).
    """
    by_kind: dict[str, list[Call]] = {}
    for call in plan.calls:
        if call.kind.spec.id_field is not None and not call.call_fields:
            by_kind.setdefault(call.kind.name, []).append(call)
    if not by_kind:
        return plan, []

    def movable(record: ValidRecord) -> bool:
        riders = plan.superseded.get(record.change.message.message_id, [])
        return deferrable(record) and all(deferrable(rider) for rider in riders)

    kept: dict[str, list[Call]] = {}
    deferred: list[Call] = []
    for name, of_kind in by_kind.items():
        records = sorted((record for call in of_kind for record in call.records), key=movable)  # stable: False first
        size = max_records[name]
        chunks = [tuple(records[start : start + size]) for start in range(0, len(records), size)]
        template = of_kind[0]
        rechunked = [Call(template.kind, template.target, template.call_fields, chunk) for chunk in chunks]
        tail = rechunked[-1]
        # Only a kind that also fills a call in this batch flows fast enough for its tail to find company soon.
        if len(rechunked) > 1 and len(tail.records) < size and all(movable(record) for record in tail.records):
            deferred.append(tail)
            kept[name] = rechunked[:-1]
        else:
            kept[name] = of_kind  # nothing waits: the calls as planned, in batch order
    calls: list[Call] = []
    for call in plan.calls:
        name = call.kind.name
        if name not in kept:
            calls.append(call)
        elif call is by_kind[name][0]:
            calls.extend(kept[name])
    return Plan(calls=calls, superseded=plan.superseded), deferred


class Requeue:
    """Makes received messages of the ingest queue visible again at once (ChangeMessageVisibilityBatch, 0 s).

    Parameters
    ----------
    client:
        An SQS client, or a ``ClientLadder`` of them (a call then ends within the time left).
    """

    def __init__(self, client: Any) -> None:
        self._clients = time_bound(client)
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def release(self, queue_arn: str, receipt_handles: Sequence[str], *, time_left_s: float | None) -> set[str]:
        """Make the messages of ``receipt_handles`` visible now; return the handles SQS confirmed.

        Never raises: a handle that could not be released is left out, and its record is sent instead.
        """
        released: set[str] = set()
        try:
            client = client_within(self._clients, time_left_s)
            url = self._queue_url(client, queue_arn)
            for start in range(0, len(receipt_handles), _VISIBILITY_BATCH_MAX):
                handles = receipt_handles[start : start + _VISIBILITY_BATCH_MAX]
                answer = client.change_message_visibility_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                        for index, handle in enumerate(handles)
                    ],
                )
                released.update(handles[int(entry["Id"])] for entry in answer.get("Successful", []))
        except Exception:  # whatever went wrong, the records are sent instead
            return released
        return released

    def _queue_url(self, client: Any, queue_arn: str) -> str:
        with self._lock:
            url = self._urls.get(queue_arn)
        if url is None:
            # arn:aws:sqs:<region>:<account>:<name>
            _arn, _partition, _service, _region, account, name = queue_arn.split(":", 5)
            url = str(client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])
            with self._lock:
                self._urls[queue_arn] = url
        return url
