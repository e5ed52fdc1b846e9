"""The custom resource lifecycle, written once over the table of resource types.

The CDK Provider framework calls :func:`on_event` once per CloudFormation request, then :func:`is_complete` every
query interval until it answers ``IsComplete: true`` or raises (https://docs.aws.amazon.com/cdk/api/v2/docs/
aws-cdk-lib.custom_resources-readme.html#asynchronous-providers-iscomplete). So ``on_event`` only *starts* an
operation and returns at once; the waiting for Personalize's minutes-long status changes happens between polls,
never in a sleeping Lambda.

One module per operation, each step written once over the table of resource types (``resources.types``):

- ``resources.create``: describe before create (a create retried after a crash adopts what it made); an existing
  resource with other settings fails with a message; one left CREATE FAILED (or being deleted) is waited out of
  the way and made again; CREATE FAILED fails with Personalize's failureReason.
- ``resources.update``: unchanged properties are a no-op; a dataset's schema changes in place where Personalize
  allows it; what it cannot change in place is created anew under a new physical id, and CloudFormation deletes
  the old resource afterwards; a change that can do neither is refused before anything is touched. A resource
  that already is what the properties describe is a no-op too: that is how CloudFormation's rollback of a refused
  update (the same Update, properties swapped) succeeds. Old properties are only compared, never enforced.
- ``resources.delete``: every step is is_complete's, so a throttled, failing or unreachable endpoint only means
  another poll; describe first; gone counts as done; a resource still settling or already being deleted is waited
  for; a refused delete (children still being deleted, a schema still in use) is retried on the next poll.
- ``resources.settle``: whether a created or updated resource is ACTIVE and done; ``resources.request`` parses
  the request.
- ``resources.tags``: the dataset group's, datasets' and event tracker's tags. CreateX is given them, an update
  changes them in place (TagResource, UntagResource), an adopted resource is given them; they never replace a
  resource. Schemas take none.

Both functions take the ``personalize`` client as an argument, so tests and ``local/`` hand in a client pointed at
the emulator.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from resources.create import Leftover, Started, create, recreated
from resources.delete import delete_step
from resources.errors import ProvisioningError, error_message, is_transient
from resources.request import Request
from resources.settle import settled
from resources.types.base import waiting
from resources.update import update

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
else:
    PersonalizeClient = Any

logger = logging.getLogger(__name__)

# on_event's answer carries the request's start time to is_complete: the Provider framework passes every key
# on_event returns on to is_complete, and the start time lets is_complete give up with a message that says what
# it was waiting for, instead of the framework's bare "Operation timed out".
STARTED_AT: Final = "PersonalizeStartedAt"
# Also carried to is_complete: whether on_event created (or adopted) the resource under a new physical id. Only
# then may a describe that finds nothing mean "not visible yet"; after a no-op or in-place update it means the
# resource was deleted outside the stack, which waiting would only turn into a timeout an hour later.
NEW_PHYSICAL_ID: Final = "PersonalizeNewPhysicalId"
# Also carried to is_complete: the resource describe-before-create found CREATE FAILED (or being deleted), whose
# deletion on_event requested. is_complete waits for it to be gone, creates the resource, and waits for that.
LEFTOVER: Final = "PersonalizeLeftover"
# Also carried to is_complete: the physical id an Update replaced. The framework's event to is_complete carries
# on_event's new physical id in its place, and a failure message should name the resource CloudFormation keeps.
REPLACES: Final = "PersonalizeReplaces"

Clock = Callable[[], float]


# --------------------------------------------------------------------------------------------------------------
# on_event: start the operation
# --------------------------------------------------------------------------------------------------------------


def on_event(event: Mapping[str, Any], client: PersonalizeClient, *, clock: Clock = time.time) -> dict[str, Any]:
    """Start a Create or Update (a Delete starts in ``is_complete``) and return the physical id for it to wait on.

    Parameters
    ----------
    event
        The custom resource event (``RequestType``, ``ResourceType``, ``ResourceProperties``...).
    client
        A boto3 ``personalize`` client.
    clock
        Wall-clock seconds, recorded as the request's start.

    Returns
    -------
    dict
        ``PhysicalResourceId`` (a new one when an update replaces the resource) and the start time.

    Raises
    ------
    ProvisioningError
        The request cannot succeed; the message says why and what to do.
    """
    request = Request.parse(event)
    started = clock()
    logger.info(
        "%s %s %s (%s)",
        request.request_type,
        request.resource_type.cfn_type,
        event.get("LogicalResourceId"),
        request.physical_id or "new",
    )
    if request.request_type == "Create":
        result = create(client, request.resource_type, request.properties, request.tags)
    elif request.request_type == "Update":
        result = update(client, request)
    else:
        # A Delete makes no call here: its first step is is_complete's, which the framework calls at once. There a
        # throttled, failing or unreachable endpoint means "ask again on the next poll"; raised from here, it would
        # fail the stack's deletion (or a rollback's cleanup) at once, with no retry.
        result = Started(request.arn)
    answer = {"PhysicalResourceId": result.arn, STARTED_AT: started, NEW_PHYSICAL_ID: result.arn != request.physical_id}
    if request.request_type == "Update" and result.arn != request.physical_id:
        answer[REPLACES] = request.physical_id
    if result.leftover is not None:
        answer[LEFTOVER] = result.leftover.to_event()
    return answer


# --------------------------------------------------------------------------------------------------------------
# is_complete: poll until done
# --------------------------------------------------------------------------------------------------------------


def is_complete(
    event: Mapping[str, Any],
    client: PersonalizeClient,
    *,
    give_up_after: float | None = None,
    clock: Clock = time.time,
) -> dict[str, Any]:
    """Report whether the operation ``on_event`` started is done; raise when it cannot succeed.

    Parameters
    ----------
    event
        The custom resource event plus what ``on_event`` returned (``PhysicalResourceId``, start time).
    client
        A boto3 ``personalize`` client.
    give_up_after
        Seconds after the start to give up with a message naming what is still awaited; ``None`` leaves the
        limit to the Provider framework's total timeout.
    clock
        Wall-clock seconds.

    Returns
    -------
    dict
        ``{"IsComplete": False}``, or ``{"IsComplete": True, "Data": {...attributes}}``.

    Raises
    ------
    ProvisioningError
        CREATE FAILED (with Personalize's failureReason), a delete Personalize will not do, or the wait gave up.
    """
    request = Request.parse(event)
    physical_id = request.arn
    leftover = Leftover.from_event(event.get(LEFTOVER))
    replaces = str(event[REPLACES]) if event.get(REPLACES) else None
    try:
        if request.request_type == "Delete":
            progress = delete_step(client, request.resource_type, request.arn)
        elif leftover is not None:
            physical_id, progress = recreated(client, request, leftover, replaces=replaces)
        else:
            # An event without the marker (from an older on_event) is treated as new: it may wait, never fail early.
            progress = settled(client, request, new=bool(event.get(NEW_PHYSICAL_ID, True)), replaces=replaces)
    except ClientError as error:
        if not is_transient(error):
            raise
        # A rate limit or an outage outlasting botocore's own retries: ask again on the next poll.
        progress = waiting(f"{request.resource_type.noun} {request.arn}: {error_message(error)}")
    except (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError) as error:
        progress = waiting(f"{request.resource_type.noun} {request.arn}: {error}")
    if progress.done:
        if progress.waiting_for:
            logger.info("%s", progress.waiting_for)
        answer: dict[str, Any] = {"IsComplete": True}
        if physical_id != request.arn:
            # An event tracker made again in place of a leftover has an ARN on_event could not know. The framework
            # sends CloudFormation its event overlaid with this answer, so the physical id here is the one recorded
            # (aws-cdk-lib custom-resources/lib/provider-framework/runtime/framework.ts, isComplete).
            answer["PhysicalResourceId"] = physical_id
        if progress.data:
            answer["Data"] = dict(progress.data)
        return answer
    started = event.get(STARTED_AT)
    if give_up_after is not None and isinstance(started, int | float) and clock() - started > give_up_after:
        raise ProvisioningError(f"Gave up after {round((clock() - started) / 60)} minutes: {progress.waiting_for}")
    logger.info("Waiting: %s", progress.waiting_for)
    return {"IsComplete": False}
