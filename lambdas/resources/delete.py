"""Delete: one step per call, each idempotent, so a throttled or refused step only means another poll.

Describe first; gone counts as done; a resource still settling or already being deleted is waited for; a refused
delete (children still being deleted, a schema still in use) is the resource type's to judge (``delete_refused``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from resources.errors import RESOURCE_IN_USE, RESOURCE_NOT_FOUND, error_code, error_message
from resources.types.base import DELETABLE, DONE, Progress, ResourceType, is_deleting, waiting

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
else:
    PersonalizeClient = Any

logger = logging.getLogger(__name__)


def delete_step(client: PersonalizeClient, resource_type: ResourceType, arn: str) -> Progress:
    """Move a delete one step on; called by ``on_event`` and by every poll, so each step is idempotent."""
    if not arn.startswith("arn:"):
        # Nothing was ever created under this id (the Provider framework's marker for a failed create).
        return DONE
    description = resource_type.describe(client, arn)
    if description is None:
        return DONE
    status = description.get("status")
    if is_deleting(status):
        # Already on its way, by us on an earlier poll or by someone else: wait, never delete twice.
        return waiting(f"{resource_type.noun} {arn} is {status}")
    if resource_type.has_status and status not in DELETABLE:
        return waiting(f"{resource_type.noun} {arn} is {status}; it can be deleted once ACTIVE or CREATE FAILED")
    busy = resource_type.busy(description)
    if busy:
        return waiting(f"{resource_type.noun} {arn}: {busy}")
    try:
        resource_type.delete(client, arn)
    except ClientError as error:
        if error_code(error) == RESOURCE_NOT_FOUND:
            return DONE
        if error_code(error) == RESOURCE_IN_USE:
            return resource_type.delete_refused(client, arn, error)
        raise
    logger.info("Deletion of %s %s requested", resource_type.noun, arn)
    # Schemas go at once; everything else is deleted asynchronously: poll until DescribeX answers not found.
    return waiting(f"{resource_type.noun} {arn}: deletion requested") if resource_type.has_status else DONE


def delete_unrecorded(client: PersonalizeClient, resource_type: ResourceType, arn: str, why: str) -> str:
    """Request the deletion of a CREATE FAILED resource CloudFormation will not delete; say so for the message.

    Left alone, it would block its dataset group's deletion during the rollback, and sit in the way of the next
    attempt. It holds no data: nothing can be written to a resource that never became ACTIVE. Best effort: the
    request fails either way, and describe-before-create clears whatever is left.
    """
    try:
        delete_step(client, resource_type, arn)
    except ClientError as error:
        logger.warning("Could not request the deletion of %s %s: %s", resource_type.noun, arn, error_message(error))
        return f". Its deletion failed ({error_message(error)}); it is deleted by the next attempt, or delete it"
    return f". Its deletion has been requested: {why}."
