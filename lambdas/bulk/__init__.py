"""The bulk path's shared code: a validated change as a CSV row of its dataset, the dataset it goes to, and the
dataset import jobs that load it (docs/bulk.md).

Two callers, one set of rules: the ``backfill`` command (``tools/backfill/``), which loads files, and the spill
workflow (``lambdas/spill/``), which drains a deep ingest queue into import jobs. The Lambda asset is ``lambdas/``,
so what the spill runs lives here and the command imports it.
"""
