"""Infrastructure of the Personalize ingestion pipeline: the typed configuration, the stack and its constructs.

``app.py`` reads the cdk.json context into a :class:`stacks.config.PipelineConfig` and hands it to
:class:`stacks.ingestion_stack.IngestionStack`, which composes one construct per concern
(:class:`stacks.ingest_pipeline.IngestPipeline` mirrors the ``lambdas/ingest/`` runtime).
"""
