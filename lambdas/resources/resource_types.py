"""The table of custom resource types: one row each for a schema, a dataset group, a dataset and an event tracker.

Everything that differs between the four is a column here: the CloudFormation type name, the Personalize
operation stem (``Schema`` gives CreateSchema, DescribeSchema, ListSchemas, DeleteSchema and their ``schemaArn``
members), the properties, which property changes need a new resource, how an existing resource is found before
a create, when it counts as ready, and what to do when Personalize refuses to delete it. ``resources.provider``
runs the one lifecycle over these rows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from resources import schemas
from resources.errors import RESOURCE_IN_USE, RESOURCE_NOT_FOUND, ProvisioningError, error_code, error_message

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
else:
    PersonalizeClient = Any

logger = logging.getLogger(__name__)

Properties = Mapping[str, str]
Description = Mapping[str, Any]

# Statuses (API_DescribeDataset.html and the other Describe* pages).
ACTIVE: Final = "ACTIVE"
CREATE_FAILED: Final = "CREATE FAILED"
IN_PROGRESS: Final = frozenset({"CREATE PENDING", "CREATE IN_PROGRESS"})
# "You can delete a resource only when it is ACTIVE or CREATE FAILED" (PERSONALIZE.md §3).
DELETABLE: Final = frozenset({ACTIVE, CREATE_FAILED})
# CreateDataset's datasetType, case-insensitive (API_CreateDataset.html); kept upper case, as in dataset ARNs.
DATASET_TYPES: Final = frozenset({"INTERACTIONS", "ITEMS", "USERS", "ACTIONS", "ACTION_INTERACTIONS"})
# UpdateDataset replaces the schema of these dataset types only (API_UpdateDataset.html).
UPDATABLE_DATASET_TYPES: Final = frozenset({"ITEMS", "USERS"})
UPDATE_DATASET_GUIDE: Final = "https://docs.aws.amazon.com/personalize/latest/dg/updating-dataset-schema.html"


def is_deleting(status: str | None) -> bool:
    """Return whether ``status`` is DELETE PENDING or DELETE IN_PROGRESS."""
    return bool(status) and str(status).startswith("DELETE")


@dataclass(frozen=True)
class Progress:
    """Where a create, update or delete stands: done (with the resource's attributes), or waiting for something.

    Parameters
    ----------
    done
        Whether the operation is complete.
    waiting_for
        What it waits for (logged on every poll, and in the message when the wait gives up).
    data
        The attributes CloudFormation's ``Fn::GetAtt`` reads, once a create or update is done.
    """

    done: bool
    waiting_for: str = ""
    data: Mapping[str, str] = field(default_factory=dict)


def waiting(reason: str) -> Progress:
    """Return a :class:`Progress` that is not done yet, for ``reason``."""
    return Progress(done=False, waiting_for=reason)


DONE: Final = Progress(done=True)


def _never_busy(description: Description) -> str | None:
    return None


def _always_ready(client: PersonalizeClient, properties: Properties, description: Description) -> Progress:
    return DONE


def _wait_when_refused(client: PersonalizeClient, arn: str, error: ClientError) -> Progress:
    return waiting(f"Personalize refuses the delete for now: {error_message(error)}")


def _same(properties: Properties) -> dict[str, str]:
    return dict(properties)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class ResourceType:
    """One custom resource type and everything the lifecycle needs to know about it.

    Parameters
    ----------
    cfn_type
        The CloudFormation type (``Custom::PersonalizeSchema``), which ``on_event`` dispatches on.
    noun
        How messages name it (``dataset group``).
    api_noun
        The stem of its Personalize operations and members (``DatasetGroup``: CreateDatasetGroup,
        ``datasetGroupArn``, ``datasetGroups``...).
    required, optional
        Its properties (strings, as CloudFormation passes them).
    replace_on
        Properties Personalize cannot change in place: a change creates a new resource (a new physical id),
        and CloudFormation deletes the old one afterwards.
    in_place
        Properties :attr:`update_in_place` changes on the existing resource.
    slot
        Properties naming the one place per dataset group the resource fills (one dataset per type, one event
        tracker per group): a replacement in the same slot cannot be created before the old one is deleted.
    name
        The resource's Personalize name, from its properties.
    create_request
        CreateX's parameters, from the properties.
    list_filter, matches
        Describe-before-create: ListX's parameters, and which summary is the resource the properties describe.
    differences
        How an existing resource differs from the properties (empty when it may be adopted).
    attributes
        The attributes returned to CloudFormation, from DescribeX.
    canonical
        The properties in a form where equal means "the same resource" (a reformatted schema is the same).
    has_status
        Whether DescribeX reports a status (schemas exist once created and have none).
    update_in_place
        Changes the :attr:`in_place` properties of an existing resource, or refuses with a message.
    ready
        Whether a resource that is ACTIVE is also done with the operation (a dataset's schema update).
    busy
        Why a resource that is ACTIVE cannot be deleted yet, or ``None``.
    delete_refused
        What a ResourceInUseException from DeleteX means: wait, done, or a failure.
    """

    cfn_type: str
    noun: str
    api_noun: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    replace_on: tuple[str, ...]
    name: Callable[[Properties], str]
    create_request: Callable[[Properties], dict[str, str]]
    list_filter: Callable[[Properties], dict[str, str]]
    matches: Callable[[Description, Properties], bool]
    differences: Callable[[Properties, Description], list[str]]
    attributes: Callable[[Description], dict[str, str]]
    canonical: Callable[[Properties], dict[str, str]] = _same
    in_place: tuple[str, ...] = ()
    slot: tuple[str, ...] = ()
    has_status: bool = True
    update_in_place: Callable[[PersonalizeClient, str, Properties], None] | None = None
    ready: Callable[[PersonalizeClient, Properties, Description], Progress] = _always_ready
    busy: Callable[[Description], str | None] = _never_busy
    delete_refused: Callable[[PersonalizeClient, str, ClientError], Progress] = _wait_when_refused

    # --- the Personalize operations, derived from the stem ---------------------------------------------------

    @property
    def member(self) -> str:
        """The camelCase member naming the resource (``datasetGroup``)."""
        return self.api_noun[0].lower() + self.api_noun[1:]

    @property
    def arn_member(self) -> str:
        """The ARN member (``datasetGroupArn``) of requests and responses."""
        return f"{self.member}Arn"

    def describe(self, client: PersonalizeClient, arn: str) -> Description | None:
        """Return DescribeX's description of ``arn``, or ``None`` when Personalize does not know it."""
        try:
            response = getattr(client, f"describe_{_snake(self.api_noun)}")(**{self.arn_member: arn})
        except ClientError as error:
            if error_code(error) == RESOURCE_NOT_FOUND:
                return None
            raise
        description: Description = response[self.member]
        return description

    def create(self, client: PersonalizeClient, properties: Properties) -> str:
        """Call CreateX and return the new resource's ARN."""
        response = getattr(client, f"create_{_snake(self.api_noun)}")(**self.create_request(properties))
        return str(response[self.arn_member])

    def delete(self, client: PersonalizeClient, arn: str) -> None:
        """Call DeleteX (asynchronous for everything but schemas)."""
        getattr(client, f"delete_{_snake(self.api_noun)}")(**{self.arn_member: arn})

    def summaries(self, client: PersonalizeClient, **filters: str) -> Iterator[Description]:
        """Yield ListX's summaries (every page)."""
        paginator = client.get_paginator(f"list_{_snake(self.api_noun)}s")  # type: ignore[call-overload]
        for page in paginator.paginate(**filters):
            yield from page.get(f"{self.member}s", [])

    def find(self, client: PersonalizeClient, properties: Properties) -> str | None:
        """Return the ARN of the existing resource the properties describe (describe-before-create), or ``None``."""
        try:
            for summary in self.summaries(client, **self.list_filter(properties)):
                if self.matches(summary, properties):
                    return str(summary[self.arn_member])
        except ClientError as error:
            # Listing the datasets of a group that does not exist: nothing to adopt; CreateX will say why.
            if error_code(error) != RESOURCE_NOT_FOUND:
                raise
        return None


# --------------------------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------------------------


def _schema_name(properties: Properties) -> str:
    return schemas.schema_name(properties["Name"], properties["Schema"], properties.get("Domain"))


def _schema_request(properties: Properties) -> dict[str, str]:
    request = {"name": _schema_name(properties), "schema": properties["Schema"]}
    if properties.get("Domain"):
        request["domain"] = properties["Domain"]
    return request


def _schema_canonical(properties: Properties) -> dict[str, str]:
    return {**properties, "Schema": schemas.canonical(properties["Schema"])}


def _schema_differences(properties: Properties, description: Description) -> list[str]:
    problems = []
    if schemas.canonical(str(description.get("schema", "{}"))) != schemas.canonical(properties["Schema"]):
        problems.append("its schema document differs")
    if (description.get("domain") or None) != (properties.get("Domain") or None):
        problems.append(f"its domain is {description.get('domain') or 'none'}")
    return problems


def _schema_attributes(description: Description) -> dict[str, str]:
    return {"Arn": str(description["schemaArn"]), "Name": str(description["name"])}


def _deleting_user(client: PersonalizeClient, schema_arn: str) -> str | None:
    """Return a dataset being deleted that uses ``schema_arn`` (the first found), or ``None``.

    Schemas are account-level, so any group's dataset may use one; a dataset summary does not name its schema, so
    each dataset being deleted is described (usually a few: those of a stack being deleted). One that does not use
    the schema, such as another group's being deleted at the same time, is no reason to wait.
    """
    for summary in DATASET.summaries(client):
        if not is_deleting(summary.get("status")):
            continue
        description = DATASET.describe(client, str(summary["datasetArn"]))
        # A dataset whose schema update is the latest still counts: Personalize may hold the schema for it.
        if description is not None and schema_arn in {
            description.get("schemaArn"),
            _latest_update(description).get("schemaArn"),
        }:
            return str(description["datasetArn"])
    return None


def _schema_delete_refused(client: PersonalizeClient, arn: str, error: ClientError) -> Progress:
    # DeleteSchema is refused while a dataset uses the schema. A dataset that is being deleted will stop using
    # it: wait. A dataset that is not (one retained when the stack was deleted, or one outside the stack) keeps
    # using it, and a schema in use cannot be deleted at all: leave it, rather than fail the stack.
    user = _deleting_user(client, arn)
    if user is not None:
        return waiting(f"schema {arn} is in use; waiting for dataset {user} to be deleted")
    # None is being deleted: either the last user went away since the refusal (try once more), or a dataset that
    # stays uses the schema.
    try:
        SCHEMA.delete(client, arn)
    except ClientError as again:
        if error_code(again) == RESOURCE_NOT_FOUND:
            return DONE
        if error_code(again) != RESOURCE_IN_USE:
            raise
        reason = error_message(again)
        logger.warning("Schema %s left in place, a dataset that is not being deleted uses it: %s", arn, reason)
        return Progress(done=True, waiting_for=f"schema {arn} left in place: {reason}")
    return DONE


SCHEMA: Final = ResourceType(
    cfn_type="Custom::PersonalizeSchema",
    noun="schema",
    api_noun="Schema",
    required=("Name", "Schema"),
    optional=("Domain",),
    # The name is derived from the document: any change is a new schema (schemas are immutable).
    replace_on=("Name", "Schema", "Domain"),
    name=_schema_name,
    create_request=_schema_request,
    list_filter=lambda properties: {},
    matches=lambda summary, properties: summary.get("name") == _schema_name(properties),
    differences=_schema_differences,
    attributes=_schema_attributes,
    canonical=_schema_canonical,
    has_status=False,
    delete_refused=_schema_delete_refused,
)


# --------------------------------------------------------------------------------------------------------------
# Dataset groups
# --------------------------------------------------------------------------------------------------------------

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
    cfn_type="Custom::PersonalizeDatasetGroup",
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


# --------------------------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------------------------


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


def _latest_update(description: Description) -> Mapping[str, Any]:
    latest: Mapping[str, Any] = description.get("latestDatasetUpdate") or {}
    return latest


def _dataset_differences(properties: Properties, description: Description) -> list[str]:
    problems = []
    if description.get("name") != properties["Name"]:
        problems.append(f"it is named {description.get('name')}")
    schema_arns = {description.get("schemaArn"), _latest_update(description).get("schemaArn")}
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
    if desired_arn in (current_arn, _latest_update(description).get("schemaArn")):
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
    latest = _latest_update(description)
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
    status = _latest_update(description).get("status")
    return f"its schema update is {status}" if status in IN_PROGRESS else None


DATASET: Final = ResourceType(
    cfn_type="Custom::PersonalizeDataset",
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


# --------------------------------------------------------------------------------------------------------------
# Event trackers
# --------------------------------------------------------------------------------------------------------------


EVENT_TRACKER: Final = ResourceType(
    cfn_type="Custom::PersonalizeEventTracker",
    noun="event tracker",
    api_noun="EventTracker",
    required=("Name", "DatasetGroupArn"),
    optional=(),
    replace_on=("Name", "DatasetGroupArn"),
    # "Only one event tracker can be associated with a dataset group" (API_CreateEventTracker.html).
    slot=("DatasetGroupArn",),
    name=lambda properties: properties["Name"],
    create_request=lambda properties: {"name": properties["Name"], "datasetGroupArn": properties["DatasetGroupArn"]},
    list_filter=lambda properties: {"datasetGroupArn": properties["DatasetGroupArn"]},
    # By name, not "the group's one tracker": an Action interactions dataset comes with a tracker Personalize makes
    # for it (action-interaction-tracker-id.html), and whether ListEventTrackers shows that one is undocumented;
    # it must never be adopted as ours. Another tracker of the group makes CreateEventTracker fail, with its reason.
    matches=lambda summary, properties: summary.get("name") == properties["Name"],
    # A tracker has no settings besides its name and group, which are what found it.
    differences=lambda properties, description: [],
    attributes=lambda description: {
        "Arn": str(description["eventTrackerArn"]),
        "Name": str(description["name"]),
        "TrackingId": str(description["trackingId"]),
    },
)


RESOURCE_TYPES: Final[Mapping[str, ResourceType]] = {
    resource_type.cfn_type: resource_type for resource_type in (SCHEMA, DATASET_GROUP, DATASET, EVENT_TRACKER)
}
