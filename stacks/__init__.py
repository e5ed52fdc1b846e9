"""Infrastructure of the Personalize ingestion pipeline: the typed configuration, the stack and its constructs.

``app.py`` reads the cdk.json context into a :class:`stacks.config.PipelineConfig` and hands it to
:class:`stacks.ingestion_stack.IngestionStack`, which composes one construct per concern:
:class:`stacks.ingest_pipeline.IngestPipeline` mirrors the ``lambdas/ingest/`` runtime and
:class:`stacks.personalize_datasets.PersonalizeDatasets` the ``lambdas/resources/`` custom resource handlers
(``stacks.personalize_properties`` is the contract between the two, free of CDK imports so ``local/`` shares it).
"""
