"""The dataset group row: ``Custom::PersonalizeDatasetGroup``, deleted once its datasets and tracker are gone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from contract import DATASET_GROUP_RESOURCE_TYPE
from resources.errors import RESOURCE_IN_USE, RESOURCE_NOT_FOUND, ProvisioningError, error_code, error_message
from resources.types.base import DONE, Description, Progress, Properties, ResourceType, is_deleting, waiting
from resources.types.dataset import DATASET
from resources.types.event_tracker import EVENT_TRACKER

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
else:
    PersonalizeClient = Any

# Property -> DescribeDatasetGroup member. None of them can change after creation (API_CreateDatasetGroup.html).
_GROUP_SETTINGS: Final = {"Domain": "domain", "KmsKeyArn": "kmsKeyArn", "RoleArn": "roleArn"}


def _group_request(properties: Properties) -> dict[str, str]:
    request = {"name": properties["Name"]}
    request |= {member: properties[key] for key, member in _GROUP_SETTINGS.items() if properties.get(key)}
    return request


def _group_differences(properties: Properties, description: Description) -> list[str]:
    return [
        f"its {member} is {description.get(member) or 'none'}"
        for key, member in _GROUP_SETTINGS.items()
        if (description.get(member) or None) != (properties.get(key) or None)
    ]


def _group_delete_refused(client: PersonalizeClient, arn: str, error: ClientError) -> Progress:
    # A group can be deleted only once its event tracker and datasets are gone (and its solutions, recommenders,
    # filters... which this stack does not make). CloudFormation deletes the children first, but their deletion
    # is asynchronous: while they are still being deleted, wait for them.
    children = [
        (child.noun, str(summary[child.arn_member]), str(summary.get("status")))
        for child in (EVENT_TRACKER, DATASET)
        for summary in child.summaries(client, datasetGroupArn=arn)
    ]
    staying = [(noun, child, status) for noun, child, status in children if not is_deleting(status)]
    if staying:
        noun, child, status = staying[0]
        raise ProvisioningError(
            f"Dataset group {arn} still has {noun} {child} ({status}), which is not being deleted: it was created "
            "outside this stack or retained. Delete it first, then delete the stack again."
        )
    if children:
        return waiting(f"dataset group {arn}: waiting for {', '.join(child for _, child, _ in children)} to be deleted")
    # No dataset or tracker left: either the last one went away just now (try once more), or the group holds
    # something this stack does not know about (a solution, a recommender, a filter...), which Personalize names.
    try:
        client.delete_dataset_group(datasetGroupArn=arn)
    except ClientError as again:
        if error_code(again) == RESOURCE_NOT_FOUND:
            return DONE
        if error_code(again) != RESOURCE_IN_USE:
            raise
        raise ProvisioningError(
            f"Personalize refuses to delete dataset group {arn}: {error_message(again)}. Delete its solutions, "
            "campaigns, recommenders, filters and metric attributions first, then delete the stack again."
        ) from None
    return waiting(f"dataset group {arn}: deletion requested")


DATASET_GROUP: Final = ResourceType(
    cfn_type=DATASET_GROUP_RESOURCE_TYPE,
    noun="dataset group",
    api_noun="DatasetGroup",
    required=("Name",),
    optional=tuple(_GROUP_SETTINGS),
    replace_on=("Name", *_GROUP_SETTINGS),
    name=lambda properties: properties["Name"],
    create_request=_group_request,
    list_filter=lambda properties: {},
    matches=lambda summary, properties: summary.get("name") == properties["Name"],
    differences=_group_differences,
    attributes=lambda description: {"Arn": str(description["datasetGroupArn"]), "Name": str(description["name"])},
    delete_refused=_group_delete_refused,
)
