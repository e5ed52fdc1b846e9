"""The custom resource lifecycle, written once over the table of resource types.

The CDK Provider framework calls :func:`on_event` once per CloudFormation request, then :func:`is_complete` every
query interval until it answers ``IsComplete: true`` or raises (https://docs.aws.amazon.com/cdk/api/v2/docs/
aws-cdk-lib.custom_resources-readme.html#asynchronous-providers-iscomplete). So ``on_event`` only *starts* an
operation and returns at once; the waiting for Personalize's minutes-long status changes happens between polls,
never in a sleeping Lambda.

- Create: describe before create (a create retried after a crash adopts what it made); an existing resource with
  other settings fails with a message; CREATE FAILED fails with Personalize's failureReason.
- Update: unchanged properties are a no-op; a dataset's schema changes in place where Personalize allows it;
  what it cannot change in place is created anew under a new physical id, and CloudFormation deletes the old
  resource afterwards; a change that can do neither is refused before anything is touched.
- Delete: describe first; gone counts as done; a resource still settling or already being deleted is waited
  for; a refused delete (children still being deleted, a schema still in use) is retried on the next poll.

Both functions take the ``personalize`` client as an argument, so tests and ``local/`` hand in a client pointed at
the emulator.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from resources.errors import (
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_IN_USE,
    RESOURCE_NOT_FOUND,
    ProvisioningError,
    error_code,
    error_message,
    is_transient,
)
from resources.resource_types import (
    ACTIVE,
    CREATE_FAILED,
    DELETABLE,
    DONE,
    RESOURCE_TYPES,
    Progress,
    Properties,
    ResourceType,
    is_deleting,
    waiting,
)

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
else:
    PersonalizeClient = Any

logger = logging.getLogger(__name__)

# Properties CloudFormation and the CDK add to every custom resource; they are not the resource's own.
FRAMEWORK_PROPERTIES: Final = frozenset({"ServiceToken", "ServiceTimeout"})
# on_event's answer carries the request's start time to is_complete: the Provider framework passes every key
# on_event returns on to is_complete, and the start time lets is_complete give up with a message that says what
# it was waiting for, instead of the framework's bare "Operation timed out".
STARTED_AT: Final = "PersonalizeStartedAt"
# Also carried to is_complete: whether on_event created (or adopted) the resource under a new physical id. Only
# then may a describe that finds nothing mean "not visible yet"; after a no-op or in-place update it means the
# resource was deleted outside the stack, which waiting would only turn into a timeout an hour later.
NEW_PHYSICAL_ID: Final = "PersonalizeNewPhysicalId"

Clock = Callable[[], float]


@dataclass(frozen=True)
class Request:
    """One CloudFormation custom resource request, parsed.

    Parameters
    ----------
    request_type
        ``Create``, ``Update`` or ``Delete``.
    resource_type
        The row of the resource type table the request is about.
    physical_id
        The resource's ARN (``None`` on Create).
    properties, old_properties
        The resource's properties, and before an update its previous ones (``None`` otherwise). Not parsed on
        Delete: a delete needs the ARN only, and must not fail on properties that no longer validate.
    """

    request_type: str
    resource_type: ResourceType
    physical_id: str | None
    properties: Properties
    old_properties: Properties | None

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> Request:
        """Parse a custom resource event (and what ``on_event`` added to it).

        Raises
        ------
        ProvisioningError
            Unknown request or resource type, or missing, unknown or non-string properties.
        """
        request_type = str(event.get("RequestType"))
        if request_type not in {"Create", "Update", "Delete"}:
            raise ProvisioningError(f"Unknown RequestType {request_type!r}")
        resource_type = RESOURCE_TYPES.get(str(event.get("ResourceType")))
        if resource_type is None:
            raise ProvisioningError(
                f"Unknown ResourceType {event.get('ResourceType')!r}; this provider serves {', '.join(RESOURCE_TYPES)}"
            )
        physical_id = event.get("PhysicalResourceId")
        if request_type == "Delete":
            return cls(request_type, resource_type, physical_id, {}, None)
        properties = _properties(resource_type, event.get("ResourceProperties") or {})
        old_properties = None
        if request_type == "Update":
            if not isinstance(event.get("OldResourceProperties"), Mapping) or not physical_id:
                raise ProvisioningError("An Update request needs OldResourceProperties and a PhysicalResourceId")
            old_properties = _properties(resource_type, event["OldResourceProperties"])
        return cls(request_type, resource_type, physical_id, properties, old_properties)

    @property
    def arn(self) -> str:
        """The physical id, which is the resource's ARN once created."""
        return str(self.physical_id or "")


def _properties(resource_type: ResourceType, raw: Mapping[str, Any]) -> dict[str, str]:
    """Check the properties of ``resource_type``; empty optional values count as absent."""
    given = {key: value for key, value in raw.items() if key not in FRAMEWORK_PROPERTIES}
    unknown = sorted(set(given) - set(resource_type.required) - set(resource_type.optional))
    if unknown:
        known = ", ".join((*resource_type.required, *resource_type.optional))
        raise ProvisioningError(f"{resource_type.cfn_type}: unknown properties {', '.join(unknown)}; known: {known}")
    not_strings = sorted(key for key, value in given.items() if not isinstance(value, str))
    if not_strings:
        raise ProvisioningError(f"{resource_type.cfn_type}: properties {', '.join(not_strings)} must be strings")
    missing = [key for key in resource_type.required if not given.get(key)]
    if missing:
        raise ProvisioningError(f"{resource_type.cfn_type}: missing required properties {', '.join(missing)}")
    properties = {key: value for key, value in given.items() if value}
    resource_type.canonical(properties)  # validates (a schema document that is not JSON, an unknown type...)
    return properties


# --------------------------------------------------------------------------------------------------------------
# on_event: start the operation
# --------------------------------------------------------------------------------------------------------------


def on_event(event: Mapping[str, Any], client: PersonalizeClient, *, clock: Clock = time.time) -> dict[str, Any]:
    """Start a Create, Update or Delete and return the physical id (the ARN) for ``is_complete`` to wait on.

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
        arn = _create(client, request.resource_type, request.properties)
    elif request.request_type == "Update":
        arn = _update(client, request)
    else:
        arn = request.arn
        _delete_step(client, request.resource_type, arn)
    return {"PhysicalResourceId": arn, STARTED_AT: started, NEW_PHYSICAL_ID: arn != request.physical_id}


def _create(client: PersonalizeClient, resource_type: ResourceType, properties: Properties) -> str:
    """Adopt the resource the properties describe if it exists (a retried create), or create it."""
    name = resource_type.name(properties)
    existing = resource_type.find(client, properties)
    description = resource_type.describe(client, existing) if existing else None
    if existing and description is not None:
        problems = resource_type.differences(properties, description)
        status = description.get("status")
        if is_deleting(status):
            problems.append(f"it is being deleted ({status})")
        if problems:
            raise ProvisioningError(
                f"Cannot create {resource_type.noun} {name}: {existing} already exists and {'; '.join(problems)}. "
                f"It was not made by this request: delete it, or choose another name."
            )
        logger.info("Adopting the existing %s %s (a retried create)", resource_type.noun, existing)
        return existing
    try:
        arn = resource_type.create(client, properties)
    except ClientError as error:
        if error_code(error) in {RESOURCE_ALREADY_EXISTS, RESOURCE_IN_USE, RESOURCE_NOT_FOUND}:
            raise ProvisioningError(f"Cannot create {resource_type.noun} {name}: {error_message(error)}") from None
        raise
    logger.info("Created %s %s", resource_type.noun, arn)
    return arn


def _update(client: PersonalizeClient, request: Request) -> str:
    """Apply an update: nothing, in place, or a replacement under a new physical id."""
    resource_type, arn = request.resource_type, request.arn
    old = resource_type.canonical(request.old_properties or request.properties)
    new = resource_type.canonical(request.properties)
    changed = sorted(key for key in {*old, *new} if old.get(key) != new.get(key))
    if not changed:
        logger.info("No change to %s %s", resource_type.noun, arn)
        return arn
    replaced = [key for key in changed if key in resource_type.replace_on]
    if replaced:
        _check_replaceable(resource_type, request.old_properties or {}, request.properties, replaced)
        # A new physical id: CloudFormation deletes the old resource once everything that refers to it has moved.
        return _create(client, resource_type, request.properties)
    if resource_type.update_in_place is None:  # pragma: no cover - every property is in replace_on or in_place
        raise ProvisioningError(f"{resource_type.noun} {arn}: {', '.join(changed)} cannot change")
    resource_type.update_in_place(client, arn, request.properties)
    return arn


def _check_replaceable(resource_type: ResourceType, old: Properties, new: Properties, changed: list[str]) -> None:
    """Refuse a replacement that Personalize could not create next to the resource it replaces."""
    what = f"Changing {', '.join(changed)} of {resource_type.noun} {resource_type.name(old)}"
    if resource_type.name(old) == resource_type.name(new):
        raise ProvisioningError(
            f"{what} needs a new {resource_type.noun} (Personalize cannot change it in place), and the new one needs a "
            "new name: names are unique per account and Region. Change the name as well (for a dataset group, "
            "datasetGroup.name; datasets and the event tracker are named after it). Nothing was changed."
        )
    if resource_type.slot and all(old.get(key) == new.get(key) for key in resource_type.slot):
        raise ProvisioningError(
            f"{what} needs a new {resource_type.noun}, but a dataset group holds one {resource_type.noun} per "
            f"{' and '.join(resource_type.slot)}: the new one cannot exist next to the old one. Give the dataset group "
            "a new name to provision a new group instead. Nothing was changed."
        )


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
    try:
        if request.request_type == "Delete":
            progress = _delete_step(client, request.resource_type, request.arn)
        else:
            # An event without the marker (from an older on_event) is treated as new: it may wait, never fail early.
            progress = _settled(client, request, new=bool(event.get(NEW_PHYSICAL_ID, True)))
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
        return {"IsComplete": True, "Data": dict(progress.data)} if progress.data else {"IsComplete": True}
    started = event.get(STARTED_AT)
    if give_up_after is not None and isinstance(started, int | float) and clock() - started > give_up_after:
        raise ProvisioningError(f"Gave up after {round((clock() - started) / 60)} minutes: {progress.waiting_for}")
    logger.info("Waiting: %s", progress.waiting_for)
    return {"IsComplete": False}


def _settled(client: PersonalizeClient, request: Request, *, new: bool) -> Progress:
    """Whether a created or updated resource is ACTIVE (and done updating); its attributes once it is.

    ``new`` says whether ``on_event`` created or adopted the resource under a new physical id, rather than
    updating the existing one in place (or not at all).
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
    status = description.get("status")
    if status == CREATE_FAILED:
        reason = description.get("failureReason") or "Personalize gave no failureReason"
        raise ProvisioningError(f"{resource_type.noun.capitalize()} {arn} is CREATE FAILED: {reason}")
    if is_deleting(status):
        raise ProvisioningError(f"{resource_type.noun.capitalize()} {arn} is being deleted ({status}) by someone else")
    if resource_type.has_status and status != ACTIVE:
        return waiting(f"{resource_type.noun} {arn} is {status}")
    progress = resource_type.ready(client, request.properties, description)
    if progress.done and not progress.data:
        return Progress(done=True, data=resource_type.attributes(description))
    return progress


def _delete_step(client: PersonalizeClient, resource_type: ResourceType, arn: str) -> Progress:
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
