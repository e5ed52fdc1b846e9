"""The table of custom resource types: one row each for a schema, a dataset group, a dataset and an event tracker.

``resources.types.base`` defines the row (:class:`~resources.types.base.ResourceType`); each other module of the
package is one row. ``resources.provider`` runs the one lifecycle over them, dispatching on the CloudFormation type
name (the contract's ``*_RESOURCE_TYPE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from resources.types.base import ResourceType
from resources.types.dataset import DATASET
from resources.types.dataset_group import DATASET_GROUP
from resources.types.event_tracker import EVENT_TRACKER
from resources.types.schema import SCHEMA

RESOURCE_TYPES: Final[Mapping[str, ResourceType]] = {
    resource_type.cfn_type: resource_type for resource_type in (SCHEMA, DATASET_GROUP, DATASET, EVENT_TRACKER)
}

__all__ = ["DATASET", "DATASET_GROUP", "EVENT_TRACKER", "RESOURCE_TYPES", "SCHEMA", "ResourceType"]
