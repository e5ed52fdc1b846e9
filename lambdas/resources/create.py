"""Create: adopt what a retried create already made, create what is missing, and clear a failed leftover first.

Describe before create (a create retried after a crash adopts what it made); an existing resource with other
settings fails with a message; one left CREATE FAILED (or being deleted) is waited out of the way and made again
(:func:`recreated`, one step per poll); CREATE FAILED fails with Personalize's failureReason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from resources.delete import delete_step
from resources.errors import (
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_IN_USE,
    RESOURCE_NOT_FOUND,
    ProvisioningError,
    error_code,
    error_message,
)
from resources.request import Request
from resources.settle import settle
from resources.tags import Tags, adopt_tags
from resources.types.base import CREATE_FAILED, Description, Progress, Properties, ResourceType, is_deleting, waiting

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
else:
    PersonalizeClient = Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """What ``on_event`` started: the physical id, and the leftover to wait out of the way first, if any.

    Parameters
    ----------
    arn
        The physical id answered to CloudFormation.
    leftover
        The resource describe-before-create found CREATE FAILED or being deleted, as carried to ``is_complete``.
    """

    arn: str
    leftover: Leftover | None = None


@dataclass(frozen=True)
class Leftover:
    """A resource of the requested name left CREATE FAILED (or being deleted) by an earlier attempt.

    Parameters
    ----------
    arn
        Its ARN. A dataset group's and a dataset's are made of their names, so the resource created in its place
        has the same ARN; an event tracker's carries a generated id, so its successor's differs.
    created_at
        Its creationDateTime, as text: with the ARN, it tells the leftover from its successor of the same ARN.
    """

    arn: str
    created_at: str

    @classmethod
    def of(cls, arn: str, description: Description) -> Leftover:
        """The leftover ``arn``, as DescribeX described it."""
        return cls(arn, str(description.get("creationDateTime")))

    @classmethod
    def from_event(cls, value: object) -> Leftover | None:
        """The leftover ``on_event`` carried to ``is_complete`` (``None`` when there is none)."""
        if not isinstance(value, Mapping) or not value.get("arn"):
            return None
        return cls(str(value["arn"]), str(value.get("createdAt")))

    def to_event(self) -> dict[str, str]:
        """The JSON the Provider framework carries from ``on_event`` to every ``is_complete`` poll."""
        return {"arn": self.arn, "createdAt": self.created_at}

    def same_as(self, arn: str, description: Description) -> bool:
        """Whether ``arn``, as described, is this leftover rather than a resource created after it."""
        return arn == self.arn and str(description.get("creationDateTime")) == self.created_at


def create(
    client: PersonalizeClient, resource_type: ResourceType, properties: Properties, tags: Tags | None = None
) -> Started:
    """Adopt the resource the properties describe if it exists (a retried create), or create it, with ``tags``.

    An adopted resource is given the tags with TagResource (see :func:`resources.tags.adopt_tags`).

    One found CREATE FAILED, or being deleted, with the requested settings is not adopted: adopting it would fail
    every deployment with its old failureReason (a failed replacement CloudFormation never deletes, see
    :func:`settled`, or a create whose rollback never ran). Its deletion is requested (it holds no data: nothing
    can be written to a resource that never became ACTIVE), and ``is_complete`` creates the resource once it is
    gone. One with other settings was not made by this stack: it is reported, never deleted.
    """
    name = resource_type.name(properties)
    existing = resource_type.find(client, properties)
    description = resource_type.describe(client, existing) if existing else None
    if existing and description is not None:
        problems = resource_type.differences(properties, description)
        status = description.get("status")
        if problems:
            if status == CREATE_FAILED or is_deleting(status):
                problems.append(f"it is {status}")
            raise ProvisioningError(
                f"Cannot create {resource_type.noun} {name}: {existing} already exists and {'; '.join(problems)}. "
                f"It was not made by this request: delete it, or choose another name."
            )
        if status == CREATE_FAILED or is_deleting(status):
            return clear_leftover(client, resource_type, existing, description)
        logger.info("Adopting the existing %s %s (a retried create)", resource_type.noun, existing)
        if resource_type.taggable:
            adopt_tags(client, existing, tags or {})
        return Started(existing)
    try:
        arn = resource_type.create(client, properties, tags)
    except ClientError as error:
        raise create_refusal(resource_type, properties, error) from None
    logger.info("Created %s %s", resource_type.noun, arn)
    return Started(arn)


def create_refusal(resource_type: ResourceType, properties: Properties, error: ClientError) -> Exception:
    """Return what a refused CreateX raises: a message for a conflict, else the service's error as it came.

    The conflicts (a name taken, a group not ACTIVE or gone) are the user's to resolve, so they get a message that
    names the resource; anything else (a rate limit, a fault) keeps its code for the callers' retry rules.
    """
    if error_code(error) in {RESOURCE_ALREADY_EXISTS, RESOURCE_IN_USE, RESOURCE_NOT_FOUND}:
        return ProvisioningError(
            f"Cannot create {resource_type.noun} {resource_type.name(properties)}: {error_message(error)}"
        )
    return error


def clear_leftover(
    client: PersonalizeClient, resource_type: ResourceType, arn: str, description: Description
) -> Started:
    """Start deleting a CREATE FAILED leftover (one being deleted is only waited for); ``is_complete`` goes on."""
    status = description.get("status")
    if status == CREATE_FAILED:
        logger.warning(
            "%s %s is CREATE FAILED (%s), left by an earlier attempt: deleting it to create it again",
            resource_type.noun.capitalize(),
            arn,
            description.get("failureReason") or "no failureReason",
        )
    else:
        logger.info("%s %s is %s: it is created again once gone", resource_type.noun.capitalize(), arn, status)
    delete_step(client, resource_type, arn)
    return Started(arn, Leftover.of(arn, description))


def recreated(
    client: PersonalizeClient, request: Request, leftover: Leftover, *, replaces: str | None
) -> tuple[str, Progress]:
    """Move a create past a leftover one step on: wait for it to be gone, create the resource, wait for that.

    Returns the physical id (the new resource's ARN once it exists) and the progress. Each step is idempotent, as
    every poll runs it again with the same event.
    """
    resource_type = request.resource_type
    arn = resource_type.find(client, request.properties)
    description = resource_type.describe(client, arn) if arn else None
    if arn is None or description is None:
        try:
            created = resource_type.create(client, request.properties, request.tags)
        except ClientError as error:
            if error_code(error) == RESOURCE_ALREADY_EXISTS:
                # The leftover no longer listed but its name not free yet, or a create of an earlier poll not
                # listed yet (eventual consistency): either settles by a later poll.
                return leftover.arn, waiting(f"{resource_type.noun} {leftover.arn}: {error_message(error)}")
            raise create_refusal(resource_type, request.properties, error) from None
        logger.info("Created %s %s in place of %s", resource_type.noun, created, leftover.arn)
        return created, waiting(f"{resource_type.noun} {created} created in place of the leftover {leftover.arn}")
    status = description.get("status")
    if is_deleting(status) or leftover.same_as(arn, description):
        # Still the leftover: on its way out, or (if its deletion did not take) asked to go again.
        delete_step(client, resource_type, arn)
        return leftover.arn, waiting(f"{resource_type.noun} {arn} is {status}; it is created again once gone")
    return arn, settle(client, request, arn, description, replaces=replaces)
