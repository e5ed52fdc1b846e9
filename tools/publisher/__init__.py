"""Publish changes to the ingest queue: check them against the message contract, batch, retry, report.

For upstream teams (docs/contracts.md §1). Each change is validated against
``schemas/contract/message.schema.json`` before anything is sent; valid changes go out with SendMessageBatch,
at most 10 entries and 256 KiB per call; entries SQS reports as failed on its side are retried with backoff a
bounded number of times; on a FIFO queue every message gets a group id (its record, or its session) and a
deduplication id (see ``deduplication_id``). Whatever could not be sent is reported with the reason, never
dropped silently.

As a library::

    from tools.publisher import Publisher

    report = Publisher(queue_url).publish(changes)  # changes: an iterable of dicts
    for unsent in report.unsent:
        print(unsent.index, unsent.problem, unsent.reason)

From the command line, one JSON change per line, from a file or stdin (``make install`` puts the ``publish``
command in the virtualenv; ``python -m tools.publisher`` is the same program)::

    publish --queue-url URL changes.jsonl
    producer | publish --queue-url URL -

The exit status is 0 when every change was sent and 1 otherwise; the summary and one line per unsent change
go to stderr.

Every item, action or user change goes out with a ``changedAt`` (epoch milliseconds), the time it was published
unless the change has one already: on a standard queue it is what orders two changes to one record
(docs/contracts.md §1). The publisher sets no message attribute: ``PersonalizeIngest.SourceMessageId`` is the
pipeline's own (docs/contracts.md §3).

The modules, along the way a change goes: :mod:`~tools.publisher.cli` (the command line) →
:mod:`~tools.publisher.sending` (the :class:`Publisher`: batches, retries) → :mod:`~tools.publisher.contract_check`
(is it a valid change?), :mod:`~tools.publisher.changes` (its body; which kinds are upserts) and
:mod:`~tools.publisher.fifo_ids` (its FIFO group and deduplication ids) → :mod:`~tools.publisher.failures` (what
SQS said, and whether to retry) → :mod:`~tools.publisher.report` (what became of each change).
"""

from __future__ import annotations

from tools.publisher.changes import CHANGED_AT, canonical_body
from tools.publisher.cli import main
from tools.publisher.contract_check import SCHEMA_PATH, contract_violation
from tools.publisher.fifo_ids import deduplication_id, group_id
from tools.publisher.report import Problem, PublishReport, Unsent
from tools.publisher.sending import MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, Publisher

__all__ = [
    "CHANGED_AT",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ENTRIES",
    "SCHEMA_PATH",
    "Problem",
    "PublishReport",
    "Publisher",
    "Unsent",
    "canonical_body",
    "contract_violation",
    "deduplication_id",
    "group_id",
    "main",
]
