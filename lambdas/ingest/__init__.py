"""The ingest Lambda: SQS batches of changes → Personalize's incremental Put* APIs (docs/design.md, "The ingest
algorithm")."""
