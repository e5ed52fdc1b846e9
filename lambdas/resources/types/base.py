"""What every custom resource type has in common: :class:`ResourceType`, the row of the table, and the statuses.

Everything that differs between a schema, a dataset group, a dataset and an event tracker is a column of
:class:`ResourceType`: the CloudFormation type name, the Personalize operation stem (``Schema`` gives CreateSchema,
DescribeSchema, ListSchemas, DeleteSchema and their ``schemaArn`` members), the properties, which property changes
need a new resource, how an existing resource is found before a create, when it counts as ready, and what to do
when Personalize refuses to delete it. The rows are the other modules of this package.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from resources.errors import RESOURCE_NOT_FOUND, error_code, error_message
from resources.tags import Tags, tag_list

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
else:
    PersonalizeClient = Any

Properties = Mapping[str, str]
Description = Mapping[str, Any]

# Statuses (API_DescribeDataset.html and the other Describe* pages).
ACTIVE: Final = "ACTIVE"
CREATE_FAILED: Final = "CREATE FAILED"
IN_PROGRESS: Final = frozenset({"CREATE PENDING", "CREATE IN_PROGRESS"})
# "You can delete a resource only when it is ACTIVE or CREATE FAILED" (docs/personalize.md §3).
DELETABLE: Final = frozenset({ACTIVE, CREATE_FAILED})


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
    taggable
        Whether Personalize tags the resource (CreateX takes ``tags``; TagResource accepts its ARN). Schemas are not.
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
    taggable: bool = True
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

    def create(self, client: PersonalizeClient, properties: Properties, tags: Tags | None = None) -> str:
        """Call CreateX (with ``tags``, for a taggable type) and return the new resource's ARN."""
        request: dict[str, Any] = self.create_request(properties)
        if tags and self.taggable:
            request["tags"] = tag_list(tags)
        response = getattr(client, f"create_{_snake(self.api_noun)}")(**request)
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
