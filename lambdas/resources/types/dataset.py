"""The dataset row: ``Custom::PersonalizeDataset``, whose schema UpdateDataset changes in place where it can.

Personalize changes the schema of Items and Users datasets only, and only to a compatible successor; anything else
is refused before anything is touched, except CloudFormation rolling such a change back, which the dataset may
ignore (see :func:`_is_rollback`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from contract import DATASET_RESOURCE_TYPE, KIND_SPECS
from resources import schemas
from resources.errors import ProvisioningError
from resources.types.base import CREATE_FAILED, IN_PROGRESS, Description, Progress, Properties, ResourceType, waiting

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
else:
    PersonalizeClient = Any

logger = logging.getLogger(__name__)

# CreateDataset's datasetType, case-insensitive (API_CreateDataset.html); kept upper case, as in dataset ARNs. One
# per kind of the contract.
DATASET_TYPES: Final = frozenset(spec.dataset_type for spec in KIND_SPECS.values())
# UpdateDataset replaces the schema of these dataset types only (API_UpdateDataset.html).
UPDATABLE_DATASET_TYPES: Final = frozenset({"ITEMS", "USERS"})
UPDATE_DATASET_GUIDE: Final = "https://docs.aws.amazon.com/personalize/latest/dg/updating-dataset-schema.html"


def _dataset_canonical(properties: Properties) -> dict[str, str]:
    dataset_type = properties["DatasetType"].upper()
    if dataset_type not in DATASET_TYPES:
        raise ProvisioningError(
            f"DatasetType {properties['DatasetType']!r} is not a Personalize dataset type; use one of "
            f"{', '.join(sorted(DATASET_TYPES))}"
        )
    return {**properties, "DatasetType": dataset_type}


def _dataset_request(properties: Properties) -> dict[str, str]:
    return {
        "name": properties["Name"],
        "datasetGroupArn": properties["DatasetGroupArn"],
        "datasetType": _dataset_canonical(properties)["DatasetType"],
        "schemaArn": properties["SchemaArn"],
    }


def latest_update(description: Description) -> Mapping[str, Any]:
    latest: Mapping[str, Any] = description.get("latestDatasetUpdate") or {}
    return latest


def _dataset_differences(properties: Properties, description: Description) -> list[str]:
    problems = []
    if description.get("name") != properties["Name"]:
        problems.append(f"it is named {description.get('name')}")
    schema_arns = {description.get("schemaArn"), latest_update(description).get("schemaArn")}
    if properties["SchemaArn"] not in schema_arns:
        problems.append(f"it uses schema {description.get('schemaArn')}")
    return problems


def _dataset_attributes(description: Description) -> dict[str, str]:
    return {
        "Arn": str(description["datasetArn"]),
        "Name": str(description["name"]),
        "SchemaArn": str(description["schemaArn"]),
        # Only an Action interactions dataset has one: PutActionInteractions writes through it.
        "TrackingId": str(description.get("trackingId") or ""),
    }


def _describe_schema(client: PersonalizeClient, schema_arn: str) -> Description:
    description: Description = client.describe_schema(schemaArn=schema_arn)["schema"]
    return description


def _is_rollback(current: Description, desired: Description) -> bool:
    """Whether moving a dataset from schema ``current`` back to ``desired`` is CloudFormation rolling back.

    UpdateDataset cannot go back (fields cannot be removed), so in a rollback the dataset keeps the newer schema,
    which accepts every record the older one did; a later deployment of the newer schema then finds it again
    (schemas are named by content). A deployment that removes a field looks the same (the stack's old properties
    name the dataset's schema, the new ones a compatible predecessor), so the schemas' ages tell them apart. In a
    rollback, ``desired`` existed before ``current``: CloudFormation deletes a replaced schema only in its cleanup
    phase, after a successful update. A deployment makes its schema resource just before the dataset's update
    (the old schema was deleted by the cleanup of the update that moved the dataset off it), so ``desired`` is
    newer. Without both dates, it is not taken for a rollback: refusing is the safe side.
    """
    if schemas.incompatibilities(str(desired["schema"]), str(current["schema"])):
        return False  # ``current`` is not a compatible successor of ``desired``: no update made it
    desired_at, current_at = desired.get("creationDateTime"), current.get("creationDateTime")
    try:
        return desired_at is not None and current_at is not None and bool(desired_at < current_at)
    except TypeError:  # dates of two different kinds: not comparable
        return False


def _dataset_update_in_place(client: PersonalizeClient, arn: str, properties: Properties) -> None:
    description = DATASET.describe(client, arn)
    if description is None:
        raise ProvisioningError(f"Dataset {arn} does not exist any more: it cannot take a new schema")
    current_arn, desired_arn = str(description["schemaArn"]), properties["SchemaArn"]
    if desired_arn in (current_arn, latest_update(description).get("schemaArn")):
        return  # already there, or on its way
    dataset_type = str(description.get("datasetType", "")).upper()
    if dataset_type not in UPDATABLE_DATASET_TYPES:
        raise ProvisioningError(
            f"Dataset {arn} cannot take schema {desired_arn}: Personalize changes the schema of Items and Users "
            f"datasets only, not of an {dataset_type} dataset ({UPDATE_DATASET_GUIDE}), and replacing the dataset "
            "would delete its data. Keep its previous schema, or give the dataset group a new name to provision a "
            "new group."
        )
    current, desired = _describe_schema(client, current_arn), _describe_schema(client, desired_arn)
    problems = schemas.incompatibilities(str(current["schema"]), str(desired["schema"]))
    if not problems:
        client.update_dataset(datasetArn=arn, schemaArn=desired_arn)
        return
    if _is_rollback(current, desired):
        logger.warning(
            "Dataset %s keeps schema %s: UpdateDataset cannot go back to the older %s (a rollback)",
            arn,
            current_arn,
            desired_arn,
        )
        return
    message = (
        f"Dataset {arn} cannot change from schema {current_arn} to {desired_arn}: {'; '.join(problems)}. Personalize "
        "only accepts a new schema that keeps every existing field unchanged and adds nullable fields "
        f"({UPDATE_DATASET_GUIDE})."
    )
    if not schemas.incompatibilities(str(desired["schema"]), str(current["schema"])):
        message += (
            f" Schema {desired_arn} is not older than {current_arn}, so this is a deployment, not a rollback the "
            "dataset could ignore. To stop using a nullable field, keep it in the schema and stop sending it."
        )
    raise ProvisioningError(f"{message} Nothing was changed.")


def _dataset_ready(client: PersonalizeClient, properties: Properties, description: Description) -> Progress:
    arn, desired = str(description["datasetArn"]), properties["SchemaArn"]
    latest = latest_update(description)
    status = latest.get("status")
    if status in IN_PROGRESS:
        return waiting(f"dataset {arn}: schema update to {latest.get('schemaArn')} is {status}")
    if description.get("schemaArn") == desired:
        return Progress(done=True, data=_dataset_attributes(description))
    if latest.get("schemaArn") == desired and status == CREATE_FAILED:
        reason = latest.get("failureReason") or "Personalize gave no reason"
        raise ProvisioningError(f"Dataset {arn} failed to take schema {desired}: {reason}")
    # The rollback on_event let the dataset ignore (see _is_rollback): done, with the schema it keeps.
    if _is_rollback(_describe_schema(client, str(description["schemaArn"])), _describe_schema(client, desired)):
        return Progress(done=True, data=_dataset_attributes(description))
    return waiting(f"dataset {arn}: waiting for its schema update to {desired} to start")


def _dataset_busy(description: Description) -> str | None:
    status = latest_update(description).get("status")
    return f"its schema update is {status}" if status in IN_PROGRESS else None


DATASET: Final = ResourceType(
    cfn_type=DATASET_RESOURCE_TYPE,
    noun="dataset",
    api_noun="Dataset",
    required=("Name", "DatasetGroupArn", "DatasetType", "SchemaArn"),
    optional=(),
    replace_on=("Name", "DatasetGroupArn", "DatasetType"),
    in_place=("SchemaArn",),
    # One dataset of each type per dataset group (API_CreateDataset.html).
    slot=("DatasetGroupArn", "DatasetType"),
    name=lambda properties: properties["Name"],
    create_request=_dataset_request,
    list_filter=lambda properties: {"datasetGroupArn": properties["DatasetGroupArn"]},
    matches=lambda summary, properties: (
        str(summary.get("datasetType", "")).upper() == properties["DatasetType"].upper()
    ),
    differences=_dataset_differences,
    attributes=_dataset_attributes,
    canonical=_dataset_canonical,
    update_in_place=_dataset_update_in_place,
    ready=_dataset_ready,
    busy=_dataset_busy,
)
