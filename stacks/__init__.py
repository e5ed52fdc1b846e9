"""Infrastructure of the Personalize ingestion pipeline: the typed configuration, the stack and its constructs.

``app.py`` reads the cdk.json context into a :class:`stacks.config.PipelineConfig` (the ``stacks.config`` package,
free of CDK imports) and hands it to :class:`stacks.ingestion_stack.IngestionStack`, which composes one construct
per concern: :class:`stacks.ingest_pipeline.IngestPipeline` mirrors the ``lambdas/ingest/`` runtime;
:class:`stacks.personalize_datasets.PersonalizeDatasets` (with its provider, ``stacks.personalize_provider``) the
``lambdas/resources/`` custom resource handlers, ``stacks.personalize_properties`` being what passes between the
two, free of CDK imports so ``local/`` shares it; and :class:`stacks.monitoring.PipelineMonitoring` the dashboard
and alarms. ``stacks.lambda_packaging`` packages every function the same way. Every name the runtime shares with
the stack (kinds, environment variables, metrics, dead-letter codes, resource types) is ``contract``'s.
"""
