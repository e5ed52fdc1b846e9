"""What the Personalize custom resources are given: the names derived from the dataset group, and their properties.

The resource type names (``Custom::PersonalizeSchema``...) are the contract's (``contract.*_RESOURCE_TYPE``).

The contract between :class:`stacks.personalize_datasets.PersonalizeDatasets` (which puts these properties in
the template) and ``lambdas/resources/`` (which receives them). It imports nothing from the CDK, so ``local/``
builds exactly the properties a deployment would and drives the same handlers with them.

Every property these functions build is a string: CloudFormation hands custom resources their scalar properties as
strings. An ARN may be a CDK token here (``Fn::GetAtt`` of another custom resource), which the template resolves at
deploy time. The dataset group, datasets and event tracker also get ``contract.TAGS_PROPERTY``, a list of
``{"Key": ..., "Value": ...}`` objects (CloudFormation's own shape of tags), from the stack's tag aspects
(``stacks/personalize_tagging.py``); :func:`with_tags` adds it for ``local/`` and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from contract import TAGS_PROPERTY

# Personalize names are 1..63 characters (API_CreateDataset.html). Datasets are named "<group>-<type>", the
# longest type being "action_interactions" (19 characters plus the hyphen), so a group name may have 43.
NAME_MAX_LENGTH: Final = 63
LONGEST_DATASET_SUFFIX: Final = len("-action_interactions")
GROUP_NAME_MAX_LENGTH: Final = NAME_MAX_LENGTH - LONGEST_DATASET_SUFFIX
EVENT_TRACKER_SUFFIX: Final = "-tracker"


def dataset_name(group_name: str, dataset_type: str) -> str:
    """Return the name of the ``dataset_type`` dataset (``ITEMS``) of ``group_name``: ``<group>-items``.

    Dataset names are unique per account and Region, so they carry the group's name: a new group (a new name)
    gets new dataset names, and its datasets can be created before the old group's are deleted.
    """
    return f"{group_name}-{dataset_type.lower()}"


def schema_name_prefix(group_name: str, dataset_type: str) -> str:
    """Return the prefix of the schema names of that dataset; the handler appends a digest of the document."""
    return dataset_name(group_name, dataset_type)


def event_tracker_name(group_name: str) -> str:
    """Return the name of the event tracker of ``group_name``."""
    return f"{group_name}{EVENT_TRACKER_SUFFIX}"


def schema_properties(*, group_name: str, dataset_type: str, document: str, domain: str | None) -> dict[str, str]:
    """Return the properties of the schema of the ``dataset_type`` dataset (``Custom::PersonalizeSchema``).

    Parameters
    ----------
    group_name
        The dataset group's name (the schema's name starts with it).
    dataset_type
        The dataset type, upper case (``ITEMS``).
    document
        The Avro schema, as JSON text.
    domain
        The dataset group's domain (a domain group's schemas must have it), or ``None``.
    """
    properties = {"Name": schema_name_prefix(group_name, dataset_type), "Schema": document}
    if domain:
        properties["Domain"] = domain
    return properties


def dataset_group_properties(
    *, name: str, domain: str | None, kms_key_arn: str | None, role_arn: str | None
) -> dict[str, str]:
    """Return the properties of a dataset group (``Custom::PersonalizeDatasetGroup``); ``None`` leaves one out."""
    optional = {"Domain": domain, "KmsKeyArn": kms_key_arn, "RoleArn": role_arn}
    return {"Name": name, **{key: value for key, value in optional.items() if value}}


def dataset_properties(*, group_name: str, group_arn: str, dataset_type: str, schema_arn: str) -> dict[str, str]:
    """Return the properties of the ``dataset_type`` dataset of a group (``Custom::PersonalizeDataset``)."""
    return {
        "Name": dataset_name(group_name, dataset_type),
        "DatasetGroupArn": group_arn,
        "DatasetType": dataset_type,
        "SchemaArn": schema_arn,
    }


def event_tracker_properties(*, group_name: str, group_arn: str) -> dict[str, str]:
    """Return the properties of a group's event tracker (``Custom::PersonalizeEventTracker``)."""
    return {"Name": event_tracker_name(group_name), "DatasetGroupArn": group_arn}


def with_tags(properties: Mapping[str, str], tags: Mapping[str, str]) -> dict[str, Any]:
    """Return ``properties`` with ``tags`` as the stack renders them for a taggable resource.

    ``contract.TAGS_PROPERTY`` is ``[{"Key": ..., "Value": ...}]`` sorted by key (the CDK's ``TagManager`` order,
    so a template's tags and these compare equal), and absent when there are no tags, as in the template.
    """
    if not tags:
        return dict(properties)
    return {**properties, TAGS_PROPERTY: [{"Key": key, "Value": tags[key]} for key in sorted(tags)]}
