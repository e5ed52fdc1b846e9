"""The schema row: ``Custom::PersonalizeSchema``, named after its document, deleted once no dataset uses it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from contract import SCHEMA_RESOURCE_TYPE
from resources import schemas
from resources.errors import RESOURCE_IN_USE, RESOURCE_NOT_FOUND, error_code, error_message
from resources.types.base import DONE, Description, Progress, Properties, ResourceType, is_deleting, waiting
from resources.types.dataset import DATASET, latest_update

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
else:
    PersonalizeClient = Any

logger = logging.getLogger(__name__)


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
            latest_update(description).get("schemaArn"),
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
    cfn_type=SCHEMA_RESOURCE_TYPE,
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
    # CreateSchema takes no tags, and schemas are not among Personalize's taggable resources (docs/personalize.md §3).
    taggable=False,
    delete_refused=_schema_delete_refused,
)
