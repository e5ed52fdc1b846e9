"""Inspect, redrive and replay the ingest pipeline's dead-letter queue (docs/contracts.md §3).

Three subcommands, for the on-call engineer::

    python -m tools.dlq inspect --dlq-url URL [--show-bodies] [--samples N] [--limit N] [--json]
    python -m tools.dlq redrive --dlq-url URL --queue-url URL [--codes C,...] [--dry-run] [--max-per-second N]
                                [--method auto|move-task|copy] [--wait]
    python -m tools.dlq replay  --dlq-url URL --queue-url URL [--codes C,...] [--dry-run] [--max-per-second N]
                                [--function-name NAME] [--dataset-arn KIND=ARN ...] [--tracking-id KIND=ID ...]

What they promise:

- **Nothing is lost.** A message leaves the DLQ only by DeleteMessage, and only after SQS confirmed its copy in the
  ingest queue. A crash between the two leaves the message in the DLQ (it becomes visible again when its hold
  ends) and the next run copies it again: a duplicate, and a harmless one. Items, users and actions are upserts.
  Every copy carries ``PersonalizeIngest.SourceMessageId`` (the original's id), from which the Lambda derives a
  missing ``eventId``, so both copies of an event or action interaction get the same eventId and Personalize uses
  it once. On a FIFO queue SQS also drops the second copy, but only within its five-minute deduplication window
  (see :class:`tools.dlq.copier.Copier`).
- **No new ids behind the Lambda's back.** SQS's message move task gives every message it moves a new message id.
  A message the ingest queue's redrive policy moved carries no ``PersonalizeIngest.SourceMessageId``, so after a
  move task the Lambda would derive a new eventId for it, and an event Personalize already took before a crash
  would count twice. ``redrive`` therefore uses a move task only when every message in the DLQ carries it, and
  copies otherwise (see :mod:`tools.dlq.move_task`).
- **Reading is not moving.** SQS has no "peek": a message is read by receiving it, which hides it. The tools hold
  what they read for ``--hold-seconds`` (so one pass sees every message once), then make everything they did not
  move visible again at once. If the process dies, SQS makes them visible itself when the hold ends.
- **A pass that did not see everything says so.** Messages in flight when a pass begins (held by another reader,
  or by an earlier run that crashed) or delayed cannot be read; nor can a FIFO group behind a held message. The
  report then lists why it is unfinished, and the command exits 3 (see :mod:`tools.dlq.errors`).
- **No property values on screen** (they may be personal data): record ids, codes, the pipeline's error messages
  and counts only, unless ``inspect --show-bodies`` asks for the bodies.

Clients are built plainly (boto3's usual credentials chain), so ``AWS_ENDPOINT_URL_SQS`` /
``AWS_ENDPOINT_URL_PERSONALIZE`` / ``AWS_ENDPOINT_URL_LAMBDA`` (or ``--endpoint-url``) point them at local stand-ins,
as for the Lambda. The region is ``--region``, else the one in the queue's URL, else the SDK's. ``replay`` validates
with the ingest Lambda's own code (the ``ingest`` package), against the dataset schemas Personalize holds now, for
the datasets the deployed function writes to (``--function-name``: its environment, docs/contracts.md §2).

The modules, along the way a run goes: :mod:`~tools.dlq.cli` (the command line) → :mod:`~tools.dlq.inspect`,
:mod:`~tools.dlq.redrive` (with :mod:`~tools.dlq.move_task`) or :mod:`~tools.dlq.replay` → :mod:`~tools.dlq.passes`
(one pass over the DLQ: :mod:`~tools.dlq.scan` reads, :mod:`~tools.dlq.copier` moves) → :mod:`~tools.dlq.report`
and :mod:`~tools.dlq.render` (what happened). :mod:`~tools.dlq.messages` is what a dead letter is.
"""
