"""Helpers of the custom resource handler tests: schema documents, property builders, a provisioned set."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract import (
    DATASET_GROUP_RESOURCE_TYPE,
    DATASET_RESOURCE_TYPE,
    EVENT_TRACKER_RESOURCE_TYPE,
    SCHEMA_RESOURCE_TYPE,
)
from local.cloudformation import CustomResourceDriver, Deployed
from stacks.personalize_properties import (
    dataset_group_properties,
    dataset_properties,
    event_tracker_properties,
    schema_properties,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CLIENT_SETTINGS: dict[str, Any] = {
    "region_name": "us-east-1",
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
}
# The project's schema file of each dataset type.
SCHEMA_FILES = {
    "ITEMS": "items.json",
    "ACTIONS": "actions.json",
    "USERS": "users.json",
    "INTERACTIONS": "interactions.json",
    "ACTION_INTERACTIONS": "action_interactions.json",
}
DATASET_TYPES = tuple(SCHEMA_FILES)


def document(dataset_type: str) -> str:
    """The project's schema of ``dataset_type``, as JSON text."""
    return (SCHEMAS / SCHEMA_FILES[dataset_type]).read_text()


def with_field(text: str, new_field: dict[str, Any]) -> str:
    """``text`` (a schema document) with ``new_field`` appended."""
    parsed = json.loads(text)
    parsed["fields"].append(new_field)
    return json.dumps(parsed, indent=2)


def without_field(text: str, name: str) -> str:
    """``text`` (a schema document) without the field ``name``."""
    parsed = json.loads(text)
    parsed["fields"] = [entry for entry in parsed["fields"] if entry["name"] != name]
    return json.dumps(parsed)


def group_props(name: str = "shop", **settings: str | None) -> dict[str, str]:
    """A dataset group's properties (``domain``, ``kms_key_arn``, ``role_arn`` optional)."""
    return dataset_group_properties(
        name=name,
        domain=settings.get("domain"),
        kms_key_arn=settings.get("kms_key_arn"),
        role_arn=settings.get("role_arn"),
    )


def schema_props(dataset_type: str, group: str = "shop", text: str | None = None) -> dict[str, str]:
    """The properties of the schema of a ``dataset_type`` dataset of ``group``."""
    return schema_properties(
        group_name=group, dataset_type=dataset_type, document=text or document(dataset_type), domain=None
    )


def dataset_props(group: Deployed, dataset_type: str, schema: Deployed) -> dict[str, str]:
    """The properties of the ``dataset_type`` dataset of ``group`` with ``schema``."""
    return dataset_properties(
        group_name=group.properties["Name"], group_arn=group.arn, dataset_type=dataset_type, schema_arn=schema.arn
    )


@dataclass
class ProvisionedSet:
    """A dataset group with schemas, datasets and (with an Interactions dataset) an event tracker, as deployed."""

    group: Deployed
    schemas: dict[str, Deployed] = field(default_factory=dict)
    datasets: dict[str, Deployed] = field(default_factory=dict)
    tracker: Deployed | None = None

    def reverse_dependency_order(self) -> list[Deployed]:
        """CloudFormation's delete order: dependents first (tracker, datasets), then the group and the schemas."""
        children = ([self.tracker] if self.tracker else []) + list(self.datasets.values())
        return [*children, self.group, *self.schemas.values()]


def provision_set(
    cfn: CustomResourceDriver, name: str = "shop", types: tuple[str, ...] = DATASET_TYPES
) -> ProvisionedSet:
    """Create a group, a schema and dataset per type and, with INTERACTIONS, the tracker, as the stack would."""
    provisioned = ProvisionedSet(group=cfn.create(DATASET_GROUP_RESOURCE_TYPE, group_props(name)))
    for dataset_type in types:
        schema = cfn.create(SCHEMA_RESOURCE_TYPE, schema_props(dataset_type, name))
        provisioned.schemas[dataset_type] = schema
        provisioned.datasets[dataset_type] = cfn.create(
            DATASET_RESOURCE_TYPE, dataset_props(provisioned.group, dataset_type, schema)
        )
    if "INTERACTIONS" in types:
        provisioned.tracker = cfn.create(
            EVENT_TRACKER_RESOURCE_TYPE, event_tracker_properties(group_name=name, group_arn=provisioned.group.arn)
        )
    return provisioned
