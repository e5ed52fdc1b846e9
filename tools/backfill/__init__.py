"""Load a catalogue in bulk: files of changes or Personalize-format CSV → dataset import jobs (docs/bulk.md).

::

    backfill --stack NAME changes.jsonl[.gz] s3://bucket/more.jsonl [--csv items=items.csv]
             [--mode auto|full|incremental] [--rejects PATH] [--no-wait] [--dry-run] [--json]
    backfill --dataset item=ARN --import-location s3://bucket/prefix/ --role-arn ARN changes.jsonl

What it promises:

- **The Lambda's rules.** Every change goes through the ingest Lambda's own decode and validation, against the
  dataset's schema as Personalize holds it; items, actions and users collapse to the newest change per id.
- **Nothing dropped silently.** A line that cannot be imported goes to the rejects file with the dead-letter
  contract's ``ErrorCode`` and ``ErrorMessage`` (docs/contracts.md §3); exit status 1 says there were some.
- **Resumable and idempotent.** Parts and job names derive from the inputs' digests; a re-run uploads only
  missing parts, adopts jobs that exist (waiting for a running one) and creates only the missing ones.
- **Bad input stops early.** A missing dataset, a schema that does not fit, a wrong bucket, missing credentials or
  a CSV header that does not fit: one line naming it, exit status 2, and nothing uploaded.

The modules, along a run: :mod:`~tools.backfill.cli` → :mod:`~tools.backfill.run`, which reads
(:mod:`~tools.backfill.inputs`), validates and collapses (:mod:`~tools.backfill.collect`, ``bulk.rows``
against ``bulk.targets``), cuts (:mod:`~tools.backfill.parts`), uploads (:mod:`~tools.backfill.store`),
imports (:mod:`~tools.backfill.jobs`) and reports (:mod:`~tools.backfill.report`).
"""
