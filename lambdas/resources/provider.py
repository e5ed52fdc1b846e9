"""The custom resource lifecycle, written once over the table of resource types.

The CDK Provider framework calls :func:`on_event` once per CloudFormation request, then :func:`is_complete` every
query interval until it answers ``IsComplete: true`` or raises (https://docs.aws.amazon.com/cdk/api/v2/docs/
aws-cdk-lib.custom_resources-readme.html#asynchronous-providers-iscomplete). So ``on_event`` only *starts* an
operation and returns at once; the waiting for Personalize's minutes-long status changes happens between polls,
never in a sleeping Lambda.

- Create: describe before create (a create retried after a crash adopts what it made); an existing resource with
  other settings fails with a message; one left CREATE FAILED (or being deleted) is waited out of the way and made
  again; CREATE FAILED fails with Personalize's failureReason.
- Update: unchanged properties are a no-op; a dataset's schema changes in place where Personalize allows it;
  what it cannot change in place is created anew under a new physical id, and CloudFormation deletes the old
  resource afterwards; a change that can do neither is refused before anything is touched. A resource that already
  is what the properties describe is a no-op too: that is how CloudFormation's rollback of a refused update (the
  same Update, properties swapped) succeeds. Old properties are only compared, never enforced.
- Delete: every step is is_complete's, so a throttled, failing or unreachable endpoint only means another poll;
  describe first; gone counts as done; a resource still settling or already being deleted is waited for; a refused
  delete (children still being deleted, a schema still in use) is retried on the next poll.

Both functions take the ``personalize`` client as an argument, so tests and ``local/`` hand in a client pointed at
the emulator.
"""

from __future__ import annotations

import json
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
    Description,
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
# Also carried to is_complete: the resource describe-before-create found CREATE FAILED (or being deleted), whose
# deletion on_event requested. is_complete waits for it to be gone, creates the resource, and waits for that.
LEFTOVER: Final = "PersonalizeLeftover"
# Also carried to is_complete: the physical id an Update replaced. The framework's event to is_complete carries
# on_event's new physical id in its place, and a failure message should name the resource CloudFormation keeps.
REPLACES: Final = "PersonalizeReplaces"

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
        Delete: a delete needs the ARN only, and must not fail on properties that no longer validate. The old
        properties are read leniently (see :func:`_old_properties`).
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
            Unknown request or resource type, or missing, unknown or non-string properties (``OldResourceProperties``
            excepted).
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
            old_properties = _old_properties(resource_type, event["OldResourceProperties"])
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


def _old_properties(resource_type: ResourceType, raw: Mapping[str, Any]) -> dict[str, str]:
    """Read an Update's ``OldResourceProperties`` without validating them: they are only compared.

    When an update fails because its properties do not validate, CloudFormation rolls back with an Update whose
    ``OldResourceProperties`` are those very properties. Refusing them again would fail the rollback and leave the
    stack UPDATE_ROLLBACK_FAILED. So: unknown keys are dropped (the handler never acted on them), a value that is not
    a string is kept as its JSON text (it differs from any valid value, so it still counts as a change), and empty
    values count as absent, as in :func:`_properties`.
    """
    known = {*resource_type.required, *resource_type.optional}
    return {
        key: value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        for key, value in raw.items()
        if key in known and value not in (None, "")
    }


def _comparable(resource_type: ResourceType, properties: Properties) -> dict[str, str]:
    """The canonical form of ``properties``, or the properties as given when they do not validate (old ones)."""
    try:
        return resource_type.canonical(properties)
    except (ProvisioningError, KeyError):
        return dict(properties)


def _name_of(resource_type: ResourceType, properties: Properties) -> str | None:
    """The Personalize name ``properties`` give, or ``None`` when they do not validate (old ones)."""
    try:
        return resource_type.name(properties)
    except (ProvisioningError, KeyError):
        return None


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
        result = _create(client, request.resource_type, request.properties)
    elif request.request_type == "Update":
        result = _update(client, request)
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


def _create(client: PersonalizeClient, resource_type: ResourceType, properties: Properties) -> Started:
    """Adopt the resource the properties describe if it exists (a retried create), or create it.

    One found CREATE FAILED, or being deleted, with the requested settings is not adopted: adopting it would fail
    every deployment with its old failureReason (a failed replacement CloudFormation never deletes, see
    :func:`_settled`, or a create whose rollback never ran). Its deletion is requested (it holds no data: nothing
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
            return _clear_leftover(client, resource_type, existing, description)
        logger.info("Adopting the existing %s %s (a retried create)", resource_type.noun, existing)
        return Started(existing)
    try:
        arn = resource_type.create(client, properties)
    except ClientError as error:
        raise _create_refusal(resource_type, properties, error) from None
    logger.info("Created %s %s", resource_type.noun, arn)
    return Started(arn)


def _create_refusal(resource_type: ResourceType, properties: Properties, error: ClientError) -> Exception:
    """Return what a refused CreateX raises: a message for a conflict, else the service's error as it came.

    The conflicts (a name taken, a group not ACTIVE or gone) are the user's to resolve, so they get a message that
    names the resource; anything else (a rate limit, a fault) keeps its code for the callers' retry rules.
    """
    if error_code(error) in {RESOURCE_ALREADY_EXISTS, RESOURCE_IN_USE, RESOURCE_NOT_FOUND}:
        return ProvisioningError(
            f"Cannot create {resource_type.noun} {resource_type.name(properties)}: {error_message(error)}"
        )
    return error


def _clear_leftover(
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
    _delete_step(client, resource_type, arn)
    return Started(arn, Leftover.of(arn, description))


def _update(client: PersonalizeClient, request: Request) -> Started:
    """Apply an update: nothing, in place, or a replacement under a new physical id."""
    resource_type, arn = request.resource_type, request.arn
    old = _comparable(resource_type, request.old_properties or request.properties)
    new = resource_type.canonical(request.properties)
    changed = sorted(key for key in {*old, *new} if old.get(key) != new.get(key))
    if not changed:
        logger.info("No change to %s %s", resource_type.noun, arn)
        return Started(arn)
    replaced = [key for key in changed if key in resource_type.replace_on]
    if replaced:
        if _already_is(client, resource_type, arn, request.properties):
            # CloudFormation rolling back an update that failed (refused, or its new resource CREATE FAILED): the
            # Update comes back with the properties swapped and the same physical id, which was never changed.
            # Refusing again would leave the stack UPDATE_ROLLBACK_FAILED.
            logger.info("%s %s already is as requested (a rollback): no change", resource_type.noun.capitalize(), arn)
            return Started(arn)
        _check_replaceable(resource_type, arn, request.old_properties or {}, request.properties, replaced)
        # A new physical id: CloudFormation deletes the old resource once everything that refers to it has moved.
        return _create(client, resource_type, request.properties)
    if resource_type.update_in_place is None:  # pragma: no cover - every property is in replace_on or in_place
        raise ProvisioningError(f"{resource_type.noun} {arn}: {', '.join(changed)} cannot change")
    resource_type.update_in_place(client, arn, request.properties)
    return Started(arn)


def _already_is(client: PersonalizeClient, resource_type: ResourceType, arn: str, properties: Properties) -> bool:
    """Whether the live resource ``arn`` already is the one ``properties`` describe (its identity and settings)."""
    description = resource_type.describe(client, arn) if arn.startswith("arn:") else None
    if description is None or is_deleting(description.get("status")):
        return False
    # The identity describe-before-create looks a resource up by (its group; its name or dataset type), then the
    # settings it must have: together, everything a replacement could change.
    identity = resource_type.list_filter(properties)
    return (
        all(description.get(member) == value for member, value in identity.items())
        and resource_type.matches(description, properties)
        and not resource_type.differences(properties, description)
    )


def _check_replaceable(
    resource_type: ResourceType, arn: str, old: Properties, new: Properties, changed: list[str]
) -> None:
    """Refuse a replacement that Personalize could not create next to the resource it replaces."""
    old_name = _name_of(resource_type, old)
    what = f"Changing {', '.join(changed)} of {resource_type.noun} {old_name or arn}"
    if old_name == resource_type.name(new):
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
    physical_id = request.arn
    leftover = Leftover.from_event(event.get(LEFTOVER))
    replaces = str(event[REPLACES]) if event.get(REPLACES) else None
    try:
        if request.request_type == "Delete":
            progress = _delete_step(client, request.resource_type, request.arn)
        elif leftover is not None:
            physical_id, progress = _recreated(client, request, leftover, replaces=replaces)
        else:
            # An event without the marker (from an older on_event) is treated as new: it may wait, never fail early.
            progress = _settled(client, request, new=bool(event.get(NEW_PHYSICAL_ID, True)), replaces=replaces)
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


def _settled(client: PersonalizeClient, request: Request, *, new: bool, replaces: str | None) -> Progress:
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
    return _settle(client, request, arn, description, replaces=replaces)


def _settle(
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
            message += _delete_unrecorded(
                client,
                resource_type,
                arn,
                f"it was to replace {resource_type.noun} {replaces}, which CloudFormation keeps",
            )
        elif arn != request.arn:
            message += _delete_unrecorded(client, resource_type, arn, "CloudFormation never learns its ARN")
        raise ProvisioningError(message)
    if is_deleting(status):
        raise ProvisioningError(f"{resource_type.noun.capitalize()} {arn} is being deleted ({status}) by someone else")
    if resource_type.has_status and status != ACTIVE:
        return waiting(f"{resource_type.noun} {arn} is {status}")
    progress = resource_type.ready(client, request.properties, description)
    if progress.done and not progress.data:
        return Progress(done=True, data=resource_type.attributes(description))
    return progress


def _delete_unrecorded(client: PersonalizeClient, resource_type: ResourceType, arn: str, why: str) -> str:
    """Request the deletion of a CREATE FAILED resource CloudFormation will not delete; say so for the message.

    Left alone, it would block its dataset group's deletion during the rollback, and sit in the way of the next
    attempt. It holds no data: nothing can be written to a resource that never became ACTIVE. Best effort: the
    request fails either way, and describe-before-create clears whatever is left.
    """
    try:
        _delete_step(client, resource_type, arn)
    except ClientError as error:
        logger.warning("Could not request the deletion of %s %s: %s", resource_type.noun, arn, error_message(error))
        return f". Its deletion failed ({error_message(error)}); it is deleted by the next attempt, or delete it"
    return f". Its deletion has been requested: {why}."


def _recreated(
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
            created = resource_type.create(client, request.properties)
        except ClientError as error:
            if error_code(error) == RESOURCE_ALREADY_EXISTS:
                # The leftover no longer listed but its name not free yet, or a create of an earlier poll not
                # listed yet (eventual consistency): either settles by a later poll.
                return leftover.arn, waiting(f"{resource_type.noun} {leftover.arn}: {error_message(error)}")
            raise _create_refusal(resource_type, request.properties, error) from None
        logger.info("Created %s %s in place of %s", resource_type.noun, created, leftover.arn)
        return created, waiting(f"{resource_type.noun} {created} created in place of the leftover {leftover.arn}")
    status = description.get("status")
    if is_deleting(status) or leftover.same_as(arn, description):
        # Still the leftover: on its way out, or (if its deletion did not take) asked to go again.
        _delete_step(client, resource_type, arn)
        return leftover.arn, waiting(f"{resource_type.noun} {arn} is {status}; it is created again once gone")
    return arn, _settle(client, request, arn, description, replaces=replaces)


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
