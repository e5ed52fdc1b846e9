"""The ingest Lambda: SQS batches of changes → Personalize's incremental Put* APIs (DESIGN.md, ingest algorithm)."""
