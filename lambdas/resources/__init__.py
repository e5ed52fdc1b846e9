"""Custom resources for Amazon Personalize: schemas, dataset groups, datasets and event trackers.

The CDK ``Provider`` in ``stacks/personalize_datasets.py`` runs :func:`resources.handler.on_event` and
:func:`resources.handler.is_complete`. The lifecycle is written once (``resources.provider``, one module per
operation: ``create``, ``update``, ``delete``, ``settle``) against a table of resource types (``resources.types``,
one module per row), so a schema, a dataset group, a dataset and an event tracker are four rows, not four copies.
"""
