"""Settle: whether a created or updated resource is ACTIVE and done with the request, and its attributes once it is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from resources.delete import delete_unrecorded
from resources.errors import ProvisioningError
from resources.request import Request
from resources.types.base import ACTIVE, CREATE_FAILED, Description, Progress, is_deleting, waiting

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
else:
    PersonalizeClient = Any


def settled(client: PersonalizeClient, request: Request, *, new: bool, replaces: str | None) -> Progress:
    """Whether a created or updated resource is ACTIVE (and done updating); its attributes once it is.

    ``new`` says whether ``on_event`` created or adopted the resource under a new physical id, rather than
    updating the existing one in place (or not at all); ``replaces`` is the physical id an Update replaced.
    """
    resource_type, arn = request.resource_type, request.arn
    description = resource_type.describe(client, arn)
    if description is None and new:
        # Right after a create, a describe may not see the resource yet (eventual consistency).
        return waiting(f"{resource_type.noun} {arn} is not found yet")
    if description is None:
        raise ProvisioningError(
            f"{resource_type.noun.capitalize()} {arn} does not exist any more: it was deleted outside this stack, so "
            "there is nothing to update. Remove it from the stack and deploy, then add it back (or give the dataset "
            "group a new name to provision a new group)."
        )
    return settle(client, request, arn, description, replaces=replaces)


def settle(
    client: PersonalizeClient, request: Request, arn: str, description: Description, *, replaces: str | None
) -> Progress:
    """Whether the resource ``arn`` (as described) is ACTIVE and done with the request; its attributes once it is.

    ``replaces`` is the physical id of the resource an Update replaces with ``arn`` (``None`` otherwise).
    """
    resource_type = request.resource_type
    status = description.get("status")
    if status == CREATE_FAILED:
        reason = description.get("failureReason") or "Personalize gave no failureReason"
        message = f"{resource_type.noun.capitalize()} {arn} is CREATE FAILED: {reason}"
        # CloudFormation deletes a failed resource by the physical id the failure is reported with, and only after a
        # Create: after a failed Update it keeps the old physical id, and an id is_complete found (a tracker made
        # again in place of a leftover) is never reported. Such a resource is deleted here, or nothing would.
        if replaces:
            message += delete_unrecorded(
                client,
                resource_type,
                arn,
                f"it was to replace {resource_type.noun} {replaces}, which CloudFormation keeps",
            )
        elif arn != request.arn:
            message += delete_unrecorded(client, resource_type, arn, "CloudFormation never learns its ARN")
        raise ProvisioningError(message)
    if is_deleting(status):
        raise ProvisioningError(f"{resource_type.noun.capitalize()} {arn} is being deleted ({status}) by someone else")
    if resource_type.has_status and status != ACTIVE:
        return waiting(f"{resource_type.noun} {arn} is {status}")
    progress = resource_type.ready(client, request.properties, description)
    if progress.done and not progress.data:
        return Progress(done=True, data=resource_type.attributes(description))
    return progress
